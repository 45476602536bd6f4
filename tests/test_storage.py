"""The storage contract: atomic commits, idempotent reruns, crash safety, readers, fsspec roots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from drsynth.storage import manifest
from drsynth.storage.catalog import build_catalog
from drsynth.storage.runs import RunLog
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import page_record, quarantine_record

REPO = Path(__file__).resolve().parents[1]


def pages(n: int, start: int = 0) -> list[dict]:
    return [
        page_record(url=f"http://site.test/{i}", body=f"<p>page {i}</p>".encode(), content_type="text/html",
                    source="test", source_kind="crawl")
        for i in range(start, start + n)
    ]


def committed_ids(store: Store, dataset: str) -> list[str]:
    return [r["id"] for r in store.rows(dataset, ["id"])]


def test_commit_makes_rows_visible_and_rerun_adds_no_duplicates(store_root: str) -> None:
    store = Store(store_root)
    with store.writer("pages", "run-a", buffer_rows=100, rows_per_shard=300) as w:
        w.write_many(pages(1000))
    assert w.stats["written"] == 1000
    assert len(store.files("pages")) == 4  # 300+300+300+100 rows per shard
    with store.writer("pages", "run-b") as w2:
        w2.write_many(pages(1200))  # 1000 already there
    assert (w2.stats["written"], w2.stats["duplicates"]) == (200, 1000)
    ids = committed_ids(Store(store_root), "pages")
    assert len(ids) == len(set(ids)) == 1200


def test_rows_are_invisible_until_commit(store_root: str) -> None:
    store = Store(store_root)
    writer = store.writer("pages", "run-a", buffer_rows=10)
    writer.write_many(pages(50))  # flushed to a shard file, not committed
    assert store.count("pages") == 0 and store.files("pages") == []
    assert list(Path(store_root, "pages").rglob("part-*.parquet")) == []  # only hidden temp names
    writer.commit()
    assert store.count("pages") == 50


def test_exception_inside_writer_aborts_everything(store_root: str) -> None:
    store = Store(store_root)
    with pytest.raises(RuntimeError), store.writer("pages", "run-a", buffer_rows=10) as w:
        w.write_many(pages(50))
        raise RuntimeError("stage failed")
    assert store.count("pages") == 0
    assert [p for p in Path(store_root, "pages").rglob("*") if p.is_file() and p.suffix != ".lock"] == []


def test_crash_before_publish_leaves_nothing_visible_and_vacuum_cleans(store_root: str, monkeypatch) -> None:
    store = Store(store_root)
    with store.writer("pages", "run-a") as w:
        w.write_many(pages(10))

    def crash(*_a, **_k):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr("drsynth.storage.writer.publish_commit", crash)
    writer = store.writer("pages", "run-b")
    writer.write_many(pages(20, start=10))
    with pytest.raises(KeyboardInterrupt):
        writer.commit()
    monkeypatch.undo()
    fresh = Store(store_root)
    assert fresh.count("pages") == 10
    assert fresh.vacuum() == []  # within the grace period a shard may belong to a live writer
    orphans = fresh.vacuum(min_age_s=0)
    assert len(orphans) == 1 and "run-b" in orphans[0]
    assert fresh.count("pages") == 10 and fresh.vacuum(min_age_s=0) == []


def test_half_written_commit_file_is_ignored(store_root: str) -> None:
    store = Store(store_root)
    with store.writer("pages", "run-a") as w:
        w.write_many(pages(5))
    # what a crash in the middle of writing the commit file leaves: a temporary, never renamed
    Path(store_root, "pages", "_commits", ".tmp-deadbeef.json").write_text('{"commit_id": "dead')
    assert Store(store_root).count("pages") == 5


WRITER_SCRIPT = r"""
import sys
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import page_record
root = sys.argv[1]
store = Store(root)
i = 0
while True:
    with store.writer("pages", "run-kill", buffer_rows=50, rows_per_shard=200) as w:
        for _ in range(400):
            w.write(page_record(url=f"http://k.test/{i}", body=b"x" * 2000 + str(i).encode(),
                                content_type="text/html", source="k", source_kind="crawl"))
            i += 1
    print(i, flush=True)
"""


def test_process_killed_mid_write_leaves_only_whole_commits(store_root: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.3, 0.7, 1.1, 1.6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, store_root], env=env,
                                stdout=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store(store_root)
        commits = store.commits("pages")
        for commit in commits:  # every commit names whole, readable shards with the rows it claims
            for shard in commit.files:
                table = pq.read_table(os.path.join(store_root, "pages", shard.path))
                assert table.num_rows == shard.rows
        ids = committed_ids(store, "pages")
        assert len(ids) == len(set(ids)) == sum(c.rows for c in commits)
        catalog = build_catalog(store)
        assert duckdb.connect(catalog, read_only=True).execute("SELECT count(*) FROM pages").fetchone()[0] == len(ids)
    assert Store(store_root).count("pages") > 0
    # a rerun of the same input after the crashes adds only what was never committed
    before = Store(store_root).count("pages")
    store = Store(store_root)
    with store.writer("pages", "run-rerun") as w:
        w.write_many(page_record(url=f"http://k.test/{i}", body=b"x" * 2000 + str(i).encode(),
                                 content_type="text/html", source="k", source_kind="crawl") for i in range(before))
    assert w.stats["written"] == 0


def test_concurrent_writers_in_threads_never_duplicate_ids(store_root: str) -> None:
    rows = pages(600)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            store = Store(store_root)
            with store.writer("pages", f"run-{offset}", buffer_rows=37) as w:
                # overlapping slices: every id is offered by two writers at the same time
                w.write_many(dict(r) for r in rows[offset : offset + 300])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in (0, 150, 300, 0, 300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = committed_ids(Store(store_root), "pages")
    assert len(ids) == len(set(ids)) == 600


def test_concurrent_writer_processes_never_duplicate_ids(store_root: str) -> None:
    script = (
        "import sys\nfrom drsynth.storage.store import Store\nfrom tests.test_storage import pages\n"
        "s = Store(sys.argv[1])\n"
        "with s.writer('pages', 'run-p' + sys.argv[2], buffer_rows=20) as w:\n"
        "    w.write_many(pages(400))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, store_root, str(i)], env=env) for i in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    ids = committed_ids(Store(store_root), "pages")
    assert len(ids) == len(set(ids)) == 400


def test_catalog_views_lineage_and_runs(store_root: str) -> None:
    store = Store(store_root)
    log = RunLog(store, "ingest", {"sources": ["x"]}).start()
    page_rows = pages(3)
    with store.writer("pages", log.run_id) as w:
        w.write_many(page_rows)
    with store.writer("quarantine", log.run_id) as w:
        w.write(quarantine_record(stage="extract", reason="empty", source=page_rows[0]["url"],
                                  parents=[page_rows[0]["id"]]))
    log.finish({"pages": 3})
    con = duckdb.connect(build_catalog(store), read_only=True)
    assert con.execute("SELECT count(*) FROM pages").fetchone()[0] == 3
    # empty datasets already have their contract columns
    cols = {r[0] for r in con.execute("DESCRIBE documents").fetchall()}
    assert {"id", "run_id", "parents", "url", "title", "text", "lang", "links", "infobox"} <= cols
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    assert con.execute("SELECT flow, status FROM runs").fetchall() == [("ingest", "completed")]
    assert con.execute("SELECT count(*) FROM run_events").fetchone()[0] == 2
    assert con.execute("SELECT child_dataset, parent_dataset, parent_id FROM lineage").fetchall() == [
        ("quarantine", "pages", page_rows[0]["id"])
    ]
    assert json.loads(con.execute("SELECT parameters FROM runs").fetchone()[0]) == {"sources": ["x"]}


def test_failed_run_is_recorded(store_root: str) -> None:
    store = Store(store_root)
    RunLog(store, "ingest", {}).start().finish(error="ValueError: boom")
    con = duckdb.connect(build_catalog(store), read_only=True)
    assert con.execute("SELECT status, error FROM runs").fetchall() == [("failed", "ValueError: boom")]


def test_shards_load_with_polars_and_datasets(store_root: str) -> None:
    import datasets
    import polars as pl

    store = Store(store_root)
    with store.writer("pages", "run-a") as w:
        w.write_many(pages(20))
    files = store.files("pages")
    assert pl.scan_parquet(files).select(pl.len()).collect().item() == 20
    ds = datasets.load_dataset("parquet", data_files=files, split="train",
                               cache_dir=os.path.join(store_root, "_hf_cache"))
    assert ds.num_rows == 20 and "url" in ds.column_names


def test_interrupted_publish_never_loses_the_shards_of_a_visible_commit(store_root: str, monkeypatch) -> None:
    def interrupted(_directory: str) -> None:
        raise KeyboardInterrupt("after the rename, before the directory fsync")

    monkeypatch.setattr("drsynth.storage.manifest.fsync_path", interrupted)
    writer = Store(store_root).writer("pages", "run-a")
    writer.write_many(pages(10))
    with pytest.raises(KeyboardInterrupt):
        writer.commit()
    writer.abort()  # what a stage does on the way out
    monkeypatch.undo()
    assert Store(store_root).count("pages") == 10
    script = "import sys\nfrom drsynth.storage.store import Store\nprint(len(list(Store(sys.argv[1]).rows('pages', ['id']))))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script, store_root], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "10", out.stderr


def test_commit_refuses_shards_that_vanished(store_root: str) -> None:
    store = Store(store_root)
    writer = store.writer("pages", "run-a", buffer_rows=5)
    writer.write_many(pages(10))
    writer._flush()
    writer._close_file()
    store.vacuum(min_age_s=0)  # run by someone while the writer was still going
    with pytest.raises(FileNotFoundError):
        writer.commit()
    assert store.count("pages") == 0


def test_deleted_root_is_written_again_by_the_same_process(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "data"
    with Store(root).writer("pages", "run-a") as w:
        w.write_many(pages(5))
    shutil.rmtree(root)
    with Store(root).writer("pages", "run-b") as w:
        w.write_many(pages(5))
    assert w.stats["written"] == 5 and Store(root).count("pages") == 5


def test_rows_that_do_not_fit_the_schema_are_named_and_the_writer_goes_on(store_root: str) -> None:
    from drsynth.storage.writer import InvalidRows

    store = Store(store_root)
    rows = pages(4)
    rows[1]["status"] = "not a number"
    writer = store.writer("pages", "run-a", buffer_rows=2)
    with pytest.raises(InvalidRows, match=rows[1]["id"]):
        writer.write_many(rows[:2])
    writer.write_many(rows[2:])
    writer.commit()
    assert sorted(committed_ids(store, "pages")) == sorted(r["id"] for r in rows if r is not rows[1])
    assert writer.rejected == [rows[1]["id"]]


def test_fsspec_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a remote root's catalog file lives in the working directory
    root = f"memory://drsynth-test-{os.getpid()}-{time.time_ns()}"
    store = Store(root)
    with store.writer("pages", "run-a", buffer_rows=7) as w:
        w.write_many(pages(20))
    again = Store(root)
    assert again.count("pages") == 20 and len(list(again.rows("pages", ["id"]))) == 20
    with again.writer("pages", "run-b") as w:
        w.write_many(pages(25))
    assert w.stats["written"] == 5
    assert all(f.startswith("memory://") for f in again.files("pages"))
    assert manifest.list_commit_names(again.root, "pages")
    con = duckdb.connect(build_catalog(again), read_only=True)
    con.register_filesystem(again.root.fs)
    assert con.execute("SELECT count(*) FROM pages").fetchone()[0] == 25


# DESIGN §2: analysts' saved queries depend on these views and columns
CATALOG_CONTRACT = {
    "pages": {"url", "status", "content_type", "fetched_at"},
    "documents": {"url", "title", "text", "lang", "links", "infobox"},
    "quarantine": {"stage", "reason", "source"},
    "entities": {"name", "aliases", "description", "attributes"},
    "edges": {"src", "dst", "relation", "evidence"},
    "subgraphs": {"nodes", "edges", "target"},
    "tasks": {"question", "answer", "aliases", "level", "operations", "formalization", "evidence_doc_ids"},
    "trajectories": {"task_id", "mode", "policy", "model", "messages", "answer", "termination", "tool_calls",
                     "tokens", "status", "reason"},
    "judgments": {"trajectory_id", "judge", "verdict", "reason"},
    "sft_samples": {"mode", "messages"},
    "rl_tasks": {"task_id", "pass_rate"},
    "cpt_samples": {"kind", "text"},
    "requests": {"kind", "endpoint", "name", "tokens_in", "tokens_out", "latency_ms", "retries", "cache_hit", "error"},
    "runs": {"flow", "parameters", "code_version", "started_at", "ended_at", "status"},
    "lineage": {"child_id", "child_dataset", "parent_id", "parent_dataset"},
}
BUILT_SO_FAR = set(CATALOG_CONTRACT)


def test_catalog_contract_holds_for_every_declared_dataset(store_root: str) -> None:
    from drsynth.storage.schemas import SCHEMAS

    con = duckdb.connect(build_catalog(Store(store_root)), read_only=True)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views >= BUILT_SO_FAR
    for view, required in CATALOG_CONTRACT.items():
        if view in views:
            cols = {r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall()}
            extra = {"id", "run_id", "parents"} if view in SCHEMAS else set()
            assert required | extra <= cols, f"{view} lacks {sorted(required | extra - cols)}"


# --- published versions ------------------------------------------------------------------------------

def _rl_rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": f"rl{i}", "parents": [f"task{i}"], "task_id": f"task{i}", "question": f"q{i}?", "answer": "a",
             "aliases": [], "answer_type": "text", "level": 1, "pass_rate": 0.5, "samples": 2}
            for i in range(start, start + n)]


@pytest.mark.parametrize("root_kind", ["local", "memory"])
def test_a_published_version_is_immutable_named_by_its_rows_and_reads_exactly_them(tmp_path: Path, root_kind: str) -> None:
    from drsynth.storage.published import PublicationError, publications, publish, read_publication, resolve

    root = str(tmp_path / "root") if root_kind == "local" else f"memory://pub-{tmp_path.name}"
    store = Store(root)
    with store.writer("rl_tasks", "r1") as writer:
        writer.write_many(_rl_rows(4))
    first = publish(store, "rl_tasks", ["rl0", "rl2"], "r1")
    assert first.rows == 2 and first.name.startswith("rl_tasks@v")
    manifest_path = store.root.join("_published", "rl_tasks", f"{first.version}.json")
    before = store.root.fs.cat_file(manifest_path)
    # the same rows again (any order, another run): the same version, nothing rewritten
    assert publish(store, "rl_tasks", ["rl2", "rl0", "rl0"], "r2") == first
    assert store.root.fs.cat_file(manifest_path) == before
    with store.writer("rl_tasks", "r2") as writer:
        writer.write_many(_rl_rows(2, start=4))
    second = publish(store, "rl_tasks", ["rl0", "rl2", "rl5"], "r2")
    assert second.version != first.version
    assert [p.version for p in publications(store, "rl_tasks")] == [first.version, second.version]
    assert resolve(store, "rl_tasks").version == second.version
    assert read_publication(store, resolve(store, "rl_tasks", first.name))["id"].to_pylist() == ["rl0", "rl2"]
    assert read_publication(store, second, ["question"]).column("question").to_pylist() == ["q0?", "q2?", "q5?"]
    with pytest.raises(PublicationError, match="not committed"):
        publish(store, "rl_tasks", ["rl0", "nope"], "r3")
    with pytest.raises(PublicationError, match="no version"):
        resolve(store, "rl_tasks", "v0000")
    with pytest.raises(PublicationError, match="no published version"):
        resolve(store, "sft_samples")


def test_catalog_lists_publications_and_runs_name_the_versions(store_root: str) -> None:
    from drsynth.storage.published import publish

    store = Store(store_root)
    with store.writer("rl_tasks", "r1") as writer:
        writer.write_many(_rl_rows(3))
    version = publish(store, "rl_tasks", ["rl0", "rl1"], "r1")
    log = RunLog(store, "filter_and_publish", {}, run_id="r1").start()
    log.published("rl_tasks", version.name)
    log.finish({})
    con = duckdb.connect(build_catalog(store), read_only=True)
    assert con.execute("SELECT name, rows FROM publications").fetchall() == [(version.name, 2)]
    assert con.execute("SELECT count(*) FROM rl_tasks r JOIN published p ON p.id = r.id "
                       "WHERE p.version = ?", [version.version]).fetchone() == (2,)
    named = con.execute("SELECT datasets FROM runs WHERE run_id = 'r1'").fetchone()[0]
    assert json.loads(named) == {"read": {}, "published": {"rl_tasks": version.name}}


def test_trajectories_view_shows_the_latest_judgment(store_root: str) -> None:
    from datetime import UTC, datetime, timedelta

    store = Store(store_root)
    with store.writer("trajectories", "r1") as writer:
        for i in range(3):
            writer.write({"id": f"t{i}", "parents": ["task"], "task_id": "task", "mode": "react", "status": "pending",
                          "reason": None, "messages": [], "level": 1})
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def judgment(jid: str, tid: str, status: str, rejection: str | None, minutes: int) -> dict:
        return {"id": jid, "parents": [tid], "trajectory_id": tid, "task_id": "task", "judge": "match-2",
                "verdict": "correct", "status": status, "rejection": rejection, "filter": "f",
                "at": at + timedelta(minutes=minutes)}

    with store.writer("judgments", "r1") as writer:
        writer.write(judgment("j0", "t0", "accepted", None, 0))
        writer.write(judgment("j1", "t1", "accepted", None, 0))
        writer.write(judgment("j1b", "t1", "rejected", "over_budget", 1))  # a later decision wins
    con = duckdb.connect(build_catalog(store), read_only=True)
    rows = con.execute("SELECT id, status, reason FROM trajectories ORDER BY id").fetchall()
    assert rows == [("t0", "accepted", None), ("t1", "rejected", "over_budget"), ("t2", "pending", None)]
    assert con.execute("SELECT count(*) FROM trajectory_rows WHERE status = 'pending'").fetchone() == (3,)


def test_trajectories_view_follows_the_filter_setting_of_the_newest_run(store_root: str) -> None:
    from datetime import UTC, datetime, timedelta

    store = Store(store_root)
    with store.writer("trajectories", "r1") as writer:
        writer.write({"id": "t0", "parents": ["task"], "task_id": "task", "mode": "react", "status": "pending",
                      "messages": [], "level": 1})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with store.writer("judgments", "r1") as writer:  # setting A accepted it; a later setting B rejected it
        writer.write({"id": "ja", "parents": ["t0"], "trajectory_id": "t0", "status": "accepted", "filter": "A",
                      "at": at})
        writer.write({"id": "jb", "parents": ["t0"], "trajectory_id": "t0", "status": "rejected",
                      "rejection": "too_long", "filter": "B", "at": at + timedelta(minutes=1)})

    def shown() -> tuple:
        con = duckdb.connect(build_catalog(store), read_only=True)
        return con.execute("SELECT status, reason FROM trajectories").fetchone()

    assert shown() == ("rejected", "too_long")  # no run names a setting: the newest judgment
    for setting in ("A", "B", "A"):  # A again writes no new judgment, yet A is current
        RunLog(store, "filter_and_publish", {}).start().finish({"filter": setting})
        time.sleep(0.01)
    assert shown() == ("accepted", None)
