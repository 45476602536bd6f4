"""The `[train.rl]` TOML table: group sampling, clipping, rollouts and the agent's limits for RL."""

from __future__ import annotations

import dataclasses
import datetime
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from drsynth.synth.agent.runner import AgentLimits
from drsynth.synth.sections import section_items

SECTION = "train.rl"
ROLLOUTS = ("hf", "openai")
JUDGES = ("match",)
OLD_LOGPROBS = ("recompute", "rollout")
TEMPLATE_TOKENS = 8  # what a chat template adds around one message (Qwen: "<|im_start|>role\n", "<|im_end|>\n")


@dataclass(frozen=True)
class RLConfig:
    """GRPO-style RL with a leave-one-out baseline (DESIGN §9).

    Strict on-policy (`on_policy`, the default): every rollout batch makes exactly one optimizer step, so the
    behaviour policy is the current one and the ratio is 1 (the clip never fires; the gradient is the plain
    policy gradient). Otherwise each rollout batch is reused for `ppo_epochs` passes of `minibatches`
    optimizer steps each, against the log-probabilities taken before the first update (`old_logprobs =
    "recompute"`) or those the generator recorded while sampling (`"rollout"`, HF backend only).
    """

    group_size: int = 4  # G rollouts per task
    tasks_per_step: int = 8  # tasks per rollout batch (per rank)
    eps_low: float = 0.2  # clip the ratio below at 1 - eps_low
    eps_high: float = 0.28  # ... and above at 1 + eps_high ("clip-higher")
    kl_coef: float = 0.0  # > 0: add kl_coef * k3(KL to the initial model)
    on_policy: bool = True
    ppo_epochs: int = 1  # passes over a rollout batch when not strictly on-policy
    minibatches: int = 1  # optimizer steps per pass when not strictly on-policy
    old_logprobs: str = "recompute"  # recompute | rollout
    max_new_tokens: int = 512  # per assistant turn
    temperature: float = 1.0
    top_p: float = 1.0  # < 1 samples from a truncated distribution the loss does not model: keep 1 for RL
    rollout: str = "hf"  # hf: `generate` on the model being trained; openai: an endpoint serving it
    base_url: str = ""  # openai rollouts: the endpoint (e.g. `vllm serve` of the current policy)
    model: str = ""  # openai rollouts: the served model name
    api_key_env: str = "DRSYNTH_POLICY_API_KEY"
    generation_batch: int = 64  # most sequences in one `generate` call (hf)
    concurrency: int = 64  # rollouts in flight at once
    judge: str = "match"
    max_tool_calls: int = 8
    max_turns: int = 16
    max_format_errors: int = 2
    max_context_tokens: int = 0  # 0: the train seq_len
    max_observation_chars: int = 4000
    max_wall_s: float = 600.0
    today: str = ""  # the system prompt's date, YYYY-MM-DD; empty: the day the step runs

    def __post_init__(self) -> None:
        for name in ("group_size", "tasks_per_step", "ppo_epochs", "minibatches", "max_new_tokens",
                     "generation_batch", "concurrency", "max_tool_calls", "max_turns"):
            if getattr(self, name) < 1:
                raise ValueError(f"[{SECTION}] {name} must be >= 1, got {getattr(self, name)!r}")
        if self.group_size < 2:
            raise ValueError(f"[{SECTION}] group_size must be >= 2 (a leave-one-out baseline needs two "
                             f"rollouts per task), got {self.group_size}")
        if not 0 <= self.eps_low < 1 or not self.eps_high >= 0:
            raise ValueError(f"[{SECTION}] need 0 <= eps_low < 1 and eps_high >= 0, got "
                             f"{self.eps_low}, {self.eps_high}")
        if self.kl_coef < 0 or self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"[{SECTION}] need kl_coef >= 0, temperature >= 0 and 0 < top_p <= 1")
        if self.rollout not in ROLLOUTS:
            raise ValueError(f"[{SECTION}] rollout must be one of {ROLLOUTS}, got {self.rollout!r}")
        if self.rollout == "openai" and (not self.base_url or not self.model):
            raise ValueError(f"[{SECTION}] rollout = 'openai' needs base_url and model")
        if self.judge not in JUDGES:
            raise ValueError(f"[{SECTION}] judge must be one of {JUDGES}, got {self.judge!r}")
        if self.old_logprobs not in OLD_LOGPROBS:
            raise ValueError(f"[{SECTION}] old_logprobs must be one of {OLD_LOGPROBS}, got {self.old_logprobs!r}")
        if self.old_logprobs == "rollout" and self.rollout != "hf":
            raise ValueError(f"[{SECTION}] old_logprobs = 'rollout' needs rollout = 'hf' (an endpoint "
                             "returns no token log-probabilities here)")
        if self.max_context_tokens < 0:
            raise ValueError(f"[{SECTION}] max_context_tokens must be >= 0, got {self.max_context_tokens}")
        if self.today:
            datetime.date.fromisoformat(self.today)
        self.limits(1024)  # validates the agent limits

    @property
    def updates_per_batch(self) -> int:
        """Optimizer steps one rollout batch makes."""
        return 1 if self.on_policy else self.ppo_epochs * self.minibatches

    def limits(self, seq_len: int) -> AgentLimits:
        """The agent's limits. The runner counts the tokens of the messages' contents; the context leaves
        room within `seq_len` (or `max_context_tokens`) for one more turn and for the chat template's
        markup (TEMPLATE_TOKENS per message)."""
        context = self.max_context_tokens or seq_len
        markup = TEMPLATE_TOKENS * (2 * self.max_turns + 4)
        return AgentLimits(max_tool_calls=self.max_tool_calls, max_turns=self.max_turns,
                           max_format_errors=self.max_format_errors, max_wall_s=self.max_wall_s,
                           max_observation_chars=self.max_observation_chars,
                           max_context_tokens=max(1, context - self.max_new_tokens - markup))

    def day(self) -> str:
        return self.today or datetime.date.today().isoformat()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RLConfig:
        """From the `[train.rl]` table: unknown keys and values of the wrong type are errors."""
        data = section_items(cls, data, SECTION)
        hints = typing.get_type_hints(cls)
        return cls(**{key: _typed(key, value, hints[key]) for key, value in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _typed(key: str, value: Any, kind: Any) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"[{SECTION}] {key} must be true or false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"[{SECTION}] {key} must be a number, got {value!r}")
        if kind is int and value != int(value):
            raise ValueError(f"[{SECTION}] {key} must be a whole number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"[{SECTION}] {key} must be finite, got {value!r}")
        return kind(value)
    if not isinstance(value, str):
        raise ValueError(f"[{SECTION}] {key} must be a string, got {value!r}")
    return value
