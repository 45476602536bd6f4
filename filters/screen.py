"""Task screening before anything is published: decontamination against benchmark sets, then exact and
near-duplicate removal of questions, within the run and against what is already published under the
same root. A removed task is a `quarantine` row (stage `decontaminate` or `dedup`) naming the benchmark
and the matched n-gram, or the task it duplicates; its trajectories are rejected for that reason.

The rows carry the filter fingerprint in their input, so `screened_tasks` reads back exactly the
decisions of one setting.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from drsynth.filters.config import FilterConfig
from drsynth.filters.decontam import BenchmarkProblem, Decontaminator, load_benchmarks
from drsynth.filters.dedup import find_duplicates
from drsynth.storage import published
from drsynth.storage.manifest import list_commit_names
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput

STAGES = ("decontaminate", "dedup")
# rejection reasons of the trajectories of a removed task, by screening stage
TASK_REJECTIONS = {"decontaminate": "task_contaminated", "dedup": "task_duplicate"}
DEDUP_REASONS = {"exact": "duplicate", "near": "near_duplicate", "empty": "empty_question"}
T = TypeVar("T")


@dataclass(frozen=True)
class Removed:
    task_id: str
    stage: str  # decontaminate | dedup
    reason: str  # contaminated | duplicate | near_duplicate | empty_question
    detail: str


def published_task_ids(store: Store) -> set[str]:
    """Tasks behind every published version of each training set: already out in the world (a task a later
    version dropped was still published, and a new copy of it must not come back)."""
    found: set[str] = set()
    for dataset in ("rl_tasks", "sft_samples", "cpt_samples"):
        chunks = [c for v in published.publications(store, dataset) for c in published.published_ids(store, v).chunks]
        # versions overlap heavily: the union in Arrow, only the distinct ids become Python strings
        ids = pc.unique(pa.chunked_array(chunks, pa.string())).to_pylist()
        if ids:
            for batch in store.scan(dataset, ["id", "task_id"], ids=ids):
                found.update(t for t in batch.column("task_id").to_pylist() if t)
    return found


def screen(tasks: Iterable[dict], config: FilterConfig, *, already_published: set[str],
           decontaminator: Decontaminator | None) -> list[Removed]:
    """Which tasks to remove and why. Of duplicates the first in `tasks` is kept (`screen_tasks` orders them
    by content, never by commit); published ones are matched against, never removed (a rerun sees its own
    published tasks)."""
    removed: list[Removed] = []
    new: list[tuple[str, str, str]] = []
    existing: list[tuple[str, str]] = []
    for task in tasks:
        question = task.get("question") or ""
        if task["id"] in already_published:
            existing.append((task["id"], question))
        else:
            new.append((task["id"], question, task.get("answer") or ""))
    contaminated: set[str] = set()
    if decontaminator is not None:
        # in batches: one call per task costs ten times as much on the benchmark indexes
        for task_id, hit in decontaminator.check_many(new):
            contaminated.add(task_id)
            removed.append(Removed(task_id, "decontaminate", "contaminated",
                                   f"{hit.benchmark} item {hit.index}: the {hit.field} matches by "
                                   f"{hit.rule} on {hit.ngram!r}"))
    kept_new = [(task_id, question) for task_id, question, _ in new if task_id not in contaminated]
    if config.dedup:
        for dup in find_duplicates(kept_new, existing, threshold=config.near_duplicate_threshold,
                                   num_perm=config.num_perm):
            reason = DEDUP_REASONS.get(dup.kind, dup.kind)
            detail = (f"the question of task {dup.of_id} (estimated Jaccard {dup.similarity:.2f})"
                      if dup.of_id else "the question is empty")
            removed.append(Removed(dup.id, "dedup", reason, detail))
    return removed


def make_decontaminator(config: FilterConfig) -> tuple[Decontaminator | None, list[BenchmarkProblem]]:
    """The benchmark index (None when decontamination is off) and the problems met loading it."""
    if not config.decontaminate:
        return None, []
    loaded = load_benchmarks(config.benchmarks or None)
    return Decontaminator(loaded.items, n=config.ngram), list(loaded.problems)


def screen_tasks(store: Store, run_id: str, config: FilterConfig, fingerprint: str) -> Counter[str]:
    """Screen every task of `store`; write one quarantine row per removed task."""
    counts: Counter[str] = Counter()
    decontaminator, problems = make_decontaminator(config)
    counts["decontaminate.benchmark_items"] = len(decontaminator.items) if decontaminator else 0
    # of duplicates the first is kept: tasks that have trajectories first (their samples are not wasted),
    # then the smallest id; never commit order, which differs between identical runs (batches in threads)
    sampled = {t for batch in store.scan("trajectories", ["task_id"]) for t in batch.column("task_id").to_pylist()}
    # a decision once written stands: a task removed under this setting is not weighed again, so a later run
    # can never remove both of two duplicates
    decided = screened_tasks(store, fingerprint)
    tasks = [t for t in store.rows("tasks", ["id", "question", "answer"]) if t["id"] not in decided]
    tasks.sort(key=lambda t: (t["id"] not in sampled, t["id"]))
    removed = screen(tasks, config, already_published=published_task_ids(store), decontaminator=decontaminator)
    meta = {"stage": "screen", "filter": fingerprint}
    with StageOutput(store, run_id, "quarantine", stage="screen", meta=meta) as out:
        for problem in problems:
            record = quarantine_record(stage="decontaminate", reason="benchmark_unreadable", source=problem.path,
                                       detail=str(problem), input=json.dumps({"filter": fingerprint,
                                                                              "record": problem.index}))
            if out.write("quarantine", record):
                counts["quarantine.decontaminate.benchmark_unreadable"] += 1
        for item in removed:
            record = quarantine_record(stage=item.stage, reason=item.reason, source=item.task_id, detail=item.detail,
                                       input=json.dumps({"task": item.task_id, "filter": fingerprint}),
                                       parents=[item.task_id])
            out.write("quarantine", record)
            counts[f"{item.stage}.{item.reason}"] += 1
    counts["tasks.screened"] = len(tasks)
    return counts


def screened_tasks(store: Store, fingerprint: str) -> dict[str, Removed]:
    """The tasks the screening under `fingerprint` removed."""
    found = memo_on_commits(store, "quarantine", ("screened", fingerprint), lambda: _screened(store, fingerprint))
    return dict(found)


def _screened(store: Store, fingerprint: str) -> dict[str, Removed]:
    found: dict[str, Removed] = {}
    stages = pa.array(STAGES)
    for batch in store.scan("quarantine", ["stage", "reason", "detail", "source", "input"]):
        # only screening rows become Python objects: crawl and agent rows (and their inputs) can be many
        for row in batch.filter(pc.is_in(batch.column("stage"), value_set=stages)).to_pylist():
            if not row["input"]:
                continue
            try:
                info = json.loads(row["input"])
            except ValueError:
                continue
            if isinstance(info, dict) and info.get("filter") == fingerprint and info.get("task"):
                found[info["task"]] = Removed(info["task"], row["stage"], row["reason"], row["detail"] or "")
    return found


_MEMO: OrderedDict[tuple, tuple[tuple[str, ...], Any]] = OrderedDict()
_MEMO_LOCK = threading.Lock()
MEMO_ENTRIES = 16


def memo_on_commits(store: Store, dataset: str, key: tuple, compute: Callable[[], T]) -> T:
    """`compute()`, again only once `dataset` has a commit it has not seen: the batch tasks of one run
    (threads of one process) read a whole-dataset decision map once instead of once per batch. Callers
    must not mutate the value (copy it). The commits are listed before computing, so a value is never
    older than the commits it is filed under."""
    stamp = tuple(list_commit_names(store.root, dataset))
    full_key = (store.uri, dataset, *key)
    with _MEMO_LOCK:
        hit = _MEMO.get(full_key)
        if hit is not None and hit[0] == stamp:
            _MEMO.move_to_end(full_key)
            return hit[1]
    value = compute()
    with _MEMO_LOCK:
        _MEMO[full_key] = (stamp, value)
        _MEMO.move_to_end(full_key)
        while len(_MEMO) > MEMO_ENTRIES:
            _MEMO.popitem(last=False)
    return value
