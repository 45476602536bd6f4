"""Flow `ingest`: crawl or read every source into `pages`, then extract `documents` in batches.

A run whose sources yield no page at all fails, naming them and what became of them (a missing file, a
seed that could not be fetched): nothing downstream could come of it, and a run that "completes" on
nothing would publish nothing and tell a CI job all is well. A source that yields nothing beside others
that do is a warning of the run.
"""

from __future__ import annotations

import atexit
import threading
from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run, run_warnings, warn
from drsynth.flows.ui import Progress
from drsynth.storage.store import Store
from drsynth.synth.corpus import ingest as stage
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.extract_pool import ExtractionPool
from drsynth.synth.settings import Settings

# one pool of extraction processes per flow-run process, reused by every batch task; batches run one
# after another and each keeps all workers busy with its chunks, so the pool is never shared by threads
_pools: dict[tuple, ExtractionPool] = {}
_pools_lock = threading.Lock()


def _pool(config: IngestConfig) -> ExtractionPool:
    cfg = config.extract
    key = (cfg.workers, cfg.timeout_s, cfg.max_bytes)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ExtractionPool(cfg.workers, timeout_s=cfg.timeout_s, max_bytes=cfg.max_bytes).__enter__()
        return _pools[key]


@atexit.register
def close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.__exit__(None, None, None)
        _pools.clear()


@task(name="acquire-source", retries=1, cache_policy=NO_CACHE)
def acquire_source(out: str, run_id: str, source: str, config: Settings) -> dict:
    """One source (a seed URL, a directory, a WARC, a corpus file) into `pages`; reruns are idempotent."""
    counts = stage.acquire(Store(out), run_id, source, config.ingest)
    get_run_logger().info(
        "%s: %d pages added (%d already present), %d quarantined",
        source, counts["pages.added"], counts["pages.already_present"], counts["quarantine.seen"],
    )
    return dict(counts)


@task(name="plan-extraction", cache_policy=NO_CACHE)
def plan_extraction(out: str, pages_per_task: int) -> list[stage.PageBatch]:
    return stage.pending_batches(Store(out), pages_per_task)


@task(name="extract-batch", task_run_name="extract-batch {label}", retries=1, cache_policy=NO_CACHE)
def extract_batch(out: str, run_id: str, batch: stage.PageBatch, config: Settings, label: str) -> dict:
    cfg = config.ingest
    counts = stage.extract(Store(out), run_id, batch, _pool(cfg), cfg)
    get_run_logger().info(
        "extract %s: %d pages -> %d documents, %d quarantined",
        label, len(batch.ids), counts["documents"], counts["quarantine"],
    )
    return dict(counts)


class NoPagesError(RuntimeError):
    """Every source of a run yielded nothing."""


def _pages(source_counts: dict) -> int:
    """Pages a source yielded, new or already held from an earlier run."""
    return source_counts.get("pages.added", 0) + source_counts.get("pages.already_present", 0)


def _fates(source_counts: dict) -> str:
    """What a source's records became instead of pages: its quarantine reasons, e.g. `read:missing_source`."""
    reasons = [f"{key.removeprefix('quarantine.').replace('.', ':', 1)} x{n}" for key, n in sorted(source_counts.items())
               if key.startswith("quarantine.") and key.count(".") >= 2 and n]
    return ", ".join(reasons) or "nothing read"


def check_sources(per_source: dict[str, dict], counts: Counter[str]) -> None:
    """Fail when no source yielded a page; warn of each source that yielded none beside others that did."""
    empty = {source: _fates(c) for source, c in per_source.items() if not _pages(c)}
    named = "; ".join(f"{source!r} ({fate})" for source, fate in empty.items())
    if per_source and len(empty) == len(per_source):
        raise NoPagesError(f"the sources yielded no pages: {named}")
    for source, fate in empty.items():
        warn(counts, f"source {source!r} yielded no pages ({fate})")


def run_ingest(sources: list[str], out: str, config: Settings, run_id: str, counts: Counter[str]) -> None:
    """The ingest steps, for `ingest` and for `pipeline` to call inside its own flow run.

    `counts` is updated as each task finishes, so a failed run still records what it did.
    """
    cfg = config.ingest
    if not sources:
        raise NoPagesError("no sources given")
    futures = {s: acquire_source.submit(out, run_id, s, config) for s in sources}
    per_source: dict[str, dict] = {}
    for source, future in futures.items():
        per_source[source] = future.result()
        counts.update(per_source[source])
    check_sources(per_source, counts)
    batches = plan_extraction(out, cfg.extract.pages_per_task)
    progress = Progress(out, "extract", len(batches))
    try:
        for i, batch in enumerate(batches):
            counts.update(extract_batch(out, run_id, batch, config, f"{i + 1}/{len(batches)}"))
            progress.advance()
    finally:
        close_pools()  # idle workers would hold their memory through the stages that follow


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=False)
def ingest(sources: list[str], out: str = "data", config: Settings | None = None, run_id: str | None = None) -> dict:
    """Crawl or read `sources` into `out`, extract documents, refresh the DuckDB catalog."""
    config = over_defaults("config", config, Settings)
    with recorded_run(out, "ingest", {"sources": sources, "config": config.to_dict()}, run_id) as (log, counts):
        run_ingest(sources, out, config, log.run_id, counts)
    return {"run_id": log.run_id, "counts": dict(counts), "warnings": run_warnings(counts)}
