"""synth/tools: validation, retries, caching and `requests` rows; search, visit, the sandbox, scholar, parse_file."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from drsynth.storage.store import Store
from drsynth.synth.teacher.requests_log import RequestLog
from drsynth.synth.tools import Tool, Toolbox, ToolError, ToolResult, TransientToolError, default_toolbox
from drsynth.synth.tools.base import validate_arguments
from drsynth.synth.tools.parse_file import ParseFile
from drsynth.synth.tools.python_sandbox import PythonInterpreter, SandboxLimits, isolation_layers
from drsynth.synth.tools.scholar import GoogleScholar
from drsynth.synth.tools.search import HostedSearchAPI, Search, SearchIndex, fts_terms
from drsynth.synth.tools.visit import CorpusPages, Visit, extractive_summary, parse_summary

WIKI = "http://halvard.drsynth.test/wiki/"


def run(coro):
    return asyncio.run(coro)


# --- the Tool base ---------------------------------------------------------------------------------------


class Flaky(Tool):
    name = "flaky"
    description = "fails `failures` times, then echoes"
    parameters = {"type": "object", "properties": {"x": {"type": "array", "items": {"type": "string"}}},  # noqa: RUF012
                  "required": ["x"], "additionalProperties": False}

    def __init__(self, failures: int = 0, exc: type[Exception] = TransientToolError, **kwargs) -> None:
        super().__init__(backoff_s=0.0, **kwargs)
        self.failures, self.exc, self.calls = failures, exc, 0

    async def run(self, arguments: dict) -> ToolResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc("boom")
        return ToolResult(" ".join(arguments["x"]))


class Slow(Tool):
    name = "slow"
    parameters = {"type": "object", "properties": {}}  # noqa: RUF012

    async def run(self, arguments: dict) -> ToolResult:
        await asyncio.sleep(10)
        return ToolResult("late")


def test_validation_coerces_and_refuses() -> None:
    schema = Flaky.parameters
    assert validate_arguments(schema, {"x": "one"}) == {"x": ["one"]}
    assert validate_arguments(schema, '{"x": ["a", "b"]}') == {"x": ["a", "b"]}
    for bad, message in [({}, "missing required"), ({"x": [1]}, "must be string"), ({"x": ["a"], "y": 1}, "unknown"),
                         ("not json", "not a JSON object"), ([1], "must be a JSON object")]:
        with pytest.raises(ValueError, match=message):
            validate_arguments(schema, bad)


def test_bad_arguments_become_a_result_and_a_row() -> None:
    log = RequestLog()
    result = run(Flaky(log=log)({"y": 1}))
    assert result.error == "invalid_arguments" and "missing required argument 'x'" in result.text
    (row,) = log.drain()
    assert row["kind"] == "tool" and row["name"] == "flaky" and row["error"] == "invalid_arguments"


def test_retries_cache_and_rows() -> None:
    log = RequestLog()
    tool = Flaky(failures=2, retries=2, log=log)
    first = run(tool({"x": ["a", "b"]}, parents=["task-1"]))
    assert first.text == "a b" and first.error is None and tool.calls == 3
    second = run(tool({"x": ["a", "b"]}))
    assert second.cache_hit and tool.calls == 3
    rows = log.drain()
    assert [(r["retries"], r["cache_hit"], r["error"]) for r in rows] == [(2, False, None), (0, True, None)]
    assert rows[0]["parents"] == ["task-1"] and rows[0]["request_hash"] == rows[1]["request_hash"]


def test_retry_budget_and_permanent_errors_and_crashes() -> None:
    assert run(Flaky(failures=5, retries=1)({"x": ["a"]})).error == "transient"
    permanent = Flaky(failures=5, exc=ToolError)
    result = run(permanent({"x": ["a"]}))
    assert result.error == "tool_error" and "boom" in result.text and permanent.calls == 1
    crash = run(Flaky(failures=5, exc=KeyError)({"x": ["a"]}))
    assert crash.error == "internal" and "KeyError" in crash.text


def test_timeout_is_an_error_not_a_hang() -> None:
    result = run(Slow(timeout_s=0.05, retries=1, backoff_s=0.0)({}))
    assert result.error == "timeout" and "timed out" in result.text


def test_a_cancelled_call_still_leaves_its_row_and_is_cancelled() -> None:
    log = RequestLog()

    async def go() -> None:
        call = asyncio.create_task(Slow(log=log)({}, parents=("task-1",)))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    run(go())
    [row] = log.drain()
    assert row["error"] == "cancelled" and row["name"] == "slow" and list(row["parents"]) == ["task-1"]


def test_persistent_cache_survives_instances(tmp_path: Path) -> None:
    path = tmp_path / "tools-cache.sqlite"
    run(Flaky(cache=path)({"x": ["z"]}))
    again = Flaky(cache=path)
    assert run(again({"x": ["z"]})).cache_hit and again.calls == 0
    assert not run(Flaky(cache=False)({"x": ["z"]})).cache_hit


def test_toolbox_schemas_and_unknown_tool() -> None:
    box = Toolbox([Flaky(), Slow()])
    assert [s["function"]["name"] for s in box.schemas()] == ["flaky", "slow"]
    assert box.schemas()[0]["type"] == "function" and "parameters" in box.schemas()[0]["function"]
    result = run(box.call("nope", {}))
    assert result.error == "unknown_tool" and "flaky" in result.text
    with pytest.raises(ValueError):
        box.add(Flaky())


# --- search -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_index(demo_documents: str, tmp_path_factory: pytest.TempPathFactory) -> SearchIndex:
    index = SearchIndex(tmp_path_factory.mktemp("index") / "search.sqlite")
    counts = index.update(Store(demo_documents))
    assert counts["search.indexed"] > 60 and counts["search.duplicate_url"] > 0  # ?ref= copies share a canonical
    return index


def test_index_is_incremental(demo_index: SearchIndex, demo_documents: str) -> None:
    before = len(demo_index)
    assert not demo_index.update(Store(demo_documents))
    assert len(demo_index) == before
    assert len(demo_index.indexed_ids()) == Store(demo_documents).count("documents")


def test_search_ranks_title_and_formats(demo_index: SearchIndex) -> None:
    log = RequestLog()
    search = Search(demo_index, log=log)
    result = run(search({"query": ["Marta Lindell", "Great Flood of 1894"]}))
    assert result.error is None
    first, second = result.text.split("\n=======\n")
    assert first.startswith("A search for 'Marta Lindell' found 10 results:")
    assert f"1. [Marta Lindell]({WIKI}Marta_Lindell)" in first and "**Lindell**" in first
    assert f"1. [Great Flood of 1894]({WIKI}Great_Flood_of_1894)" in second
    urls = [line for line in first.splitlines() if line[:1].isdigit()]
    assert len(urls) == len(set(urls)) == 10
    (row,) = log.drain()
    assert row["endpoint"].startswith("sqlite-fts5:") and row["name"] == "search"


@pytest.mark.parametrize("query", ['"unbalanced', "AND OR NOT", "title:Selva", "a* NEAR(b c)", "(((", "-x ^y",
                                   "Selva\x00river", "'; DROP TABLE pages; --", '"" ""', "ünïcödé ß"])
def test_hostile_queries_never_crash(demo_index: SearchIndex, query: str) -> None:
    result = run(Search(demo_index)({"query": [query]}))
    assert result.error is None or result.error == "tool_error"
    assert "internal" not in (result.error or "")


def test_empty_query_is_a_clear_error(demo_index: SearchIndex) -> None:
    result = run(Search(demo_index)({"query": ["  "]}))
    assert result.error == "tool_error" and "empty query" in result.text
    assert "no searchable words" in run(Search(demo_index)({"query": ["?!"]})).text
    assert fts_terms('say "hello world" x"y') == ['"say"', '"hello world"', '"x"', '"y"']


class JsonServer:
    """A local HTTP server answering POSTs from a script of (status, body) then a default body."""

    def __init__(self, body: dict) -> None:
        self.body, self.script, self.seen = body, [], []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.seen.append((dict(self.headers), json.loads(self.rfile.read(length))))
                status, body = outer.script.pop(0) if outer.script else (200, outer.body)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/search"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api_server() -> Iterator[JsonServer]:
    server = JsonServer({"organic": [
        {"title": "Paper one", "link": "https://example.org/1", "snippet": "About comets.", "year": 2001,
         "citedBy": 12, "publicationInfo": "J Smith - Journal of Comets"},
        {"title": "Paper two", "link": "https://example.org/2", "snippet": "More comets."},
    ]})
    yield server
    server.close()


def test_hosted_search_retries_and_hides_the_key(api_server: JsonServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SEARCH_KEY", "sk-planted-search-key")
    api_server.script = [(500, {"error": "x"}), (200, b"{not json")]
    log = RequestLog()
    tool = Search(HostedSearchAPI(api_server.url, key_env="TEST_SEARCH_KEY"), log=log, backoff_s=0.0)
    result = run(tool({"query": ["comets"]}))
    assert result.error is None and "1. [Paper one](https://example.org/1)" in result.text
    assert [body for _, body in api_server.seen] == [{"q": "comets", "num": 10}] * 3
    assert api_server.seen[0][0].get("X-API-KEY") == "sk-planted-search-key"
    (row,) = log.drain()
    assert row["retries"] == 2 and "sk-planted" not in json.dumps(row, default=str) + result.text
    api_server.script = [(401, {"error": "bad key"})]
    refused = run(tool({"query": ["other"]}))
    assert "HTTP 401" in refused.text


def test_google_scholar_adapter(api_server: JsonServer) -> None:
    result = run(GoogleScholar(api_server.url)({"query": ["comets"]}))
    assert result.error is None and result.text.startswith("A Google Scholar search for 'comets' found 2 results")
    assert "cited by: 12" in result.text and "J Smith - Journal of Comets" in result.text
    api_server.script = [(503, {})] * 3
    assert run(GoogleScholar(api_server.url, retries=1, backoff_s=0.0)({"query": ["x"]})).error == "transient"


# --- visit ------------------------------------------------------------------------------------------------


def test_visit_extracts_what_serves_the_goal(demo_documents: str) -> None:
    log = RequestLog()
    visit = Visit(Store(demo_documents), log=log)
    result = run(visit({"url": [WIKI + "Aurel_Fennick"], "goal": "whom did he marry and in which year"},
                       parents=["traj-1"]))
    assert result.error is None
    text = result.text
    assert text.startswith(f"The useful information in {WIKI}Aurel_Fennick for user goal")
    for part in ("Rational:", "Evidence in page:", "Summary:"):
        assert part in text
    summary = text.split("Summary: \n", 1)[1]
    assert "married the violinist Marta Lindell" in summary and "1919" in summary
    assert f"[Marta Lindell]({WIKI}Marta_Lindell)" in text  # links that serve the goal, to follow
    (row,) = log.drain()
    assert row["parents"] == ["traj-1"] and row["name"] == "visit"


def test_visit_finds_pages_by_any_url(demo_documents: str) -> None:
    store = Store(demo_documents)
    pages = CorpusPages(store)
    doc = next(d for d in store.rows("documents", ["id", "url", "page_url", "canonical_url"])
               if d["page_url"] != d["canonical_url"])
    assert pages.get(doc["page_url"])["id"] == doc["id"]
    assert pages.get(doc["canonical_url"]) is not None
    if "redirects" in store.datasets():
        redirect = next(iter(store.rows("redirects", ["url", "target"])))
        assert pages.get(redirect["url"]) is not None


def test_visit_unknown_url_is_clear(demo_documents: str) -> None:
    result = run(Visit(Store(demo_documents))({"url": ["http://nowhere.test/x"], "goal": "anything"}))
    assert result.error == "not_found" and "not in the corpus" in result.text
    assert run(Visit(Store(demo_documents))({"url": [WIKI + "Selva"]})).error == "invalid_arguments"


def test_extractive_summary_keeps_the_budget() -> None:
    doc = {"title": "T", "text": "T\n" + "\n".join(f"Paragraph {i} about apples and pears." for i in range(200)),
           "infobox": [{"key": "Founded", "value": "1901", "links": []}], "tables": []}
    info = extractive_summary(doc, "when was it founded", budget_chars=300)
    assert "Founded: 1901" in info["evidence"] and len(info["evidence"]) <= 300
    assert "founded" in info["rational"].lower() or "found" in info["rational"]


class FakeTeacher:
    def __init__(self, text: str, error: str | None = None) -> None:
        self.text, self.error, self.calls = text, error, []

    async def chat(self, messages, *, purpose, json_schema=None, parents=(), **kwargs):
        from types import SimpleNamespace

        self.calls.append((purpose, json_schema, tuple(parents)))
        return SimpleNamespace(text=self.text, error=self.error)


def test_visit_teacher_summary_and_fallback(demo_documents: str) -> None:
    good = FakeTeacher('```json\n{"rational": "R", "evidence": ["E1", "E2"], "summary": "S"}\n```')
    visit = Visit(Store(demo_documents), teacher=good)
    text = run(visit({"url": [WIKI + "Selva"], "goal": "length"}, parents=["t"])).text
    assert "Rational: \nR\n" in text and "E1\nE2" in text and "Summary: \nS\n" in text
    assert good.calls[0][0] == "summarizer" and good.calls[0][2] == ("t",) and good.calls[0][1]["required"]
    for teacher in (FakeTeacher("I think the river is long."), FakeTeacher("", error="http_500")):
        fallback = Visit(Store(demo_documents), teacher=teacher)
        result = run(fallback({"url": [WIKI + "Selva"], "goal": "how long is the river"}))
        assert result.error is None and "extractive fallback" in result.text and "238 km" in result.text
        assert fallback.counts["visit.summarizer_fallback"] == 1
    assert parse_summary('{"rational": 1}') is None


def test_visit_keeps_each_concurrent_call_s_lineage(demo_documents: str) -> None:
    """Two trajectories share one Visit: each summary request names its own task, whichever finishes first."""
    from types import SimpleNamespace

    seen: list[tuple[str, tuple[str, ...]]] = []

    class SlowTeacher:
        async def chat(self, messages, *, purpose, json_schema=None, parents=(), **kwargs):
            page = "Selva" if "Selva" in messages[0]["content"] else "other"
            await asyncio.sleep(0.1 if page == "Selva" else 0.0)  # the first call finishes last
            seen.append((page, tuple(parents)))
            return SimpleNamespace(text='{"rational": "r", "evidence": "e", "summary": "s"}', error=None)

    visit = Visit(Store(demo_documents), teacher=SlowTeacher(), cache=False)
    other = next(u for u in visit.pages._map() if u.startswith(WIKI) and "Selva" not in u)

    async def both() -> None:
        await asyncio.gather(visit({"url": [WIKI + "Selva"], "goal": "length"}, parents=("task-A",)),
                             visit({"url": [other], "goal": "length"}, parents=("task-B",)))

    run(both())
    assert sorted(seen) == [("Selva", ("task-A",)), ("other", ("task-B",))]


# --- the Python sandbox -----------------------------------------------------------------------------------


# the default sandbox refuses to run without a kernel layer (bubblewrap, or unshare + setpriv as root)
KERNEL_LAYER = bool(isolation_layers("auto"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> PythonInterpreter:
    if not KERNEL_LAYER:
        pytest.skip("no bubblewrap or usable unshare + setpriv on this machine: the sandbox refuses to run")
    return PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"),
                             limits=SandboxLimits(wall_s=6, cpu_s=2, memory_mb=512), cache=False)


@pytest.fixture(scope="module", params=["auto", "none"])
def sandboxes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PythonInterpreter:
    # "none": the Python-level guard alone, as on a machine without namespaces or root
    if request.param == "auto" and not KERNEL_LAYER:
        pytest.skip("no bubblewrap or usable unshare + setpriv on this machine: the sandbox refuses to run")
    return PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), isolation=request.param,
                             limits=SandboxLimits(wall_s=6, cpu_s=2, memory_mb=512), cache=False)


def code(tool: PythonInterpreter, source: str) -> ToolResult:
    return run(tool({"code": source}))


def test_sandbox_runs_normal_code(sandboxes: PythonInterpreter) -> None:
    result = code(sandboxes, "import math, os\nprint(math.comb(10, 3))\n"
                             "with open('out.txt', 'w') as f: f.write('kept')\nprint(open('out.txt').read())\n"
                             "os.makedirs('sub', exist_ok=True)\nprint(os.getcwd() == os.environ['HOME'])")
    assert result.error is None and result.text.split() == ["120", "kept", "True"]
    assert "no output" in code(sandboxes, "x = 1").text


def test_sandbox_blocks_network(sandboxes: PythonInterpreter) -> None:
    for source in ["import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)",
                   "import socket\nsocket.socket()",
                   "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9', timeout=1)"]:
        result = code(sandboxes, source)
        assert result.error == "exit:1" and "network access is disabled in the sandbox" in result.text


def test_sandbox_blocks_writes_outside_scratch(sandboxes: PythonInterpreter, tmp_path: Path) -> None:
    target = tmp_path / "escape.txt"
    for source in [f"open({str(target)!r}, 'w').write('x')", f"import os\nos.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
                   f"open('../{target.name}', 'a')", f"import os\nos.remove({str(tmp_path)!r})"]:
        result = code(sandboxes, source)
        assert result.error == "exit:1" and "PermissionError" in result.text, result.text
    assert not target.exists()


def test_sandbox_hides_environment_secrets(sandboxes: PythonInterpreter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRSYNTH_PLANTED_SECRET", "sk-planted-sandbox-secret")
    result = code(sandboxes, "import os\nprint(sorted(os.environ))\nprint(os.environ.get('DRSYNTH_PLANTED_SECRET'))")
    assert "sk-planted" not in result.text and "None" in result.text
    assert "OPENAI" not in result.text and "DRSYNTH_PLANTED_SECRET" not in result.text
    parent = code(sandboxes, f"print(open('/proc/{os.getpid()}/environ').read())")
    assert "sk-planted" not in parent.text and "PermissionError" in parent.text


def test_sandbox_contains_a_fork_bomb(sandboxes: PythonInterpreter) -> None:
    for source in ["import os\nwhile True:\n    os.fork()", "import subprocess\nsubprocess.run(['true'])",
                   "import os\nos.system('true')", "import multiprocessing\nmultiprocessing.Process(target=print).start()"]:
        result = code(sandboxes, source)
        assert result.error is not None and "starting processes is disabled in the sandbox" in result.text


def test_sandbox_contains_a_memory_hog(sandboxes: PythonInterpreter) -> None:
    result = code(sandboxes, "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))")
    assert result.error is not None and "MemoryError" in result.text


def test_sandbox_stops_infinite_loops_and_sleepers(sandbox: PythonInterpreter) -> None:
    spin = code(sandbox, "while True:\n    pass")
    assert spin.error == "signal:SIGXCPU" and "CPU time" in spin.text
    sleeper = code(sandbox, "import time\nprint('started', flush=True)\ntime.sleep(60)")
    assert sleeper.error == "timeout" and "time limit" in sleeper.text and "started" in sleeper.text


def test_sandbox_limits_output(sandbox: PythonInterpreter) -> None:
    result = code(sandbox, "while True:\n    print('y' * 1000)")
    assert result.error == "output_limit" and len(result.text) < 3 * sandbox.limits.max_output_chars


def test_sandbox_reports_exceptions_without_its_own_frames(sandbox: PythonInterpreter) -> None:
    result = code(sandbox, "def f():\n    return 1 / 0\nf()")
    assert result.error == "exit:1" and "ZeroDivisionError" in result.text and '"<string>"' not in result.text


# --- parse_file -------------------------------------------------------------------------------------------


def _zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
S_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    (root / "notes.txt").write_text("plain text notes\n")
    (root / "table.csv").write_text("name,year\nSelva,1894\n")
    _zip(root / "report.docx", {"word/document.xml": (
        f'<w:document {W_NS}><w:body><w:p><w:r><w:t>Hello</w:t></w:r><w:r><w:t xml:space="preserve"> docx</w:t></w:r></w:p>'
        '<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell a</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>cell b</w:t></w:r></w:p>'
        '</w:tc></w:tr></w:tbl></w:body></w:document>')})
    _zip(root / "book.xlsx", {
        "xl/workbook.xml": f'<workbook {S_NS} {R_NS}><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                                       '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="x"/></Relationships>'),
        "xl/sharedStrings.xml": f"<sst {S_NS}><si><t>river</t></si><si><t>length</t></si></sst>",
        "xl/worksheets/sheet1.xml": (f'<worksheet {S_NS}><sheetData><row><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>'
                                     '<row><c t="inlineStr"><is><t>Selva</t></is></c><c><v>238</v></c></row></sheetData></worksheet>'),
    })
    (root / "paper.pdf").write_bytes(minimal_pdf("Hello PDF"))
    (tmp_path / "secret.txt").write_text("outside")
    return root


def test_parse_file_formats(files_dir: Path) -> None:
    tool = ParseFile(files_dir)
    result = run(tool({"files": ["notes.txt", "table.csv", "report.docx", "book.xlsx", f"file://{files_dir}/notes.txt"]}))
    assert result.error is None
    text = result.text
    for expected in ("plain text notes", "name | year\nSelva | 1894", "Hello docx", "cell a | cell b",
                     "## Sheet: Data\nriver | length\nSelva | 238"):
        assert expected in text, expected
    pdf = run(tool({"files": ["paper.pdf"]})).text
    try:
        import pypdf  # noqa: F401
    except ImportError:
        assert "PDF support needs pypdf" in pdf
    else:
        assert "Hello PDF" in pdf


def test_parse_file_stays_inside_its_directory(files_dir: Path) -> None:
    tool = ParseFile(files_dir)
    for name in ["../secret.txt", str(files_dir.parent / "secret.txt"), "missing.txt", "http://example.org/a.pdf"]:
        result = run(tool({"files": [name]}))
        assert result.error == "parse_failed" and "Error:" in result.text and "outside\n" not in result.text
    assert "outside the directory" in run(tool({"files": ["../secret.txt"]})).text
    assert "no such file" in run(tool({"files": ["missing.txt"]})).text
    assert "HTTP is disabled" in run(tool({"files": ["http://example.org/a.pdf"]})).text
    (files_dir / "broken.docx").write_bytes(b"PK not a zip")
    assert run(tool({"files": ["broken.docx"]})).error == "parse_failed"


# --- the default toolbox ----------------------------------------------------------------------------------


def test_parse_file_bounds_files_and_characters_per_call(files_dir: Path) -> None:
    for i in range(7):
        (files_dir / f"long{i}.txt").write_text(f"file {i} " + "x" * 30_000)
    tool = ParseFile(files_dir, max_chars=20_000, max_files=5, cache=False)
    result = run(tool({"files": ["notes.txt", *(f"long{i}.txt" for i in range(7))]}))
    assert result.error is None
    assert "# notes.txt\nplain text notes" in result.text  # a short file is given whole
    assert [f"# long{i}.txt" in result.text for i in range(7)] == [True] * 4 + [False] * 3
    assert "at most 5 files per call" in result.text and "long4.txt, long5.txt, long6.txt" in result.text
    kept = sum(part.count("x") for part in result.text.split("# long")[1:])
    assert kept <= 20_000 and len(result.text) < 21_000 and result.text.count("more characters]") == 4


def test_default_toolbox(demo_store: str, tmp_path: Path) -> None:
    log = RequestLog()
    box = default_toolbox(Store(demo_store), log=log, scratch_root=tmp_path / "scratch", files_dir=tmp_path)
    assert list(box) == ["search", "visit", "PythonInterpreter", "parse_file"]
    assert os.path.exists(os.path.join(demo_store, "_index", "search.sqlite"))
    hits = run(box.call("search", {"query": ["Varkholm Conservatory"]}))
    url = hits.text.split("](", 1)[1].split(")", 1)[0]
    page = run(box.call("visit", {"url": [url], "goal": "when was it founded"}))
    assert page.error is None and "Evidence in page:" in page.text
    assert run(box.call("PythonInterpreter", {"code": "print(6 * 7)"})).text.strip() == "42"
    assert [r["name"] for r in log.drain()] == ["search", "visit", "PythonInterpreter"]
