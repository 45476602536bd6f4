"""Extraction stage: pages -> documents | quarantine (synth.corpus.extract, html_structure, extract_pool)."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import unicodedata

import pyarrow as pa
import pytest
import trafilatura

from drsynth.storage.ids import content_id
from drsynth.storage.schemas import schema_for
from drsynth.synth.corpus import extract as ex
from drsynth.synth.corpus import html_structure as hs
from drsynth.synth.corpus.extract import REASONS, TEXT_RECORD_TYPE, extract_page, sentence_around
from drsynth.synth.corpus.extract_pool import ExtractionPool, extract_batch
from tests.conftest import shared_path

# measured on the 127 titled readability pages: 0.72 (82 equal + 10 containing). Most misses are
# readability's own fixtures, where trafilatura prefers the lone <h1> ("Lorem") to <title>
TITLE_AGREEMENT_FLOOR = 0.65
# measured: 1.00 (73/73) with declared languages first; 0.96 (70/73) from the detector alone
LANG_AGREEMENT_FLOOR = 0.95
DETECTOR_AGREEMENT_FLOOR = 0.88


def page(body: bytes | str, *, url: str = "https://example.org/a/b.html", content_type: str = "text/html",
         page_id: str | None = None, final_url: str | None = None, headers: dict | None = None) -> dict:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return {
        "id": page_id or content_id("page", url, data.hex()),
        "url": url,
        "final_url": final_url or url,
        "content_type": content_type,
        "headers": json.dumps(headers or {}),
        "body": data,
    }


def html_page(paragraphs: list[str], *, title: str = "A test page", head: str = "", lang: str = "en") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{head}'
            f"</head><body><main><article><h1>{title}</h1>{body}</article></main></body></html>")


LOREM = ("The quick brown fox jumps over the lazy dog while the committee reviews the annual report "
         "on regional transport, which it publishes every spring after long consultations.")


# --- (a) the readability corpus ---------------------------------------------------------------


MARKDOWN_LINK = re.compile(r"\]\((?:https?:|/|#)")


def _norm_title(title: str | None) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", title or "")).strip().casefold()


def titles_agree(got: str | None, expected: str) -> bool:
    """Equal after casefolding and whitespace collapsing, or one contains the other: readability keeps
    site suffixes ("Mozilla - Wikipedia") that trafilatura's title heuristics drop, or vice versa."""
    a, b = _norm_title(got), _norm_title(expected)
    return bool(a and b) and (a == b or a in b or b in a)


@pytest.fixture(scope="module")
def readability() -> dict[str, tuple[dict, tuple[str, dict]]]:
    out = {}
    for source in sorted(shared_path("corpora", "readability").glob("*/source.html")):
        name = source.parent.name
        meta_path = source.parent / "expected-metadata.json"
        expected = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        url = f"http://fakehost/test/{name}/page.html"
        out[name] = (expected, extract_page(page(source.read_bytes(), url=url, page_id=name)))
    return out


def test_every_readability_page_extracts_to_a_valid_row(readability: dict) -> None:
    assert len(readability) >= 100
    documents = {"run_id": "test-run"}
    for name, (_, (kind, row)) in readability.items():
        assert kind in ("documents", "quarantine"), name
        if kind == "quarantine":
            assert row["reason"] in REASONS, (name, row["reason"])
            continue
        assert set(row) == set(schema_for("documents").names) - {"run_id"}, name
        assert row["text"].strip() and row["word_count"] > 0, name
        assert row["parents"] == [name] and row["extractor"] == ex.EXTRACTOR_VERSION
        assert not MARKDOWN_LINK.search(row["text"]), f"{name}: markdown link syntax in the text"
        # every row fits the declared schema (the dataset writer adds run_id)
        pa.Table.from_pylist([{**row, **documents}], schema=schema_for("documents"))
    kinds = [kind for _, (kind, _) in readability.values()]
    print(f"\nreadability: {kinds.count('documents')} documents, {kinds.count('quarantine')} quarantined")


def test_title_agreement_rate(readability: dict) -> None:
    titled = [(exp["title"], row.get("title")) for exp, (kind, row) in readability.values() if exp.get("title")]
    agree = sum(titles_agree(got, expected) for expected, got in titled)
    rate = agree / len(titled)
    print(f"\ntitle agreement: {agree}/{len(titled)} = {rate:.3f} (floor {TITLE_AGREEMENT_FLOOR})")
    assert rate >= TITLE_AGREEMENT_FLOOR


def test_lang_agreement_rate(readability: dict) -> None:
    cases = [(ex.normalize_lang(exp["lang"]), row) for exp, (kind, row) in readability.values()
             if exp.get("lang") and kind == "documents"]
    agree = sum(row["lang"] == expected for expected, row in cases)
    detected = sum(ex.detect_lang(row["text"]) == expected for expected, row in cases)
    rate, detector_rate = agree / len(cases), detected / len(cases)
    print(f"\nlang agreement: {agree}/{len(cases)} = {rate:.3f} (floor {LANG_AGREEMENT_FLOOR}); "
          f"detector alone: {detected}/{len(cases)} = {detector_rate:.3f} (floor {DETECTOR_AGREEMENT_FLOOR})")
    assert rate >= LANG_AGREEMENT_FLOOR
    assert detector_rate >= DETECTOR_AGREEMENT_FLOOR


def test_wikipedia_pages_structure(readability: dict) -> None:
    docs = {name: readability[name][1][1] for name in ("wikipedia", "wikipedia-2", "wikipedia-3", "wikipedia-4")}
    mozilla = {e["key"]: e for e in docs["wikipedia"]["infobox"]}
    assert "1998" in mozilla["Founded"]["value"]
    assert mozilla["Founder"]["links"] == [{"href": "http://fakehost/wiki/Netscape", "anchor": "Netscape Communications Corporation"}]
    assert mozilla["Divisions"]["value"] == "Mozilla Corporation, Mozilla Foundation"  # <br> -> ", "
    assert docs["wikipedia"]["bold_terms"] == ["Mozilla"]
    infobox_links = [lk for lk in docs["wikipedia"]["links"] if lk["kind"] == "infobox"]
    assert {"href": "http://fakehost/wiki/Netscape", "anchor": "Netscape Communications Corporation",
            "context": "Founder: Netscape Communications Corporation", "kind": "infobox", "section": ""} in infobox_links

    new_zealand = {e["key"]: e["value"] for e in docs["wikipedia-2"]["infobox"]}
    assert new_zealand["Capital"].startswith("Wellington")
    assert new_zealand["Government – Prime Minister"] == "Jacinda Ardern"  # bullet row under its section
    assert "New Zealand" in docs["wikipedia-2"]["bold_terms"]  # not the coordinates paragraph

    assert docs["wikipedia-3"]["infobox"] == [] and docs["wikipedia-4"]["infobox"] == []
    assert "Hermitian matrix" in docs["wikipedia-3"]["bold_terms"]
    films = docs["wikipedia-4"]["tables"][0]
    assert films["header"] == ["Film", "Year", "Description"] and len(films["rows"]) > 50
    assert any(lk["kind"] == "table" and lk["context"].startswith("Film: ") for lk in docs["wikipedia-4"]["links"])
    # text links: contexts are single sentences holding the anchor
    text_links = [lk for lk in docs["wikipedia"]["links"] if lk["kind"] == "text"]
    netscape = next(lk for lk in text_links if lk["href"] == "http://fakehost/wiki/Netscape")
    assert netscape["context"] == "Mozilla is a free-software community, created in 1998 by members of Netscape."
    assert not any(re.fullmatch(r"\[\d+\]", lk["anchor"]) for lk in text_links)  # citation markers dropped


# --- (b) quarantine reasons ---------------------------------------------------------------------


def _reason(result: tuple[str, dict]) -> str:
    kind, row = result
    assert kind == "quarantine", row.get("text", "")[:200]
    assert row["stage"] == "extract" and row["parents"] and row["reason"] in REASONS
    pa.Table.from_pylist([{**row, "run_id": "t"}], schema=schema_for("quarantine"))
    return row["reason"]


def test_empty_and_whitespace_bodies() -> None:
    assert _reason(extract_page(page(b""))) == "empty"
    assert _reason(extract_page(page(b" \n\t \r\n"))) == "empty"


def test_binary_bodies() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256))
    kind, row = extract_page(page(png, content_type="text/html"))
    assert _reason((kind, row)) == "binary" and "PNG" in row["detail"]
    assert row["input"] == png and row["input_size"] == len(png)
    assert _reason(extract_page(page(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", content_type=""))) == "binary"
    assert _reason(extract_page(page(b"<html>\x00\x00\x00 hidden nul bytes</html>"))) == "binary"
    assert _reason(extract_page(page(html_page([LOREM]), content_type="image/png"))) == "binary"


def test_undecodable_body() -> None:
    # high bytes that are valid in no declared charset and that no detector can make sense of
    junk = bytes((i * 37 + 11) % 128 + 128 for i in range(4000))
    body = b"<html><body><p>" + junk + b"</p></body></html>"
    kind, row = extract_page(page(body, content_type="text/html; charset=utf-8"))
    assert _reason((kind, row)) == "undecodable" and "bad characters" in row["detail"]


def test_mislabelled_latin1_is_rescued_not_quarantined() -> None:
    body = html_page(["Le café est très bon à Paris, où l'été est long et chaud. " * 8] * 3, lang="fr")
    kind, row = extract_page(page(body.encode("latin-1"), content_type="text/html; charset=utf-8"))
    assert kind == "documents" and "café" in row["text"] and row["lang"] == "fr"


def test_declared_legacy_charsets_and_utf16() -> None:
    russian = html_page(["Москва — столица России, крупнейший по численности населения город страны. " * 4] * 3, lang="")
    kind, row = extract_page(page(russian.encode("cp1251"), content_type="text/html; charset=windows-1251"))
    assert kind == "documents" and "Москва" in row["text"] and row["lang"] == "ru"  # lang from the detector
    kind, row = extract_page(page(html_page([LOREM] * 3).encode("utf-16"), content_type="text/html"))
    assert kind == "documents" and "quick brown fox" in row["text"]


def test_oversize_body() -> None:
    body = html_page([LOREM] * 5)
    assert _reason(extract_page(page(body), max_bytes=100)) == "oversize"
    assert extract_page(page(body), max_bytes=len(body.encode()))[0] == "documents"


def test_no_content() -> None:
    body = "<html><head><title>Only a title</title><script>var x = 1;</script></head><body><div><img src='a.png'></div></body></html>"
    assert _reason(extract_page(page(body))) == "no_content"


def test_unsupported_text_type() -> None:
    assert _reason(extract_page(page("body { color: red }", content_type="text/css"))) == "unsupported_type"


def test_timeout_on_a_big_page() -> None:
    big = html_page([f"{LOREM} Paragraph {i} has <a href='/p/{i}'>a link</a>." for i in range(4000)])
    outer_handler = signal.getsignal(signal.SIGALRM)  # pytest-timeout's, when it runs with signals
    outer_delay = signal.getitimer(signal.ITIMER_REAL)[0]
    kind, row = extract_page(page(big), timeout_s=0.001)
    assert _reason((kind, row)) == "timeout"
    # the previous handler is back, and a previous alarm is re-armed rather than lost
    assert signal.getsignal(signal.SIGALRM) is outer_handler
    assert (signal.getitimer(signal.ITIMER_REAL)[0] > 0) == (outer_delay > 0)


def test_deadline_hands_an_earlier_outer_alarm_over_and_restores_it() -> None:
    fired: list[str] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append("outer"))
    previous_timer = signal.getitimer(signal.ITIMER_REAL)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(ex.ExtractionTimeout), ex.deadline(0.2):
            while True:
                pass  # a busy page
        assert fired == ["outer"]  # the outer alarm ran first; ours still fired afterwards
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the outer alarm was spent, not re-armed
        signal.setitimer(signal.ITIMER_REAL, 5)
        with ex.deadline(0.01):
            pass
        assert 4 < signal.getitimer(signal.ITIMER_REAL)[0] <= 5  # a later outer alarm survives
    finally:
        signal.setitimer(signal.ITIMER_REAL, *previous_timer)
        signal.signal(signal.SIGALRM, previous)


def test_timeout_is_a_no_op_off_the_main_thread() -> None:
    results: list[tuple[str, dict]] = []
    worker = threading.Thread(target=lambda: results.append(extract_page(page(html_page([LOREM] * 3)), timeout_s=1e-6)))
    worker.start()
    worker.join()
    assert results[0][0] == "documents"


def test_extraction_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(trafilatura, "bare_extraction", boom)
    kind, row = extract_page(page(html_page([LOREM])))
    assert _reason((kind, row)) == "extraction_error" and row["detail"] == "RuntimeError: boom"


def test_malformed_text_record_is_an_extraction_error() -> None:
    kind, row = extract_page(page(b"{not json", content_type=TEXT_RECORD_TYPE))
    assert _reason((kind, row)) == "extraction_error" and row["detail"].startswith("JSONDecodeError")


# --- text corpus records -----------------------------------------------------------------------


def test_text_records_become_documents_directly() -> None:
    kilt = {"wikipedia_title": "Alan Turing", "text": [
        "Alan Turing\n", "Alan Mathison Turing was an English mathematician and computer scientist.\n",
        "Section::::Early life.\n", "BULLET::::- He was born in Maida Vale, London.\n"]}
    kind, row = extract_page(page(json.dumps(kilt), content_type=TEXT_RECORD_TYPE, url="file:///kilt.jsonl#title=Alan%20Turing"))
    assert kind == "documents" and row["title"] == "Alan Turing"
    assert row["text"] == ("Alan Mathison Turing was an English mathematician and computer scientist.\n\n"
                           "Early life\n\n- He was born in Maida Vale, London.")
    assert row["lang"] == "en" and row["links"] == [] and row["word_count"] == 20
    # the shape local_sources writes: title + one string with blank-line paragraphs
    simple = {"title": "Teutberga", "text": "Teutberga( died 11 November 875) was a queen of Lotharingia.\n\nShe was a daughter of Boso."}
    kind, row = extract_page(page(json.dumps(simple), content_type=TEXT_RECORD_TYPE))
    assert kind == "documents" and row["text"].split("\n\n") == [
        "Teutberga( died 11 November 875) was a queen of Lotharingia.", "She was a daughter of Boso."]
    assert _reason(extract_page(page(json.dumps({"title": "x", "text": []}), content_type=TEXT_RECORD_TYPE))) == "no_content"


def test_plain_text_pages() -> None:
    kind, row = extract_page(page("First paragraph of plain text here.\n\nSecond one, rather short.", content_type="text/plain"))
    assert kind == "documents" and row["text"] == "First paragraph of plain text here.\n\nSecond one, rather short."


# --- (c) links, infobox, tables, bold terms on a hand-written page -------------------------------

ADA = """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Ada Lovelace - Test Wiki</title><base href="/wiki/"></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<main>
<h1>Ada Lovelace</h1>
<table class="infobox vcard">
  <tr><th colspan="2">Ada Lovelace</th></tr>
  <tr><td colspan="2"><a href="File:Ada.png"><img src="ada.png" alt=""></a></td></tr>
  <tr><th>Portrait</th><td><img src="ada-small.png"></td></tr>
  <tr><th>Born</th><td>Augusta Ada Byron<br>10 December 1815<br><a href="London">London</a>, England<sup class="reference"><a href="#cite_note-1">[1]</a></sup></td></tr>
  <tr><th>Known
      for</th><td><a href="Analytical_Engine#Programs">Analytical
      Engine</a> programs</td></tr>
</table>
<p><b>Augusta Ada King, Countess of Lovelace</b> (née <b>Byron</b>; 10 December 1815 – 27 November 1852) was an
English mathematician and writer. She is chiefly known for her work on <a href="Charles_Babbage">Charles Babbage</a>'s
proposed mechanical general-purpose computer, the Analytical Engine. She was the first to recognise that the machine had
applications beyond pure calculation.</p>
<p>Lovelace was the only legitimate child of the poet Lord Byron and his wife Anne Isabella Milbanke. Dr. Smith, a
family friend, noted that <a href="https://other.example.net/people/Mary_Somerville?x=1#early">Mary Somerville</a> was
her tutor in 1833. Her educational and social exploits brought her into contact with scientists such as Andrew Crosse,
Charles Wheatstone and Michael Faraday, and the author Charles Dickens.</p>
<table class="wikitable"><caption>Selected works</caption>
  <tr><th>Year</th><th>Title</th></tr>
  <tr><td>1843</td><td><a href="Sketch_of_the_Analytical_Engine">Sketch of the Analytical Engine</a></td></tr>
  <tr><td>1844</td><td>Letters</td></tr>
</table>
<table><tr><td><div>layout cell</div></td><td><table><tr><td>nested</td></tr></table></td></tr></table>
</main></body></html>"""
ADA_URL = "https://wiki.example.org/articles/ada?printable=no"


def test_links_infobox_tables_and_bold_terms_from_a_hand_written_page() -> None:
    kind, doc = extract_page(page(ADA, url="http://wiki.example.org/ada", final_url=ADA_URL))
    assert kind == "documents", doc
    assert doc["url"] == ADA_URL and doc["page_url"] == "http://wiki.example.org/ada"
    assert doc["title"] == "Ada Lovelace" and doc["lang"] == "en"

    text_links = {lk["anchor"]: lk for lk in doc["links"] if lk["kind"] == "text"}
    babbage = text_links["Charles Babbage"]
    # resolved against <base href="/wiki/">, itself relative to the final URL
    assert babbage["href"] == "https://wiki.example.org/wiki/Charles_Babbage"
    assert babbage["context"] == ("She is chiefly known for her work on Charles Babbage's proposed mechanical "
                                  "general-purpose computer, the Analytical Engine.")
    somerville = text_links["Mary Somerville"]
    assert somerville["href"] == "https://other.example.net/people/Mary_Somerville?x=1#early"  # fragment kept
    assert somerville["context"] == ("Dr. Smith, a family friend, noted that Mary Somerville was her tutor in 1833.")
    assert "Home" not in text_links  # navigation is not main content

    infobox = {e["key"]: e for e in doc["infobox"]}
    assert list(infobox) == ["Born", "Known for"]  # the image-only rows are skipped
    assert infobox["Born"]["value"] == "Augusta Ada Byron, 10 December 1815, London, England"
    assert infobox["Born"]["links"] == [{"href": "https://wiki.example.org/wiki/London", "anchor": "London"}]
    assert infobox["Known for"]["value"] == "Analytical Engine programs"  # source line wrapping is not a <br>
    assert infobox["Known for"]["links"][0]["href"] == "https://wiki.example.org/wiki/Analytical_Engine#Programs"
    infobox_links = [lk for lk in doc["links"] if lk["kind"] == "infobox"]
    assert {"href": "https://wiki.example.org/wiki/London", "anchor": "London",
            "context": "Born: Augusta Ada Byron, 10 December 1815, London, England", "kind": "infobox",
            "section": ""} in infobox_links

    assert doc["tables"] == [{"caption": "Selected works", "header": ["Year", "Title"],
                              "rows": [["1843", "Sketch of the Analytical Engine"], ["1844", "Letters"]]}]
    table_link = next(lk for lk in doc["links"] if lk["kind"] == "table")
    assert table_link["context"] == "Year: 1843; Title: Sketch of the Analytical Engine"
    assert doc["bold_terms"] == ["Augusta Ada King, Countess of Lovelace", "Byron"]
    assert "Analytical Engine programs" not in doc["text"]  # the infobox is not main text


def test_relative_links_resolve_against_the_page_not_the_site_root() -> None:
    body = html_page([f"{LOREM} See <a href='sub/page.html'>the sub page</a> for details.", LOREM])
    kind, doc = extract_page(page(body, url="https://example.org/a/b/c.html"))
    assert kind == "documents"
    link = next(lk for lk in doc["links"] if lk["anchor"] == "the sub page")
    assert link["href"] == "https://example.org/a/b/sub/page.html"
    assert link["context"] == "See the sub page for details."


def test_canonical_url_names_one_url_for_a_pages_copies() -> None:
    body = html_page([LOREM, LOREM], head='<link rel="canonical" href="/wiki/Brennick">')
    kind, doc = extract_page(page(body, url="https://example.org/wiki/Brennick?ref=random"))
    assert kind == "documents" and doc["canonical_url"] == "https://example.org/wiki/Brennick"
    _, plain = extract_page(page(html_page([LOREM, LOREM])))
    assert plain["canonical_url"] is None


def test_sentence_around() -> None:
    text = "Mr. J. R. Smith went to Washington. He met the U.S. Army there [1]. Then he left!  And so on"
    start = text.index("U.S. Army")
    assert sentence_around(text, start, start + len("U.S. Army")) == "He met the U.S. Army there [1]."
    assert sentence_around(text, 4, 14) == "Mr. J. R. Smith went to Washington."
    start = text.index("And")
    assert sentence_around(text, start, start + 3) == "And so on"


def test_table_spans_and_layout_tables() -> None:
    from lxml.html import fromstring

    tree = fromstring("""<html><body>
      <table><tr><th>Name</th><th colspan="2">Score</th></tr>
        <tr><td rowspan="2">Ann</td><td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>
      <table role="presentation"><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>
      <table><tr><td>no</td><td>header</td></tr><tr><td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>
    </body></html>""")
    assert hs.tables(tree, "https://example.org/") == [
        {"caption": None, "header": ["Name", "Score", "Score"], "rows": [["Ann", "1", "2"], ["Ann", "3", "4"]]}]


# --- (d) the pool --------------------------------------------------------------------------------

CRASH_ID = "page-that-kills-its-worker"


def crashing_batch(pages: list[dict], **kwargs: object) -> list[tuple[str, dict]]:
    """Test-only worker function: the process dies (like a segfault in a C library) on CRASH_ID."""
    if any(p["id"] == CRASH_ID for p in pages):
        os._exit(70)
    return extract_batch(pages, **kwargs)  # type: ignore[arg-type]


def _pool_pages(n: int) -> list[dict]:
    pages = []
    for i in range(n):
        if i % 5 == 3:
            pages.append(page(b"", url=f"https://example.org/empty/{i}", page_id=f"p{i}"))
        else:
            body = html_page([f"Page {i}: {LOREM} It links to <a href='/n/{i + 1}'>page {i + 1}</a>."] * 3, title=f"Page {i}")
            pages.append(page(body, url=f"https://example.org/p/{i}", page_id=f"p{i}"))
    return pages


def _comparable(results: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(kind, {k: v for k, v in row.items() if k != "at"}) for kind, row in results]


def _batches(pages: list[dict], size: int) -> list[list[dict]]:
    return [pages[i : i + size] for i in range(0, len(pages), size)]


def test_pool_keeps_input_order_and_matches_serial() -> None:
    pages = _pool_pages(14)
    serial = [extract_batch(b) for b in _batches(pages, 3)]
    consumed = []

    def lazily() -> object:
        for batch in _batches(pages, 3):
            consumed.append(len(batch))
            yield batch

    with ExtractionPool(workers=2, max_in_flight=2) as pool:
        stream = pool.map_batches(lazily())
        first = next(stream)
        assert len(consumed) <= 3  # bounded: the input is pulled as results are taken
        parallel = [first, *stream]
    assert [_comparable(b) for b in parallel] == [_comparable(b) for b in serial]
    assert [row["parents"] for batch in parallel for _, row in batch] == [[p["id"]] for p in pages]


def test_pool_in_process_mode() -> None:
    pages = _pool_pages(4)
    with ExtractionPool(workers=0) as pool:
        results = list(pool.map_batches(_batches(pages, 2)))
    assert _comparable([r for b in results for r in b]) == _comparable(extract_batch(pages))


def test_pool_quarantines_only_the_page_that_kills_its_worker() -> None:
    pages = _pool_pages(10)
    pages[6] = {**pages[6], "id": CRASH_ID}
    expected = extract_batch([p for p in pages if p["id"] != CRASH_ID])
    with ExtractionPool(workers=2, batch_fn=crashing_batch) as pool:
        results = [r for batch in pool.map_batches(_batches(pages, 3)) for r in batch]
        assert pool.restarts >= 2
    assert len(results) == len(pages)
    crashed = results[6]
    assert crashed[0] == "quarantine" and crashed[1]["reason"] == "worker_crashed"
    assert crashed[1]["parents"] == [CRASH_ID] and crashed[1]["source"] == pages[6]["url"]
    others = results[:6] + results[7:]
    assert _comparable(others) == _comparable(expected)
    assert not any(row.get("reason") == "worker_crashed" for _, row in others)
