"""The offline match judge ("match-2"): the baseline every other judge is measured against.

Rules, first decisive one wins, against the gold answer and every alias:
1. normalized exact match (case, punctuation, articles, whitespace, diacritics) of the answer, or of the
   final answer pulled out of a sentence ("The answer is 1891.");
2. typed answers: numbers within a relative tolerance (units converted where known: "2.3 km" = "2,300 m");
   a gold that carries its unit or format (a length "4:00", money "$2 million", a percentage "45%", a
   quantity "2,317 m") needs an answer in that unit: a bare "4" is not a length, even where an alias is the
   bare number, unless the question names the unit ("How many metres ..."); a plain number or a count
   ("12,400", "24 episodes") takes the bare number. Lengths compare to the second ("four minutes" = "4:00" != "3:59");
   dates at the gold's granularity (a gold year takes any date in that year; a gold month needs year and
   month; a gold day the same day, so a bare year is too coarse). An answer naming several different numbers
   or dates is a hedge and is incorrect;
3. token F1 >= `f1_threshold`, unless the answer hedges or lists candidates (below);
4. entity answers: the gold's words inside a short answer ("It was Port Selva, Estavia"), unless the answer
   hedges or lists candidates ("or", "maybe", several comma-separated names, the gold not first).

Score: 1.0 for an exact, alias, number or date match; the best token F1 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drsynth.filters.judges.normalize import (
    MEASURE_NOUNS,
    DateValue,
    Quantity,
    coarser,
    date_accepts,
    duration_unit_in_question,
    final_answer,
    find_date_values,
    find_durations,
    find_numbers,
    measure_kind,
    normalize,
    same_number,
    token_f1,
    tokens,
    unit_in_question,
)
from drsynth.filters.judges.verdict import Judge, Verdict
from drsynth.synth.graph.values import strip_parentheticals

ANSWER_TYPES = ("entity", "date", "year", "number", "text")
# words that make an answer a hedge or a list of candidates (unless the gold itself has them)
_HEDGES = frozenset({"or", "and", "either", "maybe", "perhaps", "possibly", "probably", "likely", "unsure",
                     "unclear", "not", "unknown", "uncertain", "versus", "vs"})
_LIST_MARKS = re.compile(r"[;/|\n?]")


@dataclass(frozen=True)
class _Outcome:
    correct: bool
    reason: str
    score: float


class MatchJudge(Judge):
    def __init__(self, *, f1_threshold: float = 0.8, number_tolerance: float = 0.01, max_extra_tokens: int = 6,
                 concurrency: int = 16, name: str = "match-2") -> None:
        """`max_extra_tokens`: how many words beyond the gold's an answer may have for containment to count."""
        if not 0.0 < f1_threshold <= 1.0:
            raise ValueError(f"f1_threshold must be within (0, 1], got {f1_threshold!r}")
        if not 0.0 <= number_tolerance < 1.0:
            raise ValueError(f"number_tolerance must be within [0, 1), got {number_tolerance!r}")
        if max_extra_tokens < 0:
            raise ValueError(f"max_extra_tokens must be >= 0, got {max_extra_tokens!r}")
        self.f1_threshold = f1_threshold
        self.number_tolerance = number_tolerance
        self.max_extra_tokens = max_extra_tokens
        self.concurrency = concurrency
        self.name = name

    async def judge(self, task: Mapping[str, Any], answer: str | None) -> Verdict:
        return self.match(task, answer)

    async def judge_many(self, items: list[tuple[Mapping[str, Any], str | None]]) -> list[Verdict]:
        return [self.match(task, answer) for task, answer in items]  # CPU only: no point in tasks

    def match(self, task: Mapping[str, Any], answer: str | None) -> Verdict:
        """The verdict, synchronously."""
        try:
            golds = self.golds_or_verdict(task, answer)
            if isinstance(golds, Verdict):
                return golds
            outcome = self._decide(str(answer), golds, answer_kind(task.get("answer_type"), golds[0]),
                                   str(task.get("question") or ""))
        except Exception as error:  # a bug here is one error verdict, never a crashed batch
            return self.error(f"match judge failed: {type(error).__name__}: {error}")
        return Verdict("correct" if outcome.correct else "incorrect", round(outcome.score, 4), outcome.reason,
                       self.name)

    def _decide(self, answer: str, golds: list[str], kind: str, question: str = "") -> _Outcome:
        candidate = final_answer(answer)
        if kind == "number":
            # before the exact match: a measure's bare-number alias ("2317" of "2,317 m") is no answer
            measured = self._measured(candidate, golds, question)
            if measured is not None:
                return measured
        forms = {normalize(answer), normalize(candidate)}
        for i, gold in enumerate(golds):
            if normalize(gold) and normalize(gold) in forms:  # "???" is no match for a gold of punctuation
                return _Outcome(True, "exact match" if i == 0 else f"alias {gold!r}", 1.0)
        f1, closest = max((token_f1(candidate, gold), gold) for gold in golds)
        typed = None
        if kind in ("date", "year"):
            typed = self._dates(candidate, golds)
        elif kind == "number":
            typed = self._numbers(candidate, golds)
        if typed is not None:
            return _Outcome(typed.correct, typed.reason, typed.score if typed.correct else f1)
        hedge = _hedge(candidate, closest)
        if f1 >= self.f1_threshold and not hedge:
            return _Outcome(True, f"F1 {f1:.2f} >= {self.f1_threshold:g} with {closest!r}", f1)
        reason = f"F1 {f1:.2f} {'>=' if f1 >= self.f1_threshold else '<'} {self.f1_threshold:g}"
        if hedge:
            reason += f"; the answer {hedge}"
        if kind == "entity":
            contained = self._contains(candidate, golds)
            if contained.correct:
                return _Outcome(True, contained.reason, f1)
            if contained.reason and not hedge:
                reason += f"; {contained.reason}"
        return _Outcome(False, reason, f1)

    # --- typed answers -------------------------------------------------------------------------------

    def _dates(self, answer: str, golds: list[str]) -> _Outcome | None:
        gold_dates = [(gold, found.dates[0]) for gold in golds
                      if len((found := find_date_values(gold)).dates) == 1 and not found.decades]
        if not gold_dates:
            return None  # the gold is no date: the text rules decide
        found = find_date_values(answer)
        primary = gold_dates[0][1]
        if not found.dates:
            if found.decades:
                return _Outcome(False, f"decade {found.decades[0]}s is too coarse for gold "
                                       f"{primary.granularity} {primary}", 0.0)
            return None
        named = list(dict.fromkeys(found.dates))
        for _, gold in gold_dates:
            matching = [d for d in named if date_accepts(gold, d)]
            if matching and len(matching) == len(named) and not found.decades:
                return _Outcome(True, f"date {matching[0]} matches gold {gold.granularity} {gold}", 1.0)
        if len(named) > 1 or found.decades:
            shown = ", ".join([*(str(d) for d in named), *(f"{d}s" for d in found.decades)])
            return _Outcome(False, f"several dates in the answer ({shown}): one answer is expected", 0.0)
        return _Outcome(False, _date_miss(named[0], [gold for _, gold in gold_dates]), 0.0)

    def _measured(self, answer: str, golds: list[str], question: str) -> _Outcome | None:
        """A gold written with its unit or format (see `measure_kind`); None when the gold is a plain number
        or count, or the answer names no number (the text rules decide)."""
        kind = measure_kind(golds[0])
        if kind is None:
            return None
        if kind == "duration":
            return self._durations(answer, golds, question)
        gold_numbers = [(gold, found[0]) for gold in golds
                        if len(found := find_numbers(gold)) == 1 and found[0].unit is not None]
        if not gold_numbers:
            return None
        named = _named_numbers(answer, gold_numbers[0][1])
        if named and all(q.unit is None for q in named):
            unit = gold_numbers[0][1].unit
            if not unit_in_question(question, unit):
                return _Outcome(False, f"a bare number ({_shown(named[0])}) is not {MEASURE_NOUNS[kind]}: the gold "
                                       f"{golds[0]!r} carries its unit", 0.0)
            named = [Quantity(q.value, unit, q.year_like, q.text) for q in named]  # the question's unit
        return self._numbers(answer, golds, gold_numbers=gold_numbers, named=named, strict=True)

    def _durations(self, answer: str, golds: list[str], question: str) -> _Outcome | None:
        wanted = [(gold, found[0]) for gold in golds if len(found := find_durations(gold)) == 1]
        answer = strip_parentheticals(answer)
        found = list(dict.fromkeys(find_durations(answer)))
        if not found:
            bare = [q for q in find_numbers(answer) if not q.year_like] or find_numbers(answer)
            if not bare:
                return None
            per_unit = duration_unit_in_question(question)
            if per_unit is None or len({(q.value, q.unit) for q in bare}) > 1 or bare[0].unit is not None:
                return _Outcome(False, f"{_shown(bare[0])} is not {MEASURE_NOUNS['duration']}: the gold "
                                       f"{golds[0]!r} is a length", 0.0)
            found = [bare[0].value * per_unit]  # "How many minutes ...?" "4"
        if len(found) > 1:
            shown = ", ".join(_clock(s) for s in found)
            return _Outcome(False, f"several lengths in the answer ({shown}): one answer is expected", 0.0)
        # to the second: a length is written exactly ("3:59" is another song's length than "4:00")
        for gold, seconds in wanted:
            if abs(found[0] - seconds) < 0.5:
                return _Outcome(True, f"length {_clock(found[0])} matches gold {gold!r}", 1.0)
        return _Outcome(False, f"length {_clock(found[0])} does not match gold {golds[0]!r}", 0.0)

    def _numbers(self, answer: str, golds: list[str], *, gold_numbers: list[tuple[str, Quantity]] | None = None,
                 named: list[Quantity] | None = None, strict: bool = False) -> _Outcome | None:
        """`strict`: the gold is a measure, whose unit the answer's number must carry (same_number)."""
        if gold_numbers is None:
            gold_numbers = [(gold, found[0]) for gold in golds if len(found := find_numbers(gold)) == 1]
        if not gold_numbers:
            return None
        if named is None:
            named = _named_numbers(answer, gold_numbers[0][1])
        if not named:
            return None
        tolerance = f"{self.number_tolerance * 100:g}%"
        for _, gold in gold_numbers:
            matching = [q for q in named if same_number(q, gold, self.number_tolerance, strict=strict)]
            if matching and len(matching) == len(named):
                return _Outcome(True, f"number {_shown(matching[0])} within {tolerance} of {_shown(gold)}", 1.0)
        if len(named) > 1:
            shown = ", ".join(_shown(q) for q in named)
            return _Outcome(False, f"several numbers in the answer ({shown}): one answer is expected", 0.0)
        gold = gold_numbers[0][1]
        return _Outcome(False, f"number {_shown(named[0])} not within {tolerance} of {_shown(gold)}", 0.0)

    # --- containment -----------------------------------------------------------------------------------

    def _contains(self, answer: str, golds: list[str]) -> _Outcome:
        """The gold inside a short answer that names one thing ("It was Port Selva, Estavia")."""
        words = tokens(answer)
        for gold in golds:
            wanted = tokens(gold)
            if not wanted or f" {' '.join(wanted)} " not in f" {' '.join(words)} ":
                continue
            hedge = _hedge(answer, gold)
            if hedge:
                return _Outcome(False, f"contains {gold!r} but {hedge}", 0.0)
            if len(words) > len(wanted) + self.max_extra_tokens:
                return _Outcome(False, f"contains {gold!r} but is too long ({len(words)} words)", 0.0)
            return _Outcome(True, f"answer contains {gold!r}", 1.0)
        return _Outcome(False, "", 0.0)


def _hedge(answer: str, gold: str) -> str:
    """Why `answer` hedges or lists candidates where `gold` does not ("" when it does not): hedging words,
    list marks, or comma-separated parts beyond a qualifier (the answer must come first: "Port Selva,
    Estavia" names Port Selva; "Varkholm, Port Selva" lists two)."""
    words, wanted = tokens(answer), tokens(gold)
    hedges = (set(words) & _HEDGES) - set(wanted)
    if hedges:
        return f"hedges or lists candidates ({', '.join(sorted(hedges))})"
    marks = set(_LIST_MARKS.findall(answer)) - set(gold)
    if marks:
        return "lists candidates (" + ", ".join(repr(m) for m in sorted(marks)) + ")"
    parts = [p for p in answer.split(",") if p.strip()]
    extra = len(parts) - max(1, len([p for p in gold.split(",") if p.strip()]))
    if extra > 1:
        return f"lists {len(parts)} comma-separated candidates"
    if extra == 1 and f" {' '.join(wanted)} " not in f" {normalize(parts[0])} ":
        return "names another candidate first"
    return ""


def _named_numbers(answer: str, gold: Quantity) -> list[Quantity]:
    """The numbers an answer names, once each; parentheses ("12,400 (2021 census)") and, beside another
    number, years ("12,400 in 2021") are context."""
    named = find_numbers(strip_parentheticals(answer))
    if not gold.year_like and any(not q.year_like for q in named):
        named = [q for q in named if not q.year_like]
    with_unit = {q.value for q in named if q.unit is not None}
    named = [q for q in named if q.unit is not None or q.value not in with_unit]  # "2,317 m, i.e. 2317"
    return list({(q.value, q.unit): q for q in named}.values())


def answer_kind(answer_type: Any, gold: str) -> str:
    """The task's answer type, or, for a task without one, what the gold looks like."""
    if isinstance(answer_type, str) and answer_type in ANSWER_TYPES:
        return answer_type
    if measure_kind(gold) == "duration":
        return "number"
    found = find_date_values(gold)
    if len(found.dates) == 1 and len(tokens(gold)) <= 4:
        return "year" if found.dates[0].granularity == "year" else "date"
    if len(find_numbers(gold)) == 1 and len(tokens(gold)) <= 3:
        return "number"
    return "entity"


def _date_miss(predicted: DateValue, golds: list[DateValue]) -> str:
    for gold in golds:
        if coarser(gold, predicted):
            return f"date {predicted} is too coarse for gold {gold.granularity} {gold}"
    return f"date {predicted} does not match gold {golds[0].granularity} {golds[0]}"


def _clock(seconds: float) -> str:
    """A length as a clock reads it: 192 -> "3:12", 5820 -> "1:37:00"."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _shown(quantity: Quantity) -> str:
    value = quantity.value
    text = str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:.6g}"
    return f"{text} {quantity.unit}" if quantity.unit else text
