"""Crashes: `drsynth demo` killed at moments spread over its stages, each followed by a rerun on the same
root, ends exactly where an uninterrupted run ends.

The moments come from an uninterrupted run's log: each stage's segment (from the line that ends the
stage before it to its own first "Finished" line, see `demo_runs.segments`), a kill in its middle, plus
seeded random ones. After each rerun: the ids of every dataset equal the uninterrupted run's (requests,
whose ids hold their time: the same number), no id is committed twice, `drsynth catalog` rebuilds
cleanly and its views count every row, no process of the killed run is left (the Prefect server, the
forkserver and extraction workers included), and `runs` holds no `running` run: a killed one is
`crashed`, a stopped one `failed` with its signal.

Fast setting: one root interrupted three times in a row (SIGKILL of the CLI alone once the extraction
pool is up, SIGTERM during the agents, SIGKILL of the whole process group at a random moment), then
run to completion. Full setting: the same, and a fresh root killed (process group) at each of twelve
moments (ten stages, two random), each rerun and checked.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from drsynth.storage.catalog import build_catalog, catalog_path
from drsynth.storage.runs import CRASHED, FAILED, RUNNING, RunLog, latest_events
from drsynth.storage.store import Store
from tests.reliability.conftest import FULL, figure
from tests.reliability.demo_runs import (
    FLOW_START,
    DemoRun,
    Segment,
    dataset_ids,
    drsynth_command,
    finished,
    fresh,
    mismatches,
    run_to_end,
    segments,
    uninterrupted_pair,
)

SEED = 14
STAGE_KILLS, RANDOM_KILLS = 10, 2  # full setting, one fresh root each


@dataclass(frozen=True)
class Moment:
    """When to interrupt a run: `delay` seconds after the first line matching `anchor` (after the start
    when None), with `sig`, to the CLI alone or to its whole process group."""

    name: str
    anchor: str | None
    delay: float
    sig: int = signal.SIGKILL
    group: bool = True


@dataclass
class Interruption:
    moment: Moment
    happened: bool  # False when the run had ended before the moment came
    stage: str  # what was running then, from the run's own log
    at: float
    rc: int | None
    leftovers: list[str]


def interrupt(run: DemoRun, moment: Moment, timeout: float = 600) -> Interruption:
    """Start nothing: wait for `moment` in the started `run`, send the signal, wait for the process to
    end and for its children to go; what stayed is killed and reported."""
    if moment.anchor is not None:
        line = run.wait_for(re.compile(moment.anchor), timeout)
        due = (line.at if line else run.elapsed) + moment.delay
    else:
        due = moment.delay
    while run.proc is not None and run.proc.poll() is None and run.elapsed < due:
        time.sleep(0.01)
    assert run.proc is not None
    happened = run.proc.poll() is None
    at = run.elapsed
    if happened:
        run.signal(moment.sig, moment.group)
    rc = run.wait(120)
    return Interruption(moment, happened, run.stage_at(at), round(at, 1), rc, run.leftovers())


def stage_moments(timeline: list[Segment], stages: int, randoms: int, seed: int) -> list[Moment]:
    """`stages` moments in the middle of the segments that last long enough to aim at (spread evenly over
    the run when there are more), the longest (the agents) also near its start and end, and `randoms`
    seeded moments anywhere from the start to the end of the uninterrupted run."""
    aimable = [s for s in timeline if s.duration >= 0.15]
    longest = max(aimable, key=lambda s: s.duration)
    picks = [(s, 0.5) for s in aimable]
    picks += [(longest, 0.15), (longest, 0.85)]
    picks.sort(key=lambda p: p[0].start + p[1] * p[0].duration)
    if len(picks) > stages:
        step = (len(picks) - 1) / (stages - 1)
        picks = [picks[round(i * step)] for i in range(stages)]
    moments = [Moment(f"{s.stage} ({int(f * 100)}%)", s.anchor, f * s.duration) for s, f in picks]
    rng = random.Random(seed)
    end = timeline[-1].start + timeline[-1].duration
    for n in range(randoms):
        at = rng.uniform(1.0, end)
        moments.append(Moment(f"random {n + 1} ({at:.1f} s)", None, at))
    return moments


def check_resumed(root: Path, reference: dict[str, list[str]], *, completed: int | tuple[int, ...] = 1) -> list[str]:
    """What is wrong with a root after its interrupted runs and a rerun to completion."""
    problems = mismatches(reference, dataset_ids(root))
    rebuilt = subprocess.run([*drsynth_command(), "catalog", "--out", str(root)], capture_output=True, text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
    if rebuilt.returncode != 0:
        problems.append(f"drsynth catalog exited {rebuilt.returncode}: {rebuilt.stderr.strip()[-500:]}")
    else:
        store = Store(str(root))
        con = duckdb.connect(catalog_path(store), read_only=True)
        try:
            for dataset in store.datasets():
                view = {"runs": "run_events", "trajectories": "trajectory_rows"}.get(dataset, dataset)
                (rows,) = con.execute(f'SELECT count(*) FROM "{view}"').fetchone()
                if rows != store.count(dataset):
                    problems.append(f"catalog view {view}: {rows} rows, {store.count(dataset)} committed")
        finally:
            con.close()
    statuses = Counter(event["status"] for event in latest_events(Store(str(root))).values())
    if statuses[RUNNING] or statuses["completed"] not in ((completed,) if isinstance(completed, int) else completed):
        problems.append(f"runs after the rerun: {dict(statuses)}")
    return problems


def test_a_killed_run_is_marked_crashed_when_the_root_is_next_used(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "data"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs = {}
    for name, pid, start, host in (
        ("killed", gone.pid, "", socket.gethostname()),  # its pid is free now
        ("reused", os.getpid(), "another-boot:1", socket.gethostname()),  # its pid names a later process
        ("alive", os.getpid(), None, socket.gethostname()),  # this very process
        ("elsewhere", gone.pid, "", "another-host"),  # nothing here tells
    ):
        log = RunLog(store, name, {})
        log.pid, log.host = pid, host
        if start is not None:
            log.process_start = start
        runs[name] = log.start().run_id
    RunLog(store, "next", {}).start()
    latest = latest_events(store)
    assert latest[runs["killed"]]["status"] == CRASHED and f"process {gone.pid}" in latest[runs["killed"]]["error"]
    assert latest[runs["reused"]]["status"] == CRASHED
    assert latest[runs["alive"]]["status"] == latest[runs["elsewhere"]]["status"] == RUNNING
    con = duckdb.connect(build_catalog(store), read_only=True)
    views = dict(con.execute("SELECT flow, status FROM runs").fetchall())
    con.close()
    assert views["killed"] == views["reused"] == CRASHED and views["next"] == RUNNING


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the two uninterrupted runs it may build first, four runs of its own
def test_a_demo_interrupted_three_ways_resumes_exactly(tmp_path_factory: pytest.TempPathFactory) -> None:
    reference_run, _ = uninterrupted_pair(tmp_path_factory)
    reference = dataset_ids(reference_run.root)
    timeline = segments(reference_run)
    flow_span = sum(s.duration for s in timeline if s.stage not in ("flow start", "catalog"))
    rng = random.Random(SEED)
    moments = [
        # the extraction pool, its forkserver and the Prefect server are up: the guardian must end them
        Moment("extraction pool up, CLI alone", finished("extract-batch"), 0.2, signal.SIGKILL, group=False),
        Moment("agents, SIGTERM", finished("run-agents"), 0.3, signal.SIGTERM, group=False),
        Moment("random, process group", FLOW_START.pattern, rng.uniform(0.0, 0.8 * flow_span)),
    ]
    base = fresh(tmp_path_factory.getbasetemp() / "interrupted-three-ways")
    root, home = base / "root", base / "prefect"
    done = []
    for n, moment in enumerate(moments):
        done.append(interrupt(DemoRun(root, home, base / f"run-{n}.log").start(), moment))
    run_to_end(root, home, base / "final.log")
    problems = check_resumed(root, reference)
    _report(done, problems)
    leftovers = [x for i in done for x in i.leftovers]
    assert not leftovers, f"processes left after an interruption: {leftovers}"
    stopped = done[1]
    if stopped.happened:
        assert stopped.rc == 128 + signal.SIGTERM, f"SIGTERM: exit {stopped.rc}"
        events = latest_events(Store(str(root)))
        stopped_runs = [e for e in events.values() if e["status"] == FAILED]
        assert any("SIGTERM" in (e["error"] or "") for e in stopped_runs), [e["error"] for e in events.values()]
    assert not problems


@pytest.mark.slow
@pytest.mark.timeout(7200)  # twelve killed runs and their reruns
@pytest.mark.skipif(not FULL, reason="the full setting only (DRSYNTH_RELIABILITY=full)")
def test_demo_killed_at_moments_over_every_stage_resumes_exactly(tmp_path_factory: pytest.TempPathFactory) -> None:
    reference_run, _ = uninterrupted_pair(tmp_path_factory)
    reference = dataset_ids(reference_run.root)
    moments = stage_moments(segments(reference_run), STAGE_KILLS, RANDOM_KILLS, SEED)
    base = fresh(tmp_path_factory.getbasetemp() / "killed-per-stage")
    done, problems = [], []
    for n, moment in enumerate(moments):
        root, home = base / f"root-{n}", base / f"prefect-{n}"
        done.append(interrupt(DemoRun(root, home, base / f"run-{n}.log").start(), moment))
        run_to_end(root, home, base / f"rerun-{n}.log")
        # killed after a flow ended (the pipeline's own end: it was rebuilding the catalog), or too late, the
        # first run may have completed: then two runs did
        ended = done[-1].stage == "after flow end" or not done[-1].happened
        problems += [f"{moment.name}: {p}" for p in check_resumed(root, reference, completed=(1, 2) if ended else 1)]
    _report(done, problems)
    assert sum(i.happened for i in done) >= 10
    assert not [x for i in done for x in i.leftovers]
    assert not problems


def _report(done: list[Interruption], problems: list[str]) -> None:
    figure("crashes: interruptions", sum(i.happened for i in done))
    figure("crashes: moments", json.dumps([
        {"aimed": i.moment.name, "signal": signal.Signals(i.moment.sig).name,
         "to": "process group" if i.moment.group else "CLI", "at_s": i.at,
         "stage": i.stage if i.happened else "run ended first", "exit": i.rc} for i in done], indent=1))
    figure("crashes: mismatches after the reruns", problems or 0)
    figure("crashes: processes left", [x for i in done for x in i.leftovers] or 0)
