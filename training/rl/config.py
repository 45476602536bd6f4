"""The `[train.rl]` TOML table: group sampling, clipping, rollouts and the agent's limits for RL."""

from __future__ import annotations

import datetime
from typing import Literal, Self, get_args

from pydantic import ConfigDict, Field, model_validator

from drsynth.synth.agent.runner import AgentLimits
from drsynth.synth.sections import EnvName, Section

SECTION = "train.rl"
Rollout = Literal["hf", "openai"]
Judge = Literal["match"]
OldLogprobs = Literal["recompute", "rollout"]
ROLLOUTS: tuple[str, ...] = get_args(Rollout)
JUDGES: tuple[str, ...] = get_args(Judge)
OLD_LOGPROBS: tuple[str, ...] = get_args(OldLogprobs)
TEMPLATE_TOKENS = 8  # what a chat template adds around one message (Qwen: "<|im_start|>role\n", "<|im_end|>\n")


class RLConfig(Section):
    """`[train.rl]`: GRPO-style RL with a leave-one-out baseline (DESIGN §9).

    Strict on-policy (`on_policy`, the default): every rollout batch makes exactly one optimizer step, so the
    behaviour policy is the current one and the ratio is 1 (the clip never fires; the gradient is the plain
    policy gradient). Otherwise each rollout batch is reused for `ppo_epochs` passes of `minibatches`
    optimizer steps each, against the log-probabilities taken before the first update (`old_logprobs =
    "recompute"`) or those the generator recorded while sampling (`"rollout"`, HF backend only).
    """

    # an infinite or NaN setting is always a mistake here (a wall clock of inf never ends a rollout)
    model_config = ConfigDict(allow_inf_nan=False)

    group_size: int = Field(4, ge=2)
    """Rollouts per task (G). At least 2: the leave-one-out baseline of a rollout is the mean reward of the
    other rollouts of its task."""
    tasks_per_step: int = Field(8, ge=1)
    """Tasks per rollout batch, per rank; a batch is tasks_per_step x group_size trajectories per rank."""
    eps_low: float = Field(0.2, ge=0, lt=1)
    """Lower clip of the importance ratio at 1 - eps_low."""
    eps_high: float = Field(0.28, ge=0)
    """Upper clip of the importance ratio at 1 + eps_high ("clip-higher": above eps_low lets rare tokens
    grow)."""
    kl_coef: float = Field(0.0, ge=0)
    """Weight of the k3 estimate of the KL to the initial model in the loss; 0: no KL term (and no
    reference model is loaded)."""
    on_policy: bool = True
    """Strictly on-policy: one optimizer step per rollout batch (ppo_epochs and minibatches are ignored)."""
    ppo_epochs: int = Field(1, ge=1)
    """Passes over a rollout batch when not strictly on-policy."""
    minibatches: int = Field(1, ge=1)
    """Optimizer steps per pass over a rollout batch when not strictly on-policy."""
    old_logprobs: OldLogprobs = "recompute"
    """The behaviour log-probabilities of the ratio when not strictly on-policy: recompute (a forward pass of
    the policy before the first update) or rollout (those the generator recorded while sampling; hf
    rollouts only)."""
    max_new_tokens: int = Field(512, ge=1)
    """Most tokens the policy generates per assistant turn."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature of the rollouts; 1 samples the policy the loss models."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling. Below 1 samples from a truncated distribution the loss does not model: keep 1 for
    RL."""
    rollout: Rollout = "hf"
    """Who generates the rollouts: hf (`generate` on the model being trained) or openai (an
    OpenAI-compatible endpoint serving the current policy, e.g. `vllm serve`; needs base_url and model)."""
    base_url: str = ""
    """openai rollouts: the endpoint's base URL (e.g. http://host:8000/v1)."""
    model: str = ""
    """openai rollouts: the model name the endpoint serves."""
    api_key_env: EnvName = "DRSYNTH_POLICY_API_KEY"
    """openai rollouts: the environment variable that holds the endpoint's API key."""
    generation_batch: int = Field(64, ge=1)
    """hf rollouts: most sequences in one `generate` call."""
    concurrency: int = Field(64, ge=1)
    """Rollouts in flight at once."""
    judge: Judge = "match"
    """How a rollout's final answer is rewarded: match (against the task's reference answer)."""
    max_tool_calls: int = Field(8, ge=1)
    """Most tool calls in one rollout."""
    max_turns: int = Field(16, ge=1)
    """Most assistant turns in one rollout."""
    max_format_errors: int = Field(2, ge=0)
    """Malformed turns fed back to the model in one rollout; one more ends it. 0: the first ends it."""
    max_context_tokens: int = Field(0, ge=0)
    """Token budget of a rollout's conversation (less one turn and the chat template's markup); 0: the
    [train] seq_len."""
    max_observation_chars: int = Field(4000, ge=1)
    """Each tool observation is cut to this many characters."""
    max_wall_s: float = Field(600.0, gt=0)
    """Wall-clock limit of one rollout, in seconds."""
    today: str = ""
    """The date the system prompt gives the agent, YYYY-MM-DD; empty: the day the step runs."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.rollout == "openai" and (not self.base_url or not self.model):
            raise ValueError(f"[{SECTION}] rollout = 'openai' needs base_url and model")
        if self.old_logprobs == "rollout" and self.rollout != "hf":
            raise ValueError(f"[{SECTION}] old_logprobs = 'rollout' needs rollout = 'hf' (an endpoint "
                             "returns no token log-probabilities here)")
        if self.today:
            try:
                datetime.date.fromisoformat(self.today)
            except ValueError as exc:
                raise ValueError(f"[{SECTION}] today must be a date YYYY-MM-DD, got {self.today!r}") from exc
        self.limits(1024)  # the agent's own checks of its limits, whatever they become
        return self

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
        """The system prompt's date: `today`, else the date the step runs."""
        return self.today or datetime.date.today().isoformat()
