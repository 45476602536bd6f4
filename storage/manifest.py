"""The commit log: the single source of truth for what a dataset holds.

A dataset is `<root>/<dataset>/<run_id>/part-*.parquet` plus `<root>/<dataset>/_commits/*.json`.
A shard is visible only once a commit file names it, and a commit file appears whole or not at all:
on a local disk it is written to a temporary name, fsynced and renamed; on an object store it is a
single PUT. A crash at any point therefore leaves at worst unreferenced shard files (`vacuum` removes
them), never a half-visible commit.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from drsynth.storage.fs import Root, fsync_path

COMMITS_DIR = "_commits"


@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the dataset directory
    rows: int
    bytes: int


@dataclass(frozen=True)
class Commit:
    commit_id: str
    dataset: str
    run_id: str
    created_at: str
    files: tuple[ShardInfo, ...]
    rows: int
    # free-form provenance: the stage and parameters that wrote this commit
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        # names sort in commit order; the uuid keeps concurrent writers apart
        return f"{self.created_at.replace(':', '').replace('-', '')}-{self.commit_id}.json"

    def to_json(self) -> str:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        return json.dumps(d, sort_keys=True, indent=1)

    @staticmethod
    def from_json(text: str) -> Commit:
        d = json.loads(text)
        d["files"] = tuple(ShardInfo(**f) for f in d["files"])
        return Commit(**d)


def new_commit(dataset: str, run_id: str, files: list[ShardInfo], meta: dict | None = None) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex[:16],
        dataset=dataset,
        run_id=run_id,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        files=tuple(files),
        rows=sum(f.rows for f in files),
        meta=dict(meta or {}),
    )


def commits_dir(root: Root, dataset: str) -> str:
    return root.join(dataset, COMMITS_DIR)


def list_commits(root: Root, dataset: str) -> list[Commit]:
    directory = commits_dir(root, dataset)
    if not root.fs.exists(directory):
        return []
    names = sorted(
        p for p in root.fs.ls(directory, detail=False) if p.endswith(".json") and "/." not in p
    )
    return [Commit.from_json(root.fs.cat_file(p).decode("utf-8")) for p in names]


def list_commit_names(root: Root, dataset: str) -> list[str]:
    directory = commits_dir(root, dataset)
    if not root.fs.exists(directory):
        return []
    return sorted(
        p.rsplit("/", 1)[-1] for p in root.fs.ls(directory, detail=False) if p.endswith(".json") and "/." not in p
    )


def read_commit(root: Root, dataset: str, name: str) -> Commit:
    return Commit.from_json(root.fs.cat_file(root.join(dataset, COMMITS_DIR, name)).decode("utf-8"))


def commit_exists(root: Root, commit: Commit) -> bool:
    return root.fs.exists(f"{commits_dir(root, commit.dataset)}/{commit.name}")


def publish_commit(root: Root, commit: Commit) -> str:
    """Make `commit` visible, atomically. Returns the commit file's path."""
    directory = commits_dir(root, commit.dataset)
    root.fs.makedirs(directory, exist_ok=True)
    final = f"{directory}/{commit.name}"
    data = commit.to_json().encode("utf-8")
    if not root.is_local:
        root.fs.pipe_file(final, data)
        return final
    tmp = f"{directory}/.tmp-{commit.commit_id}.json"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    fsync_path(directory)
    return final
