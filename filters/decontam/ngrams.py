"""Indexes over normalized benchmark questions: hashed word n-grams, and rarity-weighted word sets.

`NgramIndex` holds the 64-bit hash of every word n-gram (n = 8 by default) of every benchmark question
in a sorted numpy array, beside the item each came from; a question shorter than n is indexed whole.

`WordOverlapIndex` weighs each benchmark question's words by IDF over the benchmark questions (a word
unknown to them weighs as much as the rarest). Two uses: weighted Jaccard finds rewordings no n-gram
survives (a word or two changed in a short question, a clause moved), since function and template
words weigh little and entity names a lot; and `containment` tells a copied question from a shared
template phrase. An 8-gram alone is weak evidence here: "which film has the director who was born"
opens 22 questions of 2WikiMultihopQA, "who was the president of the united states" questions of
FRAMES and Bamboogle about different things.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from drsynth.filters.text import ngram_hashes, ngrams


class NgramIndex:
    """Word n-gram hashes of benchmark questions (each a list of normalized words) -> their items."""

    def __init__(self, docs: Sequence[Sequence[str]], n: int = 8) -> None:
        self.n = n
        self.docs = [list(d) for d in docs]
        hashes, owners = ngram_hashes(self.docs, n)
        pairs = np.unique(np.stack((hashes, owners.astype(np.uint64)), axis=1), axis=0)  # by hash, then item
        self.hashes, self.items = pairs[:, 0].copy(), pairs[:, 1].astype(np.int64)
        self.short_lengths = sorted({len(d) for d in self.docs if 0 < len(d) < n})

    def __len__(self) -> int:
        return len(self.hashes)

    def pairs(self, docs: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
        """(doc, item) for each doc (normalized words) and benchmark item sharing a gram, sorted."""
        if not len(self.hashes):
            return []
        queries = [ngram_hashes(docs, self.n)]
        # a benchmark question shorter than n was indexed whole: look for it inside longer questions too
        queries += [ngram_hashes(docs, m, whole_if_shorter=False) for m in self.short_lengths]
        keys = []
        for hashes, owners in queries:
            left = np.searchsorted(self.hashes, hashes, side="left")
            hit = self.hashes[np.minimum(left, len(self.hashes) - 1)] == hashes
            hashes, owners, left = hashes[hit], owners[hit], left[hit]
            # a gram may come from several items: every (doc, item) of its run of equal hashes
            counts = np.searchsorted(self.hashes, hashes, side="right") - left
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            items = self.items[np.repeat(left, counts) + offsets]
            keys.append(np.repeat(owners, counts) * len(self.docs) + items)
        found = np.unique(np.concatenate(keys))
        return list(zip((found // len(self.docs)).tolist(), (found % len(self.docs)).tolist(), strict=True))

    def shared_gram(self, words: Sequence[str], item: int, telling: Callable[[str], bool] = bool) -> str:
        """The first gram of `words` that benchmark question `item` holds, preferring one with a word
        `telling` accepts (a rare word: better evidence than a template phrase); "" if none."""
        theirs = set(ngrams(self.docs[item], self.n))  # a short question is its own only gram
        ours = ngrams(words, self.n) + [
            g for m in self.short_lengths if len(words) >= m for g in ngrams(words, m)
        ]
        shared = [g for g in ours if g in theirs]
        return next((g for g in shared if any(map(telling, g.split()))), shared[0] if shared else "")


class WordOverlapIndex:
    """Benchmark questions as IDF-weighted word sets, searched by weighted Jaccard.

    Candidates come from postings of rare words (in at most `rare_share` of the questions) only, which
    keeps them few; an upper bound on each candidate's score (its shared rare weight plus all its common
    weight) drops most before the exact score is computed. Questions whose common words alone could
    reach the threshold are candidates for every query, so no match is missed.
    """

    def __init__(
        self, docs: Sequence[Sequence[str]], threshold: float = 0.7, rare_share: float = 0.02
    ) -> None:
        self.threshold = threshold
        vocabulary: dict[str, int] = {}
        word_sets = [sorted({vocabulary.setdefault(w, len(vocabulary)) for w in d}) for d in docs]
        frequency = np.bincount(
            np.fromiter((w for s in word_sets for w in s), dtype=np.int64), minlength=len(vocabulary)
        )
        total = len(word_sets)
        self.vocabulary = vocabulary
        self.idf = np.log((total + 1) / (frequency + 0.5))
        self.unknown_idf = math.log((total + 1) / 0.5)
        self._idf = self.idf.tolist()
        self.sets = [frozenset(s) for s in word_sets]
        rare = frequency <= max(1, int(rare_share * total))
        self.mass = np.array([self.idf[s].sum() if s else 0.0 for s in word_sets])
        self.common_mass = np.array([self.idf[[w for w in s if not rare[w]]].sum() for s in word_sets])
        # postings of the rare words: item ids grouped by word (CSR)
        pairs = sorted((w, i) for i, s in enumerate(word_sets) for w in s if rare[w])
        words_of = np.array([w for w, _ in pairs], dtype=np.int64)
        self._post_items = np.array([i for _, i in pairs], dtype=np.int64)
        self._post_start = np.searchsorted(words_of, np.arange(len(vocabulary) + 1))
        self._rare = rare
        self.always = np.flatnonzero((self.common_mass >= threshold * self.mass) & (self.mass > 0))
        # each question's rare words (all its words when it has none), what tells it from its template
        self._telling = [tuple(w for w in s if rare[w]) or tuple(s) for s in word_sets]
        self._telling_mass = [sum(self._idf[w] for w in t) for t in self._telling]

    def is_rare(self, word: str) -> bool:
        """Whether `word` is in at most `rare_share` of the benchmark questions (and in one at least)."""
        position = self.vocabulary.get(word)
        return position is not None and bool(self._rare[position])

    def known(self, words: Sequence[str]) -> set[int]:
        """The benchmark vocabulary ids of `words`."""
        return {self.vocabulary[w] for w in words if w in self.vocabulary}

    def containment(self, known: AbstractSet[int], item: int) -> float:
        """How much of benchmark question `item`'s rare-word weight a question holds (`known`: its word ids),
        all its weight if it has no rare word: an n-gram in common means copying only when the question's
        entities come along."""
        telling, total = self._telling[item], self._telling_mass[item]
        return sum(self._idf[w] for w in telling if w in known) / total if total > 0 else 0.0

    def shares_telling_word(self, known: AbstractSet[int], item: int) -> bool:
        return not known.isdisjoint(self._telling[item])

    def best(
        self,
        docs: Sequence[Sequence[str]],
        known: Sequence[AbstractSet[int]] | None = None,
    ) -> list[tuple[int, float] | None]:
        """For each doc, the (item, weighted Jaccard) scoring highest at or above the threshold, or None.

        `known`: the docs' `known` word ids, when the caller has them already."""
        known = [self.known(d) for d in docs] if known is None else known
        idf, unknown_idf = self._idf, self.unknown_idf
        doc_mass = np.array(
            [
                sum(idf[w] for w in k) + (len(set(d)) - len(k)) * unknown_idf
                for d, k in zip(docs, known, strict=True)
            ]
        )
        out: list[tuple[int, float] | None] = [None] * len(docs)
        for doc, item in self._candidates([sorted(k) for k in known], doc_mass):
            score = self._score(known[doc], float(doc_mass[doc]), item)
            if score >= self.threshold:
                current = out[doc]
                if current is None or score > current[1] or (score == current[1] and item < current[0]):
                    out[doc] = (item, score)
        return out

    def _candidates(self, known: list[list[int]], doc_mass: np.ndarray) -> list[tuple[int, int]]:
        entries = [(d, w) for d, ws in enumerate(known) for w in ws if self._rare[w]]
        pairs: list[tuple[int, int]] = []
        if entries:
            doc_of = np.array([d for d, _ in entries], dtype=np.int64)
            word = np.array([w for _, w in entries], dtype=np.int64)
            starts, lengths = self._post_start[word], self._post_start[word + 1] - self._post_start[word]
            offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            items = self._post_items[np.repeat(starts, lengths) + offsets]
            docs = np.repeat(doc_of, lengths)
            keys, inverse = np.unique(docs * len(self.mass) + items, return_inverse=True)
            shared_rare = np.bincount(inverse, weights=np.repeat(self.idf[word], lengths))
            docs, items = keys // len(self.mass), keys % len(self.mass)
            bound = (shared_rare + self.common_mass[items]) / np.maximum(self.mass[items], doc_mass[docs])
            keep = bound >= self.threshold - 1e-9
            pairs = list(zip(docs[keep].tolist(), items[keep].tolist(), strict=True))
        for item in self.always.tolist():
            bound = self.common_mass[item] / np.maximum(self.mass[item], doc_mass)
            pairs.extend((int(d), item) for d in np.flatnonzero(bound >= self.threshold - 1e-9))
        return pairs

    def _score(self, known: AbstractSet[int], doc_mass: float, item: int) -> float:
        shared = sum(self._idf[w] for w in self.sets[item].intersection(known))
        union = doc_mass + float(self.mass[item]) - shared
        return shared / union if union > 0 else 0.0
