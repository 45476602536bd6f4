"""MediaWiki wikitext -> document fields: plain text, links, infoboxes, tables, categories, sections.

The wikitext comes from an XML dump (synth.corpus.wikidump). It is parsed once with mwparserfromhell
and walked once. What the walk keeps is what a reader of the rendered article takes as the article's
own statements: paragraphs, headings, the values of inline templates that print text ({{convert}},
{{birth date}}, {{hlist}}, ...). Everything else a template draws (navboxes, hatnotes, sidebars,
succession boxes, coordinates, maintenance banners) is page furniture and yields nothing, so the walk
renders a small allow-list of templates and drops the rest. Sections whose heading is furniture
("References", "See also", "External links", ...) are dropped whole.

Every infobox is its own box with its own index; an infobox nested in another's parameter (a cover
version's `misc = {{Infobox song ...}}`, an `{{Infobox officeholder}}` as `module`) is a separate box,
and its rows are not the parent's.

Links become URLs through `title_url`, the same function the dump reader uses for page URLs, so that
every link resolves to the page it names.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Node,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.parser.builder import Builder
from mwparserfromhell.parser.tokenizer import Tokenizer
from mwparserfromhell.wikicode import Wikicode

from drsynth.synth.corpus.html_structure import dedupe_links, merge_header
from drsynth.synth.corpus.page_kind import page_kind

# the private content type of a dump page: JSON {title, wikitext, page_id, revision_id, timestamp,
# base_url, lang}, read by extract.py through `document_fields`
WIKITEXT_RECORD_TYPE = "application/x-drsynth-wikitext+json"

# --- titles and URLs -------------------------------------------------------------------------

# MediaWiki's wfUrlencode: rawurlencode, then these stay readable (":" too, outside IIS 7)
_URL_SAFE = ";@$!*(),/~:"
_WS = re.compile(r"[\s_]+")


def normalize_title(title: str, *, first_letter: bool = True) -> str:
    """A title as MediaWiki stores it: entities decoded, underscores and runs of spaces as one space,
    trimmed, first letter upper-cased (on `first-letter` wikis, all of Wikipedia's)."""
    title = _WS.sub(" ", html.unescape(title)).strip()
    if first_letter and title:
        title = title[0].upper() + title[1:]
    return title


def title_url(article_prefix: str, title: str, fragment: str | None = None, *,
              first_letter: bool = True) -> str:
    """The URL MediaWiki gives a title: https://en.wikipedia.org/wiki/Ayn_Rand, /wiki/AC/DC,
    /wiki/Ender%27s_Game; the fragment as MediaWiki's anchors spell it (spaces as underscores)."""
    name = normalize_title(title, first_letter=first_letter).replace(" ", "_")
    url = article_prefix + quote(name, safe=_URL_SAFE)
    if fragment:
        url += "#" + quote(_WS.sub("_", fragment.strip()), safe=_URL_SAFE + ".")
    return url


def article_prefix(base: str | None) -> str:
    """'https://en.wikipedia.org/wiki/' from the siteinfo <base> 'https://en.wikipedia.org/wiki/Main_Page'."""
    if not base:
        return ""
    return base.rsplit("/", 1)[0] + "/" if "/" in base else base


# --- what a name means ----------------------------------------------------------------------

# namespaces (canonical English names, common aliases and other languages' category/file names) and
# interwiki prefixes: a link with one of these before its colon is not a link to an article
_NAMESPACES = frozenset(
    n.casefold() for n in (
        "Media", "Special", "Talk", "User", "User talk", "Wikipedia", "Wikipedia talk", "WP", "WT", "Project",
        "File", "File talk", "Image", "Image talk", "MediaWiki", "MediaWiki talk", "Template", "Template talk",
        "Help", "Help talk", "Category", "Category talk", "Portal", "Portal talk", "Book", "Book talk",
        "Draft", "Draft talk", "Education Program", "TimedText", "TimedText talk", "Module", "Module talk",
        "Gadget", "Gadget definition", "Topic", "MOS", "CAT", "H", "P", "T",
        "Kategorie", "Catégorie", "Categoría", "Categoria", "Kategoria", "Категория", "Categorie", "Datei",
        "Bild", "Fichier", "Archivo", "Imagen", "Immagine", "Ficheiro", "Plik", "Файл", "Bestand",
    )
)
_CATEGORY_NAMESPACES = frozenset(
    n.casefold() for n in ("Category", "Kategorie", "Catégorie", "Categoría", "Categoria", "Kategoria",
                           "Категория", "Categorie", "CAT")
)
_INTERWIKI = frozenset(
    ("w", "wikipedia", "wikt", "wiktionary", "commons", "c", "s", "wikisource", "q", "wikiquote", "b",
     "wikibooks", "n", "wikinews", "v", "wikiversity", "voy", "wikivoyage", "species", "wikispecies", "d",
     "wikidata", "m", "meta", "metawikimedia", "mw", "mediawikiwiki", "foundation", "wmf", "outreach",
     "incubator", "phab", "bugzilla", "iarchive", "doi", "google", "imdb", "rfc", "oeis", "arxiv", "gutenberg")
)
# a language link ("fr:Paris", "zh-min-nan:...", "simple:...")
_LANG_PREFIX = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$|^simple$")

_INFOBOX_NAMES = re.compile(r"^(?:infobox\b|taxobox$|speciesbox$|subspeciesbox$|infraspeciesbox$|"
                            r"automatic taxobox$|chembox$|drugbox$|geobox$)", re.IGNORECASE)
_DISAMBIGUATION_TEMPLATES = frozenset(("disambiguation", "disambig", "dab", "hndis", "geodis",
                                       "set index article", "sia", "disamb", "disam"))
# sections that hold sources, pointers and reading lists: never the article's statements
FURNITURE_SECTIONS = frozenset(
    ("see also", "references", "notes", "footnotes", "citations", "sources", "external links",
     "further reading", "bibliography", "notes and references", "references and notes", "works cited",
     "general references", "other reading", "external link", "reference", "note", "explanatory notes",
     "related articles", "links")
)
# tags whose content is not prose (code, maths, media, machinery); <nowiki> and the like keep theirs
_DROPPED_TAGS = frozenset(("ref", "references", "gallery", "math", "chem", "ce", "timeline", "imagemap",
                           "score", "graph", "mapframe", "maplink", "templatedata", "syntaxhighlight", "source",
                           "pre", "code", "hiero", "inputbox", "categorytree", "noinclude", "includeonly",
                           "onlyinclude", "section", "indicator", "charinsert", "templatestyles", "style",
                           "script", "abbr_", "sup_"))
_BLOCK_TAGS = frozenset(("p", "div", "li", "dt", "dd", "blockquote", "center", "br", "hr", "ul", "ol", "dl",
                         "h1", "h2", "h3", "h4", "h5", "h6", "poem", "caption", "tr"))
_IMAGE_KEYS = re.compile(r"^(?:image|img|logo|signature|flag|coat|seal|map|pushpin|locator|alt|upright|"
                         r"photo|picture)\w*(?: size| alt| upright| width)?$|\b(?:size|alt|upright|width)$",
                         re.IGNORECASE)
_FILENAME = re.compile(r"\.(?:jpe?g|png|svg|gif|tiff?|webp|ogg|ogv|webm)\s*$", re.IGNORECASE)
# the box's own name; a country's box names its subject in common_name
_SUBJECT_KEYS = ("name", "title", "common name", "conventional long name")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
# more unclosed openers than this sends the page to the pure-Python tokenizer: mwparserfromhell's C
# tokenizer backtracks quadratically over unclosed constructs ("<div>" x 50k: minutes) and, being C,
# cannot be interrupted by the extractor's SIGALRM deadline; the Python one can. Real articles
# of the test dump have at most 9.
MAX_UNCLOSED_FOR_C = 64
_TAG_OPEN = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?(?<!/)>")
_TAG_CLOSE = re.compile(r"</[a-zA-Z][a-zA-Z0-9]*\s*>")
_VOID_TAGS = frozenset(("br", "hr", "wbr", "img", "references", "nowiki", "p", "li"))
_LINK_TRAIL = re.compile(r"^[a-z]+")
_QUOTES = re.compile(r"('{2,})")
_SPACE = re.compile(r"\s+")
_SEPARATOR = ", "


def template_name(template: Template) -> str:
    """'Infobox song' from '{{infobox_song', '{{Template:Infobox  song'; empty for parser functions."""
    name = _WS.sub(" ", str(template.name.strip_code() if template.name.filter_templates() else template.name))
    name = html.unescape(name).strip()
    if name.startswith("#"):
        return ""
    if name.casefold().startswith("template:"):
        name = name[9:].strip()
    return name[:1].upper() + name[1:]


def _split_namespace(target: str) -> tuple[str | None, str]:
    """('Category', 'X') for 'Category:X'; (None, target) for an article title."""
    prefix, colon, rest = target.partition(":")
    if not colon:
        return None, target
    key = prefix.strip().casefold()
    if key in _NAMESPACES or key in _INTERWIKI or _LANG_PREFIX.match(prefix.strip()):
        return prefix.strip(), rest
    return None, target


def is_infobox(name: str) -> bool:
    return bool(_INFOBOX_NAMES.match(name))


def is_disambiguation(name: str) -> bool:
    folded = name.casefold()
    return folded in _DISAMBIGUATION_TEMPLATES or folded.endswith("disambiguation")


# --- parsing ---------------------------------------------------------------------------------


def unclosed_openers(text: str) -> int:
    """How many `{{`, `[[`, `{|` and HTML tags open without closing: a cheap measure of how hard the
    tokenizer will backtrack."""
    count = max(0, text.count("{{") - text.count("}}")) + max(0, text.count("[[") - text.count("]]"))
    count += max(0, text.count("{|") - text.count("|}"))
    opens = sum(1 for m in _TAG_OPEN.finditer(text) if m.group(1).lower() not in _VOID_TAGS)
    return count + max(0, opens - len(_TAG_CLOSE.findall(text)))


def parse(text: str) -> Wikicode:
    # '' and ''' are left as text: mwparserfromhell lets an unclosed '' run across lines and swallow
    # whole sections (headings included), where MediaWiki closes it at the end of the line
    if unclosed_openers(text) > MAX_UNCLOSED_FOR_C:
        return Builder().build(Tokenizer().tokenize(text, 0, True))
    return mwparserfromhell.parse(text, skip_style_tags=True)


# --- rendering -------------------------------------------------------------------------------


@dataclass
class _Link:
    start: int
    end: int
    href: str
    anchor: str


@dataclass
class _Block:
    """A run of rendered text (a paragraph, a heading line, a list item) and the links in it."""

    text: str = ""
    links: list[_Link] = field(default_factory=list)
    section: str = ""
    bold: list[str] = field(default_factory=list)


class _Out:
    """Rendered text with whitespace collapsed as it is written, so link offsets stay true.

    In `inline` mode (infobox values, table cells) a block break is written as ", "; otherwise it
    starts a new block.
    """

    def __init__(self, inline: bool) -> None:
        self.inline = inline
        self.blocks: list[_Block] = [_Block()]
        self.trail: _Link | None = None  # the link a following "es" of "[[bus]]es" belongs to

    @property
    def cur(self) -> _Block:
        return self.blocks[-1]

    def write(self, s: str) -> None:
        if not s:
            return
        self.trail = None
        s = _SPACE.sub(" ", s)
        block = self.cur
        if not block.text or block.text.endswith(" "):
            s = s.lstrip(" ")
        block.text += s

    def brk(self, section: str | None = None) -> None:
        self.trail = None
        block = self.cur
        if self.inline:
            stripped = block.text.rstrip()
            if stripped and not stripped.endswith(_SEPARATOR.strip()):
                block.text = stripped + _SEPARATOR
            return
        block.text = block.text.rstrip()
        if block.text:
            self.blocks.append(_Block(section=block.section if section is None else section))
        elif section is not None:
            block.section = section

    def link(self, href: str, anchor: str) -> None:
        self.write(anchor)
        text = self.cur.text
        stripped = anchor.strip()
        if not stripped or not text.endswith(_SPACE.sub(" ", stripped)):
            return
        end = len(text)
        link = _Link(end - len(_SPACE.sub(" ", stripped)), end, href, stripped)
        self.cur.links.append(link)
        self.trail = link

    def text_node(self, value: str) -> None:
        if self.trail is not None and (m := _LINK_TRAIL.match(value)):
            link = self.trail
            self.cur.text += m.group(0)
            link.end += len(m.group(0))
            link.anchor += m.group(0)
            value = value[m.end():]
            self.trail = None
        if self.inline:
            self.write(value)
            return
        # a blank line ends a paragraph; a single newline is just wrapping
        paragraphs = re.split(r"\n[ \t]*\n", value)
        for i, para in enumerate(paragraphs):
            if i:
                self.brk()
            self.write(para)

    def finish(self) -> list[_Block]:
        for block in self.blocks:
            _tidy(block)
            block.text = block.text.strip()
            if self.inline:
                block.text = block.text.rstrip(",").rstrip()
            for link in block.links:
                link.end = min(link.end, len(block.text))
        return [b for b in self.blocks if b.text]


# what dropped templates and refs leave behind: "Alabama () is", "Rand (; born", "word ,"
_TIDY = (
    (re.compile(r" ?\(\s*(?:[,;:–]\s*)*\)"), ""),
    (re.compile(r"\(\s*(?:[,;:–]\s*)+"), "("),
    (re.compile(r"(?:\s*[,;:])+\s*\)"), ")"),
    (re.compile(r"\s+(?=[,.;:!?)])"), ""),
    (re.compile(r"  +"), " "),
)


def _tidy(block: _Block) -> None:
    """Remove the leftovers of dropped markup, moving the links' offsets with the text."""
    for pattern, repl in _TIDY:
        if not pattern.search(block.text):
            continue
        pieces: list[str] = []
        pos = 0
        shifts: list[tuple[int, int, int]] = []  # (match start, match end, length written instead)
        for m in pattern.finditer(block.text):
            pieces.append(block.text[pos:m.start()])
            pieces.append(repl)
            shifts.append((m.start(), m.end(), len(repl)))
            pos = m.end()
        pieces.append(block.text[pos:])
        block.text = "".join(pieces)
        for link in block.links:
            link.start, link.end = _shifted(link.start, shifts), _shifted(link.end, shifts)


def _shifted(offset: int, shifts: list[tuple[int, int, int]]) -> int:
    delta = 0
    for start, end, written in shifts:
        if offset >= end:
            delta += written - (end - start)
        elif offset > start:
            return start + delta + min(offset - start, written)
        else:
            break
    return offset + delta


@dataclass
class Page:
    """What the walk gathers from one article."""

    title: str
    prefix: str
    blocks: list[_Block] = field(default_factory=list)
    infobox: list[dict] = field(default_factory=list)
    tables: list[tuple[dict, list[dict]]] = field(default_factory=list)
    boxes: int = 0


def _param(template: Template, *names: str) -> str | None:
    for name in names:
        if template.has(name):
            value = str(template.get(name).value).strip()
            if value:
                return value
    return None


def _positional(template: Template) -> list[Any]:
    return [p for p in template.params if not p.showkey]


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def format_date(year: int | None, month: int | None = None, day: int | None = None, *,
                month_first: bool = False) -> str:
    """'3 March 1891' ('March 3, 1891' with mf=yes), 'March 1891', '1891'."""
    if year is None:
        return ""
    if not month or not 1 <= month <= 12:
        return str(year)
    if not day:
        return f"{_MONTHS[month - 1]} {year}"
    try:
        date(year, month, day)
    except ValueError:
        return f"{_MONTHS[month - 1]} {year}"
    return f"{_MONTHS[month - 1]} {day}, {year}" if month_first else f"{day} {_MONTHS[month - 1]} {year}"


def format_number(value: str) -> str:
    """'268021' -> '268,021'; decimals and anything not a plain number are kept as written."""
    raw = value.strip().replace(",", "")
    match = re.fullmatch(r"(-?)(\d+)(\.\d+)?", raw)
    if not match:
        return value.strip()
    sign, whole, frac = match.groups()
    return f"{sign}{int(whole):,}{frac or ''}"


_UNITS = {"km2": "km2", "sqmi": "sq mi", "mi2": "sq mi", "C": "°C", "F": "°F", "K": "K", "ha": "ha",
          "acre": "acres", "ft2": "sq ft", "m2": "m2", "sqft": "sq ft", "kmh": "km/h", "mph": "mph",
          "km/h": "km/h", "ftm": "fathoms", "nmi": "nmi", "e6km2": "million km2", "e6sqmi": "million sq mi",
          "e3km2": "thousand km2", "km3": "km3", "m3": "m3", "cuft": "cu ft", "USgal": "US gal", "L": "L"}
_RANGE_WORDS = {"-": "–", "–": "–", "to": "to", "and": "and", "or": "or", "x": "×", "by": "by", "+": "+",
                "to(-)": "to", "&": "&"}



_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_RUN_TOGETHER = re.compile(r"^(?P<word>[a-z]{8,})(?P<n>\d*)$")


@lru_cache(maxsize=8192)
def readable_key(name: str) -> str:
    """An infobox parameter name as words: templates run them together ("placeofburial",
    "OfficialLang", "vicepresident"), and a relation a question names must read as English. Split at
    camel-case, then by word frequencies (wordsegment's English unigrams, loaded on first use)."""
    words: list[str] = []
    for token in _CAMEL_BOUNDARY.sub(" ", name.replace("_", " ")).split():
        run = _RUN_TOGETHER.match(token.lower())
        if run:
            parts = _segment(run.group("word"))
            if len(parts) > 1 and all(len(p) > 1 for p in parts):
                words.extend([*parts[:-1], parts[-1] + run.group("n")])
                continue
        words.append(token)
    return " ".join(words)


def _segment(text: str) -> list[str]:
    import wordsegment  # 0.5 s to load its tables: only when a run-together name turns up

    if not wordsegment.UNIGRAMS:
        wordsegment.load()
    return wordsegment.segment(text)

class _Walker:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.disambiguation = False
        self.section = ""
        self.bold: tuple[_Out, _Block, int] | None = None  # an open ''' run: where, and from which offset

    # -- links -----------------------------------------------------------------------------

    def href(self, target: str) -> str | None:
        """The URL of an article link's target; None for namespaced and interwiki targets."""
        target = html.unescape(target).strip()
        if target.startswith(":"):
            target = target[1:].strip()
        namespace, _ = _split_namespace(target)
        if namespace is not None:
            return None
        title, _, fragment = target.partition("#")
        if not title.strip():
            title = self.page.title
        elif title.startswith("/"):  # a subpage link: relative to this page
            title = self.page.title + title
        return title_url(self.page.prefix, title, fragment or None)

    # -- walking ---------------------------------------------------------------------------

    def walk(self, code: Wikicode | None, out: _Out) -> None:
        if code is None:
            return
        for node in code.nodes:
            self.node(node, out)

    def node(self, node: Node, out: _Out) -> None:
        if isinstance(node, Text):
            self.text(node.value, out)
        elif isinstance(node, Wikilink):
            self.wikilink(node, out)
        elif isinstance(node, Template):
            self.template(node, out)
        elif isinstance(node, Tag):
            self.tag(node, out)
        elif isinstance(node, HTMLEntity):
            out.write(node.normalize())
        elif isinstance(node, ExternalLink):
            if node.title is not None:
                self.walk(node.title, out)
        elif isinstance(node, Heading):
            out.write(_plain(node.title))
        elif isinstance(node, (Comment, Argument)):
            return
        # anything else (a parser-function remnant) is machinery

    def text(self, value: str, out: _Out) -> None:
        """Text with its '' and ''' runs read as MediaWiki does, line by line: the runs vanish, and
        bold spans of the lead are kept as alias candidates."""
        for i, piece in enumerate(_QUOTES.split(value)):
            if i % 2 == 0:
                if self.bold is not None and "\n" in piece:
                    head, _, tail = piece.partition("\n")
                    out.text_node(head)
                    self.bold = None  # an unclosed ''' ends with its line
                    out.text_node("\n" + tail)
                else:
                    out.text_node(piece)
                continue
            n = len(piece)
            if n == 4 or n > 5:  # MediaWiki: the extra apostrophes are text
                out.text_node("'" * (n - 3 if n == 4 else n - 5))
                n = 3 if n == 4 else 5
            if n in (3, 5):
                self.toggle_bold(out)

    def toggle_bold(self, out: _Out) -> None:
        if self.bold is None or self.bold[0] is not out or self.bold[1] is not out.cur:
            self.bold = (out, out.cur, len(out.cur.text))
            return
        term = out.cur.text[self.bold[2]:].strip()
        self.bold = None
        if term and not out.inline and self.section == "":
            out.cur.bold.append(term)

    def wikilink(self, node: Wikilink, out: _Out) -> None:
        target = str(node.title)
        href = self.href(target)
        if href is None:
            return  # files, categories, language and interwiki links: not part of the text
        if node.text is not None and not str(node.text).strip():
            # the pipe trick: [[Paris (band)|]] reads "Paris"
            anchor = re.sub(r"\s*\([^()]*\)\s*$", "", _SPACE.sub(" ", html.unescape(target).replace("_", " "))).strip()
        elif node.text is not None:
            inner = _Out(inline=True)
            self.walk(node.text, inner)
            blocks = inner.finish()
            anchor = blocks[0].text if blocks else ""
        else:
            anchor = _SPACE.sub(" ", html.unescape(target)).strip().lstrip(":").replace("_", " ")
        if anchor:
            out.link(href, anchor)

    def tag(self, node: Tag, out: _Out) -> None:
        name = str(node.tag).strip().lower()
        if name in _DROPPED_TAGS:
            return
        if name == "table":
            if not out.inline:
                self.table(node, out)
            return
        if name in ("li", "dt", "dd") and node.contents is not None and not str(node.contents).strip():
            out.brk()  # a wiki list marker ("*", "#", ";", ":"): the item's text follows it
            return
        block = name in _BLOCK_TAGS
        if block:
            out.brk()
        if name == "b" and not out.inline and self.section == "":
            start = len(out.cur.text)
            self.walk(node.contents, out)
            term = out.cur.text[start:].strip()
            if term:
                out.cur.bold.append(term)
        elif node.contents is not None:
            self.walk(node.contents, out)
        if block:
            out.brk()

    # -- templates -------------------------------------------------------------------------

    def template(self, node: Template, out: _Out) -> None:
        name = template_name(node)
        if not name:
            return
        if is_infobox(name):
            self.infobox(node, name)
            return
        if is_disambiguation(name):
            self.disambiguation = True
            return
        render = _inline_render(name)
        if render is not None:
            render(self, node, out)
        elif name.casefold() in _MAGIC_WORDS:
            out.write(self.page.title if name.casefold() != "!" else "|")

    def arg(self, node: Template, index: int, out: _Out) -> bool:
        """Render positional parameter `index` (0-based); whether it was there."""
        params = _positional(node)
        if index < len(params) and str(params[index].value).strip():
            self.walk(params[index].value, out)
            return True
        return False

    # -- infoboxes -------------------------------------------------------------------------

    def infobox(self, node: Template, name: str) -> None:
        box = self.page.boxes
        self.page.boxes += 1
        named: dict[str, str] = {}
        rows = []
        for param in node.params:
            if not param.showkey:
                continue
            key = readable_key(_WS.sub(" ", str(param.name)).strip())
            inner = _Out(inline=True)
            self.walk(param.value, inner)  # nested infoboxes become boxes of their own here
            blocks = inner.finish()
            if not key or not blocks:
                continue
            value = _SEPARATOR.join(b.text for b in blocks)
            links = [{"href": link.href, "anchor": link.anchor} for b in blocks for link in b.links]
            named.setdefault(key.casefold(), value)
            if _IMAGE_KEYS.search(key) or _FILENAME.search(value):
                continue
            rows.append({"key": key, "value": value, "links": links})
        subject = next((named[k] for k in _SUBJECT_KEYS if k in named), None)
        # rows go in after the walk so that a nested box's rows never sit inside the parent's
        self.page.infobox.extend({**row, "box": box, "template": name, "subject": subject} for row in rows)

    # -- tables ----------------------------------------------------------------------------

    def table(self, node: Tag, out: _Out) -> None:
        classes = str(node.get("class").value).lower().split() if node.has("class") else []
        if "wikitable" not in classes:
            return  # layout and navigation tables: not data
        caption: str | None = None
        grid: list[tuple[list[str], bool, list[_Link]]] = []
        carried: dict[int, tuple[int, str]] = {}

        def add_row(cells: list[Tag]) -> None:
            nonlocal caption
            texts: list[str] = []
            links: list[_Link] = []
            heads = 0
            real = 0
            for cell in cells:
                inner = _Out(inline=True)
                self.walk(cell.contents, inner)
                blocks = inner.finish()
                text = _SEPARATOR.join(b.text for b in blocks)
                if cell.wiki_markup == "|" and text.startswith("+") and not grid and caption is None and not texts:
                    caption = text[1:].strip() or None  # "|+ caption", which the parser reads as a cell
                    continue
                while len(texts) in carried:
                    _take(texts, carried)
                span_r = _int(str(cell.get("rowspan").value)) if cell.has("rowspan") else None
                span_c = _int(str(cell.get("colspan").value)) if cell.has("colspan") else None
                for _ in range(max(1, min(span_c or 1, 50))):
                    if span_r and span_r > 1:
                        carried[len(texts)] = (min(span_r, 500) - 1, text)
                    texts.append(text)
                links.extend(_Link(0, 0, link.href, link.anchor) for b in blocks for link in b.links)
                heads += str(cell.tag).lower() == "th"
                real += 1
            while len(texts) in carried:
                _take(texts, carried)
            if texts:
                grid.append((texts, real > 0 and heads == real, links))

        loose: list[Tag] = []
        for child in node.contents.nodes if node.contents is not None else []:
            if isinstance(child, Tag) and str(child.tag).lower() in ("td", "th"):
                loose.append(child)
            elif isinstance(child, Tag) and str(child.tag).lower() == "tr":
                if loose:
                    add_row(loose)
                    loose = []
                add_row([c for c in (child.contents.nodes if child.contents is not None else [])
                         if isinstance(c, Tag) and str(c.tag).lower() in ("td", "th")])
            elif isinstance(child, Tag) and str(child.tag).lower() == "caption":
                caption = _plain(child.contents)
        if loose:
            add_row(loose)
        n_head = 0
        while n_head < len(grid) and grid[n_head][1]:
            n_head += 1
        header = merge_header([cells for cells, _, _ in grid[:n_head]]) if n_head else []
        body = [(cells, links) for cells, all_th, links in grid[n_head:] if not all_th and any(cells)]
        if not body:
            return
        record = {"caption": caption, "header": header, "rows": [cells for cells, _ in body]}
        links = [
            {"href": link.href, "anchor": link.anchor, "context": row_context(header, cells), "kind": "table",
             "section": self.section}
            for cells, row_links in body
            for link in row_links
        ]
        self.page.tables.append((record, links))


def _take(out: list[str], carried: dict[int, tuple[int, str]]) -> None:
    col = len(out)
    left, text = carried[col]
    out.append(text)
    if left <= 1:
        del carried[col]
    else:
        carried[col] = (left - 1, text)


def row_context(header: list[str], row: list[str]) -> str:
    """The context of a table link, as the HTML extractor (html_structure._row_context) builds it."""
    if header:
        return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, row, strict=False) if c)
    return " | ".join(c for c in row if c)


def _plain(code: Wikicode | None) -> str:
    return _SPACE.sub(" ", code.strip_code() if code is not None else "").strip()


# --- inline templates that print text ------------------------------------------------------

Render = Callable[[_Walker, Template, _Out], None]


def _first(w: _Walker, t: Template, out: _Out) -> None:
    w.arg(t, 0, out)


def _second(w: _Walker, t: Template, out: _Out) -> None:
    w.arg(t, 1, out)


def _last_positional(w: _Walker, t: Template, out: _Out) -> None:
    w.arg(t, len(_positional(t)) - 1, out)


def _list(w: _Walker, t: Template, out: _Out) -> None:
    """{{hlist|a|b}}, {{ubl|a|b}}: the items joined; {{flatlist|\n* a\n* b}}: the list's items."""
    first = True
    for param in _positional(t):
        inner = _Out(inline=True)
        w.walk(param.value, inner)
        for block in inner.finish():
            if not first:
                out.write(_SEPARATOR)
            first = False
            _copy(block, out)


def _copy(block: _Block, out: _Out) -> None:
    """Write a rendered inline block into `out`, its links with it."""
    base = len(out.cur.text)
    out.write(block.text)
    shift = len(out.cur.text) - len(block.text) - base
    for link in block.links:
        out.cur.links.append(_Link(base + shift + link.start, base + shift + link.end, link.href, link.anchor))


def _date_parts(t: Template, offset: int = 0) -> tuple[int | None, int | None, int | None]:
    params = _positional(t)
    values = [str(p.value).strip() for p in params[offset:offset + 3]]
    if values and re.fullmatch(r"\d{4}-\d{2}-\d{2}", values[0]):
        y, m, d = values[0].split("-")
        return int(y), int(m), int(d)
    values += [""] * (3 - len(values))
    return _int(values[0]), _int(values[1]), _int(values[2])


def _month_first(t: Template) -> bool:
    return (_param(t, "mf") or "").lower() in ("y", "yes", "1", "true")


def _date(w: _Walker, t: Template, out: _Out) -> None:
    out.write(format_date(*_date_parts(t), month_first=_month_first(t)))


def _death_date(w: _Walker, t: Template, out: _Out) -> None:
    # {{death date and age|death y|m|d|birth y|m|d}}: the age is derived, the date is the fact
    out.write(format_date(*_date_parts(t), month_first=_month_first(t)))


def _convert(w: _Walker, t: Template, out: _Out) -> None:
    """{{convert|268021|km2}} -> '268,021 km2'; {{convert|1|to|2|km}} -> '1 to 2 km'."""
    values = [str(p.value).strip() for p in _positional(t)]
    if not values:
        return
    text = format_number(values[0])
    rest = values[1:]
    while len(rest) >= 2 and rest[0] in _RANGE_WORDS:
        word = _RANGE_WORDS[rest[0]]
        text += f"{word}{format_number(rest[1])}" if word == "–" else f" {word} {format_number(rest[1])}"
        rest = rest[2:]
    if rest:
        unit = rest[0]
        text += " " + _UNITS.get(unit, unit)
    out.write(text)


def _duration(w: _Walker, t: Template, out: _Out) -> None:
    """{{duration|m=3|s=12}} -> '3:12'; {{duration|1|3|12}} -> '1:03:12'."""
    pos = [str(p.value).strip() for p in _positional(t)]
    pos += [""] * (3 - len(pos))
    h = _param(t, "h") or pos[0]
    m = _param(t, "m") or pos[1]
    s = _param(t, "s") or pos[2]
    if h:
        out.write(f"{h}:{(m or '0').zfill(2)}:{(s or '0').zfill(2)}")
    elif m or s:
        out.write(f"{m or '0'}:{(s or '0').zfill(2)}")


def _sort(w: _Walker, t: Template, out: _Out) -> None:
    if not w.arg(t, 1, out):
        w.arg(t, 0, out)


def _lang(w: _Walker, t: Template, out: _Out) -> None:
    w.arg(t, 1, out)


def _circa(w: _Walker, t: Template, out: _Out) -> None:
    out.write("c. ")
    w.arg(t, 0, out)


def _as_of(w: _Walker, t: Template, out: _Out) -> None:
    out.write("As of " + format_date(*_date_parts(t)))


def _flag(w: _Walker, t: Template, out: _Out) -> None:
    params = _positional(t)
    if params:
        country = _plain(params[0].value)
        href = w.href(country)
        if href and country:
            out.link(href, country)


def _ill(w: _Walker, t: Template, out: _Out) -> None:
    """{{ill|Target|fr|...}}: a link to the article the other wiki has and this one may not."""
    params = _positional(t)
    if params:
        target = _plain(params[0].value)
        label = _param(t, "lt") or target
        href = w.href(target)
        if href and target:
            out.link(href, _SPACE.sub(" ", label).strip())


def _marriage(w: _Walker, t: Template, out: _Out) -> None:
    """{{marriage|Name|1990|2000}} -> 'Name (m. 1990; div. 2000)' as Wikipedia prints it."""
    params = _positional(t)
    if not params:
        return
    w.walk(params[0].value, out)
    years = [_plain(p.value) for p in params[1:3]]
    if years and years[0]:
        out.write(f" (m. {years[0]}" + (f"; {(_param(t, 'end') or 'div.')} {years[1]}" if len(years) > 1
                                        and years[1] else "") + ")")


def _old_style(w: _Walker, t: Template, out: _Out) -> None:
    """{{OldStyleDate|February 2|1905|January 20}} -> 'February 2, 1905' (the New Style date)."""
    params = [_plain(p.value) for p in _positional(t)]
    if len(params) >= 2:
        out.write(f"{params[0]}, {params[1]}" if params[0][-1:].isdigit() else f"{params[0]} {params[1]}")


def _literal(text: str) -> Render:
    def render(w: _Walker, t: Template, out: _Out) -> None:
        out.write(text)
    return render


def _formatnum(w: _Walker, t: Template, out: _Out) -> None:
    out.write(format_number(str(t.name).split(":", 1)[-1]))


def _money(symbol: str) -> Render:
    def render(w: _Walker, t: Template, out: _Out) -> None:
        params = _positional(t)
        if params:
            out.write(symbol + format_number(_plain(params[0].value)))
    return render


def _frac(w: _Walker, t: Template, out: _Out) -> None:
    parts = [_plain(p.value) for p in _positional(t)]
    if len(parts) == 3:
        out.write(f"{parts[0]} {parts[1]}/{parts[2]}")
    elif len(parts) == 2:
        out.write(f"{parts[0]}/{parts[1]}")
    elif parts:
        out.write(f"1/{parts[0]}")


def _val(w: _Walker, t: Template, out: _Out) -> None:
    parts = [_plain(p.value) for p in _positional(t)]
    if parts:
        unit = _param(t, "u", "ul")
        out.write(format_number(parts[0]) + (f" {unit}" if unit else ""))


_INLINE: dict[str, Render] = {}
for _names, _render in (
    (("nowrap", "nobr", "small", "big", "smaller", "larger", "resize", "nobold", "noitalic", "nowrap begin",
      "abbr", "abbrlink", "keypress", "mono", "code", "var", "em", "strong", "bold", "italic", "i", "b", "sc",
      "smallcaps", "small caps", "nihongo", "nihongo2", "nihongo3", "transl", "linktext", "lang-en", "vanchor",
      "visible anchor", "anchor", "plural", "angbr", "lsquo", "rsquo", "midsize", "huge", "serif",
      "sans-serif", "proper name", "not a typo", "sic", "text", "tooltip", "hover title", "uline"), _first),
    (("lang", "transl", "font", "font color", "color", "colour", "textcolor"), _second),
    (("hlist", "flatlist", "plainlist", "ubl", "unbulleted list", "ublist", "bulleted list", "ordered list",
      "plain list", "flat list", "collapsible list", "startflatlist", "br separated entries", "pagelist",
      "bulleted", "enum"), _list),
    (("birth date", "birth date and age", "start date", "end date", "start date and age", "end date and age",
      "release date", "film date", "dob", "bda", "date", "start-date", "birth year and age", "death year",
      "birth year", "death date", "death-date", "birth-date", "bya", "date and age", "start and end dates",
      "birth date and age2", "first flight"), _date),
    (("death date and age", "dda", "death date and given age", "death year and age"), _death_date),
    (("convert", "cvt", "convert/spell"), _convert),
    (("duration", "dur", "length"), _duration),
    (("sort", "sortname", "ntsh", "nts", "sortkey"), _sort),
    (("circa", "c.", "ca."), _circa),
    (("as of",), _as_of),
    (("oldstyledate", "oldstyledatedy", "oldstyledatenY"), _old_style),
    (("flag", "flagcountry", "flagu", "flag country", "country", "flagdeco country"), _flag),
    (("ill", "interlanguage link", "interlanguage link multi", "link-interwiki"), _ill),
    (("marriage", "married"), _marriage),
    (("frac", "fraction", "sfrac"), _frac),
    (("val",), _val),
    (("us$", "usd"), _money("US$")), (("gbp", "£"), _money("£")), (("euro", "€", "eur"), _money("€")),
    (("inr", "₹"), _money("₹")), (("jpy", "yen"), _money("¥")),
    (("ndash", "–", "en dash", "snd", "spaced ndash", "spnd", "sndash"), _literal(" – ")),
    (("mdash", "—", "em dash", "spaced mdash"), _literal("—")),
    (("nbsp", "space", "sp", "thinsp", "hair space", "px2"), _literal(" ")),
    (("'",), _literal("'")), (("\"",), _literal('"')), (("=",), _literal("=")), (("·", "dot", "middot"),
                                                                             _literal(" · ")),
    (("okina",), _literal("ʻ")), (("-",), _literal("")), (("!",), _literal("|")),
    (("pi", "π"), _literal("π")), (("degree", "°"), _literal("°")), (("times", "×"), _literal("×")),
):
    for _name in _names:
        _INLINE[_name] = _render
_MAGIC_WORDS = frozenset(("pagename", "pagenamee", "fullpagename", "basepagename", "!"))


def _inline_render(name: str) -> Render | None:
    folded = name.casefold()
    if folded in _INLINE:
        return _INLINE[folded]
    if folded.startswith("lang-") or folded.startswith("lang|"):
        return _first
    if folded.startswith("formatnum:"):
        return _formatnum
    return None


# --- the document --------------------------------------------------------------------------


def document_fields(title: str, wikitext: str, base_url: str | None, *,
                    context: Callable[[str, int, int, list[int] | None], str],
                    bounds: Callable[[str], list[int]]) -> dict:
    """text, links, infobox, tables, categories, sections, bold_terms, page_kind of one article.

    `context`/`bounds` are the extractor's sentence functions (passed in, not imported, so that the
    extractor can import this module).
    """
    prefix = article_prefix(base_url)
    page = Page(title=title, prefix=prefix)
    code = parse(wikitext)
    walker = _Walker(page)
    out = _Out(inline=False)
    sections: list[dict] = []
    categories: list[str] = []
    skip_level: int | None = None
    for node in code.nodes:
        if isinstance(node, Heading):
            heading = _plain(node.title)
            level = int(node.level)
            sections.append({"title": heading, "level": level})
            if skip_level is not None and level > skip_level:
                continue
            skip_level = level if heading.casefold().rstrip(":") in FURNITURE_SECTIONS else None
            if skip_level is None:
                walker.section = heading
                out.brk(section=heading)
                out.write(heading)
                out.brk(section=heading)
            continue
        if skip_level is not None:
            # furniture sections still carry the page's own markers: categories and the disambiguation
            # template usually close the last section ("External links")
            _markers(node, walker, categories)
            continue
        walker.node(node, out)
        _markers(node, walker, categories, categories_only=True)
    blocks = out.finish()
    text_parts: list[str] = []
    links: list[dict] = []
    for block in blocks:
        if text_parts:
            text_parts.append("\n")
        text_parts.append(block.text)
        if block.links:
            bnds = bounds(block.text)
            for link in block.links:
                links.append({"href": link.href, "anchor": link.anchor,
                              "context": context(block.text, link.start, link.end, bnds), "kind": "text",
                              "section": block.section})
    text = "".join(text_parts)
    lead = next((b for b in blocks if b.section == "" and len(b.text.split()) > 3), None)
    bold_terms = list(dict.fromkeys(_SPACE.sub(" ", t).strip(" ,;:") for t in lead.bold)) if lead else []
    links += [
        {"href": link["href"], "anchor": link["anchor"], "context": f"{e['key']}: {e['value']}",
         "kind": "infobox", "section": ""}
        for e in page.infobox for link in e["links"]
    ]
    links += [link for _, table_links in page.tables for link in table_links]
    return {
        "text": text,
        "links": dedupe_links(links),
        "infobox": page.infobox,
        "tables": [t for t, _ in page.tables],
        "categories": list(dict.fromkeys(categories)),
        "sections": sections,
        "bold_terms": [t for t in bold_terms if t],
        "page_kind": page_kind(title, categories, disambiguation=walker.disambiguation),
    }


def _markers(node: Node, walker: _Walker, categories: list[str], *, categories_only: bool = False) -> None:
    """Categories (anywhere) and, outside the walked body, disambiguation templates."""
    nodes: Iterable[Node] = [node] if isinstance(node, (Wikilink, Template)) else ()
    if isinstance(node, Tag) and node.contents is not None:
        nodes = node.contents.filter(forcetype=(Wikilink, Template), recursive=True)
    for item in nodes:
        if isinstance(item, Wikilink):
            target = str(item.title).strip()
            if target.startswith(":"):
                continue  # [[:Category:X]] links to the category; it does not file the page there
            namespace, rest = _split_namespace(target)
            if namespace is not None and namespace.casefold() in _CATEGORY_NAMESPACES:
                name = normalize_title(rest.split("|")[0])
                if name:
                    categories.append(name)
        elif not categories_only and isinstance(item, Template) and is_disambiguation(template_name(item)):
            walker.disambiguation = True
