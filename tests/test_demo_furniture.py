"""Page furniture on the demo encyclopedia is never a fact (docs/QUALITY.md, DESIGN.md §7).

The demo pages carry the furniture real Wikipedia pages carry, in Wikipedia's own markup: navboxes
(`div[role=navigation].navbox`, `th.navbox-group` headers, nested `table.navbox-subgroup`), hatnotes,
`sup.reference` markers and `div.reflist ol.references`, "See also" and "External links" sections,
`#catlinks`, an authority-control navbox, sidebars (`table.sidebar`), title coordinates
(`#coordinates`), `mw-editsection` links and a disambiguation page's `#disambigbox`. These tests build
the demo's documents and graph and check that nothing the graph states comes from that furniture, and
that the traps of the music pages (a cover version's infobox, track lengths, catalogue numbers, a
record label with no page) are read as a careful reader would.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import lxml.html
import pytest

from drsynth.synth.corpus.demo import NON_ARTICLE_PAGES, SITE_DIR

WIKI = SITE_DIR / "wiki"

# furniture, by Wikipedia's markup (XPath on the raw demo HTML)
FURNITURE_XPATH = " | ".join([
    "//div[@role='navigation' and contains(concat(' ', @class, ' '), ' navbox ')]",  # navboxes, authority control
    "//*[contains(concat(' ', @class, ' '), ' hatnote ')]",
    "//*[contains(concat(' ', @class, ' '), ' reflist ')]",
    "//ol[contains(concat(' ', @class, ' '), ' references ')]",
    "//sup[contains(concat(' ', @class, ' '), ' reference ')]",
    "//*[@id='catlinks']",
    "//table[contains(concat(' ', @class, ' '), ' sidebar ')]",
    "//*[@id='coordinates']",
    "//*[contains(concat(' ', @class, ' '), ' mw-editsection ')]",
    "//*[@id='disambigbox']",
    "//header[@id='site-header']",
    "//footer",
    "//nav[@id='toc']",
])
# sections that are furniture as a whole: everything between their heading and the next h2
FURNITURE_SECTIONS = {"See also", "References", "External links", "Notes", "Further reading"}

DAB_PAGE, LIST_PAGE, DISCOGRAPHY = "Selva (disambiguation)", "List of cities and towns of Estavia", "Lina Marr discography"
SONG, LABEL_STUB, GROUP = "Gellan Bay Blues", "Gullwing Records", "The Harbour Lights"


def norm(text: str | None) -> str:
    return " ".join((text or "").replace("\u200b", "").split()).strip().casefold()


def heading_text(h: lxml.html.HtmlElement) -> str:
    headline = h.xpath(".//*[contains(@class, 'mw-headline')]")
    return norm((headline[0] if headline else h).text_content())


def furniture_elements(doc: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    found = list(doc.xpath(FURNITURE_XPATH))
    for h2 in doc.xpath("//div[@id='bodyContent']/h2"):
        if heading_text(h2) not in {norm(s) for s in FURNITURE_SECTIONS}:
            continue
        sib = h2.getnext()
        found.append(h2)
        while sib is not None and sib.tag != "h2" and sib.get("role") != "navigation":
            found.append(sib)
            sib = sib.getnext()
    return found


def in_any(el: lxml.html.HtmlElement, roots: set[int]) -> bool:
    return id(el) in roots or any(id(a) in roots for a in el.iterancestors())


def page_path(href: str, stem: str) -> str | None:
    url = urllib.parse.urljoin(f"http://halvard.drsynth.test/wiki/{stem}", href)
    parts = urllib.parse.urlsplit(url)
    if parts.netloc != "halvard.drsynth.test":
        return None
    return urllib.parse.unquote(parts.path)


def scan_site() -> SimpleNamespace:
    """Per page: the (href path, anchor) pairs of links in furniture and outside it; furniture group labels."""
    pages: dict[str, SimpleNamespace] = {}
    furniture_anchors: set[str] = set()
    content_names: set[str] = set()  # anchors, bold terms and titles outside furniture, on any page
    group_labels: set[str] = set()
    for path in sorted(WIKI.glob("*.html")):
        doc = lxml.html.fromstring(path.read_bytes())
        roots = furniture_elements(doc)
        ids = {id(r) for r in roots}
        furn, content = set(), set()
        for a in doc.xpath("//main//a"):
            anchor = norm(a.text_content())
            target = page_path(a.get("href") or "", path.stem) if a.get("href") else None
            (furn if in_any(a, ids) else content).add((target, anchor))
        for r in roots:
            for th in r.xpath(".//th[contains(@class, 'navbox-group')] | .//th[contains(@class, 'sidebar-heading')]"):
                group_labels.add(norm(th.text_content()))
        furniture_anchors |= {anchor for _, anchor in furn if anchor}
        content_names |= {anchor for _, anchor in content}
        content_names |= {norm(b.text_content()) for b in doc.xpath("//div[@id='bodyContent']/p[1]//b")}
        content_names |= {norm(t) for t in doc.xpath("//main//h1//text()")}
        infobox_labels = {norm(th.text_content()) for th in doc.xpath(
            "//table[contains(@class, 'infobox')]//th[@scope='row'] | //table[contains(@class, 'wikitable')]//th")}
        pages[path.stem] = SimpleNamespace(furniture=furn, content=content, infobox_labels=infobox_labels)
    return SimpleNamespace(pages=pages, furniture_only=furniture_anchors - content_names, group_labels=group_labels)


SITE = scan_site()


@pytest.fixture(scope="module")
def graph(demo_documents: str, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from drsynth.storage.store import Store
    from drsynth.synth.graph.build import build_graph

    root = os.fspath(tmp_path_factory.mktemp("demo-furniture") / "data")
    shutil.copytree(demo_documents, root)
    store = Store(root)
    build_graph(store, "graph-furniture")
    docs = {d["id"]: d for d in store.rows("documents")}
    entities = list(store.rows("entities"))
    edges = list(store.rows("edges"))
    return SimpleNamespace(docs=docs, entities=entities, by_id={e["id"]: e for e in entities},
                           by_name={e["name"]: e for e in entities}, edges=edges)


def doc_stem(doc: dict) -> str | None:
    path = urllib.parse.unquote(urllib.parse.urlsplit(doc.get("url") or "").path)
    return path.removeprefix("/wiki/") if path.startswith("/wiki/") else None


def entity(graph: SimpleNamespace, name: str) -> dict:
    assert name in graph.by_name, f"no entity {name!r}"
    return graph.by_name[name]


def attrs(e: dict, key_part: str) -> list[dict]:
    return [a for a in e["attributes"] or [] if key_part in norm(a["key"])]


# -- the site: the furniture is there, in real markup -------------------------------------------------


def count_pages(xpath: str) -> int:
    return sum(bool(lxml.html.fromstring(p.read_bytes()).xpath(xpath)) for p in WIKI.glob("*.html"))


def test_demo_pages_carry_real_furniture() -> None:
    navboxes: dict[str, int] = {}
    for p in WIKI.glob("*.html"):
        doc = lxml.html.fromstring(p.read_bytes())
        for box in doc.xpath("//div[@role='navigation'][contains(concat(' ', @class, ' '), ' navbox ')]"
                             "[not(contains(@class, 'authority-control'))]"):
            navboxes[box.get("aria-labelledby")] = navboxes.get(box.get("aria-labelledby"), 0) + 1
    assert sum(n >= 5 for n in navboxes.values()) >= 3, navboxes
    assert count_pages("//table[contains(@class, 'navbox-subgroup')]") >= 5
    assert {"studio albums", "singles", "1900s", "works", "related articles"} <= SITE.group_labels
    assert count_pages("//div[contains(@class, 'hatnote')]") >= 8
    assert count_pages("//sup[contains(@class, 'reference')]") >= 15
    assert count_pages("//div[contains(@class, 'reflist')]//ol[@class='references']") >= 15
    assert count_pages("//div[contains(@class, 'authority-control')]") >= 5
    assert count_pages("//table[contains(@class, 'sidebar')]") >= 2
    assert count_pages("//*[@id='coordinates']") >= 5
    assert count_pages("//span[@class='mw-editsection']") >= 3
    assert count_pages("//div[@id='catlinks']//div[@id='mw-normal-catlinks']//li") == len(list(WIKI.glob("*.html"))) - len(NON_ARTICLE_PAGES)
    dab = lxml.html.fromstring((WIKI / "Selva_(disambiguation).html").read_bytes())
    assert dab.xpath("//div[@id='disambigbox'][contains(@class, 'dmbox-disambig')]")
    assert "all disambiguation pages" in {norm(t) for t in dab.xpath("//div[@id='catlinks']//li/text()")}
    # every song page carries the musician's navbox listing her whole discography: the trap
    for stem in ("Gellan_Bay_Blues", "Night_Ferry"):
        doc = lxml.html.fromstring((WIKI / f"{stem}.html").read_bytes())
        assert doc.xpath("//div[@role='navigation'][@aria-labelledby='Lina_Marr']//a[@href='/wiki/Lina_Marr_discography']")


# -- the graph: nothing from furniture ---------------------------------------------------------------


def test_no_typed_edge_comes_from_furniture(graph: SimpleNamespace) -> None:
    bad = []
    for e in graph.edges:
        if not (e["kind"] in ("infobox", "table") or e.get("typed")):
            continue
        stem = doc_stem(graph.docs.get(e["doc_id"], {}))
        page = SITE.pages.get(stem or "")
        if norm(e["relation"]) in SITE.group_labels - (page.infobox_labels if page else set()):
            bad.append(("navbox group as relation", stem, e["relation"], e["anchor"]))
            continue
        if page is None:
            continue
        anchor = norm(e["anchor"])
        furn = {a for _, a in page.furniture}
        content = {a for _, a in page.content}
        if anchor in furn and anchor not in content:
            bad.append(("furniture link", stem, e["relation"], e["anchor"]))
    assert not bad, bad[:20]


def test_no_attribute_comes_from_furniture(graph: SimpleNamespace) -> None:
    bad = []
    for ent in graph.entities:
        for a in ent["attributes"] or []:
            stem = doc_stem(graph.docs.get(a["doc_id"], {}))
            page = SITE.pages.get(stem or "")
            labels = page.infobox_labels if page else set()
            from_group = norm(a["key"]) in SITE.group_labels - labels
            furniture_only = {x for _, x in page.furniture} - {x for _, x in page.content} if page else set()
            if from_group or norm(a["value"]) in furniture_only:
                bad.append((ent["name"], a["key"], a["value"]))
    assert not bad, bad[:20]


def test_no_alias_is_furniture_link_text(graph: SimpleNamespace) -> None:
    bad = [(e["name"], alias) for e in graph.entities for alias in e["aliases"] or []
           if norm(alias) in SITE.furniture_only]
    assert not bad, bad[:20]


def test_list_disambiguation_and_discography_pages_are_not_entities(graph: SimpleNamespace) -> None:
    for name in (DAB_PAGE, LIST_PAGE, DISCOGRAPHY):
        stem = name.replace(" ", "_")
        assert name not in graph.by_name, name
        assert not [e["name"] for e in graph.entities
                    if any(urllib.parse.unquote(u).endswith(f"/wiki/{stem}") for u in e["urls"] or [])], name


# -- the graph: music pages read right -----------------------------------------------------------------


def test_song_facts_are_the_originals_not_the_covers(graph: SimpleNamespace) -> None:
    song = entity(graph, SONG)
    released = [a["value"] for a in attrs(song, "released")]
    assert released and all("1955" in v for v in released), released
    labels = [a["value"] for a in attrs(song, "label")]
    assert labels and all("Gullwing" in v and "Brennick Sound" not in v for v in labels), labels
    lengths = [a["value"] for a in attrs(song, "length")]
    assert lengths == ["3:12"], lengths
    values = " | ".join(str(a["value"]) for a in song["attributes"] or [])
    for cover_value in ("2 October 1964", "2:48", "BS-117", "Jon Varga", "Rook Light"):
        assert cover_value not in values, (cover_value, values)


def test_record_label_without_a_page_is_a_typed_stub(graph: SimpleNamespace) -> None:
    label = entity(graph, LABEL_STUB)
    assert label["stub"] is True
    assert label["type"] == "organization"
    song = entity(graph, SONG)
    assert any(a["entity_id"] == label["id"] for a in attrs(song, "label"))


def test_group_is_typed_group_not_person(graph: SimpleNamespace) -> None:
    assert entity(graph, GROUP)["type"] == "group"


def test_track_lengths_catalogue_numbers_and_formats_keep_their_kind_and_surface(graph: SimpleNamespace) -> None:
    song = entity(graph, SONG)
    length = attrs(song, "length")
    assert [(a["kind"], a["value"]) for a in length] == [("duration", "3:12")]
    assert length[0]["normalized"] == "192"
    catalogue = attrs(song, "catalog")  # "catalogue no." and "catalog number" alike
    assert [(a["kind"], a["value"]) for a in catalogue] == [("identifier", "Gullwing GW-4512")]
    fmt = attrs(song, "format")
    assert fmt and all(a["kind"] == "format" for a in fmt) and "7-inch single" in fmt[0]["value"], fmt
    recorded = attrs(song, "recorded")
    assert [(a["kind"], a["value"]) for a in recorded] == [("span", "1954–1955")]
    ferry = entity(graph, "Night Ferry")
    assert [(a["kind"], a["value"]) for a in attrs(ferry, "length")] == [("duration", "2:55")]


def test_songs_do_not_inherit_the_discography_from_the_navbox(graph: SimpleNamespace) -> None:
    """The Lina Marr navbox on every song page lists all her records; no song is related to the others."""
    songs = {entity(graph, n)["id"] for n in (SONG, "Night Ferry")}
    bad = [(graph.by_id[e["src"]]["name"], e["relation"], graph.by_id.get(e["dst"], {}).get("name"))
           for e in graph.edges if e["src"] in songs and e["dst"] in songs | {entity(graph, DISCOGRAPHY)["id"]
                                                                                 if DISCOGRAPHY in graph.by_name else ""}]
    assert not bad, bad


def test_site_scan_is_not_empty() -> None:
    # guards the helpers above: the furniture-only anchors include citation link texts
    assert {"sorel, dagny", "kestrel", "varkholm herald"} <= SITE.furniture_only
    assert Path(WIKI / "Lina_Marr.html").is_file()
