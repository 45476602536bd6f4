"""The one record every judge returns, and what every judge shares.

A judge never raises for bad input or a failed request: an empty answer is `no_answer` (no work done), an
internal failure is `error` with the failure as its reason. Only a cancellation goes on up.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

VERDICTS = ("correct", "incorrect", "no_answer", "error")


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "correct" | "incorrect" | "no_answer" | "error"
    score: float  # 0..1: token F1 (1.0 for a rule match) for the match judge, confidence for the LLM judge
    reason: str  # short human-readable why
    judge: str  # which judge: "match-2" or "llm:<model>"
    # an error worth asking again (the judge was unreachable), unlike a malformed reply, which a cached
    # rerun would only repeat
    retryable: bool = False

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def is_blank(answer: str | None) -> bool:
    return answer is None or not str(answer).strip()


def gold_spellings(task: Mapping[str, Any]) -> list[str]:
    """The task's answer first, then its aliases; empties and repeats dropped."""
    aliases = task.get("aliases")
    if aliases is None or isinstance(aliases, str):
        aliases = [aliases] if aliases else []
    out: list[str] = []
    for spelling in [task.get("answer"), *aliases]:
        text = str(spelling).strip() if spelling is not None else ""
        if text and text not in out:
            out.append(text)
    return out


class Judge(ABC):
    """Decides whether an answer to a task is correct. `task` is a `tasks` row (question, answer, aliases,
    answer_type, level); `answer` is the text inside the trajectory's `<answer>`, or None."""

    name: str = ""
    concurrency: int = 16  # judge_many: judgments in flight at once

    @abstractmethod
    async def judge(self, task: Mapping[str, Any], answer: str | None) -> Verdict:
        """The verdict on one answer; never raises (an internal failure is an `error` verdict)."""

    async def judge_many(self, items: list[tuple[Mapping[str, Any], str | None]]) -> list[Verdict]:
        """Verdicts in the order of `items`, at most `concurrency` in flight."""
        semaphore = asyncio.Semaphore(max(1, int(self.concurrency)))

        async def one(task: Mapping[str, Any], answer: str | None) -> Verdict:
            async with semaphore:
                try:
                    return await self.judge(task, answer)
                except Exception as error:  # a judge is not supposed to raise; if one does, it is one error
                    return self.error(f"{type(error).__name__}: {error}")

        return list(await asyncio.gather(*(one(task, answer) for task, answer in items)))

    def drain_requests(self) -> list[dict]:
        """The `requests` rows of the calls this judge made since the last drain (none for offline judges):
        the stage that owns the output writes them."""
        return []

    # verdicts every judge gives alike

    def golds_or_verdict(self, task: Mapping[str, Any], answer: str | None) -> list[str] | Verdict:
        """The gold spellings to judge `answer` against, or the verdict that needs no judging: `no_answer`
        for a blank answer, `error` for a task without a gold answer."""
        if is_blank(answer):
            return self.no_answer()
        golds = gold_spellings(task)
        if not golds:
            return self.error(f"task {task.get('id')!r} has no gold answer")
        return golds

    def no_answer(self, reason: str = "no answer given") -> Verdict:
        return Verdict("no_answer", 0.0, reason, self.name)

    def error(self, reason: str, *, retryable: bool = False) -> Verdict:
        return Verdict("error", 0.0, reason[:1000], self.name, retryable)


def verdict_counts(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """How many of each verdict (every verdict named, zeros included): for stage counts and artifacts."""
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        counts[verdict.verdict] += 1
    return counts
