"""MediaWiki XML dumps (what users download from dumps.wikimedia.org) as a source.

mwxml streams the dump page by page (`.xml`, `.xml.bz2`, `.xml.gz`), so memory holds one page
whatever the dump's size. Main-namespace articles become `pages` rows whose body is a JSON record
(content type WIKITEXT_RECORD_TYPE) that the extractor turns into a document through
synth.corpus.wikitext. `#REDIRECT` pages become `redirects` rows with no status: an alias list, which
the graph merges into the target's entity, the redirect's title becoming an alias. Pages of other
namespaces become quarantine rows (`not_article`).

A damaged dump (a cut archive, malformed XML, a reader exception) keeps what was read before the
damage, adds a `wikidump_error` quarantine row and stops reading that file.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import mwxml

from drsynth.synth.corpus.limits import RecordLimits
from drsynth.synth.corpus.local_sources import STAGE, _text
from drsynth.synth.corpus.records import (
    QUARANTINE_SAMPLE_BYTES,
    page_record,
    quarantine_record,
    redirect_record,
)
from drsynth.synth.corpus.wikitext import WIKITEXT_RECORD_TYPE, article_prefix, normalize_title, title_url

Row = tuple[str, dict]

DUMP_SUFFIXES = (".xml", ".xml.bz2", ".xml.gz")
# older dumps lack the <redirect title> element; the magic word then names the target
_REDIRECT = re.compile(r"^\s*#redirect\s*:?\s*\[\[([^\]|]+)", re.IGNORECASE)
_ROOT = re.compile(rb"<mediawiki[\s>]")


def open_dump(path: str | os.PathLike[str]) -> IO[bytes]:
    name = os.fspath(path).lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def is_wikidump(path: str | os.PathLike[str]) -> bool:
    """Whether the file opens as a MediaWiki export: its root element is <mediawiki>."""
    try:
        with open_dump(path) as handle:
            head = handle.read(4096)
    except (OSError, EOFError, ValueError):
        return False
    return bool(_ROOT.search(head))


def read_wikidump(path: str | os.PathLike[str], *, lang: str | None = None,
                  max_bytes: int | None = None, max_title_chars: int = RecordLimits.max_title_chars) -> Iterator[Row]:
    """Stream a dump's pages as ("pages" | "redirects" | "quarantine", row) pairs.

    `lang` overrides the language the dump declares (`xml:lang` of its root, else its dbname's
    prefix); an article whose record would exceed `max_bytes` is quarantined (`oversize`), a page
    (redirects included: a redirect's title becomes an alias) whose title is over `max_title_chars`
    too (`title_too_long`).
    """
    resolved = Path(path).resolve()
    source = _text(resolved)
    read = 0
    try:
        with open_dump(resolved) as handle:
            dump = mwxml.Dump.from_file(handle)
            info = dump.site_info
            base = getattr(info, "base", None) or ""
            prefix = article_prefix(base)
            dump_lang = lang or _dump_lang(info)
            for page in dump:
                row = _page_row(page, prefix, base, dump_lang, source, max_bytes, max_title_chars)
                read += 1
                if row is not None:
                    yield row
    except Exception as exc:  # any reader failure ends this file, never the run
        yield "quarantine", quarantine_record(
            stage=STAGE, reason="wikidump_error", source=source,
            detail=f"{type(exc).__name__}: {exc} (after {read} pages; the rest of the file was not read)",
        )


def _dump_lang(info: Any) -> str | None:
    dbname = getattr(info, "dbname", None) or ""
    match = re.match(r"^([a-z]{2,3})(?:_[a-z]+)?wik", dbname)
    return match.group(1) if match else None


def _page_row(page: Any, prefix: str, base: str, lang: str | None, source: str,
              max_bytes: int | None, max_title_chars: int) -> Row | None:
    title = page.title or ""
    if len(title) > max_title_chars:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="title_too_long", source=f"{source}#page={page.id}",
            input=title[:QUARANTINE_SAMPLE_BYTES],
            detail=f"page {page.id}: title of {len(title)} characters > max_title_chars {max_title_chars}",
        )
    url = title_url(prefix, title) if prefix else f"{source}#title={title}"
    if page.namespace != 0:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="not_article", source=url,
            detail=f"namespace {page.namespace}: {title!r} is not a main-namespace article",
        )
    revision = None
    for rev in page:  # a history dump holds many; the last is the current text
        revision = rev
    text = (revision.text if revision is not None else None) or ""
    target = page.redirect
    if not target and (match := _REDIRECT.match(text)):
        target = match.group(1)
    if target:
        # a fragment names a section of the target, not another page: the redirect is an alias of the page
        target_title = target.partition("#")[0]
        row = redirect_record(url=url, target=title_url(prefix, normalize_title(target_title)), status=0,
                              source=source)
        return "redirects", {**row, "status": None}
    timestamp = revision.timestamp if revision is not None else None
    record = {
        "title": title,
        "wikitext": text,
        "page_id": page.id,
        "revision_id": revision.id if revision is not None else None,
        "timestamp": str(timestamp) if timestamp is not None else None,
        "base_url": base,
        "lang": lang,
    }
    body = json.dumps(record, ensure_ascii=False).encode("utf-8", "replace")
    if max_bytes is not None and len(body) > max_bytes:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="oversize", source=url, input=body, detail=f"record > max_bytes {max_bytes}",
        )
    # the revision's time: a rerun over the same dump makes the same rows
    fetched_at = datetime.fromtimestamp(int(timestamp.unix()), UTC) if timestamp is not None else None
    return "pages", page_record(url=url, body=body, content_type=WIKITEXT_RECORD_TYPE, source=source,
                                source_kind="wikidump", fetched_at=fetched_at)
