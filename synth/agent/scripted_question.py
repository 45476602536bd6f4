"""How the scripted search agent reads a question: the target (an entity described by a head noun and
clauses, or an attribute of a subject), the checks each described entity must pass (a masked name, a
period, a number in a range), and the names in its clauses it can search for.

Only the question text is read: never a task's answer, evidence or formalization.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
DATE_RE = re.compile(rf"\b(\d{{1,2}} (?:{MONTHS})\.? \d{{3,4}}|(?:{MONTHS})\.? \d{{1,2}}, \d{{3,4}}|\d{{4}}-\d\d-\d\d)\b")
YEAR_RE = re.compile(r"(?<![\d,.:])(1[0-9]{3}|20[0-9]{2})(?![\d,:])")
CONNECTORS = {"of", "the", "over", "on", "at", "for", "to", "and", "de", "von", "van", "la", "le", "del", "du"}
NAME_RE = re.compile(r"[A-Z][\w'’.\-/]*(?:,? +(?:(?:of|the|over|on|at|for|to|and|de|von|van|la|le|del|du) +)*"
                     r"(?:[A-Z][\w'’.\-/]*|No\. *\d+|\d+\b))*")
QUESTION_WORDS = {"what", "who", "when", "where", "which", "how", "in", "whose", "whom", "is", "was", "the", "a",
                  "an", "did", "does", "do", "are", "were"}
STOPWORDS = QUESTION_WORDS | {"of", "on", "at", "by", "for", "with", "from", "to", "and", "that", "this", "it",
                              "its", "his", "her", "their", "as", "be", "been", "has", "have", "had", "there",
                              "than", "more", "less", "between", "into", "among", "include", "includes",
                              "associated", "known", "one", "also", "after", "before", "about"}
HEAD_STOP = {"whose", "that", "which", "who", "whom", "where", "when", "of", "in", "on", "at", "by", "for", "with",
             "from", "to", "associated", "among", "and", "based", "known", "after", "during", "about",
             # participles that start a clause ("the museum director born in ...")
             "born", "built", "led", "written", "made", "held", "set", "won", "run", "sung", "shot", "painted",
             "first"}
# initials alone ("R. C.", "T") say nothing a search engine can use
INITIALS_RE = re.compile(r"(?:[A-Z]\.?\s*){1,4}")
_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")  # "The Salt Orchard (film)"
_PUNCTUATION = re.compile(r"[^\w\s]")
_PART = {"early": (0, 3), "mid": (3, 7), "late": (6, 9)}


@functools.lru_cache(maxsize=1 << 16)  # the same titles are compared over and over while researching
def norm(text: str) -> str:
    text = _DISAMBIGUATOR.sub("", text or "")
    words = _PUNCTUATION.sub(" ", text.casefold()).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


def stem(word: str) -> str:
    word = word.casefold()
    for suffix in ("ings", "ing", "ied", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word[:6] if len(word) > 6 else word


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]+|\d+", text) if w.casefold() not in STOPWORDS]


@functools.lru_cache(maxsize=1 << 16)
def stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in words(text))


def is_initials(name: str) -> bool:
    return bool(INITIALS_RE.fullmatch(name.strip()))


def names_in(text: str) -> list[str]:
    """Capitalized phrases (and quoted titles) in a text, question words, sentence starts and bare initials
    dropped."""
    found = [m.strip() for m in re.findall(r"\"([^\"]+)\"|“([^”]+)”", text) for m in m if m]
    for match in NAME_RE.finditer(text):
        name = match.group(0).strip(" ,.")
        parts = name.split()
        while parts and (parts[0].casefold() in QUESTION_WORDS or parts[0].casefold() in CONNECTORS):
            parts = parts[1:]
        while parts and parts[-1].casefold() in CONNECTORS:
            parts = parts[:-1]
        name = " ".join(parts).strip(" ,.")
        # "Comet Osterling, on 22 May 1904", "September 1848, Ostvale": a date is no part of a name
        name = re.sub(rf",? (?:on |in |at )?\d{{1,2}} (?:{MONTHS})\b.*$", "", name)
        name = re.sub(rf"^(?:{MONTHS}) \d{{1,4}},? *", "", name).strip(" ,.")
        name = re.sub(r" (?:for|on|at|in|to) \d+\b.*$", "", name)  # "... Ostvale for 36 years"
        if name and len(name) > 2 and not is_initials(name) and not re.fullmatch(r"[\d,.]+", name):
            found.append(name)
    return list(dict.fromkeys(found))


# --- checks on a described entity -------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """A condition the question puts on an entity, in the question's words (`text`).

    kind: `letter` (its name, surname or initials; `value` the letters), `period` (a year in one of
    `years`, inclusive ranges: a decade, a century, or one year "founded in 1791"), `date` (the day `value`,
    "12 June 1957"), `range` (a number near the words `about` within `low`..`high`). `about` is the word
    the period, date or number belongs to ("born", "died", "population"): the page must tie it to that."""
    kind: str
    text: str
    value: str = ""
    years: tuple[tuple[int, int], ...] = ()
    about: str = ""
    low: float | None = None
    high: float | None = None


_LETTER_RE = re.compile(r"\b(?:whose|with an?|and)?\s*(?P<part>(?:sur|first |given |family )?name|title) "
                        r"(?:begins|starts) with (?:the letter )?\"?(?P<letter>[A-Z])\b\"?")
_INITIALS_RE = re.compile(r"\b(?:whose|with the) initials (?:are|were) (?P<letters>(?:[A-Z]\.?(?:\s+|$))*[A-Z]\b\.?)")
_DECADE_RE = re.compile(r"\b(?:the )?(?:(?P<part>early|mid|late)[ -])?(?P<decade>1\d{2}0|20\d0)s\b")
_CENTURY_RE = re.compile(r"\b(?:the )?(?:(?P<part>early|mid|late)[ -])?(?P<n>\d{1,2})(?:st|nd|rd|th) century\b")
_NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
_RANGE_RE = re.compile(rf"\b(?:(?:whose|with(?: an?)?|and) )?(?P<about>[a-z][a-z ]{{1,40}}?) (?:is |was |of )?"
                       rf"(?:between {_NUMBER} and {_NUMBER}|more than {_NUMBER}|less than {_NUMBER})"
                       r"(?P<unit>(?: (?!and\b|that\b|where\b|who\b|whose\b|which\b)[a-z]+){0,2})")
_RANGE_TAIL_RE = re.compile(rf"\b(?:with|where) (?:between {_NUMBER} and {_NUMBER}|more than {_NUMBER}|"
                            rf"less than {_NUMBER}) (?P<about>[a-z]+(?: (?!and\b|that\b|where\b|who\b|whose\b)[a-z]+)?)")


# "whose elevation is 1,140 metres": a number the page must give for that word
_EXACT_RE = re.compile(r"\bwhose (?P<about>[a-z]+(?: [a-z]+)?) (?:is|was|are|were) (?:about )?(?P<n>\d[\d,]*(?:\.\d+)?)"
                       r"(?! and\b)(?P<unit>(?: (?!and\b|that\b|where\b|who\b|whose\b|which\b)[a-z]+)?)")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _years(part: str | None, start: int, span: int) -> tuple[int, int]:
    if part is None:
        return start, start + span - 1
    lo, hi = _PART[part]
    step = span // 10
    return start + lo * step, start + hi * step + step - 1


def parse_checks(text: str) -> tuple[Check, ...]:
    """The checks stated in an entity's own clauses."""
    checks: list[Check] = []
    for match in _LETTER_RE.finditer(text):
        part = "surname" if match.group("part").startswith(("sur", "family")) else "name"
        checks.append(Check("letter", match.group(0).strip(), part + ":" + match.group("letter")))
    for match in _INITIALS_RE.finditer(text):
        letters = "".join(re.findall(r"[A-Z]", match.group("letters")))
        checks.append(Check("letter", match.group(0).strip(), "initials:" + letters))
    periods = [(m, _years(m.group("part"), int(m.group("decade")), 10)) for m in _DECADE_RE.finditer(text)]
    periods += [(m, _years(m.group("part"), (int(m.group("n")) - 1) * 100, 100)) for m in _CENTURY_RE.finditer(text)]
    for match, years in periods:
        before = text[max(0, match.start() - 30): match.start()].split()
        verb = before[-2] if len(before) >= 2 and before[-1] == "in" else (before[-1] if before else "")
        checks.append(Check("period", f"{verb} in {match.group(0)}".strip(), years=(years,),
                            about=verb))
    taken = [m.span() for m, _ in periods]
    for match in DATE_RE.finditer(text):
        taken.append(match.span())
        checks.append(Check("date", _with_verb(text, match), value=match.group(1), about=_verb(text, match)))
    for match in re.finditer(rf"\b(?:in|of) {YEAR_RE.pattern}", text):
        if not any(a <= match.start(1) < b for a, b in taken):
            year = int(match.group(1))
            checks.append(Check("period", _with_verb(text, match), years=((year, year),), about=_verb(text, match)))
    for match in _RANGE_RE.finditer(text):
        about = re.sub(r"^(?:whose|with|an?|and|the) ", "", match.group("about")).strip()
        if not about or about in ("with", "where", "in"):
            continue
        low, high = _bounds(match.group(2), match.group(3), match.group(4), match.group(5))
        checks.append(Check("range", match.group(0).strip(), about=about, low=low, high=high))
    for match in _EXACT_RE.finditer(text):
        number = _number(match.group("n"))
        checks.append(Check("range", match.group(0).strip(), about=match.group("about"), low=number, high=number))
    for match in _RANGE_TAIL_RE.finditer(text):
        low, high = _bounds(match.group(1), match.group(2), match.group(3), match.group(4))
        checks.append(Check("range", match.group(0).strip(), about=match.group("about"), low=low, high=high))
    return tuple(checks)


def _verb(text: str, match: re.Match) -> str:
    """The word a date or year in a clause belongs to: "died" in "who died on 12 June 1957"."""
    before = [w for w in text[max(0, match.start() - 40): match.start()].split() if w.casefold() not in
              ("on", "in", "of", "the", "was", "were", "is", "who", "that", "which")]
    return before[-1].strip(",") if before else ""


def _with_verb(text: str, match: re.Match) -> str:
    verb = _verb(text, match)
    start = text.rfind(verb, 0, match.start()) if verb else match.start()
    return text[start: match.end()].strip()


def _bounds(a: str | None, b: str | None, more: str | None, less: str | None) -> tuple[float | None, float | None]:
    if a is not None and b is not None:
        return _number(a), _number(b)
    if more is not None:
        return _number(more), None
    return None, _number(less or "0")


def without_checks(text: str) -> str:
    """The clauses with their masked names and periods taken out: what is left to search for."""
    for pattern in (_LETTER_RE, _INITIALS_RE, _DECADE_RE, _CENTURY_RE):
        text = pattern.sub(" ", text)
    return " ".join(text.split())


# --- the target ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    """An entity to find: a head noun ("polar explorer") with clauses, or a name."""
    head: str = ""
    clauses: str = ""
    name: str | None = None
    checks: tuple[Check, ...] = ()

    @property
    def described(self) -> str:
        return self.name or f"the {self.head} {self.clauses}".strip()


@dataclass(frozen=True)
class Attribute:
    attribute: str
    subject: Entity
    kind: str  # date | year | number | any


_INNER = re.compile(r"\b(?:the|a|an) (?!(?:early|mid|late)\b)[a-z]")


def own_clauses(clauses: str) -> str:
    """The part of an entity's clauses that is about it, not about an entity they describe in turn ("whose
    name begins with N and whose label is" of "... whose label is the organization whose name begins
    with G"): the checks found there are this entity's."""
    inner = _INNER.search(clauses)
    return clauses[: inner.start()] if inner else clauses


def parse_subject(phrase: str) -> Entity:
    phrase = phrase.strip(" ,.?")
    match = re.match(r"(?:the|a|an)\s+([a-z][\w\-]*(?:\s+[a-z][\w\-]*)*)(.*)$", phrase)
    if match is None:
        return Entity(name=re.sub(r"^(?:the|The)\s+(?=[A-Z])", "", phrase).strip() or phrase)
    tokens = (match.group(1) + match.group(2)).split()
    head: list[str] = []
    for i, word in enumerate(tokens):
        if word in HEAD_STOP or (head and word.endswith("ed") and word not in ("red",)) or not word[0].islower():
            rest = " ".join(tokens[i:])
            return Entity(head=" ".join(head), clauses=rest, checks=parse_checks(own_clauses(rest)))
        head.append(word)
    return Entity(head=" ".join(head))


def parse_question(question: str) -> Entity | Attribute:
    text = " ".join(question.split()).rstrip(" ?.")
    patterns = [
        (r"^when (?:did|was|were|is|does) (.+?) (\w+)$", "date"),
        (r"^(?:in )?(?:what|which) year (?:did|was|were|is|does) (.+?) (\w+)$", "year"),
        (r"^how (?:many|much) (.+?) (?:does|did|do|has|had|is|was) (.+?)(?: have| has| had)?$", "number"),
        # "how many people died in the flood ...": the count, then a verb and the subject it happened in
        (r"^how (?:many|much) (\w+ \w+) (?:in|at|on|during|of|by) (.+)$", "number"),
    ]
    measured = re.match(rf"^how ({'|'.join(_HOW)}) (?:is|was|are|were) (.+)$", text, flags=re.I)
    if measured:
        return Attribute(_HOW[measured.group(1).casefold()], parse_subject(measured.group(2)), "number")
    for pattern, kind in patterns:
        match = re.match(pattern, text, flags=re.I)
        if match:
            if kind == "number":
                return Attribute(match.group(1), parse_subject(match.group(2)), kind)
            return Attribute(match.group(2), parse_subject(match.group(1)), kind)
    match = re.match(r"^(?:what|who|which)(?: \w+)? (?:is|was|are|were) (.+)$", text, flags=re.I)
    body = match.group(1) if match else text
    described = parse_subject(body)
    if described.name is None and described.clauses.startswith("of ") and len(described.head.split()) <= 3:
        kind = "date" if "date" in described.head.split() else "year" if "year" in described.head.split() \
            else "number" if _MEASURE_HEAD.search(
            described.head) else "any"
        return Attribute(described.head, parse_subject(described.clauses[3:]), kind)
    return described


_HOW = {"long": "length", "tall": "height", "high": "height", "deep": "depth", "far": "distance", "old": "age",
        "wide": "width", "heavy": "mass", "big": "size", "large": "size"}
_MEASURE_HEAD = re.compile(r"\b(?:length|duration|running time|population|area|elevation|height|depth|"
                           r"perihelion|attendance|crew|circulation|capacity|members|students|employees|"
                           r"visitors|pages|magnitude|telescope|level|network|volumes|movements|spire)\b")


def constraint_phrases(entity: Entity) -> list[str]:
    """The entity's clauses as a reader lists them: split at their top-level "and"s."""
    if entity.name is not None:
        return []
    parts = re.split(r"\s+and\s+(?=(?:whose|who|that|which|where|with|by|in|at|born|released|founded|"
                     r"located|published|first|acquired|completed|adopted|established|is|was)\b)", entity.clauses)
    return [p.strip(" ,") for p in parts if p.strip(" ,")]
