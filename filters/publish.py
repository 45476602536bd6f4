"""From decisions to training sets: SFT samples from accepted trajectories (ReAct and context-management),
agentic CPT text from surviving tasks and accepted trajectories, and the published versions.

Each run rebuilds the rows of the current decisions (a row already committed is not written again) and
publishes exactly that set of ids, less identical samples: a version is the whole training set as of this
run, immutable, and named again (not rewritten) when nothing changed. Samples with the same messages (SFT)
or the same text (CPT) are one training example however many trajectories or tasks made them (the k
samples of a deterministic policy, two tasks with one question): the version names the smallest of their
ids, so identical runs publish identical versions.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from drsynth.filters.checks import load_counter
from drsynth.filters.config import FilterConfig
from drsynth.filters.cpt import TeacherCptWriter, TemplateCptWriter, cpt_samples
from drsynth.filters.rejection import latest_judgments
from drsynth.filters.screen import screened_tasks
from drsynth.filters.sft import sft_samples
from drsynth.storage import published
from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.teacher.open import required, store_cache
from drsynth.synth.teacher.requests_log import RequestLog

PUBLISHED = ("sft_samples", "rl_tasks", "cpt_samples")
# what makes two samples the same training example
SAMPLE_CONTENT = {"sft_samples": "messages", "cpt_samples": "text"}


def accepted_ids(store: Store, fingerprint: str) -> dict[str, list[str]]:
    """task id -> its accepted trajectory ids, under `fingerprint`. A task screening removed after its
    trajectories were accepted (a benchmark file added since) publishes none of them."""
    removed = screened_tasks(store, fingerprint)
    by_task: dict[str, list[str]] = defaultdict(list)
    for tid, judgment in latest_judgments(store, fingerprint).items():
        if judgment["status"] == "accepted" and judgment["task_id"] not in removed:
            by_task[judgment["task_id"]].append(tid)
    return {task: sorted(ids) for task, ids in by_task.items()}


def sft_batches(store: Store, config: FilterConfig, fingerprint: str) -> list[RowBatch]:
    accepted = {t for ids in accepted_ids(store, fingerprint).values() for t in ids}
    return plan_batches(store, "trajectories", config.trajectories_per_batch, keep=accepted.__contains__)


def cpt_batches(store: Store, config: FilterConfig, fingerprint: str) -> list[RowBatch]:
    """Every task that survived screening: planning and reasoning samples need no trajectory."""
    removed = screened_tasks(store, fingerprint)
    return plan_batches(store, "tasks", config.trajectories_per_batch, keep=lambda i: i not in removed)


def _counter(config: FilterConfig) -> Any:
    return load_counter(config.tokenizer)


def _quarantine_skipped(out: StageOutput, stage: str, skipped: list[dict], counts: Counter[str]) -> None:
    """What a builder could not make from an accepted trajectory or a task is kept, with its reason."""
    for item in skipped:
        source = item.get("trajectory_id") or item.get("task_id") or ""
        record = quarantine_record(stage=stage, reason=item["reason"], source=source,
                                   detail=f"{item.get('kind') or item.get('mode')}: {item.get('detail', '')}"[:500],
                                   input=json.dumps(item, default=str), parents=[source] if source else [])
        if out.write("quarantine", record):
            counts[f"quarantine.{stage}.{item['reason']}"] += 1


def build_sft(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
              ) -> tuple[Counter[str], list[str]]:
    """The SFT samples of one batch of accepted trajectories; returns the counts and the sample ids."""
    counts: Counter[str] = Counter()
    ids: list[str] = []
    counter = _counter(config)
    skipped: list[dict] = []
    meta = {"stage": "sft", "filter": fingerprint, "trajectories_file": batch.file}
    with StageOutput(store, run_id, "sft_samples", stage="sft", meta=meta) as out:
        for trajectory in store.iter_row_groups(batch.file, batch.row_groups, ids=batch.ids):
            for row in sft_samples(trajectory, counter, modes=config.sft_modes, skipped=skipped):
                ids.append(row["id"])
                if out.write("sft_samples", row):
                    counts[f"sft_samples.{row['mode']}"] += 1
        _quarantine_skipped(out, "sft", skipped, counts)
    return counts, _committed(out, "sft_samples", ids)


def _committed(out: StageOutput, dataset: str, ids: list[str]) -> list[str]:
    """`ids` less the rows the schema refused (each a quarantine row `invalid_row`): a version names only
    committed rows, and one bad row must not fail the whole publication."""
    refused = set(out.writers[dataset].rejected)
    return [i for i in ids if i not in refused] if refused else ids


def _trajectories(store: Store, ids: Iterable[str]) -> dict[str, dict]:
    """The rows of `ids`, reading only the row groups that hold them: every CPT batch asks for a few
    trajectories, and reading every conversation of the dataset per batch is quadratic in it."""
    wanted = set(ids)
    found: dict[str, dict] = {}
    if not wanted:
        return found
    for path in store.files("trajectories"):
        groups = [g for g, group_ids in enumerate(store.row_group_ids(path)) if not wanted.isdisjoint(group_ids)]
        if groups:
            for row in store.iter_row_groups(path, groups, ids=wanted):
                found[row["id"]] = row
    return found


def build_cpt(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
              teacher_config: Any = None) -> tuple[Counter[str], list[str]]:
    """The CPT samples of one batch of tasks (planning, reasoning; decision from accepted trajectories)."""
    counts: Counter[str] = Counter()
    ids: list[str] = []
    counter = _counter(config)
    log = RequestLog()
    if config.cpt_writer == "teacher":
        teacher = required(teacher_config, "[filter] cpt_writer = 'teacher'")
        writer: Any = TeacherCptWriter(teacher, cache=store_cache(store, teacher), log=log)
    else:
        writer = TemplateCptWriter()
    accepted = accepted_ids(store, fingerprint)
    tasks = list(store.iter_row_groups(batch.file, batch.row_groups, ids=batch.ids))
    trajectories = _trajectories(store, (t for task in tasks for t in accepted.get(task["id"], [])))
    skipped: list[dict] = []
    meta = {"stage": "cpt", "filter": fingerprint, "tasks_file": batch.file, "writer": writer.name}
    with StageOutput(store, run_id, "cpt_samples", stage="cpt", meta=meta) as out:
        for task in tasks:
            chosen = [trajectories[t] for t in accepted.get(task["id"], []) if t in trajectories]
            rows = cpt_samples(task, chosen, writer, counter, kinds=config.cpt_kinds,
                               short_max_tokens=config.cpt_short_max_tokens, skipped=skipped)
            for row in rows:
                ids.append(row["id"])
                if out.write("cpt_samples", row):
                    counts[f"cpt_samples.{row['kind']}"] += 1
        _quarantine_skipped(out, "cpt", skipped, counts)
        for row in log.drain():
            if out.write("requests", row):
                counts["requests.added"] += 1
    return counts, _committed(out, "cpt_samples", ids)


def distinct_samples(store: Store, dataset: str, ids: Iterable[str]) -> list[str]:
    """`ids` with one id per distinct sample content (`SAMPLE_CONTENT`): the smallest id of each group of
    identical samples. Ids not committed stay (publishing them fails loudly); other datasets pass through."""
    wanted = sorted(set(ids))
    column = SAMPLE_CONTENT.get(dataset)
    if column is None or not wanted:
        return wanted
    first: dict[str, str] = {}  # content hash -> smallest id
    seen: set[str] = set()
    for batch in store.scan(dataset, ["id", column], ids=wanted):
        for sample_id, content in zip(batch["id"].to_pylist(), batch[column].to_pylist(), strict=True):
            seen.add(sample_id)
            key = content_id("sample_content", content)
            if key not in first or sample_id < first[key]:
                first[key] = sample_id
    return sorted({*first.values(), *(i for i in wanted if i not in seen)})


def publish_sets(store: Store, run_id: str, ids: Mapping[str, Iterable[str]], fingerprint: str,
                 ) -> dict[str, published.Publication]:
    """Name each dataset's current set of ids, identical samples once, as a version (nothing new when
    unchanged); a version's meta says how many identical samples it left out. A dataset with no rows is
    not published: a version of nothing would be announced, and trained on, as if it were data."""
    made = {}
    for dataset in PUBLISHED:
        chosen = sorted(set(ids.get(dataset, ())))
        if not chosen:
            continue
        distinct = distinct_samples(store, dataset, chosen)
        meta = {"filter": fingerprint, "identical_samples_dropped": len(chosen) - len(distinct)}
        made[dataset] = published.publish(store, dataset, distinct, run_id, meta=meta)
    return made
