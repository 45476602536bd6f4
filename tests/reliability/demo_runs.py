"""`drsynth demo` as a user runs it, for the crash and determinism suites: a real CLI subprocess in its
own session (so that the whole process group can be killed), its log read line by line as it comes
(so that a kill can wait for a stage), and what a root holds, read back for comparison.

Every process of a run carries `DRSYNTH_TEST_RUN=<token>` in its environment (Popen, the forkserver and
its workers inherit it), so the processes a kill leaves behind are found whoever their parent is now.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drsynth.storage.processes import is_zombie, pids
from drsynth.storage.published import publications, published_ids, resolve
from drsynth.storage.schemas import SCHEMAS
from drsynth.storage.store import Store
from tests.reliability.conftest import FULL

RUN_TAG = "DRSYNTH_TEST_RUN"
# a finished Prefect task run: "21:32:21.133 | INFO    | Task run 'acquire-source-8f3' - Finished in state ...",
# or a batch task named by its batch: "Task run 'extract-batch 2/3' - Finished", "'run-agents wave 1 2/3'"
TASK_DONE = re.compile(r"Task run '(?P<stage>[a-z][a-z0-9-]*?)(?:-[0-9a-f]{3}| [^']*)' - Finished")
SERVER_START = re.compile(r"Starting temporary server")
FLOW_START = re.compile(r"Beginning flow run")
FLOW_DONE = re.compile(r"Flow run '[^']+' - Finished")


def finished(stage: str) -> str:
    """A regex of the line that says a task run of `stage` finished."""
    return rf"Task run '{re.escape(stage)}(?:-[0-9a-f]{{3}}| [^']*)' - Finished"


# ids made from a timestamp: compared by count, not by value
TIME_BASED = {"requests"}
EVENT_LOGS = {"runs"}  # one event per state change of each run: differs by design


def drsynth_command() -> list[str]:
    """The installed `drsynth` console script beside this interpreter, else `python -m drsynth.flows.cli`."""
    script = Path(sys.executable).with_name("drsynth")
    return [str(script)] if script.exists() else [sys.executable, "-m", "drsynth.flows.cli"]


@dataclass
class Line:
    at: float  # seconds since the process started
    text: str


@dataclass
class DemoRun:
    """One `drsynth demo --out root` process; `start()`, then wait, kill or stop it."""

    root: Path
    prefect_home: Path
    log: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    lines: list[Line] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None
        self._t0 = 0.0

    def start(self) -> DemoRun:
        env = {**os.environ, "PREFECT_HOME": str(self.prefect_home), "PYTHONUNBUFFERED": "1", RUN_TAG: self.token}
        self._t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [*drsynth_command(), "demo", "--out", str(self.root)], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root.parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log, "a", encoding="utf-8", errors="replace") as log:
            for raw in self.proc.stdout:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(text + "\n")
                with self._changed:
                    self.lines.append(Line(time.monotonic() - self._t0, text))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def wait_for(self, pattern: re.Pattern[str], timeout: float, after: int = 0) -> Line | None:
        """The first line matching `pattern` (from line `after` on), waiting for it; None when the process
        ended or `timeout` passed first."""
        deadline = time.monotonic() + timeout
        seen = after
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if pattern.search(line.text):
                        return line
                seen = len(self.lines)
                if self.proc is None or self.proc.poll() is not None or time.monotonic() >= deadline:
                    # the reader may still be draining the pipe of an ended process: one last look
                    late = [x for x in self.lines[seen:] if pattern.search(x.text)]
                    return late[0] if late else None
                self._changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))

    def wait(self, timeout: float) -> int:
        assert self.proc is not None and self._reader is not None
        rc = self.proc.wait(timeout)
        self._reader.join(5)  # its last lines (a process it left may hold the pipe open: not forever)
        return rc

    def signal(self, sig: int, group: bool) -> None:
        assert self.proc is not None
        if group:
            os.killpg(self.proc.pid, sig)  # its own session: the group id is its pid
        else:
            os.kill(self.proc.pid, sig)

    def stage_at(self, at: float) -> str:
        """The stage in progress at `at` seconds: the one after the last stage that had finished."""
        last = "startup"
        for line in self.lines:
            if line.at > at:
                break
            if FLOW_START.search(line.text):
                last = "flow start"
            elif (done := TASK_DONE.search(line.text)) is not None:
                last = done.group("stage")
            elif FLOW_DONE.search(line.text):
                last = "flow end"
        return f"after {last}" if last not in ("startup",) else last

    def leftovers(self, wait_s: float = 10.0) -> list[str]:
        """The processes of this run still alive (tagged, or in its session), after waiting up to `wait_s`
        for them to go. Each is then killed so that it cannot disturb the next run, and reported."""
        assert self.proc is not None
        deadline = time.monotonic() + wait_s
        while True:
            found = processes_of(self.token, self.proc.pid)
            if not found or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        report = [f"{pid} {cmdline(pid)[:160]}" for pid in found]
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return report


def processes_of(token: str, session: int) -> list[int]:
    """Live processes tagged with `token` or in session `session` (zombies are not processes any more)."""
    entry = f"{RUN_TAG}={token}".encode()
    found = []
    for pid in pids():
        if pid == os.getpid() or is_zombie(pid):
            continue
        try:
            in_session = os.getsid(pid) == session
        except OSError:
            continue
        if in_session or entry in _environ(pid):
            found.append(pid)
    return sorted(found)


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def run_to_end(root: Path, prefect_home: Path, log: Path, timeout: float = 600) -> DemoRun:
    """An uninterrupted demo run; fails loudly with its log's tail when it does not exit 0."""
    run = DemoRun(root, prefect_home, log).start()
    rc = run.wait(timeout)
    if rc != 0:
        tail = "\n".join(x.text for x in run.lines[-40:])
        raise AssertionError(f"drsynth demo --out {root} exited {rc}:\n{tail}")
    return run


# --- stage timings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """From one log landmark to the next in an uninterrupted run: `stage` runs during it."""

    anchor: str  # a regex of the landmark line that starts it
    start: float  # seconds since the process started
    duration: float
    stage: str


def segments(run: DemoRun) -> list[Segment]:
    """The landmarks of `run`'s log (server start, flow start, the first finish of each stage, flow end),
    each the start of a segment that lasts until the next."""
    marks: list[tuple[str, float, str]] = []  # (anchor regex, at, name)
    seen: set[str] = set()
    for line in run.lines:
        if SERVER_START.search(line.text) and "server" not in seen:
            seen.add("server")
            marks.append((SERVER_START.pattern, line.at, "startup"))
        elif FLOW_START.search(line.text) and "flow" not in seen:
            seen.add("flow")
            marks.append((FLOW_START.pattern, line.at, "flow start"))
        elif (done := TASK_DONE.search(line.text)) is not None and done.group("stage") not in seen:
            stage = done.group("stage")
            seen.add(stage)
            marks.append((finished(stage), line.at, stage))
        elif FLOW_DONE.search(line.text) and "end" not in seen:
            seen.add("end")
            marks.append((FLOW_DONE.pattern, line.at, "flow end"))
    out = []
    for (anchor, at, _), (_, until, stage) in itertools.pairwise(marks):
        out.append(Segment(anchor, at, until - at, stage))
    if marks:  # after the flow: the catalog and the summary, until the process exits
        out.append(Segment(marks[-1][0], marks[-1][1], max(0.5, run.lines[-1].at - marks[-1][1]), "catalog"))
    return out


# --- what a root holds -------------------------------------------------------------------------------


def dataset_ids(root: Path) -> dict[str, list[str]]:
    """Every dataset's ids, as committed (duplicates kept, to be counted)."""
    store = Store(str(root))
    found = {}
    for dataset in sorted(set(SCHEMAS) | set(store.datasets())):
        found[dataset] = [i for batch in store.scan(dataset, ["id"]) for i in batch.column("id").to_pylist()]
    return found


def mismatches(reference: dict[str, list[str]], other: dict[str, list[str]]) -> list[str]:
    """How `other`'s datasets differ from `reference`'s: ids (counts for time-based ones), duplicates."""
    problems = []
    for dataset in sorted(set(reference) | set(other)):
        if dataset in EVENT_LOGS:
            continue
        mine, theirs = reference.get(dataset, []), other.get(dataset, [])
        duplicated = [i for i, n in Counter(theirs).items() if n > 1]
        if duplicated:
            problems.append(f"{dataset}: {len(duplicated)} duplicate ids, e.g. {duplicated[0]}")
        if dataset in TIME_BASED:
            if len(mine) != len(theirs):
                problems.append(f"{dataset}: {len(theirs)} rows, {len(mine)} in the reference")
            continue
        missing, extra = set(mine) - set(theirs), set(theirs) - set(mine)
        if missing or extra:
            example = sorted(missing or extra)[0]
            problems.append(f"{dataset}: {len(missing)} ids missing, {len(extra)} extra (e.g. {example})")
    return problems


def published_versions(root: Path) -> dict[str, tuple[str, int, tuple[str, ...]]]:
    """dataset -> (latest version, rows, its ids): what a training job would read."""
    store = Store(str(root))
    latest = {dataset: resolve(store, dataset) for dataset in sorted({p.dataset for p in publications(store)})}
    return {
        dataset: (p.version, p.rows, tuple(sorted(published_ids(store, p).to_pylist())))
        for dataset, p in latest.items()
    }


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


_PAIRS: dict[Path, tuple[DemoRun, DemoRun]] = {}


def uninterrupted_pair(factory: pytest.TempPathFactory) -> tuple[DemoRun, DemoRun]:
    """Two uninterrupted demo runs, made once per session: the determinism test compares them, the crash
    tests compare their resumed roots with the first. Fast setting: both at once (half the wall time,
    and their batches interleave differently); full setting: one after the other, so that the first
    run's stage timings are those of a run alone, as the killed runs are."""
    base = factory.getbasetemp() / "uninterrupted"
    if base not in _PAIRS:
        fresh(base)
        runs = [DemoRun(base / f"root-{n}", base / f"prefect-{n}", base / f"run-{n}.log") for n in (1, 2)]
        if FULL:
            for run in runs:
                run.start().wait(600)
        else:
            for run in runs:
                run.start()
            for run in runs:
                run.wait(600)
        for run in runs:
            if run.proc is None or run.proc.returncode != 0:
                tail = "\n".join(x.text for x in run.lines[-40:])
                raise AssertionError(f"drsynth demo --out {run.root} failed:\n{tail}")
        _PAIRS[base] = (runs[0], runs[1])
    return _PAIRS[base]
