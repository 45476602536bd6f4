"""Typed values from the text of an infobox row or a table cell.

Every value keeps its surface form (the text as written, footnotes and parentheticals aside), a
normalized form, a unit and a kind, plus what qualifies it when that is written ("c.", "(aged 66)",
"(2019 estimate)"). Kinds (storage.schemas.ATTRIBUTE lists them too):

  date         ISO 8601, partial allowed: "3 March 1891" -> 1891-03-03, "March 1891" -> 1891-03
  year         "1891" -> 1891, "44 BC" -> -0044
  span         a range of years or dates, ISO interval: "1954–1960" -> 1954/1960, "1922–24" -> 1922/1924,
               "26–28 September 1921" -> 1921-09-26/1921-09-28, "1967–present" -> 1967/..;
               decades and centuries are spans too: "1960s" -> 1960/1969, "early 1960s" -> 1960/1963
               (qualifier "early"; the decade parts are those of synth.tasks.operations.vague_date),
               "19th century" -> 1800/1899
  duration     seconds, unit "s": "3:12" -> 192, "97 minutes" -> 5820, "2h 15m" -> 8100
  money        a plain amount with an ISO currency code (or the currency's word when no code is sure):
               "$2 million" -> 2000000 USD, "£1.2 billion" -> 1200000000 GBP, "1.2 million crowns"
  percent      unit "%": "70.2%", "45 per cent"
  quantity     a number with a measurement unit: "2,317 m" -> 2317 m, "5 ft 11 in" -> 71 in, "18.2/km2"
  count        a number with the noun it counts: "12 tracks" -> 12 tracks, "4,933,210 people"
  number       a bare number where the key counts or measures something: population "12,400"
  format       a record or media format, never a number: `7"` -> 7-inch, `12" LP` -> 12-inch LP
  coordinates  "lat,lon" in decimal degrees: "41°17′S 174°27′E" -> -41.2833,174.45
  identifier   text that looks like a number: catalogue and serial numbers ("Atlantic 45-2045"), ISBN,
               OCLC, airport and calling codes; never a year, a quantity or a range. The unit names the
               scheme where one is written or implied by the key ("ISBN", "IATA").

`parse_value` returns None for text: names and titles ("25 Number Ones", "1984 (novel)"), ranks
("No. 1", "75th"), time zones ("UTC+12"), lists of percentages, and whatever it cannot read surely.

The rules are tables of patterns, not code branches. Measured alternatives (quantulum3, price-parser,
dateparser) were not adopted: none reads song lengths, record formats, catalogue numbers or spans, and
the general-purpose ones cost milliseconds per string, hours over the rows of a 100k-article dump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH = r"(?P<{name}>" + _MONTH_RE + r")\.?"
_YEAR = r"(?P<{name}>\d{{3,4}})(?!\d)"
_DASH_CHARS = "-–—‒−"
_DASH = r"\s*(?:[-–—‒−]|to|until)\s*"
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
# ranges inside one month or one year, which find_dates cannot see as two dates
_M = _MONTH_RE
_DATE_SPANS = [
    # 26–28 September 1921
    re.compile(rf"(?<!\d)(?P<d1>\d{{1,2}}){_DASH}(?P<d2>\d{{1,2}})\s+(?P<m1>{_M})\.?,?\s+(?P<y>\d{{3,4}})(?!\d)",
               re.IGNORECASE),
    # 26 September – 2 October 1921
    re.compile(rf"(?<!\d)(?P<d1>\d{{1,2}})\s+(?P<m1>{_M})\.?{_DASH}(?P<d2>\d{{1,2}})\s+(?P<m2>{_M})\.?,?\s+"
               rf"(?P<y>\d{{3,4}})(?!\d)", re.IGNORECASE),
    # September 26–28, 1921
    re.compile(rf"\b(?P<m1>{_M})\.?\s+(?P<d1>\d{{1,2}}){_DASH}(?P<d2>\d{{1,2}}),?\s+(?P<y>\d{{3,4}})(?!\d)",
               re.IGNORECASE),
    # September 26 – October 2, 1921
    re.compile(rf"\b(?P<m1>{_M})\.?\s+(?P<d1>\d{{1,2}}){_DASH}(?P<m2>{_M})\.?\s+(?P<d2>\d{{1,2}}),?\s+"
               rf"(?P<y>\d{{3,4}})(?!\d)", re.IGNORECASE),
    # May–June 1965
    re.compile(rf"\b(?P<m1>{_M})\.?{_DASH}(?P<m2>{_M})\.?,?\s+(?P<y>\d{{3,4}})(?!\d)", re.IGNORECASE),
]
_PRESENT = r"(?:present|now|today|current|ongoing)"
# 1909–1911, 1922–24, c. 1890 – c. 1895, 384–322 BC, 1967–present
_YEAR_SPAN = re.compile(
    r"(?<![\d.,:/])(?P<q>" + _APPROX + r")?(?P<a>\d{3,4})(?:\s*(?P<era1>AD|CE|BC|BCE)\b)?" + _DASH + r"(?P<q2>"
    + _APPROX + r")?(?:(?P<b>\d{2,4})(?:\s*(?P<era>AD|CE|BC|BCE)\b)?(?![\d.,:])|(?P<open>" + _PRESENT + r")\b)",
    re.IGNORECASE)
_LONE_YEAR = re.compile(r"(?<![\d.,:/°′″$€£%+-])(?P<q>" + _APPROX + r")?(?P<y>\d{1,4})(?:\s*(?P<era>AD|CE|BC|BCE)\b)?"
                        r"(?![\d.,:/°′″%]|\s*(?:km|m|kg|mi|ft|px)\b)",
                        re.IGNORECASE)
# 1960s, the early 1960s, mid-1960s
_DECADE = re.compile(r"(?:\b(?P<part>early|mid|late)[\s-]+)?(?<!\d)(?P<y>\d{3}0)'?s\b", re.IGNORECASE)
_CENTURY = re.compile(r"(?:\b(?P<part>early|mid|late)[\s-]+)?\b(?P<n>\d{1,2})(?:st|nd|rd|th)[\s-]+century"
                      r"(?:\s*(?P<era>AD|CE|BC|BCE)\b)?", re.IGNORECASE)
_DECADE_PARTS = {"early": (0, 3), "mid": (4, 6), "late": (7, 9), None: (0, 9)}
_CENTURY_PARTS = {"early": (0, 32), "mid": (33, 66), "late": (67, 99), None: (0, 99)}
# words that qualify the value after them: "c. 1890", "before 1200", "over 200 members"
_LEADING_QUALIFIER = re.compile(
    r"^(?P<q>(?:c|ca|circa|approx|approximately|about|around|abt|est|estimated|fl|reportedly|officially)\.?"
    r"|before|after|by|until|since|from|over|nearly|almost|some|more than|less than|at least|at most|under|"
    r"up to|upwards of|in excess of)(?=\s|$)\s*|^(?P<s>[~≈≥≤]|[<>]=?)\s*",
    re.IGNORECASE)

_DIGIT = re.compile(r"\d")
_PARENS = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_FOOTNOTE = re.compile(r"\s*\[(?:[^\[\]]{0,24})\]")
_WS = re.compile(r"\s+")
_TRAILING_PARENS = re.compile(r"^\s*\(([^()]*)\)")

# --- numbers, units and currencies --------------------------------------------------------------------

_NUM = r"\d{1,3}(?:[,\u00a0\u202f\u2009 ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_SCALES = {"thousand": 10**3, "k": 10**3, "million": 10**6, "mn": 10**6, "m": 10**6, "mil": 10**6,
           "billion": 10**9, "bn": 10**9, "b": 10**9, "trillion": 10**12, "tn": 10**12}
_SCALE_RE = r"(?:thousand|million|billion|trillion|bn|mn|mil|tn|[kmb])\b\.?"
# symbols and prefixes written before the amount, longest first
_CURRENCY_BEFORE = {
    "US$": "USD", "US $": "USD", "USD": "USD", "C$": "CAD", "CA$": "CAD", "CAD": "CAD", "A$": "AUD", "AU$": "AUD",
    "AUD": "AUD", "NZ$": "NZD", "NZD": "NZD", "HK$": "HKD", "HKD": "HKD", "S$": "SGD", "SGD": "SGD", "R$": "BRL",
    "Mex$": "MXN", "$": "USD", "£": "GBP", "GBP": "GBP", "€": "EUR", "EUR": "EUR", "¥": "JPY", "JP¥": "JPY",
    "JPY": "JPY", "CN¥": "CNY", "CNY": "CNY", "RMB": "CNY", "₹": "INR", "INR": "INR", "Rs.": "INR", "Rs": "INR",
    "₩": "KRW", "₽": "RUB", "₺": "TRY", "₱": "PHP", "₪": "ILS", "CHF": "CHF", "Fr.": "CHF", "DM": "DEM", "ƒ": "NLG",
}
# currency words and codes written after the amount; None keeps the word (a crown, a franc or a rupee of
# which country the text does not say)
_CURRENCY_AFTER = {
    "usd": "USD", "us dollars": "USD", "dollars": "USD", "eur": "EUR", "euros": "EUR", "euro": "EUR",
    "gbp": "GBP", "pounds sterling": "GBP", "sterling": "GBP", "jpy": "JPY", "yen": "JPY", "cny": "CNY",
    "yuan": "CNY", "renminbi": "CNY", "chf": "CHF", "swiss francs": "CHF", "inr": "INR", "indian rupees": "INR",
    "cad": "CAD", "aud": "AUD", "nzd": "NZD", "sek": "SEK", "nok": "NOK", "dkk": "DKK", "rub": "RUB",
    "roubles": "RUB", "rubles": "RUB", "won": "KRW", "baht": "THB", "rand": "ZAR", "złoty": "PLN", "zloty": "PLN",
    "crowns": None, "kronor": None, "kroner": None, "krona": None, "krone": None, "francs": None, "marks": None,
    "lire": None, "lira": None, "pesos": None, "rupees": None, "guilders": None, "shillings": None, "ducats": None,
    "florins": None, "dinars": None, "reais": "BRL", "forint": "HUF", "lei": "RON", "escudos": None,
    "pesetas": "ESP", "drachmas": "GRD", "talents": None, "livres": None, "thalers": None,
}
_CURRENCY_BEFORE_RE = "|".join(re.escape(s) for s in sorted(_CURRENCY_BEFORE, key=len, reverse=True))
_CURRENCY_AFTER_RE = "|".join(re.escape(s) for s in sorted(_CURRENCY_AFTER, key=len, reverse=True))

# an amount: qualifier, currency, sign, digits, scale, and what follows
_AMOUNT = re.compile(
    r"^(?P<cur>(?-i:" + _CURRENCY_BEFORE_RE + r"))?\s*(?P<sign>[-−+])?(?P<num>" + _NUM + r")"
    r"(?:\s*(?P<scale>" + _SCALE_RE + r"))?(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL)

UNIT_NAMES = {
    "metres": "m", "meters": "m", "metre": "m", "meter": "m", "kilometres": "km", "kilometers": "km",
    "kilometre": "km", "kilometer": "km", "km²": "km2", "m²": "m2", "square kilometres": "km2",
    "square kilometers": "km2", "sq km": "km2", "sqkm": "km2", "square miles": "sq mi", "sq. mi": "sq mi",
    "sqmi": "sq mi", "feet": "ft", "foot": "ft", "miles": "mi", "mile": "mi", "minutes": "min",
    "minute": "min", "mins": "min", "hours": "h", "hour": "h", "hrs": "h", "seconds": "s",
    "kilograms": "kg", "kilogram": "kg", "tonnes": "t", "tons": "t", "percent": "%", "per cent": "%",
    "inhabitants": "people", "residents": "people", "persons": "people",
}
# measurement units: written form (folded) -> canonical
_MEASURES = {
    **{k: v for k, v in UNIT_NAMES.items() if v not in ("min", "h", "s", "%", "people")},
    "m": "m", "km": "km", "cm": "cm", "mm": "mm", "mi": "mi", "ft": "ft", "in": "in", "inches": "in", "inch": "in",
    "yd": "yd", "yards": "yd", "km2": "km2", "km 2": "km2", "m2": "m2", "m 2": "m2", "sq mi": "sq mi",
    "sq. mi.": "sq mi", "sq ft": "sq ft", "square feet": "sq ft", "ha": "ha", "hectares": "ha", "acres": "acres",
    "acre": "acres", "kg": "kg", "g": "g", "t": "t", "lb": "lb", "lbs": "lb", "pounds": "lb", "st": "st",
    "oz": "oz", "grt": "GRT", "gt": "GT", "long tons": "long tons", "dwt": "DWT", "l": "L", "litres": "L",
    "liters": "L", "ml": "mL", "m3": "m3", "m³": "m3", "km3": "km3", "km³": "km3", "cu ft": "cu ft",
    "w": "W", "kw": "kW", "mw": "MW", "gw": "GW", "kwh": "kWh", "gwh": "GWh", "twh": "TWh", "hp": "hp",
    "bhp": "hp", "ps": "PS", "mph": "mph", "km/h": "km/h", "kph": "km/h", "knots": "kn", "kn": "kn", "kt": "kn",
    "m/s": "m/s", "°c": "°C", "°f": "°F", "k": "K", "db": "dB", "hz": "Hz", "khz": "kHz", "mhz": "MHz",
    "ghz": "GHz", "au": "AU", "ly": "ly", "pc": "pc", "nmi": "nmi", "v": "V", "kv": "kV", "mah": "mAh",
    "/km2": "/km2", "/km 2": "/km2", "/km²": "/km2", "/sq mi": "/sq mi", "/sq. mi": "/sq mi", "/mi2": "/sq mi",
    "per km2": "/km2", "per square kilometre": "/km2", "per square mile": "/sq mi",
}
_MEASURE_RE = "|".join(re.escape(u) for u in sorted(_MEASURES, key=len, reverse=True))
_MEASURE_AT = re.compile(r"^\s*(?P<u>" + _MEASURE_RE + r")(?![\w/])", re.IGNORECASE)
_FEET_INCHES = re.compile(r"^(?P<ft>\d{1,2})\s*(?:ft|feet|foot|′|')\s*(?P<in>\d{1,2}(?:\.\d+)?)\s*(?:in|inches|″|\")?"
                          r"(?![\w])", re.IGNORECASE)
_PERCENT_AT = re.compile(r"^\s*(?:%|per\s*cent\b|percent\b|pc\b)", re.IGNORECASE)
# a count's noun: a lower-case word ("12 tracks", "3 children")
_NOUN_AT = re.compile(r"^\s+(?P<n>[a-z][a-z'-]{1,24})(?=$|[\s,;:.)(·/])")
# a name or title that starts with a number: "25 Number Ones", "101 Dalmatians"
_TITLE_AT = re.compile(r"^\s+[A-Z][a-z]")
# words after a number that are not what it counts
_NOT_NOUNS = frozenset({
    "in", "of", "and", "or", "the", "a", "an", "to", "from", "at", "on", "for", "by", "with", "as", "is", "was",
    "ad", "ce", "bc", "bce", "st", "nd", "rd", "th", "very", "high", "low", "medium", "est", "approx", "ca",
    "circa", "about", "per", "x", "times", "total", "including", "plus", "excluding", "inc", "incl", "vs",
    "out", "each", "only", "more", "less", "over", "under", "up", "new", "old", "first", "last", "see",
})
_COUNT_NOUNS = {"inhabitants": "people", "residents": "people", "persons": "people", "person": "people"}
# a four-digit number before one of these is a year: "2018 estimate", "2011 census"
_YEAR_NOUNS = frozenset({"estimate", "estimates", "est", "census", "season", "figures", "data", "survey",
                         "edition", "model", "election", "revision"})

# --- durations ----------------------------------------------------------------------------------------

_CLOCK = re.compile(r"^(?P<a>\d{1,3}):(?P<b>[0-5]\d)(?::(?P<c>[0-5]\d))?(?:\.\d+)?"
                    r"(?!\d|\s*(?:am|pm|a\.m|p\.m|utc|gmt|[a-z]{1,2}st|[a-z]{1,2}dt|local|hrs\b|h\b))",
                    re.IGNORECASE)
_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
    "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
    "days": 86400, "wk": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_PART = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<u>" + "|".join(sorted(_DURATION_UNITS, key=len, reverse=True)) + r")\.?(?![\w/²])",
    re.IGNORECASE)
_DURATION_JOIN = re.compile(r"\s*(?:,|and|&)?\s*", re.IGNORECASE)
# "m" alone is a minute only inside a compound ("2h 15m"); "46 m" is metres
_AMBIGUOUS_DURATION = frozenset({"m", "d", "s"})

# --- formats, identifiers, coordinates ---------------------------------------------------------------

# record and media formats: pattern -> normalized spelling (a backreference keeps the size)
_FORMAT_SIZES = [
    (re.compile(r"(?<![\d.′'])(?P<n>3|5|7|8|10|12|16)\s*(?:\"|″|”|“|-inch|\s?inch(?:es)?)(?!\w)", re.IGNORECASE),
     r"\g<n>-inch"),
    (re.compile(r"(?<![\d.])(?P<n>16|33(?:\s*[⅓1/3]+)?|45|78)\s*(?:rpm|r\.p\.m\.)(?!\w)", re.IGNORECASE),
     r"\g<n> rpm"),
]
_FORMAT_WORDS = re.compile(
    r"\b(?:CD|CDs|compact disc|CD single|maxi[- ]single|single|singles|LP|LPs|EP|EPs|vinyl|cassette|cassettes|"
    r"cassette single|cassingle|digital download|download|streaming|shellac|8-track|eight-track|"
    r"DVD|Blu-ray|VHS|MiniDisc|mini disc|reel-to-reel|picture disc|acetate|digital|flexi-disc|record|records|"
    r"phonograph|gramophone|4-track|SACD|HD DVD|LaserDisc|box set)\b",
    re.IGNORECASE)
_FORMAT_FILLER = re.compile(r"^[\s,;/&+•·|()-]*(?:(?:and|or|on|single|album|format|formats)[\s,;/&+•·|()-]*)*$",
                            re.IGNORECASE)
_FORMAT_KEYS = re.compile(r"\b(?:formats?|media|medium)\b", re.IGNORECASE)
_LENGTH_KEYS = re.compile(r"\b(?:length|duration|running ?time|runtime|run time|playing time|time|lengths)\b",
                          re.IGNORECASE)
_NOT_DURATION_KEYS = re.compile(r"\b(?:score|result|ratio|aspect|record|odds|verse|bible)\b", re.IGNORECASE)

# keys whose values are identifiers, however much they look like numbers
_IDENTIFIER_KEYS = re.compile(
    r"\b(?:cat(?:alog(?:ue)?)?\.?\s*(?:no|nos|number|#)|catalog(?:ue)?s?|matrix|isbn|issn|eissn|lccn|oclc|doi|"
    r"asin|upc|ean|isrc|iswc|codes?|serial|registration|reg|call ?sign|callsign|postal|post ?code|postcode|zip|"
    r"iata|icao|faa|iso|fips|gnis|dewey|congress|lc class|id|ids|identifier|licen[cs]e|imo|mmsi|pennant|hull|"
    r"patent|designation|opus|op|bwv|k|hob|cospar|satcat|norad|nssdc|omim|mesh|icd|diseasesdb|medlineplus|"
    r"emedicine|cas|pubchem|chemspider|unii|atc|glottolog|glotto|iso 639|nrhp reference|refnum|website)\b",
    re.IGNORECASE)
_NUMBER_KEY = re.compile(r"^(?!number of\b).*\b(?:number|no\.?|nr)$", re.IGNORECASE)
_SCHEMES = {"isbn": "ISBN", "issn": "ISSN", "eissn": "ISSN", "lccn": "LCCN", "oclc": "OCLC", "doi": "DOI",
            "iata": "IATA", "icao": "ICAO", "faa": "FAA", "asin": "ASIN", "upc": "UPC", "isrc": "ISRC",
            "imo": "IMO", "bwv": "BWV", "opus": "Op.", "op": "Op."}
_SCHEME_PREFIX = re.compile(r"^(?P<s>ISBN(?:-1[03])?|ISSN|eISSN|LCCN|OCLC|DOI|IATA|ICAO|FAA|ASIN|UPC|ISRC|IMO|"
                            r"BWV|Op\.|K\.|Hob\.)\s*:?\s*(?P<code>\S.*)$")
# labels whose name followed by a number is a catalogue number ("Atlantic 8025") under any key
_RECORD_LABELS = (
    "Atlantic", "Atco", "Columbia", "Capitol", "Decca", "Parlophone", "RCA Victor", "RCA", "Victor", "Motown",
    "Tamla", "Gordy", "Stax", "Volt", "Chess", "Checker", "Mercury", "Epic", "Elektra", "Warner Bros.",
    "Reprise", "A&M", "Island", "Virgin", "EMI", "CBS", "Polydor", "Philips", "Brunswick", "Okeh", "OKeh",
    "Vocalion", "Sun", "Imperial", "King", "Specialty", "Liberty", "London", "Fontana", "Pye", "HMV", "Apple",
    "MCA", "Geffen", "Arista", "Sire", "Chrysalis", "Asylum", "Dot", "Coral", "Cadence", "Vee-Jay", "Swan",
    "Cameo", "Parkway", "Monument", "Dunhill", "Buddah", "Scepter", "Wand", "Minit", "Modern", "Federal",
    "Bluebird", "Gennett", "Paramount", "Savoy", "Blue Note", "Prestige", "Riverside", "Verve", "Impulse!",
    "Deram", "Immediate", "Track", "Regal Zonophone", "Columbia Graphophone", "Zonophone", "Odeon", "Vogue",
    "Philles", "Laurie", "ABC-Paramount", "ABC", "United Artists", "Kapp", "Jubilee", "Roulette", "End", "Hi",
    "Excello", "Duke", "Peacock", "Sue", "Kent", "Fantasy", "Stiff", "Rough Trade", "Factory", "Mute", "4AD",
    "Creation", "Sub Pop", "Def Jam", "Interscope", "Jive", "Tommy Boy", "Zomba", "Ariola", "Barclay",
    "Deutsche Grammophon", "Telefunken", "Electrola", "Harvest", "Vertigo", "Charisma", "Bronze", "Rocket",
)
_LABEL_NUMBER = re.compile(
    r"^(?:" + "|".join(re.escape(name) for name in sorted(_RECORD_LABELS, key=len, reverse=True)) + r")"
    r"(?:\s+Records)?\s+[A-Z]{0,5}[- ]?\d[\d-]*[A-Z]?(?:\s*/\s*\S+)?$")
# a label name and a catalogue number under a "label" key: "Columbia CL 1355", "Parlophone R 5084"
_NAMED_NUMBER = re.compile(r"^[A-Z][\w&.'!-]*(?:\s+[A-Z][\w&.'!-]*){0,3}\s+(?:[A-Z]{1,5}[- ]?)?\d[\d\s-]*[A-Z]?$")
_LABEL_KEYS = re.compile(r"^(?:label|labels|record label|record labels)$", re.IGNORECASE)
# codes by their shape: "SP-1234", "LC-39A", "D000028", "+64"
_CODE_SHAPES = [
    re.compile(r"^[A-Z]{1,5}[- ]?\d{2,}[A-Z]?(?:[-/]\d+)?$"),
    re.compile(r"^\+\d{1,4}(?:[- ]\d+)*$"),
    re.compile(r"^\d{1,6}[A-Z]{1,3}$"),  # 1968-118A-like tails, "10A"
]
_UTC_OFFSET = re.compile(r"\b(?:UTC|GMT)\s*[+−-]\s*\d")
_OFFSET_KEYS = re.compile(r"\b(?:utc|time ?zone|timezone|offset|dst)\b", re.IGNORECASE)

_DEG = r"(?P<{p}d>\d{{1,3}}(?:\.\d+)?)\s*°\s*(?:(?P<{p}m>\d{{1,2}}(?:\.\d+)?)\s*[′']\s*)?" \
       r"(?:(?P<{p}s>\d{{1,2}}(?:\.\d+)?)\s*(?:″|\"|′′|'')\s*)?(?P<{p}h>[NSEW])\b"
_COORDINATES = re.compile(r"^(?:coordinates\s*:?\s*)?" + _DEG.format(p="a") + r"[\s,;/]*" + _DEG.format(p="b"),
                          re.IGNORECASE)
_DECIMAL_PAIR = re.compile(r"^(?P<a>-?\d{1,2}\.\d+)\s*[;,]\s*(?P<b>-?\d{1,3}\.\d+)$")
_COORDINATE_KEYS = re.compile(r"\b(?:coordinates|coords|location|position|latlong)\b", re.IGNORECASE)
_ANY_DEGREES = re.compile(r"\d\s*°\s*(?:\d{1,2}\s*[′'])?\s*(?:\d{1,2}\s*[″\"])?\s*[NS]\b")

# "No. 1", "#3", "75th": positions in an order, not amounts
_RANK = re.compile(r"^(?:(?:No\.?|Nr\.?|#)\s*'*\d+|\d+(?:st|nd|rd|th))(?!\s*(?:century|centuries)\b)\b",
                   re.IGNORECASE)
# a number in a parenthesis disambiguating a title: "1984 (novel)", "25 (Adele album)"
_TITLE_PARENS = re.compile(
    r"\((?:[\w .'-]+\s)?(?:novel|film|song|album|single|book|poem|play|band|TV series|series|magazine|newspaper|"
    r"opera|musical|EP|video game|game|painting|sculpture|symphony|soundtrack|miniseries|short story|comics?|"
    r"manga|anime|franchise|ship|aircraft|group|duo)\)", re.IGNORECASE)
# keys whose values are names or titles, never amounts
_NAME_KEYS = re.compile(
    r"^(?:name|names|title|titles|album|albums|from the album|single|singles|preceded by|followed by|next|"
    r"previous|prev|last single|next single|this single|last album|next album|this album|notable works?|"
    r"known for|works|series|franchise|based on|b-side|a-side|genre|genres|motto|nickname|nicknames|"
    r"ship name|namesake|successor|predecessor|also known as|other names|native name)$", re.IGNORECASE)

# keys whose bare four-digit numbers are counts, not years
_COUNT_KEYS = re.compile(
    r"population|students|members|employees|staff|pages|crew|visitors|attendance|circulation|capacity|"
    r"seats|volumes|height|length|area|elevation|depth|altitude|size|number|count|total|deaths|casualties|"
    r"tonnage|weight|width|distance|speed|magnitude|runtime|running time|duration|budget|gross|revenue|price|"
    r"density|gdp|income|wealth|assets|equity|profit|sales|units|copies|streams|views|subscribers|"
    r"enrollment|enrolment|pupils|faculty|troops|strength|personnel|strength|losses|wounded|injured|"
    r"missing|prisoners|votes|turnout|matches|goals|caps|apps|appearances|wins|losses|titles|points|elev|pop\b",
    re.IGNORECASE)
# ... unless the key names a year or date: "population census year", "gdp year"
_YEAR_KEYS = re.compile(r"(?:^|[\s_])(?:years?|dates?|as of|since|established|founded|built|opened)(?:$|[\s_])",
                        re.IGNORECASE)
_PERCENT_KEYS = re.compile(r"%|\bper ?cent|\bpercentage|\bpc ?water|\bpercent", re.IGNORECASE)
# parentheticals that restate the value in other units, or rank it: not qualifiers
_CONVERSION = re.compile(r"^(?:[~≈]\s*)?(?:" + _CURRENCY_BEFORE_RE + r")?\s*[\d.,]+\s*(?:" + _SCALE_RE + r")?\s*"
                         r"(?:" + _MEASURE_RE + r"|" + _CURRENCY_AFTER_RE + r"|ft\s*\d+\s*in|%)(?:\s|$|[;,)])",
                         re.IGNORECASE)
_RANK_ONLY = re.compile(r"^(?:rank(?:ed)?:?\s*)?\d+(?:st|nd|rd|th)(?: (?:in|of) .*)?$|^rank(?:ed)?:?\s*\d+$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Value:
    kind: str  # see the module docstring
    normalized: str
    unit: str | None = None
    start: int = 0  # where the value sits in the text it was read from
    end: int = 0
    surface: str = ""  # the value as written: "3:12", "$2 million", "c. 1890"
    qualifier: str | None = None  # "c.", "(aged 66)", "(2019 estimate)", "early"


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
            found.append(Value("date", iso, None, match.start(), match.end(), match.group(0)))
    return sorted(found, key=lambda v: v.start)


def _signed_year(year: int, era: str | None) -> str:
    return f"-{year:04d}" if (era or "").upper() in ("BC", "BCE") else f"{year:04d}"


def _approx(match: re.Match[str], group: str = "q") -> str | None:
    written = match.group(group)
    return written.strip() if written else None


def find_year(text: str) -> Value | None:
    """The first year or span of years in `text`: "c. 1890" -> year 1890 (qualifier "c."), "1909–1911"
    -> span 1909/1911, "1922–24" -> 1922/1924, "384–322 BC" -> -0384/-0322, "1967–present" -> 1967/..."""
    span = _YEAR_SPAN.search(text)
    lone = _LONE_YEAR.search(text)
    if span and (lone is None or span.start() <= lone.start()):
        first, second = span.group("a"), span.group("b")
        era = span.group("era") or span.group("era1")
        surface = span.group(0).strip()
        if span.group("open"):
            return Value("span", f"{_signed_year(int(first), era)}/..", None, span.start(), span.end(), surface,
                         _approx(span))
        assert second is not None
        if len(second) < len(first):  # 1922–24
            second = first[: len(first) - len(second)] + second
        a, b = int(first), int(second)
        bc = (era or "").upper() in ("BC", "BCE")
        if (a > b if bc else b > a) and abs(b - a) < 1000:
            return Value("span", f"{_signed_year(a, era)}/{_signed_year(b, era)}", None, span.start(), span.end(),
                         surface, _approx(span))
    if lone:
        era = lone.group("era")
        year = int(lone.group("y"))
        # a number of one or two digits is a year only with its era ("44 BC")
        if year == 0 or (len(lone.group("y")) < 3 and not era):
            return None
        return Value("year", _signed_year(year, era), None, lone.start(), lone.end(), lone.group(0).strip(),
                     _approx(lone))
    return None


def _period(text: str) -> Value | None:
    """A decade or century as a span: "1960s" -> 1960/1969, "the early 1960s" -> 1960/1963,
    "19th century" -> 1800/1899."""
    match = _DECADE.search(text)
    if match:
        part = (match.group("part") or "").lower() or None
        decade = int(match.group("y"))
        lo, hi = _DECADE_PARTS[part]
        return Value("span", f"{decade + lo:04d}/{decade + hi:04d}", None, match.start(), match.end(),
                     match.group(0), part)
    match = _CENTURY.search(text)
    if match and 1 <= int(match.group("n")) <= 21:
        part = (match.group("part") or "").lower() or None
        start = (int(match.group("n")) - 1) * 100
        lo, hi = _CENTURY_PARTS[part]
        era = match.group("era")
        if (era or "").upper() in ("BC", "BCE"):
            first, last = start + 99 - lo, start + 99 - hi
            if first == 0 or last == 0:
                return None
            return Value("span", f"{_signed_year(first, era)}/{_signed_year(max(last, 1), era)}", None,
                         match.start(), match.end(), match.group(0), part)
        return Value("span", f"{max(start + lo, 1):04d}/{start + hi:04d}", None, match.start(), match.end(),
                     match.group(0), part)
    return None


def _date_span(text: str) -> Value | None:
    """A range of dates: "26–28 September 1921", "3 March 1891 – 12 June 1957", "4 March 1861 – present"."""
    for pattern in _DATE_SPANS:
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groupdict()
        year = int(groups["y"])
        m1 = _month(groups["m1"])
        m2 = _month(groups["m2"]) if groups.get("m2") else m1
        d1 = int(groups["d1"]) if groups.get("d1") else None
        d2 = int(groups["d2"]) if groups.get("d2") else None
        first, last = _iso(year, m1, d1), _iso(year, m2, d2)
        if first and last and first < last:
            return Value("span", f"{first}/{last}", None, match.start(), match.end(), match.group(0))
    dates = find_dates(text)
    if len(dates) >= 2 and re.fullmatch(_DASH, text[dates[0].end: dates[1].start]) \
            and dates[0].normalized < dates[1].normalized:
        return Value("span", f"{dates[0].normalized}/{dates[1].normalized}", None, dates[0].start, dates[1].end,
                     text[dates[0].start: dates[1].end])
    if dates:
        tail = re.match(_DASH + _PRESENT + r"\b", text[dates[0].end:], re.IGNORECASE)
        if tail:
            end = dates[0].end + tail.end()
            return Value("span", f"{dates[0].normalized}/..", None, dates[0].start, end, text[dates[0].start: end])
    return None


def parse_date(text: str) -> Value | None:
    """The first date in `text`, else its first year (or span of years); None when there is none."""
    dates = find_dates(text)
    if dates:
        return dates[0]
    return find_year(text)


def _plain_number(value: float) -> str:
    # 17.15 * 10**9 is 17149999999.999998 in binary floating point: a scaled amount is whole when it is
    # whole to the precision it was written with
    rounded = round(value)
    if abs(value - rounded) <= 1e-9 * max(1.0, abs(value)) and abs(value) < 1e18:
        return str(int(rounded))
    return f"{value:.10g}"


def _digits(number: str) -> float:
    return float(re.sub(r"[,\u00a0\u202f\u2009 ]", "", number))


def _duration(text: str, key: str) -> Value | None:
    """"3:12" -> 192 s, "1:02:45", "4 min 30 s", "97 minutes", "2h 15m", "6 days, 3 hours, 42 minutes"."""
    clock = _CLOCK.match(text)
    if clock and not _NOT_DURATION_KEYS.search(key):
        a, b, c = int(clock.group("a")), int(clock.group("b")), clock.group("c")
        seconds = a * 3600 + b * 60 + int(c) if c is not None else a * 60 + b
        return Value("duration", str(seconds), "s", 0, clock.end(), clock.group(0))
    total = 0.0
    at = 0
    parts = 0
    units: list[str] = []
    while True:
        join = _DURATION_JOIN.match(text, at) if parts else None
        start = join.end() if join else at
        part = _DURATION_PART.match(text, start)
        if not part:
            break
        unit = part.group("u").lower()
        total += float(part.group("n")) * _DURATION_UNITS[unit]
        units.append(unit)
        at = part.end()
        parts += 1
    if not parts:
        return None
    if parts == 1 and units[0] in _AMBIGUOUS_DURATION:
        return None  # "46 m" is a height, "3 s" too short to be sure of
    if len(set(units)) < len(units):
        return None
    return Value("duration", _plain_number(round(total, 3)), "s", 0, at, text[:at])


def _format(text: str, key: str) -> Value | None:
    """A record or media format: `7"` -> 7-inch, `12" LP` -> 12-inch LP, "CD single", "45 rpm"."""
    if "ft" in text or "′" in text:
        return None
    normalized = text
    sized = False
    for pattern, spelling in _FORMAT_SIZES:
        normalized, n = pattern.subn(spelling, normalized)
        sized = sized or n > 0
    if not sized:
        if not _FORMAT_KEYS.search(key):
            return None
        if not _FORMAT_WORDS.search(text) or not _FORMAT_FILLER.match(_FORMAT_WORDS.sub(" ", text)):
            return None
    else:
        rest = _FORMAT_WORDS.sub(" ", re.sub(r"\d+-inch|\d+(?:\s*[⅓1/3]+)? rpm", " ", normalized))
        if not _FORMAT_FILLER.match(rest):
            return None
    return Value("format", _WS.sub(" ", normalized).strip(" ,;"), None, 0, len(text), text)


def _coordinate(degrees: str, minutes: str | None, seconds: str | None, hemisphere: str) -> float:
    value = float(degrees) + float(minutes or 0) / 60 + float(seconds or 0) / 3600
    return -value if hemisphere.upper() in ("S", "W") else value


def _coord_text(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _coordinates(text: str, key: str) -> Value | None:
    match = _COORDINATES.match(text)
    if match:
        h1, h2 = match.group("ah").upper(), match.group("bh").upper()
        if h1 in "NS" and h2 in "EW":
            lat = _coordinate(match.group("ad"), match.group("am"), match.group("as"), h1)
            lon = _coordinate(match.group("bd"), match.group("bm"), match.group("bs"), h2)
            if abs(lat) <= 90 and abs(lon) <= 180:
                return Value("coordinates", f"{_coord_text(lat)},{_coord_text(lon)}", None, 0, match.end(),
                             match.group(0).strip())
    pair = _DECIMAL_PAIR.match(text)
    if pair and _COORDINATE_KEYS.search(key):
        lat, lon = float(pair.group("a")), float(pair.group("b"))
        if abs(lat) <= 90 and abs(lon) <= 180:
            return Value("coordinates", f"{_coord_text(lat)},{_coord_text(lon)}", None, 0, pair.end(), text)
    return None


def _identifier(text: str, key: str) -> Value | None:
    """Catalogue and serial numbers, ISBNs, codes: text that looks like a number but is a name."""
    scheme = _SCHEME_PREFIX.match(text)
    if scheme:
        name = scheme.group("s").rstrip(".").upper()
        unit = "ISBN" if name.startswith("ISBN") else _SCHEMES.get(name.lower(), scheme.group("s"))
        return Value("identifier", scheme.group("code").strip(), unit, 0, len(text), text)
    spaced = key.replace("_", " ")
    by_key = _IDENTIFIER_KEYS.search(spaced) is not None or _NUMBER_KEY.search(spaced) is not None
    if _LABEL_KEYS.match(spaced):
        by_key = _NAMED_NUMBER.match(text) is not None
    if by_key or _LABEL_NUMBER.match(text) or any(shape.match(text) for shape in _CODE_SHAPES):
        words = set(re.findall(r"[a-z]+", spaced.lower()))
        unit = next((_SCHEMES[w] for w in words if w in _SCHEMES), None)
        return Value("identifier", _WS.sub(" ", text).strip(), unit, 0, len(text), text)
    return None


def parse_number(text: str) -> Value | None:
    """A number at the start of `text`, typed by what follows it: "2,317 m" -> quantity 2317 m,
    "$199 billion" -> money 199000000000 USD, "1.2 million crowns" -> money 1200000 crowns, "70.2%" ->
    percent, "12 tracks" -> count, "12,400" -> number; None otherwise."""
    return _amount(text.strip(), "")


def _amount(text: str, key: str) -> Value | None:
    lead = _LEADING_QUALIFIER.match(text)
    qualifier = (lead.group("q") or lead.group("s")) if lead else None
    body = text[lead.end():] if lead else text
    offset = len(text) - len(body)

    def typed(kind: str, number: float, unit: str | None, end: int) -> Value:
        return Value(kind, _plain_number(number), unit, offset, offset + end, body[:end].strip(), qualifier)

    feet = _FEET_INCHES.match(body)
    if feet:
        return typed("quantity", int(feet.group("ft")) * 12 + float(feet.group("in")), "in", feet.end())
    match = _AMOUNT.match(body)
    if not match:
        return None
    number = _digits(match.group("num"))
    if match.group("sign") in ("-", "−"):
        number = -number
    scale = (match.group("scale") or "").lower().rstrip(".")
    rest_at = match.start("rest")
    currency = match.group("cur")
    unit_after = re.match(r"^\s*(?P<c>" + _CURRENCY_AFTER_RE + r")\b", match.group("rest"), re.IGNORECASE)
    if scale in ("m", "b", "k") and not (currency or unit_after):
        scale = ""  # "46 m" is metres, not millions
        rest_at = match.start("scale")
        unit_after = None
    if scale:
        number *= _SCALES[scale]
    rest = body[rest_at:]
    if currency or unit_after:
        code = _CURRENCY_BEFORE.get(currency or "")
        end = rest_at
        if unit_after:
            word = unit_after.group("c").lower()
            code = _CURRENCY_AFTER.get(word) or word
            end += unit_after.end()
        return typed("money", number, code, end)
    percent = _PERCENT_AT.match(rest)
    if percent:
        return typed("percent", number, "%", rest_at + percent.end())
    measure = _MEASURE_AT.match(rest)
    if measure:
        written = _WS.sub(" ", measure.group("u").lower()).replace("²", "2")
        return typed("quantity", number, _MEASURES.get(written, measure.group("u")), rest_at + measure.end())
    noun = _NOUN_AT.match(rest)
    if noun and float(number).is_integer() and noun.group("n") not in _NOT_NOUNS and _month(noun.group("n")) is None:
        word = noun.group("n")
        return typed("count", number, _COUNT_NOUNS.get(word, word), rest_at + noun.end())
    return typed("number", number, None, rest_at)


def _qualifiers(clean: str, surface: str, lead: str | None) -> str | None:
    """What qualifies a value: its leading word ("c.", "about") and the parentheses right after it that
    are not a conversion or a rank ("(aged 66)", "(2019 estimate)")."""
    found = [lead] if lead else []
    at = clean.find(surface) if surface else -1
    if at >= 0:
        rest = clean[at + len(surface):]
        while True:
            match = _TRAILING_PARENS.match(rest)
            if not match:
                break
            inner = match.group(1).strip()
            if inner and not _CONVERSION.match(inner) and not _RANK_ONLY.match(inner):
                found.append(f"({inner})")
            rest = rest[match.end():]
    return " ".join(found) or None


def _clean(text: str) -> str:
    return _WS.sub(" ", _FOOTNOTE.sub("", text.replace("\u00a0", " "))).strip()


_DIMENSIONS = re.compile(r"\d\s*(?:[a-z]{1,3}\s*)?[×x]\s*\d", re.IGNORECASE)


def parse_value(key: str, text: str) -> Value | None:
    """The typed value of one infobox row or table cell, or None for plain text (see the module docstring).

    Order matters and is the reading a careful person gives the row: what the key says the value is
    (an identifier, a format, a name) first; then shapes that cannot be anything else (coordinates, a
    song length); then dates anywhere ("14 August 1852, Jakob Tull and party"); then an amount at the
    start (a bare four-digit number is a year unless the key counts something); then a year in a short
    value ("Scrapped 1952").
    """
    if not text:
        return None
    clean = _clean(text)
    key = (key or "").strip()
    if not _DIGIT.search(clean):
        # no number, no date; only a format ("CD single") or a scheme-prefixed code ("IATA: JFK")
        found = _format(clean, key) if _FORMAT_KEYS.search(key) else None
        scheme = None if found else _SCHEME_PREFIX.match(clean)
        return found or (_identifier(clean, key) if scheme else None)
    core = strip_parentheticals(clean)
    found = _parse_core(key, clean, core)
    if found is None:
        return None
    lead = found.qualifier
    if found.kind in ("format", "coordinates", "identifier"):
        return replace(found, qualifier=None)
    surface = found.surface
    at = clean.find(surface)
    if lead and at > 0 and clean[:at].rstrip().endswith(lead):
        # the surface is the value as written, its qualifying word included: "c. 1890", "about 42 minutes"
        surface = clean[clean[:at].rstrip().rfind(lead): at + len(surface)]
    return replace(found, surface=surface, qualifier=_qualifiers(clean, found.surface, lead))


def _parse_core(key: str, clean: str, core: str) -> Value | None:
    spaced = key.replace("_", " ")
    titled = _TITLE_PARENS.search(clean) and not _YEAR_KEYS.search(spaced) and not _DATE_KEYS.search(spaced)
    if _NAME_KEYS.match(spaced) or titled:
        return None
    if _OFFSET_KEYS.search(spaced):
        return None  # "UTC+12", "−4": an offset from a time zone is text, not a number
    identifier = _identifier(core, key)
    if identifier is not None:
        return identifier
    if _UTC_OFFSET.search(core):
        return None
    found = _format(core, key)
    if found is not None:
        return found
    found = _coordinates(core, key)
    if found is not None:
        return found
    if _ANY_DEGREES.search(core):
        return None  # a place with its coordinates after it: "Wellington 41°17′S 174°27′E"
    if _CENTURY.match(core):
        return _period(core)
    if _RANK.match(core) or _DIMENSIONS.search(core):
        return None  # "No. 1"; "92 cm × 130 cm" is two measures, not one
    lead = _LEADING_QUALIFIER.match(core)
    body = core[lead.end():] if lead else core
    qualifier = (lead.group("q") or lead.group("s")) if lead else None
    if not _NOT_DURATION_KEYS.search(spaced) and (_CLOCK.match(body) or _LENGTH_KEYS.search(spaced)
                                                   or _DURATION_PART.match(body)):
        duration = _duration(body, spaced)
        if duration is not None:
            return replace(duration, qualifier=qualifier)
    if _CLOCK.match(body):
        return None  # a score or a ratio ("3:1"), or a time of day
    span = _date_span(core)
    if span is not None:
        return span
    dates = find_dates(core)
    if dates:
        first = dates[0]
        before = core[: first.start].strip()
        approx = re.fullmatch(_APPROX, before + " ", re.IGNORECASE) if before else None
        lead_word = _LEADING_QUALIFIER.fullmatch(before) if before else None
        qualifier = before if (approx or lead_word) else None
        return replace(first, qualifier=qualifier)
    counts = _COUNT_KEYS.search(spaced) is not None and _YEAR_KEYS.search(spaced) is None
    years = _YEAR_SPAN.match(body)
    if years is not None:
        if counts:
            return None  # "pages 105–126": a range of numbers, not a span of years
        span = find_year(core)
        if span is not None and span.kind == "span":
            return replace(span, qualifier=span.qualifier or qualifier)
    period = _period(core)
    if period is not None and (period.start == 0 or core[: period.start].strip().lower() in ("the", "in the")):
        return period
    if _NUMBER_RANGE.match(body):
        return None  # "$2–3 million", a 40–42 record: a range of amounts or a score, no one value
    number_at = re.match(_NUM, body)
    if number_at and _TITLE_AT.match(body[number_at.end():]):
        word = body[number_at.end():].split()[0].rstrip(".,")
        if word.upper() not in ("BC", "BCE", "AD", "CE") and _month(word) is None and word.upper() != word:
            return None  # "25 Number Ones", "101 Dalmatians": a title, not a count
    era_year = re.match(r"^(?P<y>\d{1,4})\s*(?P<era>BC|BCE|AD|CE)\b", body)
    if era_year:
        return Value("year", _signed_year(int(era_year.group("y")), era_year.group("era")), None, 0, len(core),
                     body[: era_year.end()], qualifier)
    number = _amount(core, key)
    if number is not None:
        if _PERCENT_KEYS.search(spaced) and number.kind == "number":
            return replace(number, kind="percent", unit="%")
        written = number.surface.removeprefix(qualifier or "").split()
        plain_year = (number.kind in ("number", "count") and bool(written)
                      and re.fullmatch(r"\d{3,4}", written[0]) is not None)
        year_noun = number.kind == "count" and number.unit in _YEAR_NOUNS
        if plain_year and (_YEAR_KEYS.search(spaced) or not counts or year_noun):
            year = int(number.normalized)
            is_year_noun = year_noun
            if (number.kind == "number" or is_year_noun) and (500 <= year <= 2100 or _YEAR_KEYS.search(spaced)
                                                              or qualifier):
                surface = number.surface
                qual = qualifier
                if is_year_noun:
                    surface = surface.rsplit(" ", 1)[0]
                return Value("year", f"{year:04d}", None, number.start, number.end, surface, qual)
        if _LIST_TAIL.search(core[number.end:]):
            return None  # "70.2% European 16.5% Māori ...", "R-72, D-33": several values in one
        return number
    if len(core.split()) <= 6 and not counts:
        year = find_year(core)
        if year is not None and "," not in core[: year.start]:
            # "Scrapped 1952" is a year; "Salter, 1864" (a taxon's author) and "Kellmar line, opened 1912"
            # name something else and date it
            return year
    return None


_DATE_KEYS = re.compile(r"\b(?:released?|published|born|died|date|founded|established|recorded|premiered?|"
                        r"opened|formed|first|aired|written|composed|built|completed)\b", re.IGNORECASE)
_NUMBER_RANGE = re.compile(r"^(?:(?-i:" + _CURRENCY_BEFORE_RE + r"))?\s*(?:" + _NUM + r")\s*(?:" + _SCALE_RE
                           + r")?\s*[-–—‒]\s*(?:(?-i:" + _CURRENCY_BEFORE_RE + r"))?\s*(?:" + _NUM + r")",
                           re.IGNORECASE)
_LIST_TAIL = re.compile(r"\d\s*%|\d[\d,.]*\s+\w+\s+\d")


_LIFE_WINDOW_END = re.compile(r"\s[–—-]\s|[–—;]|\b(?:died|d\.|born|b\.)\s", re.IGNORECASE)


def _doubted(text: str, end: int) -> bool:
    """Whether the date ending at `end` carries a question mark ("died 14 October 1318?"): the source
    doubts it, so it is no fact to state or ask."""
    return text[end:end + 2].lstrip().startswith("?")


def life_dates(sentence: str) -> dict[str, Value]:
    """Birth and death dates from a lead sentence's first parenthetical: "X (born 3 March 1891)",
    "X ( died 11 November 875)", "X (3 March 1891 – 12 June 1957)", "X (1891–1957)"."""
    match = re.search(r"\(([^()]{4,200})\)", sentence)
    if not match:
        return {}
    inner = match.group(1)
    dates = find_dates(inner)
    if len(dates) >= 2 and re.fullmatch(_DASH, inner[dates[0].end: dates[1].start]):
        pair = {"born": dates[0], "died": dates[1]}
        return {key: value for key, value in pair.items() if not _doubted(inner, value.end)}
    out: dict[str, Value] = {}
    for word, key in (("born", "born"), ("b.", "born"), ("died", "died"), ("d.", "died")):
        at = re.search(r"(?:^|[\s;,])" + re.escape(word) + r"\s", inner, re.IGNORECASE)
        if at and key not in out:
            # the window ends where another date begins: "born 1280 – died 14 October 1318" gives no birth day
            window = _LIFE_WINDOW_END.split(inner[at.end(): at.end() + 40], maxsplit=1)[0]
            found = parse_date(window)
            if found and not _doubted(inner, at.end() + found.end):
                out[key] = found
    if out or dates:
        return out
    year = find_year(inner)
    if year and year.kind == "span" and ".." not in year.normalized:
        first, second = year.normalized.split("/")
        # each end keeps its own "c.": "(c. 1055 – 1124)" is an approximate birth, an exact death
        span = _YEAR_SPAN.search(inner)
        marks = (_approx(span), _approx(span, "q2")) if span else (year.qualifier, None)
        return {key: Value("year", value, surface=f"{mark} {value}" if mark else value, qualifier=mark)
                for key, value, mark in (("born", first, marks[0]), ("died", second, marks[1]))}
    return {}
