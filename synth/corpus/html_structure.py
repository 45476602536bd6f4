"""Structure that trafilatura drops, read from the parsed HTML tree with lxml.

Infobox key-values, data tables and the bold names of the lead paragraph feed the knowledge graph
(entity attributes, aliases); trafilatura's main-text extraction throws all three away. Every
function here only reads the tree, so the same tree can be handed to trafilatura afterwards.

Hrefs are resolved against `<base href>` / the final URL but keep their fragments: entity resolution
happens later and needs the raw target.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urljoin

from lxml.html import HtmlElement

# class tokens of page chrome (navigation boxes, notices, tables of contents, infoboxes), never data
# or lead text. Tokens, not substrings: "toccolours" and "stock-table" are data tables
_CHROME_PREFIXES = ("infobox", "navbox", "vertical-navbox", "sidebar", "metadata", "navigation", "nav-", "toc-")
_CHROME_TOKENS = frozenset({"vcard", "toc", "nav", "hatnote", "mw-empty-elt"})
_NON_CONTENT_TAGS = frozenset({"nav", "header", "footer", "aside", "form"})
# subtrees whose text is never part of a value: citation markers, edit links, hidden sort keys
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "button", "select", "input"})
_SKIP_CLASSES = ("reference", "mw-editsection", "sortkey", "noprint", "mw-ref", "geo-nondefault", "geo-multi-punct")
# Wikipedia's coordinates widget sits in a paragraph of its own ahead of the lead
_SKIP_IDS = frozenset({"coordinates"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "tbody", "thead", "tfoot",
     "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "center", "caption"}
)
_WS = re.compile(r"\s+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_UNRESOLVABLE_SCHEMES = ("javascript:", "data:", "vbscript:")

MAX_TABLE_ROWS = 1000
MAX_TABLE_COLS = 64
MAX_CELL_CHARS = 1000
MAX_SPAN = 100


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def document_base_url(tree: HtmlElement, final_url: str) -> str:
    """The URL relative hrefs resolve against: `<base href>` (itself relative to the page) or the page."""
    for base in tree.iterfind(".//base[@href]"):
        href = (base.get("href") or "").strip()
        if href and not href.lower().startswith(_UNRESOLVABLE_SCHEMES):
            return urljoin(final_url, href)
    return final_url


def resolve_href(href: str | None, base_url: str) -> str | None:
    """Absolute URL for an href, fragment kept; None for empty and script/data pseudo-links."""
    href = (href or "").strip()
    if not href or href.lower().startswith(_UNRESOLVABLE_SCHEMES):
        return None
    return _join(base_url, href)


@lru_cache(maxsize=8192)
def _join(base_url: str, href: str) -> str | None:
    # cached: a site's navigation and citation links repeat on every page of a batch
    try:
        return urljoin(base_url, href)
    except ValueError:  # malformed, e.g. an invalid IPv6 netloc
        return None


def _has_class(el: HtmlElement, names: tuple[str, ...]) -> bool:
    classes = el.get("class")
    return bool(classes) and any(name in classes for name in names)


def _is_chrome(el: HtmlElement) -> bool:
    classes = el.get("class")
    if not classes:
        return False
    return any(
        token in _CHROME_TOKENS or token.startswith(_CHROME_PREFIXES) or token.endswith("mbox")  # ambox, tmbox...
        for token in classes.split()
    )


def _skipped(el: HtmlElement) -> bool:
    """Elements whose content never belongs to a value (their tail text still does)."""
    tag = el.tag
    if not isinstance(tag, str):  # comments, processing instructions
        return True
    if tag in _SKIP_TAGS or (tag == "sup" and _has_class(el, ("reference",))):
        return True
    if el.get("hidden") is not None or _HIDDEN_STYLE.search(el.get("style") or ""):
        return True
    if el.get("id") in _SKIP_IDS:
        return True
    return _has_class(el, _SKIP_CLASSES)


def _source_text(text: str) -> str:
    # newlines in the HTML source are wrapping, not line breaks: only <br> and blocks break lines
    return text.replace("\r", " ").replace("\n", " ")


def _text_parts(el: HtmlElement, out: list[str]) -> None:
    tag = el.tag
    if tag == "br" or tag in _BLOCK_TAGS:
        out.append("\n")
    if el.text:
        out.append(_source_text(el.text))
    for child in el:
        if not _skipped(child):
            _text_parts(child, out)
        if child.tail:
            out.append(_source_text(child.tail))
    if tag in _BLOCK_TAGS:
        out.append("\n")


def element_lines(el: HtmlElement) -> list[str]:
    """Visible text of `el` as lines: `<br>` and block elements break lines, whitespace collapsed."""
    parts: list[str] = []
    _text_parts(el, parts)
    lines = (collapse_ws(line) for line in "".join(parts).split("\n"))
    return [line for line in lines if line]


def element_text(el: HtmlElement, sep: str = ", ") -> str:
    """One-line text of `el`: line-broken pieces (`<br>`, list items) joined with `sep`."""
    return sep.join(element_lines(el))


def _inside_skipped(el: HtmlElement, stop: HtmlElement) -> bool:
    node = el
    while node is not None and node is not stop:
        if _skipped(node):
            return True
        node = node.getparent()
    return False


def element_links(el: HtmlElement, base_url: str) -> list[dict]:
    """[{href, anchor}] for the text links in `el`; image-only and citation links are left out."""
    links: list[dict] = []
    for a in el.iter("a"):
        anchor = collapse_ws(a.text_content())
        href = resolve_href(a.get("href"), base_url)
        if href and anchor and not _inside_skipped(a, el):
            links.append({"href": href, "anchor": anchor})
    return links


# --- one scan ----------------------------------------------------------------------------------


class Landmarks:
    """The elements the extractors below start from, found in one C-filtered pass over the tree
    (cheaper than one `//*[...]` XPath per question: those cost ~1 ms each on a large page)."""

    __slots__ = ("infoboxes", "main", "tables")

    def __init__(self, tree: HtmlElement) -> None:
        infoboxes: list[HtmlElement] = []
        mains: list[tuple[int, HtmlElement]] = []
        self.tables: list[HtmlElement] = []
        for el in tree.iter("div", "main", "article", "section", "table", "aside"):
            tag = el.tag
            if tag == "table":
                self.tables.append(el)
            tokens = (el.get("class") or "").split()
            # Wikipedia's `table.infobox ...` (also infobox_v2, infobox-xyz, div variants); hCard tables
            if any(t.startswith("infobox") for t in tokens) or (tag == "table" and "vcard" in tokens):
                infoboxes.append(el)
            if el.get("id") == "mw-content-text":
                mains.append((0, el))
            elif tag == "main":
                mains.append((1, el))
            elif el.get("role") == "main":
                mains.append((2, el))
            elif tag == "article":
                mains.append((3, el))
        # outermost infoboxes only: a nested one is read through its parent
        ids = {id(el) for el in infoboxes}  # the list keeps the proxies alive, so ids are stable
        self.infoboxes = [el for el in infoboxes if not any(id(a) in ids for a in el.iterancestors())]
        if mains:
            self.main = min(mains, key=lambda ranked: ranked[0])[1]  # min() keeps document order among equals
        else:
            body = tree.find("body")
            self.main = body if body is not None else tree


# --- infobox ---------------------------------------------------------------------------------


_SUB_ROW_MARKS = "•·"  # Wikipedia's country boxes: "• Total" rows under an "Area" header


def _row_pairs(root: HtmlElement) -> Iterator[tuple[HtmlElement, HtmlElement | None]]:
    """(key cell, value cell) pairs: `th`+`td` rows, `td.label`+`td` rows, `dt`+`dd` pairs; a lone
    `th` row comes as (th, None): a section header for the bullet rows below it."""
    for tr in root.iter("tr"):
        cells = [c for c in tr if c.tag in ("th", "td")]
        if len(cells) == 1 and cells[0].tag == "th":
            yield cells[0], None  # a section header ("Area", "Population")
        if len(cells) != 2:
            continue
        key, value = cells
        if value.tag == "td" and (key.tag == "th" or _has_class(key, ("label",))):
            yield key, value
    for dt in root.iter("dt"):
        dd = dt.getnext()
        if dd is not None and dd.tag == "dd":
            yield dt, dd


def infobox(tree: HtmlElement, base_url: str, landmarks: Landmarks | None = None) -> list[dict]:
    """Key-value rows of the page's infobox(es): [{key, value, links: [{href, anchor}]}].

    Multi-line values (`<br>`, lists) are joined with ", "; bullet sub-rows take their section's
    name ("Area – Total"); rows whose value is only an image (no text), section headers and exact
    duplicate rows are dropped.
    """
    entries: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for root in (landmarks or Landmarks(tree)).infoboxes:
        section = ""
        for key_cell, value_cell in _row_pairs(root):
            key = element_text(key_cell, " ").rstrip(":").strip()
            if key and key[0] in _SUB_ROW_MARKS:
                sub_key = key.lstrip(_SUB_ROW_MARKS + " ")
                key = f"{section} – {sub_key}" if section else sub_key
            elif key_cell.tag == "th":
                section = key
            if value_cell is None:
                continue
            value = element_text(value_cell)
            if not key or not value or (key, value) in seen:
                continue
            seen.add((key, value))
            entries.append({"key": key, "value": value, "links": element_links(value_cell, base_url)})
    return entries


# --- data tables -----------------------------------------------------------------------------


def _own_rows(table: HtmlElement) -> list[HtmlElement]:
    """Rows of `table` itself, not of tables nested in its cells."""
    rows = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(r for r in child if r.tag == "tr")
    return rows


def _span(cell: HtmlElement, attr: str) -> int:
    try:
        return max(1, min(int((cell.get(attr) or "1").strip()), MAX_SPAN))
    except ValueError:
        return 1


def _take_carried(out: list[str], carried: dict[int, tuple[int, str]]) -> None:
    """Fill the columns that cells from rows above still span."""
    while len(out) in carried:
        left, text = carried.pop(len(out))
        if left > 1:
            carried[len(out)] = (left - 1, text)
        out.append(text)


def _grid(rows: list[HtmlElement], base_url: str) -> list[tuple[list[str], bool, list[dict]]]:
    """Rows as (cell texts, all cells are th, links), with colspan/rowspan expanded so columns align."""
    carried: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, text)
    grid = []
    for tr in rows[:MAX_TABLE_ROWS]:
        cells = [c for c in tr if c.tag in ("th", "td")]
        out: list[str] = []
        links: list[dict] = []
        for cell in cells:
            _take_carried(out, carried)
            text = element_text(cell)[:MAX_CELL_CHARS]
            links.extend(element_links(cell, base_url))
            rowspan = _span(cell, "rowspan")
            for _ in range(_span(cell, "colspan")):
                if rowspan > 1:
                    carried[len(out)] = (rowspan - 1, text)
                out.append(text)
        _take_carried(out, carried)
        all_th = bool(cells) and all(c.tag == "th" for c in cells)
        grid.append((out[:MAX_TABLE_COLS], all_th, links))
    return grid


def _merge_header(rows: list[list[str]]) -> list[str]:
    """Stacked header rows become one: "Population / 2010"."""
    width = max(len(r) for r in rows)
    header = []
    for col in range(width):
        parts: list[str] = []
        for row in rows:
            text = row[col] if col < len(row) else ""
            if text and text not in parts:
                parts.append(text)
        header.append(" / ".join(parts))
    return header


def _is_candidate_table(table: HtmlElement) -> bool:
    if _is_chrome(table) or table.get("role") in ("presentation", "none"):
        return False
    if table.find(".//table") is not None:  # nested tables mean layout
        return False
    return not any(a.tag in _NON_CONTENT_TAGS or _is_chrome(a) for a in table.iterancestors())


def _row_context(header: list[str], row: list[str]) -> str:
    if header:
        pairs = [f"{h}: {c}" if h else c for h, c in zip(header, row, strict=False) if c]
        return "; ".join(pairs)
    return " | ".join(c for c in row if c)


def tables_with_links(
    tree: HtmlElement, base_url: str, landmarks: Landmarks | None = None
) -> list[tuple[dict, list[dict]]]:
    """Data tables, each with its links [{href, anchor, context, kind: "table"}].

    A data table is a `wikitable`, or any other table with a header row (all `th`), at least two
    columns and at least two data rows; infoboxes, navigation boxes, notices, layout tables (with
    nested tables or role=presentation) and tables in nav/header/footer/aside are not.
    """
    found = []
    for table in (landmarks or Landmarks(tree)).tables:
        if not _is_candidate_table(table):
            continue
        grid = _grid(_own_rows(table), base_url)
        n_head = 0
        while n_head < len(grid) and grid[n_head][1]:
            n_head += 1
        header = _merge_header([cells for cells, _, _ in grid[:n_head]]) if n_head else []
        # all-th rows below the header are section sub-headings, not data
        body = [(cells, links) for cells, all_th, links in grid[n_head:] if not all_th and any(cells)]
        is_wikitable = _has_class(table, ("wikitable",))
        width = max((len(c) for c, _ in body), default=0)
        if not is_wikitable and (not header or len(body) < 2 or width < 2):
            continue
        if not body:
            continue
        caption_el = table.find("caption")
        caption = element_text(caption_el, " ") if caption_el is not None else None
        record = {"caption": caption or None, "header": header, "rows": [cells for cells, _ in body]}
        links = [
            {**link, "context": _row_context(header, cells), "kind": "table"}
            for cells, row_links in body
            for link in row_links
        ]
        found.append((record, links))
    return found


def tables(tree: HtmlElement, base_url: str, landmarks: Landmarks | None = None) -> list[dict]:
    """Data tables as [{caption, header: [...], rows: [[...]]}] (see `tables_with_links`)."""
    return [record for record, _ in tables_with_links(tree, base_url, landmarks)]


# --- lead paragraph bold terms ---------------------------------------------------------------

_MIN_LEAD_WORDS = 4
_MAX_TERM_CHARS = 120


def main_content(tree: HtmlElement, landmarks: Landmarks | None = None) -> HtmlElement:
    """The element holding the article: Wikipedia's content div, `<main>`, role=main, `<article>`, `<body>`."""
    return (landmarks or Landmarks(tree)).main


def _in_lead_excluded(el: HtmlElement, stop: HtmlElement) -> bool:
    node = el
    while node is not None and node is not stop:
        if node.tag in _NON_CONTENT_TAGS or node.tag in ("table", "figure", "blockquote"):
            return True
        if _is_chrome(node) or _skipped(node):
            return True
        node = node.getparent()
    return False


def lead_paragraph(tree: HtmlElement, landmarks: Landmarks | None = None) -> HtmlElement | None:
    """The first `<p>` of the main content with real text (not a coordinates or empty stub)."""
    root = main_content(tree, landmarks)
    for p in root.iter("p"):
        if _in_lead_excluded(p, root):
            continue
        if len(element_text(p, " ").split()) >= _MIN_LEAD_WORDS:
            return p
    return None


def bold_terms(tree: HtmlElement, landmarks: Landmarks | None = None) -> list[str]:
    """Bold names in the lead paragraph, in order, deduplicated: alias candidates for the page's entity."""
    p = lead_paragraph(tree, landmarks)
    if p is None:
        return []
    terms: list[str] = []
    for b in p.iter("b", "strong"):
        if _inside_skipped(b, p):
            continue
        term = collapse_ws(b.text_content()).strip(" ,;:")
        if term and len(term) <= _MAX_TERM_CHARS and term not in terms:
            terms.append(term)
    return terms
