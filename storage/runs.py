"""The `runs` dataset: every run's flow, parameters, code version, times, status and counts.

A run appends an event when it starts (`running`) and when it ends (`completed`, `failed`). A run whose
process was killed (SIGKILL, OOM, power loss) writes no end: its `running` event names the process
(host, pid, start), and the next run that starts on the root, or `drsynth catalog`, appends a `crashed`
event for every `running` run of this host whose process is gone. Runs of another host are left as
they are: from here nothing tells whether their process still runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from drsynth.storage.ids import content_id
from drsynth.storage.processes import alive, process_start
from drsynth.storage.store import Store

RUNNING, COMPLETED, FAILED, CRASHED = "running", "completed", "failed", "crashed"


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@cache
def code_version() -> str:
    """The package version, plus the git commit (and '-dirty') when running from a checkout."""
    try:
        version = metadata.version("drsynth")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    here = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{version}+g{sha}" if sha else version


class RunLog:
    """Appends a `runs` event when a run starts and when it ends (a crash leaves it 'running' until
    `mark_crashed` finds its process gone)."""

    def __init__(
        self,
        store: Store,
        flow: str,
        parameters: Mapping,
        run_id: str | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        self.store = store
        self.flow = flow
        self.parameters = json.dumps(parameters, sort_keys=True, default=str)
        self.run_id = run_id or new_run_id()
        self.flow_run_id = flow_run_id
        self.started_at = datetime.now(UTC)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.process_start = process_start(self.pid)
        # published dataset versions this run read and made, named in its `runs` rows
        self.datasets: dict[str, dict[str, str]] = {"read": {}, "published": {}}

    def read(self, dataset: str, version: str) -> None:
        self.datasets["read"][dataset] = version

    def published(self, dataset: str, version: str) -> None:
        self.datasets["published"][dataset] = version

    def _event(self, status: str, ended_at: datetime | None, counts: Mapping | None, error: str | None) -> None:
        now = datetime.now(UTC)
        row = {
            "id": content_id("run-event", self.run_id, self.flow, status, now.isoformat()),
            "parents": [],
            "flow": self.flow,
            "parameters": self.parameters,
            "code_version": code_version(),
            "started_at": self.started_at,
            "ended_at": ended_at,
            "status": status,
            "counts": json.dumps(dict(counts or {}), sort_keys=True, default=str),
            "flow_run_id": self.flow_run_id,
            "error": error,
            "updated_at": now,
            "datasets": json.dumps(self.datasets, sort_keys=True),
            "host": self.host,
            "pid": self.pid,
            "process_start": self.process_start,
        }
        with self.store.writer("runs", self.run_id, meta={"stage": "runs"}) as writer:
            writer.write(row)

    def start(self) -> RunLog:
        mark_crashed(self.store, found_by=self.run_id)
        self._event(RUNNING, None, None, None)
        return self

    def finish(self, counts: Mapping | None = None, error: str | None = None) -> None:
        self._event(FAILED if error else COMPLETED, datetime.now(UTC), counts, error)


def latest_events(store: Store) -> dict[str, dict]:
    """run id -> its latest `runs` event (rows written before a column existed lack it)."""
    latest: dict[str, dict] = {}
    if "runs" not in store.datasets():
        return latest
    for row in store.rows("runs"):
        held = latest.get(row["run_id"])
        if held is None or _order(row) > _order(held):
            latest[row["run_id"]] = row
    return latest


def _order(event: dict) -> tuple:
    return event["updated_at"], event["status"] != RUNNING  # an end outranks a start of the same instant


def mark_crashed(store: Store, found_by: str = "") -> list[str]:
    """Append a `crashed` event for each run still `running` whose process (on this host) is gone; returns
    their run ids. A process is gone when its pid is free or now names a process that started later."""
    host = socket.gethostname()
    crashed = []
    for run_id, row in sorted(latest_events(store).items()):
        pid = row.get("pid")
        if row["status"] != RUNNING or not pid or row.get("host") != host:
            continue
        start = row.get("process_start") or ""
        if alive(int(pid), start):
            continue
        now = datetime.now(UTC)
        by = f" (found by run {found_by})" if found_by else ""
        event = {**row, "status": CRASHED, "updated_at": now,
                 "id": content_id("run-event", run_id, row["flow"], CRASHED, now.isoformat()),
                 "error": f"process {pid} on {host} ended without recording its end: killed or crashed{by}"}
        with store.writer("runs", run_id, meta={"stage": "runs"}) as writer:
            writer.write(event)
        crashed.append(run_id)
    return crashed
