"""The `[train]` TOML section (with `[train.rl]`): what a CPT, SFT or RL job does, checked before it starts."""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Self, get_args

from pydantic import ConfigDict, Field, model_validator

from drsynth.synth.sections import Section
from drsynth.training.rl.config import RLConfig

CptStage = Literal["short", "long"]
PackedMask = Literal["position_ids", "4d"]
SftMode = Literal["react", "context"]
CPT_STAGES: tuple[str, ...] = get_args(CptStage)  # the `stage` values of cpt_samples, in training order
PACKED_MASKS: tuple[str, ...] = get_args(PackedMask)
SFT_MODES: tuple[str, ...] = get_args(SftMode)

# Adam's beta1 and beta2, each in [0, 1); a list in TOML and JSON (strict=False: a list stands for the tuple)
Beta = Annotated[float, Field(ge=0, lt=1)]
Betas = Annotated[tuple[Beta, Beta], Field(strict=False)]
CptStages = Annotated[tuple[CptStage, ...], Field(strict=False, min_length=1)]
SftModes = Annotated[tuple[SftMode, ...], Field(strict=False, min_length=1)]
Share = Annotated[float, Field(ge=0)]


class TrainConfig(Section):
    """`[train]`: one training job (CPT, SFT or RL) under DeepSpeed. Steps are optimizer steps (one step =
    grad_accum micro batches on every rank)."""

    # an infinite or NaN learning rate, clip or decay is always a mistake
    model_config = ConfigDict(allow_inf_nan=False)

    zero_stage: int = Field(2, ge=0, le=3)
    """DeepSpeed ZeRO stage: 0 (plain data parallel), 1 (optimizer state partitioned), 2 (and gradients)
    or 3 (and parameters)."""
    offload: bool = False
    """ZeRO offload of the optimizer state (and, at stage 3, the parameters) to CPU memory; needs
    zero_stage >= 1."""
    bf16: bool = True
    """Train in bf16; falls back to fp32, with the reason logged, where the accelerator lacks bf16."""
    micro_batch_size: int = Field(1, ge=1)
    """Rows of seq_len tokens per rank per forward pass."""
    grad_accum: int = Field(1, ge=1)
    """Micro batches accumulated into one optimizer step."""
    lr: float = Field(1e-5, gt=0)
    """Peak learning rate, reached after the warmup."""
    min_lr: float = Field(1e-6, ge=0)
    """The cosine schedule decays to this learning rate (at most lr)."""
    warmup_steps: int = Field(10, ge=0)
    """Optimizer steps of linear warmup to lr; 0: none."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay; 0: none."""
    betas: Betas = (0.9, 0.95)
    """AdamW's (beta1, beta2), each in [0, 1)."""
    grad_clip: float = Field(1.0, ge=0)
    """Clip the global gradient norm to this; 0: no clipping."""
    max_steps: int = Field(0, ge=0)
    """0: `epochs` passes over the data; else exactly this many optimizer steps, cycling the data."""
    epochs: int = Field(1, ge=1)
    """Passes over the data when max_steps is 0 (RL: over the tasks)."""
    seq_len: int = Field(4096, ge=1)
    """Tokens per row (a longer SFT sample is truncated, a CPT document cut into pieces); CPT stages may set
    their own in cpt_seq_len."""
    pack: bool = True
    """Pack several samples per row, never attending across their boundaries; false: one sample per row,
    padded."""
    packed_mask: PackedMask = "position_ids"
    """How packed rows keep samples apart: position_ids (restart at each sample; what flash-attention, sdpa
    and eager all read in transformers 5, no O(n^2) mask) or 4d (an explicit block-diagonal additive
    mask). A model whose attention ignores position_ids gets 4d anyway, with a warning."""
    save_every: int = Field(0, ge=0)
    """Save a DeepSpeed checkpoint every N optimizer steps (a rerun resumes from the last); 0: only at the
    end."""
    keep_checkpoints: int = Field(2, ge=1)
    """Most recent checkpoints kept; older ones are deleted."""
    seed: int = Field(0, ge=0)
    """Seed of the data order and the model's randomness."""
    log_every: int = Field(1, ge=1)
    """Log (and write to train_log.jsonl) every N optimizer steps."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory for longer rows, about a third more compute."""
    attn_implementation: str = "sdpa"
    """The transformers attention kernel: sdpa, flash_attention_2, eager, ..."""
    sft_modes: SftModes = ("react", "context")
    """SFT: which sft_samples modes to train on (react and/or context)."""
    cpt_stages: CptStages = CPT_STAGES
    """CPT: the stages to train, in order (short, then long)."""
    # a default value, not a factory, so that the form shows it (pydantic copies it for each instance)
    cpt_mix: dict[CptStage, dict[CptStage, Share]] = Field({"short": {"short": 1.0}, "long": {"long": 1.0}})
    """CPT: per stage, the share of its samples drawn from each `stage` pool of cpt_samples, summing to 1,
    e.g. {"short": {"short": 0.9, "long": 0.1}, "long": {"long": 1.0}}; every stage in cpt_stages needs an
    entry."""
    cpt_seq_len: dict[CptStage, Annotated[int, Field(ge=1)]] = Field({})
    """CPT: per-stage seq_len, e.g. {"long": 32768}; a stage not named uses seq_len."""
    rl: RLConfig = Field(default_factory=RLConfig)
    """RL: group sampling, clipping, rollouts and the agent's limits ([train.rl])."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.min_lr > self.lr:
            raise ValueError(f"[train] need min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        for stage in self.cpt_stages:
            ratios = self.cpt_mix.get(stage)
            if ratios is None:
                raise ValueError(f"[train] cpt_mix has no ratios for stage {stage!r}")
            if not math.isclose(sum(ratios.values()), 1.0, abs_tol=1e-6):
                raise ValueError(f"[train] cpt_mix[{stage!r}] shares must sum to 1, got {sum(ratios.values())}")
        return self

    def stage_seq_len(self, stage: str) -> int:
        """The row length of a CPT stage: its cpt_seq_len, else seq_len."""
        return self.cpt_seq_len.get(stage, self.seq_len)


def load_config(path: str | os.PathLike[str] | None) -> TrainConfig:
    """The `[train]` table of a TOML settings file (or of a JSON file `{"train": {...}}`); defaults if None."""
    if path is None:
        return TrainConfig()
    text = Path(path).read_bytes()
    data = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text.decode("utf-8"))
    train = data.get("train", {})
    if not isinstance(train, dict):
        raise ValueError("[train] must be a table of settings")
    return TrainConfig.from_dict(train)


def write_config(cfg: TrainConfig, path: str | os.PathLike[str]) -> str:
    """The resolved settings as `{"train": {...}}` JSON: what a launched job reads, and a record of the run."""
    Path(path).write_text(json.dumps({"train": cfg.to_dict()}, indent=1, sort_keys=True) + "\n")
    return os.fspath(path)
