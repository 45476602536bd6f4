"""The question-writing stage: batches of subgraphs -> planned, written, checked `tasks` (or quarantine).

Work comes from the manifest, as in ingest: a subgraph is pending until a task or a tasks-stage
quarantine row names it, so an interrupted run resumes where it stopped and a rerun adds nothing. Every
subgraph ends named by at least one row: a task per level that could be built, a quarantine row for
each level whose candidates all failed a check, and `no_question` when no level had any candidate.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pyarrow.compute as pc

from storage.batches import RowBatch, plan_batches
from storage.ids import content_id
from storage.store import Store
from synth.corpus.records import quarantine_record
from synth.corpus.stage_output import StageOutput
from synth.graph.view import GraphView
from synth.tasks.checks import check_task
from synth.tasks.config import TaskConfig
from synth.tasks.draft import TaskDraft
from synth.tasks.plan import Planner
from synth.tasks.writers import QuestionWriter, WriterError, WrittenQuestion, make_writer

STAGE = "tasks"
LEVELS = (1, 2, 3)
SUBGRAPH_COLUMNS = ["id", "nodes", "edges", "target", "shape", "seed_degree", "graph"]


# subgraphs to write questions for: ids inside some row groups of one committed shard
SubgraphBatch = RowBatch


def processed_subgraph_ids(store: Store) -> set[str]:
    done: set[str] = set()
    for batch in store.scan("tasks", ["subgraph_id"]):
        done.update(batch.column("subgraph_id").to_pylist())
    for batch in store.scan("quarantine", ["parents", "stage"]):
        chosen = batch.filter(pc.equal(batch.column("stage"), STAGE))
        for parents in chosen.column("parents").to_pylist():
            done.update(parents)
    return done


def subgraph_batches(store: Store, graph: str, per_task: int) -> list[SubgraphBatch]:
    """Subgraphs of `graph` that no task and no tasks-stage quarantine row names yet (resumable)."""
    done = processed_subgraph_ids(store)
    wanted = {row["id"] for b in store.scan("subgraphs", ["id", "graph"]) for row in b.to_pylist()
              if row["graph"] == graph and row["id"] not in done}
    return plan_batches(store, "subgraphs", per_task, keep=wanted.__contains__)


# one graph version and one documents URL map in memory per process, reloaded when their datasets gain a
# commit; batches running in threads wait for one load instead of each loading their own
_VIEWS: dict[tuple[str, str], tuple[tuple, GraphView]] = {}
_URLS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
_LOAD_LOCK = threading.Lock()


def graph_view(store: Store, graph: str) -> GraphView:
    version = (tuple(c.name for c in store.commits("entities")), tuple(c.name for c in store.commits("edges")))
    key = (store.uri, graph)
    with _LOAD_LOCK:
        cached = _VIEWS.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        view = GraphView.load(store, graph)
        _VIEWS.clear()  # one graph at a time: a new version replaces the old
        _VIEWS[key] = (version, view)
        return view


def doc_urls(store: Store) -> dict[str, str]:
    """Document id -> URL, read once per process and documents version (evidence rows carry the URL)."""
    version = tuple(c.name for c in store.commits("documents"))
    with _LOAD_LOCK:
        cached = _URLS.get(store.uri)
        if cached is not None and cached[0] == version:
            return cached[1]
        urls: dict[str, str] = {}
        for batch in store.scan("documents", ["id", "url"]):
            urls.update(zip(batch.column("id").to_pylist(), batch.column("url").to_pylist(), strict=True))
        _URLS.clear()
        _URLS[store.uri] = (version, urls)
        return urls


def task_row(draft: TaskDraft, written: WrittenQuestion) -> dict:
    return {
        "id": content_id("task", draft.subgraph_id, draft.level, written.writer, written.question),
        "parents": [draft.subgraph_id],
        "question": written.question,
        "answer": draft.answer,
        "aliases": list(draft.aliases),
        "answer_type": draft.answer_type,
        "level": draft.level,
        "hops": draft.hops,
        "operations": [o.row() for o in draft.operations],
        "formalization": [t.row() for t in draft.formalization],
        "evidence_doc_ids": draft.evidence_doc_ids,
        "evidence": [dict(e) for e in draft.evidence],
        "subgraph_id": draft.subgraph_id,
        "target_entity_id": draft.target_entity_id,
        "writer": written.writer,
        "graph": draft.graph,
    }


def _quarantine(reason: str, subgraph_id: str, detail: str, payload: str) -> dict:
    return quarantine_record(stage=STAGE, reason=reason, source=subgraph_id, detail=detail, input=payload,
                             parents=[subgraph_id])


def write_tasks(store: Store, run_id: str, graph: str, batch: SubgraphBatch, config: TaskConfig,
                writer: QuestionWriter | None = None) -> Counter[str]:
    """Questions for one batch of subgraphs, checked, into `tasks` (failures into `quarantine`)."""
    counts: Counter[str] = Counter()
    view = graph_view(store, graph)
    rows = [r for r in store.iter_row_groups(batch.file, batch.row_groups, SUBGRAPH_COLUMNS, ids=batch.ids)
            if r["graph"] == graph]
    document_ids, _ = store.committed_ids("documents")
    planner = Planner(view, doc_urls(store), seed=config.seed)
    own_writer = writer is None
    writer = writer or make_writer(config)
    meta = {"stage": STAGE, "graph": graph, "writer": writer.name, "subgraphs_file": batch.file}
    try:
        with StageOutput(store, run_id, "tasks", stage=STAGE, meta=meta) as out:
            drafts: list[TaskDraft] = []
            named: Counter[str] = Counter()
            infeasible: dict[str, list[int]] = {}
            for row in rows:
                for level in LEVELS:
                    outcome = planner.plan(row, level)
                    if outcome.draft is not None:
                        drafts.append(outcome.draft)
                        named[row["id"]] += 1
                    elif outcome.reason:
                        payload = outcome.failed.to_json() if outcome.failed else json.dumps({"subgraph": row["id"]})
                        _count_write(out, counts, _quarantine(outcome.reason, row["id"], outcome.detail, payload))
                        named[row["id"]] += 1
                        if outcome.failed is None:
                            break  # the subgraph itself is unusable (stale): no other level will do better
                    else:
                        infeasible.setdefault(row["id"], []).append(level)
                        counts[f"tasks.infeasible.level_{level}"] += 1
            for draft, result in zip(drafts, writer.write_many(drafts), strict=True):
                _emit(out, counts, draft, result, view, document_ids)
            for row in rows:
                if not named[row["id"]]:
                    detail = (f"no question skeleton at levels {infeasible.get(row['id'], [])}: the subgraph has "
                              "no usable path from its target")
                    _count_write(out, counts, _quarantine("no_question", row["id"], detail,
                                                          json.dumps({"subgraph": row["id"]})))
    finally:
        if own_writer:
            writer.close()
    counts["subgraphs.read"] += len(rows)
    return counts


def _emit(out: StageOutput, counts: Counter[str], draft: TaskDraft, result: WrittenQuestion | WriterError,
          view: GraphView, document_ids: set[str]) -> None:
    if isinstance(result, WriterError):
        _count_write(out, counts, _quarantine(result.reason, draft.subgraph_id, result.detail, draft.to_json()))
        return
    row = task_row(draft, result)
    problems = check_task(row, view, document_ids)
    if problems:
        detail = "; ".join(f"{reason}: {text}" for reason, text in problems)
        payload = json.dumps(row, ensure_ascii=False, sort_keys=True)
        _count_write(out, counts, _quarantine(problems[0][0], draft.subgraph_id, detail, payload))
        return
    if out.write("tasks", row):
        counts["tasks.added"] += 1
        counts[f"tasks.level_{draft.level}"] += 1
    else:
        counts["tasks.already_present"] += 1


def _count_write(out: StageOutput, counts: Counter[str], record: dict) -> None:
    if out.write("quarantine", record):
        counts[f"quarantine.{STAGE}.{record['reason']}"] += 1
