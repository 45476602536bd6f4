"""The whole graph build in one call, for scripts, tests and benchmarks (flows run the steps as tasks)."""

from __future__ import annotations

from collections import Counter

from drsynth.storage.store import Store
from drsynth.synth.graph.config import GraphConfig
from drsynth.synth.graph.entities import build_entities
from drsynth.synth.graph.links import document_batches, link_batch


def build_graph(store: Store, run_id: str, config: GraphConfig | None = None) -> tuple[str, Counter[str]]:
    """Entities, then the edges of every document batch; returns (graph version, counts)."""
    config = config or GraphConfig()
    graph, counts = build_entities(store, run_id, config)
    for batch in document_batches(store, config.docs_per_task):
        counts.update(link_batch(store, run_id, graph, batch, config))
    return graph, counts
