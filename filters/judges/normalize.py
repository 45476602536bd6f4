"""Answer normalization for the match judge: folded text and tokens, token F1, the final answer out of a
sentence, and the numbers and dates an answer names.

Dates reuse the graph's parser (`synth.graph.values.find_dates`: ISO, "3 March 1891", "March 3, 1891",
"March 1891"); bare years and numbers are found here, because an answer is free text where a year or a
number sits anywhere, next to other words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from drsynth.synth.graph.values import UNIT_NAMES, find_dates, parse_number

ARTICLES = frozenset({"a", "an", "the"})
# letters NFKD does not take apart
_LETTERS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
                          "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i", "ß": "ss"})
# symbols that carry meaning: "40%" is not "$40"
_SYMBOLS = str.maketrans({"%": " percent ", "$": " dollar ", "€": " euro ", "£": " pound ", "¥": " yen "})
_DIGIT_GROUPS = re.compile(r"(?<=\d)[,\u00a0\u202f\u2009 ](?=\d{3}(?!\d))")
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Diacritics stripped, lower case, every run of punctuation and space one space."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(_NON_WORD.sub(" ", text).replace("_", " ").split())


def normalize(text: str) -> str:
    """The comparable form of an answer: folded, digit groups joined ("12,400" -> "12400"), articles
    dropped."""
    text = _DIGIT_GROUPS.sub("", unicodedata.normalize("NFKC", text or "")).translate(_SYMBOLS)
    return " ".join(t for t in fold(text).split() if t not in ARTICLES)


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style token F1 of the normalized texts (0 when either has no words left)."""
    predicted, wanted = tokens(prediction), tokens(gold)
    if not predicted or not wanted:
        return 0.0
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


# --- the final answer out of a sentence -------------------------------------------------------------------

_BOXED = re.compile(r"\\boxed\{([^{}]+)\}")
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s*(?:is|was|would be|:)\s*:?\s*(.+)$", re.IGNORECASE | re.S)
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.S)


def final_answer(text: str) -> str:
    """The answer itself when `text` is a sentence around it: "The answer is 1891." -> "1891"; `\\boxed{X}`
    and a single **X** count too. Otherwise `text` stripped."""
    text = (text or "").strip()
    tagged = _ANSWER_TAG.findall(text)
    if tagged:
        text = tagged[-1].strip()
    for pattern in (_BOXED, _ANSWER_IS):
        found = pattern.findall(text)
        if found:
            return _trim(found[-1])
    bold = _BOLD.findall(text)
    if len(bold) == 1:
        return _trim(bold[0])
    return _trim(text)


def _trim(text: str) -> str:
    text = text.strip().strip("*`").strip()
    text = re.sub(r"[.!。]+$", "", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”‘’":
        text = text[1:-1].strip()
    return text.strip("“”‘’\"").strip()


# --- numbers ------------------------------------------------------------------------------------------------

_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "mio": 1e6, "billion": 1e9, "bn": 1e9,
           "trillion": 1e12}
_NUMBER_WORDS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))}
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_WORD_NUMBER = re.compile(
    r"\b(?:(?P<tens>twenty|" + "|".join(_TENS) + r")(?:[- ](?P<ones>one|two|three|four|five|six|seven|eight|nine))?"
    r"|(?P<small>" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r"))\b",
    re.IGNORECASE)
# currency written before an amount as letters: "US$2 million", "USD 2 million" read as "$2 million"
_CURRENCY_PREFIXES = [(re.compile(r"(?<![\w$])(?:US|U\.S\.)\s?\$"), "$"),
                      (re.compile(r"\b(?:USD)\s?(?=\d)"), "$"), (re.compile(r"\b(?:EUR)\s?(?=\d)"), "€"),
                      (re.compile(r"\b(?:GBP)\s?(?=\d)"), "£"), (re.compile(r"\b(?:JPY)\s?(?=\d)"), "¥")]
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<cur>[$€£¥])?\s?(?P<sign>[-−])?"
    r"(?P<int>\d{1,3}(?:(?:,|\u00a0|\u202f|\u2009| )\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|mn|mio|bn|k|m)(?![\w]))?"
    r"(?:\s?(?P<unit>%|°\s?[CF]\b|[^\W\d_]+(?:[²³23](?!\d))?))?",
    re.IGNORECASE,
)
# words after a number that are not its unit
_NOT_UNITS = frozenset({"in", "of", "and", "or", "the", "a", "an", "to", "from", "at", "on", "for", "by", "with",
                        "as", "is", "was", "were", "ad", "ce", "bc", "bce", "st", "nd", "rd", "th", "s"})
# units the judge converts between; a quantity in a unit not listed here is compared by its number alone
_CONVERSIONS = {
    "length": {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "km": 1e3, "in": 0.0254, "ft": 0.3048, "mi": 1609.344},
    "area": {"m2": 1.0, "ha": 1e4, "km2": 1e6, "sq mi": 2_589_988.11, "acres": 4046.8564224},
    "mass": {"g": 1e-3, "kg": 1.0, "t": 1e3, "lb": 0.45359237},
    "time": {"s": 1.0, "min": 60.0, "h": 3600.0},
}
_EXTRA_UNIT_NAMES = {"kms": "km", "kilos": "kg", "grams": "g", "gram": "g", "pounds": "lb", "lbs": "lb",
                     "inches": "in", "centimetres": "cm", "centimeters": "cm", "millimetres": "mm",
                     "millimeters": "mm", "hectares": "ha", "acre": "acres", "km2": "km2", "m2": "m2",
                     "sq": "sq mi", "people": "people", "percent": "%", "percentage": "%",
                     # currencies written as words after the amount are the symbol's currency
                     "dollars": "$", "dollar": "$", "usd": "$", "euros": "€", "euro": "€", "eur": "€",
                     "gbp": "£", "sterling": "£", "yen": "¥", "jpy": "¥"}
_STRICT_UNITS = frozenset({"%", "$", "€", "£", "¥"})
# units that make a four-digit number a quantity rather than a year ("2021 m" is a height, "2021 ab" is not)
_KNOWN_UNITS = frozenset({*UNIT_NAMES.values(), *_EXTRA_UNIT_NAMES.values(), *_STRICT_UNITS,
                          *(u for factors in _CONVERSIONS.values() for u in factors)})


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None  # canonical ("m", "km2", "people", "%"), or None
    year_like: bool  # a bare four-digit integer a reader takes for a year ("in 2021")
    text: str

    def in_base_unit(self) -> tuple[str, float] | None:
        """(dimension, value in its base unit) when the unit is one the judge converts."""
        for dimension, factors in _CONVERSIONS.items():
            if self.unit in factors:
                return dimension, self.value * factors[self.unit]
        return None


def _unit(word: str | None) -> str | None:
    if not word:
        return None
    token = " ".join(word.replace("²", "2").replace("³", "3").split()).lower()
    if token in _NOT_UNITS:
        return None
    return UNIT_NAMES.get(token) or _EXTRA_UNIT_NAMES.get(token) or token


def words_to_digits(text: str) -> str:
    """Number words as digits: "four minutes" -> "4 minutes", "twenty-five" -> "25" (up to ninety-nine)."""
    def digits(match: re.Match[str]) -> str:
        if match.group("small"):
            return str(_NUMBER_WORDS[match.group("small").lower()])
        tens = 20 if match.group("tens").lower() == "twenty" else _TENS[match.group("tens").lower()]
        ones = match.group("ones")
        return str(tens + (_NUMBER_WORDS[ones.lower()] if ones else 0))

    return _WORD_NUMBER.sub(digits, text or "")


def find_numbers(text: str) -> list[Quantity]:
    """Every number in `text` with its scale and unit: "12,400", "12 400", "1.2 million", "12.4k", "2,317 m",
    "$3 bn", "US$3 bn", "45 per cent"; number words ("three", "forty percent") too. "46 m" is metres, "$46m"
    millions."""
    text = unicodedata.normalize("NFKC", text or "").replace("−", "-")
    for pattern, symbol in _CURRENCY_PREFIXES:
        text = pattern.sub(symbol, text)
    text = re.sub(r"\bper\s+cent\b", "percent", words_to_digits(text), flags=re.IGNORECASE)
    found: list[Quantity] = []
    for match in _NUMBER.finditer(text):
        digits = re.sub(r"[^\d]", "", match.group("int"))
        value = float(f"{digits}.{match.group('frac')}" if match.group("frac") else digits)
        if match.group("sign"):
            value = -value
        scale = (match.group("scale") or "").lower()
        unit_word = match.group("unit")
        if scale == "m" and not match.group("cur"):
            scale, unit_word = "", "m"  # "46 m" is metres; "$46m" is millions
        if scale:
            value *= _SCALES.get(scale, 1e6)
        unit = match.group("cur") or _unit(unit_word)
        year_like = (not scale and unit not in _KNOWN_UNITS and match.group("frac") is None and len(digits) == 4
                     and digits == match.group("int") and 1000 <= int(digits) <= 2100)
        found.append(Quantity(value, unit, year_like, match.group(0).strip()))
    return found


def same_number(predicted: Quantity, gold: Quantity, tolerance: float, *, strict: bool = False) -> bool:
    """Within `tolerance` (relative to the gold value), after converting between known units of one
    dimension. Units that differ in dimension never match; an unknown or missing unit on either side is not
    held against the number, unless `strict` (the gold is a measure: its unit is part of the answer), where
    the units must be the same or convertible."""
    a, b = predicted.in_base_unit(), gold.in_base_unit()
    if a is not None and b is not None:
        if a[0] != b[0]:
            return False
        p, g = a[1], b[1]
    elif strict and (predicted.unit is None or predicted.unit.lower() != (gold.unit or "").lower()):
        return False
    else:
        if predicted.unit in _STRICT_UNITS and gold.unit in _STRICT_UNITS and predicted.unit != gold.unit:
            return False  # 40% is not $40
        p, g = predicted.value, gold.value
    if g == 0:
        return abs(p) <= tolerance
    return abs(p - g) <= tolerance * abs(g) + 1e-12


# --- durations and measures -------------------------------------------------------------------------------

_TIME_UNITS = {"h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0, "m": 60.0,
               "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0, "s": 1.0, "sec": 1.0, "secs": 1.0,
               "second": 1.0, "seconds": 1.0}
_CLOCK = re.compile(r"(?<![\d:.,])(?P<a>\d{1,3}):(?P<b>[0-5]\d)(?::(?P<c>[0-5]\d))?(?![\d:])"
                    r"(?!\s*(?:am|pm|a\.m|p\.m|utc|gmt)\b)", re.IGNORECASE)
_TIME_PART = r"(?P<n{i}>\d+(?:\.\d+)?)\s*(?P<u{i}>" + "|".join(sorted(_TIME_UNITS, key=len, reverse=True)) + r")\.?(?![\w/²])"
_DURATION = re.compile(r"(?<![\w.,])" + _TIME_PART.format(i=0) + "".join(
    r"(?:\s*(?:,|and|&)?\s*" + _TIME_PART.format(i=i) + ")?" for i in (1, 2)), re.IGNORECASE)
# what a gold of each measured kind is, in the judge's reasons
MEASURE_NOUNS = {"duration": "a length of time", "money": "an amount of money", "percent": "a percentage",
                 "quantity": "a measured quantity"}


def find_durations(text: str) -> list[float]:
    """Every length of time in `text`, in seconds, in order: "3:12" -> 192, "1:37:00" -> 5820, "3 minutes
    12 seconds", "3 min 12 s", "four minutes" -> 240, "1 h 37 min". A bare number is no length, nor is
    "4 m" (metres) or a time of day ("4:00 pm")."""
    text = words_to_digits(unicodedata.normalize("NFKC", text or ""))
    found: list[tuple[int, float]] = []
    taken: list[tuple[int, int]] = []
    for match in _CLOCK.finditer(text):
        a, b, c = int(match.group("a")), int(match.group("b")), match.group("c")
        found.append((match.start(), a * 3600.0 + b * 60 + int(c) if c is not None else a * 60.0 + b))
        taken.append(match.span())
    for match in _DURATION.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        parts = [(float(match.group(f"n{i}")), match.group(f"u{i}").lower()) for i in range(3) if match.group(f"n{i}")]
        if len(parts) == 1 and parts[0][1] == "m":
            continue  # "4 m" is a height
        if len({_TIME_UNITS[u] for _, u in parts}) < len(parts):
            continue  # "3 min 2 minutes" is no one length
        found.append((match.start(), sum(n * _TIME_UNITS[u] for n, u in parts)))
    return [seconds for _, seconds in sorted(found)]


def measure_kind(gold: str) -> str | None:
    """What a gold answer measures when it is written with its unit or format: "duration" ("3:12", "3 minutes
    12 seconds"), "money" ("$2 million"), "percent" ("45%") or "quantity" ("2,317 m"); None for a plain
    number or a count ("12,400", "24 episodes"), whose bare number is the answer."""
    text = " ".join(unicodedata.normalize("NFKC", gold or "").split())
    durations = find_durations(text)
    if len(durations) == 1 and not re.sub(r"[\d:.,\s]+|\b(?:" + "|".join(_TIME_UNITS) + r")\b|\band\b", "",
                                          words_to_digits(text), flags=re.IGNORECASE).strip():
        return "duration"
    value = parse_number(text)
    if value is not None and value.kind in ("money", "percent", "quantity") and value.surface == text:
        return value.kind
    return None


_UNIT_SPELLINGS: dict[str, set[str]] = {}
for _word, _canonical in (*UNIT_NAMES.items(), *_EXTRA_UNIT_NAMES.items()):
    _UNIT_SPELLINGS.setdefault(_canonical.lower(), set()).add(_word)
_UNIT_SPELLINGS["%"] |= {"percentage", "per cent", "%"}


def unit_in_question(question: str, unit: str | None) -> bool:
    """Whether the question itself names the gold's unit ("How many metres ...", "What percentage ..."), so
    a bare number answers it."""
    if not unit or not question:
        return False
    spellings = _UNIT_SPELLINGS.get(unit.lower(), set()) | ({unit.lower()} if len(unit) > 1 else set())
    folded = f" {fold(question)} "
    return ("%" in question and unit == "%") or any(f" {fold(s)} " in folded for s in spellings if fold(s))


def duration_unit_in_question(question: str) -> float | None:
    """Seconds per unit when the question asks in one unit of time ("How many minutes long ...")."""
    named = {_TIME_UNITS[w] for w in fold(question).split() if w in _TIME_UNITS and len(w) > 2}
    return named.pop() if len(named) == 1 else None


# --- dates --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateValue:
    year: int
    month: int | None = None
    day: int | None = None

    @property
    def granularity(self) -> str:
        return "day" if self.day is not None else "month" if self.month is not None else "year"

    def __str__(self) -> str:
        parts = [f"{self.year:04d}"] + [f"{p:02d}" for p in (self.month, self.day) if p is not None]
        return "-".join(parts)


_YEAR = re.compile(r"(?<![\w.,:/$€£])(?P<y>\d{4})(?P<decade>s|'s)?(?![\w%°]|[.,:/]\d)")
_SHORT_YEAR = re.compile(r"^\s*(?:(?:in|year)\s+)?(?P<y>\d{3})\s*(?:AD|CE)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FoundDates:
    dates: list[DateValue]
    decades: list[int]  # "1890s": a decade is never a date


def find_date_values(text: str) -> FoundDates:
    """The dates (full, month and year) and bare years in `text`, in order; a year inside a date is not
    counted again, and "the 1890s" is a decade, not the year 1890."""
    text = unicodedata.normalize("NFKC", text or "")
    values: list[tuple[int, DateValue]] = []
    taken: list[tuple[int, int]] = []
    for found in find_dates(text):
        parts = [int(p) for p in found.normalized.split("-")]
        values.append((found.start, DateValue(*parts)))
        taken.append((found.start, found.end))
    decades: list[int] = []
    for match in _YEAR.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        if match.group("decade"):
            decades.append(int(match.group("y")))
        else:
            values.append((match.start(), DateValue(int(match.group("y")))))
    short = _SHORT_YEAR.match(text)
    if short and not values:
        values.append((short.start("y"), DateValue(int(short.group("y")))))
    return FoundDates([v for _, v in sorted(values, key=lambda item: item[0])], decades)


def date_accepts(gold: DateValue, predicted: DateValue) -> bool:
    """At the gold's granularity: a gold year takes any date in that year, a gold month needs year and
    month, a gold day the same day."""
    if predicted.year != gold.year:
        return False
    if gold.month is None:
        return True
    if predicted.month != gold.month:
        return False
    return gold.day is None or predicted.day == gold.day


def coarser(gold: DateValue, predicted: DateValue) -> bool:
    """Whether `predicted` agrees with `gold` as far as it goes but stops short of the gold's granularity."""
    order = ("year", "month", "day")
    if order.index(predicted.granularity) >= order.index(gold.granularity):
        return False
    return predicted.year == gold.year and (predicted.month is None or predicted.month == gold.month)
