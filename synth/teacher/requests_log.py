"""The `requests` dataset's rows: one per teacher or tool call, cached or not.

A `RequestLog` collects rows from any thread or coroutine; the stage that owns a `StageOutput` drains it
and writes the rows, so the client and the tools never touch the store themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from drsynth.storage.ids import content_id

KINDS = ("llm", "tool")


class RequestLog:
    """A thread-safe collector of `requests` rows."""

    def __init__(self) -> None:
        self._rows: list[dict] = []
        self._lock = threading.Lock()

    def record(self, row: dict) -> None:
        with self._lock:
            self._rows.append(row)

    def drain(self) -> list[dict]:
        """Every row recorded since the last drain, oldest first."""
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)


def request_row(*, kind: str, endpoint: str, name: str, purpose: str, request_hash: str, latency_ms: float,
                retries: int = 0, cache_hit: bool = False, tokens_in: int = 0, tokens_out: int = 0,
                error: str | None = None, parents: Sequence[str] = ()) -> dict:
    """One `requests` row. The id covers the time of the call: the same request made twice is two calls,
    and both are accounted. `endpoint` must already be free of credentials (see `redact_url`)."""
    if kind not in KINDS:
        raise ValueError(f"request kind must be one of {KINDS}, got {kind!r}")
    at = datetime.now(UTC)
    return {
        "id": content_id("request", request_hash, at.isoformat(), purpose, kind, name, endpoint),
        "parents": [str(p) for p in parents],
        "kind": kind,
        "endpoint": redact_url(endpoint),
        "name": name,
        "tokens_in": int(tokens_in or 0),
        "tokens_out": int(tokens_out or 0),
        "latency_ms": float(latency_ms),
        "retries": int(retries),
        "cache_hit": bool(cache_hit),
        "error": error,
        "request_hash": request_hash,
        "purpose": purpose,
        "at": at,
    }


def redact_url(url: str) -> str:
    """`url` without user:password@ and without a query string (where API keys like to hide)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
