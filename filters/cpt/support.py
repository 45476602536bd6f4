"""Whether a numbered passage states one constraint of one candidate: what the passage says about THAT
candidate, read by the same rules the solver reads the graph with, never by how many words it shares.

A passage is about a candidate when it is on the candidate's page (its URL names it) or opens with the
candidate's name ("Lina Marr (born ...) was an Estavian singer"). A constraint holds when a passage about
the entity that owns the attribute states it: an infobox line whose key is the predicate ("Died: 3 March
1968, Varkholm") with the value in one of its spellings (dates by `date_spellings`, years by `year_of`,
amounts by `number_of`, names folded, whole words), or a sentence about the owner that names the value and
the predicate's word ("She died in Ostvale"). It fails when the owner's line for that key gives another
value ("Died: ..., Ostvale" against Varkholm), or the owner's defining sentence calls it something else (a
singer, not a song). Otherwise no passage states it. Name masks read the name itself, as the solver does
(`surname`, `bare_name`, `initials`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from drsynth.filters.cpt.findings import terms
from drsynth.filters.cpt.path import display
from drsynth.synth.tasks.formal import EDGE_KINDS, Triple, is_var
from drsynth.synth.tasks.operations import bare_name, in_number_range, in_year_range, initials, surname
from drsynth.synth.tasks.text import (
    contains_phrase,
    date_spellings,
    fold,
    format_number,
    number_of,
    parse_iso_date,
    year_of,
)

HOLDS, FAILS, UNKNOWN = "holds", "fails", "unknown"
UNTYPED = frozenset({"links_to", "mentions"})  # a link, not a property: naming the value is stating it
_SUBJECT = re.compile(r"^(.+?)(?:\s+\(|,\s|\s+(?:is|was|are|were|has|had)\s)")
_INFOBOX = re.compile(r"^([A-Za-z][\w .'/-]{0,40}):\s+(\S.*)$")
_COPULA = re.compile(r"\s(?:is|was|are|were)\s+(.*)$")
# where the head of "is a <noun phrase> ..." ends: the noun the sentence calls its subject is before these
_HEAD_END = re.compile(r",|;|\.(?:\s|$)|\s(?:by|of|in|on|at|for|from|with|who|whose|that|which|written|released|"
                       r"published|founded|based|located|known|best|until|since|between|during)\s")
_CLOCK = re.compile(r"\b(\d{1,3}):(\d{2})\b")
_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")
_CAPITAL = re.compile(r"^[\"“(]?[A-Z][\w'’.-]*$")  # a capitalized word: part of a name
_JOINERS = frozenset({"of", "de", "von", "van", "the", "del", "du", "la", "le"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?|min|mins|minutes?|s|sec|secs|seconds?)\b")
_SECONDS = {"h": 3600, "m": 60, "s": 1}
_NUMBERS = re.compile(r"\d[\d,.:]*")


@dataclass(frozen=True)
class Verdict:
    state: str  # holds | fails | unknown
    passage: int | None = None  # 0-based index of the passage that decides
    note: str = ""  # what decided when no passage does: the name a mask was read on


def page_title(url: str) -> str:
    """The title a page URL names: ".../wiki/Dagny_Sorel" -> "Dagny Sorel"."""
    return unquote(url.rstrip("/").rsplit("/", 1)[-1]).replace("_", " ").strip() if url and "/" in url else ""


def subject_of(sentence: str) -> str | None:
    """The name a descriptive sentence opens with: "Kellmar is a small mountain town" -> "Kellmar"."""
    match = _SUBJECT.match(sentence)
    if match is None:
        return None
    name = match.group(1).strip().strip("\"“”'")
    words = name.split()
    if not words or len(words) > 8 or not name[0].isupper() or ":" in name:
        return None
    return name


def forms(name: str) -> list[str]:
    """The spellings a passage may name an entity by: as given, without its disambiguator, without article."""
    out = []
    plain = _DISAMBIGUATOR.sub("", name).strip() or name
    for form in (name, plain, bare_name(plain)):
        if form and fold(form) and form not in out:
            out.append(form)
    return out


def same_name(a: str, b: str) -> bool:
    return bool(a and b) and bool({fold(f) for f in forms(a)} & {fold(f) for f in forms(b)})


def names(text: str, name: str) -> bool:
    """Whether `text` names `name` itself in one of its forms: as whole words, and not as part of a longer
    name ("Ostvale" is not named by "University of Ostvale")."""
    for form in forms(name):
        for match in re.finditer(rf"(?<!\w){re.escape(form)}(?!\w)", text, flags=re.IGNORECASE):
            before, after = text[: match.start()].split()[-2:], text[match.end():].split()[:1]
            if before and (before[-1].casefold() in ("the", "a", "an") or not text[: match.start()].split()[:-1]):
                before = []  # "The Selva" names "Selva"; a line's first word is capitalized as its first
            inside = (before and (_CAPITAL.match(before[-1]) or (before[-1] in _JOINERS and len(before) > 1
                                                                  and _CAPITAL.match(before[-2])))) \
                or (after and _CAPITAL.match(after[0]))
            if not inside:
                return True
    return False


def infobox(text: str) -> tuple[str, str] | None:
    """(key, value) of an infobox line ("Died: 3 March 1968, Varkholm"); None for a sentence."""
    match = _INFOBOX.match(text)
    if match is None or len(match.group(1).split()) > 5:
        return None
    return match.group(1).strip(), match.group(2).strip()


def same_key(key: str, predicate: str) -> bool:
    """An infobox key is the predicate: folded, or by stems ("Labels" and "label")."""
    return fold(key) == fold(predicate) or (bool(terms(key)) and terms(key) == terms(predicate))


def about(name: str, text: str, url: str) -> bool:
    """Whether a passage is about `name`: it is on its page, or it opens with its name."""
    return same_name(page_title(url), name) or same_name(subject_of(text) or "", name)


def head_noun_phrase(text: str) -> str | None:
    """What a defining sentence calls its subject: "X (1899 – 1968) was an Estavian film director who ..."
    -> "an Estavian film director"; None when the sentence does not define."""
    if infobox(text) is not None:
        return None
    match = _COPULA.search(text)
    if match is None:
        return None
    rest = match.group(1)
    end = _HEAD_END.search(rest)
    return rest[: end.start()] if end else rest


def spellings(value: str) -> list[str]:
    """How a passage may write a constraint's value: a date in its spellings, an amount as grouped digits."""
    day = parse_iso_date(value)
    if day is not None:
        return date_spellings(day)
    number = number_of(value)
    if number is not None and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip()):
        return list(dict.fromkeys([format_number(number), value.strip()]))
    return forms(value)


def amount(text: str, predicate: str) -> float | None:
    """The amount a value states; a clock reading ("2:55") of a length or duration in seconds."""
    if terms(predicate) & terms("length duration runtime running time"):
        clock = _CLOCK.search(text)
        if clock is not None:
            return int(clock.group(1)) * 60 + int(clock.group(2))
        parts = _DURATION.findall(text)
        if parts:
            return sum(float(n) * _SECONDS[unit[0]] for n, unit in parts)
    return number_of(text)


def _in_range(kind: str, spec: str, text: str, predicate: str) -> bool | None:
    """Whether the value a text writes is in the range; None when it writes none."""
    if kind == "year_range":
        year = year_of(text)
        return None if year is None else in_year_range(year, spec)
    number = amount(text, predicate)
    return None if number is None else in_number_range(number, spec)


def _value_found(triple: Triple, value: str, text: str) -> bool | None:
    """Whether a value text states the constraint's object: True, False, None (not comparable)."""
    kind = triple.object_kind
    if kind in ("year_range", "number_range"):
        return _in_range(kind, triple.object, text, triple.predicate)
    if kind == "literal":
        if any(contains_phrase(text, s) for s in spellings(triple.object)):
            return True
        wanted, found = number_of(triple.object), amount(text, triple.predicate)
        if parse_iso_date(triple.object) is None and re.fullmatch(r"-?\d+(?:\.\d+)?", triple.object.strip()):
            return None if found is None or wanted is None else abs(found - wanted) <= 1e-6 * max(1.0, abs(wanted))
        return False
    return names(text, value)


def check(triple: Triple, candidate: str, term: str, known: Mapping[str, str],
          knowledge: list[tuple[str, str]], noun: str = "", *, strict: bool = False) -> Verdict:
    """Whether `triple`, with `candidate` standing for `term`, is stated by the passages; `strict`: a lead
    sentence that calls the candidate something else refutes its class too."""
    kind = triple.object_kind
    if kind == "prefix":
        start = surname(bare_name(display(candidate))) if triple.predicate == "surname" \
            else bare_name(display(candidate))
        held = bool(fold(triple.object)) and fold(start).startswith(fold(triple.object))
        return Verdict(HOLDS if held else FAILS, note=start)
    if kind == "initials":
        written = initials(display(candidate))
        return Verdict(HOLDS if fold(written) == fold(triple.object) else FAILS, note=written)
    if kind in ("type", "keyword"):
        verdict = _described(candidate, noun or triple.object, knowledge)
        if strict:
            return verdict
        # the solver reads a keyword in the description, so a lead that says otherwise refutes it; a class
        # comes from the graph's types, which a lead sentence may word otherwise ("beat group" for a band)
        return verdict if kind == "keyword" or verdict.state != FAILS else Verdict(UNKNOWN)
    if kind in EDGE_KINDS:
        ends = [candidate if e == term else known.get(e) or ("" if is_var(e) else display(e))
                for e in (triple.subject, triple.object)]
        owner, value = ends
        if not owner or not value:
            return Verdict(UNKNOWN)
    else:
        owner, value = candidate, triple.object
    return _stated(triple, owner, value, knowledge)


def _described(name: str, noun: str, knowledge: list[tuple[str, str]]) -> Verdict:
    """Whether the name's defining sentence calls it a `noun`: the head of "X is a ..." names it."""
    failed: int | None = None
    for i, (text, url) in enumerate(knowledge):
        if not about(name, text, url):
            continue
        head = head_noun_phrase(text)
        if head is None:
            continue
        if contains_phrase(head, noun):
            return Verdict(HOLDS, i)
        if failed is None and same_name(subject_of(text) or "", name):
            failed = i  # its own lead sentence calls it something else
    return Verdict(FAILS, failed) if failed is not None else Verdict(UNKNOWN)


def _stated(triple: Triple, owner: str, value: str, knowledge: list[tuple[str, str]]) -> Verdict:
    """An attribute of `owner` (an edge to `value`, or a literal or range) in the owner's passages."""
    failed: int | None = None
    wanted = terms(triple.predicate)
    for i, (text, url) in enumerate(knowledge):
        if not about(owner, text, url):
            continue
        line = infobox(text)
        if line is not None:
            if not same_key(line[0], triple.predicate):
                continue
            found = _value_found(triple, value, line[1])
            if found:
                return Verdict(HOLDS, i)
            if found is False and failed is None:
                failed = i
            continue
        # a sentence about the owner: its own words must say both what relates and to what
        if triple.predicate not in UNTYPED and not wanted & terms(text):
            continue
        if triple.object_kind in ("year_range", "number_range") and len(_NUMBERS.findall(text)) != 1:
            continue  # a sentence with several numbers does not say which one is the predicate's
        if _value_found(triple, value, text):
            return Verdict(HOLDS, i)
    return Verdict(FAILS, failed) if failed is not None else Verdict(UNKNOWN)

