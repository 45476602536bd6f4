"""The `[filter]` TOML section: judge, trajectory checks, rejection sampling, dedup, decontamination and
what is published. `fingerprint()` names a setting: judgments and pass rates carry it, so changing a
setting gives new decisions beside the old ones instead of silently mixing them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from drsynth.storage.ids import content_id
from drsynth.synth.sections import section_items

JUDGES = ("match", "llm")
SFT_MODES = ("react", "context")
CPT_KINDS = ("planning", "reasoning", "decision")
CPT_WRITERS = ("template", "teacher")


@dataclass(frozen=True)
class FilterConfig:
    judge: str = "match"  # match (offline) | llm (the [teacher] endpoints)
    f1_threshold: float = 0.8  # match judge: token F1 that counts as correct
    number_tolerance: float = 0.01  # match judge: relative tolerance for numeric answers
    # trajectory checks
    min_tool_calls: int = 0
    max_tool_calls: int = 30
    max_tokens: int = 32768
    tokenizer: str = "approx"  # approx (chars/4) or a local Hugging Face tokenizer directory
    require_answer: bool = True
    # rejection sampling
    budget_per_level: int = 0  # > 0: stop once this many trajectories per level are accepted
    rl_min_pass_rate: float = 0.0  # rl_tasks: pass rate strictly above this ...
    rl_max_pass_rate: float = 1.0  # ... and strictly below this
    # dedup and decontamination of questions
    dedup: bool = True
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of word 3-gram shingles
    num_perm: int = 128
    decontaminate: bool = True
    benchmarks: list[str] = field(default_factory=list)  # files or directories; empty: ../shared/benchmarks
    ngram: int = 8  # word n-gram length for question overlap
    # what is published
    sft_modes: list[str] = field(default_factory=lambda: list(SFT_MODES))
    cpt_kinds: list[str] = field(default_factory=lambda: list(CPT_KINDS))
    cpt_writer: str = "template"  # template | teacher
    cpt_short_max_tokens: int = 2048  # cpt_samples longer than this go to the long-context stage
    trajectories_per_batch: int = 256
    concurrency: int = 16  # judge calls in flight at once (llm judge)

    def __post_init__(self) -> None:
        choices = {"judge": JUDGES, "cpt_writer": CPT_WRITERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"[filter] {name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name, allowed in {"sft_modes": SFT_MODES, "cpt_kinds": CPT_KINDS}.items():
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"[filter] {name} entries must be among {allowed}, got {bad}")
        if not 0.0 <= self.rl_min_pass_rate < self.rl_max_pass_rate <= 1.0:
            raise ValueError("[filter] needs 0 <= rl_min_pass_rate < rl_max_pass_rate <= 1, got "
                             f"{self.rl_min_pass_rate} and {self.rl_max_pass_rate}")
        if not 0.0 < self.near_duplicate_threshold < 1.0:
            raise ValueError(f"[filter] near_duplicate_threshold must be in (0, 1), got {self.near_duplicate_threshold}")
        for name in ("max_tool_calls", "max_tokens", "num_perm", "ngram", "trajectories_per_batch", "concurrency",
                     "cpt_short_max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"[filter] {name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("min_tool_calls", "budget_per_level"):
            if getattr(self, name) < 0:
                raise ValueError(f"[filter] {name} must be >= 0, got {getattr(self, name)!r}")
        if self.min_tool_calls > self.max_tool_calls:
            raise ValueError("[filter] min_tool_calls is above max_tool_calls")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FilterConfig:
        data = section_items(cls, data, "filter")
        defaults = cls()
        for key, value in data.items():
            default = getattr(defaults, key)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int | float):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if ok and isinstance(default, int) and not isinstance(default, bool) and value != int(value):
                    ok = False
            elif isinstance(default, list):
                ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            else:
                ok = isinstance(value, str)
            if not ok:
                raise ValueError(f"[filter] {key} has the wrong type: {value!r} (default {default!r})")
            if isinstance(default, float):
                data[key] = float(value)
            elif isinstance(default, int) and not isinstance(default, bool):
                data[key] = int(value)
        return cls(**data)

    def fingerprint(self, *extra: Any) -> str:
        """A short name of the settings that decide acceptance (not the publishing-only ones)."""
        decisive = {k: v for k, v in dataclasses.asdict(self).items()
                    if k not in ("sft_modes", "cpt_kinds", "cpt_writer", "cpt_short_max_tokens",
                                 "trajectories_per_batch", "concurrency")}
        return content_id("filter", json.dumps(decisive, sort_keys=True), *extra)[:16]
