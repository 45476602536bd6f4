"""Latency percentiles of the agent tools over the demo corpus: search and visit, cold and cached.

The demo site is crawled and extracted into a temporary root, the search index is built (timed), then
every document gives one search query (its title plus two words of its first sentence) and one visit
(its URL with a goal made of words of a later sentence). "cold" is the first call of each (nothing
cached; for visit the first call also loads the URL map), "warm" the same calls again on a tool
without a cache (index pages and documents in memory), "cached" the same calls answered by the
tool's cache. A few PythonInterpreter runs show the sandbox's start-up cost.

    .venv/bin/python bench/tool_latency.py [--rounds 3] [--python-runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsynth.storage.store import Store
from drsynth.synth.corpus.demo.offline import ingest_demo_site
from drsynth.synth.teacher.requests_log import RequestLog
from drsynth.synth.tools.python_sandbox import PythonInterpreter
from drsynth.synth.tools.search import Search, SearchIndex
from drsynth.synth.tools.text import content_words
from drsynth.synth.tools.visit import CorpusPages, Visit


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(values), "p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99),
            "mean": round(statistics.fmean(values), 3)}


def workload(store: Store) -> tuple[list[str], list[tuple[str, str]]]:
    queries, visits = [], []
    for doc in store.rows("documents", ["url", "title", "text"]):
        lines = [line for line in (doc["text"] or "").split("\n") if len(line) > 40]
        if not lines:
            continue
        queries.append(" ".join([doc["title"] or "", *content_words(lines[0])[:2]]).strip())
        goal_words = content_words(lines[min(2, len(lines) - 1)])[:6]
        visits.append((doc["url"], " ".join(goal_words) or "summary"))
    return queries, visits


async def timed(tool, calls: list[dict]) -> list[float]:
    out = []
    for arguments in calls:
        started = time.perf_counter()
        result = await tool(arguments)
        out.append((time.perf_counter() - started) * 1000.0)
        assert result.error in (None, "not_found"), result.text[:200]
    return out


async def measure(store: Store, index: SearchIndex, rounds: int) -> dict:
    queries, visits = workload(store)
    search_calls = [{"query": [q]} for q in queries]
    visit_calls = [{"url": [u], "goal": g} for u, g in visits]
    report = {}
    for name, make, calls in [("search", lambda cache: Search(index, cache=cache, log=RequestLog()), search_calls),
                              ("visit", lambda cache: Visit(CorpusPages(store), cache=cache, log=RequestLog()),
                               visit_calls)]:
        cached_tool = make(None)
        cold = await timed(cached_tool, calls)
        cached = []
        for _ in range(rounds):
            cached += await timed(cached_tool, calls)
        uncached_tool = make(False)
        await timed(uncached_tool, calls[:1])
        warm = []
        for _ in range(rounds):
            warm += await timed(uncached_tool, calls)
        report[name] = {"cold_ms": percentiles(cold), "warm_uncached_ms": percentiles(warm),
                        "cached_ms": percentiles(cached)}
    return report


async def sandbox_runs(runs: int) -> dict:
    tool = PythonInterpreter(cache=False)
    times = await timed(tool, [{"code": f"print(sum(range({n})))"} for n in range(runs)])
    return {"layers": tool.layers, "run_ms": percentiles(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"{tmp}/data")
        ingest_demo_site(store, "bench-tools")
        started = time.perf_counter()
        index = SearchIndex(f"{tmp}/index/search.sqlite")
        counts = index.update(store)
        build_s = time.perf_counter() - started
        result = {"documents": store.count("documents"), "index": dict(counts),
                  "index_build_s": round(build_s, 3)}
        result.update(asyncio.run(measure(store, index, args.rounds)))
        if args.python_runs:
            result["PythonInterpreter"] = asyncio.run(sandbox_runs(args.python_runs))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
