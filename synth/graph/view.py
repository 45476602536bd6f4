"""One graph version in memory, for the stages that read it (task synthesis, reports, tests).

Entities and edges are plain dataclasses in dicts keyed by id, with an undirected adjacency index:
`neighbors(e)` lists every edge that touches `e` with the entity at its other end, whichever way
the edge points. Loading reads only the rows of the requested `graph` version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from drsynth.storage.store import Store

ENTITY_COLUMNS = ["id", "name", "label", "type", "aliases", "description", "attributes", "doc_ids", "urls",
                  "subtype", "stub", "graph"]
EDGE_COLUMNS = ["id", "src", "dst", "relation", "evidence", "kind", "doc_id", "anchor", "typed", "graph"]


@dataclass
class Entity:
    id: str
    name: str
    label: str
    type: str
    aliases: list[str]
    description: str
    attributes: list[dict]
    doc_ids: list[str]
    urls: list[str] = field(default_factory=list)
    subtype: str | None = None  # "song", "record label": finer than `type`
    stub: bool = False  # known only from infobox links to it, no page of its own


@dataclass
class Edge:
    id: str
    src: str
    dst: str
    relation: str
    evidence: str
    kind: str
    doc_id: str
    anchor: str = ""  # the link text or the matched mention
    typed: bool = False  # a property of src (its own infobox's key), not a bare link: only these are facts


class GraphView:
    def __init__(self, entities: dict[str, Entity], edges: dict[str, Edge]) -> None:
        self.entities = entities
        self.edges = edges
        self._adjacent: dict[str, list[tuple[Edge, str]]] = defaultdict(list)
        for edge in edges.values():
            self._adjacent[edge.src].append((edge, edge.dst))
            if edge.dst != edge.src:
                self._adjacent[edge.dst].append((edge, edge.src))

    def neighbors(self, entity_id: str) -> list[tuple[Edge, str]]:
        """(edge, the entity at its other end) for every edge touching `entity_id`, both directions."""
        return list(self._adjacent.get(entity_id, ()))

    def degree(self, entity_id: str) -> int:
        return len(self._adjacent.get(entity_id, ()))

    def __len__(self) -> int:
        return len(self.entities)

    def __repr__(self) -> str:
        return f"GraphView({len(self.entities)} entities, {len(self.edges)} edges)"

    @classmethod
    def from_rows(cls, entities: Iterable[dict], edges: Iterable[dict]) -> GraphView:
        """From `entities`/`edges` rows (or hand-made dicts with at least the Entity/Edge fields)."""
        # in id order, whatever order the shards hold them in: sampling walks this view, and the same graph
        # must give the same subgraphs (and task ids) however its documents were crawled
        nodes = {row["id"]: _entity(row) for row in sorted(entities, key=lambda r: r["id"])}
        links = {row["id"]: _edge(row) for row in sorted(edges, key=lambda r: r["id"])
                 if row["src"] in nodes and row["dst"] in nodes}
        return cls(nodes, links)

    @classmethod
    def load(cls, store: Store, graph: str) -> GraphView:
        """The committed entities and edges of one graph version."""
        return cls.from_rows(_rows(store, "entities", ENTITY_COLUMNS, graph),
                             _rows(store, "edges", EDGE_COLUMNS, graph))


def graph_files(store: Store, dataset: str, graph: str) -> list[str]:
    """The shards of `dataset` that can hold rows of `graph`: those of the commits whose meta names
    it, plus those of commits that name no graph at all (other producers), never other versions'."""
    chosen = [c for c in store.commits(dataset) if (c.meta or {}).get("graph", graph) == graph]
    return store.files(dataset, chosen)


def scan_graph(store: Store, dataset: str, columns: list[str], graph: str, *,
               batch_size: int = 1_024) -> Iterator[pa.RecordBatch]:
    """Record batches of the rows of one graph version (the `graph` column filters what the commit
    meta could not: commits that name no graph)."""
    files = graph_files(store, dataset, graph)
    if not files:
        return
    wanted = list(dict.fromkeys([*columns, "graph"]))
    for batch in store.scan(dataset, wanted, batch_size=batch_size, files=files):
        chosen = batch.filter(pc.equal(batch.column("graph"), graph))
        if chosen.num_rows:
            yield chosen if "graph" in columns else chosen.select(columns)


def _rows(store: Store, dataset: str, columns: list[str], graph: str) -> Iterable[dict]:
    for batch in scan_graph(store, dataset, columns, graph):
        yield from batch.to_pylist()


def _entity(row: dict) -> Entity:
    return Entity(
        id=row["id"], name=row.get("name") or "", label=row.get("label") or row.get("name") or "",
        type=row.get("type") or "thing", aliases=list(row.get("aliases") or []),
        description=row.get("description") or "", attributes=list(row.get("attributes") or []),
        doc_ids=list(row.get("doc_ids") or []), urls=list(row.get("urls") or []),
        subtype=row.get("subtype"), stub=bool(row.get("stub")),
    )


def _edge(row: dict) -> Edge:
    return Edge(
        id=row["id"], src=row["src"], dst=row["dst"], relation=row.get("relation") or "links_to",
        evidence=row.get("evidence") or "", kind=row.get("kind") or "text", doc_id=row.get("doc_id") or "",
        anchor=row.get("anchor") or "", typed=bool(row.get("typed")),
    )


def load_graph(store: Store, graph: str) -> GraphView:
    return GraphView.load(store, graph)
