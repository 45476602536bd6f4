"""Structure that trafilatura drops, read from the parsed HTML tree with lxml.

Infobox key-values, data tables and the bold names of the lead paragraph feed the knowledge graph
(entity attributes, aliases); trafilatura's main-text extraction throws all three away. Page
furniture (navboxes, sidebars, hatnotes, references, "See also", categories...) is never fact
(shared/docs/QUALITY.md): `remove_furniture` cuts it out of the tree, in place, before anything else
reads text, links, infobox rows or tables from it. Every other function here only reads the tree, so
the same tree can be handed to trafilatura afterwards.

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


# --- page furniture ----------------------------------------------------------------------------

# class token -> furniture kind. Exact tokens: "navbox-list" sits inside a navbox (gone with it), while
# prefixes would catch "sidebar-content" wrappers that some skins put around the article itself
_FURNITURE_CLASSES: dict[str, str] = {
    "navbox": "navbox", "vertical-navbox": "navbox", "navbox-styles": "navbox", "navbox-inner": "navbox",
    "sidebar": "sidebar",
    "hatnote": "hatnote", "dablink": "hatnote", "rellink": "hatnote",
    "references": "references", "reflist": "references", "mw-references-wrap": "references",
    "authority-control": "authority_control",
    "portal": "portal", "portalbox": "portal", "portal-bar": "portal",
    "succession-box": "succession", "s-start": "succession",
    "mw-editsection": "edit_link",
    "toc": "toc", "printfooter": "chrome", "sistersitebox": "chrome", "mw-jump-link": "chrome",
    "catlinks": "categories",
    "noprint": "noprint",
}
_FURNITURE_IDS: dict[str, str] = {
    "catlinks": "categories", "toc": "toc", "coordinates": "coordinates", "footer": "footer",
    "mw-navigation": "navigation", "mw-panel": "navigation", "mw-head": "navigation",
}
_FURNITURE_TAGS: dict[str, str] = {"nav": "navigation", "footer": "footer", "aside": "aside"}
_FURNITURE_ROLES: dict[str, str] = {"navigation": "navigation", "contentinfo": "footer", "note": "hatnote"}
# sections that hold no statement about the subject: a heading with one of these titles goes, through to
# the next heading of the same or a higher level. Compound titles ("Notes and references") are split
_FURNITURE_SECTION_WORDS = frozenset(
    {"see also", "references", "reference", "notes", "note", "footnotes", "citations", "sources",
     "external links", "external link", "further reading", "bibliography", "works cited", "cited works",
     "explanatory notes", "general references", "general bibliography", "cited sources", "citation notes",
     "reference notes", "notes and citations"}
)
_SECTION_TITLE_SPLIT = re.compile(r"\s*(?:,|&|\band\b)\s*")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_SUCCESSION_MARKS = ("Preceded by", "Succeeded by")
_DISAMBIGUATION_IDS = frozenset({"disambigbox", "setindexbox"})
_DISAMBIGUATION_CLASSES = frozenset({"dmbox", "disambig", "dmbox-disambig", "setindexbox", "dmbox-setindex"})


def _infobox_like(el: HtmlElement) -> bool:
    tokens = (el.get("class") or "").split()
    return any("infobox" in t for t in tokens) or (el.tag == "table" and "vcard" in tokens)


def _furniture_kind(el: HtmlElement) -> str | None:
    """The furniture kind of one element, from its own tag, id, class and role; None for content."""
    tag = el.tag
    if not isinstance(tag, str):
        return None
    classes = el.get("class")
    if classes:
        tokens = classes.split()
        if "authority-control" in tokens:  # a navbox by markup, listed on its own
            return "authority_control"
        for token in tokens:
            kind = _FURNITURE_CLASSES.get(token)
            if kind is not None:
                if kind == "references" and tag == "sup":
                    return "citation"
                return kind
            if token.endswith("mbox") or token.startswith("mbox-"):  # ambox, tmbox, dmbox...: notices
                return "message_box"
            if token == "reference" and tag == "sup":
                return "citation"
            if token == "geo-default" and not any(_infobox_like(a) for a in el.iterancestors()):
                return "coordinates"
    el_id = el.get("id")
    if el_id and el_id in _FURNITURE_IDS:
        return _FURNITURE_IDS[el_id]
    kind = _FURNITURE_TAGS.get(tag)
    if kind is not None:
        # Fandom and similar wikis put the infobox itself in an <aside class="portable-infobox">
        return None if tag == "aside" and _infobox_like(el) else kind
    role = el.get("role")
    if role and role in _FURNITURE_ROLES:
        return _FURNITURE_ROLES[role]
    if tag == "table" and not _infobox_like(el) and len(el) < 12:
        # {{s-start}} boxes without their class: "Preceded by ... | Office | Succeeded by ..."
        text = el.text_content()
        if all(mark in text for mark in _SUCCESSION_MARKS):
            return "succession"
    return None


def wiki_categories(tree: HtmlElement) -> list[str]:
    """The page's visible MediaWiki categories (the items of `#mw-normal-catlinks`, linked or not: saved
    and mirrored pages often drop the links), hidden tracking ones left out."""
    box = tree.get_element_by_id("mw-normal-catlinks", None) if hasattr(tree, "get_element_by_id") else None
    if box is None:
        return []
    names = (collapse_ws(li.text_content()) for li in box.iter("li"))
    return list(dict.fromkeys(name for name in names if name))


def has_disambiguation_marker(tree: HtmlElement) -> bool:
    """A MediaWiki disambiguation (or set index) notice: `#disambigbox`, `.dmbox`, `.disambig`."""
    for el in tree.iter("div", "table"):
        if el.get("id") in _DISAMBIGUATION_IDS:
            return True
        classes = el.get("class")
        if classes and any(t in _DISAMBIGUATION_CLASSES for t in classes.split()):
            return True
    return False


def heading_level(el: HtmlElement) -> int | None:
    """2 for `<h2>` and for the `<div class="mw-heading mw-heading2">` wrapper MediaWiki now puts around it."""
    tag = el.tag
    if isinstance(tag, str) and tag in _HEADING_TAGS:
        return int(tag[1])
    if tag == "div":
        classes = el.get("class") or ""
        if "mw-heading" in classes:
            for token in classes.split():
                if token.startswith("mw-heading") and token[10:].isdigit():
                    return int(token[10:])
    return None


def heading_title(el: HtmlElement) -> str:
    return element_text(el, " ")


def _is_furniture_section(title: str) -> bool:
    parts = [p for p in _SECTION_TITLE_SPLIT.split(title.casefold().strip(" :")) if p]
    return bool(parts) and all(p in _FURNITURE_SECTION_WORDS for p in parts)


def _contains_heading_up_to(el: HtmlElement, level: int) -> bool:
    return any(el.iter(*_HEADING_TAGS[:level]))


def _section_span(heading: HtmlElement, level: int) -> list[HtmlElement]:
    """The heading (or its mw-heading wrapper) and what follows it up to the next heading of the same
    or a higher level. In Parsoid HTML a heading opening a `<section>` takes the whole section."""
    node = heading
    parent = node.getparent()
    if parent is not None and heading_level(parent) == level:  # <div class="mw-heading mw-heading2"><h2>
        node = parent
        parent = node.getparent()
    if parent is not None and parent.tag == "section" and next(iter(parent), None) is node:
        return [parent]
    span = [node]
    for sibling in node.itersiblings():
        sibling_level = heading_level(sibling)
        if sibling_level is not None and sibling_level <= level:
            break
        if isinstance(sibling.tag, str) and (sibling.tag == "section" or _contains_heading_up_to(sibling, level)):
            break  # a wrapper holding the next section: not ours to cut
        span.append(sibling)
    return span


def _protected(main: HtmlElement | None) -> list[HtmlElement]:
    """The main content element and its ancestors: a generic `<aside>`/`.sidebar` rule must never take
    the article itself (some themes wrap the whole page in such an element)."""
    return [] if main is None else [main, *main.iterancestors()]


def remove_furniture(tree: HtmlElement, main: HtmlElement | None = None) -> dict[str, int]:
    """Cut page furniture out of `tree`, in place, and count what went, per kind.

    Kinds: navbox, sidebar, hatnote, references, citation, section (See also, References, Notes,
    External links...), categories, authority_control, portal, succession, coordinates, edit_link,
    noprint, message_box, toc, chrome (print footer, sister-site boxes, jump links), navigation (nav,
    role=navigation), footer (footer, role=contentinfo), aside. Elements are dropped with `drop_tree`,
    which keeps their tail text (the sentence after a citation marker). Only outermost elements count.
    """
    protected = _protected(main)
    keep = {id(el) for el in protected}  # `protected` keeps the proxies alive, so ids are stable
    found: list[tuple[HtmlElement, str]] = []
    for el in tree.iter():
        kind = _furniture_kind(el)
        if kind is not None and id(el) not in keep:
            found.append((el, kind))
    counts: dict[str, int] = {}
    marked = {id(el) for el, _ in found}  # `found` keeps the proxies alive, so ids are stable
    for el, kind in found:
        if any(id(a) in marked for a in el.iterancestors()):
            continue  # inside furniture already going
        counts[kind] = counts.get(kind, 0) + 1
        _drop(el)
    root = main if main is not None else tree
    for heading in list(root.iter(*_HEADING_TAGS[1:])):
        level = heading_level(heading)
        if level is None or heading.getroottree().getroot() is not tree.getroottree().getroot():
            continue  # already cut out with an earlier section
        if not _is_furniture_section(heading_title(heading)):
            continue
        for el in _section_span(heading, level):
            _drop(el)
        counts["section"] = counts.get("section", 0) + 1
    return counts


def _drop(el: HtmlElement) -> None:
    if el.getparent() is not None:
        el.drop_tree()  # keeps el.tail in the parent


# --- sections --------------------------------------------------------------------------------

SECTION_LEVELS = (2, 3, 4)


def sections(main: HtmlElement) -> list[dict]:
    """[{title, level}] for the h2–h4 headings of the main content, in order (after furniture removal,
    so "See also" and "References" are not among them)."""
    out = []
    for heading in main.iter("h2", "h3", "h4"):
        title = heading_title(heading)
        if title:
            out.append({"title": title, "level": int(heading.tag[1])})
    return out


def _heading_in(el: HtmlElement) -> str | None:
    """The h2–h4 title `el` is or wraps (`div.mw-heading`), else None."""
    level = heading_level(el)
    if level is None or level not in SECTION_LEVELS:
        return None
    if el.tag == "div":
        inner = next(el.iter("h2", "h3", "h4"), None)
        return heading_title(inner) if inner is not None else None
    return heading_title(el)


def section_of(el: HtmlElement, stop: HtmlElement | None = None) -> str:
    """The title of the h2–h4 heading `el` sits under ("" before the first): the nearest heading
    before it among its own and its ancestors' preceding siblings, up to `stop`."""
    node: HtmlElement | None = el
    while node is not None and node is not stop:
        for sibling in node.itersiblings(preceding=True):
            title = _heading_in(sibling)
            if title:
                return title
        node = node.getparent()
    return ""

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
            if any(t.startswith("infobox") or t == "portable-infobox" for t in tokens) or (
                tag == "table" and "vcard" in tokens
            ):
                infoboxes.append(el)
            if el.get("id") == "mw-content-text":
                mains.append((0, el))
            elif tag == "main":
                mains.append((1, el))
            elif el.get("role") == "main":
                mains.append((2, el))
            elif tag == "article":
                mains.append((3, el))
        # every box, nested ones included, in document order: a cover version's box inside a song's
        # (`infobox-subbox`, a module-embedded box) describes its own subject, so it is its own box
        # (tables only, once inside a box: a `div.infobox-caption` is a part of its box, not a box)
        ids = {id(el) for el in infoboxes}  # the list keeps the proxies alive, so ids are stable
        self.infoboxes = [
            el for el in infoboxes if el.tag == "table" or not any(id(a) in ids for a in el.iterancestors())
        ]
        if mains:
            self.main = min(mains, key=lambda ranked: ranked[0])[1]  # min() keeps document order among equals
        else:
            body = tree.find("body")
            self.main = body if body is not None else tree


# --- infobox ---------------------------------------------------------------------------------


_SUB_ROW_MARKS = "•·"  # Wikipedia's country boxes: "• Total" rows under an "Area" header
_SUBJECT_CLASSES = ("infobox-above", "infobox-title")


def _owner(el: HtmlElement, boxes: set[int]) -> int | None:
    """id of the innermost box holding `el`."""
    for a in el.iterancestors():
        if id(a) in boxes:
            return id(a)
    return None


def _row_pairs(root: HtmlElement, boxes: set[int]) -> Iterator[tuple[HtmlElement, HtmlElement | None]]:
    """(key cell, value cell) pairs of `root`'s own rows (not of a box nested in it): `th`+`td` rows,
    `td.label`+`td` rows, `dt`+`dd` pairs; a lone `th` row comes as (th, None): a section header for
    the bullet rows below it."""
    own = id(root)
    for tr in root.iter("tr"):
        if _owner(tr, boxes) != own:
            continue
        cells = [c for c in tr if c.tag in ("th", "td")]
        if len(cells) == 1 and cells[0].tag == "th":
            yield cells[0], None  # a section header ("Area", "Population")
        if len(cells) != 2:
            continue
        key, value = cells
        if value.tag == "td" and (key.tag == "th" or _has_class(key, ("label",))):
            if any(id(t) in boxes for t in value.iter("table", "div")):
                continue  # the cell holds a nested box: its rows are that box's
            yield key, value
    for dt in root.iter("dt"):
        dd = dt.getnext()
        if dd is not None and dd.tag == "dd" and _owner(dt, boxes) == own:
            yield dt, dd


def box_subject(root: HtmlElement, boxes: set[int] | None = None) -> str | None:
    """A box's own title: its `.infobox-above`/`.infobox-title` cell, its caption, or a first row that
    is one `th` spanning the box; None when it has none."""
    boxes = boxes if boxes is not None else {id(root)}
    own = id(root)
    for el in root.iter("th", "td", "caption", "div"):
        if _has_class(el, _SUBJECT_CLASSES) and _owner(el, boxes) == own:
            return element_text(el, " ") or None
    caption = root.find("caption")
    if caption is not None:
        return element_text(caption, " ") or None
    for tr in root.iter("tr"):
        if _owner(tr, boxes) != own:
            continue
        cells = [c for c in tr if c.tag in ("th", "td")]
        if len(cells) == 1 and cells[0].tag == "th" and cells[0].get("colspan"):
            return element_text(cells[0], " ") or None
        if cells and any(element_lines(c) for c in cells):
            return None  # the first row with text is not a title row
    return None


def infobox(
    tree: HtmlElement, base_url: str, landmarks: Landmarks | None = None, boxes_out: list | None = None
) -> list[dict]:
    """Key-value rows of the page's infobox(es): [{key, value, links: [{href, anchor}], box, template,
    subject}].

    `box` numbers the boxes that hold rows, in document order from 0; a row belongs to its innermost
    box only, so a cover version's box nested in a song's box keeps its own release date. `subject`
    is the box's own title (see `box_subject`); `template` is null (HTML does not name it).
    `boxes_out`, when given, receives the box elements, one per `box` number.
    Multi-line values (`<br>`, lists) are joined with ", "; bullet sub-rows take their section's
    name ("Area – Total"); rows whose value is only an image (no text), section headers and exact
    duplicate rows of one box are dropped.
    """
    entries: list[dict] = []
    roots = (landmarks or Landmarks(tree)).infoboxes
    boxes = {id(el) for el in roots}
    box = 0
    for root in roots:
        section = ""
        seen: set[tuple[str, str]] = set()
        subject: str | None = None
        rows: list[dict] = []
        for key_cell, value_cell in _row_pairs(root, boxes):
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
            if not rows:
                subject = box_subject(root, boxes)
            rows.append({"key": key, "value": value, "links": element_links(value_cell, base_url),
                         "box": box, "template": None, "subject": subject})
        if rows:
            entries.extend(rows)
            box += 1
            if boxes_out is not None:
                boxes_out.append(root)
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


def _grid(rows: list[HtmlElement], base_url: str) -> list[tuple[list[str], bool, list[list[dict]]]]:
    """Rows as (cell texts, all cells are th, links per column), with colspan/rowspan expanded so
    columns align; a spanned cell's links sit in its first column and row only."""
    carried: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, text)
    grid = []
    for tr in rows[:MAX_TABLE_ROWS]:
        cells = [c for c in tr if c.tag in ("th", "td")]
        out: list[str] = []
        links: list[list[dict]] = []
        for cell in cells:
            _take_carried(out, carried)
            links.extend([] for _ in range(len(out) - len(links)))
            text = element_text(cell)[:MAX_CELL_CHARS]
            links.append(element_links(cell, base_url))
            rowspan = _span(cell, "rowspan")
            for _ in range(_span(cell, "colspan")):
                if rowspan > 1:
                    carried[len(out)] = (rowspan - 1, text)
                out.append(text)
        _take_carried(out, carried)
        links.extend([] for _ in range(len(out) - len(links)))
        all_th = bool(cells) and all(c.tag == "th" for c in cells)
        grid.append((out[:MAX_TABLE_COLS], all_th, links[:MAX_TABLE_COLS]))
    return grid


# a cell listing things rather than stating a value: several links that make up most of its text
# ("A · B · C" in a navbox-like grouping table); a description with links in its sentences is not one
_LIST_CELL_LINKS = 3
_LIST_CELL_LINK_SHARE = 0.6
# a column header naming a group of rows, not a property: "1970s", "1990–1999"
_GROUP_HEADER = re.compile(r"^(?:\d{3}0s|\d{4}\s*[–—-]\s*\d{2,4})$")


def _is_list_cell(text: str, links: list[dict]) -> bool:
    if len(links) < _LIST_CELL_LINKS or not text:
        return False
    return sum(len(link["anchor"]) for link in links) >= _LIST_CELL_LINK_SHARE * len(text.replace(" ", ""))


def _grouping_columns(header: list[str], body: list[tuple[list[str], list[list[dict]]]]) -> set[int]:
    """Columns that group rows rather than state a property of each row's subject: a group header
    ("1970s"), or cells that are mostly lists of links."""
    width = max((len(cells) for cells, _ in body), default=0)
    grouping: set[int] = set()
    for col in range(width):
        if col < len(header) and _GROUP_HEADER.match(header[col].split(" / ")[-1]):
            grouping.add(col)
            continue
        filled = [(cells[col], links[col] if col < len(links) else [])
                  for cells, links in body if col < len(cells) and cells[col]]
        lists = sum(_is_list_cell(text, links) for text, links in filled)
        if filled and lists * 2 > len(filled):
            grouping.add(col)
    return grouping


def merge_header(rows: list[list[str]]) -> list[str]:
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
    tree: HtmlElement, base_url: str, landmarks: Landmarks | None = None, elements_out: list | None = None
) -> list[tuple[dict, list[dict]]]:
    """Data tables, each with its links [{href, anchor, context, kind: "table"}].

    A data table is a `wikitable`, or any other table with a header row (all `th`), at least two
    columns and at least two data rows; infoboxes, navigation boxes, notices, layout tables (with
    nested tables or role=presentation) and tables in nav/header/footer/aside are not. Its columns
    must state properties of each row's subject: grouping columns (a "1970s" header, cells that are
    lists of links) are left out, with their links, and a table left with fewer than two property
    columns after that is a navbox-like grouping table ("Studio albums | A · B · C"), not data.
    `elements_out`, when given, receives the table elements, one per table returned.
    """
    found = []
    marks = landmarks or Landmarks(tree)
    for table in marks.tables:
        if not _is_candidate_table(table):
            continue
        grid = _grid(_own_rows(table), base_url)
        n_head = 0
        while n_head < len(grid) and grid[n_head][1]:
            n_head += 1
        header = merge_header([cells for cells, _, _ in grid[:n_head]]) if n_head else []
        # all-th rows below the header are section sub-headings, not data
        body = [(cells, links) for cells, all_th, links in grid[n_head:] if not all_th and any(cells)]
        is_wikitable = _has_class(table, ("wikitable",))
        width = max((len(c) for c, _ in body), default=0)
        if not is_wikitable and (not header or len(body) < 2 or width < 2):
            continue
        if not body:
            continue
        grouping = _grouping_columns(header, body)
        if grouping:
            if width - len(grouping) < 2:
                continue
            header = [h for i, h in enumerate(header) if i not in grouping]
            body = [([c for i, c in enumerate(cells) if i not in grouping],
                     [cl for i, cl in enumerate(links) if i not in grouping]) for cells, links in body]
        caption_el = table.find("caption")
        caption = element_text(caption_el, " ") if caption_el is not None else None
        record = {"caption": caption or None, "header": header, "rows": [cells for cells, _ in body]}
        section = section_of(table, marks.main)
        links = [
            {**link, "context": _row_context(header, cells), "kind": "table", "section": section}
            for cells, row_links in body
            for cell_links in row_links
            for link in cell_links
        ]
        found.append((record, links))
        if elements_out is not None:
            elements_out.append(table)
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


def dedupe_links(links: list[dict]) -> list[dict]:
    """Links in order, each (href, anchor, context, kind) once: a value linked twice is one link."""
    seen: set[tuple] = set()
    out = []
    for link in links:
        key = (link["href"], link["anchor"], link["context"], link["kind"])
        if key not in seen:
            seen.add(key)
            out.append(link)
    return out
