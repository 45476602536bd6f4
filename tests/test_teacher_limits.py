"""Shared limits (flows/limits.py): one Prefect global concurrency limit per teacher endpoint, so parallel
batch tasks of concurrent flow runs together never have more requests in flight than the endpoint's cap."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from drsynth.flows.limits import limit_name


def test_limit_names_are_stable_and_one_per_endpoint_and_model() -> None:
    name = limit_name("http://10.0.0.5:8000/v1", "qwen3-32b")
    assert name == limit_name("http://10.0.0.5:8000/v1/", "qwen3-32b")  # a trailing slash is the same endpoint
    assert name.startswith("teacher-10-0-0-5-8000-v1-qwen3-32b-")
    others = {limit_name("http://10.0.0.6:8000/v1", "qwen3-32b"), limit_name("http://10.0.0.5:8000/v1", "other"),
              limit_name("http://10.0.0.5:8001/v1", "qwen3-32b")}
    assert name not in others and len(others) == 3


def test_the_client_holds_a_slot_per_attempt_and_none_while_backing_off_or_for_a_cache_hit(tmp_path: Path) -> None:
    """The gate the flow installs is entered around each attempt (a retry takes a new slot after its wait),
    with the endpoint as configured and the configured concurrency; a cache hit asks no slot; `run_blocking`
    from inside an event loop still sees the installed gate."""
    import asyncio

    from drsynth.synth.teacher import ResponseCache, TeacherClient, TeacherConfig, run_blocking
    from drsynth.synth.teacher.gate import use_gate
    from tests.openai_server import OpenAIServer, Reply

    entered: list[tuple[str, str, int]] = []
    held = 0

    @contextlib.asynccontextmanager
    async def gate(base_url: str, model: str, cap: int):
        nonlocal held
        entered.append((base_url, model, cap))
        held += 1
        try:
            yield
        finally:
            held -= 1

    async def ask(config: TeacherConfig) -> str:
        async with TeacherClient(config, cache=ResponseCache(tmp_path / "cache.sqlite")) as client:
            return (await client.chat([{"role": "user", "content": "hi"}], purpose="test")).text

    async def inside_a_loop(config: TeacherConfig) -> str:
        return run_blocking(ask(config))  # a sync stage called from async code: a worker thread

    with OpenAIServer(lambda request: "hello", model="m") as server:
        server.script(Reply(status=429, headers={"Retry-After": "0"}))
        config = TeacherConfig(base_urls=(server.base_url,), model="m", max_concurrency=3, backoff_base_s=0.01)
        with use_gate(gate):
            assert asyncio.run(inside_a_loop(config)) == "hello"
            assert entered == [(server.base_url, "m", 3)] * 2 and held == 0  # the 429, then the answer
            assert asyncio.run(inside_a_loop(config)) == "hello"  # from the cache
        assert len(entered) == 2
        assert asyncio.run(ask(TeacherConfig(base_urls=(server.base_url,), model="m", cache=False))) == "hello"
        assert len(entered) == 2  # no gate installed: none taken


def _responder(request: dict) -> str:
    draft = json.loads(request["messages"][-1]["content"])["draft_question"]
    return json.dumps({"question": "Teacher asks: " + draft[0].lower() + draft[1:]})


def _two_concurrent_runs(roots: list[str], graph: str, base_url: str) -> list[dict]:
    """`synthesize_tasks` over each root at once, in threads against the same Prefect API: each run writes
    its questions in 4 parallel batch tasks with 2 requests in flight each (16 together, cap 2)."""
    from drsynth.flows.synthesize_tasks import synthesize_tasks

    config = {"tasks": {"subgraphs": 16, "subgraphs_per_task": 4, "writer": "teacher",
                        "teacher": {"base_url": base_url, "model": "tiny-teacher", "concurrency": 2}}}
    results: list[dict] = []
    errors: list[BaseException] = []

    def run(root: str) -> None:
        try:
            results.append(synthesize_tasks(out=root, graph=graph, config=config))
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    # each thread gets this thread's context: the harness's Prefect settings live in a context variable
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(run, root)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    return results


def test_concurrent_runs_and_batches_never_exceed_the_endpoint_limit(demo_documents: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    import drsynth.flows.limits as flow_limits
    from drsynth.storage.store import Store
    from drsynth.synth.graph import build_graph
    from tests.openai_server import OpenAIServer

    base = os.fspath(tmp_path / "base")
    shutil.copytree(demo_documents, base)
    graph, _ = build_graph(Store(base), "graph-run")
    roots = []
    for name in ("a", "b", "c", "d"):  # a fresh root per run: no run is answered from another's cache
        roots.append(os.fspath(tmp_path / name))
        shutil.copytree(base, roots[-1])

    with prefect_test_harness(server_startup_timeout=180):
        with OpenAIServer(_responder, model="tiny-teacher", latency_s=0.15) as limited:
            runs = _two_concurrent_runs(roots[:2], graph, limited.base_url)
            asked = len(limited.chat_requests())
            seen = limited.max_in_flight
        # 2 runs x 4 batch tasks x 2 requests each could be 16 in flight: the endpoint's limit holds them to 2
        assert 1 <= seen <= 2, seen

        async def the_limit() -> int:
            async with get_client() as client:
                found = await client.read_global_concurrency_limit_by_name(limit_name(limited.base_url,
                                                                                       "tiny-teacher"))
                return found.limit

        import asyncio

        created = asyncio.run(the_limit())

        # the same two runs without the limit: the endpoint sees their batches' requests pile up
        @contextlib.asynccontextmanager
        async def no_limit(base_url: str, model: str, cap: int):
            yield

        monkeypatch.setattr(flow_limits, "endpoint_slot", no_limit)
        with OpenAIServer(_responder, model="tiny-teacher", latency_s=0.15) as unlimited:
            _two_concurrent_runs(roots[2:], graph, unlimited.base_url)
            unlimited_seen = unlimited.max_in_flight

    assert created == 2  # created where missing, sized by [tasks.teacher] concurrency
    for root, run in zip(roots[:2], runs, strict=False):
        assert run["counts"]["tasks.added"] > 0
        con = duckdb.connect(str(Path(root) / "catalog.duckdb"), read_only=True)
        assert {w for (w,) in con.execute("SELECT DISTINCT writer FROM tasks").fetchall()} == {"teacher:tiny-teacher"}
    assert asked >= 16  # both runs asked the teacher, each from several batch tasks
    assert unlimited_seen > 2, unlimited_seen
