"""MediaWiki XML dumps as a source: reading (wikidump), wikitext -> documents (wikitext), the graph.

Counts are those of the real excerpt (../shared/corpora/wiki/enwiki-2016-excerpt.xml.bz2), checked by
reading the output.
"""

from __future__ import annotations

import bz2
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.extract import extract_page, sentence_around, sentence_bounds
from drsynth.synth.corpus.sources import read_source, source_kind
from drsynth.synth.corpus.wikidump import read_wikidump
from drsynth.synth.corpus.wikitext import WIKITEXT_RECORD_TYPE, document_fields, title_url
from tests.conftest import shared_path

WIKI = "https://en.wikipedia.org/wiki/"


def excerpt() -> Path:
    return shared_path("corpora", "wiki", "enwiki-2016-excerpt.xml.bz2")


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, dict]]:
    return list(read_wikidump(excerpt()))


@pytest.fixture(scope="module")
def docs(rows: list[tuple[str, dict]]) -> dict[str, dict]:
    out = {}
    for dataset, row in rows:
        if dataset == "pages":
            kind, doc = extract_page(row)
            assert kind == "documents", doc
            out[doc["title"]] = doc
    return out


def fields(wikitext: str, title: str = "Test page") -> dict:
    return document_fields(title, wikitext, WIKI + "Main_Page", context=sentence_around, bounds=sentence_bounds)


# --- reading -----------------------------------------------------------------------------------


def test_reads_every_article_redirect_and_namespace(rows: list[tuple[str, dict]]) -> None:
    counts = Counter(dataset for dataset, _ in rows)
    assert counts == {"pages": 106, "redirects": 99, "quarantine": 1}
    pages = [row for dataset, row in rows if dataset == "pages"]
    assert all(p["content_type"] == WIKITEXT_RECORD_TYPE and p["source_kind"] == "wikidump" for p in pages)
    assert {p["url"] for p in pages} >= {WIKI + "Ayn_Rand", WIKI + "Abraham_Lincoln", WIKI + "Animal_(disambiguation)"}
    redirects = {row["url"]: row for dataset, row in rows if dataset == "redirects"}
    # checked by hand against the dump's <redirect title> and #REDIRECT lines
    assert redirects[WIKI + "ANOVA"]["target"] == WIKI + "Analysis_of_variance"
    assert redirects[WIKI + "AssistiveTechnology"]["target"] == WIKI + "Assistive_technology"  # [[Assistive_technology]]
    assert redirects[WIKI + "Albert_Gore"]["target"] == WIKI + "Al_Gore"  # lower-case #redirect
    assert redirects[WIKI + "Algeria/People"]["target"] == WIKI + "Demographics_of_Algeria"
    assert redirects[WIKI + "Astronomers_and_Astrophysicists"]["target"] == WIKI + "Astronomer"
    assert all(r["status"] is None for r in redirects.values())  # an alias list, not an HTTP hop
    (quarantined,) = [row for dataset, row in rows if dataset == "quarantine"]
    assert quarantined["reason"] == "not_article" and "namespace 4" in quarantined["detail"]
    assert quarantined["source"] == WIKI + "Wikipedia:Adding_Wikipedia_articles_to_Nupedia"


def test_source_kind_and_dispatch(tmp_path: Path) -> None:
    assert source_kind(str(excerpt())) == "wikidump"
    other = tmp_path / "feed.xml"
    other.write_text("<rss><channel/></rss>")
    assert source_kind(str(other)) == "unknown"
    rows = list(read_source(str(excerpt()), IngestConfig()))
    assert Counter(d for d, _ in rows) == {"pages": 106, "redirects": 99, "quarantine": 1}


def test_title_urls_like_mediawiki() -> None:
    assert title_url(WIKI, "ayn Rand") == WIKI + "Ayn_Rand"
    assert title_url(WIKI, "AC/DC") == WIKI + "AC/DC"
    assert title_url(WIKI, "Ender's Game") == WIKI + "Ender%27s_Game"
    assert title_url(WIKI, "Aberdeen, South Dakota") == WIKI + "Aberdeen,_South_Dakota"
    assert title_url(WIKI, "Android (robot)") == WIKI + "Android_(robot)"
    assert title_url(WIKI, "Côte d'Ivoire") == WIKI + "C%C3%B4te_d%27Ivoire"
    assert title_url(WIKI, "Apollo 11", "Launch and flight") == WIKI + "Apollo_11#Launch_and_flight"


# --- damage --------------------------------------------------------------------------------------


def test_truncated_archive_keeps_what_was_read(tmp_path: Path) -> None:
    data = excerpt().read_bytes()
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(data[: len(data) // 2])
    rows = list(read_wikidump(cut))
    counts = Counter(dataset for dataset, _ in rows)
    assert 0 < counts["pages"] < 106 and counts["redirects"] > 0
    assert rows[-1][0] == "quarantine" and rows[-1][1]["reason"] == "wikidump_error"
    assert "the rest of the file was not read" in rows[-1][1]["detail"]


def test_malformed_xml(tmp_path: Path) -> None:
    text = bz2.decompress(excerpt().read_bytes()).decode("utf-8")
    cut = text.index("<title>Autism</title>")
    bad = tmp_path / "bad.xml"
    bad.write_text(text[:cut] + "<title>Broken</ttle></page></mediawiki>", encoding="utf-8")
    rows = list(read_wikidump(bad))
    pages = [row for dataset, row in rows if dataset == "pages"]
    assert [p["url"] for p in pages] == [WIKI + "Anarchism"]  # the one article before the damage
    assert Counter(d for d, _ in rows)["redirects"] == 10
    assert rows[-1][0] == "quarantine" and rows[-1][1]["reason"] == "wikidump_error"


def test_pathological_wikitext_is_quarantined_not_hung() -> None:
    from drsynth.synth.corpus.records import page_record

    def page(wikitext: str) -> dict:
        record = {"title": "Bad", "wikitext": wikitext, "base_url": WIKI + "Main_Page", "lang": "en"}
        body = json.dumps(record).encode()
        return page_record(url=WIKI + "Bad", body=body, content_type=WIKITEXT_RECORD_TYPE, source="t",
                           source_kind="wikidump")

    # unclosed <div>s make the C tokenizer backtrack for minutes, where no signal reaches it: such
    # pages go to the Python tokenizer, which the deadline interrupts
    start = time.monotonic()
    kind, row = extract_page(page("<div>" * 50000), timeout_s=1.0)
    assert kind == "quarantine" and row["reason"] == "timeout"
    assert time.monotonic() - start < 10
    bad_json = page("x")
    bad_json["body"] = b'{"title": "Bad", "wikitext": '
    kind, row = extract_page(bad_json)
    assert kind == "quarantine" and row["reason"] == "extraction_error"


# --- documents -------------------------------------------------------------------------------------


def test_page_kinds(docs: dict[str, dict]) -> None:
    kinds = Counter(d["page_kind"] for d in docs.values())
    assert kinds == {"article": 96, "disambiguation": 8, "list": 2}
    disambiguation = {t for t, d in docs.items() if d["page_kind"] == "disambiguation"}
    assert disambiguation == {"Alien", "Austin (disambiguation)", "Ada", "Aberdeen (disambiguation)",
                              "Argument (disambiguation)", "Animal (disambiguation)", "Asia Minor (disambiguation)",
                              "Aa River"}  # Alien, Ada: {{disambiguation}}; Aa River: {{geodis}}
    assert {t for t, d in docs.items() if d["page_kind"] == "list"} == {"List of Atlas Shrugged characters",
                                                                       "List of anthropologists"}


def test_infobox_values(docs: dict[str, dict]) -> None:
    def rows(title: str) -> dict[str, dict]:
        return {e["key"]: e for e in docs[title]["infobox"]}

    einstein = rows("Albert Einstein")
    assert einstein["birth date"]["value"] == "14 March 1879"  # {{Birth date|df=yes|1879|3|14}}
    assert einstein["death date"]["value"] == "18 April 1955"  # {{Death date and age|...}}
    assert einstein["birth place"]["value"] == "Ulm, Kingdom of Württemberg, German Empire"
    assert {"href": WIKI + "Ulm", "anchor": "Ulm"} in einstein["birth place"]["links"]
    assert einstein["birth date"]["template"] == "Infobox scientist"
    assert einstein["birth date"]["subject"] == "Albert Einstein" and einstein["birth date"]["box"] == 0
    rand = rows("Ayn Rand")
    assert rand["birth date"]["value"] == "February 2, 1905"  # mf=yes
    assert rows("Asia")["area"]["value"] == "44,579,000 km2"  # {{convert|44579000|km2|...}}
    assert rows("Andorra")["area km2"]["value"] == "467.63"
    assert rows("Algeria")["area km2"]["subject"] == "Algeria"  # common_name
    # no image file names or sizes as facts
    assert not any(k.startswith("image") for k in einstein)


def test_nested_infobox_is_its_own_box(docs: dict[str, dict]) -> None:
    boxes = {(e["box"], e["template"], e["subject"]) for e in docs["Apollo 8"]["infobox"]}
    assert boxes == {(0, "Infobox spaceflight", "Apollo 8"), (1, "Infobox spaceflight/IP", None)}
    parent = {e["key"] for e in docs["Apollo 8"]["infobox"] if e["box"] == 0}
    child = {e["key"]: e["value"] for e in docs["Apollo 8"]["infobox"] if e["box"] == 1}
    assert "interplanetary" not in parent  # its only content was the nested box
    assert child["type"] == "orbiter" and child["orbits"] == "10" and "type" not in parent
    lincoln = {(e["box"], e["template"]) for e in docs["Abraham Lincoln"]["infobox"]}
    assert lincoln == {(0, "Infobox officeholder"), (1, "Infobox U.S. Cabinet")}


def test_text_links_sections(docs: dict[str, dict]) -> None:
    einstein = docs["Albert Einstein"]
    assert einstein["text"].startswith("Albert Einstein (14 March 1879 – 18 April 1955) was a German-born")
    assert einstein["bold_terms"] == ["Albert Einstein"]
    assert einstein["date"] == "2016-04-24" and einstein["lang"] == "en"
    assert einstein["url"] == WIKI + "Albert_Einstein"
    milan = next(link for link in einstein["links"] if link["anchor"] == "Milan" and link["kind"] == "text")
    assert milan["href"] == WIKI + "Milan" and milan["section"] == "Early life and education"
    assert milan["context"].startswith("In search of business, the Einstein family moved to Italy, first to Milan")
    assert {"title": "Early life and education", "level": 3} in einstein["sections"]
    assert "1879 births" in einstein["categories"]
    assert "Category:" not in einstein["text"] and "[[" not in einstein["text"] and "'''" not in einstein["text"]
    alabama = docs["Alabama"]
    assert alabama["text"].startswith("Alabama is a state located in the southeastern region")  # "()" of {{IPA}} gone
    assert "At 1,300 mi, Alabama has one of the longest" in alabama["text"]  # {{convert|1300|mi|km}}


@pytest.mark.parametrize(("title", "furniture"), [
    # See also / External links / Further reading anchors of these pages, read in the dump
    ("Albert Einstein", ["Einstein notation", "Heinrich Burkhardt", "NobelPrize.org", "World Digital Library"]),
    ("Alabama", ["Outline of Alabama", "LGBT rights in Alabama", "Alabama Department of Archives and History"]),
    ("Aldous Huxley", ["List of peace activists", "The Mike Wallace Interview", "Raymond Fraser"]),
])
def test_no_furniture(docs: dict[str, dict], title: str, furniture: list[str]) -> None:
    doc = docs[title]
    anchors = {link["anchor"] for link in doc["links"]}
    for name in furniture:
        assert name not in anchors and name not in doc["text"]
    assert not {"References", "External links", "See also"} & set(doc["text"].split("\n"))
    # hatnotes ({{about|the U.S. state||Alabama (disambiguation)}}) say nothing about the subject
    assert not any("disambiguation" in link["href"] for link in doc["links"])


def test_templates_and_furniture_in_wikitext() -> None:
    out = fields(
        "{{About|the singer|the town|Foo (town)}}\n{{Infobox musical artist\n| name = Foo Bar\n"
        "| birth_date = {{birth date and age|1950|7|4}}\n| genre = {{hlist|[[Rock music|Rock]]|[[Pop music|pop]]}}\n"
        "| years_active = {{start date|1970}}–present\n| image = Foo.jpg\n| website = <ref>x</ref>\n"
        "| module = {{Infobox officeholder|embed=yes|office=Mayor of [[Town]]}}\n}}\n"
        "'''Foo Bar''' (born {{birth date|1950|7|4}}) is a [[singer]]s' friend. His song ran "
        "{{duration|m=3|s=12}} and he walked {{convert|5|km|mi}}.<ref>{{cite web|title=Hidden}}</ref>\n\n"
        "== Career ==\n{{Main|Foo career}}\nHe sang in [[Paris#Arts|the capital]] with {{nowrap|[[Baz]]}} and "
        "{{lang|fr|Le Groupe}}.[[File:X.jpg|thumb|A [[caption]]]] [[fr:Foo Bar]]\n"
        "{{s-start}}\n{{succession box|title=[[Mayor]]|before=[[A]]|after=[[B]]}}\n{{s-end}}\n"
        "{{coord|1|2|N|3|4|E}}{{Navbox|name=Foo|list1=[[Navlink]]}}\n"
        '{| class="wikitable"\n|+ Albums\n! Year !! Title\n|-\n| 1970 || [[First Album]]\n|-\n| 1972 || Second\n|}\n'
        "== See also ==\n* [[Seealso Link]]\n== External links ==\n* [http://x.org Site]\n"
        "{{Authority control}}\n[[Category:Singers]]\n"
    )
    assert out["text"].split("\n") == [
        "Foo Bar (born 4 July 1950) is a singers' friend. His song ran 3:12 and he walked 5 km.",
        "Career",
        "He sang in the capital with Baz and Le Groupe.",
    ]
    info = {(e["box"], e["key"]): e for e in out["infobox"]}
    assert info[0, "birth date"]["value"] == "4 July 1950"
    assert info[0, "genre"]["value"] == "Rock, pop"
    assert [link["href"] for link in info[0, "genre"]["links"]] == [WIKI + "Rock_music", WIKI + "Pop_music"]
    assert info[0, "years active"]["value"] == "1970–present"
    assert (0, "image") not in info and (0, "website") not in info and (0, "module") not in info
    assert info[1, "office"]["value"] == "Mayor of Town" and info[1, "office"]["template"] == "Infobox officeholder"
    assert info[0, "genre"]["subject"] == "Foo Bar" and info[1, "office"]["subject"] is None
    text_links = {link["anchor"]: link for link in out["links"] if link["kind"] == "text"}
    assert set(text_links) == {"singers", "the capital", "Baz"}  # [[singer]]s: the trail joins the anchor
    assert text_links["the capital"]["href"] == WIKI + "Paris#Arts"
    assert text_links["the capital"]["section"] == "Career"
    assert text_links["singers"]["section"] == "" and text_links["singers"]["context"].startswith("Foo Bar (born")
    (table,) = out["tables"]
    assert table == {"caption": "Albums", "header": ["Year", "Title"], "rows": [["1970", "First Album"], ["1972", "Second"]]}
    (table_link,) = [link for link in out["links"] if link["kind"] == "table"]
    assert table_link["context"] == "Year: 1970; Title: First Album" and table_link["anchor"] == "First Album"
    assert out["categories"] == ["Singers"]
    assert out["sections"] == [{"title": "Career", "level": 2}, {"title": "See also", "level": 2},
                               {"title": "External links", "level": 2}]
    assert out["bold_terms"] == ["Foo Bar"]
    anchors = {link["anchor"] for link in out["links"]}
    assert not anchors & {"Seealso Link", "Navlink", "Mayor", "A", "B", "caption", "Site", "Foo (town)"}
    assert out["page_kind"] == "article"


def test_link_trail_and_disambiguation_marker() -> None:
    out = fields("A [[bus]]es stop.\n\n{{hndis|Smith, John}}")
    assert [(link["anchor"], link["href"]) for link in out["links"]] == [("buses", WIKI + "Bus")]
    assert out["page_kind"] == "disambiguation"


# --- end to end: ingest, extract, graph ------------------------------------------------------------


@pytest.fixture(scope="module")
def wiki_graph(tmp_path_factory: pytest.TempPathFactory):
    """The excerpt ingested, extracted and built into a graph, once."""
    from drsynth.storage.store import Store
    from drsynth.synth.corpus import ingest
    from drsynth.synth.corpus.extract_pool import ExtractionPool
    from drsynth.synth.graph.build import build_graph

    store = Store(str(tmp_path_factory.mktemp("wiki") / "data"))
    config = IngestConfig()
    counts = ingest.acquire(store, "wiki", str(excerpt()), config)
    with ExtractionPool(2) as pool:
        for batch in ingest.pending_batches(store, 1024):
            ingest.extract(store, "wiki", batch, pool, config)
    build_graph(store, "wiki")
    return store, counts


def _entities(store) -> dict[str, dict]:
    return {row["name"]: row for batch in store.scan("entities", ["name", "aliases"]) for row in batch.to_pylist()}


def test_end_to_end_graph(wiki_graph) -> None:
    store, counts = wiki_graph
    assert counts["pages.added"] == 106 and counts["redirects.added"] == 99
    assert counts["quarantine.read.not_article"] == 1
    assert store.count("documents") == 106
    entities = _entities(store)
    # redirect titles become aliases of their targets
    assert "ANOVA" in entities["Analysis of variance"]["aliases"]
    assert "Astronomers and Astrophysicists" in entities["Astronomer"]["aliases"]
    assert "Analysis of Variance" not in entities  # merged, not a second entity


def test_end_to_end_disambiguation_not_entities(wiki_graph) -> None:
    store, _ = wiki_graph
    names = set(_entities(store))
    assert "Ayn Rand" in names
    for title in ("Austin (disambiguation)", "Animal (disambiguation)", "Asia Minor (disambiguation)", "Aa River",
                  "List of anthropologists"):
        assert title not in names
