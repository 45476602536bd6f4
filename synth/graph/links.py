"""Stage two of the graph: edges from one batch of documents, hyperlinks first, then name mentions.

A hyperlink becomes an edge when its target resolves to an entity other than the page's own: the
relation is the key of the page's own infobox row it sits in (a typed edge: a fact about the page's
subject), else an untyped `links_to`, and the evidence is the
sentence (or "Key: value" line) around it. Links to pages outside the corpus, from pages that are not
entities, or from copies of a page already linked, make no edge and are counted. Documents without a
resolvable link (text corpora) get `mentions` edges from the names of other entities in their text
(see mentions.py; `mention_linking` decides which documents).
"""

from __future__ import annotations

from collections import Counter

from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.extract import sentence_around, sentence_bounds
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph.attributes import normalize_key, own_entries, property_rows
from drsynth.synth.graph.config import GraphConfig
from drsynth.synth.graph.entities import STAGE, malformed_document
from drsynth.synth.graph.index import ResolutionIndex, resolution_index
from drsynth.synth.graph.urls import host_of

LINK_COLUMNS = ["id", "url", "title", "links", "infobox"]
# relations that say two entities are connected, not how: never a fact a question may state
UNTYPED_RELATIONS = frozenset({"links_to", "mentions"})
WEB_SCHEMES = ("http://", "https://", "file:")


DocBatch = RowBatch


def document_batches(store: Store, per_task: int) -> list[DocBatch]:
    """Every committed document, in batches of about `per_task` that follow the shards' row groups.

    Linking is idempotent (edge ids are content-derived), so a rerun re-reads every batch and adds
    nothing; a batch costs one row-group read, never a whole shard.
    """
    return plan_batches(store, "documents", per_task)


def edge_row(graph: str, *, src: str, dst: str, relation: str, evidence: str, kind: str, anchor: str,
             doc_id: str, typed: bool = False) -> dict:
    return {
        "id": content_id("edge", graph, src, dst, relation, doc_id, evidence),
        "parents": [doc_id],
        "src": src,
        "dst": dst,
        "relation": relation,
        "evidence": evidence,
        "kind": kind,
        "typed": typed and relation not in UNTYPED_RELATIONS,
        "anchor": anchor,
        "doc_id": doc_id,
        "graph": graph,
    }


def _relation(link: dict, own_box: set[tuple[str, str]]) -> tuple[str, bool]:
    """(relation, typed): the key of the page's own infobox row a link sits in is a property of the
    page's subject (typed). Everything else is an untyped `links_to`: a table column header names a
    property of the row's subject, not of the page ("Director" in an actress's filmography), and a
    link in another subject's box (a cover version) is no fact about the page. Table rows become the
    row subjects' attributes instead (attributes.table_attributes)."""
    if (link.get("kind") or "text") == "infobox":
        key = normalize_key((link.get("context") or "").partition(": ")[0])
        if key and (key, link.get("href") or "") in own_box:
            return key, True
    return "links_to", False


def own_box_links(row: dict) -> set[tuple[str, str]]:
    """(normalized key, href) of the links that state the value of a property in the page's own infobox."""
    return {(key, link.get("href") or "")
            for key, _, links in property_rows(own_entries(row.get("infobox"), row.get("title")))
            for link in links}


class _Linker:
    def __init__(self, index: ResolutionIndex, graph: str, out: StageOutput, counts: Counter[str]) -> None:
        self.index = index
        self.graph = graph
        self.out = out
        self.counts = counts

    def write(self, row: dict) -> None:
        self.counts[f"edges.{row['kind']}"] += 1
        self.out.write("edges", row)

    def malformed(self, doc_id: str, url: str | None, error: Exception) -> None:
        self.counts["quarantine.graph.malformed_document"] += 1
        self.counts["quarantine.added"] += int(self.out.write("quarantine", malformed_document(doc_id, url, error)))

    def hyperlinks(self, row: dict, src: str) -> set[str]:
        """Edges from the document's links; returns the entities they reach. The edges are all made
        before any is written, so a malformed document writes none (it is quarantined instead)."""
        reached: set[str] = set()
        page_host = host_of(row["url"])
        own_box = own_box_links(row)
        edges: list[dict] = []
        for link in row["links"] or []:
            self.counts["links.seen"] += 1
            href = link["href"] or ""
            if not href.lower().startswith(WEB_SCHEMES):
                self.counts["links.not_web"] += 1  # mailto:, tel:, ftp:
                continue
            dst = self.index.resolve(href)
            if dst is None:
                self.counts["links.unresolved" if host_of(href) == page_host else "links.external"] += 1
                continue
            if dst == src:
                self.counts["links.self"] += 1
                continue
            reached.add(dst)
            kind = link["kind"] or "text"
            relation, typed = _relation(link, own_box)
            self.counts["edges.typed" if typed else "edges.untyped"] += 1
            edges.append(edge_row(self.graph, src=src, dst=dst, relation=relation,
                                  evidence=link["context"] or link["anchor"] or "", kind=kind,
                                  anchor=link["anchor"] or "", doc_id=row["id"], typed=typed))
        for edge in edges:
            self.write(edge)
        return reached

    def mentions(self, doc_id: str, text: str, src: str, skip: set[str], matcher) -> None:
        bounds: list[int] | None = None
        linked = set(skip)
        edges: list[dict] = []
        for mention in matcher.find(text):
            if not mention.entity_id:
                self.counts["mentions.ambiguous"] += 1
                continue
            if mention.entity_id == src:
                self.counts["mentions.self"] += 1
                continue
            if mention.entity_id in linked:
                self.counts["mentions.repeated"] += 1  # one edge per document and target
                continue
            linked.add(mention.entity_id)
            if bounds is None:
                bounds = sentence_bounds(text)
            evidence = sentence_around(text, mention.start, mention.end, bounds)
            edges.append(edge_row(self.graph, src=src, dst=mention.entity_id, relation="mentions",
                                  evidence=evidence, kind="mention", anchor=mention.surface, doc_id=doc_id))
        for edge in edges:
            self.write(edge)


def link_batch(store: Store, run_id: str, graph: str, batch: DocBatch, config: GraphConfig) -> Counter[str]:
    """Edges (hyperlinks, and mentions per config) from one batch of documents into `edges`."""
    index = resolution_index(store, graph)
    counts: Counter[str] = Counter()
    meta = {"stage": STAGE, "graph": graph, "documents_file": batch.file}
    with StageOutput(store, run_id, "edges", stage=STAGE, meta=meta) as out:
        linker = _Linker(index, graph, out, counts)
        wanted: dict[str, tuple[str, set[str]]] = {}  # documents to search for mentions
        for row in store.iter_row_groups(batch.file, batch.row_groups, LINK_COLUMNS, ids=batch.ids):
            counts["links.documents"] += 1
            src = index.by_doc.get(row["id"])
            if src is None:
                counts["links.documents_not_entities"] += 1
                counts["links.from_non_entities"] += len(row["links"] or [])
                continue
            if row["id"] not in index.link_docs:
                counts["links.documents_copies"] += 1  # the same text under another URL: its links are known
                continue
            try:
                reached = linker.hyperlinks(row, src)
            except Exception as error:  # a malformed document: quarantined, the batch goes on
                linker.malformed(row["id"], row["url"], error)
                continue
            mode = config.mention_linking
            if mode == "always" or (mode == "auto" and not reached):
                wanted[row["id"]] = (src, reached)
        if wanted:
            matcher = index.matcher(config.min_alias_chars, config.max_alias_words)
            for row in store.iter_row_groups(batch.file, batch.row_groups, ["id", "text"], ids=list(wanted)):
                src, reached = wanted[row["id"]]
                counts["mentions.documents"] += 1
                try:
                    linker.mentions(row["id"], row["text"] or "", src, reached, matcher)
                except Exception as error:
                    linker.malformed(row["id"], None, error)
    stats = out.writers["edges"].stats
    counts["edges.added"] += stats["written"]
    counts["edges.already_present"] += stats["duplicates"]
    return counts
