"""English for graph facts: type nouns from descriptions, and relation and attribute phrases.

Relations are infobox keys or table headers. A lexicon covers the keys common across Wikipedia-style
infoboxes; any other key is phrased by its grammatical form: a noun ("capital": "whose capital is X",
"the capital of X"), a participle with a preposition ("directed by": "directed by X"), a bare
participle ("founded": "founded in X") or a verb with a preposition ("flows into"). Only typed edges
(a key of the source's own infobox) are ever worded: a hyperlink or a mention says two entities are
connected, never how, and so does a person listed under a key that names no role ("Instrument: ...
Oskar Lindell"); `phrasable` tells such an edge apart.

Templates: {o} is the other end of an out-edge, {s} of an in-edge; {who} is "who" or "that" and {whom}
"whom" or "which", after the entity being described.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TYPE_NOUNS = {"person": "person", "place": "place", "organization": "organization", "work": "work",
              "event": "event", "group": "group", "thing": "entity"}
# types that act: "restored by" one of them, "restored in" anything else
AGENT_TYPES = frozenset({"person", "organization", "group"})


def esc(text: str) -> str:
    """Data (an infobox key, a value) made safe to sit inside a template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class RelationPhrase:
    out: str  # describes an edge's source: "born in {o}"
    into: str  # describes an edge's destination: "where {s} was born"
    noun: str = ""  # relational noun for "the {noun} of {s}": "spouse"
    # `into` with {s} last, for a long {s}: "that is home to {s}" rather than "where {s} ... is located"
    front: str = ""


def _rel(keys: str, out: str, into: str, noun: str = "", front: str = "") -> dict[str, RelationPhrase]:
    return {k.strip(): RelationPhrase(out, into, noun, front) for k in keys.split("|")}


LEXICON: dict[str, RelationPhrase] = {
    **_rel("born|birth place|place of birth|birthplace", "born in {o}", "where {s} was born", "birthplace",
           "that is the birthplace of {s}"),
    **_rel("died|death place|place of death", "{who} died in {o}", "where {s} died"),
    **_rel("resting place|burial place|buried", "buried in {o}", "where {s} is buried"),
    **_rel("spouse|spouses|married|wife|husband", "married to {o}", "married to {s}", "spouse"),
    **_rel("children|child", "whose children include {o}", "{who} is a child of {s}"),
    **_rel("alma mater|education|educated at", "educated at {o}", "where {s} studied", "alma mater"),
    **_rel("employer", "employed by {o}", "{who} employed {s}", "employer"),
    **_rel("known for", "known for {o}", "for {whom} {s} is known"),
    **_rel("composer|music|music by", "with music by {o}", "{who} wrote the music of {s}", "composer"),
    **_rel("librettist|libretto|libretto by", "with a libretto by {o}", "{who} wrote the libretto of {s}",
           "librettist"),
    **_rel("lyricist|lyrics|words|lyrics by|words by", "with words by {o}", "{who} wrote the words of {s}",
           "lyricist"),
    **_rel("author|authors|writer|written by", "written by {o}", "{who} wrote {s}", "author"),
    **_rel("director|directed by", "directed by {o}", "{who} directed {s}", "director"),
    **_rel("producer|produced by", "produced by {o}", "{who} produced {s}", "producer"),
    **_rel("starring|cast", "starring {o}", "{who} starred in {s}"),
    **_rel("based on", "based on {o}", "on {whom} {s} is based"),
    **_rel("publisher|published by", "published by {o}", "{who} published {s}", "publisher"),
    **_rel("founder|founders|founded by|co-founder|co-founders", "founded by {o}", "{who} founded {s}", "founder"),
    **_rel("founded|established", "founded in {o}", "where {s} was founded"),
    **_rel("headquarters|location|located|located in|seat|venue", "located in {o}", "where {s} is located", "",
           "that is home to {s}"),
    **_rel("architect|designer|designed by", "designed by {o}", "{who} designed {s}", "architect"),
    **_rel("builder|built by|shipyard|manufacturer", "built by {o}", "{who} built {s}", "builder"),
    **_rel("discoverer|discovered by", "discovered by {o}", "{who} discovered {s}", "discoverer"),
    **_rel("discovery site|observatory", "discovered at {o}", "where {s} was discovered"),
    **_rel("leader|leaders|led by|commander", "led by {o}", "{who} led {s}", "leader"),
    **_rel("owner|owned by", "owned by {o}", "{who} owned {s}", "owner"),
    **_rel("painter|artist|painted by", "painted by {o}", "{who} painted {s}", "painter"),
    **_rel("premiere|first performance", "first performed at {o}", "where {s} was first performed"),
    **_rel("museum|collection|current location|held by", "held at {o}", "where {s} is held"),
    **_rel("member of|memberships", "{who} is a member of {o}", "whose members include {s}"),
    **_rel("part of", "part of {o}", "of which {s} is part"),
    **_rel("named after|named for|eponym", "named after {o}", "after {whom} {s} is named"),
    **_rel("residence", "{who} lived in {o}", "where {s} lived"),
    **_rel("office|offices|office held", "{who} held office in {o}", "where {s} held office"),
    **_rel("teacher|teachers|doctoral advisor", "{who} studied under {o}", "{who} taught {s}", "teacher"),
    **_rel("conductor|conducted by", "conducted by {o}", "{who} conducted {s}", "conductor"),
}

# --- verbs ------------------------------------------------------------------------------------------

# past forms that are not participles, with their base forms: "took office" -> "When did X take office?"
_IRREGULAR_PAST = {
    "took": "take", "left": "leave", "won": "win", "became": "become", "began": "begin", "held": "hold",
    "sank": "sink", "rose": "rise", "fell": "fall", "ran": "run", "made": "make", "went": "go", "came": "come",
    "met": "meet", "built": "build", "wrote": "write", "gave": "give", "got": "get", "led": "lead",
    "saw": "see", "struck": "strike", "flew": "fly", "drew": "draw", "sold": "sell", "bought": "buy",
    "lost": "lose", "spent": "spend", "taught": "teach", "broke": "break", "sang": "sing", "fought": "fight",
    "set": "set", "shut": "shut", "split": "split", "died": "die",
}
# past forms said of what the subject did, not what was done to it: "When did the film premiere?"
INTRANSITIVE = frozenset({
    "premiered", "debuted", "retired", "died", "erupted", "sank", "occurred", "happened", "began", "started",
    "ended", "finished", "emigrated", "arrived", "departed", "collapsed", "flourished", "reigned", "ceased",
    "expired", "resigned", "rose", "fell", "took place", "opened",
})
# nouns for a verb, to ask "What is the birth date of the historian born in X?" instead of repeating it
NOMINALS = {
    "born": "birth", "died": "death", "founded": "founding", "established": "founding", "published": "publication",
    "released": "release", "opened": "opening", "premiered": "premiere", "completed": "completion",
    "built": "construction", "constructed": "construction", "launched": "launch", "adopted": "adoption",
    "signed": "signing", "acquired": "acquisition", "discovered": "discovery", "elected": "election",
    "formed": "formation", "created": "creation", "dissolved": "dissolution", "restored": "restoration",
    "composed": "composition", "performed": "performance", "first performed": "premiere",
    "inaugurated": "inauguration", "consecrated": "consecration", "crowned": "coronation",
    "recorded": "recording", "incorporated": "incorporation", "abolished": "abolition", "debuted": "debut",
    "retired": "retirement", "commissioned": "commissioning", "dedicated": "dedication",
}
_ADVERBS = frozenset({"first", "last", "originally", "officially", "formally", "initially", "finally", "jointly"})
_TIME_NOUNS = frozenset({"date", "year", "day", "time"})


_BASE_EXCEPTIONS = {"premiered": "premiere", "debuted": "debut", "created": "create", "visited": "visit",
                    "edited": "edit", "limited": "limit", "developed": "develop", "opened": "open"}


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


@dataclass(frozen=True)
class DateReading:
    """How a dated attribute reads: a question ({np}) and a clause ({when}, {who})."""
    question: str
    clause: str
    verb: str = ""  # a word the question must not repeat from the noun phrase
    nominal: str = ""  # "birth": "What is the birth date of ...?" when it would


def _reading(verb: str, passive: bool, rest: str = "", nominal_key: str = "") -> DateReading:
    # verb and rest come from an infobox key: escaped, they cannot be read as placeholders
    tail = f" {esc(rest)}" if rest else ""
    nominal = NOMINALS.get(nominal_key or verb, "")
    word = esc(verb)
    if passive:
        return DateReading(f"When was {{np}} {word}{tail}?", f"{word}{tail} {{when}}", verb.split()[-1], nominal)
    return DateReading(f"When did {{np}} {esc(base_form(verb))}{tail}?", f"{{who}} {word}{tail} {{when}}",
                       verb.split()[-1], nominal)


DATE_READINGS = {
    **{k: _reading("born", True) for k in ("born", "birth date", "date of birth")},
    **{k: _reading("died", False) for k in ("died", "death date", "date of death")},
    "date": DateReading("When did {np} take place?", "that took place {when}", "took", ""),
    **{k: _reading("first performed", True) for k in ("premiere", "first performance")},
}


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
        be = "were" if is_plural(noun) else "was"
        noun, verb = esc(noun), esc(last)
        if last in INTRANSITIVE or (last in _IRREGULAR_PAST and not is_participle(last)):
            return DateReading(f"When did the {noun} of {{np}} {esc(base_form(last))}?",
                               f"whose {noun} {verb} {{when}}", last)
        return DateReading(f"When {be} the {noun} of {{np}} {verb}?", f"whose {noun} {be} {verb} {{when}}", last)
    return None


DEATH_COUNTS = frozenset({"deaths", "casualties", "fatalities", "killed", "victims", "dead"})
DEATH_KEYS = frozenset({"died", "death", "death date", "date of death", "death place", "place of death"})

_PREPOSITIONS = ("by", "in", "on", "at", "for", "after", "of", "to", "with", "from", "into", "under", "as")
_IRREGULAR_PARTICIPLES = frozenset({"born", "built", "made", "held", "led", "known", "set", "won", "written",
                                    "shown", "drawn", "run", "sung", "begun", "done", "given", "taken", "seen"})
_SINGULAR_S = ("ss", "us", "is", "ics", "news", "series", "species", "headquarters", "status", "alias", "gas")


def is_participle(word: str) -> bool:
    return word in _IRREGULAR_PARTICIPLES or (word.endswith("ed") and len(word) > 4)


def is_plural(key: str) -> bool:
    last = key.split()[-1] if key.split() else key
    return last.endswith("s") and not last.endswith(_SINGULAR_S) and len(last) > 3


def article(noun: str) -> str:
    word = noun.split()[0].lower() if noun.split() else noun
    vowel = word[:1] in "aeiou" and not word.startswith(("uni", "eu", "one", "use", "usu"))
    return ("an " if vowel or word.startswith("hour") else "a ") + noun


# keys that place an entity: an event takes place somewhere rather than being located there
LOCATION_KEYS = frozenset({"location", "located", "located in", "venue", "place"})
# nouns that can name a person besides agent nouns ("composer", "soloist", "dedicatee")
_PERSON_NOUNS = frozenset({
    "spouse", "parent", "child", "children", "relative", "family", "member", "cast", "crew", "staff", "heir",
    "issue", "partner", "mayor", "chair", "head", "king", "queen", "monarch", "sibling", "father", "mother",
    "son", "daughter", "brother", "sister", "husband", "wife", "consort", "people", "person", "chief",
    "captain", "coach", "pupil", "disciple", "friend", "ally", "rival", "colleague", "patron", "deputy",
    "signatory", "subject", "namesake", "inspiration", "muse", "model", "protagonist", "hero", "victim",
    "champion", "pilot", "successor", "predecessor", "incumbent", "officeholder", "alumni", "faculty",
})
_AGENT_ENDINGS = ("er", "or", "ist", "ian", "ant", "ent", "ee", "ess", "ive", "eur")


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
    head, _, last = noun.rpartition(" ")
    if last == "child":
        last = "children"
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


def relation_phrase(relation: str, other_type: str = "", subject_type: str = "") -> RelationPhrase:
    """How an edge reads. `other_type` is the type of the edge's object (it picks prepositions: "restored
    by" a person, "restored in" a place); `subject_type` the type of its source ("took place in" for an
    event's location, "whose buildings include" for what a person's infobox lists). An edge `phrasable`
    refuses reads as its bare key ("whose instrument is X"), for readers of formalizations written
    before; no question is planned over one."""
    phrase = _relation_phrase(relation, other_type, subject_type)
    return phrase if phrase is not None else _noun_reading(_key(relation))


def phrasable(relation: str, other_type: str = "", subject_type: str = "") -> bool:
    """Whether an edge says how its ends relate, in English a question can state."""
    return _relation_phrase(relation, other_type, subject_type) is not None


def _noun_reading(key: str) -> RelationPhrase:
    k = esc(key)
    return RelationPhrase(f"whose {k} is {{o}}", f"{{who}} is the {k} of {{s}}", key)


def _relation_phrase(relation: str, other_type: str, subject_type: str) -> RelationPhrase | None:
    key = _key(relation)
    if subject_type == "event" and key in LOCATION_KEYS:
        return RelationPhrase("that took place in {o}", "where {s} took place", "", "that saw {s}")
    if relation in LEXICON or key in LEXICON:
        return LEXICON.get(relation) or LEXICON[key]
    words = key.split()
    if not words:
        return None
    # the key is data: escaped wherever it enters a template, so braces in it ("{{{birth_place}}}", an
    # unexpanded MediaWiki parameter) read as text; `noun` (plain text, never filled) keeps it as is
    k = esc(key)
    if len(words) >= 2 and words[-1] in _PREPOSITIONS:
        if is_participle(words[0]):
            return RelationPhrase(f"{k} {{o}}", f"{{whom}} {{s}} is {k}")
        return RelationPhrase(f"{{who}} {k} {{o}}", f"{{whom}} {{s}} {k}")
    if len(words) == 1 and is_participle(key):
        if other_type in AGENT_TYPES:
            # "restored": "restored by X" / "who restored X" (a regular verb's past is its participle)
            return RelationPhrase(f"{k} by {{o}}", f"{{who}} {k} {{s}}" if key.endswith("ed")
                                  else f"by {{whom}} {{s}} was {k}")
        return RelationPhrase(f"{k} in {{o}}", f"where {{s}} was {k}")
    if len(words) >= 2 and is_participle(words[-1]) and not is_participle(words[0]):
        # "republic proclaimed": "whose republic was proclaimed in X" / "in which the republic of X was
        # proclaimed"; never "the republic proclaimed of X"
        noun, verb = " ".join(words[:-1]), words[-1]
        be = "were" if is_plural(noun) else "was"
        noun, verb = esc(noun), esc(verb)
        if other_type in AGENT_TYPES:
            return RelationPhrase(f"whose {noun} {be} {verb} by {{o}}", f"by {{whom}} the {noun} of {{s}} {be} {verb}")
        where = "where" if other_type == "place" else "in which"
        front = f"{where} the {noun} {be} {verb} in {{s}}" if subject_type == "place" else ""
        return RelationPhrase(f"whose {noun} {be} {verb} in {{o}}", f"{where} the {noun} of {{s}} {be} {verb}", "",
                              front)
    if other_type in ("person", "group") and not person_noun(key):
        # "Building: 1889, by Edvard Lune" on a building's page: Lune is no building, so neither "whose
        # building is Edvard Lune" nor "the building of the Conservatory"; an activity involves him
        if words[-1].endswith("ing") and len(words[-1]) > 5:
            return RelationPhrase(f"whose {k} involved {{o}}", f"involved in the {k} of {{s}}")
        # "Instrument: violin (made by Oskar Lindell)": the row says the two are connected, not how
        return None
    if subject_type == "person" and other_type not in ("person", "place", "") and not person_noun(key):
        # a person's infobox lists things by their class ("Building: National Gallery"): one of several
        many = esc(key if is_plural(key) else plural(key))
        return RelationPhrase(f"whose {many} include {{o}}", f"{{who}} is among the {many} of {{s}}")
    if is_plural(key):
        return RelationPhrase(f"whose {k} include {{o}}", f"{{who}} is among the {k} of {{s}}")
    return _noun_reading(key)


# one pass, left to right: "{{" and "}}" are escaped braces, "{name}" a placeholder; nothing a value
# brings in is read again, and an unknown or unbalanced brace stays as written rather than raising
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z]+)\}")


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


# --- attributes ---------------------------------------------------------------------------------------

# the last word of a noun key that names a datable event: "release date", "first ascent", "construction"
EVENT_NOUNS = frozenset({
    "date", "premiere", "performance", "ascent", "construction", "charter", "release", "launch", "opening",
    "inauguration", "foundation", "founding", "signing", "birth", "death", "discovery", "completion",
    "publication", "debut", "election", "ceremony", "proclamation", "consecration", "coronation", "flight",
    "recording", "broadcast", "independence", "incorporation", "dissolution", "abolition", "creation",
})
# number keys that are ranks, codes or mixed values rather than amounts
NOT_AMOUNTS = frozenset({"rank", "ranking", "code", "number", "no", "id", "office", "building", "known for",
                         "dimensions", "first recorded", "year", "years", "coordinates", "grid reference"})


def datable(key: str) -> bool:
    """Whether a date attribute's key names an event one can place in time ("founded", "release date")."""
    key = _key(key)
    words = key.split()
    if not words or words[-1] in _PREPOSITIONS or words[0] in _PREPOSITIONS:
        return False
    return date_reading(key) is not None or words[-1] in EVENT_NOUNS


def askable(key: str, kind: str) -> bool:
    """Whether an attribute can be asked for or used as a constraint in plain English."""
    key = _key(key)
    if not key:
        return False
    if kind in ("date", "year"):
        return datable(key)
    if kind in ("number", "quantity", "count", "percent", "money", "duration"):
        words = key.split()
        if _counted_event(key):
            return True
        return (key not in NOT_AMOUNTS and not is_participle(words[0]) and not is_participle(words[-1])
                and words[-1] not in _PREPOSITIONS)
    # a span, a format, a catalogue number or coordinates: no question or range words them well yet
    return kind == "text"



def _key(key: str) -> str:
    return " ".join(key.lower().replace("_", " ").split())


def date_clause(key: str, when: str, person: bool) -> str:
    """A clause placing an entity's dated attribute: "born in the early 1890s", "founded in 1897",
    "who assumed office in 2019", "whose republic was proclaimed in 1921"."""
    reading = date_reading(key)
    if reading is not None:
        return fill(reading.clause, person=person, when=when)
    return f"whose {_key(key)} was {when}"


def _counted_event(key: str) -> tuple[str, str] | None:
    """"homes destroyed" -> ("homes", "destroyed"): a count of things an event did something to."""
    words = key.split()
    if len(words) == 2 and is_plural(words[0]) and is_participle(words[1]):
        return words[0], words[1]
    return None


def number_clause(key: str, amount: str, person: bool) -> str:
    """"whose population is between 2,000 and 2,500", "with between 2 and 4 acts"."""
    key = _key(key)
    if key in DEATH_COUNTS:
        # the amount may carry the key as its unit: "between 3 and 5 dead"
        words = amount.split()
        while words and (words[-1] in DEATH_COUNTS or words[-1] in ("people", "persons", "lives")):
            words.pop()
        return f"in which {' '.join(words)} people died"
    counted = _counted_event(key)
    if counted:
        return f"in which {amount} {counted[0]} were {counted[1]}"
    if is_plural(key):
        return f"with {amount} {key}"
    return f"whose {key} is {amount}"


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) is not None


def text_clause(key: str, value: str) -> str:
    return f"whose {_key(key)} is {value}"


def attribute_question(key: str, kind: str, np: str) -> str:
    """The question asking for an attribute's value of the entity `np` describes."""
    key = _key(key)
    words = key.split()
    if kind in ("date", "year"):
        reading = date_reading(key)
        unit = "year" if kind == "year" else "date"
        if reading is not None and reading.verb and _has_word(np, reading.verb) and reading.nominal:
            # "When was the historian born in Estavia born?" says "born" twice
            return f"What is the {reading.nominal} {unit} of {np}?"
        if reading is not None:
            question = fill(reading.question, np=np)
        elif "date" in words or "year" in words:
            question = f"What is the {key} of {np}?"
        else:
            question = f"When was the {key} of {np}?"
        if kind == "year" and question.startswith("When "):
            question = "In what year " + question[len("When "):]
        return question
    if kind in ("number", "quantity", "count", "percent", "money", "duration"):
        if key in DEATH_COUNTS:
            return f"How many people died in {np}?"
        counted = _counted_event(key)
        if counted:
            return f"How many {counted[0]} were {counted[1]} in {np}?"
        if is_plural(key):
            return f"How many {key} does {np} have?"
        return f"What is the {key} of {np}?"
    return f"What is the {key} of {np}?"


# --- type nouns -------------------------------------------------------------------------------------

_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(?:(?:an?|the)\s+|[A-Z][\w'’.-]*(?:'s|’s)\s+)")
_A_AN = re.compile(r",\s+(?:an?|the)\s+")
_PAREN = re.compile(r"\s*\([^)]*\)")
_QUOTED = re.compile(r"^\s*[\"“][^\"”]*[\"”]")
_BOUNDARY_WORDS = frozenset({
    "of", "in", "on", "at", "by", "for", "from", "with", "to", "who", "which", "that", "whose", "where", "known",
    "founded", "located", "based", "set", "built", "published", "written", "directed", "led", "named", "near",
    "since", "between", "about", "under", "during", "after", "before", "than", "as", "it", "its",
    "is", "was", "are", "were", "has", "had", "and/or", "into", "along", "across", "around", "off",
})
_ADJECTIVE_STOP = frozenset({
    "former", "large", "small", "major", "minor", "main", "only", "first", "second", "third", "last", "famous",
    "leading", "prominent", "important", "well-known", "notable", "principal", "great", "big", "little",
    "annual", "daily", "new", "old", "early", "late", "other", "private", "public", "chief", "sole", "one",
    "two", "three", "several", "many", "various", "own", "same", "certain", "long", "short", "high", "low",
})
_NOT_NOUNS = frozenset({"and", "or", "the", "a", "an", "this", "that", "also", "both", "not", "very", "most"})


def _clean_word(word: str) -> str:
    return word.strip("\"'“”‘’")


_DETERMINERS = frozenset({"the", "a", "an", "his", "her", "its", "their", "this", "these", "those", "some", "every",
                          "each", "all", "several", "many", "two", "three", "four", "five"})
_ADJECTIVE_ENDINGS = ("ous", "ful", "less", "ish", "est", "ly", "en", "ic", "ive", "al", "ed", "ing")
_NOT_HEAD_ENDINGS = ("ous", "ful", "less", "ish", "est", "ly", "most")


def _adjective_like(word: str) -> bool:
    return (word in _ADJECTIVE_STOP or word.endswith(("est", "ly", "most"))
            or word in ("worst", "best", "most", "least", "more", "less"))


def _verb_form(word: str, following: str) -> bool:
    """A participle or gerund that starts a modifier ("discovered by", "following the river"), as opposed
    to one inside the noun phrase ("recorded flood", "oil painting by")."""
    if word.endswith("ing"):
        return following in _DETERMINERS or following[:1].isupper()
    if is_participle(word):
        return following in _BOUNDARY_WORDS or following in _DETERMINERS or following[:1].isupper()
    return False


def _noun_from(rest: str) -> str:
    words: list[str] = []
    raws = rest.split()
    for position, raw in enumerate(raws):
        word = _clean_word(raw)
        stop = bool(re.search(r"[,.;:()]", raw))
        word = re.sub(r"[,.;:()].*$", "", word)
        following = _clean_word(raws[position + 1]).lower() if position + 1 < len(raws) else ""
        following = raws[position + 1] if following and raws[position + 1][:1].isupper() else following
        nouns_so_far = sum(1 for w in words if re.fullmatch(r"[a-z][a-z-]*", w) and not _adjective_like(w)
                           and w not in _NOT_NOUNS)
        if word.lower() in _BOUNDARY_WORDS or (nouns_so_far and _verb_form(word, following)):
            break
        # "a town and the capital of": a second noun phrase begins
        if word in ("and", "or") and following.lower() in _DETERMINERS:
            break
        if word:
            words.append(word)
        # "a wooden, ice-strengthened barque": a comma between adjectives does not end the phrase
        if stop and not (raw.endswith(",") and word.endswith(_ADJECTIVE_ENDINGS) and following[:1].islower()
                         and following not in _BOUNDARY_WORDS):
            break
    # "composer and teacher": the first of two coordinated nouns; "stage and film actress" and "capital
    # and largest city" coordinate modifiers of the last noun
    if "and" in words:
        cut = words.index("and")
        after = [w for w in words[cut + 1:] if not _adjective_like(w)]
        before = [w for w in words[:cut] if not _adjective_like(w) and w[:1].islower()]
        if len(after) == 1 and before:
            words = words[:cut]
    # drop capitalized words (nationalities, names), numbers and filler
    kept = [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w) and w not in _NOT_NOUNS]
    if not kept:
        return ""
    head = kept[-1]
    if (len(head) < 3 or _adjective_like(head) or head.endswith(_NOT_HEAD_ENDINGS)
            or (is_participle(head) and head not in {"red", "bed", "shed"})):
        return ""
    if len(kept) >= 2:
        modifier = kept[-2]
        position = words.index(modifier) if modifier in words else -1
        adjacent = position >= 0 and position + 1 < len(words) and words[position + 1] == head
        if adjacent and not _adjective_like(modifier) and len(modifier) >= 3 and not is_participle(modifier):
            return f"{modifier} {head}"
    return head


def type_noun(name: str, label: str, description: str, entity_type: str) -> str:
    """"composer" from "Aurel Fennick (1891–1957) was an Estavian composer, ...", else a noun by type."""
    fallback = TYPE_NOUNS.get(entity_type, "entity")
    text = " ".join((description or "").split())
    if not text:
        return fallback
    candidates = []
    copula = _COPULA.search(text)
    if copula:
        candidates.append(text[copula.end():])
    for prefix in sorted({name, label, f"The {label}", f"the {label}"}, key=len, reverse=True):
        if prefix and text.startswith(prefix):
            rest = _QUOTED.sub("", _PAREN.sub("", text[len(prefix):], count=1))
            rest = _PAREN.sub("", rest, count=1).lstrip()
            if rest.startswith(","):
                candidates.append(re.sub(r"^,\s*(?:(?:an?|the)\s+)?", "", rest))
            break
    other = _A_AN.search(text)
    if other:
        candidates.append(text[other.end():])
    for rest in candidates:
        noun = _noun_from(rest)
        if noun:
            return noun
    return fallback
