"""Readers for sources already on disk: directories of HTML files, WARC files, JSON/JSONL text corpora.

Each reader streams ("pages", row) and ("quarantine", row) pairs, like the crawler, so the ingest
stage treats every kind of source alike. Nothing is dropped silently: a file or record that cannot be
used becomes a quarantine row (stage "read") saying why.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from synth.corpus.records import page_record, quarantine_record

STAGE = "read"
HTML_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
HTML_TYPES = ("text/html", "application/xhtml+xml")
# text corpus records travel as their own JSON, with a content type the extractor knows
TEXT_RECORD_TYPE = "application/x-drsynth-text+json"

Row = tuple[str, dict]


def _text(value: object) -> str:
    """A filesystem string safe to store: undecodable bytes in names become backslash escapes."""
    return os.fsencode(str(value)).decode("utf-8", "backslashreplace")


def _read_capped(path: Path, max_bytes: int) -> tuple[bytes, int]:
    size = path.stat().st_size
    with path.open("rb") as handle:
        return handle.read(max_bytes + 1 if size > max_bytes else size), size


def read_html_dir(directory: str | os.PathLike[str], *, max_bytes: int = 5 * 2**20) -> Iterator[Row]:
    """Every file under `directory`, in sorted order: HTML files become pages, others quarantine rows."""
    root = Path(directory).resolve()
    source = _text(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        url = path.as_uri()
        try:
            body, size = _read_capped(path, max_bytes)
        except OSError as exc:
            yield "quarantine", quarantine_record(stage=STAGE, reason="read_error", source=url, detail=_text(exc))
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


def read_warc(path: str | os.PathLike[str], *, max_bytes: int = 5 * 2**20) -> Iterator[Row]:
    """HTTP responses from a WARC or WARC.gz file; requests, metadata and revisits are skipped.

    A truncated or corrupt archive keeps what was read before the damage and adds a `warc_error` row:
    warcio stops quietly at a cut gzip member, so the end of the last record is checked against the
    file's size.
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
                    yield _warc_response_or_reason(record, source, max_bytes)
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


def _warc_response_or_reason(record, source: str, max_bytes: int) -> Row:
    """One damaged record (a bad date, a garbled status line) costs that record, not the archive."""
    try:
        return _warc_response(record, source, max_bytes)
    except (ValueError, TypeError, UnicodeError) as exc:
        url = record.rec_headers.get_header("WARC-Target-URI") or source
        return "quarantine", quarantine_record(stage=STAGE, reason="warc_record_error", source=_text(url),
                                               detail=f"{type(exc).__name__}: {exc}")


def _warc_response(record, source: str, max_bytes: int) -> Row:
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    http = record.http_headers
    status = int(http.get_statuscode()) if http is not None else 200
    content_type = (http.get_header("Content-Type") if http is not None else None) or ""
    body = record.content_stream().read(max_bytes + 1)
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


def read_text_corpus(path: str | os.PathLike[str]) -> Iterator[Row]:
    """`{title, text}` records (text a string or a list of paragraphs) from a JSON array or a JSONL file
    (optionally gzipped). KILT's `{wikipedia_title, text: [...]}` is accepted too.

    Each record gets a stable URL, `file://<path>#title=<title>`, numbered when a title repeats. JSONL
    streams; a JSON array is loaded whole, so give large corpora as JSONL.
    """
    resolved = Path(path).resolve()
    source, base = _text(resolved), resolved.as_uri()
    seen: dict[str, int] = {}
    for position, record, error in _json_records(resolved):
        where = f"{base}#record={position}"
        if error is not None:
            yield "quarantine", quarantine_record(stage=STAGE, reason="invalid_json", source=where,
                                                  input=error[1], detail=error[0])
            continue
        try:
            yield _text_record(record, base, where, source, seen)
        except UnicodeError as exc:  # lone surrogates from "\ud800" escapes, common in wiki dumps
            yield "quarantine", quarantine_record(stage=STAGE, reason="invalid_record", source=where,
                                                  detail=f"text is not valid Unicode: {exc}")


def _text_record(record: object, base: str, where: str, source: str, seen: dict[str, int]) -> Row:
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
    body = json.dumps({"title": title, "text": text}, ensure_ascii=False).encode("utf-8")
    n = seen[title] = seen.get(title, 0) + 1
    url = f"{base}#title={quote(title, safe='')}" + (f"&n={n}" if n > 1 else "")
    return "pages", page_record(url=url, body=body, content_type=TEXT_RECORD_TYPE, source=source,
                                source_kind="text")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _json_records(path: Path) -> Iterator[tuple[int, object, tuple[str, str] | None]]:
    with _open(path) as handle:
        head = handle.read(64).lstrip()
    if head.startswith(b"["):
        with _open(path) as handle:
            data = handle.read()
        try:
            records = json.loads(data)
        except (ValueError, RecursionError) as exc:
            yield 0, None, (f"not valid JSON: {exc}", data[:4096].decode("utf-8", "replace"))
            return
        for i, record in enumerate(records):
            yield i, record, None
        return
    with _open(path) as handle:
        for i, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line), None
            except (ValueError, RecursionError) as exc:
                yield i, None, (f"line {i + 1}: {exc}", line[:4096].decode("utf-8", "replace"))
