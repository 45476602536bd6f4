"""A CPT text before and after its writer, and the `cpt_samples` row it becomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drsynth.filters.cpt.steps import SampleError
from drsynth.storage.ids import content_id
from drsynth.synth.agent.runner import TokenCounter

KINDS = ("planning", "reasoning", "decision")
FORMAT = "cpt-1"  # the version of the templates below the writers: part of every id
SHORT_MAX_TOKENS = 2048


@dataclass(frozen=True)
class CptDraft:
    """A sample as the templates write it, with what a rewrite must keep verbatim."""
    kind: str  # planning | reasoning | decision
    text: str
    task_id: str
    trajectory_id: str | None
    level: int | None
    parents: tuple[str, ...]  # the records it comes from: trajectory first, then task
    keep: tuple[str, ...] = ()  # spans a rewrite must keep as they are: tool calls, the answer line


def task_fields(task: Mapping[str, Any]) -> tuple[str, str, int | None]:
    """(id, question, level) of a `tasks` row; SampleError when it has no question."""
    question = task.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SampleError("no_question", f"task {task.get('id')!r} has no question")
    return str(task.get("id") or ""), " ".join(question.split()), task.get("level")


def stage_of(tokens: int, short_max_tokens: int = SHORT_MAX_TOKENS) -> str:
    """The CPT stage a text belongs to by its length: short first, then long context."""
    return "short" if tokens <= short_max_tokens else "long"


def cpt_row(draft: CptDraft, text: str, writer: str, counter: TokenCounter | None = None, *,
            short_max_tokens: int = SHORT_MAX_TOKENS) -> dict:
    """The `cpt_samples` row (without `run_id`: the publisher adds it). Its id covers the text, what wrote
    it and what it came from, so the template text is one row however often it is built, and a teacher's
    rewrite of it another."""
    counter = counter or TokenCounter()
    tokens = counter(text)
    return {
        "id": content_id("cpt_sample", FORMAT, draft.kind, draft.task_id, draft.trajectory_id, writer, text),
        "parents": list(dict.fromkeys(p for p in draft.parents if p)),
        "kind": draft.kind, "text": text, "task_id": draft.task_id, "trajectory_id": draft.trajectory_id,
        "level": draft.level, "stage": stage_of(tokens, short_max_tokens), "tokens": tokens,
        "tokenizer": counter.name, "writer": writer,
    }
