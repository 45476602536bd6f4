"""Extraction stage: `pages` rows -> `documents` rows, or `quarantine` rows with a reason.

HTML is decoded and parsed once. Infobox, data tables and lead-paragraph bold terms are read from that
tree first (read-only, see html_structure), then the same tree goes to `trafilatura.bare_extraction`
for the main text and its in-text links; trafilatura copies its input tree before cleaning it, so
ours stays intact for the metadata read that follows.

Metadata is read with trafilatura's own helpers (meta tags, JSON-LD, title heuristics) and htmldate
rather than `with_metadata=True`: the full metadata pass also looks for author, site name,
categories, tags and licence, which we do not store and which cost as much as a third of the
extraction time on the readability corpus.

Reason codes (quarantine.reason, stage "extract"): see REASONS.
"""

from __future__ import annotations

import codecs
import json
import re
import signal
import threading
import time
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import trafilatura
from charset_normalizer import from_bytes
from htmldate import find_date
from lxml.etree import _Element, strip_tags
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from drsynth.storage.ids import content_id
from drsynth.synth.corpus import html_structure as hs
from drsynth.synth.corpus import wikitext
from drsynth.synth.corpus.page_kind import page_kind
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.wikitext import WIKITEXT_RECORD_TYPE

try:  # optional: language detection for pages that do not declare their language
    import py3langid
except ImportError:  # pragma: no cover - exercised only without the optional package
    py3langid = None

STAGE = "extract"
TEXT_RECORD_TYPE = "application/x-drsynth-text+json"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0

EXTRACTOR_VERSION = "drsynth-extract/1 trafilatura/" + trafilatura.__version__ + (
    f" py3langid/{getattr(py3langid, '__version__', '?')}" if py3langid is not None else ""
)

REASONS = {
    "empty": "zero bytes, or only whitespace",
    "binary": "NUL bytes, a binary magic number or control characters in the first KB, or a binary content type",
    "undecodable": "no declared or sniffed charset decodes it without a high share of replacement characters",
    "oversize": "body larger than max_bytes",
    "unsupported_type": "a text content type that is neither HTML, plain text nor a drsynth text record",
    "no_content": "no main text found",
    "extraction_error": "an exception while extracting; detail has its type and message",
    "timeout": "extraction ran over timeout_s",
    "worker_crashed": "the worker process died on this page (set by extract_pool)",
}

# share of U+FFFD / control characters above which a decoding is garbage, not a page with a few bad
# bytes: a mislabelled Latin-1 page read as UTF-8 shows ~1-3% (one per accented letter) and gets
# rescued by the sniffed charset; random bytes show tens of percent
MAX_BAD_CHAR_RATIO = 0.01
SNIFF_BYTES = 1024
# the share of control bytes (other than whitespace and ESC) in the first KB that marks binary data
MAX_CONTROL_BYTE_RATIO = 0.1
LANG_SAMPLE_CHARS = 1500
MIN_LANG_SAMPLE_LETTERS = 20

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip data (undecoded Content-Encoding?)"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"\x7fELF", "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 (MS Office) document"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"wOFF", "WOFF font"),
    (b"wOF2", "WOFF2 font"),
    (b"\x00asm", "WebAssembly"),
)
_BOMS = (  # UTF-32 first: its LE BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_MAJOR_TYPES = frozenset({"image", "audio", "video", "font", "model"})
_BINARY_APP_TYPES = frozenset(
    {"pdf", "zip", "gzip", "x-gzip", "x-tar", "x-bzip2", "x-xz", "zstd", "x-7z-compressed",
     "x-rar-compressed", "vnd.rar", "msword", "wasm", "x-shockwave-flash", "java-archive"}
)
_HTML_TYPES = frozenset(
    {"", "text/html", "application/xhtml+xml", "application/xml", "text/xml", "application/octet-stream",
     "application/x-unknown", "unknown/unknown", "text/x-server-parsed-html"}
)
_PLAIN_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
# WHATWG: these labels mean windows-1252, which also maps the 0x80-0x9F range to letters
_LATIN1_LABELS = frozenset({"latin_1", "ascii", "iso8859-1", "iso-8859-1", "us-ascii"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_BAD_CHARS = re.compile(r"[\ufffd\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]")
_LANG_TAG = re.compile(r"^([a-z]{2,3})(?:$|[-_])")
_NOT_LANGS = frozenset({"und", "mul", "zxx", "mis"})
# a sentence ends at . ! ? (or their CJK forms), maybe closed by quotes/brackets and followed by
# citation markers like "[1]", then whitespace; or at a line break
_SENTENCE_END = re.compile(
    r"[.!?\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*(?:\[[^\]\s]{1,12}\])*(?:\s+|$)|\n+"
)
# citation markers ("[1]", "[a]", "[note 3]") link to footnotes, not to anything a graph wants
_CITATION_ANCHOR = re.compile(r"^\[[^\]]{1,20}\]$")
_ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "nos", "inc",
     "ltd", "co", "corp", "gen", "col", "lt", "sgt", "mt", "fig", "figs", "approx", "ca", "c", "cf",
     "vol", "pp", "ed", "eds", "rev", "est", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul",
     "aug", "sep", "sept", "oct", "nov", "dec")
)
_LAST_WORD = re.compile(r"\S*$")
_MAX_CONTEXT_CHARS = 400
# trafilatura's output blocks: a link's context sentence never crosses one of these
_OUTPUT_BLOCKS = frozenset({"p", "item", "head", "quote", "cell", "code", "list", "table", "row", "body", "div"})
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# trafilatura's `<head rend="h2">`: the heading levels a document's `sections` list
_SECTION_RENDS = frozenset({"h2", "h3", "h4"})
_KILT_SECTION = re.compile(r"^Section::::(.*?)\.?$")
_KILT_BULLET = re.compile(r"^BULLET::::-?\s*")


class ExtractionTimeout(BaseException):
    """Raised by the SIGALRM deadline. A BaseException so that library `except Exception:` blocks
    (htmldate, trafilatura's JSON-LD reader) cannot swallow it."""


class Refused(Exception):
    """The page cannot become a document; carries the quarantine reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --- deadline --------------------------------------------------------------------------------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise ExtractionTimeout in the block after `seconds` of wall time.

    Uses SIGALRM, so it only works in the main thread of a process (true in pool workers); elsewhere,
    or where setitimer is missing, it is a no-op. An alarm someone else had set (pytest-timeout, an
    outer deadline) is kept: if it falls due first its handler runs, and it is re-armed afterwards.
    """
    usable = (
        seconds
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    start = time.monotonic()
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    state = {"armed": True, "outer_due": bool(outer_delay)}

    def on_alarm(signum: int, frame: Any) -> None:
        if not state["armed"]:  # landed between the block's end and the disarm below
            return
        elapsed = time.monotonic() - start
        if state["outer_due"] and outer_delay <= seconds and elapsed < seconds:
            state["outer_due"] = False  # the outer alarm: hand it over, then keep our own running
            signal.setitimer(signal.ITIMER_REAL, max(seconds - elapsed, 1e-6))
            if callable(outer_handler):
                outer_handler(signum, frame)
            return
        raise ExtractionTimeout(f"extraction took longer than {seconds:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_delay) if outer_delay else seconds)
    try:
        yield
    finally:
        state["armed"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if state["outer_due"]:
            remaining = outer_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-6), outer_interval)
        elif outer_interval:
            signal.setitimer(signal.ITIMER_REAL, outer_interval, outer_interval)


# --- bytes -> str ----------------------------------------------------------------------------


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"; lower-cased, charset may be None."""
    if not content_type:
        return "", None
    mtype, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return mtype.strip().lower(), charset


def _bom_encoding(body: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding
    return None


def sniff_binary(body: bytes, mtype: str) -> str | None:
    """Why `body` is binary data, or None when it looks like text."""
    major, _, minor = mtype.partition("/")
    if major in _BINARY_MAJOR_TYPES or (major == "application" and minor in _BINARY_APP_TYPES):
        return f"binary content type {mtype}"
    if _bom_encoding(body) in ("utf-16", "utf-32"):  # NULs are expected there
        return None
    head = body[:SNIFF_BYTES]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "NUL bytes in the first KB"
    if len(_CONTROL_BYTES.findall(head)) > MAX_CONTROL_BYTE_RATIO * len(head):
        return "control characters in the first KB"
    return None


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label, windows-1252 for the Latin-1 family; None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return "cp1252" if name in _LATIN1_LABELS else name


def _bad_ratio(text: str) -> float:
    return len(_BAD_CHARS.findall(text)) / max(len(text), 1)


def decode_body(body: bytes, declared: str | None = None) -> str:
    """Decode a text body: BOM, then strict UTF-8, then the declared (header) and `<meta>` charsets,
    then a charset_normalizer guess; raises Refused("undecodable") when every candidate leaves more
    than MAX_BAD_CHAR_RATIO replacement or control characters."""
    bom = _bom_encoding(body)
    if bom:
        text = body.decode(bom, errors="replace")
        if _bad_ratio(text) > MAX_BAD_CHAR_RATIO:
            raise Refused("undecodable", f"invalid {bom} after its byte-order mark")
        return text
    try:  # fast path: most of the web is UTF-8, and valid UTF-8 is almost never an accident
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:4096])
    candidates = [_codec(declared), _codec(meta.group(1).decode("ascii", "replace") if meta else None)]
    for encoding in dict.fromkeys(c for c in candidates if c and c != "utf-8"):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _bad_ratio(text) <= MAX_BAD_CHAR_RATIO:
            return text
    guess = _detected_charset(body)
    best_text, best_ratio, best_encoding = "", 1.0, ""
    for encoding in dict.fromkeys(c for c in [*candidates, guess, "utf-8"] if c):
        text = body.decode(encoding, errors="replace")
        ratio = _bad_ratio(text)
        if ratio < best_ratio:
            best_text, best_ratio, best_encoding = text, ratio, encoding
    if best_ratio > MAX_BAD_CHAR_RATIO:
        tried = ", ".join(dict.fromkeys(c for c in [*candidates, guess, "utf-8"] if c))
        raise Refused(
            "undecodable",
            f"best charset {best_encoding or 'none'} leaves {best_ratio:.1%} bad characters (tried {tried})",
        )
    return best_text


def _detected_charset(body: bytes) -> str | None:
    """charset_normalizer's guess (slow: only for the rare page that no declared charset reads)."""
    sample = body if len(body) <= 20000 else body[:10000] + body[-10000:]
    match = from_bytes(sample).best()
    return _codec(match.encoding) if match is not None else None


# --- language --------------------------------------------------------------------------------


def normalize_lang(value: str | None) -> str | None:
    """Primary subtag of a language tag: "en-US" -> "en", "pt_BR" -> "pt"; None when not a language."""
    if not value:
        return None
    first = value.split(",")[0].strip().lower()
    match = _LANG_TAG.match(first)
    if not match or match.group(1) in _NOT_LANGS:
        return None
    return match.group(1)


def declared_lang(tree: HtmlElement, headers: str | None = None) -> str | None:
    """`<html lang>`, then the content-language meta and header, then og:locale."""
    for value in (tree.get("lang"), tree.get("xml:lang")):
        if lang := normalize_lang(value):
            return lang
    for meta in tree.iterfind(".//meta[@http-equiv]"):
        if (meta.get("http-equiv") or "").lower() == "content-language" and (
            lang := normalize_lang(meta.get("content"))
        ):
            return lang
    if headers and "anguage" in headers:
        try:
            parsed = json.loads(headers)
        except ValueError:
            parsed = {}
        for name, value in parsed.items() if isinstance(parsed, dict) else ():
            if name.lower() == "content-language" and (lang := normalize_lang(str(value))):
                return lang
    for meta in tree.iterfind(".//meta[@property='og:locale']"):
        if lang := normalize_lang(meta.get("content")):
            return lang
    return None


def detect_lang(text: str) -> str | None:
    """py3langid on a prefix of the text; None for too little text or without the detector."""
    if py3langid is None:
        return None
    sample = text[:LANG_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LANG_SAMPLE_LETTERS:
        return None
    lang, _score = py3langid.classify(sample)
    return normalize_lang(lang)


def warm_up() -> None:
    """Load the language model now (it takes ~0.5 s), e.g. in a pool worker's initializer."""
    detect_lang("warming up the language identification model")


# --- link contexts ---------------------------------------------------------------------------


def sentence_bounds(text: str) -> list[int]:
    """Offsets where sentences start (0 included), skipping abbreviations and initials."""
    starts = [0]
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end >= len(text):
            break
        if "\n" not in match.group(0) and match.group(0)[0] == ".":
            word = _LAST_WORD.search(text, max(0, match.start() - 24), match.start())
            token = (word.group(0) if word else "").lower().lstrip("([\"'")
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue
            if not (text[end].isupper() or text[end].isdigit() or text[end] in "\"'([\u201c\u2018"):
                continue
        starts.append(end)
    return starts


def sentence_around(text: str, start: int, end: int, bounds: list[int] | None = None) -> str:
    """The sentence of `text` that holds [start, end); a sentence-end inside the span does not split it.

    `bounds` (from `sentence_bounds(text)`) can be passed in when several spans share a text.
    Over-long "sentences" (lists, run-on captions) are cut to a window of whole words around the span.
    """
    if bounds is None:
        bounds = sentence_bounds(text)
    left = bounds[max(bisect_right(bounds, start) - 1, 0)]
    after = bisect_left(bounds, end)
    right = bounds[after] if after < len(bounds) else len(text)
    if right - left > _MAX_CONTEXT_CHARS:
        half = max((_MAX_CONTEXT_CHARS - (end - start)) // 2, 0)
        left = max(left, start - half)
        right = min(right, end + half)
        while left > 0 and not text[left - 1].isspace():
            left -= 1
        while right < len(text) and not text[right].isspace():
            right += 1
    return hs.collapse_ws(text[left:right])


def _block_of(el: _Element) -> _Element:
    """The nearest output block (paragraph, list item, heading, ...) holding `el`."""
    node = el.getparent()
    while node is not None and node.tag not in _OUTPUT_BLOCKS:
        node = node.getparent()
    return node if node is not None else el


def _block_text(block: _Element) -> tuple[str, list[tuple[int, int, str | None]]]:
    """A block's own inline text and the (start, end, target) of its `<ref>`s; nested blocks (they
    get their own pass) count as line breaks, as do `<lb/>`s."""
    parts: list[str] = []
    refs: list[tuple[int, int, str | None]] = []
    size = 0

    def add(text: str | None, *, source: bool = True) -> None:
        nonlocal size
        if text:
            # newlines in source text are just wrapping; only <lb/> and blocks break sentences
            parts.append(text.replace("\n", " ") if source else text)
            size += len(text)

    def walk(el: _Element) -> None:
        start = size
        add(el.text)
        for child in el:
            if child.tag in _OUTPUT_BLOCKS or child.tag == "lb":
                add("\n", source=False)
            else:
                walk(child)
            add(child.tail)
        if el.tag == "ref":
            refs.append((start, size, el.get("target")))

    walk(block)
    return "".join(parts), refs


def text_links(body: _Element | None, base_url: str) -> list[dict]:
    """[{href, anchor, context, kind: "text", section}] for the `<ref target>` links of trafilatura's
    body; the context is the sentence around the anchor, the section the title of the h2–h4 heading
    the link sits under ("" before the first). Only blocks that hold links are walked."""
    if body is None:
        return []
    blocks: dict[int, tuple[_Element, str]] = {}
    section = ""
    held = []  # keeps the proxies, and so the id() keys, alive
    for el in body.iter("head", "ref"):
        if el.tag == "head":
            if el.get("rend") in _SECTION_RENDS:
                section = hs.collapse_ws("".join(el.itertext()))
            continue
        held.append(el)
        block = _block_of(el)
        blocks.setdefault(id(block), (block, section))
    links = []
    for block, block_section in blocks.values():
        text, spans = _block_text(block)
        bounds = sentence_bounds(text)
        for start, end, target in spans:
            anchor = hs.collapse_ws(text[start:end])
            href = hs.resolve_href(target, base_url)
            if anchor and href and not _CITATION_ANCHOR.match(anchor):
                context = sentence_around(text, start, end, bounds)
                links.append({"href": href, "anchor": anchor, "context": context, "kind": "text",
                              "section": block_section})
    return links


def plain_text(body: _Element | None) -> str:
    """trafilatura's text rendering of its output body, links unwrapped (with links kept it writes
    Markdown `[anchor](target)`), NFC-normalized. Consumes the body: call `text_links` first."""
    if body is None:
        return ""
    strip_tags(body, "ref")
    return unicodedata.normalize("NFC", xmltotxt(body, include_formatting=False)).strip()


def infobox_links(entries: list[dict], sections: dict[int, str] | None = None) -> list[dict]:
    """Links of infobox rows; `sections` maps a row's `box` to the section the box sits in."""
    return [
        {"href": link["href"], "anchor": link["anchor"], "context": f"{e['key']}: {e['value']}", "kind": "infobox",
         "section": (sections or {}).get(e.get("box", 0), "")}
        for e in entries
        for link in e["links"]
    ]


# --- metadata --------------------------------------------------------------------------------


def _first_text(tree: HtmlElement, tag: str) -> str | None:
    for el in tree.iter(tag):
        if text := hs.collapse_ws(el.text_content()):
            return text
    return None


def canonical_url(tree: HtmlElement, base_url: str) -> str | None:
    """The page's own `<link rel="canonical">`: one URL for the copies a site serves under several."""
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            return hs.resolve_href(link.get("href", ""), base_url)
    return None


# meta keys that state a page's date, publication before modification (htmldate's own preference)
_DATE_KEYS = (
    "article:published_time", "og:published_time", "datepublished", "date", "dc.date.issued", "dc.date",
    "dcterms.date", "pubdate", "publishdate", "citation_publication_date", "sailthru.date",
    "article:modified_time", "og:updated_time", "datemodified", "last-modified", "dcterms.modified",
)
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")


def meta_date(tree: HtmlElement) -> str | None:
    """A date from the page's meta tags, in one pass; None sends the caller to htmldate's search."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        match = _ISO_DATE.match(meta.get("content") or "") if key in _DATE_KEYS else None
        if match and 1 <= int(match.group(2)) <= 12 and 1 <= int(match.group(3)) <= 31:
            found.setdefault(key, "-".join(match.groups()))
    return next((found[k] for k in _DATE_KEYS if k in found), None)


def page_metadata(tree: HtmlElement, url: str) -> dict[str, str | None]:
    """title, description, date: meta tags, then JSON-LD, then trafilatura's title heuristics, then
    `<title>`/`<h1>`; the date is htmldate's original publication date from markup and URL (no
    free-text search, which on reference pages mostly finds "last edited" stamps)."""
    meta = examine_meta(tree)
    if not meta.title or not meta.description:
        # trafilatura guards this call the same way: JSON-LD in the wild is messy
        with suppress(Exception):
            meta = extract_meta_json(tree, meta)
    title = meta.title or extract_title(tree) or _first_text(tree, "title") or _first_text(tree, "h1")
    date = meta_date(tree)
    if date is None:
        try:
            date = find_date(tree, url=url or None, original_date=True, extensive_search=False)
        except Exception:  # a date is a nice-to-have; htmldate bugs must not cost the document
            date = None
    return {"title": title or None, "description": meta.description or None, "date": date or None}


# --- documents -------------------------------------------------------------------------------


def _document(page: dict, *, title: str | None, text: str, lang: str | None, **fields: Any) -> dict:
    return {
        "id": content_id("document", page["id"], EXTRACTOR_VERSION),
        "parents": [page["id"]],
        "url": page.get("final_url") or page.get("url"),
        "page_url": page.get("url"),
        "title": title,
        "text": text,
        "lang": lang,
        "date": fields.get("date"),
        "description": fields.get("description"),
        "links": fields.get("links", []),
        "infobox": fields.get("infobox", []),
        "tables": fields.get("tables", []),
        "bold_terms": fields.get("bold_terms", []),
        "canonical_url": fields.get("canonical_url"),
        "word_count": len(text.split()),
        "extractor": EXTRACTOR_VERSION,
        "page_kind": fields.get("page_kind"),
        "categories": fields.get("categories", []),
        "sections": fields.get("sections", []),
    }


def parse_html(text: str) -> HtmlElement | None:
    """One lxml parse with trafilatura's parser settings; fragments get wrapped in a document."""
    tree = load_html(text)
    if tree is None and text.strip():
        tree = load_html(f"<html><body>{text}</body></html>")
    return tree


def _html_document(page: dict, text: str) -> dict:
    tree = parse_html(text)
    if tree is None:
        raise Refused("no_content", "not parseable as HTML")
    final_url = page.get("final_url") or page.get("url") or ""
    base = hs.document_base_url(tree, final_url)
    canonical = canonical_url(tree, base)
    # what only the furniture says about the page, read before it goes: its categories, whether it is
    # a disambiguation page; and the metadata, which may sit in a footer or a byline aside
    categories = hs.wiki_categories(tree)
    disambiguation = hs.has_disambiguation_marker(tree)
    meta = page_metadata(tree, final_url)
    heading = tree.get_element_by_id("firstHeading", None) if hasattr(tree, "get_element_by_id") else None
    page_title = hs.collapse_ws(heading.text_content()) if heading is not None else meta["title"]
    # page furniture is never fact (shared/docs/QUALITY.md): cut out of our tree in place, before the
    # structural reads and trafilatura see it, so none of it yields text, links, infobox rows or tables
    hs.remove_furniture(tree, hs.main_content(tree))
    landmarks = hs.Landmarks(tree)
    main = landmarks.main
    boxes: list = []
    infobox = hs.infobox(tree, base, landmarks, boxes)
    table_elements: list = []
    tables = hs.tables_with_links(tree, base, landmarks, table_elements)
    bold = hs.bold_terms(tree, landmarks)
    sections = hs.sections(main)
    if hs.lead_paragraph(tree, landmarks) is not None:
        # the data tables are read; trafilatura drops tables anyway (include_tables=False), but its
        # fallbacks (readability, justext) would take a list page's table for the text in place of
        # its lead once the furniture is gone, at several times the cost. Kept when the page has no
        # paragraph outside tables, where the table is all the text there is
        for table in table_elements:
            if table.getparent() is not None:
                table.drop_tree()
    # url=None keeps hrefs raw: trafilatura would resolve them against the site root, not the page.
    # output_format="txt" leaves the body unserialized (we render it once, below, without links).
    result = trafilatura.bare_extraction(
        tree,
        url=None,
        output_format="txt",
        with_metadata=False,
        include_links=True,
        include_tables=False,
        include_comments=False,
        include_images=False,
    )
    body = result.body if result is not None else None
    links = text_links(body, base)
    main_text = plain_text(body)
    if not main_text:
        raise Refused("no_content", "trafilatura found no main text")
    lang = declared_lang(tree, page.get("headers")) or detect_lang(main_text)
    links += infobox_links(infobox, {i: hs.section_of(box, main) for i, box in enumerate(boxes)})
    links += [link for _, table_links in tables for link in table_links]
    return _document(
        page,
        title=meta["title"],
        text=main_text,
        lang=lang,
        date=meta["date"],
        description=meta["description"],
        links=hs.dedupe_links(links),
        infobox=infobox,
        tables=[t for t, _ in tables],
        bold_terms=bold,
        canonical_url=canonical,
        page_kind=_page_kind(page_title, categories, disambiguation, wiki=_is_wiki(tree, main, categories)),
        categories=categories,
        sections=sections,
    )


def _is_wiki(tree: HtmlElement, main: HtmlElement, categories: list[str]) -> bool:
    """A MediaWiki page: its content div, its category box, or parser output markup."""
    if categories or main.get("id") == "mw-content-text":
        return True
    return any(True for _ in tree.iterfind(".//div[@class='mw-parser-output']"))


def _page_kind(title: str | None, categories: list[str], disambiguation: bool, *, wiki: bool) -> str | None:
    """page_kind for a wiki page; for an ordinary web page null ("unknown, an ordinary page") unless
    its own markers or title say disambiguation or list: "Help: ..." or "Talk: ..." in a blog's title
    is no namespace, and most pages are not articles about one entity."""
    kind = page_kind(title, categories, disambiguation=disambiguation)
    if wiki:
        return kind
    return kind if kind in ("disambiguation", "list") else None


def _plain_document(page: dict, text: str) -> dict:
    paragraphs = [hs.collapse_ws(p) for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n"))]
    main_text = "\n\n".join(p for p in paragraphs if p)
    if not main_text:
        raise Refused("no_content", "no text")
    return _document(page, title=None, text=main_text, lang=detect_lang(main_text))


def _record_paragraphs(text: Any, title: str | None) -> list[str]:
    """Paragraphs of a text record (a list, or a string split at blank lines); KILT's title line and
    Section::::/BULLET:::: markup undone."""
    items = _PARAGRAPH_BREAK.split(text) if isinstance(text, str) else [str(t) for t in (text or [])]
    paragraphs = []
    for item in items:
        para = item.strip()
        if not para:
            continue
        if section := _KILT_SECTION.match(para):
            para = section.group(1).strip()
        para = _KILT_BULLET.sub("- ", para)
        if not paragraphs and title and para == title.strip():
            continue  # KILT repeats the title as the first paragraph
        if para:
            paragraphs.append(para)
    return paragraphs


def _record_document(page: dict, body: bytes) -> dict:
    record = json.loads(body.decode("utf-8-sig"))
    if not isinstance(record, dict):
        raise ValueError(f"text record must be a JSON object, got {type(record).__name__}")
    title = record.get("title") or record.get("wikipedia_title")
    title = (str(title).strip() or None) if title is not None else None
    main_text = "\n\n".join(_record_paragraphs(record.get("text"), title))
    if not main_text:
        raise Refused("no_content", "text record without text")
    return _document(page, title=title, text=main_text, lang=detect_lang(main_text))


def _wikitext_document(page: dict, body: bytes) -> dict:
    """A MediaWiki dump's article (synth.corpus.wikidump): wikitext rendered by synth.corpus.wikitext."""
    record = json.loads(body.decode("utf-8"))
    title = str(record.get("title") or "").strip() or None
    fields = wikitext.document_fields(title or "", record.get("wikitext") or "", record.get("base_url"),
                                      context=sentence_around, bounds=sentence_bounds)
    if not fields["text"]:
        raise Refused("no_content", "the article renders to no text")
    stamp = record.get("timestamp") or ""
    return _document(page, title=title, lang=record.get("lang") or detect_lang(fields["text"]),
                     date=stamp[:10] if _ISO_DATE.match(stamp) else None, **fields)


def _extract(page: dict, body: bytes, max_bytes: int) -> dict:
    if len(body) > max_bytes:
        raise Refused("oversize", f"{len(body)} bytes > max_bytes {max_bytes}")
    if not body.strip():
        raise Refused("empty", "zero bytes" if not body else "only whitespace")
    mtype, charset = media_type(page.get("content_type"))
    if mtype == TEXT_RECORD_TYPE:
        return _record_document(page, body)
    if mtype == WIKITEXT_RECORD_TYPE:
        return _wikitext_document(page, body)
    if why := sniff_binary(body, mtype):
        raise Refused("binary", why)
    if mtype not in _HTML_TYPES and mtype not in _PLAIN_TYPES:
        raise Refused("unsupported_type", f"content type {mtype}")
    text = decode_body(body, charset)
    if not text.strip():
        raise Refused("empty", "only whitespace once decoded")
    if mtype in _PLAIN_TYPES:
        return _plain_document(page, text)
    return _html_document(page, text)


def _quarantine(page: dict, reason: str, detail: str, body: bytes) -> dict:
    return quarantine_record(
        stage=STAGE,
        reason=reason,
        source=page.get("url") or page.get("final_url") or page.get("id") or "",
        detail=detail,
        input=body,
        parents=[page["id"]] if page.get("id") else [],
    )


def extract_page(
    page: dict, *, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[str, dict]:
    """One `pages` row -> ("documents", row) or ("quarantine", row); never raises for bad input."""
    body = page.get("body") or b""
    if isinstance(body, str):  # tolerate text bodies from hand-built rows
        body = body.encode("utf-8")
    try:
        with deadline(timeout_s):
            return "documents", _extract(page, body, max_bytes)
    except Refused as refused:
        return "quarantine", _quarantine(page, refused.reason, refused.detail, body)
    except ExtractionTimeout as exc:
        return "quarantine", _quarantine(page, "timeout", str(exc), body)
    except Exception as exc:
        return "quarantine", _quarantine(page, "extraction_error", f"{type(exc).__name__}: {exc}", body)
