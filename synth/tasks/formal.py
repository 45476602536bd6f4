"""A task's formalization (triples with variables) and a solver that re-checks it against a graph.

Terms: a variable is "?" and a lower-case identifier (`?answer` is the target slot, `?x1`, `?s1`); any
other term is a constant, an entity name. A name that would read as a variable ("?answer") or that
starts with a backslash is written with a leading backslash (`constant`), which `name_of` takes off.
Triples, by object_kind:
  var | entity   a typed edge `relation` from subject to object (a variable, or an entity name): a
                 fact of the subject's own infobox; untyped edges (links, mentions) state no relation
                 and are never read
  value          the object is a variable bound to the subject's attribute `predicate` (its normalized
                 value: ISO date, year, number, else the text as written)
  literal        the subject has attribute `predicate` with this value: a normalized value ("1891-05-01",
                 "1891", "192"), optionally with its unit ("2317 m", "2000000 USD"), or a value as written
                 ("3:12", "$2 million"), or text
  year_range     ... with a date or year inside "lo..hi" (inclusive)
  number_range   ... with a number inside "lo..hi" (either side open), or ">lo", "<hi"; a unit may follow
                 ("2000..2500 m"); without one the range is in the unit of the value it was made from
  prefix         predicate "surname" or "name": the name (article dropped) begins with the object
  initials       the name's initials are the object ("A. F.")
  type           the entity belongs to the class named by the object: a top type (person, work) or a
                 subtype (single, record label), by the hierarchy of synth.graph.classes
  keyword        the entity's description contains the object as whole words ("composer")
  distinct       subject and object (variables or names) are different entities: "the same city as X"
                 speaks of someone other than X

Every constraint is three-valued on a candidate (`Truth`): it HOLDS, it FAILS, or it MIGHT hold, where the
graph does not know enough to say (a missing attribute, a stub, a date known only to the year, a class
known only coarsely, a value in an infobox that names an entity but does not link it). Matching is by
entity, not by string: a constant stands for every entity whose name, label or alias it is; a value
"Atlantic" names the entity "Atlantic Records" when that is one of its aliases.

An edge constraint (subject relation object) is closed-world on subjects that state the relation at all
(a typed edge under it, or an attribute under its key that is not a date or an amount): such a subject
relates to what its edges reach (HOLDS), to what its unlinked values name (MIGHT), and to nothing else.
A subject without the key might relate to anything.

A possible candidate must also be one the graph says something of that the question asks (besides its
top type): a class below the top types, a name or keyword that holds, an attribute under a key the
question reads, a relation its edges state or that reaches it (`_Solver.supported`), or a stub. A page
whose infobox and lead state nothing the question asks (a work of unknown kind, place and maker) is no
alternative a reader weighs; without that rule it "might" be the answer to every question about its
type. A stub is: the corpus knows it exists and nothing else, so whatever it is might fit.

`analyze` gives the definite answers (some binding of all variables makes every constraint HOLD), the
possible ones (some binding of supported candidates makes every constraint HOLD or MIGHT; a superset) and, per constraint, how
many answers are possible under the constraints up to it. A task is unique when `possible` is exactly
its answer. `solve` gives the definite answers only: entity ids where "?answer" names an entity,
attribute values (canonical form, see text.attribute_answer) where it names a value. Among the values in
`possible`, the marker UNKNOWN_VALUE stands for "a candidate owner of the asked attribute does not state
it, so the answer could be anything": a task with it is ambiguous. It is never an entity id or a
normalized value. The search is bounded (MAX_BINDINGS); when the budget runs out, `possible` takes every
candidate narrowing left, so a loose formalization reads as ambiguous, never as unique.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from drsynth.synth.graph.classes import canonical, membership
from drsynth.synth.graph.links import UNTYPED_RELATIONS
from drsynth.synth.graph.types import TYPES
from drsynth.synth.graph.values import parse_value, strip_parentheticals
from drsynth.synth.graph.view import Entity, GraphView
from drsynth.synth.tasks.operations import bare_name, in_number_range, initials, surname
from drsynth.synth.tasks.text import attribute_answer, contains_phrase, fold, number_of, year_of

ANSWER = "?answer"
EDGE_KINDS = frozenset({"var", "entity"})
ATTRIBUTE_KINDS = frozenset({"literal", "year_range", "number_range"})
UNARY_KINDS = frozenset({*ATTRIBUTE_KINDS, "prefix", "initials", "type", "keyword"})
DISTINCT = "distinct"
VALUE_KINDS = frozenset({"date", "year", "span", "number", "quantity", "count", "percent", "money", "duration",
                         "text"})
# kinds a number_range constraint compares (the normalized amount: seconds, a plain sum of money)
AMOUNT_KINDS = frozenset({"number", "quantity", "count", "percent", "money", "duration"})
DATE_KINDS = frozenset({"date", "year"})
# attribute kinds that say nothing about which entity a relation reaches: "Born: 1 May 1891" under
# "born" does not say where (see `_Index.has_key`)
NOT_NAMING_KINDS = frozenset({*DATE_KINDS, "span", *AMOUNT_KINDS, "coordinates", "identifier", "format"})
UNKNOWN_VALUE = "<unknown>"  # in Analysis.possible: an owner that might be the one lacks the attribute
_SPAN_CAP = 200  # years of an open or long span indexed for year_range
_ADMISSION_CACHE = 1_024  # one-entity constraints whose admitted entities an index keeps
_READ_ATTRIBUTE = frozenset({*ATTRIBUTE_KINDS, "value"})  # triples that read an attribute of their subject
_JOINING = frozenset({*EDGE_KINDS, DISTINCT})  # triples whose object is a term too
MAX_BINDINGS = 100_000  # assignments tried before the search stops: a formalization this loose is ambiguous


class Truth(IntEnum):
    """A constraint on a candidate: conjunction is min, disjunction max."""

    FAILS = 0
    MIGHT = 1
    HOLDS = 2


def span_years(value: str | None) -> tuple[int, int] | None:
    """The first and last year of a span ("1954/1960", "1921-09-26/1921-09-28", "1967/.." to the
    widest end a year_range is indexed for)."""
    first, sep, last = (value or "").partition("/")
    if not sep:
        return None
    start = year_of(first)
    if start is None:
        return None
    if first.startswith("-"):
        start = -start
    end = year_of(last) if last and last != ".." else start + _SPAN_CAP
    if end is None:
        return None
    if last.startswith("-"):
        end = -end
    return (start, end) if start <= end else None


@dataclass(frozen=True)
class Triple:
    subject: str
    predicate: str
    object: str
    object_kind: str

    def row(self) -> dict:
        return {"subject": self.subject, "predicate": self.predicate, "object": self.object,
                "object_kind": self.object_kind}

    @classmethod
    def of(cls, row: dict | Triple) -> Triple:
        if isinstance(row, Triple):
            return row
        return cls(row["subject"], row["predicate"], row["object"], row["object_kind"])

    def text(self) -> str:
        """A short reading of the constraint, for catalogs and reports: "?x1 born in 1890..1893"."""
        s, p, o = self.subject, self.predicate, self.object
        return {
            "var": f"{s} {p} {o}", "entity": f"{s} {p} {o}", "value": f"{s} {p} = {o}",
            "literal": f"{s} {p} = {o}", "year_range": f"{s} {p} in {o}", "number_range": f"{s} {p} in {o}",
            "prefix": f"{s} {p} begins with {o}", "initials": f"{s} initials {o}", "type": f"{s} is a {o}",
            "keyword": f"{s} {p} mentions {o}", DISTINCT: f"{s} is not {o}",
        }.get(self.object_kind, f"{s} {p} {o} ({self.object_kind})")


_VARIABLE = re.compile(r"\?[a-z][a-z0-9_]*")
_ESCAPE = "\\"


def is_var(term: str) -> bool:
    """Whether a term is a variable: exactly "?" and an identifier ("?x1", "?answer"; not "?Oryx")."""
    return _VARIABLE.fullmatch(term) is not None


def constant(name: str) -> str:
    """The term naming an entity: its name, escaped where it would read as a variable or as escaped."""
    return _ESCAPE + name if is_var(name) or name.startswith(_ESCAPE) else name


def name_of(term: str) -> str:
    """The entity name a constant term stands for (the inverse of `constant`)."""
    return term[len(_ESCAPE):] if term.startswith(_ESCAPE) else term


# --- values, units -----------------------------------------------------------------------------------

# factors to one base unit per dimension, for the canonical units synth.graph.values writes; a unit not
# listed compares only with itself
_UNIT_FACTORS: dict[str, tuple[str, float]] = {
    **{u: ("length", f) for u, f in {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "km": 1e3, "in": 0.0254, "ft": 0.3048,
                                      "yd": 0.9144, "mi": 1609.344, "nmi": 1852.0, "AU": 1.495978707e11,
                                      "ly": 9.4607e15, "pc": 3.0857e16}.items()},
    **{u: ("area", f) for u, f in {"m2": 1.0, "ha": 1e4, "km2": 1e6, "sq mi": 2_589_988.11, "sq ft": 0.09290304,
                                    "acres": 4046.8564224}.items()},
    **{u: ("mass", f) for u, f in {"g": 1e-3, "kg": 1.0, "t": 1e3, "lb": 0.45359237, "oz": 0.028349523125,
                                    "st": 6.35029318, "long tons": 1016.0469088}.items()},
    **{u: ("volume", f) for u, f in {"mL": 1e-6, "L": 1e-3, "m3": 1.0, "km3": 1e9, "cu ft": 0.028316846592}.items()},
    **{u: ("speed", f) for u, f in {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704, "kn": 0.514444}.items()},
    **{u: ("density", f) for u, f in {"/km2": 1.0, "/sq mi": 1 / 2.58998811}.items()},
    **{u: ("power", f) for u, f in {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9, "hp": 745.7, "PS": 735.49875}.items()},
    **{u: ("time", f) for u, f in {"s": 1.0, "min": 60.0, "h": 3600.0}.items()},
}
_CONVERTED_TOLERANCE = 0.005  # a value converted between units is rounded where it was written
_ISO_PARTS = re.compile(r"^(-?)(\d{1,4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_AMOUNT_WITH_UNIT = re.compile(r"^(-?\d+(?:\.\d+)?)(?:\s+(\S.*))?$")
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_LIST_SEPARATORS = re.compile(r"\s*(?:[,;/•·\n]|\band\b|&)\s*")


@functools.lru_cache(maxsize=65_536)  # one parse per constraint, not one per entity it is asked of
def _date_parts(value: str | None) -> tuple[int, ...] | None:
    """(year,), (year, month) or (year, month, day) of a normalized date or year ("-0044" is 44 BC)."""
    match = _ISO_PARTS.match((value or "").strip())
    if not match:
        return None
    year = int(match.group(2)) * (-1 if match.group(1) else 1)
    return (year, *(int(g) for g in match.group(3, 4) if g))


@functools.lru_cache(maxsize=65_536)  # one parse per constraint, not one per entity it is asked of
def _written_date(key: str, text: str) -> tuple[int, ...] | None:
    """The parts of a date as written ("1 May 1891"), read as values.parse_value reads the infobox."""
    value = parse_value(key, text)
    return _date_parts(value.normalized) if value is not None and value.kind in DATE_KINDS else None


def _convert(number: float, unit: str | None, to: str | None) -> float | None:
    """`number` in `unit` written in `to`; None where the two do not convert."""
    if unit == to:
        return number
    a, b = _UNIT_FACTORS.get(unit or ""), _UNIT_FACTORS.get(to or "")
    if a is None or b is None or a[0] != b[0]:
        return None
    return number * a[1] / b[1]


def _same_number(a: float, b: float, tolerance: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-9)


def _currencies_differ(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != b and _CURRENCY_CODE.match(a) and _CURRENCY_CODE.match(b))


@dataclass(frozen=True)
class _Amount:
    number: float | None  # a point ...
    lo: float  # ... or bounds (a range constraint, or an attribute that is a range "2000000/3000000")
    hi: float
    unit: str | None


@functools.lru_cache(maxsize=65_536)  # one parse per constraint, not one per entity it is asked of
def _constraint_amount(key: str, text: str) -> _Amount | None:
    """What a literal asks: "2317 m", "192", "3:12" (read as values.parse_value reads the infobox)."""
    match = _AMOUNT_WITH_UNIT.match(text.strip())
    if match and (match.group(2) is None or match.group(2) in _UNIT_FACTORS or _CURRENCY_CODE.match(match.group(2))):
        number = float(match.group(1))
        return _Amount(number, number, number, match.group(2))
    value = parse_value(key, text)
    if value is None or value.kind not in AMOUNT_KINDS or "/" in value.normalized:
        return None
    number = float(value.normalized)
    return _Amount(number, number, number, value.unit)


@functools.lru_cache(maxsize=65_536)  # one parse per constraint, not one per entity it is asked of
def _range_amount(spec: str) -> _Amount | None:
    """The bounds of "lo..hi", ">lo", "<hi", each optionally followed by a unit."""
    body, _, unit = spec.strip().partition(" ")
    try:
        if body.startswith(">"):
            return _Amount(None, float(body[1:]), math.inf, unit or None)
        if body.startswith("<"):
            return _Amount(None, -math.inf, float(body[1:]), unit or None)
        lo, _, hi = body.partition("..")
        return _Amount(None, float(lo) if lo else -math.inf, float(hi) if hi else math.inf, unit or None)
    except ValueError:
        return None


def _attribute_amount(attribute: dict) -> _Amount | None:
    value = attribute_answer(attribute)
    unit = attribute.get("unit")
    if "/" in value:
        first, _, last = value.partition("/")
        lo, hi = number_of(first), number_of(last)
        return _Amount(None, lo, hi, unit) if lo is not None and hi is not None and lo <= hi else None
    number = number_of(value)
    return None if number is None else _Amount(number, number, number, unit)


def _compare_amounts(wanted: _Amount, spec: str | None, found: _Amount, kind: str,
                     other_units: Iterable[str]) -> Truth:
    """A literal (spec None) or range (spec) against one attribute amount, unit-aware. A constraint
    without a unit is in the attribute's own unit, or MIGHT be in another unit the graph writes this key
    in (a height in feet where the range was made in metres)."""
    if kind == "money":
        if _currencies_differ(wanted.unit, found.unit):
            return Truth.FAILS
        # an amount asked without its currency holds of the same amount; a currency word ("crowns") or a
        # missing one on either side leaves it open
        sure = wanted.unit is None or wanted.unit == found.unit
        return _amount_truth(wanted, spec, found, 1e-9, Truth.HOLDS if sure else Truth.MIGHT)
    if wanted.unit and found.unit and wanted.unit != found.unit:
        converted = _convert_amount(found, found.unit, wanted.unit)
        if converted is None:
            return Truth.FAILS
        return _amount_truth(wanted, spec, converted, _CONVERTED_TOLERANCE, Truth.HOLDS)
    truth = _amount_truth(wanted, spec, found, 1e-9, Truth.HOLDS)
    if truth is not Truth.FAILS or wanted.unit:
        return truth
    for unit in other_units:
        converted = _convert_amount(found, found.unit, unit) if unit != found.unit else None
        if converted is not None and _amount_truth(wanted, spec, converted, _CONVERTED_TOLERANCE, Truth.MIGHT):
            return Truth.MIGHT
    return Truth.FAILS


def _convert_amount(amount: _Amount, unit: str | None, to: str) -> _Amount | None:
    lo, hi = _convert(amount.lo, unit, to), _convert(amount.hi, unit, to)
    if lo is None or hi is None:
        return None
    number = _convert(amount.number, unit, to) if amount.number is not None else None
    return _Amount(number, lo, hi, to)


def _amount_truth(wanted: _Amount, spec: str | None, found: _Amount, tolerance: float, sure: Truth) -> Truth:
    if found.number is not None:
        if spec is None:
            ok = wanted.number is not None and _same_number(wanted.number, found.number, tolerance)
        else:
            # a converted value may sit on a bound by rounding alone
            slack = tolerance * abs(found.number) if tolerance > 1e-9 else 0.0
            ok = in_number_range(found.number, spec.split(" ")[0]) or (
                bool(slack) and wanted.lo - slack <= found.number <= wanted.hi + slack)
        return sure if ok else Truth.FAILS
    # a range of amounts ("2000000/3000000"): inside the constraint holds, overlapping might
    if spec is None:
        inside = wanted.number is not None and found.lo <= wanted.number <= found.hi
        return Truth.MIGHT if inside else Truth.FAILS
    if wanted.lo <= found.lo and found.hi <= wanted.hi:
        return sure
    return Truth.MIGHT if found.lo <= wanted.hi and wanted.lo <= found.hi else Truth.FAILS


def _compare_dates(wanted: tuple[int, ...], found: tuple[int, ...]) -> Truth:
    """A literal date against an attribute date at whatever granularity each is known: a year asked of a
    full date compares the year; a full date asked of an entity known to the year only MIGHT hold."""
    common = min(len(wanted), len(found))
    if wanted[:common] != found[:common]:
        return Truth.FAILS
    return Truth.HOLDS if len(found) >= len(wanted) else Truth.MIGHT


def _in_years(years: tuple[int, int], spec: str) -> Truth:
    lo, _, hi = spec.partition("..")
    try:
        start = int(lo) if lo else -math.inf
        end = int(hi) if hi else math.inf
    except ValueError:
        return Truth.FAILS
    if start <= years[0] and years[1] <= end:
        return Truth.HOLDS
    return Truth.MIGHT if years[0] <= end and start <= years[1] else Truth.FAILS


def _pieces(value: str, items_only: bool = False) -> list[str]:
    """The names a written value may hold: itself, without parentheses, and its list items (only the
    items of a list of several, with `items_only`)."""
    plain = strip_parentheticals(value).strip(" \"'“”")
    items = [p.strip(" \"'“”") for p in _LIST_SEPARATORS.split(plain)]
    if items_only:
        return [p for p in dict.fromkeys(items) if p] if len(items) > 1 else []
    return [p for p in dict.fromkeys([value, plain, *items]) if p]


# --- the index -----------------------------------------------------------------------------------------


class _Index:
    def __init__(self, view: GraphView) -> None:
        self.view = view
        self._out: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._into: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._keyed: dict[str, set[str]] = defaultdict(set)
        for edge in view.edges.values():
            if edge.typed:
                self._out[(edge.src, edge.relation)].add(edge.dst)
                self._into[(edge.dst, edge.relation)].add(edge.src)
                self._keyed[edge.relation].add(edge.src)
        self.by_name: dict[str, set[str]] = defaultdict(set)
        self.by_folded: dict[str, set[str]] = defaultdict(set)  # name, label and aliases, folded
        self.by_type: dict[str, set[str]] = defaultdict(set)
        self.by_attribute: dict[str, set[str]] = defaultdict(set)
        self.by_year: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.units: dict[str, set[str]] = defaultdict(set)  # units an amount under a key is written in
        self.entities = list(view.entities.values())  # read once: a view may be large, or counted
        for entity in self.entities:
            self.by_name[entity.name].add(entity.id)
            for spelling in {entity.name, entity.label, *entity.aliases}:
                if fold(spelling):
                    self.by_folded[fold(spelling)].add(entity.id)
            self.by_type[entity.type].add(entity.id)
            for attribute in entity.attributes:
                key = attribute.get("key")
                if not key:
                    continue
                self.by_attribute[key].add(entity.id)
                kind = attribute.get("kind")
                if kind not in NOT_NAMING_KINDS:
                    self._keyed[key].add(entity.id)
                if kind in AMOUNT_KINDS and attribute.get("unit"):
                    self.units[key].add(attribute["unit"])
                if kind in DATE_KINDS:
                    year = year_of(attribute_answer(attribute))
                    if year is not None:
                        self.by_year[(key, year)].add(entity.id)
                elif kind == "span":
                    # a candidate whose span overlaps a year range might be what the question means
                    years = span_years(attribute_answer(attribute))
                    if years is not None:
                        for year in range(years[0], min(years[1], years[0] + _SPAN_CAP) + 1):
                            self.by_year[(key, year)].add(entity.id)
        # unlinked values that name entities: "Label: Atlantic" where "Atlantic" is an alias
        self._named_out: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._named_into: dict[tuple[str, str], set[str]] = defaultdict(set)
        for entity in self.entities:
            for attribute in entity.attributes:
                key = attribute.get("key")
                if not key or attribute.get("kind") in NOT_NAMING_KINDS - DATE_KINDS:
                    continue
                # a link says whom the value names; the other items of a list it sits in might name more
                linked = attribute.get("entity_id")
                for piece in _pieces(str(attribute.get("value") or ""), items_only=bool(linked)):
                    for named in self.by_folded.get(fold(piece), ()):
                        if named not in (entity.id, linked):
                            self._named_out[(entity.id, key)].add(named)
                            self._named_into[(named, key)].add(entity.id)
        self.all = frozenset(e.id for e in self.entities)
        self.stubs = frozenset(e.id for e in self.entities if e.stub)
        self._reached: dict[str, set[str]] = defaultdict(set)  # relation -> entities a typed edge reaches
        for dst, relation in self._into:
            self._reached[relation].add(dst)
        self._lacking: dict[str, frozenset[str]] = {}
        self._classes: dict[tuple[str, bool], frozenset[str]] = {}
        # per one-entity constraint and mode: the entities it admits, kept as the smaller of the admitted
        # set and its complement; bounded, as a planner asks thousands of constraints of one graph
        self._admits: dict[tuple[str, str, str, bool], tuple[frozenset[str], bool]] = {}
        self._lock = threading.Lock()

    def targets(self, src: str, relation: str) -> set[str]:
        """Where typed edges `relation` from `src` lead."""
        return self._out.get((src, relation), set())

    def sources(self, dst: str, relation: str) -> set[str]:
        """Where typed edges `relation` into `dst` come from."""
        return self._into.get((dst, relation), set())

    def named_targets(self, src: str, relation: str) -> set[str]:
        """Entities that `src`'s unlinked values under `relation` name."""
        return self._named_out.get((src, relation), set())

    def named_sources(self, dst: str, relation: str) -> set[str]:
        return self._named_into.get((dst, relation), set())

    def has_key(self, entity_id: str, relation: str) -> bool:
        """Whether the entity states `relation` at all: a typed edge under it, or an attribute under the
        key that can name an entity (a date under "born" says nothing of where)."""
        return entity_id in self._keyed.get(relation, ())

    def stating(self, relation: str) -> set[str]:
        """The entities that state `relation` (a typed edge under it, or a naming attribute)."""
        return self._keyed.get(relation, set())

    def reached(self, relation: str) -> set[str]:
        """The entities some typed edge `relation` leads to."""
        return self._reached.get(relation, set())

    def lacking(self, relation: str) -> frozenset[str]:
        """The entities that do not state `relation`: each might relate to anything under it."""
        found = self._lacking.get(relation)
        if found is None:
            found = self._lacking[relation] = self.all - self._keyed.get(relation, set())
        return found

    def members(self, cls: str, relaxed: bool) -> frozenset[str]:
        """Entities that belong to `cls` (relaxed: or might)."""
        key = (cls, relaxed)
        found = self._classes.get(key)
        if found is None:
            accept = (True, None) if relaxed else (True,)
            found = self._classes[key] = frozenset(
                e.id for e in self.entities if membership(e.type, e.subtype, cls) in accept)
        return found

    def admitted(self, pool: set[str] | frozenset[str], triple: Triple, relaxed: bool) -> set[str] | frozenset[str]:
        """The part of `pool` that a one-entity constraint admits: it HOLDS (relaxed: or MIGHT)."""
        key = (triple.object_kind, triple.predicate, triple.object, relaxed)
        found = self._admits.get(key)
        if found is None:
            found = self._admission(triple, relaxed)
            with self._lock:
                if len(self._admits) >= _ADMISSION_CACHE:
                    for old in list(self._admits)[: _ADMISSION_CACHE // 2]:
                        del self._admits[old]
                self._admits[key] = found
        members, complement = found
        return pool - members if complement else pool & members

    def _admission(self, triple: Triple, relaxed: bool) -> tuple[frozenset[str], bool]:
        floor = Truth.MIGHT if relaxed else Truth.HOLDS
        if triple.object_kind == "type":
            admitted = self.members(triple.object, relaxed)
        elif triple.object_kind in ATTRIBUTE_KINDS:
            # only entities with the key need a look: the others MIGHT hold, never HOLD
            keyed = self.by_attribute.get(triple.predicate, set())
            sure = frozenset(e for e in keyed if _evaluate(self.view.entities[e], triple, self) >= floor)
            admitted = (self.all - keyed) | sure if relaxed else sure
        else:
            admitted = frozenset(e.id for e in self.entities if _evaluate(e, triple, self) >= floor)
        if len(admitted) * 2 > len(self.all):
            return self.all - admitted, True
        return admitted, False

    def years(self, key: str, spec: str) -> set[str] | None:
        """Entities with a `key` date inside a bounded year range; None when the range is open or wide."""
        lo, _, hi = spec.partition("..")
        try:
            start, end = int(lo), int(hi)
        except ValueError:
            return None
        if end - start > 200:
            return None
        out: set[str] = set()
        for year in range(start, end + 1):
            out |= self.by_year.get((key, year), set())
        return out

    def resolve(self, term: str, relaxed: bool) -> set[str]:
        """The entities a constant stands for: by its exact name (or id), else its folded name or label;
        relaxed, every entity with that name, label or alias, stubs and redirects included."""
        name = name_of(term)
        exact = set(self.by_name.get(name) or ({name} if name in self.view.entities else set()))
        if not exact:
            folded = fold(name)
            exact = {i for i in self.by_folded.get(folded, ())
                     if folded in (fold(self.view.entities[i].name), fold(self.view.entities[i].label))}
        return exact | set(self.by_folded.get(fold(name), ())) if relaxed else exact

    def names(self, text: str) -> set[str]:
        return set(self.by_folded.get(fold(text), ()))


_INDEXES: weakref.WeakKeyDictionary[GraphView, _Index] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def _index(view: GraphView) -> _Index:
    with _INDEX_LOCK:
        index = _INDEXES.get(view)
        if index is None:
            index = _INDEXES[view] = _Index(view)
        return index


def entities_named(view: GraphView, name: str) -> list[str]:
    """Ids of the entities bearing `name`, sorted (an index built once per graph view)."""
    return sorted(_index(view).by_name.get(name, ()))


# --- one-entity constraints ----------------------------------------------------------------------------


def holds(entity: Entity, triple: Triple, view: GraphView | None = None) -> bool:
    """Whether a one-entity constraint (attribute, name, type, keyword) surely holds of `entity`."""
    return evaluate(entity, triple, view) is Truth.HOLDS


def evaluate(entity: Entity, triple: Triple, view: GraphView | None = None) -> Truth:
    """Whether a one-entity constraint holds of `entity`, fails, or might hold (the graph does not say).
    With the view, text values are matched by the entities they name and amounts by the units the graph
    writes the key in."""
    return _evaluate(entity, triple, _index(view) if view is not None else None)


def _evaluate(entity: Entity, triple: Triple, index: _Index | None) -> Truth:
    kind, key, wanted = triple.object_kind, triple.predicate, triple.object
    if kind == "type":
        found = membership(entity.type, entity.subtype, wanted)
        return Truth.MIGHT if found is None else Truth.HOLDS if found else Truth.FAILS
    if kind == "keyword":
        if contains_phrase(entity.description, wanted) or contains_phrase(entity.name, wanted):
            return Truth.HOLDS
        return Truth.FAILS if entity.description.strip() else Truth.MIGHT
    if kind in ("prefix", "initials"):
        return _name_truth(entity, kind, key, wanted)
    attributes = [a for a in entity.attributes if a.get("key") == key]
    if kind == "literal":
        return _literal(attributes, key, wanted, index)
    if kind == "year_range":
        return _best(_year_range(a, wanted) for a in attributes)
    if kind == "number_range":
        bounds = _range_amount(wanted)
        units = sorted(index.units.get(key, ())) if index is not None else []
        return _best(_number_range(a, wanted, bounds, units) for a in attributes)
    raise ValueError(f"not a one-entity constraint: {triple}")


def _best(truths: Iterable[Truth | None]) -> Truth:
    """The best of the comparable attributes (None: not comparable); MIGHT when none is comparable."""
    found = [t for t in truths if t is not None]
    return max(found) if found else Truth.MIGHT


def _name_matches(name: str, kind: str, key: str, wanted: str) -> bool:
    if kind == "initials":
        return fold(initials(name)) == fold(wanted)
    start = surname(name) if key == "surname" else bare_name(name)
    return bool(fold(wanted)) and fold(start).startswith(fold(wanted))


def _name_truth(entity: Entity, kind: str, key: str, wanted: str) -> Truth:
    """The label decides; another name the entity goes by (its title, an alias) might be the one meant."""
    if _name_matches(entity.label, kind, key, wanted):
        return Truth.HOLDS
    others = [entity.name, *entity.aliases]
    return Truth.MIGHT if any(_name_matches(n, kind, key, wanted) for n in others if n) else Truth.FAILS


def _literal(attributes: list[dict], key: str, wanted: str, index: _Index | None) -> Truth:
    folded = fold(wanted)
    # the same normalized value; or the same text (folded spellings of amounts drop the currency sign)
    if any(attribute_answer(a) == wanted.strip() or (a.get("kind") not in NOT_NAMING_KINDS and folded in (
            fold(attribute_answer(a)), fold(a.get("value") or ""))) for a in attributes):
        return Truth.HOLDS
    date = _date_parts(wanted) or _written_date(key, wanted)
    amount = _constraint_amount(key, wanted)
    units = sorted(index.units.get(key, ())) if index is not None else []
    wanted_names = index.names(wanted) if index is not None else set()

    def one(attribute: dict) -> Truth | None:
        kind = attribute.get("kind")
        if kind in DATE_KINDS:
            found = _date_parts(attribute_answer(attribute))
            return _compare_dates(date, found) if date and found else None
        if kind == "span":
            years = span_years(attribute_answer(attribute))
            if not date or years is None:
                return None
            return Truth.MIGHT if years[0] <= date[0] <= years[1] else Truth.FAILS
        if kind in AMOUNT_KINDS:
            found = _attribute_amount(attribute)
            return _compare_amounts(amount, None, found, kind, units) if amount and found else None
        if kind in NOT_NAMING_KINDS:  # a format, an identifier, coordinates: the text decides
            same = folded in (fold(attribute_answer(attribute)), fold(attribute.get("value") or ""))
            return Truth.HOLDS if same else Truth.FAILS
        if date or amount:
            return None
        return _text_truth(attribute, folded, wanted_names, index)

    return _best(one(a) for a in attributes)


def _text_truth(attribute: dict, folded: str, wanted_names: set[str], index: _Index | None) -> Truth:
    """Text against text by the entities both name: "Atlantic" and "Atlantic Records" are one label when
    "Atlantic" is an alias of it and of nothing else; a list that holds the value might be it."""
    linked = attribute.get("entity_id")
    if linked and linked in wanted_names:
        return Truth.HOLDS if len(wanted_names) == 1 else Truth.MIGHT
    pieces = _pieces(str(attribute.get("value") or ""))
    if any(fold(p) == folded for p in pieces):
        return Truth.MIGHT
    if index is not None and wanted_names and any(wanted_names & index.names(p) for p in pieces):
        return Truth.MIGHT
    return Truth.FAILS


def _year_range(attribute: dict, spec: str) -> Truth | None:
    kind = attribute.get("kind")
    if kind in DATE_KINDS:
        parts = _date_parts(attribute_answer(attribute))  # signed: "-0044-03-15" is 44 BC
        year = parts[0] if parts else year_of(attribute_answer(attribute))
        return None if year is None else _in_years((year, year), spec)
    if kind == "span":
        years = span_years(attribute_answer(attribute))
        return None if years is None else _in_years(years, spec)
    return None


def _number_range(attribute: dict, spec: str, bounds: _Amount | None, units: list[str]) -> Truth | None:
    kind = attribute.get("kind")
    if kind not in AMOUNT_KINDS or bounds is None:
        return None
    found = _attribute_amount(attribute)
    return None if found is None else _compare_amounts(bounds, spec, found, kind, units)


def attribute_values(entity: Entity, key: str) -> set[str]:
    return {attribute_answer(a) for a in entity.attributes
            if a.get("key") == key and a.get("kind") in VALUE_KINDS and attribute_answer(a)}


# --- solving -------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """What a formalization admits in a graph. `trace` pairs each constraint, in formalization order, with
    how many answers are possible under the constraints up to and including it (for an attribute
    question, before its value triple: how many entities might own the value; where the answer's term is
    not constrained yet: every entity)."""

    definite: set[str]
    possible: set[str]  # a superset of definite; may hold UNKNOWN_VALUE
    trace: list[tuple[Triple, int]] = field(default_factory=list)
    complete: bool = True  # False: a budget ran out, and `possible` over-approximates (conservatively)

    @property
    def unique(self) -> bool:
        """Exactly one answer, which surely holds, and nothing else that might."""
        return len(self.possible) == 1 and self.possible == self.definite

    def constraint_candidates(self) -> list[dict]:
        """The task column: [{"constraint": text, "candidates": n}, ...]."""
        return [{"constraint": t.text(), "candidates": n} for t, n in self.trace]


def solve(formalization: Iterable[dict | Triple], view: GraphView) -> set[str]:
    """Every entity id or attribute value that "?answer" surely takes while all triples hold."""
    return _Solver([Triple.of(t) for t in formalization], view, relaxed=False).answers()


def analyze(formalization: Iterable[dict | Triple], view: GraphView, *, trace: bool = True) -> Analysis:
    """Definite and possible answers, and (with `trace`) the candidates each constraint leaves. The trace
    costs one more search per constraint: a planner that only needs uniqueness passes trace=False."""
    triples = [Triple.of(t) for t in formalization]
    definite = _Solver(triples, view, relaxed=False).answers()
    relaxed = _Solver(triples, view, relaxed=True)
    analysis = Analysis(definite, relaxed.answers() | definite, [], relaxed.complete)
    return with_trace(analysis, triples, view) if trace else analysis


def with_trace(analysis: Analysis, formalization: Iterable[dict | Triple], view: GraphView) -> Analysis:
    """`analysis` (of this formalization) with its trace: a planner checks uniqueness without it, and
    adds it once to the draft it keeps."""
    triples = [Triple.of(t) for t in formalization]
    owner = next((t.subject for t in triples if t.object == ANSWER and t.object_kind == "value"), ANSWER)
    steps = [(triple, len(analysis.possible) if n == len(triples) else _prefix_count(triples[:n], owner, view, triples))
             for n, triple in enumerate(triples, 1)]
    return Analysis(analysis.definite, analysis.possible, steps, analysis.complete)


def _prefix_count(prefix: list[Triple], owner: str, view: GraphView, whole: list[Triple]) -> int:
    valued = any(t.object == ANSWER and t.object_kind == "value" for t in prefix)
    terms = {t.subject for t in prefix} | {t.object for t in prefix if t.object_kind in _JOINING}
    target = ANSWER if valued or ANSWER in terms else owner
    if not valued and target not in terms:
        return len(view.entities)
    return len(_Solver(prefix, view, relaxed=True, target=target, support_from=whole).answers())


# cheap one-entity checks first
_COST = {"type": 0, "prefix": 1, "initials": 1, "literal": 2, "year_range": 2, "number_range": 2, "keyword": 3}


class _Solver:
    """Domains narrowed along the edges first (exact on tree-shaped formalizations), then a backtracking
    search over what is left, for cycles, distinctness and shared values.

    Strict (relaxed=False): every constraint must HOLD, constants are the entities bearing the name.
    Relaxed: no constraint may FAIL, constants are every entity a name, label or alias fits, and an edge
    from a subject that does not state the relation reaches anything."""

    def __init__(self, triples: list[Triple], view: GraphView, *, relaxed: bool, target: str = ANSWER,
                 support_from: list[Triple] | None = None) -> None:
        unknown = {t.object_kind for t in triples} - EDGE_KINDS - UNARY_KINDS - {"value", DISTINCT}
        if unknown:
            raise ValueError(f"unknown object_kind(s) {sorted(unknown)}")
        self.triples = triples
        self.view = view
        self.relaxed = relaxed
        self.index = _index(view)
        values = {t.object for t in triples if t.object_kind == "value"}
        self.values = [t for t in triples if t.object_kind == "value"]
        self.edges = [t for t in triples if t.object_kind in EDGE_KINDS]
        self.distinct = [t for t in triples if t.object_kind == DISTINCT]
        self.terms: list[str] = []
        for t in triples:
            ends = [t.subject] + ([t.object] if t.object_kind in EDGE_KINDS | {DISTINCT} else [])
            for term in ends:
                if term not in self.terms and term not in values:
                    self.terms.append(term)
        self.unary: dict[str, list[Triple]] = defaultdict(list)
        for t in sorted(triples, key=lambda t: _COST.get(t.object_kind, 9)):
            if t.object_kind in UNARY_KINDS:
                self.unary[t.subject].append(t)
        self.target = target
        self.owner = next((t.subject for t in triples if t.object == target and t.object_kind == "value"), target)
        self.complete = True
        self.support_from = support_from if support_from is not None else triples
        self._support: dict[str, set[str]] = {}

    def admitted(self, term: str, pool: Iterable[str]) -> set[str]:
        """The entities of `pool` that exist and that every one-entity constraint on `term` admits
        (relaxed: and that the graph says something in favour of, see `supported`)."""
        # pools come from the index (names resolved to ids, narrowing, edges): every id exists
        out = pool if isinstance(pool, (set, frozenset)) else set(pool)
        if self.relaxed and is_var(term):
            out = out & self.supported(term)
        for u in self.unary[term]:
            if not out:
                break
            out = self.index.admitted(out, u, self.relaxed)
        return set(out)

    def supported(self, term: str) -> set[str]:
        """The entities the graph says something of that `term`'s constraints ask, besides its broad
        type: a class below the top types, a name or keyword that HOLDS, an attribute under a key a
        constraint reads, a relation one of its edges states (as subject: it states the relation; as
        object: an edge of the relation reaches it), or a stub. A candidate of which the graph says
        nothing the question asks (a work of unknown kind, place and maker "might" be the painting in
        Varkholm) is no alternative a reader weighs; one that fits what is known and lacks the attribute
        that would rule it out is, and so is a stub, of which nothing is known at all. Read from the whole
        formalization, also when a trace counts a prefix of it."""
        found = self._support.get(term)
        if found is not None:
            return found
        index = self.index
        out: set[str] = set()
        for t in self.support_from:
            if t.subject == term and t.object_kind == "type":
                if canonical(t.object) not in TYPES:
                    out |= index.admitted(index.all, t, False)
            elif t.subject == term and t.object_kind in _READ_ATTRIBUTE:
                out |= index.by_attribute.get(t.predicate, set())
            elif t.subject == term and t.object_kind in UNARY_KINDS:
                out |= index.admitted(index.all, t, False)
            elif t.object_kind in EDGE_KINDS:
                if t.subject == term:
                    out |= index.stating(t.predicate)
                if t.object == term:
                    out |= index.reached(t.predicate)
        out |= index.stubs  # known to exist, known to no page: whatever they are might fit
        self._support[term] = out
        return out

    def restrict(self, pool: set[str] | frozenset[str], nodes: Iterable[str], relation: str,
                 forward: bool) -> set[str] | frozenset[str]:
        """The part of `pool` that edges `relation` from (forward) or into `nodes` may reach."""
        index, relaxed = self.index, self.relaxed
        open_world = relaxed and relation not in UNTYPED_RELATIONS
        reach: set[str] = set()
        any_node = False
        for node in nodes:
            any_node = True
            if forward:
                if open_world and not index.has_key(node, relation):
                    return pool  # a subject that does not state the relation might relate to anything
                reach |= index.targets(node, relation)
                if relaxed:
                    reach |= index.named_targets(node, relation)
            else:
                reach |= index.sources(node, relation)
                if relaxed:
                    reach |= index.named_sources(node, relation)
        out = pool & reach
        if not forward and open_world and any_node:
            out |= pool & index.lacking(relation)
        return out

    def narrow(self) -> dict[str, set[str]]:
        domains: dict[str, set[str] | None] = {}
        for term in self.terms:
            if is_var(term):
                domains[term] = None
            else:
                domains[term] = self.admitted(term, self.index.resolve(term, self.relaxed))
        self._propagate(domains)
        while any(d is None for d in domains.values()):
            # nothing named reaches these: seed the most selective one from an index, then propagate
            open_terms = [t for t, d in domains.items() if d is None]
            pools = {t: _unanchored(self.unary[t], self.index, self.relaxed) for t in open_terms}
            seed = min(open_terms, key=lambda t: len(pools[t]))
            domains[seed] = self.admitted(seed, pools[seed])
            self._propagate(domains)
        return {t: d for t, d in domains.items() if d is not None}

    def _propagate(self, domains: dict[str, set[str] | None]) -> None:
        changed = True
        while changed:
            changed = False
            for t in self.edges:
                for start, end, forward in ((t.subject, t.object, True), (t.object, t.subject, False)):
                    known = domains[start]
                    if known is None:
                        continue
                    current = domains[end]
                    pool = self.restrict(self.index.all if current is None else current, known, t.predicate, forward)
                    if current is not None and len(pool) == len(current):
                        continue
                    if current is None and pool is self.index.all:
                        continue  # reaches anything: nothing learnt
                    domains[end] = pool if current is not None else self.admitted(end, pool)
                    changed = True

    def answers(self) -> set[str]:
        if not self.terms:
            return set()
        domains = self.narrow()
        if any(not d for d in domains.values()):
            return set()
        valued = {t.object for t in self.values}
        if self._acyclic():
            return self._read_off(domains, valued)
        order = _order(self.terms, self.edges, domains, self.owner)
        answers: set[str] = set()
        proven: set[str] = set()
        budget = [MAX_BINDINGS]

        def candidates(term: str, bound: dict[str, str]) -> set[str] | frozenset[str]:
            pool: set[str] | frozenset[str] = domains[term]
            for t in self.edges:
                if t.subject == term and t.object == term:
                    pool = {c for c in pool if self.restrict({c}, [c], t.predicate, True)}
                elif t.subject == term and t.object in bound:
                    pool = self.restrict(pool, [bound[t.object]], t.predicate, False)
                elif t.object == term and t.subject in bound:
                    pool = self.restrict(pool, [bound[t.subject]], t.predicate, True)
            return pool

        def consistent(term: str, bound: dict[str, str]) -> bool:
            for t in self.distinct:
                if (term in (t.subject, t.object) and t.subject in bound and t.object in bound
                        and bound[t.subject] == bound[t.object]):
                    return False
            return True

        def finish(bound: dict[str, str]) -> None:
            bindings: dict[str, set[str]] = {}
            for t in self.values:
                found = attribute_values(self.view.entities[bound[t.subject]], t.predicate)
                if not found:
                    if not self.relaxed:
                        return
                    continue  # the owner lacks the attribute: its value might be anything
                bindings[t.object] = found if t.object not in bindings else bindings[t.object] & found
                if not bindings[t.object]:
                    return
            if self.target in valued:
                answers.update(bindings.get(self.target, {UNKNOWN_VALUE}))
                if len(valued) == 1:
                    proven.add(bound[self.owner])  # its values are in; no other completion adds any
            elif self.target in bound:
                answers.add(bound[self.target])

        def search(position: int, bound: dict[str, str]) -> None:
            if budget[0] <= 0:
                return
            if self.owner in bound and (bound[self.owner] in proven or bound[self.owner] in answers):
                return  # this answer is already found: other completions add nothing
            if position == len(order):
                finish(bound)
                return
            term = order[position]
            for choice in sorted(candidates(term, bound)):
                budget[0] -= 1
                if budget[0] <= 0:
                    return
                bound[term] = choice
                if consistent(term, bound):
                    search(position + 1, bound)
                del bound[term]

        search(0, {})
        if budget[0] <= 0:
            self.complete = False
            if self.relaxed and self.owner in domains:
                # out of budget: every owner not ruled out counts, so the report errs towards ambiguous
                for owner in domains[self.owner]:
                    if self.target in valued:
                        answers.update(attribute_values(self.view.entities[owner],
                                                        next(t.predicate for t in self.values
                                                             if t.object == self.target)) or {UNKNOWN_VALUE})
                    else:
                        answers.add(owner)
        return answers


    def _acyclic(self) -> bool:
        """Whether narrowing alone is exact: the edges form a forest (no cycle, no two edges between one
        pair of terms, no loop), nothing is distinct, and no value variable is shared. Then every entity
        left in a domain takes part in some binding of all the terms."""
        if self.distinct or len({t.object for t in self.values}) < len(self.values):
            return False
        parent = {term: term for term in self.terms}

        def root(term: str) -> str:
            while parent[term] != term:
                parent[term] = parent[parent[term]]
                term = parent[term]
            return term

        for t in self.edges:
            a, b = root(t.subject), root(t.object)
            if a == b:
                return False
            parent[a] = b
        return True

    def _read_off(self, domains: dict[str, set[str]], valued: set[str]) -> set[str]:
        if self.target not in valued:
            return set(domains.get(self.target, ()))
        key = next(t.predicate for t in self.values if t.object == self.target)
        answers: set[str] = set()
        for owner in domains.get(self.owner, ()):
            found = attribute_values(self.view.entities[owner], key)
            if found:
                answers |= found
            elif self.relaxed:
                answers.add(UNKNOWN_VALUE)
        return answers


def _order(terms: list[str], edges: list[Triple], domains: dict[str, set[str]], owner: str) -> list[str]:
    """The smallest domain first, then terms joined by an edge to what is already placed (smallest
    first), the answer's entity as early as it can be: once it is bound, the rest only has to exist."""
    order: list[str] = []
    remaining = list(terms)
    while remaining:
        joined = [t for t in remaining if any(
            (e.subject == t and e.object in order) or (e.object == t and e.subject in order) for e in edges)]
        if owner in joined:
            pick = owner
        else:
            pick = min(joined or remaining, key=lambda t: (len(domains[t]), remaining.index(t)))
        order.append(pick)
        remaining.remove(pick)
    return order


def _unanchored(constraints: list[Triple], index: _Index, relaxed: bool) -> set[str] | frozenset[str]:
    """Candidates for a variable no edge reaches yet: narrowed by an index over its constraints (relaxed,
    only by class: an entity lacking an attribute might have any value)."""
    pools: list[set[str] | frozenset[str]] = []
    for c in constraints:
        if c.object_kind == "type":
            pools.append(index.members(c.object, relaxed))
        elif relaxed:
            continue
        elif c.object_kind == "year_range":
            years = index.years(c.predicate, c.object)
            pools.append(years if years is not None else index.by_attribute.get(c.predicate, set()))
        elif c.object_kind in ATTRIBUTE_KINDS:
            pools.append(index.by_attribute.get(c.predicate, set()))
    return min(pools, key=len) if pools else index.all
