"""RL (GRPO-style with a leave-one-out baseline, Tongyi-flavoured) on the DeepSpeed engine: multi-turn
rollouts with the project's agent and tools, rewards from the judge, token-level clipped policy loss.

Importing the package needs no torch (the `[train]` config reads `RLConfig`); `loss`, `rollout` and
`trainer` import it when used."""

from drsynth.training.rl.advantage import group_advantages, leave_one_out
from drsynth.training.rl.config import RLConfig

__all__ = ["RLConfig", "group_advantages", "leave_one_out"]
