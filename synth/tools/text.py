"""Word-level helpers shared by the tools: tokens for queries and for ranking passages."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)

# function words that match almost everything; dropped from OR-queries and passage scoring only
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "he", "her", "his", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom", "whose", "why", "how", "with", "did", "does", "do"]
)


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """The words of `text` without stopwords (all of them when nothing else is left)."""
    all_words = words(text)
    kept = [w for w in all_words if w not in STOPWORDS]
    return kept or all_words
