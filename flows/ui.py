"""What a run shows in the Prefect UI: artifacts keyed by data root, progress per batch, counts per stage.

Artifact keys are `<what>-<root slug>` (Prefect allows lowercase letters, digits and dashes): the
Artifacts page then holds the latest report of each kind for each root, and its history is that root's
runs. The slug is the root's last path component, made key-safe, plus a hash of its whole URI, so two
roots both named `data` never share a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)

from drsynth.storage.store import Store


def root_slug(out: str) -> str:
    """A short, stable, key-safe name for the data root `out`, e.g. `data-3f2a9c1b`."""
    uri = Store(out).uri
    name = re.sub(r"[^a-z0-9]+", "-", uri.rstrip("/").rsplit("/", 1)[-1].lower()).strip("-")[:24].strip("-")
    digest = hashlib.sha1(uri.encode()).hexdigest()[:8]
    return f"{name}-{digest}" if name else digest


def artifact_key(what: str, out: str) -> str:
    """`what` (a flow or report name, `_` allowed) keyed by the data root `out`."""
    return f"{what.replace('_', '-').lower()}-{root_slug(out)}"


class Progress:
    """A progress artifact of one stage of one run, advanced once per finished batch."""

    def __init__(self, out: str, stage: str, total: int) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self.id: UUID | None = None
        # the UI is a view: a failure to draw it never fails the batch work it reports on
        with contextlib.suppress(Exception):
            self.id = create_progress_artifact(100.0 if total == 0 else 0.0, key=artifact_key(f"{stage}-progress", out),
                                               description=self._description())

    def _description(self) -> str:
        return f"{self.stage}: {self.done}/{self.total} batches"

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.id is None:
            return
        try:
            update_progress_artifact(self.id, 100.0 * self.done / max(1, self.total), description=self._description())
        except Exception as exc:
            get_run_logger().warning("could not update the %s progress artifact: %r", self.stage, exc)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def counts_markdown(title: str, stages: Mapping[str, Mapping], warnings: list[str]) -> str:
    """A table per stage (the rows it added, quarantined, judged...), warnings first: what a person scans."""
    lines = [f"# {title}", ""]
    if warnings:
        lines += ["## Warnings", "", *(f"- **warning:** {_cell(w)}" for w in warnings), ""]
    for stage, counts in stages.items():
        rows = [(k, v) for k, v in sorted(counts.items()) if v and k != "warnings"]
        lines += [f"## {stage}", ""]
        if not rows:
            lines += ["nothing to do", ""]
            continue
        lines += ["| count | value |", "| --- | --- |", *(f"| {_cell(k)} | {_cell(v)} |" for k, v in rows), ""]
    return "\n".join(lines)


def publish_counts(out: str, flow: str, run_id: str, stages: Mapping[str, Mapping], warnings: list[str]) -> None:
    create_markdown_artifact(counts_markdown(f"{flow} run {run_id}", stages, warnings), key=artifact_key(f"{flow}-counts", out),
                             description=f"{flow} run {run_id} over {Store(out).uri}: rows per stage")


def publish_links(out: str, catalog: str, versions: Mapping[str, str]) -> None:
    """A link to the catalog, and where each published version of this run lies."""
    from drsynth.storage.published import PUBLISHED_DIR

    store = Store(out)
    link = catalog if "://" in catalog else f"file://{catalog}"
    create_link_artifact(link, link_text=f"catalog of {store.uri}", key=artifact_key("catalog", out),
                         description=f"`duckdb {catalog}`: every dataset of {store.uri} is a view")
    lines = [f"# Published under {store.uri}", "", f"Catalog: `{catalog}` (`duckdb {catalog}`)", ""]
    if versions:
        lines += ["| dataset | version | manifest |", "| --- | --- | --- |"]
        for dataset, name in sorted(versions.items()):
            version = name.split("@", 1)[-1]
            manifest = store.root.url(store.root.join(PUBLISHED_DIR, dataset, f"{version}.json"))
            lines.append(f"| {dataset} | `{name}` | `{manifest}` |")
    else:
        lines.append("Nothing published by this run.")
    create_markdown_artifact("\n".join(lines) + "\n", key=artifact_key("published", out),
                             description=f"published versions under {store.uri}")
