"""What a question is about, before anyone words it: the answer, the constraints, their proof.

A draft is a tree of mentions rooted at the answer (or, for an attribute question, at the entity that
owns the attribute). Each mention is an entity named outright (a constant) or described (a variable),
and carries clauses: an edge to a child mention, an attribute constraint, a masked name, or an
attribute it shares with another mention. The formalization, the operations and the evidence all
derive from the same tree, so what the writers word is exactly what the solver checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from drsynth.synth.tasks.formal import Triple, constant
from drsynth.synth.tasks.operations import Operation


@dataclass
class Mention:
    entity_id: str
    var: str | None  # None: named in the question by `display`
    name: str  # the entity's unique name (a formalization constant)
    display: str  # how the question writes the name
    noun: str  # "composer", "city": the class noun from the phrase table, never from a description
    person: bool
    keyword: bool  # legacy: the noun came from the description (a keyword constraint); now always False
    type: str
    past: bool = False  # a person no longer living, or an event: "Who was ...?"
    # the class `noun` stands for: the subtype whose noun was used ("single"), else the type; the
    # formalization states it as Triple(var, "type", cls, "type")
    cls: str = ""
    clauses: list[Clause] = field(default_factory=list)

    @property
    def term(self) -> str:
        """The formalization term: the variable, or the name as a constant (escaped if it looks like one)."""
        return self.var or constant(self.name)

    def walk(self) -> list[Mention]:
        out = [self]
        for clause in self.clauses:
            if clause.other is not None and clause.kind in ("edge", "shared"):
                out.extend(clause.other.walk())
        return out


@dataclass
class Clause:
    kind: str  # edge | attribute | name | shared
    relation: str = ""  # edge/shared: the relation; attribute: its key
    outgoing: bool = True  # edge/shared: the mention is the edge's source
    other: Mention | None = None  # edge: the child; shared: the entity it shares with
    text: str = ""  # attribute / name: the phrase as the question states it
    shared_noun: str = ""  # shared: what the common entity is ("city")
    shared_type: str = ""
    shared_var: str = ""
    triples: list[Triple] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    op: Operation | None = None
    edge_id: str = ""


@dataclass
class TaskDraft:
    subgraph_id: str
    graph: str
    level: int
    root: Mention
    answer: str
    aliases: list[str]
    answer_type: str  # entity | date | year | number | text
    expected: str  # what solve() must return: the entity id or the attribute's canonical value
    target_entity_id: str
    attribute: dict | None  # {"key", "kind"} for attribute questions
    hops: int = 0
    operations: list[Operation] = field(default_factory=list)
    formalization: list[Triple] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    # what the checks measured (filled in by the planner once the draft is final)
    relation: str = ""  # the relation the answer is read through
    candidates: int = 0  # answers the solver admits: 1 when unique
    constraint_candidates: list[tuple[str, int]] = field(default_factory=list)
    search_queries: list[str] = field(default_factory=list)
    search_rank: int | None = None
    search_k: int | None = None

    @property
    def evidence_doc_ids(self) -> list[str]:
        return list(dict.fromkeys(e["doc_id"] for e in self.evidence if e.get("doc_id")))

    def facts(self) -> list[str]:
        """The constraints in plain words, one per clause, for a teacher model's prompt."""
        out = []
        for mention in self.root.walk():
            subject = mention.var or mention.display
            for clause in mention.clauses:
                if clause.kind == "edge" and clause.other is not None:
                    other = clause.other.var or clause.other.display
                    src, dst = (subject, other) if clause.outgoing else (other, subject)
                    out.append(f"{src} --{clause.relation}--> {dst}")
                elif clause.kind == "shared" and clause.other is not None:
                    other = clause.other.var or clause.other.display
                    out.append(f"{subject} and {other} share the same {clause.relation} "
                               f"({clause.shared_noun}, {clause.shared_var})")
                else:
                    out.append(f"{subject}: {clause.text}")
        return out

    def to_json(self) -> str:
        return json.dumps({
            "subgraph_id": self.subgraph_id, "level": self.level, "hops": self.hops, "answer": self.answer,
            "aliases": self.aliases, "answer_type": self.answer_type, "target_entity_id": self.target_entity_id,
            "operations": [o.row() for o in self.operations],
            "formalization": [t.row() for t in self.formalization], "evidence": self.evidence,
        }, ensure_ascii=False, sort_keys=True)
