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
from contextvars import ContextVar
from dataclasses import dataclass, field

from prefect import get_run_logger
from prefect.runtime import flow_run

from drsynth.flows.ui import publish_counts
from drsynth.storage.catalog import build_catalog
from drsynth.storage.runs import RunLog
from drsynth.storage.store import Store

WARNINGS = "warnings"  # the counts key holding a run's warnings (a list of sentences)


def warn(counts: Counter[str], message: str) -> None:
    """Record a warning of the run whose counts these are (once), and log it."""
    held = counts.setdefault(WARNINGS, [])  # type: ignore[arg-type]
    if message not in held:
        held.append(message)  # type: ignore[union-attr]
        get_run_logger().warning(message)


def run_warnings(counts: Mapping) -> list[str]:
    return list(counts.get(WARNINGS) or [])


@dataclass
class _Recording:
    """The run a flow body records into, and the counts of each stage flow that joined it."""

    out: str
    log: RunLog
    counts: Counter[str]
    stages: dict[str, dict] = field(default_factory=dict)


# the run of the enclosing flow (`pipeline`): its stage flows run as subflows in the same thread, so the
# context variable reaches them, and they record into its `runs` row instead of one of their own
_enclosing: ContextVar[_Recording | None] = ContextVar("drsynth_recording", default=None)


def _delta(before: Mapping, after: Mapping) -> dict:
    """What a stage added to the run's counts: numbers by difference, anything else (a graph version) as set."""
    delta: dict = {}
    for key, value in after.items():
        if key == WARNINGS:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value - before.get(key, 0):
                delta[key] = value - before.get(key, 0)
        elif before.get(key) != value:
            delta[key] = value
    return delta


@contextlib.contextmanager
def recorded_run(out: str, flow: str, parameters: dict, run_id: str | None) -> Iterator[tuple[RunLog, Counter[str]]]:
    enclosing = _enclosing.get()
    if enclosing is not None and enclosing.out == out:
        # a stage of the pipeline: the pipeline's run, its counts; this stage's share of them on its own
        before = dict(enclosing.counts)
        try:
            yield enclosing.log, enclosing.counts
        finally:
            enclosing.stages[flow] = _delta(before, enclosing.counts)
        with contextlib.suppress(Exception):
            publish_counts(out, flow, enclosing.log.run_id, {flow: enclosing.stages[flow]}, [])
        return
    store = Store(out)
    log = RunLog(store, flow, parameters, run_id, flow_run.get_id()).start()
    counts: Counter[str] = Counter()
    recording = _Recording(out, log, counts)
    token = _enclosing.set(recording)
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
    finally:
        _enclosing.reset(token)
    log.finish(counts)
    build_catalog(store)
    publish_counts(out, flow, log.run_id, recording.stages or {flow: _delta({}, counts)}, run_warnings(counts))


def _reason(exc: BaseException) -> str:
    """What ended a run, in words. A signal by its name: Prefect's TerminationSignal carries no message."""
    signum = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else getattr(exc, "signal", None)
    if isinstance(signum, int):
        with contextlib.suppress(ValueError):
            return f"{type(exc).__name__}: stopped by {signal.Signals(signum).name}"
    return f"{type(exc).__name__}: {exc}"
