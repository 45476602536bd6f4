"""Planning-action samples: a question, its decomposition into steps, and the first action.

Built from the question's text only (question.py): a planning sample teaches how to start from what a
question states, so it must never state what the question hides (the formalization's exact ranges, the
masked and described entities' names, the answer). The steps are the descriptions the question nests,
innermost first; the first action is the first tool call of an accepted trajectory of the task when that
call is itself made of the question's words (a search for names it states), else a search for the names the
question states (its innermost description when it names none).

    Question: What was the underground fire associated with the historian whose notable works include A
    History of Estavia?

    Plan:
    1. Find the historian whose notable works include A History of Estavia, starting from A History of
       Estavia (call it x1).
    2. Find the underground fire associated with x1 (this is the answer).

    First action:
    <tool_call>
    {"name": "search", "arguments": {"query": ["A History of Estavia"]}}
    </tool_call>
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drsynth.filters.cpt.draft import SHORT_MAX_TOKENS, CptDraft, cpt_row, task_fields
from drsynth.filters.cpt.question import Step, decompose, question_names
from drsynth.filters.cpt.steps import SampleError, trajectory_steps
from drsynth.filters.cpt.writer import CptWriter, TemplateCptWriter
from drsynth.synth.agent.format import ToolCall, render_call
from drsynth.synth.agent.runner import TokenCounter

_WORD = re.compile(r"\w+")


def plan_lines(steps: list[Step]) -> list[str]:
    lines = []
    for i, step in enumerate(steps, 1):
        role = "this is the answer" if step.label == "the answer" else f"call it {step.label}"
        start = f", starting from {' and '.join(step.names)}" if step.names else ""
        if step.text.endswith("?"):
            # the role right after the question it qualifies: "Start from X. (this is the answer)" would
            # call X the answer
            start = f" Start from {' and '.join(step.names)}." if step.names else ""
            lines.append(f"{i}. {step.text} ({role}){start}")
        else:
            lines.append(f"{i}. Find {step.text}{start} ({role}).")
    return lines


def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def stated_by(call: ToolCall, question: str) -> bool:
    """Whether a tool call is made of the question's words: a search whose every query the question
    states. A visit (its URL came from a result) or code is not where a plan starts."""
    queries = call.arguments.get("query") if call.name == "search" else None
    if not isinstance(queries, list) or not queries:
        return False
    words = _words(question)
    return all(_words(str(q)) and _words(str(q)) <= words for q in queries)


def question_search(question: str) -> str:
    """A search for the names the question states; its innermost description where it names none."""
    names = question_names(question)
    if not names:
        steps = decompose(question)
        names = [re.sub(r"^(?:the|a|an)\s+", "", steps[0].text).rstrip("?")] if steps else [question]
    return render_call("search", {"query": names})


def first_action(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None) -> str:
    """The `<tool_call>` to start with: the trajectory's first when the question states it, else a search
    for what the question names."""
    question = " ".join(str(task.get("question") or "").split())
    if trajectory is not None:
        for step in trajectory_steps(trajectory):
            if step.turn.call is not None and step.turn.error is None:
                if stated_by(step.turn.call, question):
                    return step.turn.action
                break
    return question_search(question)


def planning_draft(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None) -> CptDraft:
    task_id, question, level = task_fields(task)
    steps = decompose(question)
    if not steps:
        raise SampleError("no_plan", f"task {task_id!r}: the question gives no step to plan")
    action = first_action(task, trajectory)
    text = "\n\n".join([f"Question: {question}", "Plan:\n" + "\n".join(plan_lines(steps)),
                        f"First action:\n{action}"])
    used = trajectory is not None and action in {s.turn.action for s in trajectory_steps(trajectory)}
    trajectory_id = str(trajectory["id"]) if used and trajectory is not None and trajectory.get("id") else None
    return CptDraft("planning", text, task_id, trajectory_id, level, (trajectory_id or "", task_id), (action,))


def planning_samples(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None,
                     writer: CptWriter | None = None, counter: TokenCounter | None = None, *,
                     short_max_tokens: int = SHORT_MAX_TOKENS) -> list[dict]:
    """One planning-action sample of a task (SampleError when the task has no question)."""
    draft = planning_draft(task, trajectory)
    written = (writer or TemplateCptWriter()).write(draft)
    return [cpt_row(draft, written.text, written.writer, counter, short_max_tokens=short_max_tokens)]
