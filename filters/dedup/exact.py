"""Exact duplicates: questions equal once case, Unicode forms, diacritics and punctuation are folded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from drsynth.filters.text import words


def question_key(text: str | None) -> str:
    """32 hex chars identifying a question up to normalization; "" for a question with no words."""
    return words_key(words(text))


def words_key(normalized: Sequence[str]) -> str:
    """`question_key` of a question already split into normalized words (`filters.text.words`)."""
    if not normalized:
        return ""
    return hashlib.blake2b(" ".join(normalized).encode("utf-8"), digest_size=16).hexdigest()
