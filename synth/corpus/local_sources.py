"""Readers for sources already on disk: directories of HTML files, WARC files, JSON/JSONL text corpora.

Each reader streams ("pages", row) and ("quarantine", row) pairs, like the crawler, so the ingest
stage treats every kind of source alike. Nothing is dropped silently: a file or record that cannot be
used becomes a quarantine row (stage "read") saying why.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.limitreader import LimitReader

from drsynth.synth.corpus.limits import RecordLimits, oversized
from drsynth.synth.corpus.records import QUARANTINE_SAMPLE_BYTES, page_record, quarantine_record

STAGE = "read"
HTML_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
HTML_TYPES = ("text/html", "application/xhtml+xml")
# text corpus records travel as their own JSON, with a content type the extractor knows
TEXT_RECORD_TYPE = "application/x-drsynth-text+json"

Row = tuple[str, dict]


def _text(value: object) -> str:
    """A filesystem string safe to store: undecodable bytes in names become backslash escapes."""
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace")


class _NotRegular(OSError):
    """What an open found instead of a regular file (a FIFO swapped in after the listing)."""


def _read_capped(path: Path, max_bytes: int) -> tuple[bytes, int]:
    # O_NONBLOCK: opening a FIFO never waits for a writer; fstat then refuses anything but a file
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(f"{_file_kind(info.st_mode)}, not a regular file")
        return handle.read(max_bytes + 1), info.st_size


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "a special file"


def _entries(root: Path, errors: list[OSError]) -> list[Path]:
    """Every entry under `root` that is not a real directory, sorted; symlinked directories are entries
    too (never descended into: a link can lead out of the tree or round in a loop)."""
    found: list[Path] = []
    for here, dirs, files in os.walk(root, onerror=errors.append, followlinks=False):
        found.extend(Path(here, name) for name in files)
        found.extend(Path(here, name) for name in dirs if os.path.islink(os.path.join(here, name)))
    return sorted(found)


def _refusal(path: Path, root: Path) -> tuple[str, str] | None:
    """(reason, detail) for an entry that is no readable file inside `root`, else None. A symlink is
    followed only to a regular file inside the directory."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        try:
            followed = path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink_loop", f"symlink to {_text(target)} never reaches a file (a loop)"
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return "dangling_symlink", f"symlink to {_text(target)}, which does not exist"
            raise
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(root):
            return "symlink_outside", f"symlink to {_text(real)}, outside the source directory: not followed"
        if stat.S_ISDIR(followed.st_mode):
            return "symlink_to_directory", (f"symlink to the directory {_text(real)}: not followed, its files "
                                            "are read where they are")
        info = followed
    if not stat.S_ISREG(info.st_mode):
        return "special_file", f"{_file_kind(info.st_mode)}, not a regular file: not read"
    return None


def read_html_dir(directory: str | os.PathLike[str], *, max_bytes: int = 5 * 2**20) -> Iterator[Row]:
    """Every entry under `directory`, in sorted order: HTML files become pages; other files, symlinks
    that lead out of the directory, dangle or loop, FIFOs, sockets and devices become quarantine rows."""
    root = Path(directory).resolve()
    source = _text(root)
    errors: list[OSError] = []
    for path in _entries(root, errors):
        url = path.as_uri()
        try:
            refusal = _refusal(path, root)
            if refusal is None:
                body, size = _read_capped(path, max_bytes)
        except _NotRegular as exc:
            refusal = "special_file", f"{exc}: not read"
        except OSError as exc:
            yield "quarantine", quarantine_record(stage=STAGE, reason="read_error", source=url, detail=_text(exc))
            continue
        if refusal is not None:
            yield "quarantine", quarantine_record(stage=STAGE, reason=refusal[0], source=url, detail=refusal[1])
            continue
        if path.suffix.lower() not in HTML_SUFFIXES:
            yield "quarantine", quarantine_record(
                stage=STAGE, reason="not_html", source=url, input=body,
                detail=_text(f"{path.name}: suffix {path.suffix or '(none)'} is not one of {sorted(HTML_SUFFIXES)}"),
            )
            continue
        if size > max_bytes:
            yield "quarantine", quarantine_record(
                stage=STAGE, reason="oversize", source=url, input=body,
                detail=f"{size} bytes > max_bytes {max_bytes}",
            )
            continue
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        yield "pages", page_record(
            url=url, body=body, content_type="text/html", source=source, source_kind="html_dir", fetched_at=mtime
        )
    for exc in errors:  # a subdirectory that could not be listed
        where = Path(exc.filename).as_uri() if exc.filename else source
        yield "quarantine", quarantine_record(stage=STAGE, reason="read_error", source=where, detail=_text(exc))


def read_warc(path: str | os.PathLike[str], *, max_bytes: int = 5 * 2**20) -> Iterator[Row]:
    """HTTP responses from a WARC or WARC.gz file; requests, metadata and revisits are skipped.

    A truncated or corrupt archive keeps what was read before the damage and adds a `warc_error` row:
    warcio stops quietly at a cut gzip member, so the end of the last record is checked against the
    file's size. A response record whose bytes end before its Content-Length (a cut file, or a length
    that promises more than the file holds) is a `warc_truncated` row, never a page of what was there.
    """
    source = _text(Path(path).resolve())
    size, end = os.path.getsize(path), 0
    try:
        with open(path, "rb") as handle:
            records = ArchiveIterator(handle)
            arc = str(path).lower().endswith((".arc", ".arc.gz"))
            for record in records:
                if record.format != ("arc" if arc else "warc"):
                    # warcio reads any text as ARC lines; a .warc file that is not WARC is damaged
                    raise ValueError(f"expected {'ARC' if arc else 'WARC'} records, found {record.format!r}")
                if record.rec_type == "response":
                    yield _warc_response_or_reason(record, source, max_bytes, Path(path).name)
            records.read_to_end()
            end = records.offset  # just past the last record read, its trailing blank lines included
    except (ArchiveLoadFailed, OSError, ValueError, EOFError) as exc:
        yield "quarantine", quarantine_record(
            stage=STAGE, reason="warc_error", source=source, detail=f"{type(exc).__name__}: {exc}"
        )
        return
    if end < size:
        yield "quarantine", quarantine_record(
            stage=STAGE, reason="warc_error", source=source,
            detail=f"archive ends after byte {end} of {size}: truncated or corrupt, the rest was not read",
        )


def _warc_response_or_reason(record, source: str, max_bytes: int, name: str) -> Row:
    """One damaged record (a bad date, a garbled status line, a cut body) costs that record, not the archive."""
    url = _text(record.rec_headers.get_header("WARC-Target-URI") or source)
    try:
        body = record.content_stream().read(max_bytes + 1)
        missing = _missing_bytes(record)
        if missing:
            length = record.rec_headers.get_header("Content-Length")
            return "quarantine", quarantine_record(
                stage=STAGE, reason="warc_truncated", source=url, input=body,
                detail=f"{name}: the record ends {missing} bytes short of its Content-Length {length}: "
                       "truncated, not read as a page",
            )
        return _warc_response(record, url, body, source, max_bytes)
    except (ValueError, TypeError, UnicodeError, EOFError, zlib.error) as exc:
        return "quarantine", quarantine_record(stage=STAGE, reason="warc_record_error", source=url,
                                               detail=f"{name}: {type(exc).__name__}: {exc}")


def _missing_bytes(record) -> int:
    """How many bytes of the record's declared Content-Length the file did not hold (0: complete).

    The rest of the record is read (and dropped) to find out, as warcio would to reach the next one."""
    raw = record.raw_stream
    if not isinstance(raw, LimitReader):
        return 0
    while raw.limit > 0:
        if not raw.read(min(raw.limit, 2**20)):
            return raw.limit
    return 0


def _warc_response(record, url: str, body: bytes, source: str, max_bytes: int) -> Row:
    http = record.http_headers
    status = int(http.get_statuscode()) if http is not None else 200
    content_type = (http.get_header("Content-Type") if http is not None else None) or ""
    if status < 200 or status >= 300:
        return "quarantine", quarantine_record(
            stage=STAGE, reason=f"http_{status}", source=url, input=body, detail=f"archived response {status}"
        )
    if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="content_type", source=url, input=body, detail=f"content type {content_type!r}"
        )
    if len(body) > max_bytes:
        return "quarantine", quarantine_record(
            stage=STAGE, reason="oversize", source=url, input=body, detail=f"body > max_bytes {max_bytes}"
        )
    date = record.rec_headers.get_header("WARC-Date")
    fetched_at = datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None
    headers = dict(http.headers) if http is not None else {}
    headers.pop("Set-Cookie", None)
    return "pages", page_record(
        url=url, body=body, content_type=content_type, source=source, source_kind="warc",
        status=status, headers=headers, fetched_at=fetched_at,
    )


def read_text_corpus(path: str | os.PathLike[str], *, limits: RecordLimits | None = None) -> Iterator[Row]:
    """`{title, text}` records (text a string or a list of paragraphs) from a JSON array or a JSONL file
    (optionally gzipped). KILT's `{wikipedia_title, text: [...]}` is accepted too.

    Each record gets a stable URL, `file://<path>#title=<title>`, numbered when a title repeats. JSONL
    streams, a line at a time in bounded chunks; a JSON array is loaded whole, so give large corpora as
    JSONL. A record past a cap of `limits` is a quarantine row (title_too_long, text_too_long,
    record_too_large); a file that ends early or is no valid gzip keeps the records read before the
    damage and adds a `read_error` row naming the file.
    """
    limits = limits or RecordLimits()
    resolved = Path(path).resolve()
    source, base = _text(resolved), resolved.as_uri()
    seen: dict[str, int] = {}
    read = 0
    try:
        for position, record, error in _json_records(resolved, limits.max_record_bytes):
            where = f"{base}#record={position}"
            read += 1
            if error is not None:
                reason, detail, sample = error
                yield "quarantine", quarantine_record(stage=STAGE, reason=reason, source=where, input=sample,
                                                      detail=detail)
                continue
            try:
                yield _text_record(record, base, where, source, seen, limits)
            except UnicodeError as exc:  # lone surrogates from "\ud800" escapes, common in wiki dumps
                yield "quarantine", quarantine_record(stage=STAGE, reason="invalid_record", source=where,
                                                      detail=f"text is not valid Unicode: {exc}")
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        yield "quarantine", quarantine_record(
            stage=STAGE, reason="read_error", source=source,
            detail=f"{resolved.name}: {type(exc).__name__}: {exc} (after {read} records; the rest of the "
                   "file was not read)",
        )


def _text_record(record: object, base: str, where: str, source: str, seen: dict[str, int],
                 limits: RecordLimits) -> Row:
    title = record.get("title", record.get("wikipedia_title")) if isinstance(record, dict) else None
    text = record.get("text") if isinstance(record, dict) else None
    if isinstance(text, list):
        text = "\n\n".join(str(p) for p in text)
    if not isinstance(title, str) or not title.strip() or not isinstance(text, str):
        return "quarantine", quarantine_record(
            stage=STAGE, reason="invalid_record", source=where,
            input=json.dumps(record)[:4096].encode("utf-8", "backslashreplace"),
            detail="a record needs a non-empty string 'title' and a 'text' (string or list of strings)",
        )
    if refusal := oversized(title, text, limits):
        sample = (title if refusal[0] == "title_too_long" else text)[:QUARANTINE_SAMPLE_BYTES]
        return "quarantine", quarantine_record(stage=STAGE, reason=refusal[0], source=where, detail=refusal[1],
                                               input=sample.encode("utf-8", "backslashreplace"))
    body = json.dumps({"title": title, "text": text}, ensure_ascii=False).encode("utf-8")
    n = seen[title] = seen.get(title, 0) + 1
    url = f"{base}#title={quote(title, safe='')}" + (f"&n={n}" if n > 1 else "")
    return "pages", page_record(url=url, body=body, content_type=TEXT_RECORD_TYPE, source=source,
                                source_kind="text")


def _open(path: Path) -> gzip.GzipFile | io.BufferedReader:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


# (reason, detail, the start of the offending input)
RecordError = tuple[str, str, bytes]


def _json_records(path: Path, max_record_bytes: int) -> Iterator[tuple[int, object, RecordError | None]]:
    with _open(path) as handle:
        head = handle.read(64).lstrip()
    if head.startswith(b"["):
        with _open(path) as handle:
            data = handle.read(max_record_bytes + 1)
            if len(data) > max_record_bytes:
                yield 0, None, ("record_too_large", f"a JSON array is read whole and this one is over "
                                f"max_record_bytes {max_record_bytes}: give large corpora as JSONL",
                                data[:QUARANTINE_SAMPLE_BYTES])
                return
        try:
            records = json.loads(data)
        except (ValueError, RecursionError) as exc:
            yield 0, None, ("invalid_json", f"not valid JSON: {exc}", data[:QUARANTINE_SAMPLE_BYTES])
            return
        del data
        for i, record in enumerate(records):
            yield i, record, None
        return
    with _open(path) as handle:
        for i, line, size in _lines(handle, max_record_bytes):
            if size > max_record_bytes:
                yield i, None, ("record_too_large", f"line {i + 1}: {size} bytes > max_record_bytes "
                                f"{max_record_bytes}; skipped without being held", line)
                continue
            try:
                yield i, json.loads(line), None
            except (ValueError, RecursionError) as exc:
                yield i, None, ("invalid_json", f"line {i + 1}: {exc}", line[:QUARANTINE_SAMPLE_BYTES])


_CHUNK = 2**20
_BLANK_LINES = re.compile(rb"(?:[ \t\r\f\v]*\n)+")


def _lines(handle: gzip.GzipFile | io.BufferedReader, max_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """(line index, line, line size) for each non-blank line, read in chunks of `_CHUNK` bytes.

    A line over `max_bytes` is not kept: its first QUARANTINE_SAMPLE_BYTES come back with its full size,
    so memory holds at most `max_bytes` of any line. Runs of blank lines are skipped in C (a gzip of
    a billion newlines is no loop of a billion steps)."""
    index, line, size = 0, bytearray(), 0
    # read1: what one decompression step gives, so the lines before a damaged stretch come out first
    while chunk := handle.read1(_CHUNK):
        pos = 0
        while pos < len(chunk):
            if size == 0 and (blank := _BLANK_LINES.match(chunk, pos)):
                index += chunk.count(b"\n", pos, blank.end())
                pos = blank.end()
                continue
            newline = chunk.find(b"\n", pos)
            end = len(chunk) if newline < 0 else newline
            size += end - pos
            if size <= max_bytes:
                line += chunk[pos:end]
            elif len(line) > QUARANTINE_SAMPLE_BYTES:
                del line[QUARANTINE_SAMPLE_BYTES:]
            elif len(line) < QUARANTINE_SAMPLE_BYTES:
                line += chunk[pos:pos + QUARANTINE_SAMPLE_BYTES - len(line)]
            if newline < 0:
                break
            if line.strip():
                yield index, bytes(line), size
            index, line, size, pos = index + 1, bytearray(), 0, newline + 1
    if line.strip():
        yield index, bytes(line), size
