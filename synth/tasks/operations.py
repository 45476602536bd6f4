"""Uncertainty operations: exact facts turned into the vaguer constraints a hard question states.

Each operation returns both what the question says ("the early 1890s") and the constraint a solver can
check ("1890..1893"), so a task stays mechanically verifiable however vague its wording.

Vague dates split a decade into early (years 0-3), mid (4-6) and late (7-9), and a century (the
"19th" is 1800-1899 here, as in everyday use) into early (00-32), mid (33-66) and late (67-99).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from drsynth.synth.tasks.text import format_number, number_of, year_of

# ops whose constraint narrows a known fact only slightly: a level-2 question may carry one of them
LIGHT_OPS = frozenset({"vague_date", "number_range", "mask_name"})
OPS = frozenset({*LIGHT_OPS, "shared_attribute", "describe_by_attributes"})

UNIT_WORDS = {
    "m": "metres", "km": "kilometres", "cm": "centimetres", "mm": "millimetres", "km2": "square kilometres",
    "km²": "square kilometres", "sq km": "square kilometres", "m2": "square metres", "m²": "square metres",
    "ha": "hectares", "kg": "kilograms", "t": "tonnes", "g": "grams", "ft": "feet", "mi": "miles",
    "l": "litres", "s": "seconds", "min": "minutes", "h": "hours", "%": "per cent", "km/h": "km/h",
    "°": "degrees", "deg": "degrees", "°c": "degrees Celsius", "ft²": "square feet", "mi²": "square miles",
    "in": "inches", "sq mi": "square miles", "sq ft": "square feet", "yd": "yards", "lb": "pounds", "kn": "knots",
    "/km2": "per square kilometre", "/sq mi": "per square mile", "acres": "acres",
}
# amounts that a range can stand for; what else a value can be (a format, a catalogue number,
# coordinates, a span of years) is never turned into a range
AMOUNT_KINDS = frozenset({"number", "quantity", "count", "percent", "money", "duration"})
# the symbol written before an amount of these currencies
CURRENCY_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "INR": "₹", "CAD": "C$", "AUD": "A$",
                    "NZD": "NZ$", "HKD": "HK$"}
# keys whose numbers are years or codes: never written with digit groups ("1962", not "1,962")
_PLAIN_KEYS = re.compile(r"\b(?:years?|code|codes|no|number|id|isbn|oclc|catalog(?:ue)?)\b", re.IGNORECASE)
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
        if 29 <= offset <= 36 or 63 <= offset <= 70:
            # near a third's edge "the mid 20th century" for 1934 misleads a reader: the century alone
            return Vague(f"the {_ordinal(start // 100 + 1)} century", key, f"{start}..{start + 99}", "year_range")
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


def amount_text(number: float, key: str = "") -> str:
    """A number as a question writes it: digit groups for amounts ("12,400"), none for a year or a
    code a number-kind row still holds ("population census year: 2011")."""
    if _PLAIN_KEYS.search(key.replace("_", " ")) and float(number).is_integer():
        return str(int(number))
    return format_number(number)


def money_text(number: float, unit: str | None) -> str:
    """2000000, "USD" -> "$2 million"; 40266 -> "$40,266"; 1.2e6, "crowns" -> "1.2 million crowns"."""
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(number) >= scale:
            amount = f"{format_number(round(number / scale, 3))} {word}"
            break
    else:
        amount = format_number(number)
    code = (unit or "").strip()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{symbol}{amount}"
    return f"{amount} {code}".strip()


def duration_text(seconds: float) -> list[str]:
    """192 -> ["3:12", "3 minutes 12 seconds", "3 min 12 s"]; 5820 -> ["1:37:00", "97 minutes", ...]."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

    def words(n: int, unit: str) -> str:
        return f"{n} {unit}" if n == 1 else f"{n} {unit}s"

    long_parts = [words(n, u) for n, u in ((hours, "hour"), (minutes, "minute"), (secs, "second")) if n]
    short_parts = [f"{n} {u}" for n, u in ((hours, "h"), (minutes, "min"), (secs, "s")) if n]
    out = [clock, " ".join(long_parts), " ".join(short_parts)]
    if hours and not secs:
        out.append(words(total // 60, "minute"))
    return [o for o in out if o]


# how a duration is rounded into a range: (below this many seconds, a step of so many seconds, said in
# units of so many seconds, the unit's word)
_DURATION_STEPS = ((60, 10, 1, "seconds"), (20 * 60, 60, 60, "minutes"), (180 * 60, 600, 60, "minutes"),
                   (48 * 3600, 3600, 3600, "hours"))


def duration_range(value: str, key: str = "") -> Vague | None:
    """Seconds as a range a reader pictures: 192 -> "between 3 and 4 minutes" (180..240), 5820 ->
    "between 90 and 100 minutes", 9000 -> "between 2 and 3 hours"."""
    seconds = number_of(value)
    if seconds is None or seconds <= 0 or not math.isfinite(seconds):
        return None
    for below, step, unit, word in _DURATION_STEPS:
        if seconds < below:
            low = math.floor(seconds / step) * step
            return Vague(f"between {low // unit} and {(low + step) // unit} {word}", key, f"{low}..{low + step}",
                         "number_range")
    return None


def money_range(value: str, unit: str | None, mode: str = "between", key: str = "") -> Vague | None:
    """An amount of money as a range with its currency: "between $2 million and $2.5 million"."""
    vague = number_range(value, None, mode, key)
    if vague is None or not unit:
        return None
    spec = vague.object
    if spec.startswith(">"):
        return Vague(f"more than {money_text(float(spec[1:]), unit)}", key, spec, vague.object_kind)
    lo, _, hi = spec.partition("..")
    return Vague(f"between {money_text(float(lo), unit)} and {money_text(float(hi), unit)}", key, spec,
                 vague.object_kind)


def amount_range(kind: str, value: str, unit: str | None, mode: str = "between", key: str = "") -> Vague | None:
    """The range a question states for an amount, worded with its unit; None for what is no amount."""
    if kind == "duration":
        return duration_range(value, key)
    if kind == "money":
        return money_range(value, unit, mode, key)
    if kind not in AMOUNT_KINDS or "/" in (value or ""):
        return None
    if _PLAIN_KEYS.search(key.replace("_", " ")):
        return None  # a code or a year kept as a number: ranging it says nothing true
    return number_range(value, unit, mode, key)


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
