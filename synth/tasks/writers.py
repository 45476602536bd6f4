"""Question writers: the offline template writer, and a teacher model behind an OpenAI-compatible API.

A writer words a planned draft and nothing else: the answer, level, formalization and evidence stay the
planner's. A teacher call that fails (`writer_error`: no usable reply came back, after the client's
retries) or a reply that cannot be read as a question (`writer_malformed`) comes back as a WriterError for
the stage to quarantine; the first is transient (the stage asks again on the next run), the second final
(the reply is in the response cache: asking again gives it back). The API key is read from the
environment variable the settings name, handed to the client, and kept out of every message, log line and
row.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drsynth.synth.tasks import render
from drsynth.synth.tasks.config import TaskConfig, TeacherSettings
from drsynth.synth.tasks.draft import TaskDraft

MAX_QUESTION_CHARS = 600
EVIDENCE_CHARS = 400  # of each evidence text in a teacher prompt

SYSTEM_PROMPT = (
    "You write questions for training research agents. You are given the facts of a puzzle: entities "
    "named outright, entities that must only be described, constraints already made vague, the answer, and "
    "the evidence. Write ONE fluent English question whose single correct answer is the given answer. State "
    "every constraint exactly as given (keep vague constraints vague; never make them more precise), never "
    "name a described entity, and never mention the answer or any of its aliases. Reply with a JSON object "
    'and nothing else: {"question": "..."}'
)


@dataclass(frozen=True)
class WrittenQuestion:
    question: str
    writer: str  # "template" | "teacher:<model>"


class WriterError(Exception):
    """A question that could not be written; `reason` is the quarantine reason (`writer_error`: the call
    failed, transient; `writer_malformed`: the reply was unusable, final)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class QuestionWriter(ABC):
    name: str

    @abstractmethod
    def write(self, draft: TaskDraft) -> WrittenQuestion:
        """The question for one draft; raises WriterError."""

    def write_many(self, drafts: Sequence[TaskDraft]) -> list[WrittenQuestion | WriterError]:
        out: list[WrittenQuestion | WriterError] = []
        for draft in drafts:
            try:
                out.append(self.write(draft))
            except WriterError as error:
                out.append(error)
        return out

    def close(self) -> None:  # noqa: B027 - optional hook; most writers hold nothing
        pass


class TemplateWriter(QuestionWriter):
    name = "template"

    def write(self, draft: TaskDraft) -> WrittenQuestion:
        return WrittenQuestion(render.question(draft), self.name)


def teacher_prompt(draft: TaskDraft) -> str:
    """The user message: the draft as JSON (facts, what to obfuscate, the answer, the evidence)."""
    entities = {}
    for mention in draft.root.walk():
        key = mention.var or mention.display
        entities[key] = ({"named": True, "name": mention.display, "is_a": mention.noun} if mention.var is None
                         else {"named": False, "is_a": mention.noun})
    payload = {
        "answer": draft.answer,
        "answer_aliases": draft.aliases,
        "answer_type": draft.answer_type,
        "asks_for": (f"the {draft.attribute['key']} of {draft.root.var or draft.root.display}"
                     if draft.attribute else "?answer"),
        "level": draft.level,
        "entities": entities,
        "constraints": draft.facts(),
        "operations": [o.row() for o in draft.operations],
        "evidence": [{"doc_id": e["doc_id"], "text": e["text"][:EVIDENCE_CHARS]} for e in draft.evidence],
        "draft_question": render.question(draft),
        "instructions": "Rewrite draft_question as a natural question with exactly the same constraints.",
    }
    return json.dumps(payload, ensure_ascii=False, indent=1)


def parse_reply(content: str | None) -> str:
    """The question in a model's reply, read defensively; WriterError("writer_malformed") otherwise."""
    from drsynth.synth.teacher.json_reply import (  # template runs never load the SDK
        NoJSONObject,
        json_object,
        reply_text,
    )

    try:
        question = json_object(content).get("question")
    except NoJSONObject as error:
        raise WriterError("writer_malformed", str(error)) from None
    if not isinstance(question, str) or not question.strip():
        raise WriterError("writer_malformed", f"no 'question' string in the reply: {reply_text(content)[:200]!r}")
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        raise WriterError("writer_malformed", f"question of {len(question)} characters (max {MAX_QUESTION_CHARS})")
    if not question.endswith("?"):
        question = question.rstrip(".") + "?"
    return question


QUESTION_SCHEMA = {"title": "question", "type": "object", "properties": {"question": {"type": "string"}},
                   "required": ["question"], "additionalProperties": False}


class TeacherWriter(QuestionWriter):
    """Wording by a teacher model through synth/teacher's client (any OpenAI-compatible server: vLLM, ...):
    its retries, structured output and accounting. The client's `requests` rows collect in `self.requests`
    for whoever writes them."""

    def __init__(self, settings: TeacherSettings, cache: Any = None) -> None:
        from drsynth.synth.teacher import RequestLog, TeacherConfig  # template-only runs never load the SDK

        self.settings = settings
        self.cache = cache  # a ResponseCache: a rerun asks the model nothing it has answered before
        self.name = f"teacher:{settings.model}"
        self.config = TeacherConfig(base_urls=(settings.base_url,), model=settings.model,
                                    api_key_env=settings.api_key_env, timeout_s=settings.timeout_s,
                                    max_retries=settings.max_retries, max_concurrency=settings.concurrency,
                                    temperature=settings.temperature, cache=cache is not None)
        self.requests = RequestLog()
        self._key = os.environ.get(settings.api_key_env) or ""

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if len(self._key) >= 4 else text

    def write(self, draft: TaskDraft) -> WrittenQuestion:
        (result,) = self.write_many([draft])
        if isinstance(result, WriterError):
            raise result
        return result

    def write_many(self, drafts: Sequence[TaskDraft]) -> list[WrittenQuestion | WriterError]:
        from drsynth.synth.teacher import run_blocking

        return run_blocking(self._write_all(list(drafts)))

    async def _write_all(self, drafts: list[TaskDraft]) -> list[WrittenQuestion | WriterError]:
        import asyncio

        from drsynth.synth.teacher import TeacherClient

        # one client per event loop: batches run in their own
        client = TeacherClient(self.config, cache=self.cache, log=self.requests)
        try:
            replies = await asyncio.gather(*(
                client.chat([{"role": "system", "content": SYSTEM_PROMPT},
                             {"role": "user", "content": teacher_prompt(draft)}],
                            purpose="question_writer", json_schema=QUESTION_SCHEMA, parents=[draft.subgraph_id])
                for draft in drafts))
        finally:
            await client.aclose()
        out: list[WrittenQuestion | WriterError] = []
        for reply in replies:
            if reply.error is not None:
                out.append(WriterError("writer_error", reply.error))
                continue
            try:
                out.append(WrittenQuestion(parse_reply(reply.text), self.name))
            except WriterError as error:
                error.detail = self._scrub(error.detail)
                out.append(error)
        return out


def make_writer(config: TaskConfig, cache: Any = None) -> QuestionWriter:
    if config.writer == "teacher":
        return TeacherWriter(config.teacher, cache)
    return TemplateWriter()
