"""Mentions of entity names in plain text, found with one Aho-Corasick automaton over every surface form.

Matching is case-insensitive and diacritics-folded, on whole words only (the characters around a
match must not be letters or digits), and leftmost-longest: "Selva Music Festival" is one mention,
not also one of "Selva". A surface form shorter than `min_chars`, longer than `max_words` words or
`max_chars` characters, or naming more than one entity is never linked; an ambiguous form still takes
its span (so a shorter form inside it is not linked either) and is counted. Names are capitalized: a
match written all in lower case ("princess") does not name an entity whose forms all have capitals
("Princess").
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

AMBIGUOUS = ""
# a name is never this long; pyahocorasick frees its trie recursively, one C stack frame per character of
# a key, so a key of ~1M characters (one huge page title) overflows the stack: a segfault at exit
MAX_FORM_CHARS = 256


@dataclass(frozen=True)
class Mention:
    start: int  # offsets into the original text
    end: int
    surface: str  # the text as written
    entity_id: str  # "" when the form is ambiguous


def fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, when folding changed lengths, the original offset of each folded char.

    Folding is per character: NFKD, every combining mark dropped (Latin accents, Hebrew niqqud,
    Devanagari virama and nukta alike), casefolded. Surface forms are folded by the same function
    (`fold_form`), so a name and the text that writes it always fold alike."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            piece = ch.lower()
        else:
            piece = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).casefold()
        out.append(piece)
        offsets.extend([i] * len(piece))
    folded = "".join(out)
    return folded, (offsets if len(folded) != len(text) or offsets != list(range(len(text))) else None)


def fold_form(text: str) -> str:
    """A surface form as the automaton stores it: folded like the text it is matched in."""
    return " ".join(fold_with_offsets(text)[0].split())


def _is_word_char(ch: str) -> bool:
    return ch.isalnum()


class MentionMatcher:
    """Built once from (entity id, surface forms); `find(text)` returns the mentions in a text."""

    def __init__(self, forms: Iterable[tuple[str, Iterable[str]]], *, min_chars: int = 4, max_words: int = 8,
                 max_chars: int = MAX_FORM_CHARS) -> None:
        owners: dict[str, set[str]] = {}
        cased: set[str] = set()  # folded forms that some entity writes with a capital letter
        self.counts: Counter[str] = Counter()
        for entity_id, names in forms:
            for name in names:
                key = fold_form(name or "")
                if len(key) < min_chars:
                    self.counts["forms.too_short"] += 1
                    continue
                if len(key) > max_chars or len(key.split()) > max_words:
                    self.counts["forms.too_long"] += 1
                    continue
                if not any(_is_word_char(c) for c in key):
                    continue
                owners.setdefault(key, set()).add(entity_id)
                if any(c.isupper() for c in name):
                    cased.add(key)
        self.automaton = ahocorasick.Automaton()
        for key, ids in owners.items():
            owner = next(iter(ids)) if len(ids) == 1 else AMBIGUOUS
            self.counts["forms.ambiguous" if owner == AMBIGUOUS else "forms.unique"] += 1
            self.automaton.add_word(key, (len(key), owner, key in cased))
        self.size = len(owners)
        if self.size:
            self.automaton.make_automaton()

    def find(self, text: str) -> list[Mention]:
        """Leftmost-longest whole-word mentions in `text`, ambiguous ones included (entity_id "")."""
        if not self.size or not text:
            return []
        folded, offsets = fold_with_offsets(text)
        candidates: list[tuple[int, int, str, bool]] = []
        for end_index, (length, owner, cased) in self.automaton.iter(folded):
            start, end = end_index - length + 1, end_index + 1
            if start > 0 and _is_word_char(folded[start - 1]):
                continue
            if end < len(folded) and _is_word_char(folded[end]):
                continue
            candidates.append((start, end, owner, cased))
        candidates.sort(key=lambda c: (c[0], -(c[1] - c[0])))
        mentions: list[Mention] = []
        reached = 0
        for start, end, owner, cased in candidates:
            if start < reached:
                continue
            if offsets is not None:
                o_start, o_end = offsets[start], offsets[end - 1] + 1
            else:
                o_start, o_end = start, end
            surface = text[o_start:o_end]
            if cased and surface.islower():
                continue  # a common word, not a name; a shorter capitalized form inside may still match
            reached = end
            mentions.append(Mention(o_start, o_end, surface, owner))
        return mentions
