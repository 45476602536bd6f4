"""Parallel extraction: batches of `pages` rows through worker processes, in order, bounded memory.

Process model
- `workers=N` (N >= 1) runs N worker processes and never extracts in the calling process, so
  `workers=1` is one worker process: the same shape as a baseline that runs trafilatura in one pool
  process, which keeps 1-vs-N throughput comparisons fair. `workers=0` extracts in the calling
  process (debugging, tiny inputs); there the SIGALRM timeout only works on the main thread.
- Workers start from a "forkserver" (else "spawn") context: forking a process that runs Prefect's
  threads can copy a held lock into the child and deadlock it.
- At most `max_in_flight` batches (default 2 x workers) are submitted at a time, so the input
  iterable is consumed lazily and memory stays bounded; results come back in input order.

Crashes: when a worker process dies (segfault in a C library, OOM kill, os._exit), every unfinished
batch fails with BrokenProcessPool, and nothing says which one was guilty. Each such batch is re-run
alone in a fresh pool; a batch that breaks that pool too is re-run page by page, each page in a
fresh pool if the previous one broke, so only the page that kills its worker becomes a quarantine
row (reason "worker_crashed") and the run goes on.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from drsynth.synth.corpus.extract import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_S,
    STAGE,
    extract_page,
    warm_up,
)
from drsynth.synth.corpus.records import quarantine_record

Result = tuple[str, dict]
BatchFn = Callable[..., list[Result]]


def extract_batch(
    pages: list[dict], *, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Result]:
    """What a worker runs: `extract_page` over a batch, one result per page, in order."""
    return [extract_page(page, max_bytes=max_bytes, timeout_s=timeout_s) for page in pages]


def _init_worker() -> None:
    warm_up()  # load the language model once per process, not inside the first page's deadline
    # the modules and model loaded so far live as long as the worker: keep them out of GC passes
    gc.collect()
    gc.freeze()


def _ping() -> int:
    return os.getpid()


def crash_record(page: dict, error: BaseException) -> Result:
    """The quarantine row for a page whose worker process died."""
    body = page.get("body") or b""
    return "quarantine", quarantine_record(
        stage=STAGE,
        reason="worker_crashed",
        source=page.get("url") or page.get("final_url") or page.get("id") or "",
        detail=f"worker process died while extracting this page: {error}",
        input=body,
        parents=[page["id"]] if page.get("id") else [],
    )


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class ExtractionPool:
    """`with ExtractionPool(workers=4) as pool: for results in pool.map_batches(batches): ...`

    `batch_fn` is the module-level function the workers run (default `extract_batch`); it is called
    as `batch_fn(pages, max_bytes=..., timeout_s=...)` and must return one result per page.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_in_flight: int | None = None,
        batch_fn: BatchFn = extract_batch,
        start_method: str | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self.max_in_flight = max_in_flight or 2 * max(workers, 1)
        self.batch_fn = batch_fn
        self.kwargs: dict[str, Any] = {"max_bytes": max_bytes, "timeout_s": timeout_s}
        self.start_method = start_method or _start_method()
        self.restarts = 0  # pools replaced after a worker died
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # --- executor lifecycle ------------------------------------------------------------------

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context(self.start_method)
            executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_init_worker)
            try:
                # a worker that cannot start (import error, failing initializer) would otherwise look
                # like every page crashing it, and quarantine the whole input one restart at a time
                executor.submit(_ping).result()
            except BrokenProcessPool as exc:
                executor.shutdown(wait=False, cancel_futures=True)
                raise RuntimeError("extraction worker processes die at start-up; see their stderr") from exc
            self._executor = executor
        return self._executor

    def _restart(self) -> None:
        if self._executor is not None:
            # the dead pool's other workers are told to exit; no need to wait for them
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self.restarts += 1

    def _submit(self, pages: list[dict]) -> Future:
        try:
            return self._pool().submit(self.batch_fn, pages, **self.kwargs)
        except BrokenProcessPool as exc:  # the pool died before we noticed: fail like its futures
            failed: Future = Future()
            failed.set_exception(exc)
            return failed

    # --- mapping -----------------------------------------------------------------------------

    def map_batches(self, batches: Iterable[list[dict]]) -> Iterator[list[Result]]:
        """One result list per input batch, in input order."""
        if self.workers == 0:
            for batch in batches:
                yield self.batch_fn(list(batch), **self.kwargs)
            return
        source = iter(batches)
        pending: deque[tuple[list[dict], Future]] = deque()

        def fill() -> None:
            while len(pending) < self.max_in_flight:
                batch = next(source, None)
                if batch is None:
                    return
                batch = list(batch)
                pending.append((batch, self._submit(batch)))

        fill()
        while pending:
            batch, future = pending[0]
            try:
                results = future.result()
            except BrokenProcessPool:
                # every unfinished batch died with the pool; recover them one at a time, in order
                broken = list(pending)
                pending.clear()
                self._restart()
                for batch, future in broken:
                    yield self._recover(batch, future)
                fill()
                continue
            pending.popleft()
            yield results
            fill()

    def _recover(self, batch: list[dict], future: Future) -> list[Result]:
        if future.done() and not future.cancelled() and future.exception() is None:
            return future.result()  # finished before the pool broke
        try:
            return self._submit(batch).result()
        except BrokenProcessPool:
            self._restart()
        # this batch holds the page that kills workers: isolate it
        results: list[Result] = []
        for page in batch:
            try:
                results.extend(self._submit([page]).result())
            except BrokenProcessPool as exc:
                self._restart()
                results.append(crash_record(page, exc))
        return results
