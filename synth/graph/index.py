"""The resolution index of one graph version, read back from its committed `entities` rows.

Link extraction runs batch by batch (one Prefect task each); every batch needs to turn hrefs into
entity ids and, for text corpora, to find names in text. The index is loaded once per process and
graph version and shared by the batches (and threads) that follow; the mention automaton is built
on first use only, so hyperlinked corpora never pay for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from drsynth.storage.manifest import list_commit_names
from drsynth.storage.store import Store
from drsynth.synth.graph.mentions import MentionMatcher
from drsynth.synth.graph.urls import url_key
from drsynth.synth.graph.view import scan_graph

INDEX_COLUMNS = ["id", "name", "label", "aliases", "urls", "doc_ids", "link_doc_ids", "graph"]
CACHED_GRAPHS = 2


def mention_forms(row: dict) -> list[str]:
    """The names an entity is matched by in text: its name and aliases, except a one-word label cut
    from a disambiguated title: "Empire (2002 film)" says that "Empire" names other things too."""
    name, label = row.get("name") or "", row.get("label") or ""
    weak = label if label != name and len(label.split()) == 1 else None
    forms = [name, *(row.get("aliases") or [])]
    return [f for f in dict.fromkeys(forms) if f and f != weak]


class ResolutionIndex:
    def __init__(self, graph: str, rows: Iterable[dict]) -> None:
        self.graph = graph
        self.by_url: dict[str, str] = {}
        self.by_doc: dict[str, str] = {}
        self.link_docs: set[str] = set()
        self._names: list[tuple[str, list[str]]] = []
        for row in rows:
            entity_id = row["id"]
            for url in row["urls"] or []:
                key = url_key(url)
                if key:
                    self.by_url.setdefault(key, entity_id)
            for doc_id in row["doc_ids"] or []:
                self.by_doc[doc_id] = entity_id
            self.link_docs.update(row["link_doc_ids"] or row["doc_ids"] or [])
            self._names.append((entity_id, mention_forms(row)))
        self._matchers: dict[tuple[int, int], MentionMatcher] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._names)

    def resolve(self, href: str | None) -> str | None:
        key = url_key(href)
        return self.by_url.get(key) if key else None

    def matcher(self, min_chars: int, max_words: int) -> MentionMatcher:
        with self._lock:
            key = (min_chars, max_words)
            if key not in self._matchers:
                self._matchers[key] = MentionMatcher(self._names, min_chars=min_chars, max_words=max_words)
            return self._matchers[key]

    @classmethod
    def load(cls, store: Store, graph: str) -> ResolutionIndex:
        return cls(graph, _rows(store, graph))


def _rows(store: Store, graph: str) -> Iterator[dict]:
    """The graph's entity rows, a record batch at a time (never all of them as dicts at once), read
    from the commits of this version only."""
    for batch in scan_graph(store, "entities", INDEX_COLUMNS, graph, batch_size=512):
        yield from batch.to_pylist()


_cache: OrderedDict[tuple[str, str], ResolutionIndex] = OrderedDict()
# graphs found empty (not committed yet, or an empty corpus), with the `entities` commits they were read
# at: a later batch reuses the empty index until a commit lands, instead of rescanning `entities`
_empty: OrderedDict[tuple[str, str], tuple[tuple[str, ...], ResolutionIndex]] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, str], threading.Lock] = {}


def _entity_commits(store: Store) -> tuple[str, ...]:
    return tuple(list_commit_names(store.root, "entities"))


def resolution_index(store: Store, graph: str) -> ResolutionIndex:
    """The index of `graph` in `store`, built once per process (the last CACHED_GRAPHS are kept)."""
    key = (store.uri, graph)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        load_lock = _load_locks.setdefault(key, threading.Lock())
    try:
        with load_lock:  # one loader per graph; the other threads wait for it instead of loading too
            with _cache_lock:
                if key in _cache:
                    return _cache[key]
            stamp = _entity_commits(store)
            with _cache_lock:
                empty = _empty.get(key)
                if empty is not None and empty[0] == stamp:
                    return empty[1]
            index = ResolutionIndex.load(store, graph)
            with _cache_lock:
                if len(index):
                    _cache[key] = index
                    _empty.pop(key, None)
                    while len(_cache) > CACHED_GRAPHS:
                        _cache.popitem(last=False)
                else:
                    _empty[key] = (stamp, index)
                    while len(_empty) > CACHED_GRAPHS:
                        _empty.popitem(last=False)
            return index
    finally:
        with _cache_lock:  # never left behind, whatever the load found (or raised)
            _load_locks.pop(key, None)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _empty.clear()
