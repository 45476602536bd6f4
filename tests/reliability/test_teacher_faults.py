"""Teacher faults: a teacher failing a seeded 30% of calls in every way the fault server can, and kills
between the commits of a question-writing batch. The run completes, every failure is a `requests` row and
a quarantine row, a rerun against a healthy teacher fills in exactly what was missing, and the planted API
key is in no file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from drsynth.storage.store import Store
from drsynth.storage.writer import DatasetWriter
from drsynth.synth.tasks import TaskConfig, subgraph_batches, write_tasks
from drsynth.synth.tasks.select import draft_id_of
from tests.openai_server import FAULT_KINDS, Faults, OpenAIServer
from tests.reliability.conftest import FULL, figure

KEY_ENV = "DRSYNTH_TEACHER_API_KEY"
SECRET = "sk-planted-fault-suite-7c41d09a"
FAULT_REASONS = frozenset({"writer_error", "policy_error", "judge_error"})  # the transient quarantine reasons
LLM_STAGES = frozenset({"tasks", "agent", "judge"})  # the stages that ask the teacher (selection: see below)


def teacher_reply(request: dict) -> str:
    """A deterministic teacher: the question writer rewords the template question; the agent searches for
    the question's words once, then answers with the first search result's title; the judge says correct."""
    system = request["messages"][0]["content"]
    last = request["messages"][-1]["content"]
    if "<tools>" in system:
        results = [m["content"] for m in request["messages"] if m["role"] == "user" and "<tool_response>" in m["content"]]
        if results:
            found = re.search(r"\[([^\]\n]+)\]\(", results[-1])
            return f"<think>The results name it.</think>\n<answer>{found.group(1) if found else 'unknown'}</answer>"
        question = next(m["content"] for m in request["messages"] if m["role"] == "user")
        words = " ".join(question.split()[:8])
        return ('<think>I should search.</think>\n<tool_call>{"name": "search", "arguments": {"query": '
                + json.dumps([words]) + "}}</tool_call>")
    try:
        prompt = json.loads(last)
    except (json.JSONDecodeError, TypeError):
        prompt = None
    if isinstance(prompt, dict) and "draft_question" in prompt:
        draft = prompt["draft_question"]
        return json.dumps({"question": "Asked by the teacher: " + draft[0].lower() + draft[1:]})
    return json.dumps({"verdict": "correct", "reason": "the answer names the same entity", "confidence": 0.9})


def _copy(root: str, target: Path) -> Store:
    shutil.copytree(root, target)
    return Store(os.fspath(target))


def _ids(store: Store, dataset: str, stage: str | None = None) -> list[str]:
    return [r["id"] for r in store.rows(dataset, ["id", "stage"] if stage else ["id"])
            if stage is None or r["stage"] == stage]


def _write_all(store: Store, graph: str, config: TaskConfig, run_id: str, per_task: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in subgraph_batches(store, graph, per_task):
        counts += write_tasks(store, run_id, graph, batch, config)
    return counts


class _Killed(BaseException):
    """The process dying at a commit: nothing after it runs, nothing is aborted."""


# --- issue 4: a kill between the commits of one question-writing batch --------------------------------


@pytest.mark.parametrize("dies_before", ["task_drafts", "quarantine"])
def test_a_kill_between_the_commits_of_a_question_batch_resumes_exactly(
        demo_subgraphs: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_before: str) -> None:
    graph, config, per_task = demo_subgraphs.graph, TaskConfig(), 12
    whole = _copy(demo_subgraphs.root, tmp_path / "whole")
    _write_all(whole, graph, config, "whole", per_task)
    store = _copy(demo_subgraphs.root, tmp_path / "killed")
    batch = subgraph_batches(store, graph, per_task)[0]

    commit = DatasetWriter.commit

    def dying_commit(self: DatasetWriter):
        if self.dataset == dies_before and self.meta.get("stage") == "tasks":
            raise _Killed(f"killed before the {dies_before} commit")
        return commit(self)

    monkeypatch.setattr(DatasetWriter, "commit", dying_commit)
    with pytest.raises(_Killed):
        write_tasks(store, "killed", graph, batch, config)
    monkeypatch.setattr(DatasetWriter, "commit", commit)
    landed = Counter(_ids(store, "task_drafts")), Counter(_ids(store, "quarantine", "tasks"))

    # every subgraph of the batch is pending again: none lost its quarantine rows to the kill
    pending = {i for b in subgraph_batches(store, graph, per_task) for i in b.ids}
    assert set(batch.ids) <= pending
    counts = _write_all(store, graph, config, "rerun", per_task)

    drafts, quarantine = _ids(store, "task_drafts"), _ids(store, "quarantine", "tasks")
    assert len(drafts) == len(set(drafts)) and len(quarantine) == len(set(quarantine))  # no duplicate id
    assert set(drafts) == set(_ids(whole, "task_drafts"))
    assert set(quarantine) == set(_ids(whole, "quarantine", "tasks"))
    # the rerun wrote exactly what the kill lost
    assert counts["task_drafts.added"] == len(drafts) - len(landed[0])
    assert sum(v for k, v in counts.items() if k.startswith("quarantine.tasks.")) == len(quarantine) - len(landed[1])
    assert subgraph_batches(store, graph, per_task) == []
    if dies_before == "quarantine":
        assert landed[0] and not landed[1]  # the case of the issue: drafts in, their quarantine rows not


# --- issue 5: transient teacher failures while writing questions -------------------------------------


def _teacher_config(base_url: str) -> TaskConfig:
    return TaskConfig.from_dict({"writer": "teacher", "subgraphs_per_task": 8, "teacher": {
        "base_url": base_url, "model": "tiny-teacher", "timeout_s": 0.5, "max_retries": 0, "concurrency": 4}})


def test_transient_teacher_failures_leave_subgraphs_pending(demo_subgraphs: SimpleNamespace, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    graph, per_task = demo_subgraphs.graph, 8
    kinds = tuple(k for k in FAULT_KINDS if k != "timeout")  # the timeout is the pipeline test's (slower)
    healthy = _copy(demo_subgraphs.root, tmp_path / "healthy")
    store = _copy(demo_subgraphs.root, tmp_path / "faulty")
    # the first two batches only: enough drafts, a few seconds
    wanted = {i for b in subgraph_batches(store, graph, per_task)[:2] for i in b.ids}

    def write(store: Store, server: OpenAIServer, run_id: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for batch in subgraph_batches(store, graph, per_task):
            ids = tuple(i for i in batch.ids if i in wanted)
            if ids:
                counts += write_tasks(store, run_id, graph, dataclasses.replace(batch, ids=ids),
                                      _teacher_config(server.base_url))
        return counts

    with OpenAIServer(teacher_reply) as server:
        write(healthy, server, "healthy")
    with OpenAIServer(teacher_reply, faults=Faults(rate=0.5, seed=5, kinds=kinds)) as server:
        first = write(store, server, "faulty")
        injected = sum(server.injected.values())
    landed = set(_ids(store, "task_drafts"))
    assert injected and first["quarantine.tasks.writer_error"] == injected
    failed = [r for r in store.rows("requests") if r["error"]]
    errors = [q for q in store.rows("quarantine") if q["reason"] == "writer_error"]
    assert len(failed) == len(errors) == injected
    assert {r["parents"][0] for r in failed} == {q["parents"][0] for q in errors}
    # the subgraphs that met a failure are pending, and only they
    pending = {i for b in subgraph_batches(store, graph, per_task) for i in b.ids} & wanted
    assert pending == {q["parents"][0] for q in errors}

    with OpenAIServer(teacher_reply) as server:
        again = write(store, server, "rerun")
    assert set(_ids(store, "task_drafts")) == set(_ids(healthy, "task_drafts"))
    assert again["task_drafts.added"] == len(set(_ids(healthy, "task_drafts")) - landed)  # exactly what was lost
    assert not {i for b in subgraph_batches(store, graph, per_task) for i in b.ids} & wanted


# --- the pipeline's LLM path against a teacher failing 30% of its calls --------------------------------

SUBGRAPHS = 150 if FULL else 30  # over the demo wiki (78 pages)
SAMPLES = 2 if FULL else 1
CLIENT_TIMEOUT_S = 2.0


def _pipeline_config(path: Path) -> Path:
    # the question writer never retries (each fault it meets is a failed call: questions to recover, for
    # sure); the agents and the judge retry once (faults absorbed by a retry, Retry-After honoured)
    path.write_text(f"""
[tasks]
subgraphs = {SUBGRAPHS}
subgraphs_per_task = 4
[tasks.teacher]
timeout_s = {CLIENT_TIMEOUT_S}
max_retries = 0
concurrency = 4
[teacher]
timeout_s = {CLIENT_TIMEOUT_S}
max_retries = 1
backoff_base_s = 0.01
backoff_max_s = 0.05
retry_budget_s = 20.0
[agent]
samples = {SAMPLES}
tasks_per_level = 0
tasks_per_batch = 8
max_tool_calls = 3
[filter]
judge = "llm"
""")
    return path


def _drsynth_run(corpus: Path, out: Path, config: Path, home: Path, server: OpenAIServer) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": os.fspath(home), KEY_ENV: SECRET}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "drsynth.flows.cli", "run", "--source", os.fspath(corpus), "--out", os.fspath(out),
         "--config", os.fspath(config), "--teacher-url", server.base_url, "--teacher-model", "tiny-teacher"],
        env=env, capture_output=True, text=True, timeout=600, check=False)


@dataclasses.dataclass
class Outcome:
    """What a run left in a root, by id."""

    drafts: set[str]
    tasks: set[str]
    refused: set[str]  # drafts a `select` quarantine row refuses
    trajectories: dict[str, str]  # id -> task id
    judgments: dict[str, str]  # id -> trajectory id
    quarantine: set[str]  # of the teacher path's stages, other than its failures and selection's refusals

    @classmethod
    def of(cls, root: Path) -> Outcome:
        store = Store(os.fspath(root))
        quarantine = list(store.rows("quarantine", ["id", "stage", "reason", "parents"]))
        return cls(set(_ids(store, "task_drafts")), set(_ids(store, "tasks")),
                   {p for q in quarantine if q["stage"] == "select" for p in q["parents"]},
                   {r["id"]: r["task_id"] for r in store.rows("trajectories", ["id", "task_id"])},
                   {r["id"]: r["trajectory_id"] for r in store.rows("judgments", ["id", "trajectory_id"])},
                   {q["id"] for q in quarantine if q["stage"] in LLM_STAGES and q["reason"] not in FAULT_REASONS})

    def sizes(self) -> dict[str, int]:
        return {"task_drafts": len(self.drafts), "tasks": len(self.tasks), "trajectories": len(self.trajectories),
                "judgments": len(self.judgments)}


def _assert_complete(outcome: Outcome) -> None:
    """Nothing left pending: every draft decided, every task run `SAMPLES` times, every trajectory judged."""
    assert outcome.drafts == {draft_id_of(t) for t in outcome.tasks} | outcome.refused
    assert Counter(outcome.trajectories.values()) == dict.fromkeys(outcome.tasks, SAMPLES)
    assert set(outcome.judgments.values()) == set(outcome.trajectories)


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())


def _key_in(path: Path, secret: str) -> bool:
    """Whether `secret` is anywhere in the file: its raw bytes, and decoded where it is Parquet (compressed
    pages), SQLite (the teacher cache, the Prefect database) or DuckDB (the catalog)."""
    data = path.read_bytes()
    if secret.encode() in data:
        return True
    if data[:4] == b"PAR1":
        table = pq.read_table(path)
        return secret in json.dumps(table.to_pylist(), default=repr)
    if data[:16] == b"SQLite format 3\x00":
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return any(secret in line for line in con.iterdump())
        finally:
            con.close()
    if path.suffix == ".duckdb":
        import duckdb

        con = duckdb.connect(os.fspath(path), read_only=True)
        try:
            tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                 "WHERE table_type = 'BASE TABLE'").fetchall()
            return any(secret in json.dumps(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall(), default=repr)
                       for s, t in tables)
        finally:
            con.close()
    return False


@pytest.mark.slow
def test_the_pipeline_survives_a_faulty_teacher_and_a_rerun_fills_in(tmp_path: Path) -> None:
    """The question writer, the agent policy and the LLM judge against a teacher that fails 30% of its calls
    (every fault kind), then a rerun against a healthy one: the same ids as an uninterrupted healthy run."""
    import duckdb

    from drsynth.synth.corpus.demo import SITE_DIR

    corpus, config = SITE_DIR / "wiki", _pipeline_config(tmp_path / "drsynth.toml")
    healthy_root, root, home = tmp_path / "healthy", tmp_path / "faulty", tmp_path / "prefect"
    faults = Faults(rate=0.3, seed=14, stall_s=CLIENT_TIMEOUT_S + 1.0)
    with OpenAIServer(teacher_reply) as server:
        baseline = _drsynth_run(corpus, healthy_root, config, tmp_path / "prefect-healthy", server)
    with OpenAIServer(teacher_reply, faults=faults) as server:
        first = _drsynth_run(corpus, root, config, home, server)
        calls, injected = len(server.chat_requests()), Counter(server.injected)
    assert baseline.returncode == 0, baseline.stderr[-4000:]
    assert first.returncode == 0, first.stderr[-4000:]  # the faulty run completes
    assert set(injected) == set(FAULT_KINDS), injected  # every kind of fault met

    # every fault is accounted: a retried attempt in its call's `retries`, a failed call as its row with the
    # error. The client may count more failed attempts than the server injected, never fewer: on a loaded
    # machine a client's timeout can also fire on a healthy reply, or before its request is even sent.
    con = duckdb.connect(os.fspath(root / "catalog.duckdb"), read_only=True)
    llm = con.execute("SELECT purpose, parents, retries, error FROM requests WHERE kind = 'llm' AND NOT cache_hit"
                      ).fetchall()
    con.close()
    retried = sum(r for _, _, r, _ in llm)
    failed = [(purpose, parents, error) for purpose, parents, _, error in llm if error]
    assert len(llm) + retried >= calls
    spurious = retried + len(failed) - sum(injected.values())
    assert spurious >= 0
    # ... and every failed call is a quarantine row of its stage naming what it served (the writer's names
    # the subgraph, the agent's the task, the judge's the trajectory of the task its request names)
    store = Store(os.fspath(root))
    task_of = {r["id"]: r["task_id"] for r in store.rows("trajectories", ["id", "task_id"])}
    reason_of = {"question_writer": "writer_error", "agent": "policy_error", "judge": "judge_error"}
    named: dict[str, set[str]] = {reason: set() for reason in reason_of.values()}
    recorded: Counter[str] = Counter()
    for q in store.rows("quarantine", ["reason", "parents"]):
        if q["reason"] in named:
            recorded[q["reason"]] += 1
            named[q["reason"]].update(task_of.get(p, p) for p in q["parents"])
    failures: Counter[str] = Counter()
    for purpose, parents, error in failed:
        assert purpose in reason_of, (purpose, error)  # no other teacher call in this run
        failures[reason_of[purpose]] += 1
        assert set(parents) & named[reason_of[purpose]], (purpose, parents, error)
    assert failures == recorded
    assert SECRET not in first.stdout + first.stderr

    # a rerun against a healthy teacher fills in exactly what was missing
    before = Outcome.of(root).sizes()
    with OpenAIServer(teacher_reply) as server:
        rerun = _drsynth_run(corpus, root, config, home, server)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for dataset in ("task_drafts", "tasks", "trajectories", "judgments", "quarantine"):
        ids = _ids(Store(os.fspath(root)), dataset)
        assert len(ids) == len(set(ids)), f"{dataset}: duplicate ids"
    after, expected = Outcome.of(root), Outcome.of(healthy_root)
    recovered = {name: size - before[name] for name, size in after.sizes().items()}
    _assert_complete(after)
    _assert_complete(expected)
    assert after.drafts == expected.drafts  # every question the failures cost, written
    assert after.quarantine == expected.quarantine
    # Selection decides in arrival order (kept tasks are never removed): a draft that a failure delayed to
    # the rerun can yield to its duplicate, or to a cap, where the uninterrupted run kept it and refused the
    # other. Such a pair is decided both times, differently; everything else is the same ids.
    swapped = after.tasks ^ expected.tasks
    assert all(draft_id_of(t) in (expected.refused if t in after.tasks else after.refused) for t in swapped)
    common = after.tasks & expected.tasks
    task_of = after.trajectories | expected.trajectories
    for outcome in (after, expected):
        outcome.trajectories = {i: t for i, t in outcome.trajectories.items() if t in common}
        outcome.judgments = {i: j for i, j in outcome.judgments.items() if task_of[j] in common}
    assert after.trajectories.keys() == expected.trajectories.keys()
    assert after.judgments.keys() == expected.judgments.keys()
    assert recovered["task_drafts"] and recovered["trajectories"]  # questions included

    # the planted key is in no file: the data root, the Prefect home (its database and logs)
    leaked = [p for p in _files(root, home) if _key_in(p, SECRET)]
    assert not leaked, leaked
    assert SECRET not in rerun.stdout + rerun.stderr

    figure("teacher faults: calls", calls)
    figure("teacher faults: injected by kind", dict(sorted(injected.items())))
    figure("teacher faults: failed calls (requests rows with an error)", len(failed))
    figure("teacher faults: failed attempts beyond the injected faults (client-side timeouts)", spurious)
    figure("teacher faults: quarantine rows by reason", dict(sorted(recorded.items())))
    figure("teacher faults: rows recovered by the healthy rerun", recovered)
    figure("teacher faults: tasks selection decided the other way (a duplicate or cap met in a new order)",
           f"{len(swapped)} of {len(after.tasks | expected.tasks)}")


def test_the_key_scan_finds_a_planted_key(tmp_path: Path) -> None:
    """The scan the pipeline test trusts: a key inside compressed Parquet, SQLite and DuckDB files is found."""
    import duckdb
    import pyarrow as pa

    secret = "sk-scan-me-5e0b7a"
    pq.write_table(pa.table({"detail": [f"row {i}: {secret}" for i in range(2000)]}),
                   tmp_path / "part.parquet", compression="zstd")
    con = sqlite3.connect(tmp_path / "cache.sqlite")
    con.execute("CREATE TABLE responses (key TEXT, value TEXT)")
    con.execute("INSERT INTO responses VALUES ('k', ?)", (secret,))
    con.commit()
    con.close()
    with duckdb.connect(os.fspath(tmp_path / "catalog.duckdb")) as con:
        con.execute("CREATE TABLE runs AS SELECT ? AS parameters", [secret])
    (tmp_path / "log.txt").write_text(f"error: {secret}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    found = {p.name for p in _files(tmp_path) if _key_in(p, secret)}
    assert {"part.parquet", "cache.sqlite", "catalog.duckdb", "log.txt"} <= found and "clean.txt" not in found
