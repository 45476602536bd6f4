"""The question-writing stage: batches of subgraphs -> planned, written, checked `task_drafts` (or
quarantine); `select.select_tasks` then chooses the `tasks` among all drafts of the graph.

Work comes from the manifest, as in ingest. Every subgraph ends named by at least one row: a draft per
level that could be built, a quarantine row for each level whose candidates all failed a check
(`planner_error` where planning, wording or checking raised, `invalid_row` where the task row did not fit
the schema), and `no_question` when no level had any candidate.

One subgraph yields rows in several datasets (`requests`, `task_drafts`, `quarantine`), committed one
after the other, so no row alone says the subgraph is finished: the batch's last commit names the
subgraphs it finished (`storage.batches.mark_batch`), and a subgraph is pending until such a commit names
it. A kill between two commits leaves the subgraph pending, and the rerun writes exactly the rows that
did not land (their ids are content ids; teacher replies come back from the response cache).

Teacher failures while wording (`writer_error`: 429, 5xx, timeouts, dropped connections, unreadable
bodies, refused requests, retries or budget spent) are recorded (a `requests` row and a `writer_error`
quarantine row) but never finish the subgraph: the next run asks again, and a healthy teacher fills in
the drafts. They are transient by rule, including a 4xx: a refused request is most often a setting (key,
model, max_tokens) that the operator fixes before the rerun; a prompt the server always refuses costs one
call per run. Permanent (the subgraph is finished) are a reply that arrived but cannot be read as a
question (`writer_malformed`: a rerun gets the same cached reply) and a question that fails a check.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drsynth.storage.batches import RowBatch, finished_ids, mark_batch, plan_batches
from drsynth.storage.schemas import schema_for
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.graph.view import GraphView
from drsynth.synth.tasks.checks import check_task
from drsynth.synth.tasks.config import TaskConfig
from drsynth.synth.tasks.draft import TaskDraft
from drsynth.synth.tasks.plan import Planner
from drsynth.synth.tasks.search_check import search_check
from drsynth.synth.tasks.select import draft_id_of, task_id
from drsynth.synth.tasks.writers import QuestionWriter, WriterError, WrittenQuestion, make_writer

STAGE = "tasks"
LEVELS = (1, 2, 3)
SUBGRAPH_COLUMNS = ["id", "nodes", "edges", "target", "shape", "seed_degree", "graph"]


# subgraphs to write questions for: ids inside some row groups of one committed shard
SubgraphBatch = RowBatch


# quarantine reasons that record a failure but leave the subgraph pending (see the module docstring)
TRANSIENT_REASONS = frozenset({"writer_error"})


def processed_subgraph_ids(store: Store) -> set[str]:
    """Subgraphs a batch finished: named by a batch's last commit, or, in commits written before batches
    were marked, by a draft, a task or a quarantine row other than a transient failure."""
    done, unmarked = finished_ids(store, ("task_drafts", "quarantine", "tasks"), STAGE)
    for dataset in ("task_drafts", "tasks"):
        files = store.files(dataset, unmarked.get(dataset, []))
        for batch in store.scan(dataset, ["subgraph_id"], files=files) if files else ():
            done.update(batch.column("subgraph_id").to_pylist())
    files = store.files("quarantine", unmarked.get("quarantine", []))
    for batch in store.scan("quarantine", ["parents", "stage", "reason"], files=files) if files else ():
        closing = pc.and_(pc.equal(batch.column("stage"), STAGE),
                          pc.invert(pc.is_in(batch.column("reason"), value_set=pa.array(sorted(TRANSIENT_REASONS)))))
        for parents in batch.filter(closing).column("parents").to_pylist():
            done.update(parents)
    return done


def subgraph_batches(store: Store, graph: str, per_task: int) -> list[SubgraphBatch]:
    """Subgraphs of `graph` that no batch finished yet (resumable)."""
    done = processed_subgraph_ids(store)
    wanted = {row["id"] for b in store.scan("subgraphs", ["id", "graph"]) for row in b.to_pylist()
              if row["graph"] == graph and row["id"] not in done}
    return plan_batches(store, "subgraphs", per_task, keep=wanted.__contains__)


# one graph version in memory per process, reloaded when its datasets gain a commit; batches running in
# threads wait for one load instead of each loading their own
_VIEWS: dict[tuple[str, str], tuple[tuple, GraphView]] = {}
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


def evidence_documents(store: Store, doc_ids: Iterable[str]) -> dict[str, str]:
    """Document id -> URL for those of `doc_ids` that are committed documents (a missing id: no such
    document). Only the ids one batch cites are kept: one filtered scan of the id and url columns, never a
    map of every document in memory."""
    wanted = {d for d in doc_ids if d}
    urls: dict[str, str] = {}
    if not wanted:
        return urls
    for batch in store.scan("documents", ["id", "url"], ids=wanted):
        urls.update((i, u or "") for i, u in zip(batch.column("id").to_pylist(), batch.column("url").to_pylist(),
                                                 strict=True))
    return urls


def task_row(draft: TaskDraft, written: WrittenQuestion) -> dict:
    """The draft row (id: the draft id of the task it may become)."""
    return {
        "id": draft_id_of(task_id(draft.subgraph_id, draft.level, written.writer, written.question)),
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
        "relation": draft.relation,
        "candidates": draft.candidates,
        "constraint_candidates": [{"constraint": c, "candidates": n} for c, n in draft.constraint_candidates],
        "search_queries": list(draft.search_queries),
        "search_rank": draft.search_rank,
        "search_k": draft.search_k,
    }


def _quarantine(reason: str, subgraph_id: str, detail: str, payload: str) -> dict:
    return quarantine_record(stage=STAGE, reason=reason, source=subgraph_id, detail=detail, input=payload,
                             parents=[subgraph_id])


def _error_detail(error: BaseException, where: str) -> str:
    """"level 2: KeyError: 'x' (at phrases.py:329 in fill)": the type, the message and the last frame."""
    frames = traceback.extract_tb(error.__traceback__)
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    message = str(error)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{where}: {type(error).__name__}: {message}{at}"


@dataclass
class _Refusal:
    """A quarantine row to write once the batch's evidence URLs are known (its payload carries them)."""
    reason: str
    subgraph_id: str
    detail: str
    draft: TaskDraft | None = None
    payload: str = ""


def write_tasks(store: Store, run_id: str, graph: str, batch: SubgraphBatch, config: TaskConfig,
                writer: QuestionWriter | None = None) -> Counter[str]:
    """Questions for one batch of subgraphs, checked, into `task_drafts` (failures into `quarantine`), the
    teacher's calls into `requests`; the last commit names the subgraphs the batch finished (all but those
    with a transient teacher failure).

    An exception while planning, wording or checking one subgraph's question becomes that subgraph's
    `planner_error` quarantine row; the rest of the batch goes on."""
    counts: Counter[str] = Counter()
    view = graph_view(store, graph)
    rows = [r for r in store.iter_row_groups(batch.file, batch.row_groups, SUBGRAPH_COLUMNS, ids=batch.ids)
            if r["graph"] == graph]
    # evidence URLs are filled in below, for the cited documents only
    planner = Planner(view, seed=config.seed, search=search_check(store, config.level3_search_k),
                      hub_share=config.hub_share)
    own_writer = writer is None
    if writer is None and config.writer == "teacher":
        from drsynth.synth.teacher.cache import default_cache

        writer = make_writer(config, default_cache(store))
    writer = writer or make_writer(config)
    meta = {"stage": STAGE, "graph": graph, "writer": writer.name, "subgraphs_file": batch.file}
    try:
        with StageOutput(store, run_id, "task_drafts", stage=STAGE, meta=meta) as out:
            drafts: list[TaskDraft] = []
            refused: list[_Refusal] = []
            named: Counter[str] = Counter()
            infeasible: dict[str, list[int]] = {}
            for row in rows:
                for level in LEVELS:
                    try:
                        outcome = planner.plan(row, level)
                    except Exception as error:  # a bug or a malformed subgraph: this level only
                        refused.append(_Refusal("planner_error", row["id"], _error_detail(error, f"level {level}"),
                                                payload=json.dumps({"subgraph": row["id"], "level": level})))
                        named[row["id"]] += 1
                        continue
                    if outcome.draft is not None:
                        drafts.append(outcome.draft)
                        named[row["id"]] += 1
                    elif outcome.reason:
                        refused.append(_Refusal(outcome.reason, row["id"], outcome.detail, outcome.failed,
                                                json.dumps({"subgraph": row["id"]})))
                        named[row["id"]] += 1
                        if outcome.failed is None:
                            break  # the subgraph itself is unusable (stale): no other level will do better
                    else:
                        infeasible.setdefault(row["id"], []).append(level)
                        counts[f"tasks.infeasible.level_{level}"] += 1
            cited = [d for d in [*drafts, *(r.draft for r in refused)] if d is not None]
            urls = evidence_documents(store, {i for d in cited for i in d.evidence_doc_ids})
            for draft in cited:
                for item in draft.evidence:
                    item["url"] = urls.get(item.get("doc_id") or "", "")
            for refusal in refused:
                payload = _draft_payload(refusal.draft) if refusal.draft is not None else refusal.payload
                _count_write(out, counts, _quarantine(refusal.reason, refusal.subgraph_id, refusal.detail, payload))
            document_ids = set(urls)  # the cited ids that are committed documents
            retry: set[str] = set()  # subgraphs with a transient failure: pending for the next run
            for draft, result in zip(drafts, _write_all(writer, drafts), strict=True):
                if isinstance(result, WriterError) and result.reason in TRANSIENT_REASONS:
                    retry.add(draft.subgraph_id)
                try:
                    _emit(out, counts, draft, result, view, document_ids)
                except Exception as error:
                    _count_write(out, counts, _quarantine("planner_error", draft.subgraph_id,
                                                          _error_detail(error, f"level {draft.level}, checking"),
                                                          _draft_payload(draft)))
            # every teacher call the writer made (cached or not) is a `requests` row, committed with the tasks
            log = getattr(writer, "requests", None)
            for request in (log.drain() if log is not None else []):
                counts["requests.added"] += out.write("requests", request)
            for row in rows:
                if not named[row["id"]]:
                    detail = (f"no question skeleton at levels {infeasible.get(row['id'], [])}: the subgraph has "
                              "no usable path from its target")
                    _count_write(out, counts, _quarantine("no_question", row["id"], detail,
                                                          json.dumps({"subgraph": row["id"]})))
            if retry:
                counts["subgraphs.pending_retry"] += len(retry)
            mark_batch(list(out.writers.values()), [row["id"] for row in rows if row["id"] not in retry])
    finally:
        if own_writer:
            writer.close()
    counts["subgraphs.read"] += len(rows)
    return counts


def _draft_payload(draft: TaskDraft) -> str:
    try:
        return draft.to_json()
    except Exception:  # a draft too broken to serialize still names its subgraph and level
        return json.dumps({"subgraph": draft.subgraph_id, "level": draft.level})


def _write_all(writer: QuestionWriter, drafts: list[TaskDraft]) -> list[WrittenQuestion | WriterError]:
    """Every draft worded; when wording the batch raises, each draft alone, an exception its own error."""
    try:
        results = list(writer.write_many(drafts))
        if len(results) == len(drafts):
            return results
    except Exception:  # retried one draft at a time below, where each error is kept
        pass
    results: list[WrittenQuestion | WriterError] = []
    for draft in drafts:
        try:
            (result,) = writer.write_many([draft])
        except Exception as error:
            result = WriterError("planner_error", _error_detail(error, f"level {draft.level}, wording"))
        results.append(result)
    return results


def _valid_row(dataset: str, row: dict) -> str:
    """"" when `row` fits the dataset's schema, else why not (checked before writing: a refused row must
    name its subgraph, and the writer's own refusal names only the row)."""
    try:
        pa.Table.from_pylist([{**row, "run_id": ""}], schema=schema_for(dataset))
    except (pa.ArrowException, TypeError, ValueError, UnicodeError, OverflowError) as error:
        return f"{type(error).__name__}: {str(error)[:300]}"
    return ""


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
    # a row the schema refuses is quarantined here, naming its subgraph (so the subgraph counts as
    # processed); StageOutput's own invalid_row row would name only the task id
    invalid = _valid_row("task_drafts", row)
    tasks = out.writers["task_drafts"]
    duplicates = tasks.stats["duplicates"]
    if not invalid:
        written = out.write("task_drafts", row)
        if row["id"] in tasks.rejected:
            invalid = "refused by the dataset writer"
        elif written or tasks.stats["duplicates"] == duplicates:
            # (False without a duplicate: another row's refusal surfaced on this write; this one went in)
            counts["task_drafts.added"] += 1
            counts[f"task_drafts.level_{draft.level}"] += 1
            return
        else:
            counts["task_drafts.already_present"] += 1
            return
    payload = json.dumps(row, ensure_ascii=False, sort_keys=True, default=repr)
    _count_write(out, counts, _quarantine("invalid_row", draft.subgraph_id,
                                          f"the task row does not fit the tasks schema: {invalid}", payload))


def _count_write(out: StageOutput, counts: Counter[str], record: dict) -> None:
    if out.write("quarantine", record):
        counts[f"quarantine.{STAGE}.{record['reason']}"] += 1
