"""Subgraph sampling: random walks with jumps back, low-degree seeds, one subgraph per walk.

A walk starts at a seed drawn with probability ∝ (degree + 1) ** -bias (answers should not be famous
hubs), then adds edges one at a time until an edge budget drawn from min..max is met. Before each
step it may jump back to an earlier visited node, and an edge may close a cycle onto a visited node,
so subgraphs come out as trees with branches and cycles rather than chains. Steps prefer edges whose
evidence names the entity at the other end, and lean away from hubs.

Only typed edges are steps: a fact about the source entity (its own infobox's key). A hyperlink, a
table link or a name mention says two entities are connected, never how, so no question can state it.
An entity with no typed edge but an askable attribute is a subgraph of its own, with no edge: the one
question it affords is that attribute (level 1). Stubs (entities known only from another page's
infobox) are nodes like any other, and answers by their name; they have no attribute to ask.

Walks lean away from what earlier walks of the run asked: a seed already used is redrawn with a
probability that grows with its uses, and a target attribute's key weighs less the more it was asked.

Every walk draws from its own generator seeded by (seed, graph version, walk number): the same graph
and settings give the same subgraphs, hence the same ids, and a rerun adds nothing.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph.values import parse_value
from drsynth.synth.graph.view import Edge, Entity, GraphView
from drsynth.synth.tasks.config import TaskConfig
from drsynth.synth.tasks.phrases import AMOUNT_KINDS, askable
from drsynth.synth.tasks.shape import wl_hash
from drsynth.synth.tasks.text import attribute_answer, contains_phrase

# attribute kinds a question can ask for (an entity-valued attribute is asked through its edge instead);
# spans, formats, identifiers and coordinates are never asked
ANSWER_KINDS = frozenset({"date", "year", "number", "quantity", "count", "money", "duration", "percent"})
ATTRIBUTE_TARGET_SHARE = 0.4  # of seeds that have an askable attribute
SEED_REDRAWS = 4  # draws per seed while earlier walks' answers are drawn again


@dataclass(frozen=True)
class Walk:
    seed: str
    nodes: tuple[str, ...]  # in visiting order, the seed first
    edges: tuple[Edge, ...]  # in adding order


def askable_attributes(entity: Entity) -> list[dict]:
    """Attributes a question may ask for: typed, with a value, unique under their key, and stated by the
    entity's own page (a row of another page's table speaks in that page's terms: "Completed: 1886" in an
    architect's list of buildings is when his restoration was done)."""
    keys = Counter(a.get("key") for a in entity.attributes if a.get("kind") in ANSWER_KINDS)
    return [a for a in entity.attributes
            if a.get("kind") in ANSWER_KINDS and a.get("key") and attribute_answer(a) and keys[a.get("key")] == 1
            and stated_fact(a)]


def stated_fact(attribute: dict) -> bool:
    """Whether a question may state or ask an attribute: a property (phrases.askable) that the entity's
    own page states, not a row of another page's table, and for an amount, the whole value."""
    kind = str(attribute.get("kind") or "")
    return (attribute.get("source") != "table" and askable(str(attribute.get("key") or ""), kind)
            and (kind not in AMOUNT_KINDS or whole_amount(str(attribute.get("key") or ""),
                                                          str(attribute.get("value") or ""))))


_WORD = re.compile(r"[^\W\d_]{2,}")
_PARENTHETICAL = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def whole_amount(key: str, value: str) -> bool:
    """Whether an amount is all the value says: "Main telescope: 40 cm refractor (1888)" holds an amount,
    but the telescope is a refractor, and "40 cm" answers no question its key asks."""
    found = parse_value(key, value)
    if found is None or found.kind not in AMOUNT_KINDS:
        return True
    rest = _PARENTHETICAL.sub(" ", value[:found.start] + " " + value[found.end:])
    if found.qualifier:
        rest = rest.replace(found.qualifier, " ")
    return _WORD.search(rest) is None


class Sampler:
    """Random walks over one graph version (neighbour lists sorted once, so walks are reproducible)."""

    def __init__(self, view: GraphView, graph: str, config: TaskConfig) -> None:
        self.view = view
        self.graph = graph
        self.config = config
        self._neighbors: dict[str, list[tuple[Edge, str, float]]] = {}
        self._typed: dict[str, list[tuple[Edge, str]]] = {}
        for edge in view.edges.values():
            if edge.typed and edge.src != edge.dst:
                self._typed.setdefault(edge.src, []).append((edge, edge.dst))
                self._typed.setdefault(edge.dst, []).append((edge, edge.src))
        # a seed has a typed edge to walk, or an attribute to ask; the weight counts every edge, links
        # included (how well known an entity is, whatever says so)
        seeds = sorted(e for e, entity in view.entities.items() if e in self._typed or askable_attributes(entity))
        weights = [(view.degree(e) + 1) ** -config.low_degree_bias for e in seeds]
        self.seeds = seeds
        self._cumulative = list(itertools.accumulate(weights))
        # what earlier walks of this run already asked about: later seeds and targets lean away from it
        self.used_entities: Counter[str] = Counter()
        self.used_relations: Counter[str] = Counter()

    def note(self, row: dict) -> None:
        """Count a kept subgraph's answer entity and the relation it is asked through."""
        target = row["target"]
        self.used_entities[target["entity_id"]] += 1
        if target.get("attribute"):
            self.used_relations[target["attribute"]] += 1
        else:
            for edge in row["edges"]:
                if target["entity_id"] in (edge["src"], edge["dst"]):
                    self.used_relations[edge["relation"]] += 1

    def neighbors(self, node: str) -> list[tuple[Edge, str, float]]:
        cached = self._neighbors.get(node)
        if cached is None:
            cached = sorted(((edge, other, self._step_weight(edge, other)) for edge, other in self._typed.get(node, ())),
                            key=lambda item: item[0].id)
            self._neighbors[node] = cached
        return cached

    def _step_weight(self, edge: Edge, other: str) -> float:
        weight = 2.0 if edge.evidence and self._names_an_end(edge) else 1.0
        return weight * (self.view.degree(other) + 1) ** (-self.config.low_degree_bias / 2)

    def _names_an_end(self, edge: Edge) -> bool:
        for end in (edge.dst, edge.src):
            entity = self.view.entities.get(end)
            if entity and any(contains_phrase(edge.evidence, n) for n in (entity.label, entity.name, *entity.aliases)):
                return True
        return False

    def pick_seed(self, rng: random.Random) -> str:
        """A seed by degree weight, an entity already asked about kept only with probability
        1 / (1 + uses)^2 (a few redraws, then the last draw stands): unused entities come first."""
        seed = self.seeds[0]
        for _ in range(SEED_REDRAWS):
            point = rng.random() * self._cumulative[-1]
            seed = self.seeds[min(bisect.bisect_right(self._cumulative, point), len(self.seeds) - 1)]
            if rng.random() < 1.0 / (1 + self.used_entities[seed]) ** 2:
                break
        return seed

    def walk(self, index: int) -> Walk | None:
        if not self.seeds:
            return None
        rng = random.Random(content_id("walk", self.config.seed, self.graph, index))
        seed = self.pick_seed(rng)
        budget = rng.randint(self.config.min_edges, self.config.max_edges)
        visited = [seed]
        chosen: list[Edge] = []
        pairs: set[frozenset[str]] = set()
        current = seed
        for _ in range(budget * 8):
            if len(chosen) >= budget:
                break
            if len(visited) > 1 and rng.random() < self.config.jump_back:
                current = rng.choice(visited[:-1])
            options = self._open_steps(current, pairs)
            if not options:
                open_nodes = [v for v in visited if self._open_steps(v, pairs)]
                if not open_nodes:
                    break
                current = rng.choice(open_nodes)
                continue
            edge, other = _weighted_choice(rng, options)
            chosen.append(edge)
            pairs.add(frozenset((edge.src, edge.dst)))
            if other not in visited:
                visited.append(other)
            current = other
        return Walk(seed, tuple(visited), tuple(chosen))

    def _open_steps(self, node: str, pairs: set[frozenset[str]]) -> list[tuple[Edge, str, float]]:
        """Edges from `node` to an entity it is not yet joined to (the best edge per neighbour)."""
        best: dict[str, tuple[Edge, str, float]] = {}
        for edge, other, weight in self.neighbors(node):
            if frozenset((node, other)) in pairs:
                continue
            if other not in best or weight > best[other][2]:
                best[other] = (edge, other, weight)
        return [best[o] for o in sorted(best)]

    def alone(self, walk: Walk) -> bool:
        """Whether a walk is a single entity with no typed edge at all (its subgraph has no edge)."""
        return not walk.edges and walk.seed not in self._typed

    def target(self, walk: Walk, index: int) -> tuple[str, dict | None]:
        rng = random.Random(content_id("target", self.config.seed, self.graph, index))
        entity = self.view.entities[walk.seed]
        attributes = askable_attributes(entity)
        if attributes and (self.alone(walk) or rng.random() < ATTRIBUTE_TARGET_SHARE):
            ordered = sorted(attributes, key=lambda a: (a["key"], attribute_answer(a)))
            # keys asked less often so far weigh more: the pool spreads over the relations the corpus has
            weights = [1.0 / (1 + self.used_relations[a["key"]]) ** 2 for a in ordered]
            return walk.seed, rng.choices(ordered, weights=weights)[0]
        return walk.seed, None


def _weighted_choice(rng: random.Random, options: list[tuple[Edge, str, float]]) -> tuple[Edge, str]:
    total = sum(w for _, _, w in options)
    point = rng.random() * total
    for edge, other, weight in options:
        point -= weight
        if point <= 0:
            return edge, other
    return options[-1][0], options[-1][1]


def subgraph_row(view: GraphView, graph: str, walk: Walk, target: str, attribute: dict | None) -> dict:
    entity = view.entities[target]
    edges = sorted(walk.edges, key=lambda e: e.id)
    shape = wl_hash(walk.nodes, [(e.src, e.dst, e.relation) for e in edges], target,
                    attribute_target=attribute is not None)
    node_ids = sorted(walk.nodes)
    key = attribute["key"] if attribute else None
    return {
        "id": content_id("subgraph", graph, target, key, node_ids, [e.id for e in edges]),
        "parents": [*node_ids, *(e.id for e in edges)],
        "nodes": [{"id": n, "name": view.entities[n].name, "type": view.entities[n].type} for n in walk.nodes],
        "edges": [{"id": e.id, "src": e.src, "dst": e.dst, "relation": e.relation, "evidence": e.evidence,
                   "doc_id": e.doc_id} for e in edges],
        "target": {"entity_id": target, "name": entity.name, "attribute": key,
                   "value": attribute_answer(attribute) if attribute else entity.name},
        "shape": shape,
        "seed_degree": view.degree(walk.seed),
        "graph": graph,
    }


def sample(view: GraphView, graph: str, config: TaskConfig) -> Iterator[tuple[str, dict | None]]:
    """("subgraph", row) for each kept walk, else (reason, None): too_small | duplicate | duplicate_shape
    (more than `max_per_shape` subgraphs with edges share a shape).

    A walk shorter than `min_edges` is too small, except a lone entity's (no typed edge anywhere): its
    subgraph is that entity and one of its attributes."""
    sampler = Sampler(view, graph, config)
    per_shape: Counter[str] = Counter()
    seen: set[str] = set()
    for index in range(config.subgraphs):
        walk = sampler.walk(index)
        if walk is None or (len(walk.edges) < config.min_edges and not sampler.alone(walk)):
            yield "too_small", None
            continue
        target, attribute = sampler.target(walk, index)
        row = subgraph_row(view, graph, walk, target, attribute)
        if row["id"] in seen:
            yield "duplicate", None
            continue
        # an edgeless subgraph (one entity and its attribute) has no topology to vary: its diversity is its
        # answer, which selection caps; the shape cap would leave a text corpus three questions
        if walk.edges and per_shape[row["shape"]] >= config.max_per_shape:
            yield "duplicate_shape", None
            continue
        seen.add(row["id"])
        per_shape[row["shape"]] += 1
        sampler.note(row)
        yield "subgraph", row


def sample_subgraphs(store: Store, run_id: str, graph: str, config: TaskConfig,
                     view: GraphView | None = None) -> Counter[str]:
    """Writes `subgraphs` for graph version `graph` (one commit)."""
    view = view if view is not None else GraphView.load(store, graph)
    counts: Counter[str] = Counter()
    meta = {"stage": "subgraphs", "graph": graph, "seed": config.seed}
    with StageOutput(store, run_id, "subgraphs", stage="subgraphs", meta=meta) as out:
        for outcome, row in sample(view, graph, config):
            counts["subgraphs.sampled"] += 1
            if row is None:
                counts[f"subgraphs.{outcome}"] += 1
            elif out.write("subgraphs", row):
                counts["subgraphs.added"] += 1
            else:
                counts["subgraphs.already_present"] += 1
    return counts
