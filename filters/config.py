"""The `[filter]` TOML section: judge, trajectory checks, rejection sampling, dedup, decontamination and
what is published. `fingerprint()` names a setting: judgments and pass rates carry it, so changing a
setting gives new decisions beside the old ones instead of silently mixing them."""

from __future__ import annotations

import json
from typing import Any, Literal, Self, get_args

from pydantic import Field, model_validator

from drsynth.storage.ids import content_id
from drsynth.synth.sections import Section

Judge = Literal["match", "llm"]
SftMode = Literal["react", "context"]
CptKind = Literal["planning", "reasoning", "decision"]
CptWriter = Literal["template", "teacher"]

JUDGES: tuple[str, ...] = get_args(Judge)
SFT_MODES: tuple[str, ...] = get_args(SftMode)
CPT_KINDS: tuple[str, ...] = get_args(CptKind)
CPT_WRITERS: tuple[str, ...] = get_args(CptWriter)

# the publishing-only settings: they change what is written from accepted trajectories, never which are
# accepted, so they stay out of the fingerprint (and a new value reuses the decisions already made)
PUBLISHING_ONLY = ("sft_modes", "cpt_kinds", "cpt_writer", "cpt_short_max_tokens", "trajectories_per_batch",
                   "concurrency")


class FilterConfig(Section):
    """The `[filter]` section: how trajectories are judged and checked, which tasks are screened out
    (duplicates, benchmark overlap), the rejection-sampling budget and pass-rate band, and what is
    published from the accepted trajectories."""

    # the lists stay lists (not tuples): `fingerprint()` is their JSON, and that of a list is what every
    # existing judgment id was computed from

    judge: Judge = "match"
    """Who decides whether an answer is correct: match (offline string, number and date matching against
    the gold answer and its aliases) or llm (a grader model at the [teacher] endpoints)."""
    f1_threshold: float = Field(0.8, gt=0.0, le=1.0)
    """Match judge: the token F1 with a gold spelling from which an answer counts as correct."""
    number_tolerance: float = Field(0.01, ge=0.0, lt=1.0)
    """Match judge: relative tolerance for numeric answers (0.01: within 1%; 0: exact)."""
    # trajectory checks
    min_tool_calls: int = Field(0, ge=0)
    """Trajectories with fewer tool calls are rejected (too_few_tool_calls); 0: no minimum."""
    max_tool_calls: int = Field(30, ge=1)
    """Trajectories with more tool calls are rejected (too_many_tool_calls)."""
    max_tokens: int = Field(32768, ge=1)
    """Trajectories longer than this many tokens (counted with `tokenizer`) are rejected (too_long)."""
    tokenizer: str = "approx"
    """How tokens are counted: approx (characters / 4) or the path of a local Hugging Face tokenizer
    directory."""
    require_answer: bool = True
    """Reject trajectories that end without a final <answer> (no_answer)."""
    # rejection sampling
    budget_per_level: int = Field(0, ge=0)
    """Stop once this many trajectories per task level are accepted (later ones are rejected as
    over_budget, and the trajectory flow stops sampling that level); 0: no budget."""
    rl_min_pass_rate: float = Field(0.0, ge=0.0, le=1.0)
    """RL task pool: a task's pass rate (samples judged correct / samples judged) must be strictly above this ..."""
    rl_max_pass_rate: float = Field(1.0, ge=0.0, le=1.0)
    """... and strictly below this (1: tasks every sample solved are left out)."""
    # dedup and decontamination of questions
    dedup: bool = True
    """Remove tasks whose question repeats or nearly repeats another's, within the run and against what is
    already published (MinHash over word 3-grams)."""
    near_duplicate_threshold: float = Field(0.8, gt=0.0, lt=1.0)
    """Estimated Jaccard similarity of word 3-gram shingles from which two questions are duplicates."""
    num_perm: int = Field(128, ge=1)
    """MinHash permutations: more estimate the similarity more closely and cost more."""
    decontaminate: bool = True
    """Remove tasks whose question overlaps a benchmark question (word n-grams of length `ngram`)."""
    benchmarks: list[str] = Field([])
    """Benchmark files or directories to decontaminate against; empty: ../shared/benchmarks."""
    ngram: int = Field(8, ge=1)
    """Word n-gram length for the overlap of a question with the benchmarks."""
    # what is published
    sft_modes: list[SftMode] = Field(list(SFT_MODES))
    """Which SFT samples are published: react (whole conversations) and/or context (one sample per
    context-management round)."""
    cpt_kinds: list[CptKind] = Field(list(CPT_KINDS))
    """Which CPT samples are published: planning, reasoning and/or decision."""
    cpt_writer: CptWriter = "template"
    """Who words the CPT samples: template (offline) or teacher (rewritten by the [teacher] model; the
    template text where a rewrite fails)."""
    cpt_short_max_tokens: int = Field(2048, ge=1)
    """CPT samples longer than this many tokens go to the long-context stage."""
    trajectories_per_batch: int = Field(256, ge=1)
    """Trajectories per judging batch, the unit of work one Prefect task commits."""
    concurrency: int = Field(16, ge=1)
    """LLM judge: judge calls in flight at once."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.rl_min_pass_rate < self.rl_max_pass_rate:
            raise ValueError("[filter] needs 0 <= rl_min_pass_rate < rl_max_pass_rate <= 1, got "
                             f"{self.rl_min_pass_rate} and {self.rl_max_pass_rate}")
        if self.min_tool_calls > self.max_tool_calls:
            raise ValueError("[filter] min_tool_calls is above max_tool_calls")
        return self

    def fingerprint(self, *extra: Any) -> str:
        """A short name of the settings that decide acceptance (not the publishing-only ones)."""
        decisive = {k: v for k, v in self.model_dump(mode="json").items() if k not in PUBLISHING_ONLY}
        return content_id("filter", json.dumps(decisive, sort_keys=True), *extra)[:16]
