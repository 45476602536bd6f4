"""Which process is this, and is that one still alive: a pid alone is not an identity.

A pid is reused once its process ends, so a process is named by (pid, start), where start is the boot
id and the start time in clock ticks from /proc (Linux): a process with the same pid that started later
is another process, and so is one from before a reboot. Elsewhere start is "" and only the pid counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache


@cache
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first); None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # the command name is in parentheses and may itself hold spaces and parentheses
    return data[data.rfind(b")") + 2 :].decode("ascii", "replace").split()


def process_start(pid: int) -> str:
    """`boot-id:start-ticks` of a live process; "" where /proc cannot tell (not Linux, or gone)."""
    fields = stat_fields(pid)
    if fields is None or len(fields) < 20:
        return ""
    return f"{boot_id()}:{fields[19]}"  # field 22 of stat: the start time, in ticks since boot


def parent_pid(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[1]) if fields and len(fields) > 1 else None


def is_zombie(pid: int) -> bool:
    fields = stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def alive(pid: int, start: str = "") -> bool:
    """Whether the process `pid` that started at `start` (as `process_start` said) still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    if is_zombie(pid):
        return False
    return not start or not process_start(pid) or process_start(pid) == start


def pids() -> Iterator[int]:
    """Every pid in /proc (nothing where there is no /proc)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            yield int(entry)
