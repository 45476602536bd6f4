"""What a graph version looks like: sizes, relations, degrees, components and hubs, as a dict and as
Markdown (the flow publishes it as a Prefect artifact).

Computed from the committed rows of the version in one streaming pass over `edges` (src, dst, kind,
relation) and one over `entities` (id, name, type): memory holds a degree per entity and the
union-find of the components, never the edges themselves.
"""

from __future__ import annotations

from collections import Counter

from drsynth.storage.store import Store
from drsynth.synth.graph.unionfind import UnionFind
from drsynth.synth.graph.view import scan_graph

TOP_RELATIONS = 15
TOP_SOURCE_RELATIONS = 30
NOT_ENTITY_EXAMPLES = 5
TOP_HUBS = 10
PERCENTILES = (50, 90, 99)


def _scan(store: Store, dataset: str, columns: list[str], graph: str):
    """The rows of one graph version only: commits of other versions are not read (see scan_graph)."""
    return scan_graph(store, dataset, columns, graph)


def _bucket(n: int) -> str:
    """Power-of-two histogram buckets: "0", "1", "2-3", "4-7", ..."""
    if n <= 1:
        return str(n)
    low = 1 << (n.bit_length() - 1)
    return f"{low}-{2 * low - 1}"


def _histogram(values: list[int]) -> dict[str, int]:
    counts = Counter(_bucket(v) for v in values)
    return {k: counts[k] for k in sorted(counts, key=lambda b: int(b.split("-")[0]))}


def _percentile(ordered: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return 0
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def graph_report(store: Store, graph: str) -> dict:
    names: dict[str, str] = {}
    types: Counter[str] = Counter()
    subtypes: Counter[str] = Counter()
    type_sources: Counter[str] = Counter()
    stubs: Counter[str] = Counter()
    attributes: Counter[tuple[str, str]] = Counter()  # (source, kind)
    attribute_keys: Counter[tuple[str, str]] = Counter()  # (source, key)
    index: dict[str, int] = {}
    columns = ("id", "name", "type", "subtype", "type_source", "stub", "attributes")
    for batch in _scan(store, "entities", list(columns), graph):
        for entity_id, name, kind, subtype, source, stub, attrs in zip(
                *(batch.column(c).to_pylist() for c in columns), strict=True):
            if entity_id in index:
                continue
            index[entity_id] = len(index)
            names[entity_id] = name
            types[kind or "thing"] += 1
            type_sources[source or "none"] += 1
            if subtype:
                subtypes[subtype] += 1
            if stub:
                stubs[kind or "thing"] += 1
            for attr in attrs or []:
                attributes[(attr.get("source") or "", attr.get("kind") or "")] += 1
                attribute_keys[(attr.get("source") or "", attr.get("key") or "")] += 1
    degree = [0] * len(index)
    uf = UnionFind(len(index))
    kinds: Counter[str] = Counter()
    relations: Counter[str] = Counter()
    by_source: Counter[tuple[str, str, bool]] = Counter()  # (kind, relation, typed)
    edges = dangling = typed_edges = 0
    edge_columns = ("src", "dst", "kind", "relation", "typed")
    for batch in _scan(store, "edges", list(edge_columns), graph):
        columns = (batch.column(c).to_pylist() for c in edge_columns)
        for src, dst, kind, relation, typed in zip(*columns, strict=True):
            a, b = index.get(src), index.get(dst)
            if a is None or b is None:
                dangling += 1
                continue
            edges += 1
            degree[a] += 1
            degree[b] += 1
            uf.union(a, b)
            kinds[kind] += 1
            relations[relation] += 1
            by_source[(kind, relation, bool(typed))] += 1
            typed_edges += bool(typed)
    sizes = Counter(uf.find(i) for i in range(len(index)))
    component_sizes = sorted(sizes.values(), reverse=True)
    ordered = sorted(degree)
    ids = list(index)
    hubs = sorted(range(len(ids)), key=lambda i: (-degree[i], names[ids[i]] or ""))[:TOP_HUBS]
    return {
        "graph": graph,
        "entities": len(index),
        "entities_by_type": dict(types.most_common()),
        "edges": edges,
        "edges_by_kind": dict(kinds.most_common()),
        "relations": len(relations),
        "top_relations": [{"relation": r, "edges": n} for r, n in relations.most_common(TOP_RELATIONS)],
        "dangling_edges": dangling,
        "degree": {
            "sum": sum(degree),
            "mean": round(sum(degree) / len(degree), 3) if degree else 0.0,
            "max": ordered[-1] if ordered else 0,
            "isolated": sum(1 for d in degree if d == 0),
            "percentiles": {f"p{p}": _percentile(ordered, p) for p in PERCENTILES},
            "histogram": _histogram(degree),
        },
        "components": {
            "count": len(component_sizes),
            "largest": component_sizes[0] if component_sizes else 0,
            "largest_share": round(component_sizes[0] / len(index), 4) if component_sizes else 0.0,
            "size_histogram": _histogram(component_sizes),
        },
        "top_hubs": [{"id": ids[i], "name": names[ids[i]], "degree": degree[i]} for i in hubs],
        "typed_edges": typed_edges,
        "untyped_edges": edges - typed_edges,
        "relations_by_source": [{"source": k, "relation": r, "typed": t, "edges": n}
                                for (k, r, t), n in by_source.most_common(TOP_SOURCE_RELATIONS)],
        "entities_by_subtype": dict(subtypes.most_common(TOP_RELATIONS)),
        "entities_by_type_source": dict(type_sources.most_common()),
        "stubs": sum(stubs.values()),
        "stubs_by_type": dict(stubs.most_common()),
        "attributes": sum(attributes.values()),
        "attributes_by_source": [{"source": s, "kind": k, "attributes": n} for (s, k), n in attributes.most_common()],
        "top_attribute_keys": [{"source": s, "key": k, "attributes": n}
                               for (s, k), n in attribute_keys.most_common(TOP_SOURCE_RELATIONS)],
        "not_entities": not_entities(store),
    }


def not_entities(store: Store) -> dict:
    """Pages the graph classed as not-an-entity, by reason, with a few titles each (from the
    quarantine rows of the graph stage: every build writes them, ids dedupe reruns)."""
    reasons: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    if "quarantine" not in store.datasets():
        return {"pages": 0, "by_reason": []}
    for batch in store.scan("quarantine", ["stage", "reason", "detail", "source"]):
        for stage, reason, detail, source in zip(*(batch.column(c).to_pylist()
                                                   for c in ("stage", "reason", "detail", "source")), strict=True):
            if stage != "graph" or reason != "not_an_entity":
                continue
            # "'Title' is not about one real-world entity: a list page; ..." -> the first signal
            why = (detail or "").partition(": ")[2].split("; ")[0] or "unknown"
            why = "link list" if why.startswith("link list") else "short, no bold lead term" if why.startswith(
                "short") else why
            reasons[why] += 1
            if len(examples.setdefault(why, [])) < NOT_ENTITY_EXAMPLES:
                examples[why].append((detail or "").partition(" is not about")[0].strip("'") or source or "")
    return {"pages": sum(reasons.values()),
            "by_reason": [{"reason": r, "pages": n, "examples": examples[r]} for r, n in reasons.most_common()]}


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def report_markdown(report: dict) -> str:
    degree, components = report["degree"], report["components"]
    lines = [
        f"# Knowledge graph `{report['graph']}`",
        "",
        f"**{report['entities']:,} entities**, **{report['edges']:,} edges**, {report['relations']:,} relations; "
        f"{components['count']:,} connected component{'' if components['count'] == 1 else 's'}, the largest with {components['largest']:,} entities "
        f"({components['largest_share']:.1%}).",
        "",
        "## Entities by type",
        *_table(["type", "entities"], [[t, f"{n:,}"] for t, n in report["entities_by_type"].items()]),
        "",
        "## Edges by kind",
        *_table(["kind", "edges"], [[k, f"{n:,}"] for k, n in report["edges_by_kind"].items()]),
        "",
        "## Top relations",
        *_table(["relation", "edges"], [[r["relation"], f"{r['edges']:,}"] for r in report["top_relations"]]),
        "",
        "## Degree",
        f"mean {degree['mean']}, max {degree['max']}, isolated {degree['isolated']:,}; "
        + ", ".join(f"{k} {v}" for k, v in degree["percentiles"].items()),
        "",
        *_table(["degree", "entities"], [[b, f"{n:,}"] for b, n in degree["histogram"].items()]),
        "",
        "## Component sizes",
        *_table(["size", "components"], [[b, f"{n:,}"] for b, n in components["size_histogram"].items()]),
        "",
        "## Top hubs",
        *_table(["entity", "degree"], [[h["name"], h["degree"]] for h in report["top_hubs"]]),
        "",
        "## Facts and links",
        f"{report['typed_edges']:,} typed edges (a property of their source entity, from its own infobox) and "
        f"{report['untyped_edges']:,} untyped links (text and table links, mentions: never stated as facts); "
        f"{report['attributes']:,} attributes; {report['stubs']:,} stub entities (linked from an infobox, no "
        "page of their own).",
        "",
        "### Relations by source",
        *_table(["source", "relation", "typed", "edges"],
                [[r["source"], r["relation"], "yes" if r["typed"] else "no", f"{r['edges']:,}"]
                 for r in report["relations_by_source"]]),
        "",
        "### Attributes by source and kind",
        *_table(["source", "kind", "attributes"],
                [[a["source"], a["kind"], f"{a['attributes']:,}"] for a in report["attributes_by_source"]]),
        "",
        "### Top attribute keys",
        *_table(["source", "key", "attributes"],
                [[a["source"], a["key"], f"{a['attributes']:,}"] for a in report["top_attribute_keys"]]),
        "",
        "### Entity types: where they came from, subtypes, stubs",
        *_table(["type source", "entities"], [[k, f"{n:,}"] for k, n in report["entities_by_type_source"].items()]),
        "",
        *_table(["subtype", "entities"], [[k, f"{n:,}"] for k, n in report["entities_by_subtype"].items()]),
        "",
        *_table(["stub type", "stubs"], [[k, f"{n:,}"] for k, n in report["stubs_by_type"].items()]),
        "",
        "## Pages that are not entities",
        *_table(["reason", "pages", "examples"],
                [[r["reason"], f"{r['pages']:,}", ", ".join(r["examples"])]
                 for r in report["not_entities"]["by_reason"]]),
    ]
    if report.get("dangling_edges"):
        lines += ["", f"{report['dangling_edges']:,} edges name an entity missing from this version."]
    return "\n".join(lines) + "\n"
