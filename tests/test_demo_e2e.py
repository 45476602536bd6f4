"""`drsynth demo` end to end, as a user runs it: a real subprocess, a real ephemeral Prefect server,
the bundled site served over HTTP and crawled, extraction in worker processes, a DuckDB catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from drsynth.synth.corpus.demo import DEMO_HOST, LIST_PAGES, NON_ARTICLE_PAGES, SITE_DIR

pytestmark = pytest.mark.slow
ARTICLES = {p.stem for p in (SITE_DIR / "wiki").glob("*.html")} - set(NON_ARTICLE_PAGES)


def drsynth(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": ""}
    env.pop("PREFECT_API_URL")
    return subprocess.run([sys.executable, "-m", "drsynth.flows.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], Path]:
    base = tmp_path_factory.mktemp("demo")
    out = base / "data"
    result = drsynth("demo", "--out", str(out), home=base / "prefect")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return out, result, base


def sql(out: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_demo_prints_where_the_data_is(demo) -> None:
    out, result, _ = demo
    assert str(out / "catalog.duckdb") in result.stdout
    assert f"duckdb {out / 'catalog.duckdb'}" in result.stdout
    assert "drsynth sql --out" in result.stdout


def test_demo_crawls_every_article_through_the_stable_host(demo) -> None:
    out, _, _ = demo
    urls = {u for (u,) in sql(out, "SELECT url FROM documents")}
    assert all(u.startswith(f"http://{DEMO_HOST}/") for u in urls)
    titles = {u.split("?")[0].rsplit("/", 1)[-1] for u in urls}
    missing = {a for a in ARTICLES if a not in titles and a.replace(",", "%2C") not in titles}
    assert not missing, f"articles never extracted: {sorted(missing)[:10]}"


def test_demo_documents_have_structure(demo) -> None:
    out, _, _ = demo
    row = sql(out, "SELECT count(*), count(*) FILTER (len(infobox) > 0), count(*) FILTER (lang = 'en'), "
                   "count(*) FILTER (len(links) > 3) FROM documents WHERE url LIKE '%/wiki/%'")[0]
    total, with_infobox, english, linked = row
    assert total >= len(ARTICLES)
    assert with_infobox >= 0.9 * len(ARTICLES) and english == total and linked >= 0.9 * len(ARTICLES)
    contexts = sql(out, "SELECT l.anchor, l.context FROM (SELECT unnest(links) AS l FROM documents) "
                        "WHERE l.kind = 'text' LIMIT 50")
    assert all(anchor in context for anchor, context in contexts)


def test_demo_traps_become_quarantine_rows(demo) -> None:
    out, _, _ = demo
    reasons = {(stage, reason) for stage, reason in sql(out, "SELECT stage, reason FROM quarantine")}
    assert ("crawl", "content_type") in reasons  # the PNG
    assert ("crawl", "http_404") in reasons  # the red link
    assert ("crawl", "robots") in reasons  # /private/, refused by robots.txt, never fetched
    assert sql(out, "SELECT count(*) FROM pages WHERE url LIKE '%/private/%'") == [(0,)]


def test_demo_lineage_and_runs(demo) -> None:
    out, _, _ = demo
    orphans = sql(out, "SELECT count(*) FROM lineage WHERE child_dataset = 'documents' AND parent_dataset IS DISTINCT FROM 'pages'")
    assert orphans == [(0,)]
    assert sql(out, "SELECT count(DISTINCT child_id) FROM lineage WHERE child_dataset = 'documents'") == \
        sql(out, "SELECT count(*) FROM documents")
    (flow, status, params, version), = sql(out, "SELECT flow, status, parameters, code_version FROM runs")
    assert (flow, status) == ("pipeline", "completed") and version
    assert json.loads(params)["sources"] == [f"http://{DEMO_HOST}/"]


def test_demo_rerun_adds_nothing(demo) -> None:
    out, _, base = demo
    datasets = ("pages", "documents", "quarantine", "entities", "edges", "subgraphs", "tasks", "trajectories",
                "judgments", "pass_rates", "sft_samples", "rl_tasks", "cpt_samples", "publications")
    before = {d: sql(out, f"SELECT count(*) FROM {d}")[0][0] for d in datasets}
    result = drsynth("demo", "--out", str(out), home=base / "prefect")
    assert result.returncode == 0, result.stderr[-3000:]
    after = {d: sql(out, f"SELECT count(*) FROM {d}")[0][0] for d in datasets}
    assert after == before
    # (quarantine too: failures that depend on nothing but the input are not repeated)
    assert sql(out, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(2, 2)]


def test_sql_command(demo) -> None:
    out, _, base = demo
    result = drsynth("sql", "--out", str(out), "SELECT count(*) AS n FROM documents", home=base / "prefect")
    assert result.returncode == 0 and "n" in result.stdout
    bad = drsynth("sql", "--out", str(out), "SELECT nope FROM documents", home=base / "prefect")
    assert bad.returncode == 1 and "error" in bad.stderr


def test_trace_walks_from_a_document_back_to_its_url_and_forward_again(demo) -> None:
    out, _, base = demo
    (doc_id, url), = sql(out, "SELECT id, url FROM documents WHERE url LIKE '%/wiki/Aurel_Fennick'")
    back = drsynth("trace", "--out", str(out), doc_id, home=base / "prefect")
    assert back.returncode == 0, back.stderr
    assert "<- pages" in back.stdout and f"url={url}" in back.stdout and "fetched_at=" in back.stdout
    (page_id,), = sql(out, f"SELECT parent_id FROM lineage WHERE child_id = '{doc_id}'")
    forward = drsynth("trace", "--out", str(out), "--forward", page_id, home=base / "prefect")
    assert forward.returncode == 0 and f"-> documents {doc_id}" in forward.stdout
    missing = drsynth("trace", "--out", str(out), "no-such-id", home=base / "prefect")
    assert missing.returncode == 2 and "appears in no lineage" in missing.stderr


def test_demo_ends_with_a_graph_and_tasks_at_every_level(demo) -> None:
    out, result, _ = demo
    entities, edges = sql(out, "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM edges)")[0]
    # one entity per article that is about one thing, and the two typed stubs linked from infoboxes
    # (Karl Voss, Gullwing Records)
    # articles, 2 stubs linked from infoboxes, 14 subjects tables list by name only (row stubs)
    assert entities == len(ARTICLES - LIST_PAGES) + 2 + 14 and edges > 3 * entities
    levels = dict(sql(out, "SELECT level, count(*) FROM tasks GROUP BY level"))
    assert set(levels) == {1, 2, 3} and all(n >= 5 for n in levels.values())
    assert sql(out, "SELECT count(*) FROM subgraphs")[0][0] > 0
    assert "tasks" in result.stdout and "SELECT level, question, answer FROM tasks" in result.stdout
    # the evidence of every task names documents that exist
    dangling = sql(out, "SELECT count(*) FROM (SELECT unnest(evidence_doc_ids) AS d FROM tasks) "
                        "WHERE d NOT IN (SELECT id FROM documents)")
    assert dangling == [(0,)]


def test_trace_walks_from_a_task_back_to_source_urls(demo) -> None:
    out, _, base = demo
    (task_id,), = sql(out, "SELECT id FROM tasks WHERE level = 3 ORDER BY id LIMIT 1")
    back = drsynth("trace", "--out", str(out), task_id, home=base / "prefect")
    assert back.returncode == 0, back.stderr
    for hop in ("<- subgraphs", "<- entities", "<- documents", "<- pages", f"url=http://{DEMO_HOST}/wiki/"):
        assert hop in back.stdout, hop


def test_graph_command_prints_the_report(demo) -> None:
    out, _, base = demo
    result = drsynth("graph", "--out", str(out), home=base / "prefect")
    assert result.returncode == 0, result.stderr
    (entities,), = sql(out, "SELECT count(*) FROM entities")
    assert str(entities) in result.stdout and "compon" in result.stdout.lower()


def test_demo_ends_with_agent_trajectories_in_the_tongyi_format(demo) -> None:
    out, _, _ = demo
    per_level = dict(sql(out, "SELECT t.level, count(*) FROM trajectories tr JOIN tasks t ON tr.task_id = t.id "
                              "GROUP BY ALL"))
    # the demo's sample: up to 20 tasks per level (fewer where the graph keeps fewer), 2 samples each
    tasks = dict(sql(out, "SELECT level, count(*) FROM tasks GROUP BY ALL"))
    assert per_level == {level: 2 * min(20, n) for level, n in tasks.items()} and per_level[1] == 40
    rows = sql(out, "SELECT mode, policy, status, termination, messages, tool_calls FROM trajectories")
    assert {(m, p) for m, p, *_ in rows} == {("react", "scripted")}
    assert {s for _, _, s, *_ in rows} == {"accepted", "rejected"}  # the filter judged every one
    for *_, termination, messages, tool_calls in rows:
        assert messages[0]["role"] == "system" and "<tools>" in messages[0]["content"]
        assert "Current date:" in messages[0]["content"] and messages[1]["role"] == "user"
        calls = [m for m in messages if m["role"] == "assistant" and "<tool_call>" in m["content"]]
        responses = [m for m in messages if m["role"] == "user" and m["content"].startswith("<tool_response>")]
        assert len(calls) == len(responses) == tool_calls
        if termination == "answer":
            assert "<answer>" in messages[-1]["content"]
    # every tool call is a `requests` row, parented by its trajectory's task
    (calls,), = sql(out, "SELECT sum(tool_calls) FROM trajectories")
    assert sql(out, "SELECT count(*) FROM requests WHERE kind = 'tool'") == [(calls,)]


def test_demo_publishes_sft_rl_and_cpt_training_sets(demo) -> None:
    out, result, _ = demo
    # accepted + rejected = generated, and every rejection says why
    (generated,), = sql(out, "SELECT count(*) FROM trajectories")
    assert generated >= 90  # up to 20 tasks per level, 2 samples each: 102 measured
    assert sql(out, "SELECT count(*) FILTER (status = 'accepted') + count(*) FILTER (status = 'rejected'), "
                    "count(*), count(*) FILTER (status = 'rejected' AND reason IS NULL) FROM trajectories") == \
        [(generated, generated, 0)]
    assert sql(out, "SELECT count(DISTINCT trajectory_id) FROM judgments") == [(generated,)]
    published = dict(sql(out, "SELECT dataset, rows FROM publications"))
    assert set(published) == {"sft_samples", "rl_tasks", "cpt_samples"} and all(published.values())
    assert {m for (m,) in sql(out, "SELECT DISTINCT mode FROM sft_samples")} == {"react", "context"}
    assert {k for (k,) in sql(out, "SELECT DISTINCT kind FROM cpt_samples")} == {"planning", "reasoning", "decision"}
    assert sql(out, "SELECT count(*) FROM rl_tasks WHERE NOT (pass_rate > 0 AND pass_rate < 1)") == [(0,)]
    # the pipeline run names the exact versions it published
    (named,), = sql(out, "SELECT datasets FROM runs ORDER BY started_at LIMIT 1")
    versions = json.loads(named)["published"]
    assert versions == {d: n for d, n in sql(out, "SELECT dataset, name FROM publications")}
    assert "Published:" in result.stdout and versions["sft_samples"] in result.stdout


def test_trace_walks_from_a_training_sample_back_to_its_url(demo) -> None:
    out, _, base = demo
    (sample_id,), = sql(out, "SELECT id FROM sft_samples WHERE mode = 'react' ORDER BY id LIMIT 1")
    back = drsynth("trace", "--out", str(out), sample_id, home=base / "prefect")
    assert back.returncode == 0, back.stderr
    for hop in ("<- trajectories", "<- tasks", "<- subgraphs", "<- documents", "<- pages",
                f"url=http://{DEMO_HOST}/wiki/"):
        assert hop in back.stdout, hop
    listed = drsynth("published", "--out", str(out), home=base / "prefect")
    assert listed.returncode == 0 and "sft_samples@v" in listed.stdout
