"""Whether a task's question or answer comes from a benchmark set.

Three rules, tried in this order on the normalized text (`filters.text.normalize`):

1. "ngram" (field "question"): the question shares a word n-gram (n = 8) with a benchmark question,
   or contains a benchmark question shorter than n whole, AND holds at least half of that question's
   rare-word weight (`WordOverlapIndex.containment`: its entities came along). Catches verbatim copies,
   copies inside longer questions, and edits that leave eight consecutive words intact; a template
   phrase shared with a question about other entities ("what is the place of birth of the director of
   film X") is not enough.
2. "paraphrase" (field "question"): IDF-weighted Jaccard of the two word sets >= 0.7. Catches a word
   or two changed in a short question, reordered clauses, punctuation and case. On the shared
   benchmarks (2,449 questions), one or two template words replaced, a word added or dropped, or the
   words rotated around a cut point keep 92-100% of the questions at or above 0.7, while questions of
   one template about other entities stay below it.
3. "answer" (field "answer"): the task's answer (or an alias) equals, after normalization, an answer
   of a benchmark item AND the question shares a word `answer_ngram`-gram (4) with that same
   benchmark question holding a word rare among the benchmark questions (in at most 2% of them). An
   answer alone never contaminates: "Paris" or "1999" answers many unrelated questions, and a shared
   template phrase is no evidence either. Yes/no answers identify nothing and are never used.

`Contamination.ngram` is the evidence: the shared n-gram (rule 1), the longest run of words the two
questions share (rule 2), or the shared k-gram (rule 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import islice
from pathlib import Path

from drsynth.filters.decontam.benchmarks import BenchmarkItem, BenchmarkProblem, load_benchmarks
from drsynth.filters.decontam.ngrams import NgramIndex, WordOverlapIndex
from drsynth.filters.text import ngrams, normalize, words

# answers that identify no fact
GENERIC_ANSWERS = frozenset({"yes", "no", "true", "false", "none", "unknown"})

Answer = str | Sequence[str] | None


@dataclass(frozen=True)
class Contamination:
    benchmark: str
    index: int  # the item's 0-based position in its benchmark file
    ngram: str  # the matched text (normalized)
    field: str  # "question" | "answer"
    rule: str = "ngram"  # "ngram" | "paraphrase" | "answer"
    score: float = 1.0  # rare-word containment ("ngram"), weighted Jaccard ("paraphrase"), 1.0 ("answer")

    def reason(self) -> str:
        return f"contaminated:{self.benchmark}#{self.index}:{self.field}:{self.rule}"


class Decontaminator:
    """Checks questions (and answers) against benchmark items; see the module docstring for the rules."""

    def __init__(
        self,
        items: Sequence[BenchmarkItem],
        n: int = 8,
        answer_ngram: int = 4,
        *,
        paraphrase_threshold: float = 0.7,
        min_containment: float = 0.5,
        rare_share: float = 0.02,
        batch: int = 4096,
        problems: Sequence[BenchmarkProblem] = (),
    ) -> None:
        self.items = list(items)
        self.n, self.answer_ngram, self.batch = n, answer_ngram, batch
        self.problems = list(problems)
        docs = [words(item.question) for item in self.items]
        self.min_containment = min_containment
        self.ngrams = NgramIndex(docs, n)
        self.overlap = WordOverlapIndex(docs, paraphrase_threshold, rare_share)
        self._answers: dict[str, list[int]] = {}
        for position, item in enumerate(self.items):
            for answer in {normalize(a) for a in item.answers} - GENERIC_ANSWERS - {""}:
                self._answers.setdefault(answer, []).append(position)
        self._answer_grams: dict[int, set[str]] = {}

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path] | None = None, **kwargs) -> Decontaminator:
        """Over the benchmark files at `paths` (default: ../shared/benchmarks); unread ones in `.problems`."""
        loaded = load_benchmarks(paths)
        return cls(loaded.items, problems=loaded.problems, **kwargs)

    def check(self, question: str, answer: Answer = None) -> Contamination | None:
        found = list(self.check_many([("", question, answer)]))
        return found[0][1] if found else None

    def check_many(self, records: Iterable[tuple[str, str, Answer]]) -> Iterator[tuple[str, Contamination]]:
        """(id, contamination) for each contaminated (id, question, answer) record, in input order."""
        iterator = iter(records)
        while chunk := list(islice(iterator, self.batch)):
            yield from self._check_chunk(chunk)

    def _check_chunk(self, chunk: list[tuple[str, str, Answer]]) -> Iterator[tuple[str, Contamination]]:
        docs = [words(question) if isinstance(question, str) else [] for _, question, _ in chunk]
        known = [self.overlap.known(d) for d in docs]
        found: dict[int, Contamination] = {}
        for position, (item, share) in self._copied(docs, known).items():
            gram = self.ngrams.shared_gram(docs[position], item, self.overlap.is_rare)
            found[position] = self._found(item, gram, "question", "ngram", share)
        rest = [p for p in range(len(chunk)) if p not in found]
        for position, best in zip(
            rest, self.overlap.best([docs[p] for p in rest], [known[p] for p in rest]), strict=True
        ):
            if best is not None:
                item, score = best
                found[position] = self._found(
                    item,
                    _longest_run(docs[position], self.ngrams.docs[item]),
                    "question",
                    "paraphrase",
                    score,
                )
        for position in range(len(chunk)):
            if position not in found:
                by_answer = self._answer_match(docs[position], known[position], chunk[position][2])
                if by_answer is not None:
                    found[position] = by_answer
        for position in sorted(found):
            yield str(chunk[position][0]), found[position]

    def _copied(self, docs: list[list[str]], known: list[set[int]]) -> dict[int, tuple[int, float]]:
        """Rule 1: for each doc, the item it shares an n-gram with whose entities it holds best."""
        best: dict[int, tuple[int, float]] = {}
        for doc, item in self.ngrams.pairs(docs):
            share = self.overlap.containment(known[doc], item)
            if share >= self.min_containment and (doc not in best or share > best[doc][1]):
                best[doc] = (item, share)
        return best

    def _found(self, item: int, ngram: str, field: str, rule: str, score: float = 1.0) -> Contamination:
        benchmark_item = self.items[item]
        return Contamination(
            benchmark_item.benchmark, benchmark_item.index, ngram, field, rule, round(score, 4)
        )

    def _answer_match(self, question: list[str], known: set[int], answer: Answer) -> Contamination | None:
        items = sorted({i for a in _answer_texts(answer) for i in self._answers.get(normalize(a), ())})
        if not items or not question:
            return None
        items = [item for item in items if self.overlap.shares_telling_word(known, item)]
        ours = ngrams(question, self.answer_ngram) if items else []
        for item in items:
            theirs = self.telling_grams(item)
            shared = next((g for g in ours if g in theirs), None)
            if shared is not None:
                return self._found(item, shared, "answer", "answer")
        return None

    def telling_grams(self, item: int) -> set[str]:
        """The answer_ngram-grams of a benchmark question that hold a word rare in the benchmarks."""
        if item not in self._answer_grams:
            grams = ngrams(self.ngrams.docs[item], self.answer_ngram)
            self._answer_grams[item] = {g for g in grams if any(self.overlap.is_rare(w) for w in g.split())}
        return self._answer_grams[item]


def _answer_texts(answer: object) -> list[str]:
    """An answer field as strings: a string, a number, or a list of them (aliases); anything else: none."""
    if isinstance(answer, str):
        return [answer]
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        return [str(answer)]
    if isinstance(answer, list | tuple):
        return [text for a in answer if not isinstance(a, list | tuple) for text in _answer_texts(a)]
    return []


def _longest_run(ours: list[str], theirs: list[str]) -> str:
    match = SequenceMatcher(None, ours, theirs, autojunk=False).find_longest_match(
        0, len(ours), 0, len(theirs)
    )
    return " ".join(ours[match.a : match.a + match.size])
