"""Peak RSS of `drsynth run` over 1k and 10k HTML documents: memory must stay flat as input grows.

Pages are real ones (the shared readability corpus, or the demo site) replicated under new names, so
each copy has its own id. The whole CLI runs in a subprocess (Prefect flow, acquisition, extraction
processes, commits, catalog) and its process tree is sampled: the main process, the extraction
workers and Prefect's ephemeral server are reported apart.

    .venv/bin/python bench/ingest_memory.py [--sizes 1000 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import TreeMemory, corpus_pages, replicate


def run(size: int, workers: int, scratch: Path) -> dict:
    source = scratch / f"html-{size}"
    source.mkdir()
    for name, html in replicate(corpus_pages(), size):
        (source / f"{name}.html").write_bytes(html)
    config = scratch / "bench.toml"
    config.write_text(f"[extract]\nworkers = {workers}\n")
    out = scratch / f"out-{size}"
    env = {**os.environ, "PREFECT_HOME": str(scratch / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "drsynth.flows.cli", "run", "--source", str(source), "--out", str(out), "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    with TreeMemory(proc.pid) as memory:
        _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"drsynth run failed:\n{err[-3000:]}")
    import duckdb

    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    bad = con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    mib = {k: round(v / 2**20) for k, v in memory.peaks.items()}
    return {"pages": size, "documents": docs, "quarantined": bad, "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="drsynth-bench-") as tmp:
        for size in args.sizes:
            result = run(size, args.workers, Path(tmp))
            results.append(result)
            print(json.dumps(result), flush=True)
    first, last = results[0]["peak_rss_mib"], results[-1]["peak_rss_mib"]
    growth = last["main"] / first["main"]
    print(f"main-process peak RSS: {first['main']} MiB at {args.sizes[0]} pages -> {last['main']} MiB at "
          f"{args.sizes[-1]} pages (x{growth:.2f} for x{args.sizes[-1] / args.sizes[0]:.0f} input)")
    print(f"extraction workers' peak RSS (all together): {first.get('workers', 0)} -> {last.get('workers', 0)} MiB")


if __name__ == "__main__":
    main()
