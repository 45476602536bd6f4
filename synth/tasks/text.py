"""Folding, whole-word matching and the spellings of dates and numbers that answers are accepted in."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
_ISO_DATE = re.compile(r"^(-?\d{1,4})-(\d{2})-(\d{2})$")
_ISO_MONTH = re.compile(r"^(-?\d{1,4})-(\d{2})$")
_YEAR = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_NON_WORD = re.compile(r"[^\w]+")
# a comma or thin space between digit groups: "12,400", "12 400"
_DIGIT_GROUPS = re.compile(r"(?<=\d)[,\u202f\u2009 ](?=\d{3}\b)")


def strip_diacritics(text: str) -> str:
    """"Café" -> "Cafe": case and punctuation kept."""
    return "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case, diacritics stripped, punctuation to spaces, digit-group separators dropped."""
    text = strip_diacritics(text).casefold()
    text = _DIGIT_GROUPS.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def contains_phrase(haystack: str, needle: str) -> bool:
    """Whether `needle` occurs in `haystack` as whole words, after folding both."""
    wanted = fold(needle)
    if not wanted:
        return False
    return f" {wanted} " in f" {fold(haystack)} "


def year_of(value: str | None) -> int | None:
    """The year a date-like value names: "1891-03-03" -> 1891, "c. 1891" -> 1891."""
    if not value:
        return None
    text = value.strip()
    match = _ISO_DATE.match(text) or _ISO_MONTH.match(text)
    if match:
        return int(match.group(1))
    found = _YEAR.search(text)
    return int(found.group(1)) if found else None


def parse_iso_date(value: str | None) -> date | None:
    match = _ISO_DATE.match((value or "").strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def number_of(value: str | None) -> float | None:
    """A number from a normalized value ("12400") or, failing that, the first number written in text."""
    if value is None:
        return None
    text = value.strip()
    if _NUMBER.match(text):
        return float(text)
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not match:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def format_number(value: float) -> str:
    """12400.0 -> "12,400"; 2.5 -> "2.5"."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def date_spellings(day: date) -> list[str]:
    """"3 March 1891", "March 3, 1891", "1891-03-03", "3 Mar 1891"."""
    month = MONTHS[day.month - 1]
    return [f"{day.day} {month} {day.year}", f"{month} {day.day}, {day.year}", day.isoformat(),
            f"{day.day} {month[:3]} {day.year}"]


def attribute_answer(attribute: dict) -> str:
    """The canonical form of an attribute's value: its normalized form, else the value as written."""
    return str(attribute.get("normalized") or attribute.get("value") or "").strip()


def unique(items: list[str]) -> list[str]:
    """Order kept, duplicates by folded form dropped, empties dropped."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = fold(item)
        if item and key and key not in seen:
            seen.add(key)
            out.append(item.strip())
    return out
