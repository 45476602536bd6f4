"""Typed values from the text of an infobox row or a table cell: dates, years, numbers, quantities.

Dates come out as ISO 8601 (`1891-03-03`, partial `1891-03`, year `1891`, a span of years
`1909/1911`); numbers as plain decimals with their unit (`2,317 m` -> `2317`, `m`). What is inside
parentheses is context ("(aged 66)", "(2021 census)", "(m. 1919)"), not the value, and is left out
unless nothing else is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
_MONTH = r"(?P<{name}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<{name}>\d{{3,4}})(?!\d)"
_DASH = r"\s*(?:[-–—‒]|to|until)\s*"
_APPROX = r"(?:(?:c|ca|circa|approx|approximately|about|around|abt)\.?\s*)"

_DATE_PATTERNS = [
    # 1891-03-03, 1891-03
    re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?(?![\d-])"),
    # 3 March 1891
    re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH.format(name="m") + r",?\s+"
               + _YEAR.format(name="y"), re.IGNORECASE),
    # March 3, 1891
    re.compile(r"\b" + _MONTH.format(name="m") + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+"
               + _YEAR.format(name="y"), re.IGNORECASE),
    # March 1891 (not the tail of an impossible "31 February 1900")
    re.compile(r"(?<!\d )(?<!\d)\b" + _MONTH.format(name="m") + r",?\s+" + _YEAR.format(name="y"), re.IGNORECASE),
]
# 1909–1911, 1922–24, c. 1890 – c. 1895
_YEAR_SPAN = re.compile(r"(?<![\d.,])" + _APPROX + r"?(?P<a>\d{3,4})" + _DASH + _APPROX
                        + r"?(?P<b>\d{2,4})(?![\d.,])", re.IGNORECASE)
_LONE_YEAR = re.compile(r"(?<![\d.,:/°′″$€£%+-])" + _APPROX + r"?(?P<y>\d{3,4})(?:\s*(?P<era>AD|CE|BC|BCE))?"
                        r"(?![\d.,:/°′″%]|\s*(?:km|m|kg|mi|ft|px)\b)",
                        re.IGNORECASE)
_BARE_YEAR = re.compile(_APPROX + r"?\d{3,4}(?![\d.,])", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_PARENS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_WS = re.compile(r"\s+")

_NUMBER = re.compile(
    r"^(?:" + _APPROX + r"|(?:over|nearly|almost|some|more than|less than|under|~|<|>|≈)\s*)?"
    r"(?P<currency>[$€£¥])?\s*(?P<sign>[-−+])?(?P<int>\d{1,3}(?:[,\u00a0\u202f ]\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s*(?P<scale>thousand|million|billion|trillion|bn|m\b|k\b))?"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_SCALES = {"thousand": 10**3, "k": 10**3, "million": 10**6, "m": 10**6, "billion": 10**9, "bn": 10**9,
           "trillion": 10**12}
_UNIT = re.compile(r"^\s*(?P<unit>(?:sq\.?\s*(?:mi|km|ft|m)|square\s+\w+|/\s*\w+[²³23]?|%|°\s*[CF]?|[^\W\d_]+[²³23]?))",
                   re.IGNORECASE)
UNIT_NAMES = {
    "metres": "m", "meters": "m", "metre": "m", "meter": "m", "kilometres": "km", "kilometers": "km",
    "kilometre": "km", "kilometer": "km", "km²": "km2", "m²": "m2", "square kilometres": "km2",
    "square kilometers": "km2", "sq km": "km2", "sqkm": "km2", "square miles": "sq mi", "sq. mi": "sq mi",
    "sqmi": "sq mi", "feet": "ft", "foot": "ft", "miles": "mi", "mile": "mi", "minutes": "min",
    "minute": "min", "mins": "min", "hours": "h", "hour": "h", "hrs": "h", "seconds": "s",
    "kilograms": "kg", "kilogram": "kg", "tonnes": "t", "tons": "t", "percent": "%", "per cent": "%",
    "inhabitants": "people", "residents": "people", "persons": "people",
}
_KNOWN_UNITS = frozenset({"m", "km", "km2", "m2", "cm", "mm", "mi", "ft", "in", "sq mi", "kg", "g", "t", "lb", "grt",
                          "min", "h", "s", "ms", "people", "ha", "acres", "l", "ml", "w", "kw", "mw", "hp", "mph",
                          "kph", "km/h", "knots", "%", "°c", "°f", "db", "hz", "mhz", "ghz"})
# words after a number that are not its unit
_NOT_UNITS = frozenset({"in", "of", "and", "or", "the", "a", "an", "to", "from", "at", "on", "for", "by", "with",
                        "as", "is", "was", "ad", "ce", "bc", "bce", "st", "nd", "rd", "th"})
# keys whose bare four-digit numbers are counts, not years
_COUNT_KEYS = re.compile(
    r"population|students|members|employees|staff|pages|crew|visitors|attendance|circulation|capacity|"
    r"seats|volumes|height|length|area|elevation|depth|altitude|size|number|count|total|deaths|casualties|"
    r"tonnage|weight|width|distance|speed|magnitude|runtime|running time|duration|budget|gross|revenue|price",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Value:
    kind: str  # date | year | number | quantity
    normalized: str
    unit: str | None = None
    start: int = 0
    end: int = 0


def strip_parentheticals(text: str) -> str:
    """"412,000 (2021)" -> "412,000"; a value that is all parentheses is kept as it is."""
    stripped = text
    for _ in range(3):  # nested parentheses, innermost first
        new = _PARENS.sub("", stripped)
        if new == stripped:
            break
        stripped = new
    stripped = _WS.sub(" ", stripped).strip(" ,;")
    return stripped or text.strip()


def _iso(year: int, month: int | None = None, day: int | None = None) -> str | None:
    if not 1 <= year <= 9999:
        return None
    if month is None:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}"
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _month(token: str) -> int | None:
    return MONTHS.get(token.lower().rstrip("."))


def find_dates(text: str) -> list[Value]:
    """Calendar dates (full or month-and-year) in `text`, in order, none overlapping."""
    if not _DIGIT.search(text):
        return []
    found: list[Value] = []
    taken: list[tuple[int, int]] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue
            groups = match.groupdict()
            month = _month(groups["m"]) if not groups["m"].isdigit() else int(groups["m"])
            day = int(groups["d"]) if groups.get("d") else None
            iso = _iso(int(groups["y"]), month, day)
            if iso is None:
                continue
            taken.append(match.span())
            found.append(Value("date", iso, None, match.start(), match.end()))
    return sorted(found, key=lambda v: v.start)


def find_year(text: str) -> Value | None:
    """The first year or span of years ("1909–1911" -> "1909/1911", "c. 1890" -> "1890") in `text`."""
    span = _YEAR_SPAN.search(text)
    lone = _LONE_YEAR.search(text)
    if span and (lone is None or span.start() <= lone.start()):
        first, second = span.group("a"), span.group("b")
        if len(second) < len(first):  # 1922–24
            second = first[: len(first) - len(second)] + second
        if int(second) >= int(first) and int(second) - int(first) < 1000:
            return Value("year", f"{int(first):04d}/{int(second):04d}", None, span.start(), span.end())
    if lone:
        era = (lone.group("era") or "").upper()
        year = int(lone.group("y"))
        if era in ("BC", "BCE"):
            return Value("year", f"-{year:04d}", None, lone.start(), lone.end())
        return Value("year", f"{year:04d}", None, lone.start(), lone.end())
    return None


def parse_date(text: str) -> Value | None:
    """The first date in `text`, else its first year (or span of years); None when there is none."""
    dates = find_dates(text)
    if dates:
        return dates[0]
    return find_year(text)


def _plain_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e18:
        return str(int(value))
    return f"{value:.10g}"


def parse_number(text: str) -> Value | None:
    """A number at the start of `text`, with its scale and unit: "2,317 m" -> 2317 m,
    "1.2 million crowns" -> 1200000 crowns, "$199 billion" -> 199000000000 $; None otherwise."""
    match = _NUMBER.match(text.strip())
    if not match:
        return None
    digits = re.sub(r"[,\u00a0\u202f ]", "", match.group("int"))
    number = float(f"{digits}.{match.group('frac')}" if match.group("frac") else digits)
    if match.group("sign") in ("-", "−"):
        number = -number
    scale = (match.group("scale") or "").lower()
    rest = match.group("rest")
    if scale == "m" and _UNIT.match(rest) is None and not rest.strip():
        scale = ""  # "46 m" is metres, not millions
        rest = " m"
    if scale:
        number *= _SCALES[scale]
    unit = match.group("currency")
    unit_match = _UNIT.match(rest)
    if unit is None and unit_match:
        token = _WS.sub(" ", unit_match.group("unit")).strip()
        folded = token.lower()
        plain_year = (not scale and match.group("frac") is None and len(digits) == 4
                      and "," not in match.group("int") and 1000 <= int(digits) <= 2100)
        known = folded in UNIT_NAMES or folded in _KNOWN_UNITS or not folded[:1].isalpha()
        if folded not in _NOT_UNITS and _month(folded) is None and len(token) <= 16 and (known or not plain_year):
            unit = UNIT_NAMES.get(folded, UNIT_NAMES.get(folded.replace("²", "2"), token.replace("²", "2")))
            unit = unit.replace(" ", "") if unit.startswith("/") else unit
    kind = "quantity" if unit else "number"
    return Value(kind, _plain_number(number), unit, match.start(), match.end())


def parse_value(key: str, text: str) -> Value | None:
    """The typed value of one infobox row or table cell, or None for plain text.

    A date anywhere wins ("14 August 1852, Jakob Tull and party"); then a number at the start (a bare
    four-digit number is a year unless the key counts something); then a year in a short value
    ("Scrapped 1952").
    """
    if not _DIGIT.search(text):
        return None  # no date, year or number without a digit
    core = strip_parentheticals(text)
    dates = find_dates(core)
    if dates:
        return dates[0]
    number = parse_number(core)
    if number is not None:
        counts = _COUNT_KEYS.search(key) is not None
        if not counts and _YEAR_SPAN.match(core.strip()):
            return find_year(core)
        bare = number.unit is None and _BARE_YEAR.match(core.strip()) is not None
        if bare and not counts and 500 <= int(number.normalized) <= 2100:
            return Value("year", f"{int(number.normalized):04d}", None, number.start, number.end)
        return number
    if len(core.split()) <= 6 and not _COUNT_KEYS.search(key):
        return find_year(core)
    return None


def life_dates(sentence: str) -> dict[str, Value]:
    """Birth and death dates from a lead sentence's first parenthetical: "X (born 3 March 1891)",
    "X ( died 11 November 875)", "X (3 March 1891 – 12 June 1957)", "X (1891–1957)"."""
    match = re.search(r"\(([^()]{4,200})\)", sentence)
    if not match:
        return {}
    inner = match.group(1)
    dates = find_dates(inner)
    if len(dates) >= 2 and re.fullmatch(_DASH, inner[dates[0].end: dates[1].start]):
        return {"born": dates[0], "died": dates[1]}
    out: dict[str, Value] = {}
    for word, key in (("born", "born"), ("b.", "born"), ("died", "died"), ("d.", "died")):
        at = re.search(r"(?:^|[\s;,])" + re.escape(word) + r"\s", inner, re.IGNORECASE)
        if at and key not in out:
            found = parse_date(inner[at.end(): at.end() + 40])
            if found:
                out[key] = found
    if out or dates:
        return out
    year = find_year(inner)
    if year and "/" in year.normalized:
        first, second = year.normalized.split("/")
        return {"born": Value("year", first), "died": Value("year", second)}
    return {}
