"""Extraction stage throughput against a bare `trafilatura.extract` loop, same pages, same processes.

The stage is the real one (`synth.corpus.ingest.extract`): it reads pages from committed shards,
extracts in worker processes (text, metadata, links with context sentences, infobox, tables, bold
terms, language) and commits `documents`. The baseline runs `trafilatura.extract(html)` over the
same pages in a pool of the same size, handed out in chunks of the same size. Both pools are started
and warmed before the clock starts. Targets: stage/baseline >= 0.9 with one process; stage with two
processes >= 1.8x stage with one.

    .venv/bin/python bench/extract_throughput.py [--pages 520] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import corpus_pages, replicate
from drsynth.storage.store import Store
from drsynth.synth.corpus import ingest
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.extract_pool import ExtractionPool
from drsynth.synth.corpus.records import page_record

CHUNK = IngestConfig().extract.pages_per_chunk


def bare_chunk(htmls: list[bytes]) -> int:
    import trafilatura

    return sum(len(trafilatura.extract(h) or "") for h in htmls)


def baseline(pages: list[bytes], workers: int) -> float:
    chunks = [pages[i : i + CHUNK] for i in range(0, len(pages), CHUNK)]
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(bare_chunk, [pages[:2]] * workers * 2))  # start and warm every worker
        started = time.perf_counter()
        list(pool.map(bare_chunk, chunks))
        return len(pages) / (time.perf_counter() - started)


def stage(root: Path, workers: int, run: int) -> float:
    # a fresh root per measurement, so every page is pending again
    out = root / f"w{workers}-r{run}"
    store = Store(out)
    with store.writer("pages", "bench") as writer:
        for name, html in PAGES:
            writer.write(page_record(url=f"http://bench.test/{name}", body=html, content_type="text/html",
                                     source="bench", source_kind="html_dir"))
    cfg = IngestConfig.from_dict({"extract": {"workers": workers}})
    with ExtractionPool(workers, timeout_s=cfg.extract.timeout_s, max_bytes=cfg.extract.max_bytes) as pool:
        list(pool.map_batches([[{"id": "w", "url": "http://w.test/", "content_type": "text/html",
                                 "body": PAGES[0][1]}]] * workers * 2))
        started = time.perf_counter()
        for batch in ingest.pending_batches(store, cfg.extract.pages_per_task):
            ingest.extract(store, "bench", batch, pool, cfg)
        elapsed = time.perf_counter() - started
    assert store.count("documents") + store.count("quarantine") == len(PAGES)
    return len(PAGES) / elapsed


PAGES: list[tuple[str, bytes]] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=520)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for each measurement")
    args = parser.parse_args()
    PAGES.extend(replicate(corpus_pages(), args.pages))
    htmls = [html for _, html in PAGES]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="drsynth-bench-") as tmp:
        for workers in (1, 2):
            results[f"baseline_{workers}p"] = max(baseline(htmls, workers) for _ in range(args.repeats))
            results[f"stage_{workers}p"] = max(stage(Path(tmp), workers, r) for r in range(args.repeats))
    report = {
        "pages": len(PAGES),
        **{f"{k}_pages_per_s": round(v, 1) for k, v in results.items()},
        "stage_vs_baseline_1p": round(results["stage_1p"] / results["baseline_1p"], 3),
        "stage_vs_baseline_2p": round(results["stage_2p"] / results["baseline_2p"], 3),
        "stage_scaling_1p_to_2p": round(results["stage_2p"] / results["stage_1p"], 3),
        "baseline_scaling_1p_to_2p": round(results["baseline_2p"] / results["baseline_1p"], 3),
    }
    print(json.dumps(report, indent=1))
    print(f"target stage/baseline >= 0.9 at 1 process: {report['stage_vs_baseline_1p']}; "
          f"target 1->2 process scaling >= 1.8: {report['stage_scaling_1p_to_2p']}")


if __name__ == "__main__":
    main()
