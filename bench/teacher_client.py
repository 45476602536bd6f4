"""Client overhead: TeacherClient beside a bare `AsyncOpenAI` + asyncio.Semaphore loop, same run, same server.

The server (tests/openai_server.py, raw asyncio in its own process) answers every chat completion after a
fixed latency, so throughput is bounded by concurrency / latency and by the client's CPU: the ratio of
requests/s shows what the pool, retries, accounting and request hashing cost. Cache off.

    python bench/teacher_client.py [--latency 0.05] [--concurrency 64 256] [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from drsynth.synth.teacher import RequestLog, TeacherClient, TeacherConfig, request_key, request_row  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are a careful research assistant."},
            {"role": "user", "content": "Which river flows through the capital of Estavia, and how long is it?"}]


async def bare(base_url: str, concurrency: int, n: int) -> tuple[float, float, int]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60.0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> bool:
        async with semaphore:
            reply = await client.chat.completions.create(model="bench-model", messages=MESSAGES, temperature=0.7,
                                                         max_tokens=64)
            return bool(reply.choices[0].message.content)

    await asyncio.gather(*(one(i) for i in range(min(n, concurrency))))  # warm the connections
    wall, cpu = time.perf_counter(), time.process_time()
    ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await client.close()
    return wall, cpu, ok


async def teacher(base_url: str, concurrency: int, n: int) -> tuple[float, float, int]:
    log = RequestLog()
    config = TeacherConfig(base_urls=(base_url,), model="bench-model", max_concurrency=concurrency,
                           timeout_s=60.0, cache=False, temperature=0.7, max_tokens=64)
    client = TeacherClient(config, log=log)

    async def one(i: int) -> bool:
        return (await client.chat(MESSAGES, purpose="bench", sample_index=i)).ok

    await asyncio.gather(*(one(i) for i in range(min(n, concurrency))))
    log.drain()
    wall, cpu = time.perf_counter(), time.process_time()
    ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(log.drain()) == n
    await client.aclose()
    return wall, cpu, ok


def bookkeeping_us(n: int = 20000) -> float:
    """What TeacherClient adds per call that is not the SDK's: the payload, its sha256 key, the row."""
    client = TeacherClient(TeacherConfig(base_urls=("http://127.0.0.1:9/v1",), cache=False))
    started = time.perf_counter()
    for i in range(n):
        payload = client.request_payload(MESSAGES, sample_index=i)
        key = request_key(payload)
        request_row(kind="llm", endpoint="http://127.0.0.1:9/v1", name="m", purpose="bench", request_hash=key,
                    latency_ms=1.0)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "openai_server.py"), "--latency",
                               str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        base_url = f"http://127.0.0.1:{port}/v1"
        print(f"server: fixed latency {args.latency * 1000:.0f} ms, {args.requests} requests per run, "
              f"{args.rounds} rounds (alternating), medians; ceiling = concurrency / latency")
        print(f"{'conc':>5} {'client':>8} {'req/s':>8} {'cpu ms/req':>11} {'ok':>6}")
        for concurrency in args.concurrency:
            runs: dict[str, list[tuple[float, float, int]]] = {"bare": [], "teacher": []}
            for round_ in range(args.rounds):
                order = ("bare", "teacher") if round_ % 2 == 0 else ("teacher", "bare")
                for name in order:
                    run = bare if name == "bare" else teacher
                    runs[name].append(asyncio.run(run(base_url, concurrency, args.requests)))
            for name, results in runs.items():
                rate = statistics.median(args.requests / wall for wall, _, _ in results)
                cpu_ms = statistics.median(cpu / args.requests * 1000 for _, cpu, _ in results)
                ok = min(ok for _, _, ok in results)
                print(f"{concurrency:>5} {name:>8} {rate:>8.0f} {cpu_ms:>11.3f} {ok:>6}")
            # pairs run back to back share the machine's state: the median of their ratios is the robust one
            ratios = [b[0] / t[0] for b, t in zip(runs["bare"], runs["teacher"], strict=True)]
            cpu_ratios = [b[1] / t[1] for b, t in zip(runs["bare"], runs["teacher"], strict=True)]
            print(f"{concurrency:>5} {'ratio':>8} {statistics.median(ratios):>8.3f} {statistics.median(cpu_ratios):>11.3f}"
                  f"   (teacher / bare, req/s and 1 / cpu per req; median of {args.rounds} pairs, "
                  f"min {min(ratios):.3f}, max {max(ratios):.3f}; target >= 0.9; ceiling "
                  f"{concurrency / args.latency:.0f} req/s)")
        print(f"bookkeeping per call, no HTTP (payload, key, row): {bookkeeping_us():.1f} us")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
