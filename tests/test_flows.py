"""The Prefect wiring: `drsynth run` over every kind of source, one task per batch, resumable ingest,
and the layering rule (only flows/ imports Prefect)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from drsynth.storage.store import Store
from drsynth.synth.corpus import ingest
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.demo import SITE_DIR
from drsynth.synth.corpus.extract_pool import ExtractionPool

REPO = Path(__file__).resolve().parents[1]
CORE = ("storage", "synth", "filters", "training")


def test_core_packages_never_import_prefect_or_flows() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(prefect|flows)\b", re.MULTILINE)
    offenders = [str(p.relative_to(REPO)) for pkg in CORE for p in (REPO / pkg).rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []


def _html_dir(root: Path, n: int) -> Path:
    """n demo articles under new names (new ids), plus one non-HTML file and one empty page."""
    articles = sorted((SITE_DIR / "wiki").glob("*.html"))
    root.mkdir()
    for i in range(n):
        (root / f"copy-{i:04d}-{articles[i % len(articles)].name}").write_bytes(articles[i % len(articles)].read_bytes())
    (root / "empty.html").write_bytes(b"")
    (root / "readme.txt").write_text("not html")
    return root


def _warc(path: Path) -> Path:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i, article in enumerate(sorted((SITE_DIR / "wiki").glob("*.html"))[:5]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"http://archive.test/{i}", "response",
                                                          payload=io.BytesIO(article.read_bytes()), http_headers=headers))
    return path


def _jsonl(path: Path) -> Path:
    records = [{"title": f"Passage {i}", "text": f"Passage {i} tells of the harbour of Varkholm in {1800 + i}."}
               for i in range(10)]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{not json}\n")
    return path


def test_drsynth_run_over_every_kind_of_local_source(tmp_path: Path) -> None:
    sources = [_html_dir(tmp_path / "html", 12), _warc(tmp_path / "a.warc.gz"), _jsonl(tmp_path / "c.jsonl"),
               tmp_path / "missing.json"]
    out = tmp_path / "out"
    config = tmp_path / "drsynth.toml"
    config.write_text("[extract]\nworkers = 2\npages_per_task = 8\n[agent]\ntasks_per_level = 3\n")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    args = [a for s in sources for a in ("--source", str(s))]
    result = subprocess.run([sys.executable, "-m", "drsynth.flows.cli", "run", *args, "--out", str(out), "--config", str(config)],
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    kinds = dict(con.execute("SELECT p.source_kind, count(*) FROM documents d JOIN pages p ON d.parents[1] = p.id "
                             "GROUP BY ALL").fetchall())
    assert kinds == {"html_dir": 12, "warc": 5, "text": 10}
    reasons = sorted(con.execute("SELECT stage || ':' || reason FROM quarantine WHERE stage IN ('read', 'extract')")
                     .fetchall())
    assert reasons == [("extract:empty",), ("read:invalid_json",), ("read:missing_source",), ("read:not_html",)]
    params = json.loads(con.execute("SELECT parameters FROM runs").fetchone()[0])
    assert params["config"]["extract"]["pages_per_task"] == 8
    # the text records have no links: the graph links them by mentions ("Varkholm" is no entity here, so
    # only the HTML copies give hyperlink edges), and the run ends with tasks
    assert con.execute("SELECT count(*) FROM entities").fetchone()[0] > 10
    assert con.execute("SELECT count(*) FROM tasks").fetchone()[0] > 0


def test_ingest_flow_runs_one_task_per_batch(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from drsynth.flows.ingest import ingest as ingest_flow

    source = _html_dir(tmp_path / "html", 40)
    config = {"extract": {"workers": 1, "pages_per_task": 16}}
    with prefect_test_harness(server_startup_timeout=180):
        result = ingest_flow(sources=[str(source)], out=str(tmp_path / "out"), config=config)

        async def task_names() -> list[str]:
            from prefect.client.schemas.sorting import TaskRunSort

            async with get_client() as client:
                runs = await client.read_task_runs(limit=200, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
                return [t.name for t in runs]

        names = asyncio.run(task_names())
    assert result["counts"]["documents"] == 40
    extract_tasks = [n for n in names if n.startswith("extract-batch")]
    assert len(extract_tasks) == 3  # 41 pages (one empty) in batches of 16, not 41 tasks
    assert len([n for n in names if n.startswith("acquire-source")]) == 1


def test_interrupted_extraction_resumes_with_the_pending_pages(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    cfg = IngestConfig.from_dict({"extract": {"workers": 1, "pages_per_task": 10}})
    ingest.acquire(store, "run-1", str(_html_dir(tmp_path / "html", 30)), cfg)
    batches = ingest.pending_batches(store, 10)
    assert sum(len(b.ids) for b in batches) == 31
    with ExtractionPool(1) as pool:
        ingest.extract(store, "run-1", batches[0], pool, cfg)  # then the run "dies"
        remaining = ingest.pending_batches(store, 10)
        assert sum(len(b.ids) for b in remaining) == 21
        assert not set(batches[0].ids) & {i for b in remaining for i in b.ids}
        for batch in remaining:
            ingest.extract(store, "run-2", batch, pool, cfg)
    assert ingest.pending_batches(store, 10) == []
    extract_rows = [r for r in store.rows("quarantine", ["stage"]) if r["stage"] == "extract"]
    assert (store.count("documents"), len(extract_rows)) == (30, 1)  # the empty page


def test_cli_reports_user_mistakes_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("crawl = 3\n")
    typo = tmp_path / "typo.toml"
    typo.write_text("[graph]\nmention_linkin = 'never'\n[tasks]\nsubgraphs = 10\n")
    cases = [
        (["run", "--source", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(typo)],
         "graph.mention_linkin: Extra inputs are not permitted"),
        (["demo", "--out", str(tmp_path / "o"), "--teacher-url", "http://127.0.0.1:9/v1"],
         "--teacher-url and --teacher-model go together"),
        (["graph", "--out", str(tmp_path)], "has no knowledge graph yet"),
        (["sql", "--out", str(tmp_path / "never-written"), "SELECT 1"], "does not exist"),
        (["run", "--source", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(bad)], "crawl: Input should be a valid dictionary"),
        (["run", "--source", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(tmp_path / "none.toml")],
         "No such file"),
    ]
    for args, message in cases:
        result = subprocess.run([sys.executable, "-m", "drsynth.flows.cli", *args], capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "never-written").exists()


def test_graph_and_task_flows_run_one_task_per_batch(demo_store: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from drsynth.filters.rejection import accepted_per_level, filter_fingerprint
    from drsynth.flows.filter_and_publish import filter_and_publish
    from drsynth.flows.graph import build_graph
    from drsynth.flows.synthesize_tasks import synthesize_tasks
    from drsynth.flows.synthesize_trajectories import synthesize_trajectories
    from drsynth.synth.settings import Settings

    config = {"graph": {"docs_per_task": 32}, "tasks": {"subgraphs": 40, "subgraphs_per_task": 16},
              "agent": {"tasks_per_level": 4, "tasks_per_batch": 5, "samples": 1},
              "filter": {"trajectories_per_batch": 5, "decontaminate": False}}
    budgeted = {**config, "agent": {"tasks_per_batch": 5, "samples": 2},
                "filter": {"decontaminate": False, "budget_per_level": 2}}
    with prefect_test_harness(server_startup_timeout=180):
        built = build_graph(out=demo_store, config=config)
        made = synthesize_tasks(out=demo_store, config=config)
        ran = synthesize_trajectories(out=demo_store, config=config)
        filtered = filter_and_publish(out=demo_store, config=config)
        waves = synthesize_trajectories(out=demo_store, config=budgeted)

        async def task_names() -> list[tuple[str, str]]:
            from prefect.client.schemas.sorting import TaskRunSort

            async with get_client() as client:
                runs = await client.read_task_runs(limit=200, sort=TaskRunSort.EXPECTED_START_TIME_ASC)
                return [(t.name, str(t.flow_run_id)) for t in runs]

        named_runs = asyncio.run(task_names())
    names = [n for n, _ in named_runs]
    assert made["graph"] == built["graph"]  # synthesize_tasks found the newest graph by itself
    assert len([n for n in names if n.startswith("link-batch")]) == 3  # 80 documents in batches of 32
    subgraphs = made["counts"]["subgraphs.added"]
    assert 0 < subgraphs <= 40
    assert len([n for n in names if n.startswith("write-questions")]) == -(-subgraphs // 16)
    store = Store(demo_store)
    assert store.count("tasks") == sum(v for k, v in made["counts"].items() if k == "tasks.added")
    con = duckdb.connect(str(Path(demo_store) / "catalog.duckdb"), read_only=True)
    assert [r[0] for r in con.execute("SELECT flow FROM runs ORDER BY started_at").fetchall()] == \
        ["build_graph", "synthesize_tasks", "synthesize_trajectories", "filter_and_publish", "synthesize_trajectories"]
    # 12 sampled tasks (4 per level) in batches of up to 5 (a batch never spans two shards): a few agent
    # tasks, not one per task, and one index build per flow that searches (the level-3 search check too)
    assert ran["counts"]["trajectories.added"] == 12
    (first_run,), = con.execute("SELECT flow_run_id FROM runs WHERE flow = 'synthesize_trajectories' "
                                "ORDER BY started_at LIMIT 1").fetchall()
    assert 3 <= len([n for n, f in named_runs if n.startswith("run-agents") and f == first_run]) <= 5
    assert len([n for n in names if n.startswith("index-corpus")]) == 3
    # the filter: one judging task per batch of 5 trajectories (per shard), one screening, one publish
    (filter_run,), = con.execute("SELECT flow_run_id FROM runs WHERE flow = 'filter_and_publish'").fetchall()
    judging = len([n for n, f in named_runs if n.startswith("judge-batch") and f == filter_run])
    assert 3 <= judging <= 5 and filtered["counts"]["trajectories.judged"] == 12
    assert len([n for n in names if n.startswith("screen-tasks")]) == 2  # the budgeted run screens too
    assert len([n for n in names if n.startswith("publish")]) == 1
    (named,), = con.execute("SELECT datasets FROM runs WHERE flow = 'filter_and_publish'").fetchall()
    assert json.loads(named)["published"] == filtered["published"]
    # one sample per task: none is solved by some samples but not all, so the RL pool is empty and not published
    assert set(filtered["published"]) == {"sft_samples", "cpt_samples"}
    assert "rl_tasks: nothing to publish (0 rows), no version published" in filtered["warnings"]
    # budgeted: waves of agents, each judged, until 2 trajectories per level are accepted, or a level's tasks
    # are all tried (the baseline keeps few level-3 answers: only those it checked on pages)
    fingerprint = filter_fingerprint(Settings.from_dict(budgeted).filter)
    accepted = accepted_per_level(store, fingerprint)
    tried = {r["task_id"] for r in store.rows("trajectories", ["task_id"])}
    for level in (1, 2, 3):
        level_tasks = {r["id"] for r in store.rows("tasks", ["id", "level"]) if r["level"] == level}
        assert accepted.get(level, 0) == 2 or (accepted.get(level, 0) < 2 and level_tasks <= tried), (level, accepted)
    assert accepted[1] == 2
    assert waves["counts"]["budget.waves"] == len([n for n in names if n.startswith("plan-wave")]) - 1 >= 1


def test_drsynth_run_with_a_teacher_writer_over_http(tmp_path: Path) -> None:
    """`--teacher-url/--teacher-model`: the questions come from an OpenAI-compatible server, the key from
    the environment, and the key lands in no file."""
    from tests.openai_server import OpenAIServer

    def responder(request: dict) -> str:
        if "<tools>" in request["messages"][0]["content"]:  # the agent: search once, then answer
            if any("<tool_response>" in m["content"] for m in request["messages"] if m["role"] == "user"):
                return "<think>The results name it.</think>\n<answer>Aurel Fennick</answer>"
            return '<think>I should search.</think>\n<tool_call>{"name": "search", "arguments": ' \
                   '{"query": ["Aurel Fennick"]}}</tool_call>'
        draft = json.loads(request["messages"][-1]["content"])["draft_question"]
        return json.dumps({"question": "Teacher asks: " + draft[0].lower() + draft[1:]})

    secret = "sk-cli-3b9e21d"
    out = tmp_path / "out"
    config = tmp_path / "drsynth.toml"
    config.write_text("[tasks]\nsubgraphs = 12\n[agent]\ntasks_per_level = 3\n")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "DRSYNTH_TEACHER_API_KEY": secret}
    env.pop("PREFECT_API_URL", None)
    with OpenAIServer(responder) as server:
        result = subprocess.run(
            [sys.executable, "-m", "drsynth.flows.cli", "run", "--source", str(SITE_DIR / "wiki"), "--out", str(out),
             "--config", str(config), "--teacher-url", server.base_url, "--teacher-model", "tiny-teacher"],
            env=env, capture_output=True, text=True, timeout=600, check=False)
        chats = server.chat_requests()
    assert result.returncode == 0, result.stderr[-4000:]
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    rows = con.execute("SELECT writer, question FROM tasks").fetchall()
    assert rows and {w for w, _ in rows} == {"teacher:tiny-teacher"}
    assert all(q.startswith("Teacher asks: ") for _, q in rows) and len(chats) >= len(rows)
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in chats)
    # every call the question writer made is accounted for
    purposes = dict(con.execute("SELECT purpose, count(*) FROM requests WHERE kind = 'llm' GROUP BY ALL").fetchall())
    assert sum(purposes.values()) == len(chats) and purposes["question_writer"] >= len(rows)
    # every teacher call names the record it served: a subgraph for the writer, a task for the agents
    assert con.execute("SELECT count(*) FROM requests WHERE kind = 'llm' AND len(parents) = 0").fetchone() == (0,)
    # the agents ran on the teacher too: a search, then the answer, in the Tongyi format
    trajectories = con.execute("SELECT policy, model, termination, tool_calls, answer FROM trajectories").fetchall()
    assert trajectories and set(trajectories) == {("teacher", "tiny-teacher", "answer", 1, "Aurel Fennick")}
    assert con.execute("SELECT count(*) FROM requests WHERE kind = 'tool' AND name = 'search'").fetchone()[0] \
        == len(trajectories)
    assert not [p for p in out.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert secret not in result.stdout + result.stderr


def test_newest_graph_is_the_last_completed_build(store_root: str) -> None:
    from drsynth.flows.synthesize_tasks import newest_graph
    from drsynth.storage.runs import RunLog

    store = Store(store_root)
    assert newest_graph(store) is None
    RunLog(store, "build_graph", {}).start().finish({"graph": "g-old"})
    RunLog(store, "pipeline", {}).start().finish({"graph": "g-new", "documents": 3})
    RunLog(store, "build_graph", {}).start().finish({"graph": "g-broken"}, error="boom")  # failed: not complete
    RunLog(store, "ingest", {}).start().finish({"documents": 5})  # built no graph
    assert newest_graph(store) == "g-new"
    RunLog(store, "build_graph", {}).start().finish({"graph": "g-old"})  # a rebuild that added no rows
    assert newest_graph(store) == "g-old"
