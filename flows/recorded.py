"""A flow body recorded in `runs`: started, then completed with its counts or failed with its error."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from storage.catalog import build_catalog
from storage.runs import RunLog
from storage.store import Store


@contextlib.contextmanager
def recorded_run(out: str, flow: str, parameters: dict, run_id: str | None) -> Iterator[tuple[RunLog, Counter[str]]]:
    store = Store(out)
    log = RunLog(store, flow, parameters, run_id, flow_run.get_id()).start()
    counts: Counter[str] = Counter()
    try:
        yield log, counts
    except BaseException as exc:
        # record the failure, but never let the bookkeeping hide the error that caused it
        try:
            log.finish(counts, error=f"{type(exc).__name__}: {exc}")
            build_catalog(store)
        except Exception as bookkeeping:
            get_run_logger().error("could not record the failed run: %r", bookkeeping)
        raise
    log.finish(counts)
    build_catalog(store)
    rows = [{"count": k, "value": v} for k, v in sorted(counts.items()) if v]
    create_table_artifact(rows, key=f"{flow.replace('_', '-')}-counts", description=f"{flow} run {log.run_id}: rows per stage")
