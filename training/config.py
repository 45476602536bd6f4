"""The `[train]` TOML section (with `[train.rl]`): what a CPT, SFT or RL job does, checked before it starts."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drsynth.synth.sections import section_items
from drsynth.training.rl.config import RLConfig

CPT_STAGES = ("short", "long")  # the `stage` values of cpt_samples, in training order
PACKED_MASKS = ("position_ids", "4d")


def _default_cpt_mix() -> dict[str, dict[str, float]]:
    return {"short": {"short": 1.0}, "long": {"long": 1.0}}


@dataclass(frozen=True)
class TrainConfig:
    """One training job. Steps are optimizer steps (one step = grad_accum micro batches on every rank)."""

    zero_stage: int = 2
    offload: bool = False  # ZeRO offload of the optimizer state (and, at stage 3, the parameters) to CPU
    bf16: bool = True  # falls back to fp32, with the reason logged, where the accelerator lacks bf16
    micro_batch_size: int = 1  # rows of seq_len tokens per rank per forward pass
    grad_accum: int = 1
    lr: float = 1e-5
    min_lr: float = 1e-6  # the cosine decays to this
    warmup_steps: int = 10
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    max_steps: int = 0  # 0: `epochs` passes over the data; else exactly this many steps, cycling the data
    epochs: int = 1
    seq_len: int = 4096
    pack: bool = True  # several samples per row, never attending across their boundaries
    # how packed rows keep samples apart: restarting position_ids (what flash-attention, sdpa and eager
    # all read in transformers 5, no O(n^2) mask) or an explicit block-diagonal 4D additive mask
    packed_mask: str = "position_ids"
    save_every: int = 0  # checkpoint every N steps (0: only at the end)
    keep_checkpoints: int = 2
    seed: int = 0
    log_every: int = 1
    gradient_checkpointing: bool = False
    attn_implementation: str = "sdpa"
    sft_modes: tuple[str, ...] = ("react", "context")  # which sft_samples modes to train on
    # CPT: stages in order, and per stage the share of its samples drawn from each `stage` pool,
    # e.g. {"short": {"short": 0.9, "long": 0.1}, "long": {"long": 1.0}}
    cpt_stages: tuple[str, ...] = CPT_STAGES
    cpt_mix: dict[str, dict[str, float]] = field(default_factory=_default_cpt_mix)
    cpt_seq_len: dict[str, int] = field(default_factory=dict)  # per-stage seq_len (default: seq_len)
    rl: RLConfig = field(default_factory=RLConfig)

    def __post_init__(self) -> None:
        for name in ("micro_batch_size", "grad_accum", "epochs", "seq_len", "log_every", "keep_checkpoints"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, f"{name} must be an integer >= 1")
        for name in ("max_steps", "warmup_steps", "save_every", "seed"):
            _check(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, f"{name} must be an integer >= 0")
        _check(self.zero_stage in (0, 1, 2, 3), f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage!r}")
        _check(self.lr > 0 and 0 <= self.min_lr <= self.lr, "need lr > 0 and 0 <= min_lr <= lr")
        _check(self.grad_clip >= 0 and self.weight_decay >= 0, "grad_clip and weight_decay must be >= 0")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas must be two numbers in [0, 1)")
        _check(self.packed_mask in PACKED_MASKS, f"packed_mask must be one of {PACKED_MASKS}")
        object.__setattr__(self, "sft_modes", tuple(self.sft_modes))
        _check(bool(self.sft_modes) and set(self.sft_modes) <= {"react", "context"},
               "sft_modes must name react and/or context")
        object.__setattr__(self, "cpt_stages", tuple(self.cpt_stages))
        _check(bool(self.cpt_stages) and set(self.cpt_stages) <= set(CPT_STAGES),
               f"cpt_stages must name stages among {CPT_STAGES}")
        self._check_cpt_mix()
        if isinstance(self.rl, dict):
            object.__setattr__(self, "rl", RLConfig.from_dict(self.rl))

    def _check_cpt_mix(self) -> None:
        mix = {stage: {str(k): float(v) for k, v in dict(ratios).items()} for stage, ratios in self.cpt_mix.items()}
        object.__setattr__(self, "cpt_mix", mix)
        for stage in self.cpt_stages:
            ratios = mix.get(stage)
            _check(ratios is not None, f"cpt_mix has no ratios for stage {stage!r}")
            _check(set(ratios) <= set(CPT_STAGES) and all(v >= 0 for v in ratios.values()),
                   f"cpt_mix[{stage!r}] must map stages among {CPT_STAGES} to shares >= 0")
            _check(math.isclose(sum(ratios.values()), 1.0, abs_tol=1e-6),
                   f"cpt_mix[{stage!r}] shares must sum to 1, got {sum(ratios.values())}")
        for stage, length in self.cpt_seq_len.items():
            _check(stage in CPT_STAGES and isinstance(length, int) and length >= 1,
                   f"cpt_seq_len must map stages among {CPT_STAGES} to integers >= 1")

    def stage_seq_len(self, stage: str) -> int:
        return self.cpt_seq_len.get(stage, self.seq_len)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        items = section_items(cls, data, "train")
        if "rl" in items and not isinstance(items["rl"], dict | RLConfig):
            raise ValueError("[train.rl] must be a table of settings")
        return cls(**items)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists), what `from_dict` reads back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"[train] {message}")


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
