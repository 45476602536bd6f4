"""A task's formalization as a solving path: one hop per variable, from the named entities toward "?answer".

Each hop resolves one variable from what is already known (the constants, and the variables resolved
before it) and reads as a sub-question: "Who is the historian whose notable works include A History of
Estavia? (call it x1)". The order: a variable joined by an edge to something known comes first, the one
farthest from the answer's entity first among those (the path runs toward the answer); where nothing
named reaches any variable (a level-3 question of descriptions only) the search starts from the
variable farthest from the answer. An attribute question ends with a hop that reads the attribute.

The phrases come from synth/tasks/phrases.py, the same English the question writer uses.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from drsynth.synth.tasks.formal import ANSWER, EDGE_KINDS, Triple, is_var, name_of
from drsynth.synth.tasks.phrases import (
    TYPE_NOUNS,
    attribute_question,
    class_nouns,
    date_clause,
    fill,
    number_clause,
    relation_phrase,
    text_clause,
)

_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True)
class Hop:
    term: str  # the variable this hop resolves ("?x1", "?answer")
    kind: str  # entity | value
    noun: str  # what it is: "historian", "place"
    clauses: tuple[str, ...]  # what it must satisfy, with earlier terms by label: "born in s1"
    anchors: tuple[str, ...]  # the known terms it starts from (constants or earlier variables)
    triples: tuple[Triple, ...]  # the triples it checks
    person: bool = False
    described: bool = False  # the noun is a keyword of its description ("historian"), not its class

    @property
    def label(self) -> str:
        return label(self.term)

    def question(self, names: Mapping[str, str] | None = None, answer_type: str = "") -> str:
        """The sub-question; `names` (term -> name) replaces the labels of resolved variables, and
        `answer_type` (date, year, number, ...) words a value hop ("When was x1 founded?")."""
        clauses = [_named(c, names) for c in self.clauses]
        if self.kind == "value":
            return attribute_question(self.noun, answer_type, _named(label(self.anchors[0]), names))
        head = f"{'Who' if self.person else 'What'} is the {self.noun}"
        return f"{head} {_join(clauses)}?" if clauses else f"{head}?"


def label(term: str) -> str:
    """How a term reads in a plan: a variable by its name ("x1"), a constant by its entity name."""
    if term == ANSWER:
        return "the answer"
    return term[1:] if is_var(term) else name_of(term)


def display(term: str, question: str = "") -> str:
    """A constant as the question writes it: without a disambiguator the question leaves out."""
    name = name_of(term)
    bare = _DISAMBIGUATOR.sub("", name)
    return name if name in question or bare == name or bare not in question else bare


def constants(formalization: Iterable[Mapping | Triple]) -> list[str]:
    """The entity names a formalization mentions, in order."""
    out: list[str] = []
    for t in map(Triple.of, formalization):
        ends = [t.subject] + ([t.object] if t.object_kind in EDGE_KINDS | {"distinct"} else [])
        out.extend(e for e in ends if not is_var(e) and e not in out)
    return out


def _join(clauses: list[str]) -> str:
    return clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _named(text: str, names: Mapping[str, str] | None) -> str:
    if not names:
        return text
    for term, name in names.items():
        text = re.sub(rf"(?<![\w?]){re.escape(label(term))}(?!\w)", name, text)
    return text


class _Graph:
    def __init__(self, triples: list[Triple]) -> None:
        self.triples = triples
        self.values = {t.object for t in triples if t.object_kind == "value"}
        self.edges = [t for t in triples if t.object_kind in EDGE_KINDS]
        self.types = {t.subject: t.object for t in triples if t.object_kind == "type"}
        self.keywords = {t.subject: t.object for t in triples if t.object_kind == "keyword"}
        self.variables: list[str] = []
        for t in triples:
            ends = [t.subject] + ([t.object] if t.object_kind in EDGE_KINDS | {"distinct"} else [])
            self.variables.extend(e for e in ends if is_var(e) and e not in self.values and e not in self.variables)
        self.owner = next((t.subject for t in triples if t.object == ANSWER and t.object_kind == "value"), ANSWER)

    def neighbours(self, term: str) -> list[str]:
        return [t.object if t.subject == term else t.subject for t in self.edges if term in (t.subject, t.object)]

    def distances(self) -> dict[str, int]:
        seen = {self.owner: 0}
        queue = deque([self.owner])
        while queue:
            node = queue.popleft()
            for other in self.neighbours(node):
                if other not in seen:
                    seen[other] = seen[node] + 1
                    queue.append(other)
        return seen

    def noun(self, term: str) -> str:
        """What the question calls the term: its keyword, else its class's noun ("singer", "record label"),
        else its type's."""
        kind = self.types.get(term, "")
        return self.keywords.get(term) or TYPE_NOUNS.get(kind) or class_nouns().get(kind) or kind or "entity"


def solving_path(formalization: Iterable[Mapping | Triple]) -> list[Hop]:
    """The hops that solve a formalization, in order; the last one yields the answer."""
    graph = _Graph([Triple.of(t) for t in formalization])
    known = {e for t in graph.edges for e in (t.subject, t.object) if not is_var(e)}
    distance = graph.distances()
    far = len(graph.variables) + 1  # a variable the answer's entity does not reach
    remaining = list(graph.variables)
    hops: list[Hop] = []
    while remaining:
        ready = [v for v in remaining if any(n in known for n in graph.neighbours(v))]
        if len(ready) > 1 and graph.owner in ready:
            ready.remove(graph.owner)  # the answer's entity last, once the rest is known
        pool = ready or remaining
        pick = max(pool, key=lambda v: (distance.get(v, far), -remaining.index(v)))
        hops.append(_entity_hop(graph, pick, known))
        known.add(pick)
        remaining.remove(pick)
    for t in graph.triples:
        if t.object_kind == "value":
            hops.append(Hop(t.object, "value", t.predicate, (), (t.subject,), (t,)))
    return hops


def _entity_hop(graph: _Graph, term: str, known: set[str]) -> Hop:
    person = graph.types.get(term) == "person"
    clauses: list[str] = []
    anchors: list[str] = []
    checked: list[Triple] = []
    for t in graph.triples:
        if term not in (t.subject, t.object):
            continue
        other = t.object if t.subject == term else t.subject
        text = _clause(graph, t, term, other, known, person)
        if text is None:
            continue
        clauses.append(text)
        checked.append(t)
        if t.object_kind in EDGE_KINDS and other in known and other not in anchors:
            anchors.append(other)
    return Hop(term, "entity", graph.noun(term), tuple(dict.fromkeys(clauses)), tuple(anchors), tuple(checked),
               person, term in graph.keywords)


def _clause(graph: _Graph, t: Triple, term: str, other: str, known: set[str], person: bool) -> str | None:
    """How one triple constrains `term`; None when it does not here (a type, or an edge to the unknown)."""
    kind = t.object_kind
    if kind in ("type", "keyword"):
        return None
    if kind in EDGE_KINDS:
        if other not in known:
            return None
        if t.subject == term:
            phrase = relation_phrase(t.predicate, graph.types.get(other, ""), graph.types.get(term, ""))
            return fill(phrase.out, person=person, o=label(other))
        phrase = relation_phrase(t.predicate, graph.types.get(term, ""), graph.types.get(other, ""))
        return fill(phrase.into, person=person, s=label(other))
    if kind == "distinct":
        return f"other than {label(other)}" if other in known or not is_var(other) else None
    if t.subject != term or kind == "value":
        return None
    spec = t.object
    if kind == "year_range":
        lo, _, hi = spec.partition("..")
        return date_clause(t.predicate, f"between {lo} and {hi}", person)
    if kind == "number_range":
        lo, _, hi = spec.partition("..")
        amount = (f"more than {spec[1:]}" if spec.startswith(">") else f"less than {spec[1:]}"
                  if spec.startswith("<") else f"between {lo} and {hi}")
        return number_clause(t.predicate, amount, person)
    if kind == "prefix":
        return f"whose {t.predicate} begins with {spec}"
    if kind == "initials":
        return f"whose initials are {spec}"
    return text_clause(t.predicate, spec)  # literal, and any kind added later
