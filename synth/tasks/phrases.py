"""English for graph facts: class nouns, relation phrases and attribute clauses, read from a table.

The grammar is data: `phrases.toml` (next to this file) holds the class noun of every entity type and
subtype, a row per relation that its generic reading gets wrong, the keys that name no property
(section headings, navigation labels, infobox formatting), and the templates of each grammatical form.
This module only tells which form a key has (a noun: "capital"; a participle with a preposition:
"directed by"; a bare participle: "founded"; a verb with a preposition: "flows into") and fills the
table's template for it, so a new corpus needs table rows, not new branches.

Only typed edges (a key of the source's own infobox) are ever worded: a hyperlink or a mention says two
entities are connected, never how, and so does a person listed under a key that names no role
("Instrument: ... Oskar Lindell"); `phrasable` tells such an edge apart.

Templates: {o} is the other end of an out-edge, {s} of an in-edge; {who} is "who" or "that" and {whom}
"whom" or "which", after the entity being described (the table's header lists every placeholder).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

TABLE_FILE = "phrases.toml"


@cache
def table() -> dict[str, Any]:
    """The reviewed phrase table, parsed once."""
    return tomllib.loads(resources.files("drsynth.synth.tasks").joinpath(TABLE_FILE).read_text(encoding="utf-8"))


def _words(name: str) -> frozenset[str]:
    return frozenset(table()["vocabulary"][name])


def esc(text: str) -> str:
    """Data (an infobox key, a value) made safe to sit inside a template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


# one pass, left to right: "{{" and "}}" are escaped braces, "{name}" a placeholder; nothing a value
# brings in is read again, and an unknown or unbalanced brace stays as written rather than raising
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z]+)\}")


def bind(template: str, *, escape: bool = True, **values: str) -> str:
    """A table template with some placeholders filled by data (escaped, so a key's braces stay text) and
    the others ({o}, {s}, {who}, ...) left for `fill`; `escape=False` for plain text no one fills."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None or name not in values:
            return match.group(0) if escape or name is not None else match.group(0)[0]
        return esc(values[name]) if escape else values[name]

    return _PLACEHOLDER.sub(substitute, template)


def fill(template: str, *, person: bool = False, **values: str) -> str:
    """A template with its placeholders ({o}, {s}, {who}, {whom}, {np}, {when}) replaced.

    Not str.format: templates carry data (a relation such as "{{{birth_place}}}", escaped with `esc`),
    and a stray brace must never fail a run."""
    values = {"o": "", "s": "", "who": "who" if person else "that", "whom": "whom" if person else "which",
              **values}

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), token)

    return _PLACEHOLDER.sub(substitute, template)


_QUALIFIER = re.compile(r"\([^()]*\)")
# a noun phrase with a relative clause in it: a verb after it would be stranded
_RELATIVE = re.compile(r"\b(?:who|whom|whose|that|which|where|when)\b", re.IGNORECASE)


_ABBREVIATIONS: dict[str, str] = dict(table()["vocabulary"]["abbreviations"])


def _key(key: str) -> str:
    """The key as a question words it: lower case, abbreviations written out, and a sub-row by its own
    name ("Government – Prime Minister" is the prime minister; the section it sits in is no part of the
    relation)."""
    key = _QUALIFIER.sub(" ", key.lower().replace("_", " "))  # "Ethnic groups (2018)": the year dates the row
    key = " ".join(_ABBREVIATIONS.get(word, word) for word in key.split())
    return key.rsplit(" – ", 1)[-1]


# --- vocabulary ---------------------------------------------------------------------------------------

_VOCAB = table()["vocabulary"]
AGENT_TYPES = _words("agent_types")
_IRREGULAR_PAST: dict[str, str] = dict(_VOCAB["irregular_past"])
_BASE_EXCEPTIONS: dict[str, str] = dict(_VOCAB["base_exceptions"])
INTRANSITIVE = _words("intransitive")
NOMINALS: dict[str, str] = dict(_VOCAB["nominals"])
_ADVERBS = _words("adverbs")
_TIME_NOUNS = _words("time_nouns")
_PREPOSITIONS = tuple(_VOCAB["prepositions"])
_IRREGULAR_PARTICIPLES = _words("irregular_participles")
_SINGULAR_S = tuple(_VOCAB["singular_endings"])
_PERSON_NOUNS = _words("person_nouns")
_AGENT_ENDINGS = tuple(_VOCAB["agent_endings"])
LOCATION_KEYS = _words("location_keys")
EVENT_NOUNS = _words("event_nouns")
NOT_AMOUNTS = _words("not_amounts")
DEATH_COUNTS = _words("death_counts")
DEATH_KEYS = _words("death_keys")
_DEATH_UNITS = _words("death_units")
NOT_PROPERTIES = frozenset(_key(k) for k in _VOCAB["not_properties"])


def is_property(key: str) -> bool:
    """Whether a relation or attribute key names a property of its subject at all (not a section
    heading, a navigation label or an infobox formatting parameter)."""
    key = _key(key)
    return bool(key) and key not in NOT_PROPERTIES


# --- class nouns --------------------------------------------------------------------------------------


def _class_rows() -> dict[str, str]:
    rows = {name: name for name in table()["class_lists"]["own"]}
    rows.update(table()["classes"])
    return rows


_CLASSES = _class_rows()
_PLURALS: dict[str, str] = dict(table()["plurals"])
# the noun of each type alone ("thing" has none: "entity" is the last resort)
TYPE_NOUNS = {t: (_CLASSES.get(t) or "entity") for t in ("person", "group", "place", "organization", "work",
                                                          "event", "thing")}
LAST_RESORT = "entity"


class ClassNoun(NamedTuple):
    noun: str  # "single", "record label", "musician"
    cls: str  # the class the noun stands for: the subtype whose row gave it, else the type


def class_noun(entity_type: str, subtype: str | None = None) -> ClassNoun:
    """The noun a question calls an entity of this type and subtype by, from the class table only.

    A "type/subtype" row wins over a "subtype" row; an empty row, or a subtype the table does not
    know, falls back to the type's noun (and the class to the type). Never read from a description."""
    entity_type = entity_type or "thing"
    sub = " ".join((subtype or "").lower().split())
    if sub and sub != entity_type:
        for name in (f"{entity_type}/{sub}", sub):
            if name in _CLASSES:
                noun = _CLASSES[name]
                if noun:
                    return ClassNoun(noun, sub)
                break
    return ClassNoun(TYPE_NOUNS.get(entity_type, LAST_RESORT), entity_type)


def class_nouns() -> dict[str, str]:
    """Every class row: name ("single", "organization/house") -> noun ("" where the type's stands)."""
    return dict(_CLASSES)


@dataclass(frozen=True)
class RelationPhrase:
    out: str  # describes an edge's source: "born in {o}"
    into: str  # describes an edge's destination: "where {s} was born"
    noun: str = ""  # relational noun for "the {noun} of {s}": "spouse"
    # `into` with {s} last, for a long {s}: "that is home to {s}" rather than "where {s} ... is located"
    front: str = ""


@dataclass(frozen=True)
class _RelationRow:
    phrase: RelationPhrase
    subject: str
    object: str


def _relation_rows() -> dict[str, list[_RelationRow]]:
    rows: dict[str, list[_RelationRow]] = {}
    for row in table()["relation"]:
        phrase = RelationPhrase(row["out"], row["into"], row.get("noun", ""), row.get("front", ""))
        for key in row["keys"]:
            rows.setdefault(_key(key), []).append(_RelationRow(phrase, row.get("subject", ""), row.get("object", "")))
    return rows


_RELATIONS = _relation_rows()


def _row_for(key: str, other_type: str, subject_type: str) -> RelationPhrase | None:
    """The first table row for the key whose subject and object types fit (a row without one fits any)."""
    for row in _RELATIONS.get(key, ()):
        if row.subject and row.subject != subject_type:
            continue
        if row.object and row.object != other_type:
            continue
        return row.phrase
    return None


def _form(name: str, **values: str) -> RelationPhrase:
    spec = table()["forms"][name]
    return RelationPhrase(bind(spec["out"], **values), bind(spec["into"], **values),
                          bind(spec.get("noun", ""), escape=False, **values),
                          bind(spec.get("front", ""), **values))


# --- verbs ------------------------------------------------------------------------------------------


def past_form(word: str) -> bool:
    """A simple past that can take an object: "assumed", "took" (not "born", which is only a participle)."""
    return word in _IRREGULAR_PAST or (word.endswith("ed") and len(word) > 4)


def base_form(past: str) -> str:
    """"assumed" -> "assume", "took" -> "take", "premiered" -> "premiere", "married" -> "marry"."""
    if past in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[past]
    if past in _BASE_EXCEPTIONS:
        return _BASE_EXCEPTIONS[past]
    if not past.endswith("ed"):
        return past
    if past.endswith("ied") and len(past) > 4:
        return past[:-3] + "y"
    if past.endswith("eed"):
        return past[:-1]
    stem = past[:-2]
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz" and stem[-1] not in "aeiou":
        return stem[:-1]  # "stopped", "admitted"
    if stem.endswith("ell") and len(stem) > 5:
        return stem[:-1]  # "travelled", "cancelled"
    if re.search(r"(?:[vzc]|[^n]g|[aeiou]s|[pn]s|uir|[^aeiou](?:at|ut|ot|ir|ur|ar|or|um|in|id|ud|od|ad|ok|ib|ob|ul|il|ol)"
                 r"|[^aeiourlw]l)$", stem):
        return stem + "e"  # "assumed", "retired", "released", "created", "settled"
    return stem


def is_participle(word: str) -> bool:
    return word in _IRREGULAR_PARTICIPLES or (word.endswith("ed") and len(word) > 4)


def is_plural(key: str) -> bool:
    last = key.split()[-1] if key.split() else key
    return last.endswith("s") and not last.endswith(_SINGULAR_S) and len(last) > 3


def article(noun: str) -> str:
    word = noun.split()[0].lower() if noun.split() else noun
    if noun[:2].isupper():  # "an EP", "a UFO": an initialism reads by its letters' names
        return ("an " if word[:1] in "aefhilmnorsx" else "a ") + noun
    vowel = word[:1] in "aeiou" and not word.startswith(("uni", "eu", "one", "use", "usu"))
    return ("an " if vowel or word.startswith("hour") else "a ") + noun


def singular(word: str) -> str:
    if word == "children":
        return "child"
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if is_plural(word):
        return word[:-1]
    return word


def plural(noun: str) -> str:
    """"building" -> "buildings", "notable work" -> "notable works", "city" -> "cities"."""
    if noun in _PLURALS:
        return _PLURALS[noun]
    head, _, last = noun.rpartition(" ")
    if last in _PLURALS:
        last = _PLURALS[last]
    elif last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        last = last + "es"
    else:
        last = last + "s"
    return f"{head} {last}" if head else last


def person_noun(key: str) -> bool:
    """Whether a key can name a person: "composer", "soloist", "spouse", "performers", "dedicatee"."""
    return any(word in _PERSON_NOUNS or (word.endswith(_AGENT_ENDINGS) and not word.endswith("ment"))
               for word in map(singular, key.split()) if word not in _PREPOSITIONS)


# --- relations ----------------------------------------------------------------------------------------


def relation_phrase(relation: str, other_type: str = "", subject_type: str = "") -> RelationPhrase:
    """How an edge reads. `other_type` is the type of the edge's object (it picks prepositions: "restored
    by" a person, "restored in" a place); `subject_type` the type of its source ("took place in" for an
    event's location, "whose buildings include" for what a person's infobox lists). An edge `phrasable`
    refuses reads as its bare key ("whose instrument is X"), for readers of formalizations written
    before; no question is planned over one."""
    phrase = _relation_phrase(relation, other_type, subject_type)
    return phrase if phrase is not None else _form("noun", k=_key(relation))


def phrasable(relation: str, other_type: str = "", subject_type: str = "") -> bool:
    """Whether an edge says how its ends relate, in English a question can state."""
    return _relation_phrase(relation, other_type, subject_type) is not None


def _relation_phrase(relation: str, other_type: str, subject_type: str) -> RelationPhrase | None:
    key = _key(relation)
    if not key or key in NOT_PROPERTIES:
        return None
    row = _row_for(key, other_type, subject_type)
    if row is not None:
        return row
    words = key.split()
    if len(words) >= 2 and words[-1] in _PREPOSITIONS:
        return _form("participle_preposition" if is_participle(words[0]) else "verb_preposition", k=key)
    if len(words) == 1 and is_participle(key):
        if other_type in AGENT_TYPES:
            # a regular verb's past is its participle: "who restored X"; "built" is not: "by which X was built"
            return _form("participle_agent" if key.endswith("ed") else "participle_agent_irregular", k=key)
        return _form("participle_other", k=key)
    if len(words) >= 2 and is_participle(words[-1]) and not is_participle(words[0]):
        noun, verb = " ".join(words[:-1]), words[-1]
        values = {"noun": noun, "verb": verb, "be": "were" if is_plural(noun) else "was"}
        if other_type in AGENT_TYPES:
            return _form("noun_participle_agent", **values)
        phrase = _form("noun_participle", where="where" if other_type == "place" else "in which", **values)
        # "where the republic was proclaimed in X" only reads where X is a place
        return phrase if subject_type == "place" else RelationPhrase(phrase.out, phrase.into, phrase.noun)
    if other_type in ("person", "group") and not person_noun(key):
        if words[-1].endswith("ing") and len(words[-1]) > 5:
            return _form("activity", k=key)
        # "Instrument: violin (made by Oskar Lindell)": the row says the two are connected, not how
        return None
    if subject_type == "person" and other_type not in ("person", "place", "") and not person_noun(key):
        return _form("listed", many=key if is_plural(key) else plural(key))
    if is_plural(key):
        return _form("plural", k=key)
    return _form("noun", k=key)


# --- dates --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateReading:
    """How a dated attribute reads: a question ({np}) and a clause ({when}, {who})."""
    question: str
    clause: str
    verb: str = ""  # a word the question must not repeat from the noun phrase
    nominal: str = ""  # "birth": "What is the birth date of ...?" when it would


def _date_rows() -> dict[str, DateReading]:
    rows = {}
    for row in table()["date"]:
        reading = DateReading(row["question"], row["clause"], row.get("verb", ""), row.get("nominal", ""))
        rows.update({_key(k): reading for k in row["keys"]})
    return rows


DATE_READINGS = _date_rows()


def _date_form(name: str, said: str = "", nominal: str = "", **values: str) -> DateReading:
    """The table's date form `name` for a key; `said` is the verb a question must not repeat."""
    spec = table()["date_forms"][name]
    return DateReading(bind(spec["question"], **values), bind(spec.get("clause", ""), **values), said, nominal)


def _reading(verb: str, passive: bool, rest: str = "", nominal_key: str = "") -> DateReading:
    nominal = NOMINALS.get(nominal_key or verb, "")
    k = f"{verb} {rest}" if rest else verb
    if passive:
        return _date_form("passive", verb.split()[-1], nominal, k=k)
    base = f"{base_form(verb)} {rest}" if rest else base_form(verb)
    return _date_form("active", verb.split()[-1], nominal, k=k, base=base)


def date_reading(key: str) -> DateReading | None:
    """The verb reading of a date key, or None for a noun ("release date", "first ascent").

    "founded", "first performed", "date founded": passive ("When was X founded?", "founded in 1897");
    "premiered", "retired": intransitive ("When did X premiere?", "that premiered in 1931");
    "assumed office": a verb and its object ("When did X assume office?", "who assumed office in 2019");
    "republic proclaimed": a noun and a participle ("When was the republic of X proclaimed?").
    """
    key = _key(key)
    if key in DATE_READINGS:
        return DATE_READINGS[key]
    words = key.split()
    if len(words) >= 2 and words[0] in _TIME_NOUNS:
        words = words[2:] if words[1] == "of" else words[1:]  # "date founded", "year of establishment"
    if not words or words[-1] in _PREPOSITIONS or words[0] in _PREPOSITIONS:
        return None
    key = " ".join(words)
    first, last = words[0], words[-1]
    if len(words) == 1 and (is_participle(first) or first in _IRREGULAR_PAST):
        return _reading(first, first not in INTRANSITIVE)
    if len(words) == 2 and first in _ADVERBS and is_participle(last):
        return _reading(key, last not in INTRANSITIVE, nominal_key=key)
    if past_form(first) and first not in INTRANSITIVE and not any(is_participle(w) for w in words[1:]):
        return _reading(first, False, " ".join(words[1:]))  # "assumed office", "took office"
    if is_participle(first):
        return _reading(key, True, nominal_key=first)  # "built date" and the like: keep the key
    if len(words) >= 2 and (is_participle(last) or last in _IRREGULAR_PAST):
        noun = " ".join(words[:-1])
        values = {"noun": noun, "verb": last, "be": "were" if is_plural(noun) else "was"}
        if last in INTRANSITIVE or (last in _IRREGULAR_PAST and not is_participle(last)):
            return _date_form("noun_intransitive", last, base=base_form(last), **values)
        return _date_form("noun_passive", last, **values)
    return None


def datable(key: str) -> bool:
    """Whether a date attribute's key names an event one can place in time ("founded", "release date")."""
    key = _key(key)
    words = key.split()
    if not words or words[-1] in _PREPOSITIONS or words[0] in _PREPOSITIONS:
        return False
    return date_reading(key) is not None or words[-1] in EVENT_NOUNS


def date_clause(key: str, when: str, person: bool) -> str:
    """A clause placing an entity's dated attribute: "born in the early 1890s", "founded in 1897",
    "who assumed office in 2019", "whose republic was proclaimed in 1921"."""
    reading = date_reading(key)
    if reading is not None:
        return fill(reading.clause, person=person, when=when)
    # a noun names the date itself: "whose release date was 12 October 1951", not "was on 12 October"
    day = when[len("on "):] if when.startswith("on ") else when
    return fill(table()["date_forms"]["noun"]["clause"], k=_key(key), when=day)


# --- amounts and text -----------------------------------------------------------------------------------

AMOUNT_KINDS = frozenset({"number", "quantity", "count", "percent", "money", "duration"})


@dataclass(frozen=True)
class AmountReading:
    clause: str  # {amount}: "with a population of {amount}"
    question: str  # {np}: "What is the population of {np}?"
    nominal: str = ""  # {np}: the question after a long noun phrase ("What is the number of pages of {np}?")


def _number_rows() -> dict[str, list[tuple[frozenset[str], AmountReading]]]:
    rows: dict[str, list[tuple[frozenset[str], AmountReading]]] = {}
    for row in table()["number"]:
        reading = AmountReading(row["clause"], row["question"])
        for key in row["keys"]:
            rows.setdefault(_key(key), []).append((frozenset(row.get("kinds", ())), reading))
    return rows


_NUMBERS = _number_rows()


def _counted_event(key: str) -> tuple[str, str] | None:
    """"homes destroyed" -> ("homes", "destroyed"): a count of things an event did something to."""
    words = key.split()
    if len(words) == 2 and is_plural(words[0]) and is_participle(words[1]):
        return words[0], words[1]
    return None


def amount_reading(key: str, kind: str = "") -> AmountReading:
    """How an amount reads, with {amount} (the value and its unit) and {np} still to fill."""
    key = _key(key)
    for kinds, reading in _NUMBERS.get(key, ()):
        if not kinds or kind in kinds:
            return reading
    counted = _counted_event(key)
    forms = table()["number_forms"]
    if counted:
        spec, values = forms["counted_event"], {"things": counted[0], "verb": counted[1]}
    elif is_plural(key):
        spec, values = forms["plural"], {"k": key}
    else:
        spec, values = forms["noun"], {"k": key}
    return AmountReading(bind(spec["clause"], **values), bind(spec["question"], **values),
                         bind(spec["nominal"], **values) if "nominal" in spec else "")


def askable(key: str, kind: str) -> bool:
    """Whether an attribute can be asked for or used as a constraint in plain English."""
    key = _key(key)
    if not key or key in NOT_PROPERTIES:
        return False
    if kind in ("date", "year"):
        return datable(key)
    if kind in AMOUNT_KINDS:
        words = key.split()
        if key in _NUMBERS or _counted_event(key):
            return True
        return (key not in NOT_AMOUNTS and not is_participle(words[0]) and not is_participle(words[-1])
                and words[-1] not in _PREPOSITIONS)
    # a span, a format, a catalogue number or coordinates: no question or range words them well yet
    return kind == "text"


# an amount written as a duration ("3:12", "88 minutes", "between 2 and 3 hours"): a caller that does not
# say the attribute's kind still gets the duration reading ("lasting 3:12")
_DURATION_AMOUNT = re.compile(r"^(?:\d+:)?\d+:\d\d$|\b(?:seconds?|minutes?|hours?)$")


def number_clause(key: str, amount: str, person: bool, kind: str = "") -> str:
    """"with a population of between 2,000 and 2,500", "lasting 3:12", "with between 2 and 4 acts"."""
    key = _key(key)
    if not kind and _DURATION_AMOUNT.search(amount.strip()):
        kind = "duration"
    if key in DEATH_COUNTS:
        # the amount may carry the key as its unit: "between 3 and 5 dead"
        words = amount.split()
        while words and (words[-1] in DEATH_COUNTS or words[-1] in _DEATH_UNITS):
            words.pop()
        amount = " ".join(words)
    return fill(amount_reading(key, kind).clause, person=person, amount=amount)


def text_clause(key: str, value: str) -> str:
    return fill(table()["text_forms"]["noun"]["clause"], k=_key(key), value=value)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def _closed(np: str) -> str:
    """A name with an appositive ("Eugen Alexander Franz, 1st Prince of Thurn and Taxis") closes it with
    a comma where the sentence goes on after it ("..., die?"), none before the question mark."""
    return f"{np}," if ", " in np and not _RELATIVE.search(np) else np


def attribute_question(key: str, kind: str, np: str) -> str:
    """The question asking for an attribute's value of the entity `np` describes."""
    return _attribute_question(key, kind, np).replace(",?", "?")


def _attribute_question(key: str, kind: str, np: str) -> str:
    key = _key(key)
    words = key.split()
    if kind in ("date", "year"):
        reading = date_reading(key)
        unit = "year" if kind == "year" else "date"
        forms = table()["date_forms"]
        if reading is not None and (
                (reading.verb and _has_word(np, reading.verb)) or _RELATIVE.search(np)):
            # "When was the historian born in Estavia born?" says "born" twice, and "When was the cathedral
            # where the requiem that X composed was first performed completed?" leaves its verb stranded
            # after a long noun phrase: "What is the completion date of ...?" reads at once
            if reading.nominal:
                return fill(bind(forms["nominal"]["question"], nominal=reading.nominal, unit=unit), np=_closed(np))
            if "date" in words or "year" in words:
                return fill(bind(forms["noun_with_time"]["question"], k=key), np=_closed(np))  # "the date of ..."
        if reading is not None:
            question = fill(reading.question, np=_closed(np))
        elif "date" in words or "year" in words:
            question = fill(bind(forms["noun_with_time"]["question"], k=key), np=_closed(np))
        else:
            question = fill(bind(forms["noun"]["question"], k=key), np=_closed(np))
        if kind == "year" and question.startswith("When "):
            question = "In what year " + question[len("When "):]
        return question
    if kind in AMOUNT_KINDS:
        reading = amount_reading(key, kind)
        # "How many volumes does the work that is among ... have?" strands its verb: "What is the number ..."
        return fill(reading.nominal if reading.nominal and _RELATIVE.search(np) else reading.question, np=_closed(np))
    return fill(bind(table()["text_forms"]["noun"]["question"], k=key), np=_closed(np))
