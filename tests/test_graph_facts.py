"""What the graph asserts as fact: the page's own infobox, typed stubs for what it links to, page kinds
that are not entities, types from templates and lead sentences, and a report that shows it all.

A hand-made corpus shaped like real Wikipedia (a song with a cover version's box, a record label
without a page, a disambiguation page and a discography list page).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import drsynth.synth.graph as G
from drsynth.storage.store import Store
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph.attributes import normalize_key, own_box
from drsynth.synth.graph.report import graph_report, report_markdown
from drsynth.synth.graph.types import classify

WIKI = "https://en.wikipedia.org/wiki/"


def _doc(doc_id: str, title: str, text: str, *, infobox: list[dict] | None = None, links: list[dict] | None = None,
         page_kind: str | None = "article", categories: list[str] | None = None, tables: list[dict] | None = None,
         bold: list[str] | None = None) -> dict:
    url = WIKI + title.replace(" ", "_")
    infobox = infobox or []
    box_links = [{"href": link["href"], "anchor": link["anchor"], "context": f"{e['key']}: {e['value']}",
                  "kind": "infobox", "section": None} for e in infobox for link in e.get("links") or []]
    return {"id": doc_id, "parents": [], "url": url, "page_url": url, "title": title, "text": text,
            "links": [*(links or []), *box_links], "infobox": infobox, "tables": tables or [],
            "bold_terms": bold if bold is not None else [title], "canonical_url": None,
            "word_count": len(text.split()), "description": None, "page_kind": page_kind,
            "categories": categories or [], "sections": []}


def _row(key: str, value: str, box: int = 0, subject: str | None = None, links: list[tuple[str, str]] = ()) -> dict:
    return {"key": key, "value": value, "box": box, "template": None, "subject": subject,
            "links": [{"href": WIKI + target, "anchor": anchor} for target, anchor in links]}


def _corpus(root: str) -> Store:
    store = Store(root)
    docs = [
        _doc("song", "Stand by Me (Ben E. King song)",
             '"Stand by Me" is a song originally performed by Ben E. King, released in 1961 on Atco Records.',
             infobox=[
                 _row("Released", "April 1961", subject="Stand by Me"),
                 _row("Artist", "Ben E. King", subject="Stand by Me", links=[("Ben_E._King", "Ben E. King")]),
                 _row("Label", "Atco", subject="Stand by Me", links=[("Atco_Records", "Atco")]),
                 _row("Length", "2:58", subject="Stand by Me"),
                 _row("Writer(s)", "Ben E. King, Jerry Leiber", subject="Stand by Me",
                      links=[("Ben_E._King", "Ben E. King"), ("Jerry_Leiber", "Jerry Leiber")]),
                 # the cover version's own box: another subject of the same name
                 _row("Released", "10 March 1975", box=1, subject="Stand by Me"),
                 _row("Artist", "John Lennon", box=1, subject="Stand by Me", links=[("John_Lennon", "John Lennon")]),
                 _row("Label", "Apple", box=1, subject="Stand by Me", links=[("Apple_Records", "Apple")]),
                 _row("Length", "3:26", box=1, subject="Stand by Me"),
             ]),
        _doc("spanish", "Spanish Harlem (song)",
             '"Spanish Harlem" is a song recorded by Ben E. King, released on Atco Records in 1960.',
             infobox=[_row("Label", "Atco", links=[("Atco_Records", "Atco Records")]),
                      _row("Artist", "Ben E. King", links=[("Ben_E._King", "Ben E. King")])]),
        _doc("king", "Ben E. King", "Benjamin Earl King, known as Ben E. King, was an American soul and R&B singer.",
             infobox=[_row("Born", "September 28, 1938"), _row("Genres", "Soul, R&B")],
             links=[{"href": WIKI + "Stand_by_Me_(Ben_E._King_song)", "anchor": "Stand by Me",
                     "context": "His hit Stand by Me was released in 1961.", "kind": "text", "section": ""}]),
        _doc("lennon", "John Lennon", "John Winston Ono Lennon was an English singer and songwriter.",
             infobox=[_row("Born", "9 October 1940")]),
        _doc("drifters", "The Drifters", "The Drifters are an American doo-wop and R&B/soul vocal group.",
             infobox=[_row("Origin", "New York City"), _row("Genres", "R&B, doo-wop")]),
        _doc("dab", "Stand by Me", "Stand by Me may refer to: Stand by Me (film), a 1986 film; "
             "Stand by Me (Ben E. King song), a 1961 song.", page_kind="disambiguation",
             links=[{"href": WIKI + "Stand_by_Me_(Ben_E._King_song)", "anchor": "Stand by Me (Ben E. King song)",
                     "context": "a 1961 song", "kind": "text", "section": ""}]),
        _doc("disco", "Ben E. King discography", "This is the discography of Ben E. King, an American singer.",
             page_kind="list", infobox=[_row("Studio albums", "22")],
             tables=[{"caption": None, "header": ["Title", "Year", "Label"],
                      "rows": [["Stand by Me", "1961", "Atco"]]}],
             links=[{"href": WIKI + "Stand_by_Me_(Ben_E._King_song)", "anchor": "Stand by Me",
                     "context": "Title: Stand by Me; Year: 1961; Label: Atco", "kind": "table", "section": ""}]),
    ]
    with StageOutput(store, "ingest", "documents", stage="extract", meta={}) as out:
        for doc in docs:
            out.write("documents", doc)
    return store


def _build(store: Store) -> tuple[str, Counter, G.GraphView]:
    config = G.GraphConfig()
    graph, counts = G.build_entities(store, "graph-test", config)
    for batch in G.document_batches(store, 25):
        counts.update(G.link_batch(store, "graph-test", graph, batch, config))
    return graph, counts, G.load_graph(store, graph)


def _named(view: G.GraphView, name: str) -> G.Entity:
    found = [e for e in view.entities.values() if e.name == name]
    assert len(found) == 1, (name, [e.name for e in view.entities.values()])
    return found[0]


def test_the_page_subject_gets_only_its_own_infobox(tmp_path: Path) -> None:
    _, _, view = _build(_corpus(os.fspath(tmp_path / "data")))
    song = _named(view, "Stand by Me (Ben E. King song)")
    released = [(a["value"], a["normalized"]) for a in song.attributes if a["key"] == "released"]
    assert released == [("April 1961", "1961-04")]  # never the cover's 1975
    assert [a["value"] for a in song.attributes if a["key"] == "length"] == ["2:58"]
    assert {a["key"] for a in song.attributes} == {"released", "artist", "label", "length", "writer"}
    # typed edges only from the song's own box; the cover artist is at most an untyped link
    out = [(e.relation, view.entities[e.dst].name, e.typed) for e in view.edges.values() if e.src == song.id]
    assert ("artist", "Ben E. King", True) in out and ("writer", "Ben E. King", True) in out
    assert not [o for o in out if o[1] == "John Lennon" and o[2]]
    assert not [a for a in song.attributes if a["value"] in ("John Lennon", "Apple", "3:26")]


def test_infobox_links_without_a_page_become_typed_stubs(tmp_path: Path) -> None:
    _, counts, view = _build(_corpus(os.fspath(tmp_path / "data")))
    atco = _named(view, "Atco Records")
    assert atco.stub and atco.type == "organization" and "Atco" in atco.aliases
    leiber = _named(view, "Jerry Leiber")
    assert leiber.stub and leiber.type == "person"
    # the cover's label is no stub: its box is not the page's
    assert not [e for e in view.entities.values() if e.name == "Apple Records"]
    # two songs on one label: their attributes name the same entity, whatever the anchor text
    songs = [_named(view, "Stand by Me (Ben E. King song)"), _named(view, "Spanish Harlem (song)")]
    labels = {a["entity_id"] for s in songs for a in s.attributes if a["key"] == "label"}
    assert labels == {atco.id}
    assert {a["kind"] for s in songs for a in s.attributes if a["key"] == "label"} == {"organization"}
    typed = [e for e in view.edges.values() if e.dst == atco.id]
    assert {(e.relation, e.typed) for e in typed} == {("label", True)}
    assert counts["entities.stubs"] == 2


def test_pages_that_are_not_one_entity(tmp_path: Path) -> None:
    store = _corpus(os.fspath(tmp_path / "data"))
    _, _, view = _build(store)
    names = {e.name for e in view.entities.values()}
    assert "Stand by Me" not in names and "Ben E. King discography" not in names
    rows = {r["parents"][0]: r["detail"] for r in store.rows("quarantine") if r["reason"] == "not_an_entity"}
    assert set(rows) == {"dab", "disco"}
    assert "a disambiguation page" in rows["dab"] and "a list page" in rows["disco"]
    # a table link is never a typed relation, and the discography (not an entity) links nothing
    assert not [e for e in view.edges.values() if e.kind == "table"]
    assert all(e.kind == "infobox" for e in view.edges.values() if e.typed)


def test_types_from_templates_sentences_and_keys(tmp_path: Path) -> None:
    _, _, view = _build(_corpus(os.fspath(tmp_path / "data")))
    assert _named(view, "The Drifters").type == "group"
    assert _named(view, "Ben E. King").type == "person"
    assert _named(view, "Stand by Me (Ben E. King song)").type == "work"
    assert classify([], "", template="Infobox song").subtype == "song"
    assert classify([], "", template="Infobox musical artist", values={"background": "group_or_band"}).type == "group"
    assert classify([], "", template="Infobox musical artist", values={"background": "solo_singer"}).type == "person"
    assert classify([], "", template="Infobox French commune").type == "place"
    assert classify([], "", template="Infobox record label").type == "organization"
    assert classify([], "Oasis were an English rock band formed in Manchester in 1991.").type == "group"
    assert classify([], "The Shirelles were an American girl group.").type == "group"
    assert classify(["Members", "Founded"], "", values={"members": "120 fellows"}).type == "organization"
    assert classify([], "It is a thing.", categories=["1961 singles"]).subtype == "single"
    assert normalize_key("Writer(s)") == "writer" and normalize_key("Released") == "released"
    assert normalize_key("birth_place") == "birth place"


def test_own_box_rules() -> None:
    assert own_box([], "X") is None
    assert own_box([{"box": 0, "subject": None}], "X") == 0
    # an office held sits in a box titled otherwise; the person's box names the person
    assert own_box([{"box": 0, "subject": "Mayor of Varkholm"}, {"box": 1, "subject": "Aurel Fennick"}],
                   "Aurel Fennick") == 1
    assert own_box([{"box": 0, "subject": "Stand by Me"}, {"box": 1, "subject": "Stand by Me"}],
                   "Stand by Me (song)") == 0


def test_report_shows_facts_links_stubs_and_non_entities(tmp_path: Path) -> None:
    store = _corpus(os.fspath(tmp_path / "data"))
    graph, _, view = _build(store)
    report = graph_report(store, graph)
    assert report["typed_edges"] == sum(e.typed for e in view.edges.values()) > 0
    assert report["typed_edges"] + report["untyped_edges"] == report["edges"]
    assert report["stubs"] == 2 and report["stubs_by_type"] == {"organization": 1, "person": 1}
    sources = {(r["source"], r["relation"]): r["typed"] for r in report["relations_by_source"]}
    assert sources[("infobox", "label")] is True and sources[("text", "links_to")] is False
    assert {r["reason"]: r["pages"] for r in report["not_entities"]["by_reason"]} == {
        "a disambiguation page": 1, "a list page": 1}
    kinds = {(a["source"], a["kind"]) for a in report["attributes_by_source"]}
    assert ("infobox", "organization") in kinds
    text = report_markdown(report)
    assert "## Pages that are not entities" in text and "a list page" in text and "stub entities" in text
