"""Agentic continual pre-training text (DESIGN §7): planning-action, reasoning-action and decision samples.

Built from a task (its question, formalization and evidence) and its accepted trajectories, written by a
template (offline, "template-1") or rewritten by a teacher, and cut into stages by length: `short`
(<= `short_max_tokens`) first, `long` after. Rows follow the `cpt_samples` schema without `run_id` (the
publisher adds it).

`cpt_samples` makes, per task:
- one planning sample (its first action from the first accepted trajectory, by id, that calls a tool);
- one reasoning sample over the task's evidence, and one over the first accepted trajectory's findings;
- one decision sample per accepted trajectory (heavy-mode syntheses excepted: their members carry the
  decisions).
What cannot be built is not dropped silently: each is a record in `skipped` (kind, task_id, trajectory_id,
reason, detail) for the caller to keep.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drsynth.filters.cpt.decision import decision_draft, decision_samples
from drsynth.filters.cpt.draft import FORMAT, KINDS, SHORT_MAX_TOKENS, CptDraft, cpt_row, stage_of
from drsynth.filters.cpt.planning import planning_draft, planning_samples
from drsynth.filters.cpt.reasoning import reasoning_draft, reasoning_samples
from drsynth.filters.cpt.steps import SampleError, trajectory_steps
from drsynth.filters.cpt.writer import CptWriter, TeacherCptWriter, TemplateCptWriter, Written
from drsynth.synth.agent.runner import TokenCounter

__all__ = [
    "FORMAT", "KINDS", "SHORT_MAX_TOKENS", "CptDraft", "CptWriter", "SampleError", "TeacherCptWriter",
    "TemplateCptWriter", "Written", "cpt_drafts", "cpt_row", "cpt_samples", "decision_samples",
    "planning_samples", "reasoning_samples", "stage_of",
]


def _skip(skipped: list[dict] | None, kind: str, task_id: str, trajectory_id: str | None,
          reason: str, detail: str) -> None:
    if skipped is not None:
        skipped.append({"kind": kind, "task_id": task_id, "trajectory_id": trajectory_id, "reason": reason,
                        "detail": detail})


def _usable(task_id: str, trajectories: Iterable[Mapping[str, Any]], skipped: list[dict] | None) -> list:
    """The trajectories of this task (the caller passes accepted ones), by id; others are skipped."""
    out = []
    for t in sorted(trajectories, key=lambda t: str(t.get("id") or "")):
        tid = str(t.get("id") or "") or None
        if t.get("status") == "rejected":  # acceptance lives in `judgments`; a row may still say so
            _skip(skipped, "all", task_id, tid, "rejected", "the trajectory's status is rejected")
        elif str(t.get("task_id") or task_id) != task_id:
            _skip(skipped, "all", task_id, tid, "task_mismatch", f"trajectory of task {t.get('task_id')!r}")
        else:
            out.append(t)
    return out


def cpt_drafts(task: Mapping[str, Any], accepted_trajectories: Iterable[Mapping[str, Any]] = (), *,
               kinds: Sequence[str] = KINDS, skipped: list[dict] | None = None) -> list[CptDraft]:
    """The template drafts of one task's CPT samples (see the module's docstring for which)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown CPT kind(s) {sorted(unknown)}; known: {KINDS}")
    task_id = str(task.get("id") or "")
    trajectories = _usable(task_id, accepted_trajectories, skipped)
    calling = [t for t in trajectories if any(s.turn.call is not None for s in trajectory_steps(t))]
    attempts: list[tuple[str, Any, Any]] = []
    if "planning" in kinds:
        attempts.append(("planning", planning_draft, (task, calling[0] if calling else None)))
    if "reasoning" in kinds:
        attempts.append(("reasoning", reasoning_draft, (task, None)))
        if calling:
            attempts.append(("reasoning", reasoning_draft, (task, calling[0])))
    if "decision" in kinds:
        attempts += [("decision", decision_draft, (task, t)) for t in trajectories]
    drafts = []
    for kind, build, args in attempts:
        try:
            drafts.append(build(*args))
        except SampleError as error:
            trajectory = args[1]
            _skip(skipped, kind, task_id, str(trajectory.get("id")) if trajectory else None, error.reason,
                  error.detail)
    return drafts


def cpt_samples(task: Mapping[str, Any], accepted_trajectories: Iterable[Mapping[str, Any]] = (),
                writer: CptWriter | None = None, counter: TokenCounter | None = None, *,
                kinds: Sequence[str] = KINDS, short_max_tokens: int = SHORT_MAX_TOKENS,
                skipped: list[dict] | None = None) -> list[dict]:
    """Every CPT sample of one task, as `cpt_samples` rows (the writer gets all drafts at once)."""
    drafts = cpt_drafts(task, accepted_trajectories, kinds=kinds, skipped=skipped)
    written = (writer or TemplateCptWriter()).write_many(drafts)
    return [cpt_row(d, w.text, w.writer, counter, short_max_tokens=short_max_tokens)
            for d, w in zip(drafts, written, strict=True)]
