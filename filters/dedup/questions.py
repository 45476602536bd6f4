"""Which questions repeat one seen before: exact (after normalization) and near (MinHash LSH).

`existing` are the questions already published under the same output root: they are never removed,
only matched against. `new` is taken in order; the first question of a group is kept and every later
one is reported as a duplicate of the earliest kept or existing question it matches. A record whose id
is also in `existing` (a rerun seeing its own published task again) is the same record, not a
duplicate, and so is a repeated id within `new`: both are skipped. A question with no words is
reported with kind "empty" and no `of_id`: it cannot be compared, and it must not vanish.

Defaults (threshold 0.8, word 3-gram shingles with start/end markers, see `minhash`): distinct
template questions that differ in one entity stay apart ("When did Oskar Lindell die?" / "When did
Ivo Castell die?" share no shingle; "What is the work whose occasion is the underground fire that
took place in Dunmere?" / "... in Aldra?" are at 0.70), while rewordings that keep at least 80% of
the shingles (a word added or dropped in a question of twenty words or more, a changed word in one of
twenty-five or more) are caught. Case, punctuation, spacing and accents never count: such variants
are exact duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from drsynth.filters.dedup.exact import words_key
from drsynth.filters.dedup.minhash import WEIGHTS, LSHIndex, MinHasher
from drsynth.filters.text import words


@dataclass(frozen=True)
class Duplicate:
    id: str
    of_id: str  # the kept or existing question it repeats; "" for kind "empty"
    kind: str  # "exact" | "near" | "empty"
    similarity: float  # estimated Jaccard for "near", 1.0 for "exact", 0.0 for "empty"


class QuestionDeduper:
    """Streaming dedup state: what has been kept so far, exact keys and the LSH index."""

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        num_perm: int = 128,
        ngram: int = 3,
        seed: int = 1,
        weights: tuple[float, float] = WEIGHTS,
        batch: int = 2048,
    ) -> None:
        self.hasher = MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)
        self.index = LSHIndex(threshold=threshold, num_perm=num_perm, weights=weights)
        self.batch = batch
        # normalized key -> what a question with that key repeats: (id, kind, similarity); a near duplicate's
        # key is remembered too, so that its exact copies point where it pointed
        self._exact: dict[str, tuple[str, str, float]] = {}
        self._seen: set[str] = set()

    def add_existing(self, records: Iterable[tuple[str, str]]) -> None:
        """Questions already published: matched against, never reported."""
        for record_id, key, signature, bands in self._unseen(records):
            if key:
                self._exact.setdefault(key, (record_id, "exact", 1.0))
                self.index.insert(record_id, signature, bands)

    def process(self, records: Iterable[tuple[str, str]]) -> Iterator[Duplicate]:
        """The duplicates among `records`, in order; the rest are kept and matched against later ones."""
        for record_id, key, signature, bands in self._unseen(records):
            found = self._match(record_id, key, signature, bands)
            if found is not None:
                if found.kind == "near":
                    self._exact[key] = (found.of_id, found.kind, found.similarity)
                yield found
                continue
            self._exact[key] = (record_id, "exact", 1.0)
            self.index.insert(record_id, signature, bands)

    def _unseen(self, records: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str, np.ndarray, list[int]]]:
        """(id, exact key, MinHash signature, LSH band keys) of each record whose id has not been met before,
        hashed `batch` records at a time."""
        for chunk in _chunks(records, self.batch):
            docs = [words(q) for _, q in chunk]
            keys = [words_key(d) for d in docs]
            signatures = self.hasher.signatures_of_words(docs)
            band_keys = self.index.band_keys(signatures).tolist()
            for (record_id, _), key, signature, bands in zip(chunk, keys, signatures, band_keys, strict=True):
                if record_id not in self._seen:
                    self._seen.add(record_id)
                    yield record_id, key, signature, bands

    def _match(self, record_id: str, key: str, signature, bands: list[int]) -> Duplicate | None:
        if not key:
            return Duplicate(record_id, "", "empty", 0.0)
        if key in self._exact:
            return Duplicate(record_id, *self._exact[key])
        matches = self.index.matches(signature, bands)
        if matches:
            of_id, similarity = matches[0]  # insertion order: the earliest kept or existing question
            return Duplicate(record_id, str(of_id), "near", similarity)
        return None


def find_duplicates(
    new: Iterable[tuple[str, str]],
    existing: Iterable[tuple[str, str]] = (),
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 3,
    seed: int = 1,
    weights: tuple[float, float] = WEIGHTS,
) -> list[Duplicate]:
    """The duplicates among `new` (id, question) pairs, against themselves and `existing` ones."""
    deduper = QuestionDeduper(threshold=threshold, num_perm=num_perm, ngram=ngram, seed=seed, weights=weights)
    deduper.add_existing(existing)
    return list(deduper.process(new))


def _chunks(records: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    iterator = iter(records)
    while chunk := [(str(i), q if isinstance(q, str) else "") for i, q in islice(iterator, size)]:
        yield chunk
