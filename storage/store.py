"""A dataset root: committed shards, the ids they hold, writers, readers, locks and vacuum."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drsynth.storage.fs import Root, open_root
from drsynth.storage.manifest import (
    COMMITS_DIR,
    Commit,
    commits_dir,
    list_commit_names,
    list_commits,
    read_commit,
)
from drsynth.storage.schemas import schema_for
from drsynth.storage.writer import DatasetWriter


class _IdIndex:
    """The ids committed to one dataset, grown commit by commit instead of re-read."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.commit_names: tuple[str, ...] = ()


class Store:
    # shared by every Store object over the same root in this process, so that batch tasks
    # running in threads do not each re-read the ids of every commit
    _indexes: ClassVar[dict[tuple[str, str], _IdIndex]] = {}
    _commit_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _index_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: str | os.PathLike[str], storage_options: dict | None = None) -> None:
        self.root: Root = open_root(root, storage_options)
        self.uri = self.root.url(self.root.path)

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    # -- reading the manifest ---------------------------------------------------------------------

    def datasets(self) -> list[str]:
        """Datasets with at least one commit."""
        out = []
        for entry in self.root.fs.ls(self.root.path, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith(("_", ".")) and list_commit_names(self.root, name):
                out.append(name)
        return sorted(out)

    def commits(self, dataset: str) -> list[Commit]:
        return list_commits(self.root, dataset)

    def files(self, dataset: str, commits: Iterable[Commit] | None = None) -> list[str]:
        """Committed shard paths (URLs for remote roots), in commit order."""
        chosen = self.commits(dataset) if commits is None else commits
        return [self.root.url(self.root.join(dataset, f.path)) for c in chosen for f in c.files]

    def count(self, dataset: str) -> int:
        return sum(c.rows for c in self.commits(dataset))

    def committed_ids(self, dataset: str) -> tuple[set[str], tuple[str, ...]]:
        """The live set of committed ids and the commit names it covers (refreshed incrementally)."""
        index = self._index(dataset)
        names = tuple(list_commit_names(self.root, dataset))
        if names != index.commit_names:
            # the index has its own lock: a committer refreshes it while holding the commit lock
            with self._lock_in(self._index_locks, dataset):
                if set(index.commit_names) - set(names):
                    # commits vanished (a root deleted and rebuilt under a long-lived process): start over
                    index.ids, index.commit_names = set(), ()
                seen = set(index.commit_names)
                for name in names:
                    if name not in seen:
                        commit = read_commit(self.root, dataset, name)
                        for path in self.files(dataset, [commit]):
                            index.ids.update(self._read_column(path, "id"))
                index.commit_names = tuple(sorted(set(index.commit_names) | set(names)))
        return index.ids, index.commit_names

    def remember_commit(self, commit: Commit, ids: set[str]) -> None:
        index = self._index(commit.dataset)
        index.ids.update(ids)
        index.commit_names = tuple(sorted({*index.commit_names, commit.name}))

    def _index(self, dataset: str) -> _IdIndex:
        key = (self.uri, dataset)
        with self._registry_lock:
            return self._indexes.setdefault(key, _IdIndex())

    def _lock_in(self, locks: dict[tuple[str, str], threading.Lock], dataset: str) -> threading.Lock:
        with self._registry_lock:
            return locks.setdefault((self.uri, dataset), threading.Lock())

    @contextlib.contextmanager
    def commit_lock(self, dataset: str) -> Iterator[None]:
        """One committer per dataset at a time: threads here, processes via flock on local roots.

        Object stores have no lock: one writer per dataset root is assumed there.
        """
        with self._lock_in(self._commit_locks, dataset):
            if not self.root.is_local:
                yield
                return
            directory = commits_dir(self.root, dataset)
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, ".lock"), "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # -- writing -----------------------------------------------------------------------------------

    def writer(self, dataset: str, run_id: str, **kwargs) -> DatasetWriter:
        return DatasetWriter(self, dataset, run_id, **kwargs)

    # -- reading rows --------------------------------------------------------------------------------

    def _fs_arg(self):
        return None if self.root.is_local else self.root.fs

    def _read_column(self, path: str, column: str) -> list:
        return self.read_shard(path, [column])[column].to_pylist()

    def read_shard(self, path: str, columns: list[str] | None = None, ids: Iterable[str] | None = None) -> pa.Table:
        """One committed shard (a path from `files()`), optionally only some columns and ids."""
        table = pq.read_table(self._strip(path), columns=columns, filesystem=self._fs_arg())
        if ids is not None:
            table = table.filter(pc.is_in(table["id"], value_set=pa.array(sorted(set(ids)), pa.string())))
        return table

    def _strip(self, path: str) -> str:
        return path if self.root.is_local else path.split("://", 1)[-1]

    def row_group_ids(self, path: str) -> Iterator[list[str]]:
        """The ids in each row group of a committed shard, group by group."""
        parquet = pq.ParquetFile(self._strip(path), filesystem=self._fs_arg())
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=["id"])["id"].to_pylist()

    def iter_row_groups(
        self,
        path: str,
        groups: Iterable[int],
        columns: list[str] | None = None,
        ids: Iterable[str] | None = None,
        batch_size: int = 64,
    ) -> Iterator[dict]:
        """Rows of some row groups of a shard, streamed a few at a time (bodies can be large)."""
        wanted = pa.array(sorted(set(ids)), pa.string()) if ids is not None else None
        parquet = pq.ParquetFile(self._strip(path), filesystem=self._fs_arg())
        # one group per call: given several, pyarrow reads ahead across them and holds them all
        for group in sorted(set(groups)):
            for batch in parquet.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns,
                                              use_threads=False):
                if wanted is not None:
                    batch = batch.filter(pc.is_in(batch["id"], value_set=wanted))
                yield from batch.to_pylist()

    def scan(
        self,
        dataset: str,
        columns: list[str] | None = None,
        *,
        batch_size: int = 1_024,
        files: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream committed rows in record batches (optionally only some files or ids)."""
        wanted = pa.array(sorted(set(ids)), pa.string()) if ids is not None else None
        for path in self.files(dataset) if files is None else files:
            parquet = pq.ParquetFile(self._strip(path), filesystem=self._fs_arg())
            for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
                if wanted is not None:
                    batch = batch.filter(pc.is_in(batch["id"], value_set=wanted))
                if batch.num_rows:
                    yield batch

    def read(self, dataset: str, columns: list[str] | None = None) -> pa.Table:
        batches = list(self.scan(dataset, columns))
        if batches:
            return pa.Table.from_batches(batches)
        schema = schema_for(dataset)
        return schema.empty_table() if columns is None else schema.empty_table().select(columns)

    def rows(self, dataset: str, columns: list[str] | None = None) -> Iterator[dict]:
        for batch in self.scan(dataset, columns):
            yield from batch.to_pylist()

    # -- housekeeping --------------------------------------------------------------------------------

    def vacuum(self, *, min_age_s: float = 3600.0, dry_run: bool = False) -> list[str]:
        """Delete shard and temporary files no commit names (what a crash mid-write leaves behind).

        Only files older than `min_age_s` go: a running writer's shards are unnamed until it commits,
        so vacuum with a short grace period only when no run is writing to this root.
        """
        removed = []
        cutoff = time.time() - min_age_s
        for entry in self.root.fs.ls(self.root.path, detail=False):
            dataset = entry.rstrip("/").rsplit("/", 1)[-1]
            if dataset.startswith(("_", ".")) or not self.root.fs.isdir(entry):
                continue
            with self.commit_lock(dataset):
                referenced = {self.root.join(dataset, f.path) for c in self.commits(dataset) for f in c.files}
                for path in self.root.fs.find(entry):
                    name = path.rsplit("/", 1)[-1]
                    leftover = name.startswith(".tmp-") or (
                        f"/{COMMITS_DIR}/" not in path and name.endswith((".parquet", ".parquet.tmp"))
                        and path not in referenced
                    )
                    if leftover and self._mtime(path) < cutoff:
                        removed.append(path)
                        if not dry_run:
                            self.root.fs.rm(path)
        return removed

    def _mtime(self, path: str) -> float:
        try:
            modified = self.root.fs.modified(path)
        except (NotImplementedError, FileNotFoundError, OSError):
            return 0.0
        return modified.timestamp()
