"""A persistent response cache: one SQLite file, keyed by the sha256 of the request's canonical JSON.

Safe across threads (one connection per thread) and processes (SQLite's WAL locking); a write that loses a
race to another writer with the same key is harmless, since the same request gives an interchangeable
response.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drsynth.storage.store import Store


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_key(payload: dict) -> str:
    """The cache key of a request: sha256 of its canonical JSON (key order never matters)."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def get(self, key: str) -> dict | None:
        row = self._connect().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        self._connect().execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                                (key, canonical_json(value)))

    def __len__(self) -> int:
        return self._connect().execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for con in connections:
            con.close()
        self._local = threading.local()


def default_cache_path(store: Store) -> str | None:
    """Where a store's teacher responses are cached: `<root>/_cache/teacher.sqlite` for a local root (the
    leading underscore keeps it out of the datasets); None for a remote root, where SQLite cannot live."""
    if not store.root.is_local:
        return None
    return os.path.join(store.root.path, "_cache", "teacher.sqlite")


def default_cache(store: Store) -> ResponseCache | None:
    """The store's persistent response cache (see `default_cache_path`), or None for a remote root."""
    path = default_cache_path(store)
    return None if path is None else ResponseCache(path)
