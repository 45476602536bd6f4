"""Uncertainty operations: exact facts turned into the vaguer constraints a hard question states.

Each operation returns both what the question says ("the early 1890s") and the constraint a solver can
check ("1890..1893"), so a task stays mechanically verifiable however vague its wording.

Vague dates split a decade into early (years 0-3), mid (4-6) and late (7-9), and a century (the
"19th" is 1800-1899 here, as in everyday use) into early (00-32), mid (33-66) and late (67-99).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from synth.tasks.text import format_number, number_of, year_of

# ops whose constraint narrows a known fact only slightly: a level-2 question may carry one of them
LIGHT_OPS = frozenset({"vague_date", "number_range", "mask_name"})
OPS = frozenset({*LIGHT_OPS, "shared_attribute", "describe_by_attributes"})

UNIT_WORDS = {
    "m": "metres", "km": "kilometres", "cm": "centimetres", "mm": "millimetres", "km2": "square kilometres",
    "km²": "square kilometres", "sq km": "square kilometres", "m2": "square metres", "m²": "square metres",
    "ha": "hectares", "kg": "kilograms", "t": "tonnes", "g": "grams", "ft": "feet", "mi": "miles",
    "l": "litres", "s": "seconds", "min": "minutes", "h": "hours", "%": "per cent", "km/h": "km/h",
    "°": "degrees", "deg": "degrees", "°c": "degrees Celsius", "ft²": "square feet", "mi²": "square miles",
}
# units the attribute key already implies ("population: 12,400 people")
SILENT_UNITS = frozenset({"", "people", "persons", "inhabitants", "residents"})
_ARTICLES = ("the ", "a ", "an ")


@dataclass(frozen=True)
class Operation:
    op: str
    slot: str
    original: str
    obfuscated: str

    def row(self) -> dict:
        return {"op": self.op, "slot": self.slot, "original": self.original, "obfuscated": self.obfuscated}


@dataclass(frozen=True)
class Vague:
    """A constraint as the question words it, and as a solver checks it."""

    phrase: str  # "the early 1890s", "between 2,000 and 2,500 metres", "whose surname begins with F"
    predicate: str  # for names: "surname" | "name" | "initials"; else the attribute key it came from
    object: str  # "1890..1893", "2000..2500", ">40", "F"
    object_kind: str  # year_range | number_range | prefix | initials


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def vague_date(value: str, granularity: str = "decade_part", key: str = "") -> Vague | None:
    """A date or year as a part of a decade, a decade, or a part of a century; None without a year.

    granularity: "decade_part" ("the early 1890s"), "decade" ("the 1920s"), "century" ("the late 19th
    century").
    """
    year = year_of(value)
    if year is None or year < 100:
        return None
    if granularity == "decade":
        lo = year - year % 10
        return Vague(f"the {lo}s", key, f"{lo}..{lo + 9}", "year_range")
    if granularity == "century":
        start = year - year % 100
        offset = year - start
        part, lo, hi = (("early", 0, 32) if offset <= 32 else ("mid", 33, 66) if offset <= 66
                        else ("late", 67, 99))
        return Vague(f"the {part} {_ordinal(start // 100 + 1)} century", key, f"{start + lo}..{start + hi}",
                     "year_range")
    if granularity != "decade_part":
        raise ValueError(f"unknown granularity {granularity!r}")
    decade = year - year % 10
    offset = year - decade
    if offset <= 3:
        return Vague(f"the early {decade}s", key, f"{decade}..{decade + 3}", "year_range")
    if offset <= 6:
        return Vague(f"the mid-{decade}s", key, f"{decade + 4}..{decade + 6}", "year_range")
    return Vague(f"the late {decade}s", key, f"{decade + 7}..{decade + 9}", "year_range")


def unit_words(unit: str | None) -> str:
    unit = (unit or "").strip()
    if unit.lower() in SILENT_UNITS:
        return ""
    return UNIT_WORDS.get(unit, UNIT_WORDS.get(unit.lower(), unit))


def number_range(value: str, unit: str | None = None, mode: str = "between", key: str = "") -> Vague | None:
    """A positive number as a range around it: "between 2,000 and 2,500 metres" or "more than 40".

    Bounds round to half the number's order of magnitude; small counts (under 10) get +-1. "more than"
    is used only where the rounded bound is strictly below the value.
    """
    number = number_of(value)
    if number is None or number <= 0 or not math.isfinite(number):
        return None
    words = unit_words(unit)
    tail = f" {words}" if words else ""
    if number < 10:
        lo, hi = max(0.0, math.floor(number) - 1), math.ceil(number) + 1
        return Vague(f"between {format_number(lo)} and {format_number(hi)}{tail}", key,
                     f"{_plain(lo)}..{_plain(hi)}", "number_range")
    magnitude = 10 ** math.floor(math.log10(number))
    if mode == "more_than":
        lo = math.floor(number / magnitude) * magnitude
        if lo < number:
            return Vague(f"more than {format_number(lo)}{tail}", key, f">{_plain(lo)}", "number_range")
    step = magnitude / 2
    lo = math.floor(number / step) * step
    hi = lo + step
    return Vague(f"between {format_number(lo)} and {format_number(hi)}{tail}", key, f"{_plain(lo)}..{_plain(hi)}",
                 "number_range")


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def in_number_range(number: float, spec: str) -> bool:
    """Whether `number` satisfies "lo..hi" (inclusive, either side may be empty), ">lo" or "<hi"."""
    spec = spec.strip()
    try:
        if spec.startswith(">"):
            return number > float(spec[1:])
        if spec.startswith("<"):
            return number < float(spec[1:])
        lo, _, hi = spec.partition("..")
        return (not lo or number >= float(lo)) and (not hi or number <= float(hi))
    except ValueError:
        return False


def in_year_range(year: int, spec: str) -> bool:
    return in_number_range(float(year), spec)


def surname(label: str) -> str:
    words = [w for w in label.replace(",", " ").split() if w[:1].isalpha()]
    return words[-1] if words else label


def bare_name(label: str) -> str:
    """A name without a leading article: "The Salt Orchard" -> "Salt Orchard"."""
    lowered = label.lower()
    for article in _ARTICLES:
        if lowered.startswith(article) and len(label) > len(article):
            return label[len(article):]
    return label


def initials(label: str) -> str:
    """"Aurel Fennick" -> "A. F."."""
    return " ".join(f"{w[0].upper()}." for w in label.split() if w[:1].isalpha())


def mask_name(label: str, person: bool, mode: str = "prefix") -> Vague | None:
    """Part of a name: a surname's (or a name's) first letter, or a person's initials."""
    label = label.strip()
    if not label:
        return None
    if mode == "initials" and person and len(label.split()) >= 2:
        return Vague(f"whose initials are {initials(label)}", "initials", initials(label), "initials")
    if person:
        letter = surname(label)[:1].upper()
        if not letter.isalpha():
            return None
        return Vague(f"whose surname begins with {letter}", "surname", letter, "prefix")
    letter = bare_name(label)[:1].upper()
    if not letter.isalpha():
        return None
    return Vague(f"whose name begins with {letter}", "name", letter, "prefix")
