"""The knowledge graph (synth.graph): entity resolution, typed attributes, edges from links and mentions,
graph versions, the report and the in-memory view."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth import graph as G
from drsynth.synth.corpus.extract import extract_page
from drsynth.synth.corpus.local_sources import read_text_corpus
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph.attributes import infobox_attributes, normalize_key
from drsynth.synth.graph.documents import clean_term, label_of, non_entity_signals
from drsynth.synth.graph.index import mention_forms, resolution_index
from drsynth.synth.graph.mentions import MentionMatcher
from drsynth.synth.graph.types import entity_type, type_from_sentence
from drsynth.synth.graph.urls import alias_from_url, fold, normalize_url, text_record_key, url_key
from drsynth.synth.graph.values import find_dates, life_dates, parse_number, parse_value
from tests.conftest import shared_path

DEMO = "http://halvard.drsynth.test/wiki/"
# the demo site: 80 documents = 67 articles + 8 ?ref= copies of articles + 5 pages that are not entities
# 71 articles, 2 typed stubs (Karl Voss and Gullwing Records: linked from infoboxes, no page) and 14 subjects
# listed in tables by name alone (Symphony No. 1 in E minor in Fennick's works, Northern Lights in the discography)
DEMO_ENTITIES = 87
DEMO_ROW_STUBS = 14
DEMO_NOT_ENTITIES = {"http://halvard.drsynth.test/", f"{DEMO}Index", f"{DEMO}Random", f"{DEMO}Contact",
                     f"{DEMO}Disclaimer", f"{DEMO}Lina_Marr_discography", f"{DEMO}List_of_cities_and_towns_of_Estavia",
                     f"{DEMO}Selva_(disambiguation)"}
# measured on the demo: every hyperlink of the 67 articles except 5 to pages that are not entities
# (Index, Main page, a file, robots-refused drafts), one edge each; the 8 copies add none
DEMO_EDGES = {"text": 703, "infobox": 268, "table": 49}
# infobox links that state a property's value; the other 10 name something inside the value ("Based on: A
# Boyhood on Rook by Rolf Aastad", "Known for: Geological survey of Mount Orrin", "Towns: Kellmar (via Lake
# Ivra)") and are untyped links
DEMO_TYPED = 258
# measured on the 6,119 2wiki passages: 2,331 mention edges; the floor leaves room for alias tuning
TWOWIKI_MENTION_FLOOR = 1865


def build(root: str, config: G.GraphConfig | None = None, run_id: str = "graph-test") -> tuple[str, Counter]:
    store = Store(root)
    config = config or G.GraphConfig()
    graph, counts = G.build_entities(store, run_id, config)
    for batch in G.document_batches(store, 25):
        counts.update(G.link_batch(store, run_id, graph, batch, config))
    return graph, counts


@pytest.fixture(scope="module")
def demo_graph(demo_documents: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Counter, G.GraphView]:
    root = os.fspath(tmp_path_factory.mktemp("graph-demo") / "data")
    shutil.copytree(demo_documents, root)
    graph, counts = build(root)
    return root, graph, counts, G.load_graph(Store(root), graph)


def by_name(view: G.GraphView, name: str) -> G.Entity:
    found = [e for e in view.entities.values() if e.name == name]
    assert len(found) == 1, f"{len(found)} entities named {name!r}"
    return found[0]


def attrs(entity: G.Entity, key: str, kind: str | None = None) -> list[dict]:
    return [a for a in entity.attributes if a["key"] == key and (kind is None or a["kind"] == kind)]


def edges_between(view: G.GraphView, src: G.Entity, dst: G.Entity) -> list[G.Edge]:
    return [e for e, other in view.neighbors(src.id) if e.src == src.id and other == dst.id]


# --- the demo corpus -------------------------------------------------------------------------------


def test_demo_entities_and_edges(demo_graph) -> None:
    root, graph, counts, view = demo_graph
    store = Store(root)
    assert counts["documents.seen"] == store.count("documents") == 87
    assert len(view.entities) == counts["entities.added"] == DEMO_ENTITIES
    assert Counter(e.type for e in view.entities.values()) == {
        "person": 28, "place": 14, "work": 22, "organization": 15, "event": 5, "thing": 2, "group": 1}
    stubs = {(e.name, e.type) for e in view.entities.values() if e.stub}
    assert len(stubs) == 2 + DEMO_ROW_STUBS and {("Karl Voss", "person"), ("Gullwing Records", "organization"),
                                                 ("Symphony No. 1 in E minor", "work")} <= stubs
    # facts come from the pages' own infoboxes only; text and table links are untyped
    assert Counter((e.kind, e.typed) for e in view.edges.values()) == {
        ("infobox", True): DEMO_TYPED, ("infobox", False): DEMO_EDGES["infobox"] - DEMO_TYPED,
        ("text", False): DEMO_EDGES["text"], ("table", False): DEMO_EDGES["table"]}
    opera, aastad = by_name(view, "The Lighthouse Keeper (opera)"), by_name(view, "Rolf Aastad")
    assert {(e.relation, e.typed) for e in edges_between(view, opera, aastad)} == {("links_to", False)}
    assert Counter(e.kind for e in view.edges.values()) == DEMO_EDGES
    assert counts["edges.added"] == len(view.edges) == sum(DEMO_EDGES.values())
    # every link is accounted for: an edge, or a counted reason why not
    assert counts["links.seen"] == (counts["edges.added"] + counts["links.unresolved"] + counts["links.external"]
                                    + counts["links.self"] + counts["links.not_web"])
    assert counts["links.documents"] == 87
    assert counts["links.documents_copies"] == 8 and counts["links.documents_not_entities"] == 8
    assert all(e.src != e.dst for e in view.edges.values())
    rows = list(store.rows("edges"))
    assert all(r["graph"] == graph and r["parents"] == [r["doc_id"]] for r in rows)
    assert all(r["id"] == content_id("edge", graph, r["src"], r["dst"], r["relation"], r["doc_id"], r["evidence"])
               for r in rows)
    for row in store.rows("entities"):
        assert row["graph"] == graph and row["id"] == content_id("entity", graph, row["key"])
        # a stub's lineage is the documents that link to it
        assert row["parents"] == sorted(row["doc_ids"]) if not row["stub"] else row["parents"] and not row["doc_ids"]


def test_demo_non_entities_are_quarantined_with_their_signals(demo_graph) -> None:
    root, _, counts, view = demo_graph
    rows = [r for r in Store(root).rows("quarantine") if r["stage"] == "graph"]
    assert {r["source"] for r in rows} == DEMO_NOT_ENTITIES
    assert {r["reason"] for r in rows} == {"not_an_entity"}
    details = {r["source"]: r["detail"] for r in rows}
    assert "home page" in details["http://halvard.drsynth.test/"]
    assert "link list" in details[f"{DEMO}Index"]
    assert "short" in details[f"{DEMO}Random"]
    assert "a list page" in details[f"{DEMO}Lina_Marr_discography"]
    assert "a disambiguation page" in details[f"{DEMO}Selva_(disambiguation)"]
    assert counts["quarantine.graph.not_an_entity"] == 8
    # links from those pages make no edge
    not_entity_docs = {p for r in rows for p in r["parents"]}
    assert counts["links.from_non_entities"] > 0
    assert not any(e.doc_id in not_entity_docs for e in view.edges.values())


def test_demo_alias_resolution(demo_graph) -> None:
    _, _, _, view = demo_graph
    # a ?ref= copy and the canonical page are one node, with one URL
    brennick = by_name(view, "Brennick")
    assert len(brennick.doc_ids) == 2 and brennick.urls == [f"{DEMO}Brennick"]
    # a redirect alias: /wiki/Selva_River -> Selva
    selva = by_name(view, "Selva")
    assert "Selva River" in selva.aliases and f"{DEMO}Selva_River" in selva.urls
    fennick = by_name(view, "Aurel Fennick")
    assert {"Aurelius Fennick", "Fennick", "Aurelius Anton Fennick"} <= set(fennick.aliases)  # redirects, bold
    # a link to the redirect URL is an edge to the target entity
    estavia = by_name(view, "Estavia")
    via_redirect = [e for e in edges_between(view, estavia, selva) if e.kind == "text"]
    assert via_redirect and via_redirect[0].evidence.startswith("The Selva, the longest river")
    # the two pages titled "The Salt Orchard" stay two entities with one label
    novel, film = by_name(view, "The Salt Orchard"), by_name(view, "The Salt Orchard (film)")
    assert novel.id != film.id and novel.label == film.label == "The Salt Orchard"
    assert (novel.type, film.type) == ("work", "work")
    assert any(e.relation == "based on" for e in edges_between(view, film, novel))
    # bold lead terms with their quotes stripped; a lower-case anchor ("a bay") is no alias
    assert "The Selva" in by_name(view, "Symphony No. 2 (Fennick)").aliases
    assert "a bay" not in by_name(view, "Gellan Bay").aliases
    assert by_name(view, "Estavian National Railways").aliases[:1] == ["ENR"]


def test_demo_infobox_and_table_relations(demo_graph) -> None:
    _, _, _, view = demo_graph
    fennick, marta = by_name(view, "Aurel Fennick"), by_name(view, "Marta Lindell")
    spouse = [e for e in edges_between(view, fennick, marta) if e.kind == "infobox"]
    assert [(e.relation, e.evidence) for e in spouse] == [("spouse", "Spouse: Marta Lindell (m. 1919)")]
    assert any(e.relation == "spouse" for e in edges_between(view, marta, fennick))
    relations = Counter(e.relation for e in view.edges.values())
    assert relations["links_to"] == sum(DEMO_EDGES.values()) - DEMO_TYPED
    assert {"born", "died", "notable works", "headquarters", "spouse", "songwriter"} <= set(relations)
    # a table link in an actress's filmography sits under "Director": a property of the film, not of her,
    # so the edge is an untyped link (the film's director is the film's attribute, see below)
    filmography = edges_between(view, by_name(view, "Vera Castell"), by_name(view, "Nils Farrand"))
    assert filmography and {(e.kind, e.relation, e.typed) for e in filmography if e.kind == "table"} == {
        ("table", "links_to", False)}


def test_demo_typed_attributes(demo_graph) -> None:
    _, _, _, view = demo_graph
    fennick = by_name(view, "Aurel Fennick")
    born = attrs(fennick, "born", "date")
    assert [(a["normalized"], a["source"]) for a in born] == [("1891-03-03", "infobox")]
    assert attrs(fennick, "died", "date")[0]["normalized"] == "1957-06-12"
    places = {a["value"]: a["entity_id"] for a in attrs(fennick, "born", "place")}
    assert places["Varkholm"] == by_name(view, "Varkholm").id
    assert attrs(fennick, "spouse", "person")[0]["entity_id"] == by_name(view, "Marta Lindell").id
    assert all(a["doc_id"] in fennick.doc_ids for a in fennick.attributes)
    orrin = attrs(by_name(view, "Mount Orrin"), "elevation")[0]
    assert (orrin["kind"], orrin["normalized"], orrin["unit"]) == ("quantity", "2317", "m")
    length = attrs(by_name(view, "Selva"), "length")[0]
    assert (length["normalized"], length["unit"]) == ("238", "km")
    population = attrs(by_name(view, "Varkholm"), "population")[0]
    assert (population["kind"], population["normalized"]) == ("number", "412000")
    assert attrs(by_name(view, "Kestrel Press"), "founded")[0]["kind"] == "year"
    # table rows describe the entity their name column links to
    anthem = by_name(view, "Our Island, Our Light")
    first = attrs(anthem, "first performance")
    assert [(a["kind"], a["normalized"], a["source"]) for a in first] == [("date", "1922-09-28", "table")]
    film = by_name(view, "Night Train to Kellmar")
    director = attrs(film, "director", "person")
    assert director and director[0]["entity_id"] == by_name(view, "Nils Farrand").id
    # a column of repeated values (a city down a list of buildings) is not a name column
    assert not [a for a in by_name(view, "Varkholm").attributes if a["key"] == "building"]


def test_demo_rebuild_adds_nothing(demo_graph) -> None:
    root, graph, _, _ = demo_graph
    store = Store(root)
    before = {d: store.count(d) for d in ("entities", "edges", "quarantine")}
    again, counts = build(root, run_id="graph-rerun")
    assert again == graph
    assert counts["entities.added"] == counts["edges.added"] == counts["quarantine.added"] == 0
    assert counts["entities.already_present"] == DEMO_ENTITIES
    assert {d: store.count(d) for d in before} == before
    # other settings are another version, complete on its own
    assert G.graph_version(store, G.GraphConfig(min_alias_chars=5)) != graph


def test_demo_report_is_consistent(demo_graph) -> None:
    root, graph, _, view = demo_graph
    report = G.graph_report(Store(root), graph)
    assert report["entities"] == DEMO_ENTITIES and report["edges"] == len(view.edges)
    assert report["degree"]["sum"] == 2 * report["edges"]
    assert sum(view.degree(e) for e in view.entities) == 2 * report["edges"]
    # one component, and each subject a table names without a page that nothing mentions, alone
    alone = sum(1 for e in view.entities if view.degree(e) == 0)
    assert 0 < alone <= DEMO_ROW_STUBS and report["components"]["count"] == 1 + alone
    assert report["components"]["largest"] == DEMO_ENTITIES - alone
    assert sum(report["degree"]["histogram"].values()) == DEMO_ENTITIES
    assert report["edges_by_kind"] == DEMO_EDGES
    assert report["entities_by_type"]["person"] == 28
    assert report["stubs"] == 2 + DEMO_ROW_STUBS and report["typed_edges"] == DEMO_TYPED
    assert report["not_entities"]["pages"] == len(DEMO_NOT_ENTITIES)
    hub = report["top_hubs"][0]
    assert hub["name"] == "Estavia" and hub["degree"] == view.degree(hub["id"]) == report["degree"]["max"]
    p = report["degree"]["percentiles"]
    assert p["p50"] <= p["p90"] <= p["p99"] <= report["degree"]["max"]
    markdown = G.report_markdown(report)
    assert f"**{DEMO_ENTITIES} entities**" in markdown and "## Top hubs" in markdown and "| Estavia |" in markdown


def test_demo_graph_view(demo_graph) -> None:
    _, _, _, view = demo_graph
    selva, estavia = by_name(view, "Selva"), by_name(view, "Estavia")
    between = [e for e, other in view.neighbors(selva.id) if other == estavia.id]
    # both directions are neighbours: Estavia links to Selva, Selva's infobox names Estavia
    assert {(e.src, e.dst) for e in between} == {(estavia.id, selva.id), (selva.id, estavia.id)}
    assert view.degree(selva.id) == len(view.neighbors(selva.id)) > 0
    small = G.GraphView.from_rows(
        [{"id": "a", "name": "A"}, {"id": "b", "name": "B (x)", "label": "B", "type": "place"}],
        [{"id": "e", "src": "a", "dst": "b", "relation": "r", "evidence": "A r B.", "kind": "text", "doc_id": "d"},
         {"id": "f", "src": "a", "dst": "missing"}],
    )
    assert list(small.edges) == ["e"] and small.neighbors("b")[0][1] == "a" and small.degree("a") == 1
    assert small.entities["b"].label == "B" and small.entities["a"].type == "thing"


def test_resolution_index_is_cached_per_graph(demo_graph) -> None:
    root, graph, _, _ = demo_graph
    first = resolution_index(Store(root), graph)
    assert resolution_index(Store(root), graph) is first
    assert first.resolve(f"{DEMO}selva_river#Course") == first.resolve(f"{DEMO}Selva")


# --- a text corpus: mentions -----------------------------------------------------------------------


def ingest_text_corpus(root: str, path: Path) -> Store:
    store = Store(root)
    with StageOutput(store, "ingest", "pages", stage="acquire", meta={}) as out:
        for dataset, row in read_text_corpus(path):
            out.write(dataset, row)
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        for page in store.rows("pages", ["id", "url", "final_url", "content_type", "body"]):
            out.write(*extract_page(page))
    return store


@pytest.fixture(scope="module")
def twowiki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str, Counter, Path]:
    path = shared_path("corpora", "text", "2wiki_passages.json")
    store = ingest_text_corpus(os.fspath(tmp_path_factory.mktemp("graph-2wiki") / "data"), path)
    graph, counts = build(store.uri)
    return store, graph, counts, path


def test_text_corpus_mentions(twowiki) -> None:
    store, graph, counts, path = twowiki
    records = json.loads(path.read_text(encoding="utf-8"))
    # every record is an entity; records whose titles fold alike are one
    assert counts["entities"] == len({" ".join(fold(r["title"]).split()) for r in records})
    assert counts["quarantine.graph.not_an_entity"] == 0
    assert counts["mentions.documents"] == len(records)
    report = G.graph_report(store, graph)
    assert report["edges"] == counts["edges.added"] >= TWOWIKI_MENTION_FLOOR
    assert report["edges_by_kind"] == {"mention": report["edges"]}
    assert counts["mentions.ambiguous"] > 0 and counts["mentions.self"] > 0
    view = G.load_graph(store, graph)
    assert all(e.relation == "mentions" and e.src != e.dst for e in view.edges.values())
    waldrada, lothair = by_name(view, "Waldrada of Lotharingia"), by_name(view, "Lothair II")
    found = edges_between(view, waldrada, lothair)
    assert found and "Lothair II" in found[0].evidence
    rows = {r["id"]: r for r in store.rows("edges", ["id", "anchor", "evidence"])}
    assert all(fold(r["anchor"]) in fold(r["evidence"]) for r in rows.values())
    teutberga = by_name(view, "Teutberga")
    assert teutberga.type == "person"
    assert [(a["key"], a["normalized"]) for a in teutberga.attributes] == [("died", "0875-11-11")]
    # titles with a disambiguator: the label is an alias, the entity is typed from its lead
    theodred = by_name(view, "Theodred II (Bishop of Elmham)")
    assert "Theodred II" in theodred.aliases and theodred.type == "person"


# --- real Wikipedia infoboxes ------------------------------------------------------------------------

WIKIPEDIA = {"wikipedia": "https://en.wikipedia.org/wiki/Mozilla", "wikipedia-2": "https://en.wikipedia.org/wiki/New_Zealand",
             "wikipedia-3": "https://en.wikipedia.org/wiki/Hermitian_matrix",
             "wikipedia-4": "https://en.wikipedia.org/wiki/List_of_films_featuring_time_loops"}


def test_wikipedia_infoboxes(tmp_path: Path) -> None:
    corpus = shared_path("corpora", "readability")
    store = Store(os.fspath(tmp_path / "data"))
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        for case, url in WIKIPEDIA.items():
            body = (corpus / case / "source.html").read_bytes()
            dataset, row = extract_page({"id": content_id("page", url), "url": url, "content_type": "text/html",
                                         "body": body})
            assert dataset == "documents"
            out.write(dataset, row)
    graph, counts = build(store.uri)
    view = G.load_graph(store, graph)
    pages = [e for e in view.entities.values() if not e.stub]
    assert len(pages) == 3  # the fourth page is a list ("List of films featuring time loops")
    assert counts["quarantine.graph.not_an_entity"] == 1
    # what the three link to from their own infoboxes without a page in the corpus: typed stubs
    stubs = {e.name: e.type for e in view.entities.values() if e.stub}
    assert counts["entities"] - len(pages) == len(stubs) == 25
    assert {k: stubs[k] for k in ("Wellington", "Netscape", "Mozilla Foundation", "Jacinda Ardern", "Elizabeth II")} == {
        "Wellington": "place", "Netscape": "organization", "Mozilla Foundation": "organization",
        "Jacinda Ardern": "person", "Elizabeth II": "person"}
    # none of the four pages has a person infobox (Mozilla: company, New Zealand: country, the other two
    # none): what is there is a founding date, places, quantities and numbers
    mozilla = by_name(view, "Mozilla")
    assert mozilla.type == "organization"
    assert [(a["kind"], a["normalized"]) for a in attrs(mozilla, "founded")] == [("date", "1998-02-28")]
    nz = by_name(view, "New Zealand")
    assert nz.type == "place"
    assert [(a["kind"], a["value"], a["entity_id"]) for a in attrs(nz, "capital")] == [
        ("place", "Wellington", by_name(view, "Wellington").id)]
    assert [(a["kind"], a["value"]) for a in attrs(nz, "largest city")] == [("place", "Auckland")]
    area = attrs(nz, "area – total")[0]
    assert (area["kind"], area["normalized"], area["unit"]) == ("quantity", "268021", "km2")
    assert attrs(nz, "population – 2018 census")[0]["normalized"] == "4699755"
    assert attrs(nz, "stages of independence from the united kingdom – dominion")[0]["normalized"] == "1907-09-26"
    assert "self-adjoint matrix" in by_name(view, "Hermitian matrix").aliases
    # text links to other Wikipedia pages the corpus lacks make no edge, and are counted; infobox links
    # to stubs are typed edges
    assert counts["links.unresolved"] > 700
    assert all(view.entities[e.dst].stub and not e.typed for e in view.edges.values() if e.kind == "text")
    assert counts["edges.infobox"] == counts["edges.typed"] == 25


# --- linking settings on a hand-made corpus ---------------------------------------------------------


def _doc(doc_id: str, url: str, title: str, text: str, links: list[dict] | None = None, **extra) -> dict:
    return {"id": doc_id, "parents": [], "url": url, "page_url": url, "title": title, "text": text,
            "links": links or [], "infobox": extra.get("infobox", []), "tables": [],
            "bold_terms": extra.get("bold_terms", [title]), "canonical_url": extra.get("canonical_url"),
            "word_count": len(text.split()), "description": None}


def _small_corpus(root: str) -> Store:
    store = Store(root)
    site = "https://ex.org/wiki/"
    docs = [
        _doc("d1", f"{site}Ada_Byron", "Ada Byron",
             "Ada Byron was an English mathematician. She worked with Charles Babbage in London.",
             [{"href": f"{site}London", "anchor": "London", "context": "She worked in London.", "kind": "text"}]),
        _doc("d2", f"{site}Charles_Babbage", "Charles Babbage",
             "Charles Babbage was an English polymath. He met Ada Byron in London."),
        _doc("d3", f"{site}London", "London", "London is the capital city of England, home of Charles Babbage."),
        _doc("d4", f"{site}London?utm_source=feed", "London",
             "London is the capital city of England, home of Charles Babbage.", canonical_url=f"{site}London"),
    ]
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        for doc in docs:
            out.write("documents", doc)
    return store


@pytest.mark.parametrize(("mode", "mention_edges"), [("auto", 3), ("always", 4), ("never", 0)])
def test_mention_linking_modes(tmp_path: Path, mode: str, mention_edges: int) -> None:
    store = _small_corpus(os.fspath(tmp_path / "data"))
    graph, counts = build(store.uri, G.GraphConfig(mention_linking=mode))
    view = G.load_graph(store, graph)
    assert len(view.entities) == 3  # the tracked copy of London is London...
    assert counts["links.documents_copies"] == 1  # ...and adds no edges of its own
    kinds = Counter(e.kind for e in view.edges.values())
    assert kinds["text"] == 1  # Ada -> London, a hyperlink
    assert kinds["mention"] == mention_edges
    # "auto": Ada has a resolvable link, so only Babbage (2 mentions) and London (1) are searched;
    # "always" adds Ada -> Babbage but not Ada -> London again (already linked)
    names = {(view.entities[e.src].name, view.entities[e.dst].name) for e in view.edges.values() if e.kind == "mention"}
    if mode == "always":
        assert ("Ada Byron", "Charles Babbage") in names and ("Ada Byron", "London") not in names


def test_redirect_chains_and_requested_urls(tmp_path: Path) -> None:
    from drsynth.synth.corpus.records import redirect_record

    store = Store(os.fspath(tmp_path / "data"))
    site = "https://ex.org/wiki/"
    docs = [
        _doc("c", f"{site}Cleo_Varn", "Cleo Varn", "Cleo Varn was a painter of the northern coast of Ostmark.",
             [{"href": f"{site}Old_Harbour", "anchor": "the harbour", "context": "She painted the harbour.",
               "kind": "text"}]),
        {**_doc("h", f"{site}Harbour", "Harbour", "Harbour is a port town on the northern coast of Ostmark.",
                [{"href": f"{site}Varn", "anchor": "Varn", "context": "Varn painted it.", "kind": "text"}]),
         "page_url": f"{site}Old_Harbour"},  # fetched through a redirect the crawler followed
    ]
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        for doc in docs:
            out.write("documents", doc)
        # a chain: Varn -> C._Varn -> Cleo_Varn
        out.write("redirects", redirect_record(url=f"{site}Varn", target=f"{site}C._Varn", status=301, source="t"))
        out.write("redirects", redirect_record(url=f"{site}C._Varn", target=f"{site}Cleo_Varn", status=301, source="t"))
    graph, _ = build(store.uri)
    view = G.load_graph(store, graph)
    cleo, harbour = by_name(view, "Cleo Varn"), by_name(view, "Harbour")
    assert {"Varn", "C. Varn"} <= set(cleo.aliases)
    assert f"{site}Old_Harbour" in harbour.urls
    # a link to the URL a page was requested at, and one to the head of a redirect chain
    assert [e.anchor for e in edges_between(view, cleo, harbour)] == ["the harbour"]
    assert [e.anchor for e in edges_between(view, harbour, cleo)] == ["Varn"]
    assert "the harbour" not in harbour.aliases  # a lower-case anchor is no name


# --- units ---------------------------------------------------------------------------------------------


def test_url_normalization() -> None:
    assert normalize_url("HTTP://Ex.ORG:80/a/b/?utm_source=x&b=2&a=1&fbclid=z#frag") == "http://ex.org/a/b?a=1&b=2"
    assert normalize_url("https://ex.org:443/") == normalize_url("https://ex.org") == "https://ex.org/"
    assert normalize_url("https://ex.org:8443/x?ref=nav&gclid=1") == "https://ex.org:8443/x"
    assert normalize_url("https://ex.org/wiki/Māori") == "https://ex.org/wiki/M%C4%81ori"
    assert normalize_url("https://ex.org/wiki/M%c4%81ori") == "https://ex.org/wiki/M%C4%81ori"
    assert url_key("https://ex.org/wiki/Māori_Language") == url_key("https://EX.org/wiki/maori_language/")
    assert url_key("https://ex.org/wiki/Selva#Course") == url_key("https://ex.org/wiki/selva?ref=random")
    assert url_key("https://ex.org/a") != url_key("https://ex.org/b") and normalize_url("not a url") is None
    for url in ("https://ex.org/wiki/Our_Island,_Our_Light", "https://ex.org/x?q=a%20b", "mailto:a@b.org"):
        assert normalize_url(normalize_url(url)) == normalize_url(url)
        assert url_key(normalize_url(url)) == url_key(url)
    assert alias_from_url("https://ex.org/wiki/Selva_River") == "Selva River"
    assert alias_from_url("https://ex.org/people/ada-byron.html") == "ada-byron"
    assert text_record_key("file:///c.json#title=Lothair%20II&n=2", None) == "text:file:///c.json#lothair ii"
    assert text_record_key("https://ex.org/#title=x", "x") is None


def test_mention_matcher() -> None:
    matcher = MentionMatcher([
        ("selva", ["Selva", "Selva River"]), ("fest", ["Selva Music Festival"]),
        ("novel", ["The Salt Orchard"]), ("film", ["The Salt Orchard (film)", "The Salt Orchard"]),
        ("aale", ["Ålesund"]), ("enr", ["ENR"]), ("princess", ["Princess"]),
    ], min_chars=4)
    assert matcher.counts["forms.ambiguous"] == 1 and matcher.counts["forms.too_short"] == 1

    def found(text: str) -> list[tuple[str, str]]:
        return [(m.surface, m.entity_id) for m in matcher.find(text)]

    # longest match at a position; whole words only (not inside "Selvas")
    assert found("The Selva Music Festival is held on the Selva River, not the Selvas.") == [
        ("Selva Music Festival", "fest"), ("Selva River", "selva")]
    # ambiguous forms take their span and name no entity
    assert found("She read The Salt Orchard.") == [("The Salt Orchard", "")]
    # case and diacritics folded, offsets into the original text
    text = "Born in ÅLESUND, not in Alesundby; later in alesund."
    assert [(text[m.start:m.end], m.entity_id) for m in matcher.find(text)] == [("ÅLESUND", "aale")]
    # short forms are never matched; an all-lower-case common word is not a capitalized name
    assert found("ENR runs trains; a princess met Princess Ida.") == [("Princess", "princess")]
    assert MentionMatcher([]).find("anything") == []


def test_mention_forms_drop_one_word_disambiguated_labels() -> None:
    row = {"name": "Empire (2002 film)", "label": "Empire", "aliases": ["Empire"]}
    assert mention_forms(row) == ["Empire (2002 film)"]
    row = {"name": "Theodred II (Bishop of Elmham)", "label": "Theodred II", "aliases": ["Theodred II"]}
    assert mention_forms(row) == ["Theodred II (Bishop of Elmham)", "Theodred II"]


@pytest.mark.parametrize(("key", "text", "kind", "normalized", "unit"), [
    ("born", "3 March 1891, Varkholm, Estavia", "date", "1891-03-03", None),
    ("died", "3 March 1891 (aged 66)", "date", "1891-03-03", None),
    ("founded", "February 28, 1998", "date", "1998-02-28", None),
    ("released", "1998-02-28", "date", "1998-02-28", None),
    ("premiere", "March 1891", "date", "1891-03", None),
    ("born", "c. 1890", "year", "1890", None),
    ("years", "1909–1911", "span", "1909/1911", None),
    ("composed", "1922–24", "span", "1922/1924", None),
    ("founded", "1889", "year", "1889", None),
    ("fate", "Scrapped 1952", "year", "1952", None),
    ("elevation", "2,317 m", "quantity", "2317", "m"),
    ("length", "238 km", "quantity", "238", "km"),
    ("area", "18,400 km2", "quantity", "18400", "km2"),
    ("area", "268,021 km2 (103,483 sq mi) (75th)", "quantity", "268021", "km2"),
    ("population", "12,400", "number", "12400", None),
    ("population", "412,000 (2021)", "number", "412000", None),
    ("students", "1200", "number", "1200", None),
    ("duration", "about 42 minutes", "duration", "2520", "s"),
    ("capital", "1.2 million crowns", "money", "1200000", "crowns"),
    ("gdp", "$199 billion", "money", "199000000000", "USD"),
    ("density", "18.2/km2", "quantity", "18.2", "/km2"),
    ("gdp (ppp)", "2018 estimate", "year", "2018", None),
])
def test_value_parsing(key: str, text: str, kind: str, normalized: str, unit: str | None) -> None:
    value = parse_value(key, text)
    assert value is not None and (value.kind, value.normalized, value.unit) == (kind, normalized, unit)


def test_value_parsing_edge_cases() -> None:
    assert parse_value("occupation", "Composer, teacher") is None
    assert parse_value("spouse", "Marta Lindell (m. 1919)") is None  # a parenthetical is context
    assert [d.normalized for d in find_dates("31 February 1900, 30 April 1900")] == ["1900-04-30"]
    assert parse_number("46 m").unit == "m" and parse_number("−1.5").normalized == "-1.5"
    assert life_dates("Teutberga( died 11 November 875) was a queen")["died"].normalized == "0875-11-11"
    lived = life_dates("Aurel Fennick (born Aurelius Anton Fennick; 3 March 1891 – 12 June 1957) was")
    assert (lived["born"].normalized, lived["died"].normalized) == ("1891-03-03", "1957-06-12")
    assert {k: v.normalized for k, v in life_dates("Ivo Castell (1895–1944) was a poet").items()} == {
        "born": "1895", "died": "1944"}


def test_infobox_attributes_without_the_linked_pages() -> None:
    def resolve(href: str):
        return ("e-varkholm", "place") if href.endswith("/Varkholm") else None

    entries = [
        {"key": "Born", "value": "3 March 1891, Varkholm, Estavia",
         "links": [{"href": "https://ex.org/wiki/Varkholm", "anchor": "Varkholm"}]},
        {"key": "Died", "value": "12 June 1957, Ostvale", "links": []},
        {"key": "Spouse", "value": "Marta Lindell (m. 1919)",
         "links": [{"href": "https://ex.org/wiki/Marta_Lindell", "anchor": "Marta Lindell"}]},
        {"key": "Website", "value": "example.org", "links": [{"href": "https://example.org/", "anchor": "example.org"}]},
    ]
    found = {(a["key"], a["kind"], a["value"], a["entity_id"])
             for a in infobox_attributes(entries, resolve, doc_id="d", page_url="https://ex.org/wiki/X")}
    assert found == {
        ("born", "place", "Varkholm", "e-varkholm"), ("born", "date", "3 March 1891, Varkholm, Estavia", None),
        ("born", "place", "Estavia", None),  # an item beside the link that links nowhere: still a value
        ("died", "date", "12 June 1957, Ostvale", None), ("died", "place", "Ostvale", None),
        ("spouse", "person", "Marta Lindell", None), ("website", "text", "example.org", None),
    }
    assert normalize_key("Notable works[1]:") == "notable works"


def test_entity_types_and_page_signals() -> None:
    assert entity_type(["Born", "Died", "Spouse"], "") == "person"
    assert entity_type(["Population", "Elevation", "Country"], "") == "place"
    assert entity_type(["Founded", "Headquarters", "Industry"], "") == "organization"
    assert entity_type(["Directed by", "Starring", "Release date"], "") == "work"
    assert entity_type(["Date", "Location", "Deaths"], "") == "event"
    assert entity_type([], "Lothair II (835 – 8 August 869) was the king of Lotharingia.") == "person"
    assert type_from_sentence("Radzice is a village in the administrative district of Gmina X.") == "place"
    assert type_from_sentence("Coney Island Baby is a 2003 comedy film.") == "work"
    assert type_from_sentence("The Varkholm Herald is a daily newspaper published in Varkholm.") == "organization"
    assert entity_type([], "A Hermitian matrix is a complex square matrix that is equal to its transpose.") == "thing"
    assert label_of("The Salt Orchard (film)") == "The Salt Orchard" and label_of("(film)") == "(film)"
    assert clean_term('"Our Island, Our Light"') == "Our Island, Our Light"
    assert clean_term('Symphony No. 2 "The Selva"') == 'Symphony No. 2 "The Selva"'
    article = {"url": "https://ex.org/wiki/Ada", "title": "Ada", "word_count": 300, "text_links": 20,
               "has_infobox": False, "bold_terms": ["Ada"], "lead_sentence": "Ada was a mathematician."}
    assert non_entity_signals(**article) == []
    assert non_entity_signals(**{**article, "url": "https://ex.org/"})[0] == "the site's home page"
    assert "link list" in non_entity_signals(**{**article, "text_links": 90})[0]
    boiler = {**article, "title": "Contact", "bold_terms": [], "lead_sentence": "Write to the editors."}
    assert "does not name the title" in non_entity_signals(**boiler)[0]
    assert non_entity_signals(**{**boiler, "has_infobox": True}) == []


def test_graph_config() -> None:
    assert G.GraphConfig.from_dict(None) == G.GraphConfig()
    config = G.GraphConfig.from_dict({"mention_linking": "never", "min_alias_chars": 3, "docs_per_task": 10})
    assert (config.mention_linking, config.min_alias_chars, config.docs_per_task) == ("never", 3, 10)
    with pytest.raises(ValueError, match=r"mention_links\n  Extra inputs are not permitted"):
        G.GraphConfig.from_dict({"mention_links": "auto"})
    with pytest.raises(ValueError, match="mention_linking"):
        G.GraphConfig.from_dict({"mention_linking": "sometimes"})
    with pytest.raises(ValueError, match="min_alias_chars"):
        G.GraphConfig.from_dict({"min_alias_chars": 0})
    with pytest.raises(ValueError, match="docs_per_task"):
        G.GraphConfig.from_dict({"docs_per_task": "many"})
    assert "docs_per_task" not in G.GraphConfig().version_settings()


def test_document_batches_cover_every_document(demo_documents: str) -> None:
    store = Store(demo_documents)
    batches = G.document_batches(store, 7)
    ids = [i for b in batches for i in b.ids]
    assert len(ids) == len(set(ids)) == store.count("documents")
    assert all(0 < len(b.ids) <= 7 for b in batches)


# --- review fixes: malformed fields, redirects, folding, order, tables, index, versioned reads -----------

SITE = "https://ex.org/wiki/"


def _write_docs(root: str, *groups: list[dict], redirects: list[dict] | None = None) -> Store:
    """Documents committed in the given groups (one commit each, in that order), then the redirects."""
    store = Store(root)
    for group in groups:
        with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
            for doc in group:
                out.write("documents", {**doc, "tables": doc.get("tables", [])})
    if redirects:
        with StageOutput(store, "ingest", "redirects", stage="crawl", meta={}) as out:
            for row in redirects:
                out.write("redirects", row)
    return store


def _redirect(url: str, target: str, status: int | None) -> dict:
    from drsynth.synth.corpus.records import redirect_record

    return {**redirect_record(url=url, target=target, status=0, source="t"), "status": status}


def _quarantined(store: Store, reason: str) -> list[dict]:
    return [r for r in store.rows("quarantine") if r["stage"] == "graph" and r["reason"] == reason]


def test_null_fields_the_schema_allows_do_not_crash(tmp_path: Path) -> None:
    alpha = _doc("d1", f"{SITE}Alpha", "Alpha", "Alpha was a person born long ago and known for many things.",
                 [{"href": f"{SITE}Beta", "anchor": None, "context": None, "kind": "infobox"},
                  {"href": f"{SITE}Beta", "anchor": "Beta", "context": "Name: Beta; Year: 1999", "kind": "table"},
                  {"href": None, "anchor": "x", "context": "x", "kind": None}],
                 infobox=[{"key": None, "value": None, "links": None}, {"key": "born", "value": None, "links": None},
                          {"key": "spouse", "value": "Beta", "links": None}],
                 bold_terms=[None, "Alpha", None])
    alpha["tables"] = [{"caption": None, "header": ["Name", None, "Year"],
                        "rows": [["Beta", None, "1999"], None, [None, "x"]]}]
    beta = _doc("d2", f"{SITE}Beta", "Beta", "Beta was a person married to Alpha and known for other things.",
                [{"href": f"{SITE}Alpha", "anchor": "Alpha", "context": "Beta married Alpha.", "kind": "text"}])
    store = _write_docs(os.fspath(tmp_path / "data"), [alpha, beta])
    graph, _ = build(store.uri)
    view = G.load_graph(store, graph)
    a, b = by_name(view, "Alpha"), by_name(view, "Beta")
    assert a.type == "person" and attrs(a, "spouse")
    assert [x["value"] for x in attrs(b, "year")] == ["1999"]  # from Alpha's table, null cells skipped
    assert {e.relation for e in edges_between(view, a, b)} == {"links_to"}
    assert not _quarantined(store, "malformed_document")


def test_a_document_that_breaks_a_pass_is_quarantined_and_the_build_goes_on(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import drsynth.synth.graph.entities as entities_module
    import drsynth.synth.graph.links as links_module

    real_type, real_relation = entities_module.classify, links_module._relation

    def classify(keys, sentence, **cues):
        if sentence and sentence.startswith("Gamma"):
            raise ValueError("odd field")
        return real_type(keys, sentence, **cues)

    def relation(link, own_box):
        if link.get("kind") == "table":
            raise KeyError("bad table")
        return real_relation(link, own_box)

    monkeypatch.setattr(entities_module, "classify", classify)
    monkeypatch.setattr(links_module, "_relation", relation)
    docs = [
        _doc("a", f"{SITE}Alpha", "Alpha", "Alpha is a town on the coast of the northern sea, near Beta.",
             [{"href": f"{SITE}Beta", "anchor": "Beta", "context": "Name: Beta", "kind": "table"}]),
        _doc("b", f"{SITE}Beta", "Beta", "Beta is a town on the coast of the northern sea, near Alpha.",
             [{"href": f"{SITE}Alpha", "anchor": "Alpha", "context": "Beta is near Alpha.", "kind": "text"}]),
        _doc("g", f"{SITE}Gamma", "Gamma", "Gamma is a town that a pass of the graph cannot read at all."),
    ]
    docs[0]["tables"] = [{"caption": None, "header": ["Name"], "rows": [["Beta"]]}]
    store = _write_docs(os.fspath(tmp_path / "data"), docs)
    graph, counts = build(store.uri)
    view = G.load_graph(store, graph)
    assert {e.name for e in view.entities.values()} == {"Alpha", "Beta"}
    assert [e.kind for e in view.edges.values()] == ["text"]  # Beta -> Alpha; Alpha's table link quarantined
    rows = {r["parents"][0]: r for r in _quarantined(store, "malformed_document")}
    assert set(rows) == {"g", "a"}
    assert rows["g"]["detail"] == "ValueError: odd field" and rows["a"]["detail"].startswith("KeyError")
    assert counts["quarantine.graph.malformed_document"] == 2


def test_only_permanent_redirects_merge_and_name(tmp_path: Path) -> None:
    cleo = _doc("c", f"{SITE}Cleo_Varn", "Cleo Varn", "Cleo Varn was a painter of the northern coast of Ostmark.")
    harbour = {**_doc("h", f"{SITE}Harbour", "Harbour", "Harbour is a port town on the northern coast of Ostmark.",
                      [{"href": f"{SITE}Special:Random", "anchor": "Random article", "context": "Random article",
                        "kind": "text"}]),
               "page_url": f"{SITE}Special:Random"}  # the crawler reached it through a 302
    redirects = [
        _redirect(f"{SITE}Special:Random", f"{SITE}Harbour", 302),
        _redirect(f"{SITE}Cleo", f"{SITE}Cleo_Varn", 307),
        *(_redirect(url, f"{SITE}Cleo_Varn", 301) for url in (
            f"{SITE}Special:Export", "https://ex.org/index.php?curid=5", "https://ex.org/s/x7Qz",
            "https://ex.org/p/12345", "https://ex.org/wiki/index")),
        _redirect(f"{SITE}C._Varn", f"{SITE}Cleo_Varn", 308),
        _redirect(f"{SITE}Varn_(painter)", f"{SITE}Cleo_Varn", None),  # another producer's alias list
    ]
    store = _write_docs(os.fspath(tmp_path / "data"), [cleo, harbour], redirects=redirects)
    graph, _ = build(store.uri)
    view = G.load_graph(store, graph)
    c, h = by_name(view, "Cleo Varn"), by_name(view, "Harbour")
    assert c.aliases == ["C. Varn", "Varn (painter)"]
    assert f"{SITE}Cleo" not in c.urls and f"{SITE}C._Varn" in c.urls and "https://ex.org/s/x7Qz" in c.urls
    assert h.urls == [f"{SITE}Harbour"] and h.aliases == []
    assert not edges_between(view, h, c)  # the random-article link is no edge to a random article
    from drsynth.synth.graph.entities import redirect_alias

    demo = json.loads((Path(G.__file__).parents[1] / "corpus/demo/site/_redirects.json").read_text())
    assert all(redirect_alias(f"https://h.test{path}", 8) for path in demo)
    assert redirect_alias(f"{SITE}Star_Wars:_Episode_IV", 8) == "Star Wars: Episode IV"
    assert redirect_alias(f"{SITE}User_talk:Ada", 8) is None and redirect_alias(f"{SITE}X7_Q9", 8) is None


def test_mention_folding_is_the_same_for_names_and_text() -> None:
    hindi = MentionMatcher([("delhi", ["नई दिल्ली"])])
    assert [(m.surface, m.entity_id) for m in hindi.find("राजधानी नई दिल्ली है")] == [("नई दिल्ली", "delhi")]
    pointed, plain = "יְרוּשָׁלַיִם", "ירושלים"
    for form in (pointed, plain):
        matcher = MentionMatcher([("jlm", [form])])
        for text in (f"העיר {pointed} היא", f"העיר {plain} היא"):
            assert [m.entity_id for m in matcher.find(text)] == ["jlm"], (form, text)


def test_entity_content_does_not_depend_on_document_order(tmp_path: Path) -> None:
    target = _doc("t", f"{SITE}Tarn", "Tarn", "Tarn is a mountain lake in the northern hills of Ostmark.")
    rare = [_doc(f"r{i:02d}", f"{SITE}Page_{i}", f"Page {i}", f"Page {i} is a village in the hills of Ostmark.",
                 [{"href": f"{SITE}Tarn", "anchor": f"Lake Variant {i}", "context": "x", "kind": "text"}])
            for i in range(70)]
    common = [_doc(f"c{i}", f"{SITE}Spot_{i}", f"Spot {i}", f"Spot {i} is a hamlet in the hills of Ostmark.",
                   [{"href": f"{SITE}Tarn", "anchor": "Tarn Lake", "context": "x", "kind": "text"}])
              for i in range(3)]
    # two pages describe Tarn in their tables, and two pages share a title
    lister = [_doc(f"l{i}", f"{SITE}List_{i}", f"List {i}", f"List {i} is a survey of the lakes of Ostmark.",
                   [{"href": f"{SITE}Tarn", "anchor": "Tarn", "context": f"Lake: Tarn; Depth: {d} m", "kind": "table"}])
              for i, d in ((1, 40), (2, 41))]
    for doc, d in zip(lister, (40, 41), strict=True):
        doc["tables"] = [{"caption": None, "header": ["Lake", "Depth"], "rows": [["Tarn", f"{d} m"]]}]
    twins = [_doc(f"m{i}", f"{SITE}Mercury_{i}", "Mercury", f"Mercury is a thing of kind {i} in the hills.")
             for i in (1, 2)]
    first = [*rare, lister[0], twins[0]]
    second = [*common, lister[1], twins[1]]
    built = []
    for name, groups in (("ab", ([target, *first], second)), ("ba", ([target, *second], first))):
        store = _write_docs(os.fspath(tmp_path / name), *groups)
        builder = G.entities.EntityBuilder(store, "r", G.GraphConfig())
        builder.read_documents()
        builder.read_redirects()
        builder.make_entities("g")
        owner = builder.entities[builder.name_owner[fold("Mercury")]].key
        graph, _ = build(store.uri)
        tarn = by_name(G.load_graph(store, graph), "Tarn")
        built.append((owner, tarn.aliases, [(a["key"], a["value"], a["doc_id"]) for a in tarn.attributes]))
    assert built[0] == built[1]
    assert "Tarn Lake" in built[0][1]
    assert [v for k, v, _ in built[0][2] if k == "depth"] == ["40 m", "41 m"]


def test_table_links_are_untyped_and_describe_their_rows(tmp_path: Path) -> None:
    rows = [[f"Lake {i}", f"{i} m"] for i in range(300)]
    links = [{"href": f"{SITE}Lake_{i}", "anchor": f"Lake {i}", "context": f"Lake: Lake {i}; Depth: {i} m",
              "kind": "table"} for i in range(0, 300, 10)]
    lister = _doc("l", f"{SITE}Lakes", "Lakes", "Lakes is a survey of all the lakes of the northern region.", links)
    lister["tables"] = [{"caption": None, "header": ["Lake", "Depth"], "rows": rows}]
    lakes = [_doc(f"k{i}", f"{SITE}Lake_{i}", f"Lake {i}", f"Lake {i} is a lake in the northern region.")
             for i in range(0, 300, 10)]
    store = _write_docs(os.fspath(tmp_path / "data"), [lister, *lakes])
    config = G.GraphConfig(mention_linking="never")
    graph, _ = G.build_entities(store, "r", config)
    for batch in G.document_batches(store, 100):
        G.link_batch(store, "r", graph, batch, config)
    view = G.load_graph(store, graph)
    edges = view.edges.values()
    # "Lake" is the column of the rows' subjects, not a property of the survey
    assert len(edges) == len(links) and {(e.relation, e.typed) for e in edges} == {("links_to", False)}
    assert [(a["kind"], a["normalized"], a["unit"]) for a in by_name(view, "Lake 10").attributes] == [
        ("quantity", "10", "m")]


def test_an_empty_resolution_index_leaves_no_lock_and_is_not_rescanned(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import drsynth.synth.graph.index as index_module

    store = Store(os.fspath(tmp_path / "data"))
    loads = Counter()
    real = index_module.ResolutionIndex.load

    def load(cls, store, graph):
        loads[graph] += 1
        return real(store, graph)

    monkeypatch.setattr(index_module.ResolutionIndex, "load", classmethod(load))
    assert len(resolution_index(store, "g-empty")) == 0
    assert len(resolution_index(store, "g-empty")) == 0
    assert loads["g-empty"] == 1 and (store.uri, "g-empty") not in index_module._load_locks
    # once entities are committed, the index is read again
    with StageOutput(store, "r", "entities", stage="graph", meta={"stage": "graph", "graph": "g-empty"}) as out:
        out.write("entities", {"id": "e1", "parents": [], "name": "Ada", "label": "Ada", "aliases": [],
                               "description": "", "type": "person", "attributes": [], "key": "k", "urls": [f"{SITE}Ada"],
                               "doc_ids": ["d1"], "link_doc_ids": ["d1"], "graph": "g-empty"})
    assert resolution_index(store, "g-empty").resolve(f"{SITE}Ada") == "e1" and loads["g-empty"] == 2
    index_module.clear_cache()


def test_reads_of_a_graph_version_skip_other_versions_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.graph.index import ResolutionIndex

    def graph_files(store: Store, dataset: str, graph: str) -> list[str]:
        return store.files(dataset, [c for c in store.commits(dataset) if c.meta.get("graph", graph) == graph])

    store = _small_corpus(os.fspath(tmp_path / "data"))
    old, _ = build(store.uri)
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        out.write("documents", _doc("d5", f"{SITE}Paris", "Paris", "Paris is the capital city of France, on the Seine."))
    new, _ = build(store.uri)
    assert old != new
    # a commit from another producer that names no graph in its meta: read, and filtered on the column
    with StageOutput(store, "r", "entities", stage="other", meta={}) as out:
        out.write("entities", {"id": "e-old", "parents": [], "name": "Rome", "label": "Rome", "aliases": [],
                               "description": "", "type": "place", "attributes": [], "key": "rome", "urls": [],
                               "doc_ids": ["d9"], "link_doc_ids": [], "graph": old})
    scanned: list[str] = []
    real_scan = Store.scan

    def scan(self, dataset, columns=None, **kwargs):
        scanned.extend(kwargs.get("files") or [f"ALL {dataset}"])
        return real_scan(self, dataset, columns, **kwargs)

    monkeypatch.setattr(Store, "scan", scan)
    view = G.load_graph(store, old)
    report = G.graph_report(store, old)
    index = ResolutionIndex.load(store, old)
    allowed = set(graph_files(store, "entities", old)) | set(graph_files(store, "edges", old))
    assert scanned and set(scanned) <= allowed
    new_files = {f for f in graph_files(store, "entities", new) if f not in graph_files(store, "entities", old)}
    assert new_files and not new_files & set(scanned)
    assert "Paris" not in {e.name for e in view.entities.values()} and "Rome" in {e.name for e in view.entities.values()}
    assert report["entities"] == len(view) == len(index) == 4


def test_a_table_row_that_names_no_entity_becomes_a_stub_with_its_cells(tmp_path: Path) -> None:
    # a composer's table of works: one row links its page, one names a work the corpus has no page for
    fennick = _doc("f", f"{SITE}Fennick", "Fennick", "Fennick was a composer of the northern coast of Ostmark.",
                   [{"href": f"{SITE}Requiem", "anchor": "Requiem",
                     "context": "Title: Requiem; Year: 1931; First performed: Varkholm", "kind": "table"},
                    {"href": f"{SITE}Varkholm", "anchor": "Varkholm",
                     "context": "Title: Symphony No. 1; Year: 1917; First performed: Varkholm", "kind": "table"}])
    fennick["tables"] = [{"caption": "Works", "header": ["Title", "Year", "First performed"],
                          "rows": [["Requiem", "1931", "Varkholm"], ["Symphony No. 1", "1917", "Varkholm"],
                                   ["Fennick", "1950", "Varkholm"]]}]
    requiem = _doc("r", f"{SITE}Requiem", "Requiem", "Requiem is a choral work by Fennick in seven movements.",
                   infobox=[{"key": "genre", "value": "Requiem", "links": []}])
    varkholm = _doc("v", f"{SITE}Varkholm", "Varkholm", "Varkholm is a town on the coast of the northern sea.")
    store = _write_docs(os.fspath(tmp_path / "data"), [fennick, requiem, varkholm])
    graph, counts = build(store.uri)
    view = G.load_graph(store, graph)
    symphony = by_name(view, "Symphony No. 1")
    assert symphony.stub and symphony.type == by_name(view, "Requiem").type
    assert {(a["key"], a["value"]) for a in symphony.attributes} >= {("year", "1917"), ("first performed", "Varkholm")}
    # a row named like an entity is that entity (the page's own subject here), not a second candidate
    assert [e.name for e in view.entities.values()].count("Fennick") == 1
    assert counts["entities.row_stubs"] == 1
