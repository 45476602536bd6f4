"""`search(query: list[str])`: top results per query from a local BM25 index of `documents`, or a hosted API.

The local index is SQLite FTS5 (porter-stemmed unicode61 tokens, BM25 with the title weighted above the
text). It is built incrementally: documents already indexed (by id) are skipped, and a document whose
canonical URL is already indexed (the same page reached by another URL) is not indexed twice.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from drsynth.storage.batches import plan_batches
from drsynth.storage.store import Store
from drsynth.synth.tools.base import Tool, ToolError, ToolResult, TransientToolError
from drsynth.synth.tools.text import STOPWORDS

DOC_COLUMNS = ["id", "url", "canonical_url", "title", "text"]
TITLE_WEIGHT = 8.0
TEXT_WEIGHT = 1.0
_TERM = re.compile(r'"([^"]+)"|(\w+)', re.UNICODE)


@dataclass(frozen=True)
class Hit:
    title: str
    url: str
    snippet: str
    doc_id: str = ""
    score: float = 0.0


class SearchBackend(Protocol):
    @property
    def endpoint(self) -> str: ...
    async def search(self, query: str, k: int) -> list[Hit]: ...


def default_index_path(store: Store) -> str:
    if not store.root.is_local:
        raise ValueError(f"{store.uri} is not a local root: give the search index a local path")
    return os.path.join(store.root.path, "_index", "search.sqlite")


def fts_terms(query: str) -> list[str]:
    """The query as FTS5 string literals: quoted phrases kept, other words one by one, nothing raw.

    Every term is a double-quoted FTS5 string (inner quotes doubled), so operators, column filters,
    parentheses or stray punctuation in the user's text can never reach the FTS5 parser as syntax.
    """
    terms: list[str] = []
    for phrase, word in _TERM.findall(query):
        text = " ".join(re.findall(r"\w+", phrase)) if phrase else word
        if text:
            terms.append('"' + text.replace('"', '""') + '"')
    return terms


class SearchIndex:
    """A SQLite FTS5 index of `documents` at `path`; safe to query from many threads."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connect() as con:
            con.executescript("""
                PRAGMA journal_mode=WAL;
                CREATE TABLE IF NOT EXISTS indexed (doc_id TEXT PRIMARY KEY, canonical_url TEXT);
                CREATE INDEX IF NOT EXISTS indexed_canonical ON indexed (canonical_url);
                CREATE VIRTUAL TABLE IF NOT EXISTS pages USING fts5(
                    doc_id UNINDEXED, url UNINDEXED, title, text,
                    tokenize = 'porter unicode61 remove_diacritics 2'
                );
            """)

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._local.con = con
        return con

    @property
    def endpoint(self) -> str:
        return f"sqlite-fts5:{self.path}"

    def __len__(self) -> int:
        return self._connect().execute("SELECT count(*) FROM pages").fetchone()[0]

    def indexed_ids(self) -> set[str]:
        return {row[0] for row in self._connect().execute("SELECT doc_id FROM indexed")}

    def update(self, store: Store, batch_size: int = 2048) -> Counter[str]:
        """Index the committed documents not indexed yet. Counts: search.indexed / .duplicate_url / .empty."""
        counts: Counter[str] = Counter()
        done = self.indexed_ids()
        for batch in plan_batches(store, "documents", batch_size, keep=lambda i: i not in done):
            rows = store.iter_row_groups(batch.file, batch.row_groups, DOC_COLUMNS, ids=batch.ids)
            counts.update(self.add(rows))
        return counts

    def add(self, rows: Iterable[dict]) -> Counter[str]:
        counts: Counter[str] = Counter()
        with self._write_lock:
            con = self._connect()
            with con:
                for row in rows:
                    doc_id = row["id"]
                    url = row.get("canonical_url") or row.get("url") or ""
                    seen = con.execute("SELECT 1 FROM indexed WHERE doc_id = ?", (doc_id,)).fetchone()
                    if seen:
                        continue
                    duplicate = url and con.execute(
                        "SELECT 1 FROM indexed WHERE canonical_url = ?", (url,)).fetchone()
                    # the id is remembered either way, so the next update skips it without reading it
                    con.execute("INSERT INTO indexed VALUES (?, ?)", (doc_id, url))
                    if duplicate:
                        counts["search.duplicate_url"] += 1
                        continue
                    if not (row.get("text") or row.get("title")):
                        counts["search.empty"] += 1
                        continue
                    con.execute("INSERT INTO pages (doc_id, url, title, text) VALUES (?, ?, ?, ?)",
                                (doc_id, url, row.get("title") or "", row.get("text") or ""))
                    counts["search.indexed"] += 1
        return counts

    def query(self, query: str, k: int = 10) -> list[Hit]:
        """Top `k` documents for `query`: those with every term first, then those with any term."""
        terms = fts_terms(query)
        if not terms:
            raise ToolError(f"the query {query!r} has no searchable words")
        hits = self._run(" AND ".join(terms), k)
        if len(hits) < k and len(terms) > 1:
            loose = [t for t in terms if t.strip('"').casefold() not in STOPWORDS] or terms
            seen = {h.doc_id for h in hits}
            hits += [h for h in self._run(" OR ".join(loose), k + len(hits)) if h.doc_id not in seen]
        return hits[:k]

    def _run(self, match: str, k: int) -> list[Hit]:
        rows = self._connect().execute(
            f"""SELECT doc_id, url, title, snippet(pages, 3, '**', '**', ' … ', 32),
                       bm25(pages, 0, 0, {TITLE_WEIGHT}, {TEXT_WEIGHT}) AS score
                FROM pages WHERE pages MATCH ? ORDER BY score LIMIT ?""",
            (match, k),
        ).fetchall()
        return [Hit(title=t, url=u, snippet=" ".join(s.split()), doc_id=d, score=-sc) for d, u, t, s, sc in rows]

    async def search(self, query: str, k: int) -> list[Hit]:
        return await asyncio.to_thread(self.query, query, k)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


class HostedSearchAPI:
    """A Serper-style web search API: POST {"q", "num"} with the key in a header; JSON `organic` results.

    The key is read from the environment variable named `key_env` at call time and only ever sent as a
    header: it is not part of `endpoint`, the cache key or any error text.
    """

    def __init__(self, url: str, *, key_env: str = "SERPER_API_KEY", key_header: str = "X-API-KEY",
                 timeout_s: float = 15.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.key_env = key_env
        self.key_header = key_header
        self.timeout_s = timeout_s
        self._transport = transport

    @property
    def endpoint(self) -> str:
        return self.url

    async def post(self, payload: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.key_env)
        if key:
            headers[self.key_header] = key
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport) as client:
                response = await client.post(self.url, json=payload, headers=headers)
        except (httpx.TimeoutException, httpx.NetworkError) as exc:
            raise TransientToolError(f"search API unreachable: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientToolError(f"search API answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ToolError(f"search API refused the request: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise TransientToolError("search API answered with malformed JSON") from None
        if not isinstance(data, dict):
            raise ToolError("search API answered with an unexpected JSON shape")
        return data

    async def search(self, query: str, k: int) -> list[Hit]:
        if not query.strip():
            raise ToolError("empty query")
        data = await self.post({"q": query, "num": k})
        return [Hit(title=str(r.get("title") or ""), url=str(r.get("link") or r.get("url") or ""),
                    snippet=str(r.get("snippet") or ""))
                for r in (data.get("organic") or [])[:k] if isinstance(r, dict)]


def format_hits(query: str, hits: Sequence[Hit]) -> str:
    if not hits:
        return f"No results found for '{query}'. Try a shorter or different query."
    lines = [f"A search for '{query}' found {len(hits)} results:", "", "## Web Results"]
    for n, hit in enumerate(hits, 1):
        lines.append(f"{n}. [{hit.title}]({hit.url})")
        if hit.snippet:
            lines.append(hit.snippet)
        lines.append("")
    return "\n".join(lines).rstrip()


class Search(Tool):
    name = "search"
    description = ("Perform web searches and return the top results for each query. "
                   "Accepts several queries at once.")
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"query": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                 "description": "The search queries; one search per query."}},
        "required": ["query"],
    }

    def __init__(self, backend: SearchBackend, *, k: int = 10, max_queries: int = 5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.k = k
        self.max_queries = max_queries

    @property
    def endpoint(self) -> str:
        return self.backend.endpoint

    def cache_identity(self) -> dict:
        return {"endpoint": self.backend.endpoint, "k": self.k}

    async def run(self, arguments: dict) -> ToolResult:
        queries = [q.strip() for q in arguments["query"]]
        if not any(queries):
            raise ToolError("empty query: give at least one non-empty search query")
        queries = [q for q in queries if q][: self.max_queries]
        parts = []
        for query in queries:
            try:
                parts.append(format_hits(query, await self.backend.search(query, self.k)))
            except TransientToolError:
                raise
            except ToolError as exc:
                parts.append(f"A search for '{query}' failed: {exc}")
        return ToolResult("\n=======\n".join(parts))
