"""`drsynth worker`: a Prefect process worker that stops when a service manager asks it to.

`prefect worker start` (Prefect 3.8) answers SIGTERM by sending itself SIGINT. With nothing in flight that
ends its main thread but not the thread its event loop polls from, so the worker keeps running until a
second signal kills it; with a run in flight the SIGINT ends the run's process, and the run stays
`Running` in the UI. `docker stop`, systemd and Kubernetes send one SIGTERM and then wait.

This runs the same worker as a child process and never passes it a signal while runs are in flight: on
SIGTERM (or Ctrl-C) it waits until the worker's flow runs (its child processes) have finished, at most
`grace_s` seconds, then ends the worker, and exits 0 if nothing had to be cut. Until then the worker
still polls, so a run it picks up meanwhile is waited for too, within the same grace period. A run cut
short is marked crashed in the root's `runs` the next time the root is used.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from drsynth.flows.lifeline import descendants, end
from drsynth.storage.processes import is_zombie, process_start

POLL_S = 0.5


def worker_command(pool: str, args: Sequence[str] = ()) -> list[str]:
    prefect = Path(sys.executable).with_name("prefect")
    return [str(prefect), "worker", "start", "--pool", pool, "--type", "process", *args]


def _running(worker: int) -> set[int]:
    """The worker's flow runs: the processes it started (a process worker starts nothing else), not yet
    ended (a zombie is a run whose exit the worker has yet to collect)."""
    return {pid for pid in descendants(worker) if not is_zombie(pid)}


def serve(pool: str, args: Sequence[str] = (), grace_s: float = 60.0, log: Callable[[str], None] = print) -> int:
    """Run a process worker on `pool` until it exits or this process gets SIGTERM or SIGINT; the exit
    status: the worker's own, or 0 after a clean stop, 143 when runs had to be cut short."""
    asked = threading.Event()
    # SIGHUP too: a closed terminal must not cut the runs in flight (the CLI would stop at once)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: asked.set())
    # its own session: a Ctrl-C on the terminal reaches this process only, which decides what the worker gets
    child = subprocess.Popen(worker_command(pool, args), start_new_session=True)
    while child.poll() is None and not asked.wait(POLL_S):
        pass
    if child.poll() is not None:
        return child.returncode
    log(f"stopping the worker once its {len(_running(child.pid))} run process(es) in flight end (at most "
        f"{grace_s:.0f} s)")
    deadline = time.monotonic() + grace_s
    while child.poll() is None and _running(child.pid) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    cut = {pid: process_start(pid) for pid in _running(child.pid)}
    end([*cut.items(), (child.pid, process_start(child.pid))], grace_s=10)
    child.wait(timeout=30)
    cut = {pid: start for pid, start in cut.items() if start}
    if cut:
        log(f"stopped the worker; {len(cut)} run process(es) had not finished in {grace_s:.0f} s and were ended")
        return 128 + signal.SIGTERM
    log("stopped the worker")
    return 0
