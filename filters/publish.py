"""From decisions to training sets: SFT samples from accepted trajectories (ReAct and context-management),
agentic CPT text from surviving tasks and accepted trajectories, and the published versions.

Each run rebuilds the rows of the current decisions (a row already committed is not written again) and
publishes exactly that set of ids: a version is the whole training set as of this run, immutable, and
named again (not rewritten) when nothing changed.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from filters.config import FilterConfig
from filters.cpt import TeacherCptWriter, TemplateCptWriter, cpt_samples
from filters.rejection import latest_judgments
from filters.screen import screened_tasks
from filters.sft import context_samples, react_sample
from storage import published
from storage.batches import RowBatch, plan_batches
from storage.store import Store
from synth.agent.runner import TokenCounter
from synth.corpus.stage_output import StageOutput
from synth.teacher.requests_log import RequestLog

PUBLISHED = ("sft_samples", "rl_tasks", "cpt_samples")


def accepted_ids(store: Store, fingerprint: str) -> dict[str, list[str]]:
    """task id -> its accepted trajectory ids, under `fingerprint`."""
    by_task: dict[str, list[str]] = defaultdict(list)
    for tid, judgment in latest_judgments(store, fingerprint).items():
        if judgment["status"] == "accepted":
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
    if config.tokenizer == "approx":
        return TokenCounter()
    from filters.checks import load_counter

    return load_counter(config.tokenizer)


def sft_rows(trajectory: Mapping, config: FilterConfig, counter: Any) -> list[dict]:
    rows = []
    if "react" in config.sft_modes and trajectory["mode"] != "context":
        rows.append(react_sample(trajectory, counter))
    if "context" in config.sft_modes:
        rows.extend(context_samples(trajectory, counter))
    return rows


def build_sft(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
              ) -> tuple[Counter[str], list[str]]:
    """The SFT samples of one batch of accepted trajectories; returns the counts and the sample ids."""
    counts: Counter[str] = Counter()
    ids: list[str] = []
    counter = _counter(config)
    meta = {"stage": "sft", "filter": fingerprint, "trajectories_file": batch.file}
    with StageOutput(store, run_id, "sft_samples", stage="sft", meta=meta) as out:
        for trajectory in store.iter_row_groups(batch.file, batch.row_groups, ids=batch.ids):
            for row in sft_rows(trajectory, config, counter):
                ids.append(row["id"])
                if out.write("sft_samples", row):
                    counts[f"sft_samples.{row['mode']}"] += 1
    return counts, ids


def _trajectories(store: Store, ids: Iterable[str]) -> dict[str, dict]:
    wanted = set(ids)
    found: dict[str, dict] = {}
    if wanted:
        for batch in store.scan("trajectories", ids=wanted):
            for row in batch.to_pylist():
                found[row["id"]] = row
    return found


def build_cpt(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
              teacher_config: Any = None) -> tuple[Counter[str], list[str]]:
    """The CPT samples of one batch of tasks (planning, reasoning; decision from accepted trajectories)."""

    async def go() -> tuple[Counter[str], list[str]]:
        counts: Counter[str] = Counter()
        ids: list[str] = []
        counter = _counter(config)
        log = RequestLog()
        client = None
        if config.cpt_writer == "teacher":
            from synth.teacher.cache import default_cache
            from synth.teacher.client import TeacherClient

            if teacher_config is None:
                raise ValueError("[filter] cpt_writer = 'teacher' needs [teacher] settings")
            client = TeacherClient(teacher_config, cache=default_cache(store) if teacher_config.cache else None,
                                   log=log)
            writer: Any = TeacherCptWriter(client)
        else:
            writer = TemplateCptWriter()
        try:
            accepted = accepted_ids(store, fingerprint)
            tasks = list(store.iter_row_groups(batch.file, batch.row_groups, ids=batch.ids))
            trajectories = _trajectories(store, (t for task in tasks for t in accepted.get(task["id"], [])))
            meta = {"stage": "cpt", "filter": fingerprint, "tasks_file": batch.file, "writer": writer.name}
            with StageOutput(store, run_id, "cpt_samples", stage="cpt", meta=meta) as out:
                for task in tasks:
                    chosen = [trajectories[t] for t in accepted.get(task["id"], []) if t in trajectories]
                    rows = await cpt_samples(task, chosen, writer, counter, kinds=config.cpt_kinds,
                                             short_max_tokens=config.cpt_short_max_tokens)
                    for row in rows:
                        ids.append(row["id"])
                        if out.write("cpt_samples", row):
                            counts[f"cpt_samples.{row['kind']}"] += 1
                for row in log.drain():
                    if out.write("requests", row):
                        counts["requests.added"] += 1
        finally:
            if client is not None:
                await client.aclose()
        return counts, ids

    return asyncio.run(go())


def publish_sets(store: Store, run_id: str, ids: Mapping[str, Iterable[str]], fingerprint: str,
                 ) -> dict[str, published.Publication]:
    """Name each dataset's current set of ids as a version (nothing new when unchanged)."""
    made = {}
    for dataset in PUBLISHED:
        chosen = sorted(set(ids.get(dataset, ())))
        made[dataset] = published.publish(store, dataset, chosen, run_id, meta={"filter": fingerprint})
    return made
