"""The shape of a subgraph: a Weisfeiler-Lehman hash that isomorphic subgraphs share.

Choices, so that a shape means "the same question skeleton":
- a node starts labelled by its role only: "T" for an entity target, "A" for an attribute target, "n"
  otherwise (entity names and types are deliberately left out: the hash is about topology);
- an edge contributes its direction as seen from each end (out/in); its relation is left out too (every
  subgraph edge is a typed fact, see sample.py, and which one is wording, not skeleton);
- refinement runs as many rounds as the subgraph has nodes (subgraphs are small), each round
  relabelling a node by its label and the sorted multiset of (direction, neighbour label);
- the hash covers the sorted label multiset of every round plus the node and edge counts.
WL cannot tell apart some regular graphs of equal degree sequences; for these small walk-built
subgraphs that costs at most a little diversity, never correctness.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def wl_hash(nodes: Iterable[str], edges: Iterable[tuple[str, str, str]], target: str | None,
            *, attribute_target: bool = False, rounds: int | None = None) -> str:
    """Hash of a directed multigraph given as node ids and (src, dst, relation) edges (relations unread)."""
    node_list = sorted(set(nodes))
    incident: dict[str, list[tuple[str, str]]] = defaultdict(list)
    edge_count = 0
    for src, dst, _relation in edges:
        incident[src].append(("out", dst))
        incident[dst].append(("in", src))
        edge_count += 1
    marker = "A" if attribute_target else "T"
    labels = {n: marker if n == target else "n" for n in node_list}
    history = [",".join(sorted(labels.values()))]
    for _ in range(rounds if rounds is not None else max(1, len(node_list))):
        labels = {
            n: _digest(labels[n] + "|" + ";".join(sorted(f"{d}:{labels[o]}" for d, o in incident[n])))
            for n in node_list
        }
        history.append(",".join(sorted(labels.values())))
    return _digest(f"{len(node_list)}/{edge_count}/" + "/".join(history)) + _digest("/".join(history))
