"""Streaming writes of one dataset's rows into Parquet shards, made visible by an atomic commit."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drsynth.storage.fs import fsync_path
from drsynth.storage.manifest import Commit, ShardInfo, commit_exists, new_commit, publish_commit
from drsynth.storage.schemas import schema_for

if TYPE_CHECKING:
    from drsynth.storage.store import Store

COMPRESSION = "zstd"


class InvalidRows(ValueError):
    """Rows that do not fit the dataset's schema; the writer stays usable for the rest."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


def _approx_size(value: Any) -> int:
    """Rough bytes of a row, nested lists included (a document's links can outweigh its text)."""
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, dict):
        return sum(_approx_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 16 + sum(_approx_size(v) for v in value)
    return 16


class CommitOnExit:
    """`with` commits on success and aborts on any exception, Ctrl-C included."""

    def commit(self) -> object:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class DatasetWriter(CommitOnExit):
    """Buffers rows, writes row groups to shard files, and commits them atomically.

    Rows whose `id` is already committed (or already written by this writer) are skipped and counted:
    that is what makes a rerun over the same input idempotent. `commit()` may be called many times;
    each call publishes what was written since the last one, so a long stage exposes its progress in
    whole commits and a crash loses only the uncommitted tail.
    """

    def __init__(
        self,
        store: Store,
        dataset: str,
        run_id: str,
        *,
        rows_per_shard: int = 100_000,
        buffer_rows: int = 1_000,
        buffer_bytes: int = 16 * 2**20,
        meta: dict | None = None,
    ) -> None:
        self.store = store
        self.dataset = dataset
        self.run_id = run_id
        self.schema = schema_for(dataset)
        self.rows_per_shard = rows_per_shard
        self.buffer_rows = buffer_rows
        self.buffer_bytes = buffer_bytes
        self.meta = dict(meta or {})
        self.stats: Counter[str] = Counter()
        self.commits: list[Commit] = []
        self.rejected: list[str] = []  # ids of rows that did not fit the schema
        self._known, self._known_commits = store.committed_ids(dataset)
        self._mine: set[str] = set()  # ids written since the last commit
        self._buffer: list[dict] = []
        self._buffered_bytes = 0
        self._shards: list[ShardInfo] = []
        self._file: pq.ParquetWriter | None = None
        self._file_path = ""
        self._file_rows = 0
        self._lock = threading.Lock()
        self._prefix = uuid.uuid4().hex[:8]
        self._seq = 0

    # -- writing -------------------------------------------------------------------------------

    def write(self, row: dict) -> bool:
        """Queue one row; False when its id is already there (the row is skipped)."""
        rid = row["id"]
        with self._lock:
            if rid in self._known or rid in self._mine:
                self.stats["duplicates"] += 1
                return False
            self._mine.add(rid)
            row.setdefault("run_id", self.run_id)
            self._buffer.append(row)
            self._buffered_bytes += _approx_size(row)
            self.stats["written"] += 1
            if len(self._buffer) >= self.buffer_rows or self._buffered_bytes >= self.buffer_bytes:
                self._flush()
            return True

    def write_many(self, rows: Iterable[dict]) -> int:
        return sum(self.write(r) for r in rows)

    def _flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer, self._buffered_bytes = self._buffer, [], 0
        rejected: InvalidRows | None = None
        try:
            table = pa.Table.from_pylist(rows, schema=self.schema)
        except (pa.ArrowException, TypeError, ValueError, UnicodeError) as exc:
            # a row that does not fit the schema is a bug in the stage that built it: name it, and
            # keep the writer usable for the rows that do fit
            table, rejected = self._salvage(rows, exc)
        if self._file is None:
            self._open_file()
        assert self._file is not None
        self._file.write_table(table)
        self._file_rows += table.num_rows
        if self._file_rows >= self.rows_per_shard:
            self._close_file()
        if rejected is not None:
            raise rejected

    def _salvage(self, rows: list[dict], exc: Exception) -> tuple[pa.Table, InvalidRows]:
        good, bad = [], []
        for row in rows:
            try:
                pa.Table.from_pylist([row], schema=self.schema)
                good.append(row)
            except (pa.ArrowException, TypeError, ValueError, UnicodeError):
                bad.append(row["id"])
        self._mine.difference_update(bad)
        self.stats["written"] -= len(bad)
        self.stats["invalid"] += len(bad)
        self.rejected.extend(bad)
        message = f"{self.dataset}: {len(bad)} row(s) do not fit the schema ({exc}); ids {bad[:5]}"
        return pa.Table.from_pylist(good, schema=self.schema), InvalidRows(message, bad)

    def _open_file(self) -> None:
        root = self.store.root
        name = f"part-{self._prefix}-{self._seq:05d}.parquet"
        self._seq += 1
        final = root.join(self.dataset, self.run_id, name)
        # locally a shard is written under a hidden temporary name, so even a glob over the
        # directory never meets a half-written file
        self._file_path = final if not root.is_local else root.join(self.dataset, self.run_id, f".{name}.tmp")
        root.fs.makedirs(root.join(self.dataset, self.run_id), exist_ok=True)
        self._file = pq.ParquetWriter(
            self._file_path, self.schema, compression=COMPRESSION, filesystem=None if root.is_local else root.fs
        )
        self._file_rows = 0

    def _close_file(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        root = self.store.root
        final = self._file_path
        if root.is_local:
            final = self._file_path.replace("/.part-", "/part-").removesuffix(".tmp")
            fsync_path(self._file_path)  # durable before any commit can name it, not only after kill -9
            os.rename(self._file_path, final)
            fsync_path(os.path.dirname(final))
        rel = final[len(root.join(self.dataset)) + 1 :]
        self._shards.append(ShardInfo(path=rel, rows=self._file_rows, bytes=root.fs.size(final)))

    # -- committing ------------------------------------------------------------------------------

    def commit(self) -> Commit | None:
        """Publish everything written since the last commit; None when there was nothing."""
        with self._lock:
            self._flush()
            self._close_file()
            if not self._shards:
                return None
            with self.store.commit_lock(self.dataset):
                # another writer may have committed some of our ids since we started
                fresh, names = self.store.committed_ids(self.dataset)
                if names != self._known_commits:
                    self._drop_ids_committed_meanwhile(fresh)
                commit = self._publish() if self._shards else None
                # what is committed now is known under the lock: no second listing of _commits/
                self._known = fresh
                self._known_commits = tuple(sorted({*names, commit.name})) if commit else names
            return commit

    def _publish(self) -> Commit:
        root = self.store.root
        missing = [s.path for s in self._shards if not root.fs.exists(root.join(self.dataset, s.path))]
        if missing:  # e.g. removed by a vacuum that ran while we wrote: never commit a hole
            raise FileNotFoundError(f"{self.dataset}: shards vanished before commit: {missing}")
        commit = new_commit(self.dataset, self.run_id, list(self._shards), self.meta)
        try:
            publish_commit(root, commit)
        finally:
            # once the commit file exists its shards belong to it, even if publishing was then
            # interrupted: abort() must never delete what a visible commit names
            if commit_exists(root, commit):
                self.store.remember_commit(commit, self._mine)
                self.commits.append(commit)
                self._mine, self._shards = set(), []
        return commit

    def _drop_ids_committed_meanwhile(self, committed: set[str]) -> None:
        clash = self._mine & committed
        if not clash:
            return
        root, kept = self.store.root, []
        for shard in self._shards:
            path = root.join(self.dataset, shard.path)
            table = pq.read_table(path, filesystem=None if root.is_local else root.fs)
            mask = pc.invert(pc.is_in(table["id"], value_set=pa.array(sorted(clash))))
            table = table.filter(mask)
            if table.num_rows:
                pq.write_table(table, path, compression=COMPRESSION, filesystem=None if root.is_local else root.fs)
                kept.append(ShardInfo(path=shard.path, rows=table.num_rows, bytes=root.fs.size(path)))
            else:
                root.fs.rm(path)
        self.stats["written"] -= len(clash)
        self.stats["duplicates"] += len(clash)
        self._mine -= clash
        self._shards = kept

    def abort(self) -> None:
        """Forget everything uncommitted and delete its files."""
        with self._lock:
            self._buffer = []
            if self._file is not None:
                self._file.close()
                self._file = None
                self.store.root.fs.rm(self._file_path)
            for shard in self._shards:
                self.store.root.fs.rm(self.store.root.join(self.dataset, shard.path))
            self._shards, self._mine = [], set()
