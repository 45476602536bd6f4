"""Stage one of the graph: every committed document resolved into one node per real-world entity.

Three streaming passes over `documents`, never holding texts or link lists, only compact per-document
summaries and the resolution index:

1. URLs, titles and lead sentences: the union-find over normalized URLs (`url`, `page_url`,
   `canonical_url`, the `redirects` hops, chains included; text-corpus records by corpus and folded
   title) makes the entities, and each document's type and entity-or-not signals are read.
2. Links and tables (hyperlinked corpora only): the anchor texts that point at each entity (alias
   candidates) and the table rows that describe other entities (their attributes).
3. Infoboxes: each entity's row is written when its primary document passes by.

A graph is a version: `content_id("graph", document ids, redirect ids, settings, format)`, so a
rebuild over the same documents writes rows with the same ids (nothing is added) and a rebuild over
more documents is a new, complete graph.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import pyarrow as pa

from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.page_kind import describes_one_entity
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph import documents as dm
from drsynth.synth.graph.attributes import (
    RowSubject,
    infobox_attributes,
    lead_attributes,
    other_versions,
    own_entries,
    property_rows,
    stub_subtype,
    stub_type,
    table_attributes,
)
from drsynth.synth.graph.config import GraphConfig
from drsynth.synth.graph.types import classify
from drsynth.synth.graph.unionfind import UnionFind
from drsynth.synth.graph.urls import (
    alias_from_url,
    fold,
    host_of,
    is_site_root,
    normalize_url,
    text_record_key,
    url_key,
)

GRAPH_FORMAT_VERSION = "drsynth-graph/4"
STAGE = "graph"
# documents per record batch while scanning: texts are read a few hundred at a time
SCAN_ROWS = 256
MAX_ANCHOR_ALIASES = 10
_ORGANIZATION_SUFFIX = re.compile(r"\s(?:Records|Recordings|Music|Inc\.?|Ltd\.?|Company|Corporation|Group|Press|"
                                  r"Publishing|Studios?|Pictures|Films|Entertainment|Media)$")
# a stub names the documents that link to it as its parents, up to this many (lineage, not a census)
MAX_STUB_PARENTS = 64
# a table row's name cell longer than this is prose, not a name
MAX_ROW_NAME_CHARS = 120
TABLE_ROW = "table_row"  # type_source of a stub made from a table row that names no entity
ATTRIBUTE_FIELDS = ("key", "value", "kind", "normalized", "unit", "qualifier", "entity_id", "source", "doc_id",
                    "unlisted_rows")
# distinct anchor texts counted per entity: a bound on memory far above the aliases kept, so that the
# top ones by (count, text) do not depend on the order documents are read in (only an entity linked
# under more distinct texts than this could see a difference)
MAX_ANCHORS_TRACKED = 1024
# redirects that say the source URL names the target for good; 302/303/307 are temporary (a
# "random article" link, a login bounce) and neither merge URLs nor give aliases
PERMANENT_REDIRECTS = frozenset({301, 308})
# link texts that say where to click, not what is there
GENERIC_ANCHORS = frozenset({
    "here", "click", "click here", "this", "link", "more", "read more", "full article", "see more", "see also",
    "source", "website", "official website", "homepage", "home", "next", "previous", "back", "top", "download",
    "pdf", "view", "edit", "details", "continue", "learn more", "this article", "article", "page", "main page",
    "index", "contents", "external link", "permalink", "archive", "archived", "original", "original article",
})


@lru_cache(maxsize=8192)
def anchor_candidate(anchor: str, max_words: int) -> tuple[str, str] | None:
    """(name, folded name) when a link text can name the page it points at: not generic ("here"),
    not a number, not a phrase starting in lower case ("a bay"), not a URL, not too long."""
    cleaned = dm.clean_term(anchor.rstrip("…").rstrip("."))
    folded = fold(cleaned)
    if len(cleaned) < 2 or folded in GENERIC_ANCHORS or len(cleaned.split()) > max_words:
        return None
    first = next((c for c in cleaned if c.isalpha()), "")
    if not first or first.islower() or folded.startswith(("http", "www.")):
        return None
    return cleaned, folded


_NAMESPACE = re.compile(r"^[^:\s][^:]*:(?!\s)")  # "Special:Random", "User talk:Ada"; not "Star Wars: Episode I"
# early wiki titles ran words together ("AnAmericanInParis"): a redirect that spells one names nothing
_CAMEL_CASE = re.compile(r"[a-z][A-Z]")
_OPAQUE_WORD = re.compile(r"^[^\W\d_]+(?:[-'.][^\W\d_]+)*\.?$")  # one word of letters: "Fennick", "ENR"


def redirect_alias(url: str | None, max_words: int) -> str | None:
    """The name a redirect's source URL spells, when it spells one: a query-less path whose last
    segment reads as a name (the anchor filter), with no namespace ("Special:Random") and not an id
    ("x7Qz", "12345", "index.php?curid=5")."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.query:
        return None
    alias = alias_from_url(url)
    if not alias or _NAMESPACE.match(alias) or anchor_candidate(alias, max_words) is None:
        return None
    words = alias.split()
    if len(words) == 1 and (len(alias) < 3 or not _OPAQUE_WORD.match(alias) or _CAMEL_CASE.search(alias)):
        return None  # one short or alphanumeric token: a short link or an id, not a name
    if not any(len(w) > 1 and _OPAQUE_WORD.match(w) for w in words):
        return None  # "X7 Q9": codes, not words
    return alias


def malformed_document(doc_id: str, source: str | None, error: BaseException) -> dict:
    """The quarantine row of a document the graph could not read (a null or odd field a pass trips on)."""
    return quarantine_record(
        stage=STAGE, reason="malformed_document", source=source or doc_id, parents=[doc_id],
        detail=f"{type(error).__name__}: {error}"[:1000],
    )


@dataclass(frozen=True)
class Snapshot:
    """The committed shards a build reads: fixed once, so that a commit landing mid-build (an ingest
    still running) changes neither the version nor what the three passes see."""

    documents: tuple[str, ...]
    redirects: tuple[str, ...]

    @classmethod
    def of(cls, store: Store) -> Snapshot:
        has_redirects = "redirects" in store.datasets()
        return cls(tuple(store.files("documents")), tuple(store.files("redirects")) if has_redirects else ())


def graph_version(store: Store, config: GraphConfig, snapshot: Snapshot | None = None) -> str:
    """The version of the graph over the committed documents and redirects, with these settings."""
    snapshot = snapshot or Snapshot.of(store)
    doc_ids = sorted(_column(store, "documents", "id", snapshot.documents))
    redirect_ids = sorted(_column(store, "redirects", "id", snapshot.redirects))
    return content_id("graph", doc_ids, redirect_ids, config.version_settings(), GRAPH_FORMAT_VERSION)


def _column(store: Store, dataset: str, column: str, files: tuple[str, ...]) -> Iterator:
    for batch in store.scan(dataset, [column], files=files):
        yield from batch.column(column).to_pylist()


def _list_field(column: pa.Array, name: str) -> list[list]:
    """Per row, one field of a list<struct> column, without building a dict per struct."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.values.field(name).to_pylist()
    offsets = column.offsets.to_pylist()
    valid = column.is_valid().to_pylist()
    return [values[offsets[i]: offsets[i + 1]] if valid[i] else [] for i in range(len(column))]


@dataclass(slots=True)
class _Doc:
    """What pass 1 keeps of a document (no text, no links): a few hundred bytes."""

    id: str
    node: int  # its URL's node (or its text record's); the node's key is the entity key it would give
    title: str
    description: str
    type: str
    bold: tuple[str, ...]
    digest: bytes
    rank: int  # lower is a better primary document: self-canonical, no query, short URL
    signals: tuple[str, ...]
    # (key, kind, normalized, value as written, qualifier) from the lead sentence
    life: tuple[tuple[str, str, str, str, str | None], ...] = ()
    subtype: str | None = None
    type_source: str = "none"


@dataclass(slots=True)
class _Entity:
    id: str
    key: str
    primary: int  # index into docs
    docs: list[int]
    type: str
    urls: list[str] = field(default_factory=list)
    redirect_aliases: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Stub:
    """An entity known only from infobox links to it (a record label, a birthplace without a page)."""

    key: str
    url: str
    anchors: Counter = field(default_factory=Counter)
    types: Counter = field(default_factory=Counter)
    subtypes: Counter = field(default_factory=Counter)  # classes its keys name; one class only if all agree
    parents: set[str] = field(default_factory=set)
    id: str = ""
    name: str = ""


@dataclass(slots=True)
class _RowStub:
    """Table rows naming no entity, merged by name across the pages that list it (attributes.RowSubject)."""

    name: str
    types: Counter = field(default_factory=Counter)
    attributes: list[dict] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


class EntityBuilder:
    """The three passes, for one graph version."""

    def __init__(self, store: Store, run_id: str, config: GraphConfig, snapshot: Snapshot | None = None) -> None:
        self.store = store
        self.snapshot = snapshot or Snapshot.of(store)
        self.run_id = run_id
        self.config = config
        self.counts: Counter[str] = Counter()
        self.uf = UnionFind()
        self.key_node: dict[str, int] = {}
        self.node_key: list[str] = []
        self.node_url: list[str | None] = []
        self.docs: list[_Doc] = []
        self.doc_index: dict[str, int] = {}
        self.redirect_alias: dict[int, str] = {}
        self.entities: list[_Entity] = []
        self.root_entity: dict[int, int] = {}
        self.doc_entity: dict[int, int] = {}
        self.anchors: dict[int, Counter[str]] = {}
        self.table_attrs: dict[int, list[tuple]] = {}
        self.name_owner: dict[str, int] = {}
        self.any_links = False
        self.unaddressed: list[str] = []  # documents without a usable URL: quarantined, never dropped
        # documents a pass could not read: doc id -> quarantine row (written with the entities)
        self.malformed: dict[str, dict] = {}
        # (document node, requested-URL node): merged after the redirects are read, unless the crawler
        # recorded the hops (then the hops decide, temporary ones merging nothing)
        self.requested: list[tuple[int, int]] = []
        self.redirect_sources: set[int] = set()
        self.stubs: dict[str, _Stub] = {}  # url key -> stub
        self.row_stubs: dict[str, _RowStub] = {}  # folded name -> the rows of tables that list it

    # -- resolution -------------------------------------------------------------------------------

    def _node(self, key: str, url: str | None) -> int:
        node = self.key_node.get(key)
        if node is None:
            node = self.key_node[key] = self.uf.add()
            self.node_key.append(key)
            self.node_url.append(url)
        return node

    def _url_node(self, url: str | None) -> int | None:
        key = url_key(url)
        if key is None:
            return None
        return self._node(key, normalize_url(url))

    def entity_of_href(self, href: str) -> int | None:
        key = url_key(href)
        node = self.key_node.get(key) if key else None
        if node is None:
            return None
        return self.root_entity.get(self.uf.find(node))

    def resolve(self, href: str) -> tuple[str, str] | None:
        e = self.entity_of_href(href)
        if e is None:
            stub = self.stubs.get(url_key(href) or "")
            return (stub.id, stub.types.most_common(1)[0][0]) if stub is not None and stub.id else None
        entity = self.entities[e]
        return entity.id, entity.type

    # -- pass 1: documents and redirects into the union-find -----------------------------------------

    def read_documents(self) -> None:
        columns = ["id", "url", "page_url", "canonical_url", "title", "description", "text", "bold_terms",
                   "word_count", "infobox", "links", "page_kind", "categories"]
        fields = ("key", "value", "box", "template", "subject")
        for batch in self.store.scan("documents", columns, batch_size=SCAN_ROWS, files=self.snapshot.documents):
            infobox = zip(*(_list_field(batch.column("infobox"), f) for f in fields), strict=True)
            link_kinds = _list_field(batch.column("links"), "kind")
            rows = batch.select([c for c in columns if c not in ("infobox", "links")]).to_pylist()
            for row, box_fields, kinds in zip(rows, infobox, link_kinds, strict=True):
                entries = [dict(zip(fields, values, strict=True)) for values in zip(*box_fields, strict=True)]
                try:
                    self._read_document(row, entries, kinds)
                except Exception as error:  # one malformed document is quarantined; the build goes on
                    self._malformed(row, error)

    def _malformed(self, row: dict, error: Exception) -> None:
        doc_id = row.get("id") or ""
        if doc_id not in self.malformed:
            self.malformed[doc_id] = malformed_document(doc_id, row.get("url") or row.get("page_url"), error)

    def _rows(self, columns: list[str], wanted: set[str]) -> Iterator[dict]:
        """Rows of the wanted documents, a record batch at a time (filtered on a set lookup per row:
        pyarrow's is_in would rebuild a hash table of every wanted id for every batch)."""
        for batch in self.store.scan("documents", columns, batch_size=SCAN_ROWS, files=self.snapshot.documents):
            mask = [doc_id in wanted for doc_id in batch.column("id").to_pylist()]
            if any(mask):
                yield from batch.filter(pa.array(mask, pa.bool_())).to_pylist()

    def _read_document(self, row: dict, entries: list[dict], link_kinds: list[str | None]) -> None:
        """Everything that can fail on an odd field is computed before the union-find is touched, so a
        document that raises leaves no trace but its quarantine row."""
        self.counts["documents.seen"] += 1
        own = own_entries(entries, row["title"])  # a cover version's box is not the song's
        infobox_keys = [e["key"] for e in own if e["key"]]
        url = row["url"] or row["page_url"] or ""
        text = row["text"] or ""
        record_key = text_record_key(url, row["title"])
        title = " ".join((row["title"] or "").split()) or alias_from_url(url) or url
        bold = tuple(dict.fromkeys(t for t in (dm.clean_term(b) for b in row["bold_terms"] or [] if b) if t))
        lead = dm.first_sentence(dm.lead_paragraph(text, title))
        names = [dm.label_of(title), *bold]
        template = next((e["template"] for e in own if e.get("template")), None)
        typed = classify(infobox_keys, lead, template=template, categories=row.get("categories") or [],
                         values={e["key"]: e["value"] or "" for e in own if e["key"]}, title=title)
        kind = typed.type
        life: tuple = ()
        if kind == "person" and not any(k.lower() in ("born", "died") for k in infobox_keys):
            life = tuple((a["key"], a["kind"], a["normalized"], a["value"], a["qualifier"])
                         for a in lead_attributes(lead, doc_id=row["id"]))
        desc = dm.description(lead, row["description"], names)
        digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
        signals: tuple[str, ...] = ()
        page_kind = row.get("page_kind")
        if not describes_one_entity(page_kind):
            # a disambiguation, list or index page links to many entities and is none of them, whatever
            # its infobox or bold terms say (a discography page has both)
            signals = (f"a {page_kind} page",)
        if record_key is None:
            if url_key(url) is None:
                self.counts["documents.no_url"] += 1
                self.unaddressed.append(row["id"])
                return
            signals = signals or tuple(dm.non_entity_signals(
                url=url, title=title, lead_sentence=lead, word_count=row["word_count"] or len(text.split()),
                text_links=sum(1 for k in link_kinds if k == "text"), has_infobox=bool(infobox_keys),
                bold_terms=list(bold),
            ))
        if record_key is not None:
            node = self._node(record_key, None)
            self.counts["documents.text_records"] += 1
        else:
            node = self._url_node(url)
            assert node is not None
            requested = self._url_node(row["page_url"])
            if requested is not None and requested != node:
                self.requested.append((node, requested))
            canonical_node = self._url_node(self._usable_canonical(url, row["canonical_url"]))
            if canonical_node is not None:
                self.uf.union(node, canonical_node)
        self.any_links = self.any_links or bool(link_kinds)
        canonical = url_key(row["canonical_url"]) if row["canonical_url"] else None
        own = self.node_key[node]
        rank = (0 if canonical == own or record_key else 2 if canonical is None else 4) + ("?" in url)
        self.doc_index[row["id"]] = len(self.docs)
        self.docs.append(_Doc(
            id=row["id"], node=node, title=title, description=desc, type=kind, bold=bold, digest=digest,
            rank=rank * 100_000 + min(len(url), 99_999), signals=signals, life=life, subtype=typed.subtype,
            type_source=typed.source,
        ))

    @staticmethod
    def _usable_canonical(url: str, canonical: str | None) -> str | None:
        """A canonical URL that points at a site's home page from a deeper page is a misconfiguration
        (every page would become one entity): ignored."""
        if not canonical:
            return None
        if is_site_root(canonical) and not is_site_root(url):
            return None
        return canonical

    def read_redirects(self) -> None:
        """Permanent redirects (301, 308; no status: another producer's alias list) merge their URLs and
        name an alias; temporary ones (302, 303, 307) merge nothing. Then a document's requested URL
        joins it, unless the crawler recorded that URL's hops (they have decided already)."""
        for batch in self.store.scan("redirects", ["url", "target", "status"], files=self.snapshot.redirects):
            for row in batch.to_pylist():
                self._read_redirect(row)
        for node, requested in self.requested:
            if requested not in self.redirect_sources:
                self.uf.union(node, requested)
        self.requested = []

    def _read_redirect(self, row: dict) -> None:
        self.counts["redirects.seen"] += 1
        source, target = self._url_node(row["url"]), self._url_node(row["target"])
        if source is None or target is None:
            return
        self.redirect_sources.add(source)
        status = row.get("status")
        if status is not None and status not in PERMANENT_REDIRECTS:
            self.counts["redirects.temporary"] += 1
            return
        self.uf.union(source, target)  # chains (a -> b -> c) meet through b
        alias = redirect_alias(row["url"], self.config.max_alias_words)
        if alias:
            self.redirect_alias[source] = alias

    def make_entities(self, graph: str) -> list[int]:
        """Components with at least one entity document become entities; returns the documents that
        are not entities (their component has none)."""
        by_root: dict[int, list[int]] = {}
        for i, doc in enumerate(self.docs):
            by_root.setdefault(self.uf.find(doc.node), []).append(i)
        non_entities: list[int] = []
        for root, members in by_root.items():
            if all(self.docs[i].signals for i in members):
                non_entities.extend(members)
                continue
            members.sort(key=lambda i: (self.docs[i].rank, self.docs[i].id))
            primary = self.docs[members[0]]
            key = self.node_key[primary.node]
            e = len(self.entities)
            self.entities.append(_Entity(id=content_id("entity", graph, key), key=key, primary=members[0],
                                         docs=members, type=primary.type))
            self.root_entity[root] = e
            for i in members:
                self.doc_entity[i] = e
        for node, url in enumerate(self.node_url):
            if url is None:
                continue
            e = self.root_entity.get(self.uf.find(node))
            if e is not None:
                self.entities[e].urls.append(url)
                if node in self.redirect_alias:
                    self.entities[e].redirect_aliases.append(self.redirect_alias[node])
        for e, entity in enumerate(self.entities):
            # a title two entities share belongs to the one with the smaller key, whatever the order read
            name = fold(self.docs[entity.primary].title)
            owner = self.name_owner.get(name)
            if owner is None or entity.key < self.entities[owner].key:
                self.name_owner[name] = e
            self.counts[f"entities.type.{entity.type}"] += 1
        return non_entities

    def link_docs(self, entity: _Entity) -> list[int]:
        """The entity's documents with distinct texts (the primary first): copies add no edges."""
        seen: set[bytes] = set()
        out = []
        for i in entity.docs:
            if self.docs[i].digest not in seen:
                seen.add(self.docs[i].digest)
                out.append(i)
        return out

    # -- pass 2: anchors and tables -------------------------------------------------------------

    def read_links(self) -> None:
        if not self.any_links:
            return
        sources = {self.docs[i].id for entity in self.entities for i in self.link_docs(entity)}
        ids = {entity.id: e for e, entity in enumerate(self.entities)}
        primaries = {self.docs[entity.primary].id for entity in self.entities}
        for row in self._rows(["id", "url", "title", "links", "tables", "infobox"], sources):
            try:
                anchors, found, unseen = self._read_links(row)
                if row["id"] in primaries:
                    self._stub_candidates(row)
                    self._row_stub_candidates(row, unseen)
            except Exception as error:  # one malformed document is quarantined; the build goes on
                self._malformed(row, error)
                continue
            for target, anchor in anchors:
                self._count_anchor(target, anchor)
            for entity_id, attr in found:
                # a tuple, not a dict: these wait in memory until their entity is written
                self.table_attrs.setdefault(ids[entity_id], []).append(tuple(attr.get(f) for f in ATTRIBUTE_FIELDS))
                self.counts["attributes.table"] += 1

    def read_list_pages(self, non_entities: list[int]) -> None:
        """The subjects a page that is no entity lists in its tables without linking them ("Northern Lights"
        in a discography beside linked singles): stubs, like the rows of an entity's own tables. Only the
        unlinked rows: the page is no subject, so its cells state nothing of the linked ones here."""
        if not self.any_links or not non_entities:
            return
        wanted = {self.docs[i].id for i in non_entities}
        for row in self._rows(["id", "url", "title", "links", "tables"], wanted):
            try:
                links = [link for link in row["links"] or [] if link]
                unseen = [subject for table in row["tables"] or [] if table
                          for subject in table_attributes(table, links, self.resolve, doc_id=row["id"],
                                                          page_url=row["url"], own_id=None)[1]]
                self._row_stub_candidates(row, unseen)
            except Exception as error:  # one malformed document is quarantined; the build goes on
                self._malformed(row, error)

    def _read_links(self, row: dict) -> tuple[list[tuple[int, str]], list[tuple[str, dict]], list[RowSubject]]:
        """(target entity, anchor) of the document's links, (entity id, attribute) of its tables, and the
        table rows that name no entity."""
        own = self.doc_entity[self.doc_index[row["id"]]]
        links = [link for link in row["links"] or [] if link]
        anchors = []
        for link in links:
            target = self.entity_of_href(link["href"] or "")
            if target is not None and target != own:
                anchors.append((target, link["anchor"] or ""))
        found: list[tuple[str, dict]] = []
        unseen: list[RowSubject] = []
        for table in row["tables"] or []:
            if table:
                rows, subjects = table_attributes(table, links, self.resolve, doc_id=row["id"],
                                                  page_url=row["url"], own_id=self.entities[own].id)
                found += rows
                unseen += subjects
        return anchors, found, unseen

    def _row_stub_candidates(self, row: dict, unseen: list[RowSubject]) -> None:
        for subject in unseen:
            name = dm.clean_term(subject.name)  # '"Northern Lights"' in a discography is Northern Lights
            key = fold(name)
            if not key or len(name) > MAX_ROW_NAME_CHARS:
                continue
            stub = self.row_stubs.get(key)
            if stub is None:
                stub = self.row_stubs[key] = _RowStub(name=name)
            stub.types[subject.type] += 1
            stub.attributes.extend(subject.attributes)
            stub.parents.add(row["id"])

    def _stub_candidates(self, row: dict) -> None:
        """Infobox links of the page's own box to pages of its site that the corpus lacks: each
        target becomes a stub entity, typed by the keys it is linked under."""
        page_host = host_of(row["url"])
        for key, _, links in property_rows(own_entries(row["infobox"], row["title"])):
            for link in links:
                href, anchor = link.get("href") or "", dm.clean_term(link.get("anchor"))
                target = url_key(href)
                # a lower-case link ("Driving side: [left]") explains a word of the value, it names nothing
                if (not target or not anchor or not anchor[0].isupper() or host_of(href) != page_host
                        or self.entity_of_href(href) is not None):
                    continue
                stub = self.stubs.get(target)
                if stub is None:
                    stub = self.stubs[target] = _Stub(key=target, url=normalize_url(href) or href)
                stub.anchors[anchor] += 1
                stub.types[stub_type(key, anchor)] += 1
                stub.subtypes[stub_subtype(key)] += 1
                stub.parents.add(row["id"])

    def make_stubs(self, graph: str) -> None:
        """Name and id each stub; a stub whose name is an entity's title is dropped (a namesake)."""
        for key in sorted(self.stubs):
            stub = self.stubs[key]
            anchors = sorted(stub.anchors.items(), key=lambda kv: (-kv[1], kv[0]))
            name = alias_from_url(stub.url) or anchors[0][0]
            if _NAMESPACE.match(name) or fold(name) in self.name_owner:
                del self.stubs[key]
                self.counts["stubs.dropped"] += 1
                continue
            stub.name, stub.id = name, content_id("entity", graph, key)
            # a type named by most of the links wins; ties go to the more specific type
            stub.types = Counter(dict(sorted(stub.types.items(), key=lambda kv: (-kv[1], kv[0] == "thing", kv[0]))))

        # a listed row named like an entity or a linked stub is that namesake, or the same subject: not a
        # second candidate
        stub_names = {fold(stub.name) for stub in self.stubs.values()}
        for key in sorted(self.row_stubs):
            if key in self.name_owner or key in stub_names or _NAMESPACE.match(self.row_stubs[key].name):
                del self.row_stubs[key]
                self.counts["stubs.rows_dropped"] += 1

    def _stub_alias(self, anchor: str, name: str) -> bool:
        """A link text that can name a stub: a name of at least `min_alias_chars` that is no other
        entity's, and not one word cut from a longer name ("European" for "European New Zealanders",
        "Unitary" for "Unitary state"), except a company's name without its suffix ("Atco" for "Atco
        Records")."""
        folded = fold(anchor)
        if (folded == fold(name) or len(anchor) < self.config.min_alias_chars or folded in self.name_owner
                or anchor_candidate(anchor, self.config.max_alias_words) is None):
            return False
        words = fold(dm.label_of(name)).split()
        return not (len(folded.split()) == 1 and len(words) > 1 and folded in words
                    and not _ORGANIZATION_SUFFIX.search(name))

    def write_stubs(self, out: StageOutput, graph: str) -> None:
        for key in sorted(self.stubs):
            stub = self.stubs[key]
            kind = stub.types.most_common(1)[0][0]
            # one class when every link's key names the same one ("Label" on each song): else none
            subtype = next(iter(stub.subtypes)) if len(stub.subtypes) == 1 else None
            aliases = [a for a, _ in sorted(stub.anchors.items(), key=lambda kv: (-kv[1], kv[0]))
                       if self._stub_alias(a, stub.name)][:MAX_ANCHOR_ALIASES]
            written = out.write("entities", {
                "id": stub.id, "parents": sorted(stub.parents)[:MAX_STUB_PARENTS], "name": stub.name,
                "label": dm.label_of(stub.name), "aliases": aliases, "description": "", "type": kind,
                "subtype": subtype, "type_source": "key", "stub": True, "attributes": [], "key": key,
                "urls": [stub.url], "doc_ids": [], "link_doc_ids": [], "graph": graph,
            })
            self.counts["entities.stubs"] += 1
            self.counts[f"entities.type.{kind}"] += 1
            self.counts["entities.added" if written else "entities.already_present"] += 1
        for key in sorted(self.row_stubs):
            row_stub = self.row_stubs[key]
            kind = sorted(row_stub.types.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            attributes = sorted(row_stub.attributes, key=lambda a: tuple(str(a.get(f) or "") for f in ATTRIBUTE_FIELDS))
            written = out.write("entities", {
                "id": content_id("entity", graph, f"row:{key}"), "parents": sorted(row_stub.parents)[:MAX_STUB_PARENTS],
                "name": row_stub.name, "label": dm.label_of(row_stub.name), "aliases": [], "description": "",
                "type": kind, "subtype": None, "type_source": TABLE_ROW, "stub": True,
                # no URL of its own: the pages that list it are its parents
                "attributes": self._dedupe(attributes, []), "key": f"row:{key}", "urls": [],
                "doc_ids": [], "link_doc_ids": [], "graph": graph,
            })
            self.counts["entities.stubs"] += 1
            self.counts["entities.row_stubs"] += 1
            self.counts[f"entities.type.{kind}"] += 1
            self.counts["entities.added" if written else "entities.already_present"] += 1

    def _count_anchor(self, target: int, anchor: str) -> None:
        """Count an anchor text that could be an alias of `target` (most just repeat its title)."""
        if anchor == self.docs[self.entities[target].primary].title:
            return
        candidate = anchor_candidate(anchor, self.config.max_alias_words)
        if candidate is None:
            return
        cleaned, folded = candidate
        owner = self.name_owner.get(folded)
        if owner is not None and owner != target:
            return  # another entity's name: a link to a part or a namesake, not an alias
        counter = self.anchors.get(target)
        if counter is None:
            counter = self.anchors[target] = Counter()
        if cleaned in counter or len(counter) < MAX_ANCHORS_TRACKED:
            counter[cleaned] += 1

    # -- pass 3: entity rows ----------------------------------------------------------------------

    def aliases(self, e: int) -> list[str]:
        """Label, bold lead terms, redirect names, then the most frequent anchor texts."""
        entity = self.entities[e]
        name = self.docs[entity.primary].title
        candidates: list[str] = [dm.label_of(name)]
        for i in entity.docs:
            candidates.extend(self.docs[i].bold)
        candidates.extend(sorted(entity.redirect_aliases))
        anchors = sorted(self.anchors.get(e, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
        candidates.extend(anchor for anchor, _ in anchors[:MAX_ANCHOR_ALIASES])
        seen = {fold(name)}
        out: list[str] = []
        for alias in candidates:
            alias = dm.clean_term(alias)
            folded = fold(alias)
            if alias and folded not in seen and len(alias.split()) <= self.config.max_alias_words:
                seen.add(folded)
                out.append(alias)
        return out

    def write_entities(self, out: StageOutput, graph: str) -> None:
        primaries = {entity.primary: e for e, entity in enumerate(self.entities)}
        wanted = {self.docs[i].id for i in primaries}
        for row in self._rows(["id", "url", "infobox"], wanted):
            e = primaries[self.doc_index[row["id"]]]
            self._write_entity(out, graph, e, row)

    def _write_entity(self, out: StageOutput, graph: str, e: int, row: dict) -> None:
        entity = self.entities[e]
        primary = self.docs[entity.primary]
        try:
            attributes = infobox_attributes(own_entries(row["infobox"], primary.title), self.resolve,
                                            doc_id=primary.id, page_url=row["url"], own_id=entity.id)
            # a cover version described on the same page is a subject the graph cannot see beside this one
            versions = other_versions(row["infobox"], primary.title)
            if versions:
                attributes = [{**a, "unlisted_rows": versions} for a in attributes]
        except Exception as error:  # the entity is still written, without its infobox; the row says why
            self._malformed(row, error)
            attributes = []
        attributes += [
            {"key": k, "value": value, "kind": kind, "normalized": n, "unit": None, "qualifier": qualifier,
             "entity_id": None, "source": "text", "doc_id": primary.id}
            for k, kind, n, value, qualifier in primary.life
        ]
        # sorted, so that which duplicate survives does not depend on the order documents were read in
        found = sorted(self.table_attrs.pop(e, []), key=lambda t: tuple("" if v is None else str(v) for v in t))
        table = [dict(zip(ATTRIBUTE_FIELDS, t, strict=True)) for t in found]
        attributes += self._dedupe(table, attributes)
        doc_ids = [self.docs[i].id for i in entity.docs]
        self.counts["attributes.infobox"] += sum(1 for a in attributes if a["source"] == "infobox")
        written = out.write("entities", {
            "id": entity.id,
            "parents": sorted(doc_ids),
            "name": primary.title,
            "label": dm.label_of(primary.title),
            "aliases": self.aliases(e),
            "description": primary.description,
            "type": entity.type,
            "subtype": primary.subtype,
            "type_source": primary.type_source,
            "stub": False,
            "attributes": attributes,
            "key": entity.key,
            "urls": sorted(set(entity.urls)),
            "doc_ids": doc_ids,
            "link_doc_ids": [self.docs[i].id for i in self.link_docs(entity)],
            "graph": graph,
        })
        self.counts["entities.added" if written else "entities.already_present"] += 1

    @staticmethod
    def _dedupe(extra: list[dict], have: list[dict]) -> list[dict]:
        seen = {(a["key"], a["kind"], a["normalized"] or a["value"], a["entity_id"]) for a in have}
        out = []
        for attr in extra:
            mark = (attr["key"], attr["kind"], attr["normalized"] or attr["value"], attr["entity_id"])
            if mark not in seen:
                seen.add(mark)
                out.append(attr)
        return out

    def quarantine(self, out: StageOutput, non_entities: list[int]) -> None:
        for i in non_entities:
            doc = self.docs[i]
            written = out.write("quarantine", quarantine_record(
                stage=STAGE, reason="not_an_entity", source=self.node_url[doc.node] or doc.title, parents=[doc.id],
                detail=f"{doc.title!r} is not about one real-world entity: {'; '.join(doc.signals)}",
            ))
            self.counts["quarantine.graph.not_an_entity"] += 1
            self.counts["quarantine.added"] += int(written)
        for doc_id in self.unaddressed:
            written = out.write("quarantine", quarantine_record(
                stage=STAGE, reason="no_url", source=doc_id, parents=[doc_id],
                detail="the document has neither a URL nor a requested URL, so nothing can link to it",
            ))
            self.counts["quarantine.graph.no_url"] += 1
            self.counts["quarantine.added"] += int(written)
        for doc_id in sorted(self.malformed):
            written = out.write("quarantine", self.malformed[doc_id])
            self.counts["quarantine.graph.malformed_document"] += 1
            self.counts["quarantine.added"] += int(written)


def build_entities(store: Store, run_id: str, config: GraphConfig) -> tuple[str, Counter[str]]:
    """Resolve every committed document into `entities` (and `quarantine`); returns (graph version, counts)."""
    snapshot = Snapshot.of(store)
    graph = graph_version(store, config, snapshot)
    builder = EntityBuilder(store, run_id, config, snapshot)
    builder.read_documents()
    builder.read_redirects()
    non_entities = builder.make_entities(graph)
    builder.read_links()
    builder.read_list_pages(non_entities)
    builder.make_stubs(graph)
    meta = {"stage": STAGE, "graph": graph}
    with StageOutput(store, run_id, "entities", stage=STAGE, meta=meta) as out:
        builder.write_entities(out, graph)
        builder.write_stubs(out, graph)
        builder.quarantine(out, non_entities)
    counts = builder.counts
    counts["entities"] = len(builder.entities) + len(builder.stubs)
    counts["documents.not_entities"] = len(non_entities)
    return graph, counts
