"""CPT writers: the template text as it is ("template-1"), or a teacher's more fluent rewrite of it.

The templates (planning.py, reasoning.py, decision.py) carry every fact; a writer only words them. The
teacher is asked, at temperature 0, for `{"text": ...}`; a rewrite that fails (the request failed, the
reply is not that JSON, or it dropped a span that must stay verbatim: a tool call, the answer line, or it
grew or shrank out of proportion) is replaced by the template text, written by "template-1". That fallback
is said: `Written.fallback` gives the reason, `TeacherCptWriter.fallbacks` lists every one, a warning is
logged, and the failed call's `requests` row (in `TeacherCptWriter.requests`) carries the error.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drsynth.filters.cpt.draft import CptDraft
from drsynth.synth.teacher.json_reply import NoJSONObject, json_object, reply_text

if TYPE_CHECKING:
    from drsynth.synth.teacher.config import TeacherConfig
    from drsynth.synth.teacher.requests_log import RequestLog

log = logging.getLogger(__name__)

TEMPLATE = "template-1"
MIN_RATIO, MAX_RATIO = 0.5, 2.5  # a rewrite's length against the draft's

SYSTEM_PROMPT = (
    "You edit training text for research agents. Rewrite the given draft so it reads as fluent, natural "
    "English, as a careful researcher would write it. Keep every fact, name, number, URL and step; add no "
    "fact the draft does not state; keep the section labels (Question:, Plan:, Knowledge:, Reasoning:, "
    "Step, Known so far:, Options:, Decision:, Why:, Action:, Result:, First action:, Answer:) and the "
    "order of the sections. Copy every <tool_call>...</tool_call> block and the final 'Answer:' line "
    'exactly as they are. Reply with a JSON object and nothing else: {"text": "..."}'
)
REPLY_SCHEMA = {"title": "cpt_text", "type": "object", "properties": {"text": {"type": "string"}},
                "required": ["text"], "additionalProperties": False}


@dataclass(frozen=True)
class Written:
    text: str
    writer: str  # what wrote `text`: template-1 or llm:<model>
    fallback: str | None = None  # why the template text stands where a rewrite was asked for


class CptWriter(ABC):
    name: str

    @abstractmethod
    def write_many(self, drafts: Sequence[CptDraft]) -> list[Written]:
        """One text per draft, in order; never raises for a draft."""

    def write(self, draft: CptDraft) -> Written:
        return self.write_many([draft])[0]


class TemplateCptWriter(CptWriter):
    """The offline writer: the template text itself."""

    name = TEMPLATE

    def write_many(self, drafts: Sequence[CptDraft]) -> list[Written]:
        return [Written(d.text, self.name) for d in drafts]


class RewriteError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_rewrite(content: str | None, draft: CptDraft) -> str:
    """The rewritten text of a teacher's reply, checked against the draft; RewriteError otherwise."""
    try:
        rewritten = json_object(content, shown=120).get("text")
    except NoJSONObject as error:
        raise RewriteError("malformed", str(error)) from None
    if not isinstance(rewritten, str) or not rewritten.strip():
        raise RewriteError("malformed", f"no 'text' string in the reply: {reply_text(content)[:120]!r}")
    rewritten = rewritten.strip()
    missing = [span for span in draft.keep if span not in rewritten]
    if missing:
        raise RewriteError("dropped_span", f"{len(missing)} span(s) not kept verbatim, first: {missing[0][:80]!r}")
    ratio = len(rewritten) / max(len(draft.text), 1)
    if not MIN_RATIO <= ratio <= MAX_RATIO:
        raise RewriteError("length", f"the rewrite is {ratio:.2f} times the draft's length")
    return rewritten


def teacher_prompt(draft: CptDraft) -> str:
    return json.dumps({"kind": draft.kind, "draft": draft.text, "keep_verbatim": list(draft.keep)},
                      ensure_ascii=False, indent=1)


class TeacherCptWriter(CptWriter):
    """Rewrites by a teacher model through synth/teacher's client: its retries, cache and `requests` rows
    (collected in `self.requests` for whoever writes them)."""

    def __init__(self, config: TeacherConfig, *, cache: Any = None, log: RequestLog | None = None,
                 max_tokens: int | None = None) -> None:
        from drsynth.synth.teacher.requests_log import RequestLog  # template-only runs never load the SDK

        self.config = config
        self.cache = cache  # a ResponseCache: a rerun asks the model nothing it has answered before
        self.requests = log if log is not None else RequestLog()
        self.max_tokens = max_tokens
        self.name = f"llm:{config.model}"
        self.fallbacks: list[dict] = []  # {kind, task_id, trajectory_id, reason, detail} per fallback

    def write_many(self, drafts: Sequence[CptDraft]) -> list[Written]:
        from drsynth.synth.teacher.client import run_blocking

        return run_blocking(self.awrite_many(list(drafts)))

    async def awrite_many(self, drafts: list[CptDraft]) -> list[Written]:
        import asyncio

        from drsynth.synth.teacher.client import TeacherClient

        if not drafts:
            return []
        client = TeacherClient(self.config, cache=self.cache, log=self.requests)  # one per event loop
        try:
            replies = await asyncio.gather(*(
                client.chat([{"role": "system", "content": SYSTEM_PROMPT},
                             {"role": "user", "content": teacher_prompt(d)}],
                            purpose="cpt_writer", temperature=0.0, max_tokens=self.max_tokens,
                            json_schema=REPLY_SCHEMA, parents=list(d.parents))
                for d in drafts))
        finally:
            await client.aclose()
        out = []
        for draft, reply in zip(drafts, replies, strict=True):
            try:
                if reply.error is not None:
                    raise RewriteError("request_failed", reply.error)
                out.append(Written(parse_rewrite(reply.text, draft), self.name))
            except RewriteError as error:
                out.append(self._fallback(draft, error))
        return out

    def _fallback(self, draft: CptDraft, error: RewriteError) -> Written:
        reason = f"{self.name} {error.reason}: {error.detail}"
        self.fallbacks.append({"kind": draft.kind, "task_id": draft.task_id, "trajectory_id": draft.trajectory_id,
                               "reason": error.reason, "detail": error.detail})
        log.warning("cpt writer: template text kept for a %s sample of task %s (%s)", draft.kind, draft.task_id,
                    reason)
        return Written(draft.text, TEMPLATE, fallback=reason)
