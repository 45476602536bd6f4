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
  literal        the subject has attribute `predicate` with exactly this (normalized) value
  year_range     ... with a date or year inside "lo..hi" (inclusive)
  number_range   ... with a number inside "lo..hi" (either side open), or ">lo", "<hi"
  prefix         predicate "surname" or "name": the name (article dropped) begins with the object
  initials       the name's initials are the object ("A. F.")
  type           the entity's type is the object (person, place, ...)
  keyword        the entity's description contains the object as whole words ("composer")
  distinct       subject and object (variables or names) are different entities: "the same city as X"
                 speaks of someone other than X
`solve` returns every binding of "?answer": entity ids where it names an entity, attribute values
(canonical form, see text.attribute_answer) where it names a value.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from synth.graph.view import Entity, GraphView
from synth.tasks.operations import bare_name, in_number_range, in_year_range, initials, surname
from synth.tasks.text import attribute_answer, contains_phrase, fold, number_of, year_of

ANSWER = "?answer"
EDGE_KINDS = frozenset({"var", "entity"})
ATTRIBUTE_KINDS = frozenset({"literal", "year_range", "number_range"})
UNARY_KINDS = frozenset({*ATTRIBUTE_KINDS, "prefix", "initials", "type", "keyword"})
DISTINCT = "distinct"
VALUE_KINDS = frozenset({"date", "year", "span", "number", "quantity", "count", "percent", "money", "duration",
                         "text"})
# kinds a number_range constraint compares (the normalized amount: seconds, a plain sum of money)
AMOUNT_KINDS = frozenset({"number", "quantity", "count", "percent", "money", "duration"})
_SPAN_CAP = 200  # years of an open or long span indexed for year_range


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
MAX_BINDINGS = 20_000  # enumeration stops here: a formalization this loose is ambiguous anyway


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


class _Index:
    def __init__(self, view: GraphView) -> None:
        self._out: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._into: dict[tuple[str, str], set[str]] = defaultdict(set)
        for edge in view.edges.values():
            if edge.typed:
                self._out[(edge.src, edge.relation)].add(edge.dst)
                self._into[(edge.dst, edge.relation)].add(edge.src)
        self.by_name: dict[str, set[str]] = defaultdict(set)
        self.by_type: dict[str, set[str]] = defaultdict(set)
        self.by_attribute: dict[str, set[str]] = defaultdict(set)
        self.by_year: dict[tuple[str, int], set[str]] = defaultdict(set)
        for entity in view.entities.values():
            self.by_name[entity.name].add(entity.id)
            self.by_type[entity.type].add(entity.id)
            for attribute in entity.attributes:
                key = attribute.get("key")
                if not key:
                    continue
                self.by_attribute[key].add(entity.id)
                if attribute.get("kind") in ("date", "year"):
                    year = year_of(attribute_answer(attribute))
                    if year is not None:
                        self.by_year[(key, year)].add(entity.id)
                elif attribute.get("kind") == "span":
                    # a candidate whose span overlaps a year range might be what the question means
                    years = span_years(attribute_answer(attribute))
                    if years is not None:
                        for year in range(years[0], min(years[1], years[0] + _SPAN_CAP) + 1):
                            self.by_year[(key, year)].add(entity.id)
        self.all = set(view.entities)

    def targets(self, src: str, relation: str) -> set[str]:
        """Where typed edges `relation` from `src` lead."""
        return self._out.get((src, relation), set())

    def sources(self, dst: str, relation: str) -> set[str]:
        """Where typed edges `relation` into `dst` come from."""
        return self._into.get((dst, relation), set())

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


def holds(entity: Entity, triple: Triple) -> bool:
    """Whether a one-entity constraint (attribute, name, type, keyword) holds of `entity`."""
    kind, key, wanted = triple.object_kind, triple.predicate, triple.object
    if kind == "type":
        return entity.type == wanted
    if kind == "keyword":
        return contains_phrase(entity.description, wanted) or contains_phrase(entity.name, wanted)
    if kind == "prefix":
        name = surname(entity.label) if key == "surname" else bare_name(entity.label)
        return fold(name).startswith(fold(wanted)) and bool(fold(wanted))
    if kind == "initials":
        return fold(initials(entity.label)) == fold(wanted)
    attributes = [a for a in entity.attributes if a.get("key") == key]
    if kind == "literal":
        return any(fold(attribute_answer(a)) == fold(wanted) or fold(a.get("value") or "") == fold(wanted)
                   for a in attributes)
    if kind == "year_range":
        years = (year_of(attribute_answer(a)) for a in attributes if a.get("kind") in ("date", "year"))
        if any(y is not None and in_year_range(y, wanted) for y in years):
            return True
        spans = (span_years(attribute_answer(a)) for a in attributes if a.get("kind") == "span")
        return any(s is not None and _overlaps(s, wanted) for s in spans)
    if kind == "number_range":
        # a range of amounts (normalized "2000000/3000000") is no single number to compare
        numbers = (number_of(attribute_answer(a)) for a in attributes
                   if a.get("kind") in AMOUNT_KINDS and "/" not in attribute_answer(a))
        return any(n is not None and in_number_range(n, wanted) for n in numbers)
    raise ValueError(f"not a one-entity constraint: {triple}")


def _overlaps(years: tuple[int, int], spec: str) -> bool:
    lo, _, hi = spec.partition("..")
    try:
        return (not lo or years[1] >= int(lo)) and (not hi or years[0] <= int(hi))
    except ValueError:
        return False


def attribute_values(entity: Entity, key: str) -> set[str]:
    return {attribute_answer(a) for a in entity.attributes
            if a.get("key") == key and a.get("kind") in VALUE_KINDS and attribute_answer(a)}


def solve(formalization: Iterable[dict | Triple], view: GraphView) -> set[str]:
    """Every entity id or attribute value that "?answer" can take while all triples hold."""
    return _Solver([Triple.of(t) for t in formalization], view).answers()


# cheap one-entity checks first
_COST = {"type": 0, "prefix": 1, "initials": 1, "literal": 2, "year_range": 2, "number_range": 2, "keyword": 3}


class _Solver:
    """Domains narrowed along the edges first (exact on tree-shaped formalizations), then a backtracking
    search over what is left, for cycles, distinctness and shared values."""

    def __init__(self, triples: list[Triple], view: GraphView) -> None:
        unknown = {t.object_kind for t in triples} - EDGE_KINDS - UNARY_KINDS - {"value", DISTINCT}
        if unknown:
            raise ValueError(f"unknown object_kind(s) {sorted(unknown)}")
        self.triples = triples
        self.view = view
        self.index = _index(view)
        values = {t.object for t in triples if t.object_kind == "value"}
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
        self.owner = next((t.subject for t in triples if t.object == ANSWER and t.object_kind == "value"), ANSWER)
        self._checked: dict[tuple[str, str], bool] = {}

    def passes(self, term: str, entity_id: str) -> bool:
        key = (term, entity_id)
        if key not in self._checked:
            entity = self.view.entities.get(entity_id)
            self._checked[key] = entity is not None and all(holds(entity, u) for u in self.unary[term])
        return self._checked[key]

    def narrow(self) -> dict[str, set[str]]:
        domains: dict[str, set[str] | None] = {}
        for term in self.terms:
            if is_var(term):
                domains[term] = None
            else:
                name = name_of(term)
                ids = self.index.by_name.get(name) or ({name} if name in self.view.entities else set())
                domains[term] = {i for i in ids if self.passes(term, i)}
        self._propagate(domains)
        while any(d is None for d in domains.values()):
            # nothing named reaches these: seed the most selective one from an index, then propagate
            open_terms = [t for t, d in domains.items() if d is None]
            pools = {t: _unanchored(t, self.unary[t], self.index) for t in open_terms}
            seed = min(open_terms, key=lambda t: len(pools[t]))
            domains[seed] = {i for i in pools[seed] if self.passes(seed, i)}
            self._propagate(domains)
        return {t: d for t, d in domains.items() if d is not None}

    def _propagate(self, domains: dict[str, set[str] | None]) -> None:
        changed = True
        while changed:
            changed = False
            for t in self.edges:
                for start, end, step in ((t.subject, t.object, self.index.targets),
                                         (t.object, t.subject, self.index.sources)):
                    known = domains[start]
                    if known is None:
                        continue
                    reach: set[str] = set()
                    for node in known:
                        reach |= step(node, t.predicate)
                    current = domains[end]
                    narrowed = {n for n in reach if (current is None or n in current) and self.passes(end, n)}
                    if current is None or len(narrowed) < len(current):
                        domains[end] = narrowed
                        changed = True

    def answers(self) -> set[str]:
        if not self.terms:
            return set()
        domains = self.narrow()
        if any(not d for d in domains.values()):
            return set()
        order = _order(self.terms, self.edges, domains, self.owner)
        answers: set[str] = set()
        proven: set[str] = set()
        budget = [MAX_BINDINGS]

        def candidates(term: str, bound: dict[str, str]) -> set[str]:
            pool = domains[term]
            for t in self.edges:
                if t.subject == term and t.object in bound:
                    pool = pool & self.index.sources(bound[t.object], t.predicate)
                elif t.object == term and t.subject in bound:
                    pool = pool & self.index.targets(bound[t.subject], t.predicate)
            return pool

        def consistent(term: str, bound: dict[str, str]) -> bool:
            for t in self.distinct:
                if (term in (t.subject, t.object) and t.subject in bound and t.object in bound
                        and bound[t.subject] == bound[t.object]):
                    return False
            return True

        def finish(bound: dict[str, str]) -> None:
            bindings: dict[str, set[str]] = {}
            for t in self.triples:
                if t.object_kind == "value":
                    found = attribute_values(self.view.entities[bound[t.subject]], t.predicate)
                    bindings[t.object] = found if t.object not in bindings else bindings[t.object] & found
            if any(not v for v in bindings.values()):
                return
            if ANSWER in bindings:
                answers.update(bindings[ANSWER])
                if len(bindings) == 1:
                    proven.add(bound[self.owner])  # its values are in; no other completion adds any
            elif ANSWER in bound:
                answers.add(bound[ANSWER])

        def search(position: int, bound: dict[str, str]) -> None:
            if budget[0] <= 0:
                return
            if self.owner in bound and (bound[self.owner] in proven or bound[self.owner] in answers):
                return  # this answer is already found: other completions add nothing
            if position == len(order):
                budget[0] -= 1
                finish(bound)
                return
            term = order[position]
            for choice in sorted(candidates(term, bound)):
                bound[term] = choice
                if consistent(term, bound):
                    search(position + 1, bound)
                del bound[term]

        search(0, {})
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


def _unanchored(term: str, constraints: list[Triple], index: _Index) -> set[str]:
    """Candidates for a variable no edge reaches yet: narrowed by an index over its constraints."""
    pools = []
    for c in constraints:
        if c.object_kind == "type":
            pools.append(index.by_type.get(c.object, set()))
        elif c.object_kind == "year_range":
            years = index.years(c.predicate, c.object)
            pools.append(years if years is not None else index.by_attribute.get(c.predicate, set()))
        elif c.object_kind in ATTRIBUTE_KINDS:
            pools.append(index.by_attribute.get(c.predicate, set()))
    return set(min(pools, key=len)) if pools else set(index.all)
