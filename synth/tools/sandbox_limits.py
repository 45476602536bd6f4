"""The Python sandbox's resource layer: one memory limit and one process cap per sandbox, whatever number of
processes the code starts.

Layers, the first that works on this machine (`memory_layer()` says which):
- "cgroup-v2": a child cgroup per call with `memory.max` (and `memory.swap.max` 0, so memory cannot spill to
  swap) and `pids.max`, under a delegated cgroup v2 directory: $DRSYNTH_SANDBOX_CGROUP, else this process's
  own cgroup where the memory controller can be enabled for its children (the root of the hierarchy or of
  a cgroup namespace with no other process in it). The no-internal-process rule keeps us from enabling it
  in a cgroup that holds processes, and we never move other processes around to get there: delegate a
  cgroup (e.g. `systemd-run -p Delegate=yes`, or a directory a container's entry point prepared) and name
  it in $DRSYNTH_SANDBOX_CGROUP instead;
- "cgroup-v1": a child of this process's memory cgroup (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`
  where swap is accounted) and, where the pids controller is mounted, of its pids cgroup (`pids.max`);
- "rlimit": neither: the address-space limit per process (RLIMIT_AS) with the process cap per sandbox
  (RLIMIT_NPROC of the sandbox's own uid, `sandbox_uid`), so the sandbox's memory is bounded by
  memory_mb x max_processes only.
The launcher (`JOIN`) writes its own pid into the cgroup before it execs the kernel layer, so everything the
code starts is inside from its first instruction; the cgroup's tmpfs pages (scratch, /tmp) count too. After
the call, whatever is left in it is killed and the cgroup removed; children left by a process that died
are removed by the next one to look.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import re
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

NOBODY = 65534
CGROUP_ENV = "DRSYNTH_SANDBOX_CGROUP"
PREFIX = "drsynth-sandbox-"
MEMORY_LAYERS = ("cgroup-v2", "cgroup-v1", "rlimit")
# the launcher shell, `unshare` and the namespace's init shell run inside the cgroup beside the code
LAUNCHER_TASKS = 4

# $@: the cgroup.procs files to join, "--", then the command. A failed join stops the call: the code never
# runs outside its limits.
JOIN = r'''
while [ "$1" != -- ]; do
    echo $$ > "$1" || { echo "the sandbox could not join its cgroup ($1)" >&2; exit 125; }
    shift
done
shift
exec "$@"
'''

# Per-sandbox uids: a high range no account uses, so that RLIMIT_NPROC (which counts a real uid's processes
# and threads, machine-wide) caps one sandbox rather than all of them together
UID_BASE, UID_SPAN = 1_600_000_000, 1 << 24
_uid_counter = itertools.count()
_cgroup_counter = itertools.count()


@dataclass
class CgroupReport:
    peak_bytes: int | None
    oom_kills: int


@dataclass
class SandboxCgroup:
    """One call's cgroup: the directories to join (one for v2; memory and pids for v1)."""

    layer: str
    memory_dir: Path
    pids_dir: Path | None = None

    @property
    def dirs(self) -> list[Path]:
        return [self.memory_dir] + ([self.pids_dir] if self.pids_dir and self.pids_dir != self.memory_dir else [])

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def report(self) -> CgroupReport:
        peak_file = "memory.peak" if self.layer == "cgroup-v2" else "memory.max_usage_in_bytes"
        peak = _read_int(self.memory_dir / peak_file)
        events = "memory.events" if self.layer == "cgroup-v2" else "memory.oom_control"
        kills = 0
        with contextlib.suppress(OSError):
            match = re.search(r"^oom_kill (\d+)$", (self.memory_dir / events).read_text(), re.M)
            kills = int(match.group(1)) if match else 0
        return CgroupReport(peak, kills)

    def close(self) -> CgroupReport:
        """Kill what is left inside, report the peak, remove the directories."""
        report = self.report()
        for directory in self.dirs:
            _empty_and_remove(directory, kill_file=self.layer == "cgroup-v2")
        return report


@dataclass
class CgroupParent:
    """Where a sandbox's cgroup is made: a v2 directory, or the v1 memory (and pids) directories."""

    layer: str
    memory_base: Path
    pids_base: Path | None = None
    v2_controllers: set[str] = field(default_factory=set)

    def create(self, memory_bytes: int, max_tasks: int) -> SandboxCgroup:
        # the pid for the sweep; the random part where several pid namespaces share one hierarchy
        name = f"{PREFIX}{os.getpid()}-{next(_cgroup_counter)}-{secrets.token_hex(4)}"
        memory_dir = self.memory_base / name
        memory_dir.mkdir()
        pids_dir = None
        try:
            if self.layer == "cgroup-v2":
                (memory_dir / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):  # absent where swap is off: nothing to spill into
                    (memory_dir / "memory.swap.max").write_text("0")
                if "pids" in self.v2_controllers:
                    (memory_dir / "pids.max").write_text(str(max_tasks))
                    pids_dir = memory_dir
            else:
                (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):  # absent or refused where swap is not accounted
                    (memory_dir / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
                if self.pids_base is not None:
                    pids_dir = self.pids_base / name
                    pids_dir.mkdir()
                    (pids_dir / "pids.max").write_text(str(max_tasks))
        except OSError:
            SandboxCgroup(self.layer, memory_dir, pids_dir).close()
            raise
        return SandboxCgroup(self.layer, memory_dir, pids_dir)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pids(directory: Path) -> list[int]:
    try:
        return [int(line) for line in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _empty_and_remove(directory: Path, *, kill_file: bool, wait_s: float = 5.0) -> None:
    deadline = time.monotonic() + wait_s
    if kill_file:  # cgroup.kill (Linux 5.14+): every process inside at once, no pid to race with
        with contextlib.suppress(OSError):
            (directory / "cgroup.kill").write_text("1")
    while True:
        for pid in _pids(directory):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return  # left for the next process's sweep (`_sweep`) rather than block the call
        time.sleep(0.02)


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fs type, super options) of each cgroup file system."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            point = fields[4].replace("\\040", " ")
            found.append((fields[3], point, tail[0], set(tail[2].split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller ("" for the v2 hierarchy) -> this process's cgroup path."""
    own = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _own_dir(fstype: str, controller: str) -> Path | None:
    path = _own_cgroups().get(controller)
    if path is None:
        return None
    for root, point, kind, options in _mounts():
        if kind != fstype or (fstype == "cgroup" and controller not in options):
            continue
        if root == "/" or path == root or path.startswith(root.rstrip("/") + "/"):
            relative = path[len(root):] if root != "/" else path
            directory = Path(point, relative.lstrip("/"))
            if directory.is_dir():
                return directory
    return None


def _sweep(base: Path) -> None:
    """Remove the empty sandbox cgroups of processes that died before they could."""
    with contextlib.suppress(OSError):
        for child in base.iterdir():
            match = re.fullmatch(re.escape(PREFIX) + r"(\d+)-\d+-[0-9a-f]+", child.name)
            if not match or _pids(child):
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    child.rmdir()
            except OSError:
                continue


def _v2_parent() -> CgroupParent | None:
    configured = os.environ.get(CGROUP_ENV)
    base = Path(configured) if configured else _own_dir("cgroup2", "")
    if base is None or not (base / "cgroup.subtree_control").exists():
        return None
    try:
        available = set((base / "cgroup.controllers").read_text().split())
        if "memory" not in available:
            return None
        enabled = set((base / "cgroup.subtree_control").read_text().split())
        for controller in ("memory", "pids"):
            if controller in available and controller not in enabled:
                # refused (EBUSY) in a cgroup that holds processes and is not the hierarchy's root
                with contextlib.suppress(OSError):
                    (base / "cgroup.subtree_control").write_text(f"+{controller}")
        enabled = set((base / "cgroup.subtree_control").read_text().split())
    except OSError:
        return None
    if "memory" not in enabled:
        return None
    return CgroupParent("cgroup-v2", base, v2_controllers=enabled)


def _v1_parent() -> CgroupParent | None:
    memory = _own_dir("cgroup", "memory")
    if memory is None or not (memory / "memory.limit_in_bytes").exists():
        return None
    pids = _own_dir("cgroup", "pids")
    return CgroupParent("cgroup-v1", memory, pids if pids and (pids / "cgroup.procs").exists() else None)


def _probe(parent: CgroupParent) -> bool:
    """Whether a child can be made, limited and removed here (as this user, with these permissions)."""
    try:
        parent.create(64 << 20, 64).close()
    except OSError:
        return False
    return True


@functools.cache
def cgroup_parent() -> CgroupParent | None:
    """The cgroup under which each sandbox gets its own, or None (the "rlimit" layer)."""
    for find in (_v2_parent, _v1_parent):
        parent = find()
        if parent is not None and _probe(parent):
            for base in {parent.memory_base, parent.pids_base} - {None}:
                _sweep(base)  # type: ignore[arg-type]
            return parent
    return None


def memory_layer() -> str:
    """Which layer holds a sandbox's memory across its processes here: one of MEMORY_LAYERS."""
    parent = cgroup_parent()
    return parent.layer if parent else "rlimit"


@functools.cache
def _uids_mapped() -> bool:
    """Whether the per-sandbox uid range exists in this user namespace (a container may map fewer)."""
    for name in ("uid_map", "gid_map"):
        try:
            ranges = [tuple(map(int, line.split())) for line in Path("/proc/self", name).read_text().splitlines()]
        except (OSError, ValueError):
            return False
        if not any(inside <= UID_BASE and inside + count >= UID_BASE + UID_SPAN for inside, _, count in ranges):
            return False
    return True


def sandbox_uid() -> int:
    """A uid (and gid) for one sandbox call: its own, so that its process cap is its own; `nobody` (shared
    by all sandboxes) where this user namespace has no room for them."""
    if not _uids_mapped():
        return NOBODY
    return UID_BASE + (((os.getpid() & 0xFFFF) << 8) | (next(_uid_counter) & 0xFF))


def launcher(cgroup: SandboxCgroup | None, command: list[str]) -> list[str]:
    """`command`, run inside `cgroup` from its start (unchanged without one)."""
    if cgroup is None:
        return command
    return ["sh", "-c", JOIN, "sandbox-cgroup", *cgroup.procs_files(), "--", *command]
