"""The level-3 search check: a level-3 question must not fall to one search.

Queries are what a searcher would type from the question alone: each named entity, each stated value,
all of them together, and the question itself. Each runs against the project's own search tool (the
local full-text index the agents search, synth/tools/search.py); the best rank at which any of them
returns the answer's page (the page of the answer's entity, or for an entity with no page of its own,
a page that states it) is recorded on the task. A question whose answer page comes back within the top
k is solvable by one lookup and is not level 3.

k defaults to 1 on corpora under 1,000 documents and 10 above: in a small corpus almost any query
finds every page somewhere in the top 10, so only the first result means "one search solves it".
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from drsynth.storage.store import Store
from drsynth.synth.tasks.text import fold
from drsynth.synth.tools.base import ToolError
from drsynth.synth.tools.search import SearchIndex, default_index_path

DEPTH = 10  # results read per query: ranks beyond are recorded as "not found"
SMALL_CORPUS = 1_000


@dataclass(frozen=True)
class SearchResult:
    queries: list[str]
    rank: int | None  # best rank of an answer page (1-based), None when not within DEPTH
    k: int

    @property
    def found(self) -> bool:
        return self.rank is not None and self.rank <= self.k


def default_k(documents: int) -> int:
    return 1 if documents < SMALL_CORPUS else 10


def queries_of(constants: Iterable[str], question: str) -> list[str]:
    """Each constant alone, all together, and the question: distinct by folded form, empties dropped."""
    named = [c.strip() for c in constants if c and c.strip()]
    out: list[str] = []
    seen: set[str] = set()
    for query in [*named, " ".join(named) if len(named) > 1 else "", question.strip()]:
        key = fold(query)
        if key and key not in seen:
            seen.add(key)
            out.append(query)
    return out


class SearchCheck:
    def __init__(self, index: SearchIndex, k: int) -> None:
        self.index = index
        self.k = k

    def run(self, constants: Iterable[str], question: str, answer_docs: set[str]) -> SearchResult:
        queries = queries_of(constants, question)
        best: int | None = None
        for query in queries:
            try:
                hits = self.index.query(query, DEPTH)
            except ToolError:  # nothing searchable in it (punctuation only)
                continue
            for rank, hit in enumerate(hits, 1):
                if hit.doc_id in answer_docs:
                    best = rank if best is None else min(best, rank)
                    break
        return SearchResult(queries, best, self.k)


_CHECKS: dict[str, SearchIndex] = {}
_LOCK = threading.Lock()


def search_check(store: Store, k: int = 0) -> SearchCheck | None:
    """The check over `store`'s local search index (one per root and process; batches in threads share
    it). The flow brings the index up to date once before batches fan out (`index_corpus`); an index
    never built is built here. None for a root the index cannot live beside."""
    if not store.root.is_local:
        return None
    path = default_index_path(store)
    with _LOCK:
        index = _CHECKS.get(path)
        if index is None:
            index = _CHECKS[path] = SearchIndex(path)
        if not len(index):
            index.update(store)
    return SearchCheck(index, k or default_k(len(index)))
