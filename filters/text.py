"""Text normalization and hashed word n-grams, shared by question dedup and decontamination.

`normalize` folds what should not tell two questions apart: case (casefold), Unicode compatibility
forms (NFKC), diacritics, punctuation and runs of whitespace. `synth.tasks.text.fold` does nearly the
same for answer matching (it also joins digit groups, "12,400"), but one character at a time for every
string; here ASCII text, the common case, takes one `bytes.translate` pass: about 6x faster over the
FRAMES questions, which matters at a hundred thousand questions a run.

N-grams are hashed to 64 bits without a Python call per n-gram: each distinct word is hashed once
(BLAKE2b, cached), and an n-gram's hash is a fixed random linear combination of its word hashes and
its length, mixed (the splitmix64 finalizer), computed with numpy over whole batches of texts.
Hashes are stable across processes and machines.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

_NON_WORD = re.compile(r"[\W_]+")
_ASCII_FOLD = bytes(ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)) + bytes(128)
MAX_N = 32
# markers around a padded text: they cannot collide with a normalized word, which has no punctuation
BOS, EOS = "\x02", "\x03"

_rng = np.random.default_rng(0x6472_7379_6E74)  # fixed: hashes must not change between runs
_POSITION_KEYS = _rng.integers(1, 2**63, size=MAX_N + 1, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def words(text: str | None) -> list[str]:
    """The words of `text` after normalization (see `normalize`)."""
    if not text:
        return []
    if text.isascii():
        # bytes.translate lowers and blanks punctuation in one pass; NFKC and diacritics are no-ops here
        return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", text.casefold()).split()


def normalize(text: str | None) -> str:
    """Casefolded, NFKC, diacritics dropped, punctuation and whitespace collapsed to single spaces."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> list[str]:
    """The word n-grams of `tokens` as text; the whole of a sequence shorter than n is its only n-gram."""
    if len(tokens) < n:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def padded(tokens: Sequence[str], n: int) -> list[str]:
    """`tokens` between n-1 start and end markers, so that every word sits in exactly n n-grams."""
    return [BOS] * (n - 1) + list(tokens) + [EOS] * (n - 1) if tokens else []


class WordHasher:
    """64-bit hashes of words, each distinct word hashed once; the cache is dropped when it gets large."""

    def __init__(self, max_cache: int = 2_000_000) -> None:
        self.max_cache = max_cache
        self._cache: dict[str, int] = {}

    def __call__(self, word: str) -> int:
        value = self._cache.get(word)
        return self._add(word) if value is None else value

    def _add(self, word: str) -> int:
        if len(self._cache) >= self.max_cache:
            self._cache.clear()
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        self._cache[word] = value
        return value

    def array(self, tokens: Sequence[str]) -> np.ndarray:
        values = list(map(self._cache.get, tokens))
        if None in values:
            values = [self._add(t) if v is None else v for t, v in zip(tokens, values, strict=True)]
        return np.array(values, dtype=np.uint64)


WORD_HASHER = WordHasher()


def mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise (uint64 arithmetic wraps, as intended)."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * _M1
        values = (values ^ (values >> np.uint64(27))) * _M2
        return values ^ (values >> np.uint64(31))


def _combine(token_hashes: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        acc = np.full(len(starts), _POSITION_KEYS[0] * np.uint64(n), dtype=np.uint64)
        for j in range(n):
            acc += token_hashes[starts + j] * _POSITION_KEYS[j + 1]
    return mix64(acc)


def ngram_hashes(
    docs: Sequence[Sequence[str]], n: int, *, whole_if_shorter: bool = True, hasher: WordHasher = WORD_HASHER
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every word n-gram of every token sequence in `docs`, and the index of the doc of each.

    A sequence shorter than n contributes its whole self as one shorter gram when `whole_if_shorter`,
    nothing otherwise; an empty one contributes nothing. The hash of a gram is the same whichever
    batch it was computed in, and equals `gram_hash(tokens)` of its words.
    """
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be between 1 and {MAX_N}, got {n}")
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    tokens = hasher.array([t for d in docs for t in d])
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(docs) else np.zeros(0, np.int64)
    counts = np.maximum(lengths - n + 1, 0)
    owners = np.repeat(np.arange(len(docs)), counts)
    # start of each gram: its doc's offset plus its rank within the doc
    ranks = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    hashes = _combine(tokens, np.repeat(offsets, counts) + ranks, n)
    short = np.flatnonzero((lengths > 0) & (lengths < n)) if whole_if_shorter else np.zeros(0, np.int64)
    if len(short):
        extra = np.array([gram_hash(docs[i], hasher) for i in short], dtype=np.uint64)
        hashes, owners = np.concatenate((hashes, extra)), np.concatenate((owners, short))
    return hashes, owners


def gram_hash(tokens: Sequence[str], hasher: WordHasher = WORD_HASHER) -> int:
    """The hash of one gram (all of `tokens`), as `ngram_hashes` computes it."""
    if not 1 <= len(tokens) <= MAX_N:
        raise ValueError(f"a gram has 1 to {MAX_N} words, not {len(tokens)}")
    return int(_combine(hasher.array(tokens), np.zeros(1, np.int64), len(tokens))[0])
