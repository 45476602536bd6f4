"""Near-duplicate questions: MinHash signatures over word shingles and an LSH index, numpy only.

Shingles are the normalized words of a question between n-1 start and end markers, taken n at a time
(n = 3 by default). The markers make every word count in exactly n shingles, the first and last
included. Without them two questions that differ only in their last word ("... took place in
Dunmere?" / "... took place in Aldra?") share all but one shingle and pass 0.8 from 11 words on, and
a templated question names its entity last more often than not. With them one changed word in an
L-word question leaves a Jaccard of (L-1)/(L+5), 0.8 only from 25 words on: "Who directed X?" and
"Who directed Y?" sit at 0.25, and a question shorter than n still has shingles. Character 5-grams for
very short texts were considered and left out: on short questions they rate different entities with
similar names ("Alien" / "Aliens") as the same question.

A shingle's 64-bit hash is cut to 31 bits, x, and permuted `num_perm` times by universal hashes
(a*x + b) mod p, p = 2^31 - 1: a Mersenne prime, so the reduction is shifts and masks, and a*x + b
< 2^62 never overflows uint64. A signature holds each permutation's minimum over the question's
shingles. Texts are taken thousands at a time: their distinct shingles (questions share many) are
permuted in cache-sized blocks, then each text's minima are gathered and reduced, all in numpy.

LSH cuts a signature into `bands` bands of `rows` rows, chosen for the Jaccard threshold as
datasketch's `_optimal_param` does: minimize the weighted areas of false positives below the threshold
and false negatives above it (false negatives weigh more here, see WEIGHTS). Questions sharing a band
are candidates; a candidate matches only when its estimated Jaccard (the share of equal signature
entries) reaches the threshold, so a pair right at the threshold is found about half the time.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence

import numpy as np

from drsynth.filters.text import mix64, ngram_hashes, ngrams, padded, words

PRIME = (1 << 31) - 1
# the entry of a question with no shingles: above every real minimum (< PRIME)
NO_SHINGLES = np.uint32(0xFFFFFFFF)
_PRIME, _31 = np.uint64(PRIME), np.uint64(31)
# (false positive, false negative) weights for choosing bands: a false positive costs one signature
# comparison, a false negative loses a duplicate. At 0.8 and 128 permutations: 12 bands of 10 rows, a
# pair at Jaccard 0.85 a candidate with probability 0.93 (9 x 13 at datasketch's default 0.5/0.5: 0.69)
WEIGHTS = (0.2, 0.8)


class MinHasher:
    """MinHash signatures of texts over padded word n-gram shingles."""

    def __init__(
        self, num_perm: int = 128, ngram: int = 3, seed: int = 1, block: int = 512, chunk: int = 2048
    ) -> None:
        if num_perm < 2:
            raise ValueError(f"num_perm must be at least 2, got {num_perm}")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        self.block, self.chunk = block, chunk  # shingles per permutation block, texts per unique-shingle pass
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, PRIME, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, PRIME, size=num_perm, dtype=np.uint64)

    def tokens(self, text: str) -> list[str]:
        return padded(words(text), self.ngram)

    def shingles(self, text: str) -> list[str]:
        """The shingles of `text` as strings (what the signature hashes; for baselines and debugging)."""
        return ngrams(self.tokens(text), self.ngram)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), num_perm) uint32 array; a text with no words gets NO_SHINGLES throughout."""
        return self.signatures_of_words([words(t) for t in texts])

    def signatures_of_words(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        """`signatures` of texts already split into normalized words (`filters.text.words`)."""
        out = np.full((len(docs), self.num_perm), NO_SHINGLES, dtype=np.uint32)
        for lo in range(0, len(docs), self.chunk):
            out[lo : lo + self.chunk] = self._chunk_signatures(docs[lo : lo + self.chunk])
        return out

    def _chunk_signatures(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        out = np.full((len(docs), self.num_perm), NO_SHINGLES, dtype=np.uint32)
        tokens = [padded(d, self.ngram) for d in docs]
        hashes, owners = ngram_hashes(tokens, self.ngram, whole_if_shorter=False)
        # questions share many shingles ("what is the", the start markers): permute each distinct one once
        distinct, inverse = np.unique(hashes >> np.uint64(33), return_inverse=True)
        table = self._permuted(distinct)
        counts = np.bincount(owners, minlength=len(docs))
        texts = np.flatnonzero(counts)  # those with shingles, in order: their shingles are contiguous
        ends = np.cumsum(counts)[texts]
        starts = ends - counts[texts]
        first = 0
        while first < len(texts):
            # a block ends on a text boundary, so each text's minimum is taken within one block
            last = max(first + 1, int(np.searchsorted(ends, starts[first] + self.block, side="right")))
            lo, hi = starts[first], ends[last - 1]
            block = table[inverse[lo:hi]]
            out[texts[first:last]] = np.minimum.reduceat(block, starts[first:last] - lo, axis=0)
            first = last
        return out

    def _permuted(self, values: np.ndarray) -> np.ndarray:
        """A (len(values), num_perm) uint32 table of every permutation of every value."""
        table = np.empty((len(values), self.num_perm), dtype=np.uint32)
        buffers = _Buffers(self.num_perm)
        # blocks small enough for the intermediate values to stay in cache between the passes over them
        for lo in range(0, len(values), self.block):
            table[lo : lo + self.block] = self._permute(values[lo : lo + self.block], buffers).T
        return table

    def _permute(self, values: np.ndarray, buffers: _Buffers) -> np.ndarray:
        """(a*x + b) mod PRIME for every permutation and value: a (num_perm, len(values)) uint64 view."""
        y, t = buffers.get(len(values))
        np.multiply(self.a[:, None], values[None, :], out=y)
        y += self.b[:, None]  # < 2^62: no overflow
        np.right_shift(y, _31, out=t)
        y &= _PRIME
        y += t  # < 2^32
        np.right_shift(y, _31, out=t)
        y &= _PRIME
        y += t  # <= PRIME + 1
        np.subtract(y, _PRIME, out=t)  # wraps to a huge value where y < PRIME
        np.minimum(y, t, out=y)
        return y


class _Buffers:
    """Two scratch (num_perm, n) uint64 arrays, reused across blocks and grown when a block is larger."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self._y = self._t = np.empty((rows, 0), dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > self._y.shape[1]:
            self._y, self._t = np.empty((self.rows, n), np.uint64), np.empty((self.rows, n), np.uint64)
        return self._y[:, :n], self._t[:, :n]


@functools.lru_cache(maxsize=64)
def optimal_params(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimizing the weighted false positive and false negative areas (as datasketch)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
    below = np.linspace(0.0, threshold, 2001)
    above = np.linspace(threshold, 1.0, 2001)
    best, params = float("inf"), (1, 1)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = np.trapezoid(1.0 - (1.0 - below**rows) ** bands, below)
            false_negative = np.trapezoid((1.0 - above**rows) ** bands, above)
            error = false_positive * false_positive_weight + false_negative * false_negative_weight
            if error < best:
                best, params = error, (bands, rows)
    return params


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Estimated Jaccard of two signatures: the share of equal entries."""
    return float(np.count_nonzero(first == second)) / len(first)


class LSHIndex:
    """Keys with their signatures, found again by banded LSH and kept in insertion order."""

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        weights: tuple[float, float] = WEIGHTS,
        params: tuple[int, int] | None = None,
    ) -> None:
        self.threshold, self.num_perm, self.weights = threshold, num_perm, weights
        self.bands, self.rows = params or optimal_params(threshold, num_perm, *weights)
        if self.bands * self.rows > num_perm:
            raise ValueError(f"{self.bands} bands x {self.rows} rows exceed num_perm={num_perm}")
        # one dict for all bands (a band's index is mixed into its keys); a bucket holds one position as an
        # int and turns into a list on its second: most buckets never get a second
        self._buckets: dict[int, int | list[int]] = {}
        self._keys: list[Hashable] = []
        self._positions: dict[Hashable, int] = {}
        self._signatures = np.empty((1024, num_perm), dtype=np.uint32)
        weights = (
            np.random.default_rng(0x15B).integers(1, 2**63, size=self.rows + self.bands, dtype=np.uint64) | 1
        )
        self._row_weights, self._band_salts = weights[: self.rows], weights[self.rows :]

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._positions

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """A (n, bands) uint64 array: one hash per band of each signature (n, num_perm)."""
        signatures = np.atleast_2d(signatures)
        cut = signatures[:, : self.bands * self.rows].reshape(len(signatures), self.bands, self.rows)
        with np.errstate(over="ignore"):
            return mix64(
                (cut.astype(np.uint64) * self._row_weights).sum(axis=2, dtype=np.uint64) + self._band_salts
            )

    def insert(self, key: Hashable, signature: np.ndarray, band_keys: Sequence[int] | None = None) -> None:
        if key in self._positions:
            raise ValueError(f"key {key!r} is already in the index")
        if band_keys is None:
            band_keys = self.band_keys(signature)[0].tolist()
        position = len(self._keys)
        if position == len(self._signatures):
            self._signatures = np.concatenate((self._signatures, np.empty_like(self._signatures)))
        self._signatures[position] = signature
        self._keys.append(key)
        self._positions[key] = position
        buckets = self._buckets
        for band_key in band_keys:
            held = buckets.get(band_key)
            if held is None:
                buckets[band_key] = position
            elif isinstance(held, int):
                buckets[band_key] = [held, position]
            else:
                held.append(position)

    def add_many(self, keys: Sequence[Hashable], signatures: np.ndarray) -> None:
        for key, signature, band_keys in zip(
            keys, signatures, self.band_keys(signatures).tolist(), strict=True
        ):
            self.insert(key, signature, band_keys)

    def candidates(self, signature: np.ndarray, band_keys: Sequence[int] | None = None) -> list[Hashable]:
        """Keys sharing at least one band with `signature`, unverified, in insertion order."""
        return [self._keys[p] for p in self._candidate_positions(signature, band_keys)]

    def matches(
        self, signature: np.ndarray, band_keys: Sequence[int] | None = None
    ) -> list[tuple[Hashable, float]]:
        """(key, estimated Jaccard) of the candidates at or above the threshold, in insertion order."""
        positions = self._candidate_positions(signature, band_keys)
        if not positions:
            return []
        shares = np.count_nonzero(self._signatures[positions] == signature, axis=1) / self.num_perm
        return [
            (self._keys[p], float(s)) for p, s in zip(positions, shares, strict=True) if s >= self.threshold
        ]

    def query(self, signature: np.ndarray) -> list[Hashable]:
        return [key for key, _ in self.matches(signature)]

    def signature(self, key: Hashable) -> np.ndarray:
        return self._signatures[self._positions[key]]

    def _candidate_positions(self, signature: np.ndarray, band_keys: Sequence[int] | None) -> list[int]:
        if band_keys is None:
            band_keys = self.band_keys(signature)[0].tolist()
        hits = [held for held in map(self._buckets.get, band_keys) if held is not None]
        if not hits:
            return []
        found: set[int] = set()
        for held in hits:
            if isinstance(held, int):
                found.add(held)
            else:
                found.update(held)
        return sorted(found)
