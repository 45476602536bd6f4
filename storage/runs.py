"""The `runs` dataset: every run's flow, parameters, code version, times, status and counts."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from storage.ids import content_id
from storage.store import Store


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
    """Appends a `runs` event when a run starts and when it ends (a crash leaves it 'running')."""

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
        }
        with self.store.writer("runs", self.run_id, meta={"stage": "runs"}) as writer:
            writer.write(row)

    def start(self) -> RunLog:
        self._event("running", None, None, None)
        return self

    def finish(self, counts: Mapping | None = None, error: str | None = None) -> None:
        self._event("failed" if error else "completed", datetime.now(UTC), counts, error)
