"""The LLM judge ("llm:<model>"): the teacher grades an answer against the gold answer and its aliases.

One request per answer through `TeacherClient.chat(purpose="judge", temperature=0)` with a JSON schema
(structured output where the endpoint has it; the client falls back to a schema in the prompt). Each call
is a `requests` row in the client's `RequestLog`; `drain_requests()` hands them to the stage that writes
them. A failed request or a reply that is not the asked-for JSON is an `error` verdict carrying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drsynth.filters.judges.verdict import Judge, Verdict
from drsynth.synth.teacher.client import TeacherClient
from drsynth.synth.teacher.json_reply import NoJSONObject, json_object

JUDGE_SCHEMA = {
    "title": "judgment",
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
        "reason": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["verdict", "reason", "confidence"],
    "additionalProperties": False,
}

GRADER_PROMPT = (
    "You grade answers to research questions. You are given a question, its gold answer (with other accepted "
    "spellings) and a predicted answer. Decide whether the predicted answer gives the same answer as the gold "
    "one.\n"
    "- Accept paraphrases, equivalent forms and spellings: another name of the same entity, a missing or "
    "added article or title, a date or number written differently (\"3 March 1891\" = \"1891-03-03\", "
    "\"12,400\" = \"12.4 thousand\"), a small rounding of a number, extra words that do not change the answer.\n"
    "- A date must be as precise as the gold one: a bare year does not answer a question whose gold answer is "
    "a full date.\n"
    "- A number must carry the gold's unit or format: a bare \"4\" does not answer a gold length \"4:00\" "
    "(\"four minutes\" does), nor \"2\" or \"2 million\" a gold \"$2 million\", nor \"45\" a gold \"45%\", unless "
    "the question names the unit. A plain count (\"24\" for \"24 episodes\") needs no unit.\n"
    "- Reject answers that hedge or give several candidates (\"X or Y\", \"probably X, possibly Y\", a list), "
    "answers that contradict the gold answer, and non-answers (\"unknown\", \"I could not find it\").\n"
    "- Judge only against the gold answer: do not use your own knowledge of the question.\n"
    "Reply with one JSON object and nothing else: "
    '{"verdict": "correct" or "incorrect", "reason": a short sentence, "confidence": a number from 0 to 1}.'
)


class LLMJudge(Judge):
    def __init__(self, client: TeacherClient, *, name: str | None = None, concurrency: int = 16,
                 max_tokens: int = 1024, max_answer_chars: int = 2000) -> None:
        """`max_answer_chars`: longer predictions are cut (and the cut is said in the prompt): a long answer
        is almost always a hedge, and the judge must not pay for it."""
        self.client = client
        self.name = name or f"llm:{client.config.model}"
        self.concurrency = concurrency
        self.max_tokens = max_tokens
        self.max_answer_chars = max_answer_chars

    async def judge(self, task: Mapping[str, Any], answer: str | None, *,
                    parents: Sequence[str] | None = None) -> Verdict:
        """`parents` name what the request serves in its `requests` row (default: the task's id)."""
        try:
            golds = self.golds_or_verdict(task, answer)
            if isinstance(golds, Verdict):
                return golds
            if parents is None:
                parents = (str(task["id"]),) if task.get("id") else ()
            result = await self.client.chat(self.messages(task, str(answer), golds), purpose="judge",
                                            temperature=0.0, max_tokens=self.max_tokens,
                                            json_schema=JUDGE_SCHEMA, parents=parents)
        except Exception as error:  # never raises: one error verdict
            return self.error(f"judge request failed: {type(error).__name__}: {error}", retryable=True)
        if result.error is not None:
            return self.error(f"judge request failed: {result.error}", retryable=True)
        return self.parse(result.text)

    def messages(self, task: Mapping[str, Any], answer: str, golds: list[str]) -> list[dict]:
        shown = answer.strip()
        if len(shown) > self.max_answer_chars:
            shown = shown[: self.max_answer_chars] + f"\n[... {len(answer) - self.max_answer_chars} characters cut]"
        lines = [f"Question: {task.get('question') or '(not given)'}", f"Gold answer: {golds[0]}"]
        if len(golds) > 1:
            lines.append("Also accepted: " + "; ".join(golds[1:]))
        if task.get("answer_type"):
            lines.append(f"Answer type: {task['answer_type']}")
        lines.append(f"Predicted answer: {shown}")
        return [{"role": "system", "content": GRADER_PROMPT}, {"role": "user", "content": "\n".join(lines)}]

    def parse(self, text: str) -> Verdict:
        """The verdict in a reply: JSON, possibly fenced or after a <think> block; anything else is an error."""
        data = reply_json(text)
        if data is None:
            return self.error(f"malformed judge reply (no JSON object): {text.strip()[:200]!r}")
        verdict = str(data.get("verdict", "")).strip().lower()
        if verdict not in ("correct", "incorrect"):
            return self.error(f"malformed judge reply (verdict {data.get('verdict')!r}): {text.strip()[:200]!r}")
        confidence = data.get("confidence", 1.0)
        if isinstance(confidence, str):
            try:
                confidence = float(confidence.strip().rstrip("%")) / (100 if "%" in confidence else 1)
            except ValueError:
                return self.error(f"malformed judge reply (confidence {confidence!r})")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or confidence != confidence:
            return self.error(f"malformed judge reply (confidence {confidence!r})")
        if 1.0 < confidence <= 100.0:  # a percentage
            confidence /= 100.0
        reason = str(data.get("reason") or "").strip() or "(no reason given)"
        return Verdict(verdict, min(1.0, max(0.0, float(confidence))), reason[:1000], self.name)

    def drain_requests(self) -> list[dict]:
        """The client's `requests` rows since the last drain: the judge's calls, and those of anything else
        sharing this client (give the judge its own client to keep them apart)."""
        return self.client.log.drain()


def reply_json(text: str) -> dict | None:
    """The JSON object in a model's reply: the whole reply, a fenced block, or the last object with a
    "verdict" found in the text (after any <think> block)."""
    try:
        return json_object(text, wanted=lambda data: "verdict" in data)
    except NoJSONObject:
        return None
