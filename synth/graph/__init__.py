"""The knowledge graph: entities resolved from documents, edges from links and mentions (DESIGN §7).

Flows call, in order: `build_entities` (one pass over every document; returns the graph version),
`document_batches` and `link_batch` for each batch (edges), then `graph_report`.
Task synthesis reads a version with `load_graph`. `build_graph` does it all in one call.
"""

from drsynth.synth.graph.build import build_graph
from drsynth.synth.graph.config import GraphConfig
from drsynth.synth.graph.entities import GRAPH_FORMAT_VERSION, build_entities, graph_version
from drsynth.synth.graph.links import DocBatch, document_batches, link_batch
from drsynth.synth.graph.report import graph_report, report_markdown
from drsynth.synth.graph.view import Edge, Entity, GraphView, load_graph

__all__ = [
    "GRAPH_FORMAT_VERSION",
    "DocBatch",
    "Edge",
    "Entity",
    "GraphConfig",
    "GraphView",
    "build_entities",
    "build_graph",
    "document_batches",
    "graph_report",
    "graph_version",
    "link_batch",
    "load_graph",
    "report_markdown",
]
