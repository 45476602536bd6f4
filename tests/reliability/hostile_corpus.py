"""A generated corpus of hostile inputs, one of every kind of source drsynth reads, for the fault suite.

`build(root, full=...)` writes the files under `root` and returns a `Corpus`: the sources to ingest
and, for every input, what it must end as. `TrapSite` serves the crawl traps on 127.0.0.1 (a real
HTTP server in threads: redirect loops, slow, dripping and endless responses, redirects to private
addresses, a link flood, a gzip bomb, dropped connections).

Every input has a token `hxNNN` in its name (a file name, a URL path, a dump's file name) and in its
content, so every row it leads to (page, document, quarantine row, whatever the stage) can be traced
back to it: the test accounts for each input by that token.

Outcomes: DOC (at least one document and nothing else), ROW (only quarantine rows), MIXED (both),
ANY (at least one of either: the extractor's heuristics decide, and both are correct). `reasons`,
when given, are the only quarantine reasons allowed for the input.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOC, ROW, MIXED, ANY = "document", "row", "mixed", "any"
TOKEN = re.compile(r"hx\d{3}")
SECRET = "/etc/passwd"  # what an outside symlink points at: its content must reach no row

_WORDS = ("river", "castle", "village", "mountain", "harbour", "festival", "library", "valley", "bridge",
          "market", "tower", "island", "forest", "garden", "temple", "station")


@dataclass(frozen=True)
class Hostile:
    name: str  # hxNNN-what-it-is
    kind: str  # html | text | warc | wikidump | zim | crawl
    expect: str  # DOC | ROW | MIXED | ANY
    reasons: frozenset[str] = frozenset()  # allowed quarantine reasons (empty: any reason)
    fast: bool = False  # part of the fast (CI) setting

    @property
    def token(self) -> str:
        return self.name[:5]


@dataclass
class Corpus:
    inputs: list[Hostile] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # crawl trap routes: path -> handler(request handler) writing the whole response
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)
    crawl_seed_path: str = ""


def prose(token: str, sentences: int = 12, seed: int = 0) -> str:
    """Readable English-like text that carries the input's token (trafilatura wants real paragraphs)."""
    rng = random.Random(f"{token}-{seed}")
    out = []
    for i in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 16))]
        if i == 0:
            words.insert(1, token)
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def page(token: str, *, title: str | None = None, extra: str = "", head: str = "") -> bytes:
    title = title if title is not None else f"Page {token}"
    body = "".join(f"<p>{prose(token, 6, i)}</p>" for i in range(3))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
            f"<body><article><h1>Heading {token}</h1>{body}{extra}</article></body></html>").encode()


def _random_bytes(n: int, seed: str) -> bytes:
    return random.Random(seed).randbytes(n)


def _gzip_stream(path: Path, pattern: bytes, total: int, tail: bytes = b"") -> None:
    """A gzip of `total` bytes of `pattern` (then `tail`) written in pieces: a bomb built without holding it."""
    block = pattern * (2**20 // len(pattern))
    with gzip.open(path, "wb", compresslevel=9) as out:
        left = total
        while left > 0:
            piece = block[: min(left, len(block))]
            out.write(piece)
            left -= len(piece)
        out.write(tail)


class _Builder:
    def __init__(self, root: Path, full: bool) -> None:
        self.root, self.full = root, full
        self.corpus = Corpus()
        self._n = 0

    def add(self, slug: str, kind: str, expect: str, reasons: tuple[str, ...] = (), *, fast: bool = False) -> str:
        """Register an input; returns its name (token + slug) for the caller to write under."""
        name = f"hx{self._n:03d}-{slug}"
        self._n += 1
        if self.full or fast:
            self.corpus.inputs.append(Hostile(name, kind, expect, frozenset(reasons), fast))
            return name
        return ""  # not in this setting: the caller writes nothing

    def source(self, path: Path) -> None:
        self.corpus.sources.append(str(path))


# --- HTML files in one directory ---------------------------------------------------------------


def _html_dir(b: _Builder) -> None:
    site = b.root / "html"
    (site / "nested" / "deeper").mkdir(parents=True)
    outside = b.root / "outside"
    outside.mkdir()

    def file(slug: str, data: bytes | Callable[[str], bytes], expect: str, reasons: tuple[str, ...] = (), *,
             fast: bool = False, suffix: str = ".html", where: Path = site) -> None:
        name = b.add(slug, "html", expect, reasons, fast=fast)
        if name:
            (where / f"{name}{suffix}").write_bytes(data(name[:5]) if callable(data) else data)

    extract_refusals = ("binary", "undecodable", "no_content", "empty", "extraction_error", "timeout")
    file("ordinary", lambda t: page(t), DOC, fast=True)
    file("empty", b"", ROW, ("empty",), fast=True)
    file("whitespace", b" \n\t\r\n " * 1000, ROW, ("empty",))
    file("random-bytes", lambda t: _random_bytes(20_000, t), ROW, extract_refusals, fast=True)
    file("png-named-html", b"\x89PNG\r\n\x1a\n" + _random_bytes(5000, "png"), ROW, ("binary",))
    file("gzip-named-html", lambda t: gzip.compress(page(t)), ROW, ("binary", "undecodable"))
    file("nul-bytes", lambda t: page(t).replace(b"<p>", b"<p>\x00\x00\x00"), ANY, extract_refusals, fast=True)
    file("control-chars", lambda t: page(t).replace(b" ", b"\x01\x02 "), ANY, extract_refusals)
    file("oversize-6mb", lambda t: page(t, extra="<p>" + "filler words " * 500_000 + "</p>"), ROW,
         ("oversize",), fast=True)
    file("deep-nesting-100k", lambda t: page(t, extra="<div>" * 100_000 + "deep" + "</div>" * 100_000), ANY,
         extract_refusals, fast=True)
    file("deep-inline-50k", lambda t: page(t, extra="<b><i>" * 25_000 + "x" + "</i></b>" * 25_000), ANY,
         extract_refusals)
    file("unclosed-tags", lambda t: page(t, extra="<div><p><span><table><tr><td>" * 2000), ANY, extract_refusals)
    file("wide-table", lambda t: page(t, extra="<table>" + ("<tr>" + "<td>cell</td>" * 60 + "</tr>") * 3000
                                      + "</table>"), ANY, extract_refusals)
    file("latin1-undeclared", lambda t: page(t).replace(b"<meta charset='utf-8'>", b"")
         .replace(b"castle", "château".encode("latin-1")), DOC)
    file("mixed-encodings", lambda t: page(t).replace(b"river", "rivière".encode("latin-1"), 3)
         .replace(b"castle", "château".encode()), ANY, extract_refusals)
    file("utf16-bom", lambda t: "\ufeff".encode("utf-16-le") + page(t).decode().replace("utf-8", "utf-16")
         .encode("utf-16-le"), ANY, extract_refusals)
    file("utf16-no-bom", lambda t: page(t).decode().encode("utf-16-be"), ANY, extract_refusals)
    file("bogus-charset", lambda t: page(t).replace(b"charset='utf-8'", b"charset='x-no-such-charset'"), DOC)
    file("invalid-utf8", lambda t: page(t).replace(b"village", b"vill\xc3\x28ge\xff\xfe"), ANY, extract_refusals)
    file("surrogate-refs", lambda t: page(t, extra="<p>&#xD800;&#xDFFF;&#0;&#x110000; odd refs</p>"), ANY,
         extract_refusals)
    # trafilatura falls back on the <h1> when the <title> is absurd: a document, or the cap refuses it
    file("huge-title-2m", lambda t: page(t, title=t + "T" * 2_000_000), ANY, ("title_too_long",), fast=True)
    file("huge-description", lambda t: page(t, head=f"<meta name='description' content='{'d' * 50_000}'>"), ROW,
         ("field_too_long",))
    file("huge-anchor", lambda t: page(t, extra=f"<p>See <a href='/x'>{'anchor ' * 3000}</a> here.</p>"), ANY,
         ("field_too_long",))
    file("huge-href", lambda t: page(t, extra=f"<p>See <a href='/{'h' * 100_000}'>the link</a> now.</p>"), ANY,
         ("field_too_long",))
    file("link-flood", lambda t: page(t, extra="<p>" + "".join(f"<a href='/l{i}'>link {i}</a> " for i in range(30_000))
                                      + "</p>"), ANY, (*extract_refusals, "field_too_long"))
    file("script-only", lambda t: f"<html><body><script>var {t} = 1;{'x=1;' * 10000}</script></body></html>".encode(),
         ROW, ("no_content",))
    file("comment-bomb", lambda t: f"<html><body><!-- {t} {'c' * 2_000_000} --></body></html>".encode(), ROW,
         ("no_content",))
    file("entity-flood", lambda t: page(t, extra="<p>" + "&amp;&lt;&gt;&quot;" * 200_000 + "</p>"), ANY,
         extract_refusals)
    file("billion-laughs-xhtml", lambda t: (
        '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "aaaaaaaaaa">' + "".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + f']><html><body><p>{t} &j;</p></body></html>').encode(), ANY, extract_refusals)
    file("frameset", lambda t: f"<html><frameset><frame src='{t}'></frameset></html>".encode(), ROW, ("no_content",))
    file("one-word-4mb", lambda t: (t + "w" * 4_000_000).encode(), ANY, (*extract_refusals, "text_too_long"))
    file("rtl-zero-width", lambda t: page(t).replace(b"tower", "\u202e\u200b\u200dtower\u2066".encode()), DOC)
    file("plain-text-named-html", lambda t: prose(t, 40).encode(), DOC)
    file("nested-ordinary", lambda t: page(t), DOC, where=site / "nested" / "deeper")
    file("not-html-suffix", lambda t: page(t), ROW, ("not_html",), suffix=".txt", fast=True)
    file("no-suffix", lambda t: page(t), ROW, ("not_html",), suffix="")
    file("svg-named-html", lambda t: f"<svg xmlns='http://www.w3.org/2000/svg'><text>{t}</text></svg>".encode(),
         ANY, extract_refusals)

    def link(slug: str, make: Callable[[Path], None], reason: str, *, fast: bool = False) -> None:
        name = b.add(slug, "html", ROW, (reason,), fast=fast)
        if name:
            make(site / f"{name}.html")

    link("symlink-outside", lambda p: p.symlink_to(SECRET), "symlink_outside", fast=True)
    link("symlink-outside-dir", lambda p: p.symlink_to(outside), "symlink_outside")
    link("symlink-relative-escape", lambda p: p.symlink_to(os.path.relpath(SECRET, site)), "symlink_outside")
    link("dangling-symlink", lambda p: p.symlink_to(site / "no-such-file.html"), "dangling_symlink", fast=True)
    link("symlink-loop", lambda p: p.symlink_to(p), "symlink_loop", fast=True)
    link("symlink-to-directory", lambda p: p.symlink_to(site / "nested"), "symlink_to_directory")
    link("fifo", lambda p: os.mkfifo(p), "special_file", fast=True)

    def unix_socket(p: Path) -> None:
        # AF_UNIX paths are limited to ~107 bytes: bind from inside the directory with a short name
        here = os.getcwd()
        try:
            os.chdir(p.parent)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(p.name)
        finally:
            os.chdir(here)

    link("unix-socket", unix_socket, "special_file")
    name = b.add("non-utf8-name", "html", DOC)
    if name:
        with open(os.path.join(os.fsencode(site), name.encode() + b"-caf\xe9.html"), "wb") as handle:
            handle.write(page(name[:5]))
    b.source(site)
    empty = b.add("empty-directory", "html", ROW, ("empty_source",))
    if empty:
        (b.root / empty).mkdir()
        b.source(b.root / empty)


# --- JSON / JSONL / .jsonl.gz text corpora -------------------------------------------------------


def _record(token: str, **overrides: Any) -> dict:
    return {"title": f"Record {token}", "text": prose(token, 8), **overrides}


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _text_sources(b: _Builder) -> None:
    folder = b.root / "text"
    folder.mkdir()

    def corpus(slug: str, suffix: str, data: bytes | Callable[[str], bytes] | None, expect: str,
               reasons: tuple[str, ...] = (), *, fast: bool = False,
               write: Callable[[str, Path], None] | None = None) -> None:
        name = b.add(slug, "text", expect, reasons, fast=fast)
        if not name:
            return
        path = folder / f"{name}{suffix}"
        if write is not None:
            write(name[:5], path)
        else:
            path.write_bytes(data(name[:5]) if callable(data) else data or b"")
        b.source(path)

    corpus("ordinary", ".jsonl", lambda t: _jsonl([_record(t), _record(t, title=f"Second {t}")]), DOC, fast=True)
    corpus("empty", ".jsonl", b"", ROW, ("empty_source",), fast=True)
    corpus("blank-lines", ".jsonl", b"\n \n\t\n" * 10_000, ROW, ("empty_source",))
    corpus("random-bytes", ".jsonl", lambda t: _random_bytes(30_000, t), ROW, ("invalid_json",), fast=True)
    corpus("raw-nul-bytes", ".jsonl", lambda t: _jsonl([_record(t)]).replace(b'"text"', b'"te\x00xt"'), ROW,
           ("invalid_json",))
    corpus("escaped-nul", ".jsonl", lambda t: _jsonl([_record(t, text=prose(t) + "\u0000\u0001 nul")]), ANY)
    corpus("huge-title-1m", ".jsonl", lambda t: _jsonl([_record(t), _record(t, title=t + "t" * 1_000_000)]), MIXED,
           ("title_too_long",), fast=True)
    corpus("huge-text-3m", ".jsonl", lambda t: _jsonl([_record(t, text=t + " " + "word " * 600_000)]), ROW,
           ("text_too_long",))
    corpus("huge-extra-field", ".jsonl", lambda t: _jsonl([_record(t, meta="m" * 5_000_000)]), DOC)
    corpus("title-not-string", ".jsonl", lambda t: _jsonl([_record(t, title=12345)]), ROW, ("invalid_record",))
    corpus("empty-title", ".jsonl", lambda t: _jsonl([_record(t, title="  ")]), ROW, ("invalid_record",))
    corpus("null-records", ".ndjson", lambda t: f"null\n1\n\"{t}\"\n[]\n".encode(), ROW, ("invalid_record",))
    corpus("text-of-objects", ".jsonl", lambda t: _jsonl([_record(t, text=[{"p": prose(t)}, [1, 2]])]), ANY)
    corpus("deep-nesting", ".jsonl", lambda t: (f'{{"title": "{t}", "text": ' + "[" * 200_000 + "\n").encode(), ROW,
           ("invalid_json",))
    corpus("lone-surrogates", ".jsonl", lambda t: f'{{"title": "{t} \\ud800", "text": "x \\udfff"}}\n'.encode(),
           ROW, ("invalid_record",))
    corpus("latin1-bytes", ".jsonl", lambda t: _jsonl([_record(t)]).replace(b"river", "rivi\xe8re".encode("latin-1")),
           ROW, ("invalid_json",))
    corpus("utf8-bom", ".jsonl", lambda t: b"\xef\xbb\xbf" + _jsonl([_record(t)]), ANY, ("invalid_json",))
    # the first line, up to the newline's first byte, is whole UTF-16 with its BOM: json reads it
    corpus("utf16", ".jsonl", lambda t: _jsonl([_record(t)]).decode().encode("utf-16"), ANY, ("invalid_json",))
    corpus("crlf-lines", ".jsonl", lambda t: _jsonl([_record(t), _record(t, title=f"B {t}")]).replace(b"\n", b"\r\n"),
           DOC)
    corpus("mixed-good-bad", ".jsonl", lambda t: _jsonl([_record(t)]) + b"{broken\n" + _jsonl([_record(t, title="Z")]),
           MIXED, ("invalid_json",), fast=True)
    corpus("array", ".json", lambda t: json.dumps([_record(t), "not an object", _record(t, title="")]).encode(), MIXED,
           ("invalid_record",))
    corpus("array-truncated", ".json", lambda t: json.dumps([_record(t)] * 3).encode()[:-40], ROW, ("invalid_json",))
    corpus("gz-ordinary", ".jsonl.gz", lambda t: gzip.compress(_jsonl([_record(t)])), DOC)
    corpus("gz-truncated", ".jsonl.gz", lambda t: gzip.compress(_jsonl(
        [_record(t, title=f"{t} {i}", text=prose(t, 40, i)) for i in range(300)]), 1)[:40_000], MIXED, ("read_error",),
           fast=True)
    corpus("gz-bad-block", ".jsonl.gz", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 500, ROW,
           ("read_error",))
    corpus("gz-not-gzip", ".jsonl.gz", lambda t: _jsonl([_record(t)]), ROW, ("read_error",), fast=True)
    corpus("gz-crc-mismatch", ".jsonl.gz", lambda t: (lambda z: z[:-8] + b"\0\0\0\0" + z[-4:])(
        gzip.compress(_jsonl([_record(t)]))), ANY, ("read_error",))
    # one gigabyte in one line, in both settings: a reader that stops at max_record_bytes reads 64 MiB of
    # it (the bomb costs 3 s to build), one that reads it whole is far over the memory bound
    corpus("gz-bomb-zeros", ".jsonl.gz", None, ROW, ("record_too_large",), fast=True,
           write=lambda t, p: _gzip_stream(p, t.encode() + b"0" * 59, 2**30))
    # half a gigabyte of blank lines, then one good record: skipped at C speed, the record still read
    corpus("gz-bomb-newlines", ".jsonl.gz", None, DOC,
           write=lambda t, p: _gzip_stream(p, b"\n", 2**29, _jsonl([_record(t)])))
    corpus("line-80mb", ".jsonl", lambda t: json.dumps(_record(t, text="y " * 40_000_000)).encode() + b"\n", ROW,
           ("record_too_large",))


# --- WARC archives -------------------------------------------------------------------------------


def _warc(records: list[tuple[str, int, str, bytes]], *, gzip_members: bool, extra: Callable | None = None) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip_members)
    for url, status, ctype, body in records:
        headers = StatusAndHeaders(f"{status} X", [("Content-Type", ctype)], protocol="HTTP/1.1")
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
        if extra is not None:
            extra(record)
        writer.write_record(record)
    return out.getvalue()


def _warc_sources(b: _Builder) -> None:
    folder = b.root / "warc"
    folder.mkdir()

    def archive(slug: str, suffix: str, make: Callable[[str], bytes], expect: str, reasons: tuple[str, ...] = (),
                *, fast: bool = False) -> None:
        name = b.add(slug, "warc", expect, reasons, fast=fast)
        if name:
            path = folder / f"{name}{suffix}"
            path.write_bytes(make(name[:5]))
            b.source(path)

    def url(t: str, i: int = 0) -> str:
        return f"http://warc.test/{t}/{i}"

    def big(t: str) -> bytes:  # incompressible enough that half the file is half the record
        return page(t, extra="".join(f"<p>{prose(t, 30, i)}</p>" for i in range(300)))

    archive("ordinary", ".warc.gz", lambda t: _warc([(url(t), 200, "text/html", page(t))], gzip_members=True), DOC,
            fast=True)
    archive("mixed-statuses", ".warc", lambda t: _warc([
        (url(t, 0), 200, "text/html; charset=utf-8", page(t)),
        (url(t, 1), 404, "text/html", b"not found"),
        (url(t, 2), 200, "image/png", b"\x89PNG\r\n\x1a\n"),
    ], gzip_members=False), MIXED, ("http_404", "content_type"))
    archive("truncated-gz-record", ".warc.gz", lambda t: (lambda d: d[: len(d) // 2])(
        _warc([(url(t), 200, "text/html", big(t))], gzip_members=True)), ROW, ("warc_truncated", "warc_error"),
            fast=True)
    archive("truncated-plain-record", ".warc", lambda t: (lambda d: d[: len(d) // 2])(
        _warc([(url(t), 200, "text/html", big(t))], gzip_members=False)), ROW, ("warc_truncated", "warc_error"),
            fast=True)

    def liar(t: str) -> bytes:
        data = _warc([(url(t), 200, "text/html", page(t))], gzip_members=False)
        length = data.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]
        return data.replace(b"Content-Length: " + length, b"Content-Length: " + str(int(length) + 100_000).encode(), 1)

    archive("content-length-past-eof", ".warc", liar, ROW, ("warc_truncated", "warc_error"), fast=True)
    archive("second-record-truncated", ".warc.gz", lambda t: (lambda d: d[: len(d) - 2000])(
        _warc([(url(t, 0), 200, "text/html", page(t)), (url(t, 1), 200, "text/html", big(t))], gzip_members=True)),
            MIXED, ("warc_truncated", "warc_error"))
    archive("garbage", ".warc", lambda t: f"{t} this is not an archive\n".encode() * 100, ROW, ("warc_error",),
            fast=True)
    archive("random-bytes", ".warc.gz", lambda t: _random_bytes(10_000, t), ROW, ("warc_error",))
    archive("empty", ".warc", lambda t: b"", ROW, ("empty_source",))
    archive("oversize-record", ".warc.gz", lambda t: _warc([(url(t), 200, "text/html",
                                                             page(t, extra="<p>" + "z " * 3_000_000 + "</p>"))],
                                                           gzip_members=True), ROW, ("oversize",))

    def bad_date(record: Any) -> None:
        record.rec_headers.replace_header("WARC-Date", "yesterday-ish")

    archive("bad-date", ".warc.gz", lambda t: _warc([(url(t), 200, "text/html", page(t))], gzip_members=True,
                                                    extra=bad_date), ROW, ("warc_record_error",))
    archive("nul-body", ".warc", lambda t: _warc([(url(t), 200, "text/html", b"\x00" * 50_000)], gzip_members=False),
            ROW, ("binary",))

    def encoded_bomb(t: str) -> bytes:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter

        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = compressor.compress(b"<p>" + t.encode() + b" " * (60 * 2**20)) + compressor.flush()
        out = io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                                   protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url(t), "response", payload=io.BytesIO(bomb),
                                                      http_headers=headers))
        return out.getvalue()

    archive("content-encoding-bomb", ".warc.gz", encoded_bomb, ROW, ("oversize",))

    def only_requests(t: str) -> bytes:
        from warcio.warcwriter import WARCWriter

        out = io.BytesIO()
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warc_record(url(t), "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
        return out.getvalue()

    archive("no-responses", ".warc.gz", only_requests, ROW, ("empty_source",))


# --- MediaWiki XML dumps -----------------------------------------------------------------------


_DUMP_HEAD = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
  <siteinfo>
    <sitename>Wikipedia</sitename><dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base><generator>MediaWiki 1.27</generator>
    <case>first-letter</case>
    <namespaces><namespace key="0" case="first-letter" /><namespace key="1" case="first-letter">Talk</namespace>
    </namespaces>
  </siteinfo>
"""


def _dump_page(title: str, text: str, *, ns: int = 0, pid: int = 1, redirect: str | None = None) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    redirect_tag = f'<redirect title="{redirect}" />' if redirect else ""
    return (f"  <page><title>{title}</title><ns>{ns}</ns><id>{pid}</id>{redirect_tag}<revision><id>{pid}0</id>"
            f"<timestamp>2016-01-01T00:00:00Z</timestamp><model>wikitext</model><format>text/x-wiki</format>"
            f'<text xml:space="preserve">{escaped}</text></revision></page>\n')


def _dump(pages: list[str], head: str = "") -> bytes:
    return (head + _DUMP_HEAD + "".join(pages) + "</mediawiki>\n").encode()


def _article(t: str, i: int = 0) -> str:
    return f"'''{t} article {i}''' is a [[river]] in the [[valley]].\n\n" + prose(t, 10, i)


def _wikidump_sources(b: _Builder) -> None:
    folder = b.root / "wiki"
    folder.mkdir()

    def dump(slug: str, suffix: str, make: Callable[[str], bytes], expect: str, reasons: tuple[str, ...] = (),
             *, fast: bool = False) -> None:
        name = b.add(slug, "wikidump", expect, reasons, fast=fast)
        if name:
            path = folder / f"{name}{suffix}"
            path.write_bytes(make(name[:5]))
            b.source(path)

    dump("ordinary", ".xml", lambda t: _dump([_dump_page(f"Page {t}", _article(t)),
                                              _dump_page(f"Talk:{t}", "talk", ns=1, pid=2),
                                              _dump_page(f"Alias {t}", "#REDIRECT [[Page]]", pid=3)]), MIXED,
         ("not_article",), fast=True)
    # bz2 works in blocks of 900 kB: three of them, cut in the last
    dump("bz2-truncated", ".xml.bz2", lambda t: (lambda d: d[: len(d) * 5 // 6])(bz2.compress(_dump(
        [_dump_page(f"P{i} {t}", _article(t, i) + prose(t, 200, i), pid=i + 1) for i in range(150)]))), MIXED,
         ("wikidump_error",), fast=True)
    dump("malformed-xml", ".xml", lambda t: _dump([_dump_page(f"Ok {t}", _article(t))])[:-len(b"</mediawiki>\n")]
         + b"<page><title>x</tit", MIXED, ("wikidump_error",))
    dump("bz2-garbage", ".xml.bz2", lambda t: _random_bytes(5000, t), ROW, ("unknown_source",))
    dump("not-mediawiki", ".xml", lambda t: f"<rss><channel><title>{t}</title></channel></rss>".encode(), ROW,
         ("unknown_source",))
    dump("huge-title-1m", ".xml", lambda t: _dump([_dump_page(f"Fine {t}", _article(t)),
                                                   _dump_page(t + "T" * 1_000_000, _article(t, 1), pid=2)]), MIXED,
         ("title_too_long",), fast=True)
    dump("huge-wikitext", ".xml.bz2", lambda t: bz2.compress(_dump([_dump_page(f"Big {t}", _article(t) + " x" * 4_000_000)])),
         ROW, ("oversize",))
    dump("template-bomb", ".xml", lambda t: _dump([_dump_page(f"Tpl {t}", _article(t) + "{{" * 50_000 + "}}" * 50_000)]),
         ANY, ("no_content", "extraction_error", "timeout"))
    dump("billion-laughs", ".xml", lambda t: _dump(
        [_dump_page(f"Lol {t}", "&lol9;")],
        head='<?xml version="1.0"?>\n<!DOCTYPE mediawiki [<!ENTITY lol "lol">' + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
        + "]>\n").replace(b"&amp;lol9;", b"&lol9;"), ROW, ("wikidump_error",))
    dump("external-entity", ".xml", lambda t: _dump(
        [_dump_page(f"Xxe {t}", "&xxe;")],
        head=f'<?xml version="1.0"?>\n<!DOCTYPE mediawiki [<!ENTITY xxe SYSTEM "file://{SECRET}">]>\n')
         .replace(b"&amp;xxe;", b"&xxe;"), ROW, ("wikidump_error",), fast=True)
    dump("no-pages", ".xml", lambda t: _dump([]).replace(b"<sitename>", f"<sitename>{t}".encode()), ROW,
         ("empty_source",))


# --- ZIM archives ------------------------------------------------------------------------------


def _zim_sources(b: _Builder) -> None:
    from libzim.writer import Creator, Hint, Item, StringProvider

    folder = b.root / "zim"
    folder.mkdir()

    class _Item(Item):
        def __init__(self, path: str, mimetype: str, content: bytes) -> None:
            super().__init__()
            self.path, self.mimetype, self.content = path, mimetype, content

        def get_path(self) -> str:
            return self.path

        def get_title(self) -> str:
            return self.path.rsplit("/", 1)[-1]

        def get_mimetype(self) -> str:
            return self.mimetype

        def get_contentprovider(self) -> StringProvider:
            return StringProvider(self.content)

        def get_hints(self) -> dict:
            return {Hint.FRONT_ARTICLE: self.mimetype.startswith("text/html")}

    def write(path: Path, items: list[tuple[str, str, bytes]]) -> bytes:
        creator = Creator(path).config_indexing(False, "eng").config_verbose(False)
        with creator:
            for entry in items:
                creator.add_item(_Item(*entry))
        return path.read_bytes()

    def archive(slug: str, make: Callable[[str, Path], None], expect: str, reasons: tuple[str, ...] = (), *,
                fast: bool = False) -> None:
        name = b.add(slug, "zim", expect, reasons, fast=fast)
        if name:
            path = folder / f"{name}.zim"
            make(name[:5], path)
            b.source(path)

    archive("ordinary", lambda t, p: write(p, [("A/One", "text/html", page(t)), ("I/logo.png", "image/png", b"\x89PNG")]),
            DOC, fast=True)

    def truncated(t: str, p: Path) -> None:
        data = write(p, [(f"A/{i}", "text/html", page(t, extra=prose(t, 50, i))) for i in range(20)])
        p.write_bytes(data[: len(data) // 2])

    archive("truncated", truncated, ROW, ("zim_error",), fast=True)
    archive("garbage", lambda t, p: p.write_bytes(f"<html>{t} not an archive</html>".encode()), ROW, ("zim_error",))
    archive("empty-file", lambda t, p: p.write_bytes(b""), ROW, ("zim_error",))
    archive("oversize-article", lambda t, p: write(p, [("A/Big", "text/html", page(t, extra="<p>" + "q " * 3_000_000
                                                                                         + "</p>"))]),
            ROW, ("oversize",))
    archive("binary-article", lambda t, p: write(p, [("A/Bin", "text/html", t.encode() + _random_bytes(20_000, t))]),
            ROW, ("binary", "undecodable", "no_content"))
    archive("assets-only", lambda t, p: write(p, [("I/x.png", "image/png", t.encode())]), ROW, ("empty_source",))


# --- crawl traps ---------------------------------------------------------------------------------


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", ctype: str | None = "text/html",
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    if ctype:
        handler.send_header("Content-Type", ctype)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _redirect(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: _send(h, 302, b"", None, {"Location": location})


def _html_reply(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: _send(h, 200, body, "text/html; charset=utf-8")


def _slow(seconds: float) -> Callable[[BaseHTTPRequestHandler], None]:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        _send(handler, 200, b"<p>late</p>")
    return reply


def _drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    for _ in range(100):  # one byte every 300 ms: never done within the crawl's deadline
        handler.wfile.write(b"<")
        handler.wfile.flush()
        time.sleep(0.3)


def _endless(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    chunk = b"<p>" + b"endless " * 8000 + b"</p>"
    for _ in range(100_000):  # until the crawler hangs up (some 6 GB at most)
        handler.wfile.write(chunk)


def _gzip_bomb(token: str) -> Callable[[BaseHTTPRequestHandler], None]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = compressor.compress(b"<p>" + token.encode() + b" " * (200 * 2**20)) + compressor.flush()
    return lambda h: _send(h, 200, bomb, "text/html", {"Content-Encoding": "gzip"})


def _hang_up(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def _short_body(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"<p>only this much</p>")
    handler.close_connection = True


def _header_flood(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    for i in range(2000):
        handler.send_header(f"X-Flood-{i}", "v" * 200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


def _crawl_traps(b: _Builder, internal_port: int) -> None:
    routes = b.corpus.routes
    index = b.add("index", "crawl", DOC, fast=True)  # the seed: links to every trap
    links: list[str] = []
    Handlers = dict[str, Callable[[BaseHTTPRequestHandler], None]]

    def trap(slug: str, expect: str, reasons: tuple[str, ...], make: Callable[[str], Handlers], *,
             fast: bool = False, linked: tuple[str, ...] = ("",)) -> None:
        """`make(path)` gives the trap's routes under its own path, built only when the trap is in."""
        name = b.add(slug, "crawl", expect, reasons, fast=fast)
        if name:
            routes.update({f"/{name}{sub}": handler for sub, handler in make(f"/{name}").items()})
            links.extend(f"/{name}{sub}" for sub in linked)

    def token(path: str) -> str:
        return path[1:6]

    trap("ordinary", DOC, (), lambda p: {"": _html_reply(page(token(p)))})
    trap("redirect-loop-linked", ROW, ("redirect_loop",),
         lambda p: {"/a": _redirect(f"{p}/b"), "/b": _redirect(f"{p}/a")}, linked=("/a", "/b"), fast=True)
    trap("self-redirect", ROW, ("redirect_loop",), lambda p: {"": _redirect(p)})
    trap("redirect-chain", ROW, ("too_many_redirects",),
         lambda p: {f"/{i}": _redirect(f"{p}/{i + 1}") for i in range(20)}, linked=("/0",))
    trap("slow-response", ROW, ("timeout",), lambda p: {"": _slow(30.0)}, fast=True)
    trap("slow-drip", ROW, ("timeout",), lambda p: {"": _drip})
    # cut at max_bytes, or at the deadline when a busy machine reads it slower than 5 MiB in timeout_s
    trap("endless-body", ROW, ("oversize", "timeout"), lambda p: {"": _endless}, fast=True)
    trap("redirect-to-metadata-ip", ROW, ("address_refused",),
         lambda p: {"": _redirect("http://169.254.169.254/latest/meta-data/")}, fast=True)
    trap("redirect-to-private-net", ROW, ("address_refused",), lambda p: {"": _redirect("http://10.0.0.1/admin")})
    # the crawled site is exempt on its own port only: the same host's other services stay out of reach
    trap("redirect-to-other-local-port", ROW, ("address_refused",),
         lambda p: {"": _redirect(f"http://127.0.0.1:{internal_port}/secret")}, fast=True)
    trap("redirect-to-localhost-name", ROW, ("address_refused",),
         lambda p: {"": _redirect(f"http://localhost:{internal_port}/secret")})
    trap("link-flood", DOC, ("http_404",), lambda p: {"": _html_reply(page(token(p), extra="".join(
        f"<a href='{p}/{i}'>flood {i}</a> " for i in range(5000))))})
    trap("server-error", ROW, ("http_500",), lambda p: {"": lambda h: _send(h, 500, b"oops")})
    trap("not-html", ROW, ("content_type",), lambda p: {"": lambda h: _send(h, 200, b"\x89PNG", "image/png")})
    trap("gzip-bomb", ROW, ("oversize", "decoding_error"), lambda p: {"": _gzip_bomb(token(p))}, fast=True)
    trap("invalid-location", ROW, ("invalid_url",), lambda p: {"": _redirect("http://[::1")})
    trap("redirect-to-ftp", ROW, ("invalid_url",), lambda p: {"": _redirect("ftp://files.example/x")})
    trap("dropped-connection", ROW, ("connection_error",), lambda p: {"": _hang_up})
    trap("short-body", ROW, ("connection_error",), lambda p: {"": _short_body})
    trap("header-flood", ROW, ("connection_error",), lambda p: {"": _header_flood})
    trap("huge-title", ANY, ("title_too_long",), lambda p: {"": _html_reply(page(token(p), title="T" * 20_000))})
    trap("binary-as-html", ROW, ("binary", "undecodable", "no_content"),
         lambda p: {"": _html_reply(token(p).encode() + _random_bytes(30_000, "crawl-binary"))})
    if index:
        routes[f"/{index}/"] = _html_reply(page(index[:5], extra="".join(f"<a href='{href}'>{href}</a> "
                                                                         for href in links)))
        b.corpus.crawl_seed_path = f"/{index}/"

# crawl settings for the traps: no retries, a deadline the slow traps outlast (and that the other
# requests meet on a busy two-core machine while other sources are read in the same process); the trap
# site is exempt from the address policy on its own port only, and the private addresses it redirects to
# are in scope, so that the address policy (not the scope rule) is what refuses them
TRAP_CRAWL = {
    "max_depth": 2, "max_pages": 80, "timeout_s": 10.0, "retries": 0, "rate_per_host": 500.0,
    "per_host_concurrency": 8, "concurrency": 16, "allow_private": False,
    "allowed_hosts": ["169.254.169.254", "10.0.0.1", "localhost"],
}


# --- the corpus -----------------------------------------------------------------------------------


def build(root: Path, *, full: bool, internal_port: int) -> Corpus:
    """Write every input of the setting under `root`; crawl traps go to `Corpus.routes` (serve them with
    `TrapSite`, then add `TrapSite.url + crawl_seed_path` to the sources). `internal_port` is a port on
    127.0.0.1 that a trap redirects to and that the crawl must never reach."""
    b = _Builder(root, full)
    _html_dir(b)
    _text_sources(b)
    _warc_sources(b)
    _wikidump_sources(b)
    _zim_sources(b)
    _crawl_traps(b, internal_port)
    return b.corpus


class TrapSite:
    """A threaded HTTP server on 127.0.0.1 serving `routes` (404 elsewhere), counting hits per path."""

    def __init__(self, routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]) -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.hits.append(self.path)
                handler = routes.get(self.path)
                try:
                    if handler is None:
                        _send(self, 404, b"not found", "text/plain")
                    else:
                        handler(self)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
