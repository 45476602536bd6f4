"""Planning-action samples: a question, its decomposition into sub-questions, and the first action.

The sub-questions are the formalization's solving path (path.py), one per hop toward the answer. The
first action is the first tool call of an accepted trajectory of the task when one is given, else a
search for the entities the question names (the question itself when it names none).

    Question: ...

    Plan:
    1. Who is the historian whose notable works include A History of Estavia? (call it x1)
    2. What is the underground fire associated with x1? (this is the answer)

    First action:
    <tool_call>
    {"name": "search", "arguments": {"query": ["A History of Estavia"]}}
    </tool_call>
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filters.cpt.draft import SHORT_MAX_TOKENS, CptDraft, cpt_row, task_fields
from filters.cpt.path import Hop, constants, display, solving_path
from filters.cpt.steps import SampleError, trajectory_steps
from filters.cpt.writer import CptWriter, TemplateCptWriter
from synth.agent.format import render_call
from synth.agent.runner import TokenCounter
from synth.tasks.formal import ANSWER


def plan_lines(hops: list[Hop], answer_type: str = "") -> list[str]:
    lines = []
    for i, hop in enumerate(hops, 1):
        role = "this is the answer" if hop.term == ANSWER else f"call it {hop.label}"
        lines.append(f"{i}. {hop.question(answer_type=answer_type)} ({role})")
    return lines


def first_action(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None) -> str:
    """The `<tool_call>` to start with: the trajectory's first, else a search for the named entities."""
    if trajectory is not None:
        for step in trajectory_steps(trajectory):
            if step.turn.call is not None and step.turn.error is None:
                return step.turn.action
    question = " ".join(str(task.get("question") or "").split())
    names = [display(c, question) for c in constants(task.get("formalization") or [])]
    return render_call("search", {"query": names or [question]})


def planning_draft(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None) -> CptDraft:
    task_id, question, level = task_fields(task)
    hops = solving_path(task.get("formalization") or [])
    if not hops:
        raise SampleError("no_formalization", f"task {task_id!r} has no formalization to plan from")
    action = first_action(task, trajectory)
    text = "\n\n".join([f"Question: {question}",
                        "Plan:\n" + "\n".join(plan_lines(hops, str(task.get("answer_type") or ""))),
                        f"First action:\n{action}"])
    used = trajectory is not None and action in {s.turn.action for s in trajectory_steps(trajectory)}
    trajectory_id = str(trajectory["id"]) if used and trajectory is not None and trajectory.get("id") else None
    return CptDraft("planning", text, task_id, trajectory_id, level, (trajectory_id or "", task_id), (action,))


def planning_samples(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None,
                     writer: CptWriter | None = None, counter: TokenCounter | None = None, *,
                     short_max_tokens: int = SHORT_MAX_TOKENS) -> list[dict]:
    """One planning-action sample of a task (SampleError when the task cannot be planned)."""
    draft = planning_draft(task, trajectory)
    written = (writer or TemplateCptWriter()).write(draft)
    return [cpt_row(draft, written.text, written.writer, counter, short_max_tokens=short_max_tokens)]
