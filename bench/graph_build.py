"""Knowledge-graph build time and peak memory at growing corpus sizes; mention linking on a text corpus.

The demo site's documents (crawled once from the bundled server) are replicated into N documents,
copy k on its own host (`c<k>.halvard.test`) with its own ids and titles, links and redirects moved
along, so every copy is a separate site whose entities are distinct. The whole build (entities, edges
over every batch, report) runs in a child process whose peak RSS is sampled. Time should grow
linearly with N; memory holds per-entity summaries and the stores' id indexes, never texts or links.

Second, mention linking alone on the 6,119 2wiki passages (no hyperlinks), in-process.

`--corpus wikidump` replicates the real Wikipedia dump excerpt instead (106 articles, 99 redirects,
extracted once in-process, its extraction rate reported), copy k on host `c<k>.wikipedia.test`.

    .venv/bin/python bench/graph_build.py [--sizes 1000,10000,100000] [--corpus demo|wikidump]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, TreeMemory
from drsynth.synth.corpus.demo import DEMO_HOST

TWOWIKI = REPO.parent / "shared" / "corpora" / "text" / "2wiki_passages.json"
WIKIDUMP = REPO.parent / "shared" / "corpora" / "wiki" / "enwiki-2016-excerpt.xml.bz2"
WIKI_HOST = "en.wikipedia.org"


def demo_rows(root: str) -> tuple[list[dict], list[dict]]:
    """The demo site's documents and redirects, crawled and extracted once into `root`."""
    from drsynth.storage.store import Store
    from drsynth.synth.corpus.demo.offline import ingest_demo_site

    store = Store(root)
    ingest_demo_site(store, "bench")
    return list(store.rows("documents")), list(store.rows("redirects"))


def wikidump_rows() -> tuple[list[dict], list[dict], dict]:
    """The dump excerpt's documents and redirects, read and extracted once in-process, and the rate."""
    from drsynth.synth.corpus.extract import extract_page
    from drsynth.synth.corpus.wikidump import read_wikidump

    started = time.perf_counter()
    rows = list(read_wikidump(WIKIDUMP))
    read_s = time.perf_counter() - started
    mark = time.perf_counter()
    documents = []
    for dataset, row in rows:
        if dataset == "pages":
            kind, doc = extract_page(row)
            if kind == "documents":
                documents.append(doc)
    extract_s = time.perf_counter() - mark
    redirects = [row for dataset, row in rows if dataset == "redirects"]
    rate = {"articles": len(documents), "redirects": len(redirects), "read_s": round(read_s, 2),
            "extract_s": round(extract_s, 2), "extract_articles_per_s": round(len(documents) / extract_s, 1)}
    return documents, redirects, rate


def _move(value, host: str, origin: str = DEMO_HOST):
    if isinstance(value, str):
        return value.replace(origin, host)
    if isinstance(value, list):
        return [_move(v, host, origin) for v in value]
    if isinstance(value, dict):
        return {k: _move(v, host, origin) for k, v in value.items()}
    return value


def replicate_corpus(root: str, documents: list[dict], redirects: list[dict], n: int,
                     origin: str = DEMO_HOST) -> None:
    """n documents cycling through the corpus's, copy k moved from `origin` to host c<k>, with new ids
    and titles."""
    from drsynth.storage.ids import content_id
    from drsynth.storage.store import Store
    from drsynth.synth.corpus.stage_output import StageOutput

    store = Store(root)
    copies = -(-n // len(documents))
    with StageOutput(store, "bench", "documents", stage="extract", meta={}) as out:
        for i in range(n):
            k, j = divmod(i, len(documents))
            doc = documents[j]
            host = _copy_host(k, origin)
            row = {key: _move(doc[key], host, origin) for key in ("url", "page_url", "canonical_url", "links", "infobox")}
            out.write("documents", {
                **{key: value for key, value in doc.items() if key != "run_id"}, **row, "id": content_id("bench-document", k, doc["id"]), "parents": [],
                "title": f"{doc['title']} {k}" if doc["title"] else None,
            })
            if i % 5000 == 4999:
                out.commit()
        for k in range(copies):
            for red in redirects:
                out.write("redirects", {**{key: v for key, v in red.items() if key != "run_id"}, **{key: _move(red[key], _copy_host(k, origin), origin) for key in ("url", "target")},
                                        "id": content_id("bench-redirect", k, red["id"]), "parents": []})


def _copy_host(k: int, origin: str) -> str:
    return f"c{k}.wikipedia.test" if origin == WIKI_HOST else f"c{k}.halvard.test"


def child(root: str, out_json: str) -> None:
    """The measured part: the whole graph build over `root`, as the flow runs it."""
    from drsynth.storage.store import Store
    from drsynth.synth import graph as G

    store = Store(root)
    config = G.GraphConfig()
    times: dict[str, float] = {}
    started = time.perf_counter()
    version, counts = G.build_entities(store, "bench", config)
    times["entities_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    for batch in G.document_batches(store, config.docs_per_task):
        counts.update(G.link_batch(store, "bench", version, batch, config))
    times["edges_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    report = G.graph_report(store, version)
    times["report_s"] = time.perf_counter() - mark
    times["total_s"] = time.perf_counter() - started
    Path(out_json).write_text(json.dumps({
        **{k: round(v, 2) for k, v in times.items()}, "entities": report["entities"], "edges": report["edges"],
        "components": report["components"]["count"], "not_entities": counts["quarantine.graph.not_an_entity"],
    }))


def measure(size: int, documents: list[dict], redirects: list[dict], scratch: Path,
            origin: str = DEMO_HOST) -> dict:
    root = str(scratch / f"graph-{size}")
    started = time.perf_counter()
    replicate_corpus(root, documents, redirects, size, origin)
    prepare_s = time.perf_counter() - started
    out_json = scratch / f"graph-{size}.json"
    proc = subprocess.Popen([sys.executable, __file__, "--child", root, str(out_json)], stderr=subprocess.PIPE,
                            text=True)
    with TreeMemory(proc.pid, interval=0.02) as memory:
        _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"graph build failed:\n{err[-3000:]}")
    result = json.loads(out_json.read_text())
    return {"documents": size, **result, "docs_per_s": round(size / result["total_s"]),
            "peak_rss_mib": round(memory.peaks.get("main", 0) / 2**20), "prepare_s": round(prepare_s, 1)}


def idle_rss_mib() -> int:
    """RSS of a child that imports the graph stage and does nothing: the floor under every peak."""
    code = "import drsynth.synth.graph, psutil, os; print(psutil.Process(os.getpid()).memory_info().rss)"
    return round(int(subprocess.check_output([sys.executable, "-c", code], cwd=REPO)) / 2**20)


def mentions_2wiki(scratch: Path) -> dict | None:
    if not TWOWIKI.exists():
        return None
    from drsynth.storage.store import Store
    from drsynth.synth import graph as G
    from drsynth.synth.corpus.extract import extract_page
    from drsynth.synth.corpus.local_sources import read_text_corpus
    from drsynth.synth.corpus.stage_output import StageOutput

    store = Store(str(scratch / "2wiki"))
    with StageOutput(store, "bench", "pages", stage="acquire", meta={}) as out:
        for dataset, row in read_text_corpus(TWOWIKI):
            out.write(dataset, row)
    with StageOutput(store, "bench", "documents", stage="extract", meta={}) as out:
        for page in store.rows("pages", ["id", "url", "final_url", "content_type", "body"]):
            out.write(*extract_page(page))
    config = G.GraphConfig()
    started = time.perf_counter()
    version, counts = G.build_entities(store, "bench", config)
    entities_s = time.perf_counter() - started
    mark = time.perf_counter()
    totals: Counter[str] = Counter()
    for batch in G.document_batches(store, config.docs_per_task):
        totals.update(G.link_batch(store, "bench", version, batch, config))
    return {"passages": store.count("documents"), "entities": counts["entities"], "entities_s": round(entities_s, 2),
            "mention_linking_s": round(time.perf_counter() - mark, 2), "mention_edges": totals["edges.added"],
            "ambiguous_mentions": totals["mentions.ambiguous"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated document counts")
    parser.add_argument("--corpus", choices=("demo", "wikidump"), default="demo",
                        help="replicate the demo site's documents or the Wikipedia dump excerpt's")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "OUT_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="drsynth-graph-bench-") as tmp:
        scratch = Path(tmp)
        extraction = None
        if args.corpus == "wikidump":
            documents, redirects, extraction = wikidump_rows()
            rows = [measure(size, documents, redirects, scratch, WIKI_HOST) for size in sizes]
            text = None
        else:
            documents, redirects = demo_rows(str(scratch / "demo"))
            rows = [measure(size, documents, redirects, scratch) for size in sizes]
            text = mentions_2wiki(scratch)
    idle = idle_rss_mib()
    print(json.dumps({"idle_rss_mib": idle, "extraction": extraction, "builds": rows, "mentions_2wiki": text},
                     indent=1))
    print()
    print("| documents | entities | edges | entities s | edges s | total s | docs/s | peak RSS MiB (idle "
          f"{idle}) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['documents']:,} | {r['entities']:,} | {r['edges']:,} | {r['entities_s']} | {r['edges_s']} | "
              f"{r['total_s']} | {r['docs_per_s']:,} | {r['peak_rss_mib']} |")
    if text:
        print(f"\n2wiki: {text['passages']:,} passages, {text['mention_edges']:,} mention edges; entities "
              f"{text['entities_s']} s, mention linking {text['mention_linking_s']} s")


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    main()
