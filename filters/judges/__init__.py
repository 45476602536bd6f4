"""Judges: does a trajectory's final answer answer its task? `MatchJudge` (offline, "match-2") and
`LLMJudge` (the teacher grades, "llm:<model>"), both returning a `Verdict`."""

from __future__ import annotations

from typing import Any

from drsynth.filters.judges.llm import LLMJudge
from drsynth.filters.judges.match import MatchJudge
from drsynth.filters.judges.verdict import VERDICTS, Judge, Verdict, verdict_counts
from drsynth.synth.teacher.client import TeacherClient

JUDGE_KINDS = ("match", "llm")
# the revision of the judging rules (2: a unit or format in the gold answer must be in the answer); part of
# the filter fingerprint, so a root judged under older rules is judged again
JUDGE_RULES = 2


def make_judge(kind: str, client: TeacherClient | None = None, **options: Any) -> Judge:
    """The judge of `kind` ("match" | "llm"); `options` go to its constructor (match: f1_threshold,
    number_tolerance, max_extra_tokens; llm: name, max_tokens, max_answer_chars; both: concurrency)."""
    if kind == "match":
        return MatchJudge(**options)
    if kind == "llm":
        if client is None:
            raise ValueError("the llm judge needs a TeacherClient (the [teacher] endpoints)")
        return LLMJudge(client, **options)
    raise ValueError(f"judge must be one of {JUDGE_KINDS}, got {kind!r}")


__all__ = ["JUDGE_KINDS", "JUDGE_RULES", "VERDICTS", "Judge", "LLMJudge", "MatchJudge", "Verdict", "make_judge", "verdict_counts"]
