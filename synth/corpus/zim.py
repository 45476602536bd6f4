"""Kiwix ZIM archives as a source: HTML articles become pages, redirect entries become alias rows.

A ZIM file (Kiwix's offline Wikipedia, Wiktionary, Stack Exchange...) is a compressed store of
entries, each a path with either content (an item with a mimetype) or a redirect to another path.
`read_zim` walks the entries one by one, so a 100 GB Wikipedia never sits in memory; libzim
decompresses one cluster at a time.

URLs. An entry's URL is a base plus its (percent-encoded) path, so that the hrefs inside an article,
joined to its URL the way the extractor joins every page's hrefs, land on other entries' URLs:

- when the archive's `Source` metadata is an absolute http(s) URL, that is the base (the site the
  entries were taken from, its paths laid out as on the site); root-relative hrefs such as
  `/wiki/Estavia` and absolute links back to the site then resolve to entries as well;
- otherwise the archive's own file URI is the base: `file:///data/wikipedia_en.zim/A/Aldra`. Relative
  hrefs (what Kiwix's scrapers write) resolve between entries; a root-relative href would leave the
  archive (`file:///wiki/...`), since a file path cannot be a URL's root.

Only HTML articles are input. Images, stylesheets, scripts and the archive's own listings are its
assets: counted in `stats`, not rows. An article that cannot be read or is too large, and an archive
that cannot be opened, are quarantine rows (stage "read") with a reason, never an exception.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from libzim.reader import Archive, Entry

from drsynth.synth.corpus.local_sources import HTML_TYPES, STAGE
from drsynth.synth.corpus.records import (
    QUARANTINE_SAMPLE_BYTES,
    page_record,
    quarantine_record,
    redirect_record,
)

log = logging.getLogger(__name__)

Row = tuple[str, dict]

# the same literal set the graph's URL normalization keeps (RFC 3986 pchar and "/"), so an entry URL is
# already in the spelling a link to it normalizes to
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# libzim refuses a truncated file at open; an archive that fails entry after entry anyway (a disk going
# bad under it) stops with one row past this many failures in a row instead of writing millions. One
# corrupt cluster (a few MB: hundreds of small articles) stays well under it.
MAX_CONSECUTIVE_ERRORS = 10_000


def _text(value: object) -> str:
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace")


def _metadata(archive: Archive, name: str) -> str | None:
    try:
        if name not in archive.metadata_keys:
            return None
        return bytes(archive.get_metadata(name)).decode("utf-8", "replace").strip() or None
    except (RuntimeError, KeyError, ValueError):  # metadata is a nicety: a damaged entry costs nothing
        return None


def archive_base_url(archive: Archive, path: Path) -> str:
    """What entry paths are joined to: the `Source` site when it is an http(s) URL, else the file URI."""
    source = _metadata(archive, "Source")
    if source:
        parts = urlsplit(source)
        if parts.scheme.lower() in ("http", "https") and parts.netloc:
            # Source names the directory the entries were taken from ("https://en.wikipedia.org/wiki/"
            # for articles stored as "Aldra"); a page in it counts as its directory
            return urljoin(urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", "", "")), ".")
    return path.as_uri() + "/"


def entry_url(base: str, entry_path: str) -> str:
    return base + quote(entry_path.lstrip("/"), safe=_PATH_SAFE)


def _archive_date(archive: Archive, path: Path) -> datetime:
    """When the archive's content was taken: its `Date` metadata (YYYY-MM-DD), else the file's mtime."""
    date = _metadata(archive, "Date")
    if date:
        try:
            return datetime.fromisoformat(date[:10]).replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def read_zim(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = 5 * 2**20,
    base_url: str | None = None,
    stats: Counter[str] | None = None,
) -> Iterator[Row]:
    """Every user entry of a ZIM archive, in index order: HTML items -> pages, redirects -> redirects
    (status None: an alias list, not an HTTP hop); other mimetypes are counted in `stats` as
    `skipped.<mimetype>`. `base_url` overrides the URL base (see the module docstring)."""
    counts = stats if stats is not None else Counter()
    resolved = Path(path).resolve()
    source = _text(resolved)
    try:
        archive = Archive(resolved)
        total = archive.entry_count
        base = (base_url.rstrip("/") + "/") if base_url else archive_base_url(archive, resolved)
        fetched_at = _archive_date(archive, resolved)
    except (RuntimeError, OSError, ValueError) as exc:
        counts["quarantine"] += 1
        yield "quarantine", quarantine_record(stage=STAGE, reason="zim_error", source=source,
                                              detail=f"cannot open archive: {type(exc).__name__}: {exc}")
        return
    failures = 0
    for index in range(total):
        counts["entries"] += 1
        where = f"{resolved.as_uri()}#entry={index}"  # until the entry's own path is known
        try:
            # libzim's only access by position; user entries (no metadata, listings, indexes) come first
            entry = archive._get_entry_by_id(index)
            where = entry_url(base, entry.path)
            dataset, row = _entry_row(entry, where, base, source, fetched_at, max_bytes, counts)
        except (RuntimeError, KeyError, IndexError, OSError, ValueError, UnicodeError) as exc:
            failures += 1
            counts["quarantine"] += 1
            yield "quarantine", quarantine_record(
                stage=STAGE, reason="zim_error", source=where,
                detail=f"entry {index} of {total} unreadable: {type(exc).__name__}: {exc}",
            )
            if failures >= MAX_CONSECUTIVE_ERRORS:
                counts["quarantine"] += 1
                yield "quarantine", quarantine_record(
                    stage=STAGE, reason="zim_error", source=source,
                    detail=f"stopped at entry {index} of {total} after {failures} unreadable entries in a row: "
                           "the rest was not read",
                )
                break
            continue
        failures = 0
        if dataset:
            counts[dataset] += 1
            yield dataset, row
    log.info("read %s: %s", source, dict(counts))


def _entry_row(entry: Entry, url: str, base: str, source: str, fetched_at: datetime, max_bytes: int,
               counts: Counter[str]) -> tuple[str, dict]:
    """("pages"|"redirects"|"quarantine", row), or ("", {}) for an asset that is no input."""
    if entry.is_redirect:
        target = entry.get_redirect_entry()  # one hop: a chain becomes rows the graph joins up
        row = redirect_record(url=url, target=entry_url(base, target.path), status=0, source=source)
        # no status: not an HTTP hop but an alias the archive declares, which the graph merges
        return "redirects", {**row, "status": None}
    item = entry.get_item()
    mimetype = item.mimetype or ""
    if mimetype.split(";")[0].strip().lower() not in HTML_TYPES:
        counts[f"skipped.{mimetype or '(none)'}"] += 1
        return "", {}
    size = item.size
    if size > max_bytes:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="oversize", source=url, input=bytes(item.content[:QUARANTINE_SAMPLE_BYTES]),
            detail=f"{size} bytes > max_bytes {max_bytes}",
        )
    return "pages", page_record(url=url, body=bytes(item.content), content_type=mimetype, source=source,
                                source_kind="zim", fetched_at=fetched_at)
