"""Shared by the benchmarks: where the test pages come from, how a process tree's memory is watched, how a
phase is timed, and how a result is reported."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
READABILITY = REPO.parent / "shared" / "corpora" / "readability"


def corpus_pages() -> list[tuple[str, bytes]]:
    """(name, html) of real pages: the shared readability corpus when present, else the demo site."""
    if READABILITY.exists():
        return [(p.parent.name, p.read_bytes()) for p in sorted(READABILITY.glob("*/source.html"))]
    from drsynth.synth.corpus.demo import SITE_DIR

    return [(p.stem, p.read_bytes()) for p in sorted(SITE_DIR.rglob("*.html"))]


def replicate(pages: list[tuple[str, bytes]], n: int) -> list[tuple[str, bytes]]:
    """n pages cycling through `pages`, each copy with its own name (so its own id).

    Names sort in cycle order, so every batch sees the same mix of small and large pages whatever
    n is: a memory comparison across sizes then measures growth with input, not batch make-up.
    """
    return [(f"{i:06d}-{pages[i % len(pages)][0]}", pages[i % len(pages)][1]) for i in range(n)]


class TreeMemory:
    """Samples the RSS of a process and its children until stopped; keeps peaks per role."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def role(proc: psutil.Process) -> str:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            return "other"
        if "uvicorn" in cmd or "prefect.server" in cmd or "server start" in cmd:
            return "prefect_server"
        if "multiprocessing" in cmd or "forkserver" in cmd or "spawn_main" in cmd:
            return "workers"
        return "other"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                totals = {"main": self.root.memory_info().rss}
                for child in self.root.children(recursive=True):
                    role = self.role(child)
                    totals[role] = totals.get(role, 0) + child.memory_info().rss
            except psutil.Error:
                break
            for role, rss in totals.items():
                self.peaks[role] = max(self.peaks.get(role, 0), rss)
            time.sleep(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float  # this process's
    peak_rss: int  # bytes: this process's peak while the phase ran

    @property
    def peak_rss_mib(self) -> int:
        return round(self.peak_rss / 2**20)


def timed(run: Callable[[], T]) -> tuple[T, Timing]:
    """What `run()` returns, and its wall time, CPU time and peak RSS."""
    with TreeMemory(os.getpid(), interval=0.02) as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, Timing(wall, cpu, memory.peaks.get("main", 0))


def machine() -> dict[str, Any]:
    """What a result's numbers depend on beside the code: the cores, and how busy they were."""
    return {"cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def report(result: dict, out: str | None) -> None:
    """The result as JSON on stdout, and in the file `out` too when given."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        Path(out).write_text(text)
