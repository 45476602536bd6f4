"""A flow body recorded in `runs`: started, then completed with its counts or failed with its error.

The error recorded is the exception's `Type: message`, which is also what Prefect puts in the flow run's
final state (`Flow run encountered an exception: Type: message`), so `runs`, the UI and the flow's log
(`prefect deployment run --watch` prints it) give one reason. Warnings (`warn`) are problems that do not
stop a run but must not pass unseen: each is logged, kept in the run's counts under `warnings` (its `runs`
row and counts artifact) and returned, for the CLI to print in its summary.
"""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Iterator, Mapping

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from storage.catalog import build_catalog
from storage.runs import RunLog
from storage.store import Store

WARNINGS = "warnings"  # the counts key holding a run's warnings (a list of sentences)


def warn(counts: Counter[str], message: str) -> None:
    """Record a warning of the run whose counts these are (once), and log it."""
    held = counts.setdefault(WARNINGS, [])  # type: ignore[arg-type]
    if message not in held:
        held.append(message)  # type: ignore[union-attr]
        get_run_logger().warning(message)


def run_warnings(counts: Mapping) -> list[str]:
    return list(counts.get(WARNINGS) or [])


@contextlib.contextmanager
def recorded_run(out: str, flow: str, parameters: dict, run_id: str | None) -> Iterator[tuple[RunLog, Counter[str]]]:
    store = Store(out)
    log = RunLog(store, flow, parameters, run_id, flow_run.get_id()).start()
    counts: Counter[str] = Counter()
    try:
        yield log, counts
    except BaseException as exc:
        # record the failure, but never let the bookkeeping hide the error that caused it
        reason = _reason(exc)
        with contextlib.suppress(Exception):
            get_run_logger().error("%s run %s failed: %s", flow, log.run_id, reason)
        try:
            log.finish(counts, error=reason)
            build_catalog(store)
        except Exception as bookkeeping:
            get_run_logger().error("could not record the failed run: %r", bookkeeping)
        raise
    log.finish(counts)
    build_catalog(store)
    rows = [{"count": k, "value": v} for k, v in sorted(counts.items()) if v and k != WARNINGS]
    rows += [{"count": "warning", "value": message} for message in run_warnings(counts)]
    create_table_artifact(rows, key=f"{flow.replace('_', '-')}-counts", description=f"{flow} run {log.run_id}: rows per stage")


def _reason(exc: BaseException) -> str:
    """What ended a run, in words. A signal by its name: Prefect's TerminationSignal carries no message."""
    signum = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else getattr(exc, "signal", None)
    if isinstance(signum, int):
        with contextlib.suppress(ValueError):
            return f"{type(exc).__name__}: stopped by {signal.Signals(signum).name}"
    return f"{type(exc).__name__}: {exc}"
