"""Typed values of real infobox rows and table cells, as English Wikipedia writes them.

Rows come from the New Zealand, Mozilla and time-loop film pages of the readability corpus
(corpora/readability/wikipedia*), the infoboxes of the 2016 enwiki excerpt (corpora/wiki: Alabama,
Alaska, Alberta, Albania, Andorra, Apollo 8 and 11, Andre Agassi, Animal Farm, Abraham Lincoln, Allan
Dwan, Aristotle, ...), and the song, album and film infoboxes the problem report was found on ("Respect",
"What'd I Say", "25 Number Ones").
"""

from __future__ import annotations

import pytest

from drsynth.synth.graph.values import find_year, life_dates, parse_value

# (key, text) -> (kind, normalized, unit, qualifier); None: the row is text (a name, a rank, a list)
ROWS = [
    # --- song and album infoboxes
    ("length", "3:12", ("duration", "192", "s", None)),
    ("length", "2:27", ("duration", "147", "s", None)),
    ("length", "6:30 (Parts 1 and 2)", ("duration", "390", "s", "(Parts 1 and 2)")),
    ("length", "1:02:45", ("duration", "3765", "s", None)),
    ("length", "4:00", ("duration", "240", "s", None)),
    ("length", "4 min 30 s", ("duration", "270", "s", None)),
    ("length", "41:32", ("duration", "2492", "s", None)),
    ("format", '7"', ("format", "7-inch", None, None)),
    ("format", '7" single', ("format", "7-inch single", None, None)),
    ("format", "7-inch single", ("format", "7-inch single", None, None)),
    ("format", '12" LP', ("format", "12-inch LP", None, None)),
    ("format", "45 rpm", ("format", "45 rpm", None, None)),
    ("format", '10" shellac', ("format", "10-inch shellac", None, None)),
    ("format", "CD single", ("format", "CD single", None, None)),
    ("format", "digital download", ("format", "digital download", None, None)),
    ("format", "cassette", ("format", "cassette", None, None)),
    ("format", '7" single, CD single', ("format", "7-inch single, CD single", None, None)),
    ("label", "Atlantic 8025", ("identifier", "Atlantic 8025", None, None)),
    ("label", "Atlantic 45-2045", ("identifier", "Atlantic 45-2045", None, None)),
    ("b-side", "Atlantic 45-2403", None),  # a name key: never a number
    ("catalogue", "SP-1234", ("identifier", "SP-1234", None, None)),
    ("catalogue number", "CBS 6542", ("identifier", "CBS 6542", None, None)),
    ("single", "Atlantic 8025", None),
    ("released", "Atlantic 8025", ("identifier", "Atlantic 8025", None, None)),
    ("released", "April 29, 1967", ("date", "1967-04-29", None, None)),
    ("released", "June 1959", ("date", "1959-06", None, None)),
    ("recorded", "February 14, 1967", ("date", "1967-02-14", None, None)),
    ("recorded", "1954–1960", ("span", "1954/1960", None, None)),
    ("recorded", "26–28 September 1921", ("span", "1921-09-26/1921-09-28", None, None)),
    ("recorded", "September 26–28, 1921", ("span", "1921-09-26/1921-09-28", None, None)),
    ("recorded", "May–June 1965", ("span", "1965-05/1965-06", None, None)),
    ("album", "25 Number Ones", None),
    ("compilation", "25 Number Ones", None),
    ("preceded by", "1984 (novel)", None),
    ("next", "1984 (novel)", None),
    ("tracks", "12 tracks", ("count", "12", "tracks", None)),
    ("peak position", "No. 1", None),
    ("highestsinglesranking", "No. 1 (April 10, 1995)", None),
    ("highestdoublesranking", "No. 123 (August 17, 1992)", None),
    ("chart", "2", ("number", "2", None, None)),
    # --- films and books
    ("runtime", "100 minutes", ("duration", "6000", "s", None)),
    ("running time", "97 minutes", ("duration", "5820", "s", None)),
    ("running time", "2h 15m", ("duration", "8100", "s", None)),
    ("running time", "142 min", ("duration", "8520", "s", None)),
    ("budget", "$2 million", ("money", "2000000", "USD", None)),
    ("budget", "$2.5 million", ("money", "2500000", "USD", None)),
    ("box office", "$1.2 billion", ("money", "1200000000", "USD", None)),
    ("gross", "£11.6 million", ("money", "11600000", "GBP", None)),
    ("budget", "€40,000", ("money", "40000", "EUR", None)),
    ("budget", "¥5,000", ("money", "5000", "JPY", None)),
    ("budget", "NZ$ 3.5 million", ("money", "3500000", "NZD", None)),
    ("pages", "32", ("number", "32", None, None)),
    ("pages", "112 (UK paperback edition)", ("number", "112", None, "(UK paperback edition)")),
    ("pages", "105–126", None),
    ("isbn", "0-452-28424-4", ("identifier", "0-452-28424-4", "ISBN", None)),
    ("isbn", "978-0-14-044913-6", ("identifier", "978-0-14-044913-6", "ISBN", None)),
    ("id", "ISBN 0-14-044913-8", ("identifier", "0-14-044913-8", "ISBN", None)),
    ("oclc", "53163540", ("identifier", "53163540", "OCLC", None)),
    ("issn", "1999-4893", ("identifier", "1999-4893", "ISSN", None)),
    ("pub date", "1729", ("year", "1729", None, None)),
    ("published", "17 August 1945 (Secker and Warburg, London, England)",
     ("date", "1945-08-17", None, "(Secker and Warburg, London, England)")),
    ("published", "1895 (poem)", ("year", "1895", None, "(poem)")),
    # --- people
    ("born", "3 March 1891", ("date", "1891-03-03", None, None)),
    ("died", "3 March 1891 (aged 66)", ("date", "1891-03-03", None, "(aged 66)")),
    ("born", "c. 1890", ("year", "1890", None, "c.")),
    ("born", "384 BC", ("year", "-0384", None, None)),
    ("born", "c. 495 BC", ("year", "-0495", None, "c.")),
    ("died", "44 BC", ("year", "-0044", None, None)),
    ("years active", "1911–1961", ("span", "1911/1961", None, None)),
    ("years active", "1958–86", ("span", "1958/1986", None, None)),
    ("years active", "1967–present", ("span", "1967/..", None, None)),
    ("years active", "2008-present", ("span", "2008/..", None, None)),
    ("active", "c. 1890 – c. 1895", ("span", "1890/1895", None, "c.")),
    ("period", "1934–1982", ("span", "1934/1982", None, None)),
    ("reign", "384–322 BC", ("span", "-0384/-0322", None, None)),
    ("in office", "March 4, 1861 – April 15, 1865", ("span", "1861-03-04/1865-04-15", None, None)),
    ("built", "before 1200", ("year", "1200", None, "before")),
    ("style", "early 1960s", ("span", "1960/1963", None, "early")),
    ("era", "1960s", ("span", "1960/1969", None, None)),
    ("era", "19th century", ("span", "1800/1899", None, None)),
    ("height", "1.80 m (5 ft 11 in)", ("quantity", "1.8", "m", None)),
    ("height", "5 ft 11 in", ("quantity", "71", "in", None)),
    ("children", "3 children", ("count", "3", "children", None)),
    ("turnedpro", "1986", ("year", "1986", None, None)),
    ("careerprizemoney", "US$ 31,152,975", ("money", "31152975", "USD", None)),
    ("spouse", "Marta Lindell (m. 1919)", None),
    # --- places and countries
    ("population", "4,933,210 (2019 estimate)", ("number", "4933210", None, "(2019 estimate)")),
    ("2018 census", "4,699,755", ("number", "4699755", None, None)),
    ("population", "4,933,210 people", ("count", "4933210", "people", None)),
    ("2010pop", "4,858,979 (2015 est.)", ("number", "4858979", None, "(2015 est.)")),
    ("population estimate", "32,564,342", ("number", "32564342", None, None)),
    ("population estimate year", "2014", ("year", "2014", None, None)),
    ("population census year", "2011", ("year", "2011", None, None)),
    ("total", "268,021 km2 (103,483 sq mi) (75th)", ("quantity", "268021", "km2", None)),
    ("area", "268,021 km 2 (103,483 sq mi)", ("quantity", "268021", "km2", None)),
    ("density", "18.2/km2 (47.1/sq mi) (203rd)", ("quantity", "18.2", "/km2", None)),
    ("density", "87/km2 (225/sq mi)", ("quantity", "87", "/km2", None)),
    ("elevation", "2,317 m", ("quantity", "2317", "m", None)),
    ("elevation", "46 m", ("quantity", "46", "m", None)),
    ("highest elevation", "6,190.5 m (20,310 ft)", ("quantity", "6190.5", "m", None)),
    ("water (%)", "1.6", ("percent", "1.6", "%", None)),
    ("percent water", "4.7", ("percent", "4.7", "%", None)),
    ("poverty", "40.5% (2006 est.)", ("percent", "40.5", "%", "(2006 est.)")),
    ("unemployment", "45 per cent", ("percent", "45", "%", None)),
    ("ethnic groups", "70.2% European 16.5% Māori 15.1% Asian 8.1% Pacific peoples", None),
    ("gdp (ppp)", "2018 estimate", ("year", "2018", None, None)),
    ("total", "$199 billion", ("money", "199000000000", "USD", None)),
    ("per capita", "$40,266", ("money", "40266", "USD", None)),
    ("gdp nominal", "$12.204 billion", ("money", "12204000000", "USD", None)),
    ("gdp", "US$199 billion", ("money", "199000000000", "USD", None)),
    ("gdp per capita", "C$78,154", ("money", "78154", "CAD", None)),
    ("revenue", "$51.24 billion (2012 est.)", ("money", "51240000000", "USD", "(2012 est.)")),
    ("amount", "est. 4.784 billion USD", ("money", "4784000000", "USD", "est.")),
    ("capital", "1.2 million crowns", ("money", "1200000", "crowns", None)),
    ("revenue", "£1.2 billion", ("money", "1200000000", "GBP", None)),
    ("median household income", "$40,489 (2009)", ("money", "40489", "USD", "(2009)")),
    ("labor", "8.468 million (2012 est.)", ("number", "8468000", None, "(2012 est.)")),
    ("gini", "33.0 medium · 22nd", ("number", "33", None, None)),
    ("hdi", "0.917 very high · 16th", ("number", "0.917", None, None)),
    ("hdi rank", "149th", None),
    ("area rank", "1st", None),
    ("capital", "Wellington 41°17′S 174°27′E / 41.283°S 174.450°E / -41.283; 174.450", None),
    ("coordinates", "41°17′S 174°27′E", ("coordinates", "-41.2833,174.45", None, None)),
    ("coordinates", "51.5074° N, 0.1278° W", ("coordinates", "51.5074,-0.1278", None, None)),
    ("coordinates", "-41.283; 174.450", ("coordinates", "-41.283,174.45", None, None)),
    ("latitude", "51°20'N to 71°50'N", None),
    ("calling code", "+64", ("identifier", "+64", None, None)),
    ("calling code", "355", ("identifier", "355", None, None)),
    ("iso 3166 code", "NZ", None),
    ("time zone", "UTC+12 (NZST)", None),
    ("utc offset", "−4", None),
    ("iata", "JFK", None),
    ("airport", "IATA: JFK", ("identifier", "JFK", "IATA", None)),
    ("postal code", "6011", ("identifier", "6011", None, None)),
    ("zip code", "99501", ("identifier", "99501", None, None)),
    ("cospar id", "1969-059A", ("identifier", "1969-059A", None, None)),
    ("launch site", "LC-39A", ("identifier", "LC-39A", None, None)),
    ("founded", "February 28, 1998; 18 years ago (1998-02-28)", ("date", "1998-02-28", None, None)),
    ("founded", "1970", ("year", "1970", None, None)),
    ("established date1", "11 November 1975", ("date", "1975-11-11", None, None)),
    ("established date3", "30 August 1991 (declared)", ("date", "1991-08-30", None, "(declared)")),
    ("admittancedate", "December 14, 1819", ("date", "1819-12-14", None, None)),
    ("fate", "Scrapped 1952", ("year", "1952", None, None)),
    ("representative", "6 Republicans, 1 Democrat", None),
    # --- spaceflight, sport
    ("mission duration", "6 days, 3 hours, 42 minutes", ("duration", "531720", "s", None)),
    ("orbit period", "2 hours", ("duration", "7200", "s", None)),
    ("crew size", "3", ("number", "3", None, None)),
    ("orbits", "10", ("number", "10", None, None)),
    ("departure date", "July 22, 1969, 04:55:42 UTC", ("date", "1969-07-22", None, None)),
    ("singlestitles", "60", ("number", "60", None, None)),
    ("membership", "125,000 companies", ("count", "125000", "companies", None)),
    ("score", "3:12", None),
    ("members", "over 200 members", ("count", "200", "members", "over")),
    ("acts", "2 acts", ("count", "2", "acts", None)),
    ("budget", "$2–3 million", None),
    ("doublesrecord", "40–42 (on the Grand Prix tour, ATP Tour, in Grand Slams and Davis Cup)", None),
    ("meanelevus", "500", ("number", "500", None, None)),
]


@pytest.mark.parametrize(("key", "text", "expected"), ROWS, ids=[f"{k}={t}" for k, t, _ in ROWS])
def test_real_values(key: str, text: str, expected: tuple[str, str, str | None, str | None] | None) -> None:
    value = parse_value(key, text)
    if expected is None:
        assert value is None, value
        return
    assert value is not None
    assert (value.kind, value.normalized, value.unit, value.qualifier) == expected


def test_the_table_is_large_enough() -> None:
    assert len(ROWS) >= 60
    kinds = {row[2][0] for row in ROWS if row[2] is not None}
    assert kinds >= {"date", "year", "span", "duration", "money", "percent", "quantity", "count", "number",
                     "format", "coordinates", "identifier"}


def test_surface_is_the_value_as_written() -> None:
    assert parse_value("length", "3:12").surface == "3:12"
    assert parse_value("budget", "$2 million (estimated)").surface == "$2 million"
    assert parse_value("born", "c. 1890").surface == "c. 1890"
    assert parse_value("format", '7" single').surface == '7" single'


def test_identifiers_are_never_years_or_ranges() -> None:
    for text in ("Atlantic 8025", "Atlantic 45-2045"):
        value = parse_value("label", text)
        assert value is not None and value.kind == "identifier"
    assert parse_value("label", "Atlantic") is None  # the label alone is a name


def test_spans_and_life_dates() -> None:
    span = find_year("served 1909–1911")
    assert span is not None and (span.kind, span.normalized) == ("span", "1909/1911")
    assert {k: v.normalized for k, v in life_dates("Ivo Castell (1895–1944) was a poet").items()} == {
        "born": "1895", "died": "1944"}
