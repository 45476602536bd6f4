"""The CLI's children end with it, however it ends (exit, SIGTERM, `kill -9`).

The CLI starts processes it does not configure: Prefect's ephemeral API server (a `subprocess.Popen`
inside Prefect, no `preexec_fn` to set PR_SET_PDEATHSIG), multiprocessing's forkserver and the
extraction workers it forks (which outlive the forkserver), the Python sandbox's children. A
parent-death signal would also fire when the *thread* that started a child ends, and Prefect starts
them from worker threads. So the CLI does it from outside instead:

- it tags its environment with `DRSYNTH_LIFELINE=<pid>:<start>`, which every child inherits (Popen
  copies os.environ, the forkserver and its workers too);
- it starts a guardian, `python -m drsynth.flows.lifeline PID START`, a small process that notes the CLI's
  descendants every second while the CLI lives (the sandbox's children drop the environment), and once
  the CLI is gone (its parent pid changes) sends SIGTERM to every process that carries the tag or was
  a descendant, then SIGKILL to those still there after a grace period, and exits.

The guardian ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C or a closed terminal reaches the whole
process group: it must outlive the CLI to clean up after it). A SIGKILL of the whole process group
takes the guardian too, and everything in the group with it. Linux only (it reads /proc); elsewhere
nothing is started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

from drsynth.storage.processes import alive, parent_pid, pids, process_start

TAG = "DRSYNTH_LIFELINE"
POLL_S = 0.2  # how soon after the CLI ends the guardian acts
SNAPSHOT_S = 1.0  # how often it notes the CLI's descendants
GRACE_S = 3.0  # between SIGTERM and SIGKILL: the Prefect server closes its database

_guardian: subprocess.Popen | None = None


def start() -> subprocess.Popen | None:
    """Tag this process's environment and start its guardian (once per process; None off Linux)."""
    global _guardian
    if _guardian is not None or not os.path.isdir("/proc/self"):
        return _guardian
    me = os.getpid()
    tag = f"{me}:{process_start(me)}"
    env = {k: v for k, v in os.environ.items() if k != TAG}
    _guardian = subprocess.Popen(
        [sys.executable, "-m", "drsynth.flows.lifeline", str(me), tag], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True,
    )
    os.environ[TAG] = tag
    return _guardian


def _environ_has(pid: int, entry: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return entry in handle.read().split(b"\0")
    except OSError:
        return False


def _tree() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents = {}
    for pid in pids():
        parent = parent_pid(pid)
        if parent is not None:
            parents[pid] = parent
    return parents


def descendants(root: int, parents: dict[int, int] | None = None) -> set[int]:
    parents = _tree() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def tagged(tag: str) -> set[int]:
    """The processes whose environment carries `DRSYNTH_LIFELINE=tag`."""
    entry = f"{TAG}={tag}".encode()
    return {pid for pid in pids() if _environ_has(pid, entry)}


def end(targets: Iterable[tuple[int, str]], grace_s: float) -> None:
    """SIGTERM each (pid, start) still alive, then SIGKILL those that outlive `grace_s`."""
    targets = [(pid, start) for pid, start in targets if pid != os.getpid() and alive(pid, start)]
    for pid, _ in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while targets and time.monotonic() < deadline:
        time.sleep(0.05)
        targets = [(pid, start) for pid, start in targets if alive(pid, start)]
    for pid, _ in targets:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def guard(cli: int, tag: str, grace_s: float = GRACE_S) -> None:
    """The guardian's loop: wait for `cli` to end, then end what it left."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    me = os.getpid()
    known: dict[int, str] = {}  # the CLI's descendants as last seen, with their starts (pids get reused)
    last = 0.0
    while os.getppid() == cli:
        if time.monotonic() - last >= SNAPSHOT_S:
            known = {pid: process_start(pid) for pid in descendants(cli) if pid != me}
            last = time.monotonic()
        time.sleep(POLL_S)
    # the orphans' own children are still theirs: take the whole subtree of each
    parents = _tree()
    targets = dict(known)
    for pid in list(known) + list(tagged(tag)):
        targets.setdefault(pid, process_start(pid))
        for child in descendants(pid, parents):
            targets.setdefault(child, process_start(child))
    targets.pop(me, None)
    end(targets.items(), grace_s)


if __name__ == "__main__":
    guard(int(sys.argv[1]), sys.argv[2])
