"""HTML directories, WARC files and JSON/JSONL text corpora become pages, or quarantine rows with reasons."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.local_sources import TEXT_RECORD_TYPE, read_html_dir, read_text_corpus, read_warc
from drsynth.synth.corpus.sources import read_source, source_kind
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
    from drsynth.storage.store import Store

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


# --- hostile inputs (issue 14): each becomes a row with a reason, never a crash or a silent skip -------


def _reasons(rows) -> list[tuple[str, str]]:
    return [(r["reason"], Path(r["source"]).name) for r in rows["quarantine"]]


def test_corrupt_gzip_corpus_is_a_row_and_the_other_sources_go_on(tmp_path: Path) -> None:
    import gzip
    import random

    from drsynth.storage.store import Store
    from drsynth.synth.corpus import ingest

    rng = random.Random(4)
    lines = [json.dumps({"title": f"T{i}", "text": " ".join(rng.choice(["ab", "cd", "ef", "gh"]) + str(rng.random())
                                                             for _ in range(200))}) for i in range(200)]
    data = gzip.compress("\n".join(lines).encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])  # EOFError: compressed file ended before the end-of-stream marker
    garbage = tmp_path / "garbage.jsonl.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 200)  # zlib.error: invalid block type
    not_gzip = tmp_path / "plain.jsonl.gz"
    not_gzip.write_bytes(b'{"title": "x", "text": "y"}\n')  # BadGzipFile: not a gzipped file
    good = tmp_path / "good.jsonl"
    good.write_text('{"title": "Fine", "text": "Still read."}\n')
    rows = by_dataset(read_text_corpus(cut))
    assert 0 < len(rows["pages"]) < 200
    assert _reasons(rows) == [("read_error", "cut.jsonl.gz")] and "EOFError" in rows["quarantine"][0]["detail"]
    for path in (garbage, not_gzip):
        rows = by_dataset(read_text_corpus(path))
        assert rows["pages"] == [] and _reasons(rows) == [("read_error", path.name)]
    # the acquire stage the flow runs: one damaged file costs that file, the next source is read
    store, cfg = Store(tmp_path / "out"), IngestConfig()
    for source in (cut, garbage, not_gzip, good):
        ingest.acquire(store, "run", str(source), cfg)
    assert any(r["url"].endswith("#title=Fine") for r in store.rows("pages", ["url"]))


def _warc_bytes(body: bytes, *, gzip: bool, url: str = "http://w.test/big") -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
    return out.getvalue()


def test_a_truncated_warc_record_is_a_row_not_a_page(tmp_path: Path) -> None:
    import random

    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta"]
    rng = random.Random(3)
    body = b"<html><body><p>" + b" ".join(rng.choice(words) for _ in range(200_000)) + b"</p></body></html>"
    packed = _warc_bytes(body, gzip=True)
    plain = _warc_bytes(body, gzip=False)
    cut_gz = tmp_path / "cut.warc.gz"
    cut_gz.write_bytes(packed[: len(packed) // 2])
    cut_plain = tmp_path / "cut.warc"
    cut_plain.write_bytes(plain[: len(plain) // 2])
    # whole bytes, but a WARC Content-Length that promises more than the file holds
    length = plain.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]
    liar = tmp_path / "liar.warc"
    liar.write_bytes(plain.replace(b"Content-Length: " + length, b"Content-Length: " + str(int(length) + 5000).encode(), 1))
    for path in (cut_gz, cut_plain, liar):
        rows = by_dataset(read_warc(path, max_bytes=10 * 2**20))
        assert rows["pages"] == [], path.name
        reasons = [(r["reason"], r["source"]) for r in rows["quarantine"]]
        assert ("warc_truncated", "http://w.test/big") in reasons, (path.name, reasons)
        truncated = next(r for r in rows["quarantine"] if r["reason"] == "warc_truncated")
        assert path.name in truncated["detail"]
    # an intact record is still a page
    whole = tmp_path / "whole.warc"
    whole.write_bytes(plain)
    assert len(by_dataset(read_warc(whole, max_bytes=10 * 2**20))["pages"]) == 1


def test_html_dir_symlinks_and_special_files_each_get_a_row(tmp_path: Path) -> None:
    site, outside = tmp_path / "site", tmp_path / "outside"
    site.mkdir()
    outside.mkdir()
    secret = outside / "secret.html"
    secret.write_text("<p>not yours</p>")
    (site / "page.html").write_text("<p>fine</p>")
    (site / "alias.html").symlink_to(site / "page.html")  # inside the directory: read
    (site / "escape.html").symlink_to(secret)
    (site / "escape_dir").symlink_to(outside)
    (site / "sub").mkdir()
    (site / "into_sub").symlink_to(site / "sub")
    (site / "dangling.html").symlink_to(site / "gone.html")
    (site / "loop_a.html").symlink_to(site / "loop_b.html")
    (site / "loop_b.html").symlink_to(site / "loop_a.html")
    os.mkfifo(site / "pipe.html")
    rows = by_dataset(read_html_dir(site))
    assert sorted(Path(r["url"]).name for r in rows["pages"]) == ["alias.html", "page.html"]
    assert sorted(_reasons(rows)) == [
        ("dangling_symlink", "dangling.html"),
        ("special_file", "pipe.html"),
        ("symlink_loop", "loop_a.html"),
        ("symlink_loop", "loop_b.html"),
        ("symlink_outside", "escape.html"),
        ("symlink_outside", "escape_dir"),
        ("symlink_to_directory", "into_sub"),
    ]
    assert all(b"not yours" not in r["input"] for r in rows["quarantine"])


def test_text_record_size_caps(tmp_path: Path) -> None:
    import gzip

    from drsynth.synth.corpus.limits import RecordLimits
    from drsynth.synth.corpus.records import QUARANTINE_SAMPLE_BYTES

    limits = RecordLimits(max_title_chars=100, max_text_chars=1000, max_record_bytes=100_000)
    records = [
        {"title": "t" * 50_000, "text": "a huge title"},
        {"title": "Long text", "text": "word " * 300},
        {"title": "Fine", "text": "short"},
    ]
    body = "\n".join(json.dumps(r) for r in records) + "\n" + '{"title": "Huge line", "text": "' + "x" * 300_000 + '"}\n'
    body += '{"title": "After", "text": "the huge line"}\n'
    for name, data in (("caps.jsonl", body.encode()), ("caps.jsonl.gz", gzip.compress(body.encode()))):
        path = tmp_path / name
        path.write_bytes(data)
        rows = by_dataset(read_text_corpus(path, limits=limits))
        assert [json.loads(r["body"])["title"] for r in rows["pages"]] == ["Fine", "After"]
        assert [r["reason"] for r in rows["quarantine"]] == ["title_too_long", "text_too_long", "record_too_large"]
        assert all(r["input_size"] <= QUARANTINE_SAMPLE_BYTES for r in rows["quarantine"])
    array = tmp_path / "big.json"
    array.write_text(json.dumps([{"title": "A", "text": "x" * 200_000}]))
    rows = by_dataset(read_text_corpus(array, limits=limits))
    assert rows["pages"] == [] and [r["reason"] for r in rows["quarantine"]] == ["record_too_large"]
    # the 1M-character title, under the default caps
    huge = tmp_path / "huge_title.jsonl"
    huge.write_text(json.dumps({"title": "t" * 1_000_000, "text": "x"}) + "\n")
    assert [r["reason"] for _, r in read_text_corpus(huge)] == ["title_too_long"]


def test_extracted_documents_past_a_cap_are_quarantined(tmp_path: Path) -> None:
    from drsynth.storage.store import Store
    from drsynth.synth.corpus import ingest
    from drsynth.synth.corpus.extract_pool import ExtractionPool

    site = tmp_path / "site"
    site.mkdir()
    body = "<p>" + "Some words of the article body. " * 20 + "</p>"
    (site / "title.html").write_text(f"<html><head><title>{'T' * 5000}</title></head><body>{body}</body></html>")
    (site / "field.html").write_text(f"<html><head><title>Ok</title><meta name=description content='{'d' * 20_000}'>"
                                     f"</head><body>{body}</body></html>")
    (site / "fine.html").write_text(f"<html><head><title>Fine</title></head><body>{body}</body></html>")
    store = Store(tmp_path / "out")
    cfg = IngestConfig.from_dict({"extract": {"workers": 1, "max_title_chars": 1000, "max_field_chars": 10_000}})
    ingest.acquire(store, "run", str(site), cfg)
    with ExtractionPool(0) as pool:
        for batch in ingest.pending_batches(store, 10):
            counts = ingest.extract(store, "run", batch, pool, cfg)
    assert counts["documents"] == 1
    reasons = {Path(r["source"]).name: r["reason"] for r in store.rows("quarantine", ["source", "reason", "stage"])
               if r["stage"] == "extract"}
    assert reasons == {"title.html": "title_too_long", "field.html": "field_too_long"}
    assert ingest.pending_batches(store, 10) == []  # a refused page counts as processed: no rework on resume


def test_record_caps_are_settings_and_range_checked() -> None:
    import pytest

    cfg = IngestConfig.from_dict({"extract": {"max_title_chars": 50, "max_record_bytes": 1024}})
    assert (cfg.extract.limits.max_title_chars, cfg.extract.limits.max_record_bytes) == (50, 1024)
    for bad in ({"max_title_chars": 0}, {"max_field_chars": -1}, {"max_record_bytes": 0}):
        with pytest.raises(ValueError):
            IngestConfig.from_dict({"extract": bad})


def test_a_source_with_nothing_to_read_is_a_row(tmp_path: Path) -> None:
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (tmp_path / "empty.jsonl").write_bytes(b"\n\n")
    (tmp_path / "empty.warc").write_bytes(b"")
    cfg = IngestConfig()
    for source in (empty_dir, tmp_path / "empty.jsonl", tmp_path / "empty.warc"):
        rows = list(read_source(str(source), cfg))
        assert [(d, r["reason"], r["source"]) for d, r in rows] == [("quarantine", "empty_source", str(source))]


def test_a_dump_page_with_a_huge_title_is_a_row(tmp_path: Path) -> None:
    head = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en"><siteinfo>'
            "<dbname>enwiki</dbname><base>https://en.wikipedia.org/wiki/Main_Page</base><namespaces>"
            '<namespace key="0" case="first-letter" /></namespaces></siteinfo>')

    def page(title: str, pid: int, text: str) -> str:
        return (f"<page><title>{title}</title><ns>0</ns><id>{pid}</id><revision><id>{pid}0</id>"
                f"<timestamp>2016-01-01T00:00:00Z</timestamp><text>{text}</text></revision></page>")

    dump = tmp_path / "dump.xml"
    dump.write_text(head + page("Fine", 1, "'''Fine''' is fine.") + page("T" * 1_000_000, 2, "x")
                    + page("Redirect " + "R" * 5000, 3, "#REDIRECT [[Fine]]") + "</mediawiki>")
    rows = list(read_source(str(dump), IngestConfig()))
    assert [(d, r.get("reason")) for d, r in rows] == [("pages", None), ("quarantine", "title_too_long"),
                                                       ("quarantine", "title_too_long")]
