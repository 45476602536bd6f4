"""SFT samples from accepted trajectories (DESIGN §9): ReAct conversations and context-management rounds.

Rows follow the `sft_samples` schema without `run_id` (the publisher adds it); `messages` carry `train`,
True exactly on the assistant turns the loss covers. The caller passes accepted trajectories (acceptance
is in `judgments`; a trajectory row keeps the status it was written with). `sft_samples` makes, per
trajectory:
- react: the whole conversation (mode "react") and its conversion into context rounds (mode "context");
- context: one sample per round (mode "context");
- heavy: the synthesis conversation (mode "react").
What cannot be built is not dropped silently: each is a record in `skipped` (mode, trajectory_id,
task_id, reason, detail) for the caller to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from drsynth.filters.cpt.steps import SampleError
from drsynth.filters.sft.context import (
    MAX_REPORT_CHARS,
    context_samples,
    converted_rounds,
    parse_system_prompt,
)
from drsynth.filters.sft.react import FORMAT, react_sample, sft_row, trains
from drsynth.synth.agent.runner import TokenCounter

MODES = ("react", "context")

__all__ = [
    "FORMAT", "MAX_REPORT_CHARS", "MODES", "SampleError", "context_samples", "converted_rounds",
    "parse_system_prompt", "react_sample", "sft_row", "sft_samples", "trains",
]


def sft_samples(trajectory: Mapping[str, Any], counter: TokenCounter | None = None, *,
                modes: Sequence[str] = MODES, max_report_chars: int = MAX_REPORT_CHARS,
                skipped: list[dict] | None = None) -> list[dict]:
    """Every SFT sample of one accepted trajectory (see the module's docstring for which)."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown SFT mode(s) {sorted(unknown)}; known: {MODES}")
    counter = counter or TokenCounter()
    mode = trajectory.get("mode")
    builders = []
    if "react" in modes and mode in ("react", "heavy"):
        builders.append(("react", lambda: [react_sample(trajectory, counter)]))
    if "context" in modes and mode in ("react", "context"):
        builders.append(("context", lambda: context_samples(trajectory, counter, max_report_chars=max_report_chars)))
    if trajectory.get("status") == "rejected":  # acceptance lives in `judgments`; a row may still say so
        builders = [(m, _refuse("rejected", "the trajectory's status is rejected")) for m, _ in builders]
    if mode not in ("react", "context", "heavy"):
        builders = [(m, _refuse("unknown_mode", f"mode {mode!r}")) for m in modes]
    rows: list[dict] = []
    for sample_mode, build in builders:
        try:
            rows.extend(build())
        except SampleError as error:
            if skipped is not None:
                skipped.append({"mode": sample_mode, "trajectory_id": trajectory.get("id"),
                                "task_id": trajectory.get("task_id"), "reason": error.reason,
                                "detail": error.detail})
    return rows


def _refuse(reason: str, detail: str) -> Callable[[], list[dict]]:
    def build() -> list[dict]:
        raise SampleError(reason, detail)
    return build
