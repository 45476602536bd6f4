"""Page furniture is never fact (shared/docs/QUALITY.md): navboxes, sidebars, hatnotes, references,
"See also"/"External links" sections, categories, authority control, portal and succession boxes,
coordinates and edit links yield no text, links, infobox rows or tables. Checked on the four real
Wikipedia pages of the readability corpus against furniture found independently here with lxml, and
on hand-built pages for infoboxes of several subjects and navbox-like tables."""

from __future__ import annotations

from functools import cache

import pytest
from lxml import html as lxml_html
from lxml.html import HtmlElement

from drsynth.synth.corpus import html_structure as hs
from drsynth.synth.corpus.extract import extract_page
from tests.conftest import shared_path

WIKI_PAGES = ("wikipedia", "wikipedia-2", "wikipedia-3", "wikipedia-4")
# class tokens and ids of furniture, written out here rather than taken from the code under test
FURNITURE_CLASSES = {
    "navbox", "vertical-navbox", "navbox-styles", "sidebar", "hatnote", "dablink", "rellink", "reflist",
    "references", "mw-references-wrap", "authority-control", "portal", "portalbox", "portal-bar",
    "succession-box", "mw-editsection", "noprint", "ambox", "mbox", "printfooter", "sistersitebox",
    "mw-jump-link", "reference", "toc",
}
FURNITURE_IDS = {"catlinks", "toc", "coordinates", "footer", "mw-navigation", "mw-panel", "mw-head"}
FURNITURE_SECTION_IDS = {"See_also", "References", "Notes", "Footnotes", "Citations", "Sources",
                         "External_links", "Further_reading", "Bibliography"}

# measured on the pages (see the report of the furniture change)
NAVBOX_ELEMENTS = {"wikipedia": 65, "wikipedia-2": 164, "wikipedia-3": 0, "wikipedia-4": 16}
SECTIONS = {"wikipedia": 33, "wikipedia-2": 23, "wikipedia-3": 9, "wikipedia-4": 0}
CATEGORIES = {
    "wikipedia": ["Mozilla", "Netscape", "Projects established in 1998"],
    "wikipedia-2": 10, "wikipedia-3": ["Matrices"],
    "wikipedia-4": ["Lists of films by common content", "Time loop films", "Films about time travel"],
}
PAGE_KINDS = {"wikipedia": "article", "wikipedia-2": "article", "wikipedia-3": "article", "wikipedia-4": "list"}
# links the article body keeps (furniture-free counts, measured: 179, 645, 54, 116)
LINK_FLOORS = {"wikipedia": 170, "wikipedia-2": 600, "wikipedia-3": 50, "wikipedia-4": 100}


def _url(name: str) -> str:
    return f"https://en.wikipedia.org/wiki/{name}"


@cache
def _raw(name: str) -> bytes:
    return shared_path("corpora", "readability", name, "source.html").read_bytes()


@cache
def _doc(name: str) -> dict:
    kind, doc = extract_page({"id": name, "url": _url(name), "content_type": "text/html", "body": _raw(name)})
    assert kind == "documents", doc
    return doc


def _is_furniture(el: HtmlElement) -> bool:
    if not isinstance(el.tag, str):
        return False
    tokens = set((el.get("class") or "").split())
    if tokens & FURNITURE_CLASSES or el.get("id") in FURNITURE_IDS:
        return True
    return el.tag in ("nav", "footer") or el.get("role") in ("navigation", "contentinfo", "note")


def _furniture_sections(tree: HtmlElement) -> list[HtmlElement]:
    """Old MediaWiki markup: `<h2><span class="mw-headline" id="See_also">`, then siblings to the next h2."""
    out = []
    for span in tree.iter("span"):
        if span.get("id") in FURNITURE_SECTION_IDS and "mw-headline" in (span.get("class") or ""):
            heading = span.getparent()
            out.append(heading)
            for sibling in heading.itersiblings():
                if sibling.tag in ("h1", "h2"):
                    break
                out.append(sibling)
    return out


@cache
def _split_links(name: str) -> tuple[set[str], set[str], list[str]]:
    """(hrefs only in furniture, hrefs in content, reference-list item texts) of the raw page."""
    tree = lxml_html.fromstring(_raw(name))
    furniture = [el for el in tree.iter() if _is_furniture(el)] + _furniture_sections(tree)
    in_furniture: set[int] = set()
    held = []
    for el in furniture:
        for a in el.iter("a"):
            held.append(a)
            in_furniture.add(id(a))
    furniture_hrefs, content_hrefs = set(), set()
    for a in tree.iter("a"):
        href = hs.resolve_href(a.get("href"), _url(name))
        if href:
            (furniture_hrefs if id(a) in in_furniture else content_hrefs).add(href)
    references = [hs.collapse_ws(li.text_content()) for ol in tree.iter("ol")
                  if "references" in (ol.get("class") or "").split() for li in ol.iter("li")]
    return furniture_hrefs - content_hrefs, content_hrefs, references


@pytest.mark.parametrize("name", WIKI_PAGES)
def test_navbox_counts_on_the_raw_pages(name: str) -> None:
    tree = lxml_html.fromstring(_raw(name))
    navbox = sum(1 for el in tree.iter() if isinstance(el.tag, str)
                 and any(t.startswith("navbox") for t in (el.get("class") or "").split()))
    assert navbox == NAVBOX_ELEMENTS[name]


@pytest.mark.parametrize("name", WIKI_PAGES)
def test_no_link_comes_only_from_furniture(name: str) -> None:
    furniture_only, _, _ = _split_links(name)
    doc = _doc(name)
    leaked = [lk for lk in doc["links"] if lk["href"] in furniture_only]
    assert not leaked, leaked[:5]
    assert len(doc["links"]) >= LINK_FLOORS[name]


@pytest.mark.parametrize("name", WIKI_PAGES)
def test_reference_lists_and_external_links_are_not_text(name: str) -> None:
    _, _, references = _split_links(name)
    text = _doc(name)["text"]
    assert references or name == "wikipedia-4"
    leaked = [ref for ref in references if len(ref) >= 40 and ref[2:40] in text]
    assert not leaked, leaked[:3]
    for heading in ("See also", "External links", "References", "Retrieved"):
        assert heading not in text, heading
    assert "[edit]" not in text


@pytest.mark.parametrize("name", WIKI_PAGES)
def test_sections_categories_and_page_kind(name: str) -> None:
    doc = _doc(name)
    assert len(doc["sections"]) == SECTIONS[name]
    assert all(s["level"] in (2, 3, 4) and s["title"] for s in doc["sections"])
    titles = {s["title"] for s in doc["sections"]}
    assert not titles & {"See also", "References", "External links", "Notes", "Contents"}
    expected = CATEGORIES[name]
    assert (len(doc["categories"]) == expected) if isinstance(expected, int) else doc["categories"] == expected
    assert doc["page_kind"] == PAGE_KINDS[name]
    text_links = [lk for lk in doc["links"] if lk["kind"] == "text"]
    assert all(lk["section"] == "" or lk["section"] in titles for lk in text_links)


def test_infobox_and_tables_do_not_come_from_furniture() -> None:
    for name in WIKI_PAGES:
        doc = _doc(name)
        tree = lxml_html.fromstring(_raw(name))
        content_tables = [t for t in tree.iter("table")
                          if not _is_furniture(t) and not any(_is_furniture(a) for a in t.iterancestors())]
        for table in doc["tables"]:
            # the table is one outside furniture: its header and first row are in such a raw table
            cells = [c for c in table["header"] + table["rows"][0] if c]
            assert any(all(c in hs.collapse_ws(t.text_content()) for c in cells) for t in content_tables), name
        assert all(row["box"] == 0 and row["template"] is None for row in doc["infobox"])
    assert {row["subject"] for row in _doc("wikipedia")["infobox"]} == {"Mozilla"}
    films = _doc("wikipedia-4")["tables"]
    assert len(films) == 1 and films[0]["header"] == ["Film", "Year", "Description"]
    assert len(films[0]["rows"]) > 50


def test_article_body_keeps_its_links() -> None:
    doc = _doc("wikipedia")
    text = {lk["href"]: lk for lk in doc["links"] if lk["kind"] == "text"}
    for target in ("Firefox", "Mozilla_Thunderbird", "SeaMonkey", "Netscape", "Bugzilla", "Brendan_Eich", "Gecko_(software)"):
        assert _url(target) in text, target
    lead = next(lk for lk in doc["links"] if lk["href"] == _url("Netscape"))
    assert lead["kind"] == "text" and lead["section"] == ""  # the lead
    spidermonkey = next(lk for lk in doc["links"] if lk["href"] == _url("SpiderMonkey_(software)"))
    assert spidermonkey["section"] == "SpiderMonkey"  # an h4
    assert {"Mozilla Foundation", "Mozilla Corporation"} <= {row["value"] for row in doc["infobox"]} | set(
        doc["infobox"][4]["value"].split(", "))
    assert "Mozilla is a free-software community, created in 1998 by members of Netscape." in doc["text"]


def test_furniture_counts_per_kind() -> None:
    from drsynth.synth.corpus.extract import parse_html

    tree = parse_html(_raw("wikipedia-2").decode())
    counts = hs.remove_furniture(tree, hs.main_content(tree))
    assert counts["navbox"] >= 1 and counts["authority_control"] == 1 and counts["section"] >= 3
    assert counts["categories"] == 1 and counts["coordinates"] == 1 and counts["hatnote"] == 27
    assert not any("navbox" in (el.get("class") or "") for el in tree.iter() if isinstance(el.tag, str))


# --- hand-built pages ---------------------------------------------------------------------------

# {{Infobox song}} as Module:Infobox renders it, with a cover version's box embedded in `misc`
# (`table.infobox-subbox`, Module:Infobox's child/subbox output)
SONG = """<!DOCTYPE html><html lang="en"><head><title>Blue Lantern - Wikipedia</title></head><body>
<div id="content"><h1 id="firstHeading">Blue Lantern</h1>
<div id="mw-content-text" class="mw-body-content"><div class="mw-parser-output">
<div role="note" class="hatnote navigation-not-searchable">For the film, see <a href="/wiki/Blue_Lantern_(film)">Blue Lantern (film)</a>.</div>
<table class="infobox vevent"><tbody>
<tr><th colspan="2" class="infobox-above summary">"Blue Lantern"</th></tr>
<tr><td colspan="2" class="infobox-subheader description">Single by <a href="/wiki/Mara_Lind">Mara Lind</a></td></tr>
<tr><th scope="row" class="infobox-label">Released</th><td class="infobox-data">14 May 1971</td></tr>
<tr><th scope="row" class="infobox-label">Label</th><td class="infobox-data"><a href="/wiki/Harbor_Records">Harbor</a></td></tr>
<tr><th scope="row" class="infobox-label">Length</th><td class="infobox-data">3:12</td></tr>
<tr><td colspan="2" class="infobox-full-data"><table class="infobox-subbox infobox-table"><tbody>
  <tr><th colspan="2" class="infobox-above">"Blue Lantern" (cover)</th></tr>
  <tr><td colspan="2" class="infobox-subheader">Single by <a href="/wiki/The_Owls">The Owls</a></td></tr>
  <tr><th scope="row" class="infobox-label">Released</th><td class="infobox-data">2 March 1993</td></tr>
  <tr><th scope="row" class="infobox-label">Label</th><td class="infobox-data"><a href="/wiki/Cobalt_Records">Cobalt</a></td></tr>
</tbody></table></td></tr>
<tr><th scope="row" class="infobox-label">Songwriter(s)</th><td class="infobox-data"><a href="/wiki/Mara_Lind">Mara Lind</a></td></tr>
</tbody></table>
<p><b>"Blue Lantern"</b> is a song by <a href="/wiki/Mara_Lind">Mara Lind</a>, released in 1971 on
<a href="/wiki/Harbor_Records">Harbor Records</a>. It reached number four in several countries that year.</p>
<div class="mw-heading mw-heading2"><h2 id="Charts">Charts</h2><span class="mw-editsection">[<a href="/w/index.php?action=edit">edit</a>]</span></div>
<p>The song entered the <a href="/wiki/Chart_Show">Chart Show</a> in its first week and stayed there for months.</p>
<table class="wikitable"><tbody>
<tr><th>Chart (1971)</th><th>Peak position</th></tr>
<tr><td><a href="/wiki/Kingdom_Singles_Chart">Kingdom Singles Chart</a></td><td>4</td></tr>
<tr><td><a href="/wiki/Republic_Top_40">Republic Top 40</a></td><td>7</td></tr>
</tbody></table>
<div class="mw-heading mw-heading2"><h2 id="See_also">See also</h2></div>
<ul><li><a href="/wiki/List_of_lantern_songs">List of lantern songs</a></li></ul>
<div class="mw-heading mw-heading2"><h2 id="References">References</h2></div>
<div class="reflist"><ol class="references"><li>"Blue Lantern chart run". <a href="https://charts.example/x">Charts Weekly</a>. Retrieved 2 May 2020.</li></ol></div>
<div role="navigation" class="navbox" aria-label="Navbox"><table class="nowraplinks navbox-inner"><tbody>
<tr><th colspan="2" class="navbox-title"><a href="/wiki/Mara_Lind">Mara Lind</a></th></tr>
<tr><th class="navbox-group">Studio albums</th><td class="navbox-list"><ul><li><a href="/wiki/Harbor_Lights">Harbor Lights</a></li><li><a href="/wiki/Night_Ferry">Night Ferry</a></li></ul></td></tr>
</tbody></table></div>
</div></div>
<div id="catlinks" class="catlinks"><div id="mw-normal-catlinks" class="mw-normal-catlinks"><a href="/wiki/Help:Category">Categories</a>:
<ul><li><a href="/wiki/Category:1971_singles">1971 singles</a></li><li><a href="/wiki/Category:Mara_Lind_songs">Mara Lind songs</a></li></ul></div>
<div id="mw-hidden-catlinks" class="mw-hidden-catlinks"><ul><li><a href="/wiki/Category:Articles_with_hAudio">Articles with hAudio</a></li></ul></div></div>
</div></body></html>"""


def _song() -> dict:
    kind, doc = extract_page({"id": "song", "url": "https://en.wikipedia.org/wiki/Blue_Lantern",
                              "content_type": "text/html", "body": SONG.encode()})
    assert kind == "documents", doc
    return doc


def test_a_cover_versions_box_is_its_own_box() -> None:
    doc = _song()
    rows = {(row["box"], row["key"]): row for row in doc["infobox"]}
    assert rows[(0, "Released")]["value"] == "14 May 1971"
    assert rows[(0, "Label")]["value"] == "Harbor"
    assert rows[(0, "Songwriter(s)")]["value"] == "Mara Lind"
    assert rows[(1, "Released")]["value"] == "2 March 1993"
    assert rows[(1, "Label")]["value"] == "Cobalt"
    assert {row["subject"] for row in doc["infobox"] if row["box"] == 0} == {'"Blue Lantern"'}
    assert {row["subject"] for row in doc["infobox"] if row["box"] == 1} == {'"Blue Lantern" (cover)'}
    assert all(row["template"] is None for row in doc["infobox"])
    assert [row["key"] for row in doc["infobox"] if row["box"] == 0] == ["Released", "Label", "Length", "Songwriter(s)"]


def test_song_page_furniture_sections_and_categories() -> None:
    doc = _song()
    hrefs = {lk["href"] for lk in doc["links"]}
    for gone in ("Blue_Lantern_(film)", "List_of_lantern_songs", "Harbor_Lights", "Night_Ferry", "Category:1971_singles"):
        assert f"https://en.wikipedia.org/wiki/{gone}" not in hrefs, gone
    assert "https://charts.example/x" not in hrefs
    assert "Retrieved" not in doc["text"] and "For the film" not in doc["text"] and "See also" not in doc["text"]
    assert doc["categories"] == ["1971 singles", "Mara Lind songs"]  # hidden categories are not the page's
    assert doc["sections"] == [{"title": "Charts", "level": 2}]
    assert doc["page_kind"] == "article"
    by_href = {lk["href"]: lk for lk in doc["links"]}
    assert by_href["https://en.wikipedia.org/wiki/Chart_Show"]["section"] == "Charts"
    assert by_href["https://en.wikipedia.org/wiki/Harbor_Records"]["section"] == ""
    assert by_href["https://en.wikipedia.org/wiki/Kingdom_Singles_Chart"] == {
        "href": "https://en.wikipedia.org/wiki/Kingdom_Singles_Chart", "anchor": "Kingdom Singles Chart",
        "context": "Chart (1971): Kingdom Singles Chart; Peak position: 4", "kind": "table", "section": "Charts"}
    assert doc["tables"] == [{"caption": None, "header": ["Chart (1971)", "Peak position"],
                              "rows": [["Kingdom Singles Chart", "4"], ["Republic Top 40", "7"]]}]


def test_disambiguation_marker_sets_page_kind() -> None:
    page = SONG.replace('<div role="note" class="hatnote navigation-not-searchable">',
                        '<div id="disambigbox" class="dmbox"><p>This page lists songs.</p></div><div class="hatnote">')
    kind, doc = extract_page({"id": "d", "url": "https://en.wikipedia.org/wiki/Blue_Lantern",
                              "content_type": "text/html", "body": page.encode()})
    assert kind == "documents" and doc["page_kind"] == "disambiguation"
    assert "This page lists songs" not in doc["text"]


DISCOGRAPHY = """<html><body><main>
<p>The discography of the band spans four decades of recordings and several labels in total.</p>
<table class="wikitable">
<tr><th rowspan="2">Title</th><th rowspan="2">Year</th><th rowspan="2">Label</th><th colspan="2">Peak chart positions</th></tr>
<tr><th>US</th><th>UK</th></tr>
<tr><td><a href="/wiki/Harbor_Lights">Harbor Lights</a></td><td>1970</td><td><a href="/wiki/Harbor_Records">Harbor</a></td><td>12</td><td>30</td></tr>
<tr><td><a href="/wiki/Night_Ferry">Night Ferry</a></td><td>1973</td><td><a href="/wiki/Harbor_Records">Harbor</a></td><td>4</td><td>9</td></tr>
</table>
<table class="wikitable">
<tr><th>Studio albums</th><td><a href="/wiki/A">Alpha</a> · <a href="/wiki/B">Beta</a> · <a href="/wiki/C">Gamma</a></td></tr>
<tr><th>Live albums</th><td><a href="/wiki/D">Delta</a> · <a href="/wiki/E">Epsilon</a> · <a href="/wiki/F">Zeta</a></td></tr>
</table>
<table class="wikitable">
<tr><th>Artist</th><th>1970s</th><th>Label</th></tr>
<tr><td><a href="/wiki/Mara_Lind">Mara Lind</a></td><td>Harbor Lights, Night Ferry</td><td>Harbor</td></tr>
<tr><td><a href="/wiki/The_Owls">The Owls</a></td><td>Owl Songs</td><td>Cobalt</td></tr>
</table>
</main></body></html>"""


def test_only_tables_that_state_properties_are_data_tables() -> None:
    tree = lxml_html.fromstring(DISCOGRAPHY)
    found = hs.tables_with_links(tree, "https://en.wikipedia.org/wiki/X")
    records = [record for record, _ in found]
    assert records[0]["header"] == ["Title", "Year", "Label", "Peak chart positions / US", "Peak chart positions / UK"]
    assert records[0]["rows"][1] == ["Night Ferry", "1973", "Harbor", "4", "9"]
    # the row-header grouping table ("Studio albums | A · B · C") is gone; the "1970s" column is no property
    assert len(records) == 2
    assert records[1]["header"] == ["Artist", "Label"] and records[1]["rows"][0] == ["Mara Lind", "Harbor"]
    hrefs = {link["href"] for _, links in found for link in links}
    assert "https://en.wikipedia.org/wiki/A" not in hrefs


GENERIC = """<html><head><title>Harbor Records history</title></head><body>
<header><a href="/">Harbor</a></header>
<nav><a href="/shop">Shop</a> <a href="/tours">Tours</a></nav>
<div class="page">
<aside class="portable-infobox"><h2 class="pi-title">Harbor Records</h2>
  <table><tr><th>Founded</th><td>1962</td></tr></table></aside>
<article>
<p>Harbor Records was founded in 1962 by <a href="/people/ann-ray">Ann Ray</a> in a small port town on the coast.</p>
<p>Its first signing was <a href="/artists/mara-lind">Mara Lind</a>, whose records sold well across the country.</p>
<h2>References</h2><ul><li><a href="https://press.example/story">Press story</a> about the label, 1999.</li></ul>
</article>
<aside class="related"><a href="/news/other">Other news</a></aside>
</div>
<footer><a href="/privacy">Privacy</a></footer>
</body></html>"""


def test_generic_site_furniture() -> None:
    kind, doc = extract_page({"id": "g", "url": "https://harbor.example/history", "content_type": "text/html",
                              "body": GENERIC.encode()})
    assert kind == "documents", doc
    hrefs = {lk["href"] for lk in doc["links"]}
    assert "https://harbor.example/people/ann-ray" in hrefs
    for gone in ("/shop", "/tours", "/news/other", "/privacy"):
        assert f"https://harbor.example{gone}" not in hrefs
    assert "https://press.example/story" not in hrefs and "Press story" not in doc["text"]
    assert [(row["key"], row["value"]) for row in doc["infobox"]] == [("Founded", "1962")]  # aside infobox kept
    assert doc["page_kind"] is None and doc["categories"] == []


def test_parsoid_sections_go_whole() -> None:
    tree = lxml_html.fromstring("""<html><body><div id="mw-content-text"><div class="mw-parser-output">
      <section data-mw-section-id="0"><p>Lead text about the subject, long enough to count.</p></section>
      <section data-mw-section-id="1"><h2 id="History">History</h2><p>History text.</p>
        <section data-mw-section-id="2"><h3 id="Later">Later</h3><p>Later text.</p></section></section>
      <section data-mw-section-id="3"><h2 id="External_links">External links</h2>
        <ul><li><a href="https://x.example/">Official site</a></li></ul></section>
    </div></div></body></html>""")
    counts = hs.remove_furniture(tree, hs.main_content(tree))
    text = tree.text_content()
    assert counts == {"section": 1} and "Official site" not in text and "Later text." in text
    assert hs.sections(hs.main_content(tree)) == [{"title": "History", "level": 2}, {"title": "Later", "level": 3}]
