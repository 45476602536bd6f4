"""HTML directories, WARC files and JSON/JSONL text corpora become pages, or quarantine rows with reasons."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from synth.corpus.config import IngestConfig
from synth.corpus.local_sources import TEXT_RECORD_TYPE, read_html_dir, read_text_corpus, read_warc
from synth.corpus.sources import read_source, source_kind
from tests.conftest import shared_path


def by_dataset(rows):
    out: dict[str, list[dict]] = {"pages": [], "quarantine": []}
    for dataset, row in rows:
        out[dataset].append(row)
    return out


def test_html_dir(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<html><body><p>hello</p></body></html>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.htm").write_text("<p>world</p>")
    (tmp_path / "notes.txt").write_text("not a page")
    (tmp_path / "big.html").write_bytes(b"<p>" + b"x" * 5000)
    rows = by_dataset(read_html_dir(tmp_path, max_bytes=1000))
    assert sorted(Path(r["url"]).name for r in rows["pages"]) == ["a.html", "b.htm"]
    assert all(r["url"].startswith("file://") and r["source_kind"] == "html_dir" for r in rows["pages"])
    reasons = {Path(r["source"]).name: r["reason"] for r in rows["quarantine"]}
    assert reasons == {"notes.txt": "not_html", "big.html": "oversize"}
    # ids are content-derived: reading again gives the same ids
    again = by_dataset(read_html_dir(tmp_path, max_bytes=1000))
    assert [r["id"] for r in again["pages"]] == [r["id"] for r in rows["pages"]]


def _warc(path: Path, records: list[tuple[str, int, str, bytes]]) -> None:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, status, ctype, body in records:
            headers = StatusAndHeaders(f"{status} X", [("Content-Type", ctype), ("Set-Cookie", "s=1")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=headers))
        writer.write_record(writer.create_warc_record("http://w.test/", "request", payload=io.BytesIO(b"GET /")))


def test_warc(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    _warc(path, [
        ("http://w.test/a", 200, "text/html; charset=utf-8", b"<html><p>A page</p></html>"),
        ("http://w.test/missing", 404, "text/html", b"not found"),
        ("http://w.test/logo.png", 200, "image/png", b"\x89PNG\r\n\x1a\n"),
    ])
    assert source_kind(str(path)) == "warc"
    rows = by_dataset(read_warc(path))
    assert [r["url"] for r in rows["pages"]] == ["http://w.test/a"]
    page = rows["pages"][0]
    assert page["source_kind"] == "warc" and page["fetched_at"] is not None
    assert "Set-Cookie" not in json.loads(page["headers"])
    assert sorted(r["reason"] for r in rows["quarantine"]) == ["content_type", "http_404"]


def test_truncated_warc_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "broken.warc.gz"
    _warc(path, [(f"http://w.test/{i}", 200, "text/html", b"<p>%d</p>" % i * 2000) for i in range(20)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    rows = by_dataset(read_warc(path))
    assert 0 < len(rows["pages"]) < 20
    assert rows["quarantine"][-1]["reason"] == "warc_error"


def test_text_corpus_json_and_jsonl(tmp_path: Path) -> None:
    array = tmp_path / "c.json"
    array.write_text(json.dumps([
        {"title": "Alpha", "text": "Alpha is a letter."},
        {"title": "Alpha", "text": "A second passage about Alpha."},
        {"wikipedia_title": "Beta", "text": ["Beta is also a letter.", "It follows alpha."]},
        {"title": "", "text": "no title"},
    ]))
    rows = by_dataset(read_text_corpus(array))
    assert [json.loads(r["body"])["title"] for r in rows["pages"]] == ["Alpha", "Alpha", "Beta"]
    assert len({r["url"] for r in rows["pages"]}) == 3  # a repeated title gets a numbered URL
    assert json.loads(rows["pages"][2]["body"])["text"] == "Beta is also a letter.\n\nIt follows alpha."
    assert all(r["content_type"] == TEXT_RECORD_TYPE for r in rows["pages"])
    assert [r["reason"] for r in rows["quarantine"]] == ["invalid_record"]

    lines = tmp_path / "c.jsonl"
    lines.write_text('{"title": "Gamma", "text": "G."}\n{broken json\n\n{"title": "Delta", "text": "D."}\n')
    rows = by_dataset(read_text_corpus(lines))
    assert len(rows["pages"]) == 2 and [r["reason"] for r in rows["quarantine"]] == ["invalid_json"]


def test_shared_text_corpora_read_whole() -> None:
    passages = shared_path("corpora", "text", "2wiki_passages.json")
    rows = by_dataset(read_text_corpus(passages))
    assert len(rows["pages"]) == 6119 and not rows["quarantine"]
    kilt = shared_path("corpora", "text", "kilt_wikipedia_100.jsonl")
    rows = by_dataset(read_text_corpus(kilt))
    assert len(rows["pages"]) == 99 and not rows["quarantine"]  # the "100" sample holds 99 articles


def test_unknown_and_missing_sources_become_quarantine_rows(tmp_path: Path) -> None:
    odd = tmp_path / "thing.bin"
    odd.write_bytes(b"\0\1")
    cfg = IngestConfig()
    assert [r["reason"] for _, r in read_source(str(odd), cfg)] == ["unknown_source"]
    assert [r["reason"] for _, r in read_source(str(tmp_path / "nope.jsonl"), cfg)] == ["missing_source"]


def test_uncompressed_warc_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "plain.warc"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=False)
        for i in range(3):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"http://w.test/{i}", "response",
                                                          payload=io.BytesIO(b"<p>x</p>"), http_headers=headers))
    rows = by_dataset(read_warc(path))
    assert len(rows["pages"]) == 3 and rows["quarantine"] == []


def test_garbage_warc(tmp_path: Path) -> None:
    path = tmp_path / "junk.warc"
    path.write_bytes(b"this is not an archive\n" * 10)
    rows = by_dataset(read_warc(path))
    assert rows["pages"] == [] and [r["reason"] for r in rows["quarantine"]] == ["warc_error"]


def test_text_corpus_bad_unicode_deep_nesting_and_gzip(tmp_path: Path) -> None:
    import gzip

    lines = tmp_path / "odd.jsonl"
    lines.write_text('{"title": "Bad \\ud800 title", "text": "x"}\n' + "[" * 100000 + "\n"
                     + '{"title": "Good", "text": "fine"}\n')
    rows = by_dataset(read_text_corpus(lines))
    assert [json.loads(r["body"])["title"] for r in rows["pages"]] == ["Good"]
    assert sorted(r["reason"] for r in rows["quarantine"]) == ["invalid_json", "invalid_record"]
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"title": "Zipped", "text": "inside gzip"}\n'))
    assert source_kind(str(packed)) == "text"
    rows = by_dataset(read_text_corpus(packed))
    assert [json.loads(r["body"])["title"] for r in rows["pages"]] == ["Zipped"]


def test_one_damaged_warc_record_costs_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "dates.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i, date in enumerate(["not-a-date", "2024-01-02T03:04:05Z"]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            record = writer.create_warc_record(f"http://w.test/{i}", "response", payload=io.BytesIO(b"<p>x</p>"),
                                               http_headers=headers)
            record.rec_headers.replace_header("WARC-Date", date)
            writer.write_record(record)
    rows = by_dataset(read_warc(path))
    assert [r["url"] for r in rows["pages"]] == ["http://w.test/1"]
    assert [(r["reason"], r["source"]) for r in rows["quarantine"]] == [("warc_record_error", "http://w.test/0")]


def test_non_utf8_file_names_are_stored_not_fatal(tmp_path: Path) -> None:
    from storage.store import Store

    directory = tmp_path / "site"
    directory.mkdir()
    os.makedirs(os.fsencode(directory), exist_ok=True)
    with open(os.path.join(os.fsencode(directory), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"latin-1 name")
    (directory / "ok.html").write_text("<p>fine</p>")
    store = Store(tmp_path / "out")
    with store.writer("pages", "r") as pages_w, store.writer("quarantine", "r") as bad_w:
        for dataset, row in read_html_dir(directory):
            (pages_w if dataset == "pages" else bad_w).write(row)
    assert store.count("pages") == 1 and store.count("quarantine") == 1
    assert "\\xe9" in next(store.rows("quarantine", ["detail"]))["detail"]


def test_extract_settings_are_range_checked() -> None:
    import pytest

    for bad in ({"pages_per_task": 0}, {"workers": 0}, {"timeout_s": 0}, {"pages_per_chunk": -1}):
        with pytest.raises(ValueError):
            IngestConfig.from_dict({"extract": bad})
