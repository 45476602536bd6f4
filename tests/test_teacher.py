"""synth/teacher over real HTTP through the `openai` SDK, against the fault-injecting test server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from drsynth.storage.schemas import schema_for
from drsynth.synth.teacher import (
    ChatResult,
    RequestLog,
    ResponseCache,
    TeacherClient,
    TeacherConfig,
    request_key,
    run_blocking,
)
from drsynth.synth.teacher.requests_log import redact_url, request_row
from tests.openai_server import OpenAIServer, Reply

KEY_ENV = "DRSYNTH_TEST_TEACHER_KEY"
SECRET = "sk-planted-secret-0123456789abcdef"
USER = [{"role": "user", "content": "What is the capital of Estavia?"}]


def config(*urls: str, **overrides) -> TeacherConfig:
    settings = dict(base_urls=urls, model="test-model", api_key_env=KEY_ENV, timeout_s=2.0, max_retries=4,
                    backoff_base_s=0.01, backoff_max_s=0.05, retry_budget_s=20.0, cooldown_s=30.0,
                    temperature=0.0, max_tokens=64)
    settings.update(overrides)
    return TeacherConfig(**settings)


def chat(client: TeacherClient, messages=USER, **kwargs) -> ChatResult:
    async def go() -> ChatResult:
        try:
            return await client.chat(messages, purpose=kwargs.pop("purpose", "test"), **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(go())


def chat_many(client: TeacherClient, n: int) -> list[ChatResult]:
    """n calls in flight at once (sample indexes 0..n-1), then the client closed."""
    async def go() -> list[ChatResult]:
        try:
            return await asyncio.gather(*(client.chat(USER, purpose="t", sample_index=i) for i in range(n)))
        finally:
            await client.aclose()

    return asyncio.run(go())


def chat_in_turn(client: TeacherClient, n: int, **kwargs) -> list[ChatResult]:
    """n calls one after the other (sample indexes 0..n-1), then the client closed."""
    async def go() -> list[ChatResult]:
        try:
            return [await client.chat(USER, purpose="t", sample_index=i, **kwargs) for i in range(n)]
        finally:
            await client.aclose()

    return asyncio.run(go())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def planted_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


# --- configuration


def test_config_from_dict_checks_keys_and_ranges() -> None:
    loaded = TeacherConfig.from_dict({"base_urls": ["http://a:8000/v1", "http://b:8000/v1"], "model": "m",
                                      "extra_body": {"top_k": 20}, "structured_output": "json_object"})
    assert loaded.base_urls == ("http://a:8000/v1", "http://b:8000/v1")
    assert loaded.extra_body == {"top_k": 20}
    assert TeacherConfig.from_dict(loaded.to_dict()) == loaded
    assert TeacherConfig(base_urls="http://a/v1").base_urls == ("http://a/v1",)
    with pytest.raises(ValueError, match=r"base_url\s+Extra inputs are not permitted"):  # an unknown key
        TeacherConfig.from_dict({"base_url": "http://a/v1"})
    for bad in ({"base_urls": []}, {"base_urls": ["ftp://a"]}, {"base_urls": ["http://u:pw@a/v1"]},
                {"max_concurrency": 0}, {"timeout_s": 0}, {"max_retries": -1}, {"backend": "tgi"},
                {"structured_output": "xml"}, {"temperature": 3}, {"api_key_env": "not a name"},
                {"backoff_base_s": 2, "backoff_max_s": 1}, {"extra_body": "top_k=2"}):
        with pytest.raises(ValueError):
            TeacherConfig.from_dict(bad)


def test_request_rows_fit_the_schema_and_redact_endpoints() -> None:
    row = request_row(kind="llm", endpoint="http://user:pw@host:9/v1?api_key=x", name="m", purpose="p",
                      request_hash="h", latency_ms=1.5, parents=["t1"])
    assert row["endpoint"] == "http://host:9/v1"
    names = set(schema_for("requests").names) - {"run_id"}
    assert set(row) == names
    with pytest.raises(ValueError):
        request_row(kind="db", endpoint="x", name="m", purpose="p", request_hash="h", latency_ms=1)
    assert redact_url("/local/index.sqlite") == "/local/index.sqlite"


def test_request_key_is_canonical() -> None:
    assert request_key({"a": 1, "b": [1, 2]}) == request_key({"b": [1, 2], "a": 1})
    assert request_key({"a": 1}) != request_key({"a": 2})


def test_cache_is_shared_across_threads_and_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = ResponseCache(path)

    def put(i: int) -> None:
        cache.put(f"k{i}", {"text": str(i)})

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other = ResponseCache(path)
    assert [other.get(f"k{i}") for i in range(8)] == [{"text": str(i)} for i in range(8)]
    assert other.get("missing") is None
    cache.close()
    other.close()


# --- the happy path and the accounting


def test_a_call_returns_text_usage_and_one_row() -> None:
    log = RequestLog()
    with OpenAIServer(lambda request: "Port Selva is the capital") as server:
        result = chat(TeacherClient(config(server.base_url), log=log), parents=["task-1"],
                      extra_body={"top_k": 20, "repetition_penalty": 1.05}, stop=["</answer>"])
        sent = server.chat_requests()[0]
    assert result.ok and result.text == "Port Selva is the capital"
    assert (result.tokens_in, result.tokens_out, result.retries, result.cache_hit) == (6, 5, 0, False)
    assert sent.body["top_k"] == 20 and sent.body["repetition_penalty"] == 1.05  # vLLM extras pass through
    assert sent.body["stop"] == ["</answer>"] and sent.body["model"] == "test-model"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"  # the key reaches the endpoint, and only it
    [row] = log.drain()
    assert row["kind"] == "llm" and row["name"] == "test-model" and row["endpoint"] == server.base_url
    assert (row["tokens_in"], row["tokens_out"], row["error"], row["parents"]) == (6, 5, None, ["task-1"])
    assert row["request_hash"] == result.request_hash and row["purpose"] == "test"
    assert log.drain() == []


# --- retries, one per fault kind


FAULTS = {
    "429 with Retry-After": Reply(status=429, headers={"Retry-After": "0"},
                                  body={"error": {"message": "slow down"}}),
    "500": Reply(status=500, body={"error": {"message": "boom"}}),
    "503": Reply(status=503, body={"error": {"message": "overloaded"}}),
    "malformed JSON": Reply(body=b"{this is not json"),
    "no choices": Reply(body={"id": "x", "object": "chat.completion", "choices": []}),
    "truncated body": Reply(truncate=True),
    "dropped connection": Reply(close=True),
    "slower than the timeout": Reply(delay_s=5.0),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_retried(fault: str) -> None:
    log = RequestLog()
    with OpenAIServer(lambda request: "fine") as server:
        server.script(FAULTS[fault], FAULTS[fault])
        result = chat(TeacherClient(config(server.base_url, timeout_s=0.5), log=log))
        attempts = len(server.chat_requests())
    assert result.ok and result.text == "fine", result.error
    assert result.retries == 2 and attempts == 3
    [row] = log.drain()
    assert row["retries"] == 2 and row["error"] is None


def test_retry_after_is_honoured() -> None:
    with OpenAIServer(lambda request: "fine") as server:
        server.script(Reply(status=429, headers={"Retry-After": "0.4"}))
        started = time.monotonic()
        result = chat(TeacherClient(config(server.base_url)))
        waited = time.monotonic() - started
    assert result.ok and result.retries == 1
    assert waited >= 0.4  # backoff alone is at most 0.05 s here


def test_a_client_error_is_not_retried() -> None:
    log = RequestLog()
    with OpenAIServer(lambda request: Reply(status=404, body={"error": {"message": "no such model"}})) as server:
        result = chat(TeacherClient(config(server.base_url), log=log))
        attempts = len(server.chat_requests())
    assert attempts == 1 and result.retries == 0
    assert "404" in result.error and "no such model" in result.error
    assert log.drain()[0]["error"] == result.error


def test_retries_are_bounded_and_the_failure_is_a_result() -> None:
    log = RequestLog()
    with OpenAIServer(lambda request: Reply(status=500)) as server:
        result = chat(TeacherClient(config(server.base_url, max_retries=3), log=log))
        attempts = len(server.chat_requests())
    assert attempts == 4 and result.retries == 3
    assert result.text == "" and "gave up after 4 attempts" in result.error and "500" in result.error
    [row] = log.drain()
    assert row["error"] == result.error and row["retries"] == 3


def test_a_server_that_never_answers_does_not_hang() -> None:
    with OpenAIServer(lambda request: Reply(delay_s=60.0)) as server:
        cfg = config(server.base_url, timeout_s=0.3, max_retries=2)
        started = time.monotonic()
        result = chat(TeacherClient(cfg))
        elapsed = time.monotonic() - started
    assert "timeout" in result.error
    # the bound is attempts x timeout + backoff (a correctness bound, not a performance claim)
    assert elapsed < (cfg.max_retries + 1) * (cfg.timeout_s + cfg.backoff_max_s) + 5.0


def test_the_retry_budget_bounds_a_call() -> None:
    with OpenAIServer(lambda request: Reply(status=429, headers={"Retry-After": "30"})) as server:
        started = time.monotonic()
        result = chat(TeacherClient(config(server.base_url, retry_budget_s=1.0)))
        elapsed = time.monotonic() - started
    assert "retry budget" in result.error and elapsed < 10.0


def test_waiting_for_the_cap_does_not_spend_the_retry_budget() -> None:
    with OpenAIServer(lambda request: Reply(body="ok", delay_s=0.15)) as server:
        client = TeacherClient(config(server.base_url, max_concurrency=1, retry_budget_s=0.5))


        results = chat_many(client, 6)
    assert all(r.ok for r in results), [r.error for r in results]  # the last one queued for ~0.75 s


# --- fail-over and load balancing


def test_fail_over_from_a_closed_port() -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    log = RequestLog()
    with OpenAIServer(lambda request: "from the live one") as server:
        client = TeacherClient(config(dead, server.base_url), log=log)

        async def waves() -> tuple[list[ChatResult], list[ChatResult]]:
            try:
                first = await asyncio.gather(*(client.chat(USER, purpose="t", sample_index=i) for i in range(10)))
                second = await asyncio.gather(*(client.chat(USER, purpose="t", sample_index=i)
                                                for i in range(10, 20)))
                return first, second
            finally:
                await client.aclose()

        first, second = asyncio.run(waves())
    assert all(r.ok and r.endpoint == server.base_url for r in first + second)
    assert any(r.retries for r in first)  # the first wave found the dead endpoint ...
    assert not any(r.retries for r in second)  # ... and the second no longer tries it
    assert len(log.drain()) == 20


def test_fail_over_from_an_endpoint_returning_500() -> None:
    with OpenAIServer(lambda request: Reply(status=500)) as bad, OpenAIServer(lambda request: "ok") as good:
        client = TeacherClient(config(bad.base_url, good.base_url))

        async def sequential() -> list[ChatResult]:
            try:
                return [await client.chat(USER, purpose="t", sample_index=i) for i in range(6)]
            finally:
                await client.aclose()

        results = asyncio.run(sequential())
        assert all(r.ok for r in results)
        assert len(bad.chat_requests()) == 1  # then it cools down and the others take the traffic
        assert len(good.chat_requests()) == 6


def test_load_is_spread_over_endpoints() -> None:
    slow = lambda request: Reply(body="ok", delay_s=0.05)  # noqa: E731
    with OpenAIServer(slow) as one, OpenAIServer(slow) as two:
        client = TeacherClient(config(one.base_url, two.base_url))


        assert all(r.ok for r in chat_many(client, 20))
        assert len(one.chat_requests()) >= 5 and len(two.chat_requests()) >= 5


def test_the_concurrency_cap_holds() -> None:
    with OpenAIServer(lambda request: Reply(body="ok", delay_s=0.05)) as one, \
            OpenAIServer(lambda request: Reply(body="ok", delay_s=0.05)) as two:
        client = TeacherClient(config(one.base_url, two.base_url, max_concurrency=3))


        assert all(r.ok for r in chat_many(client, 24))
        assert max(one.max_in_flight, two.max_in_flight) <= 3
    with OpenAIServer(lambda request: Reply(body="ok", delay_s=0.05)) as server:
        client = TeacherClient(config(server.base_url, max_concurrency=4))


        assert all(r.ok for r in chat_many(client, 30))
        assert server.max_in_flight == 4  # reached, never passed


# --- the response cache


def test_cache_hits_on_rerun_make_no_http_call(tmp_path: Path) -> None:
    path = tmp_path / "teacher.sqlite"
    first_log, second_log = RequestLog(), RequestLog()
    with OpenAIServer(lambda request: "cached answer") as server:
        first = chat(TeacherClient(config(server.base_url), cache=ResponseCache(path), log=first_log))
        calls = len(server.chat_requests())
        second = chat(TeacherClient(config(server.base_url), cache=ResponseCache(path), log=second_log))
        assert len(server.chat_requests()) == calls == 1  # the second client made zero HTTP calls
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.text == first.text and second.tokens_out == first.tokens_out
    [row] = second_log.drain()
    assert row["cache_hit"] is True and row["error"] is None and row["request_hash"] == first.request_hash


def test_sample_index_and_parameters_change_the_key(tmp_path: Path) -> None:
    path = tmp_path / "teacher.sqlite"
    with OpenAIServer(lambda request: "x") as server:
        cfg = config(server.base_url)

        async def calls() -> list[ChatResult]:
            client = TeacherClient(cfg, cache=ResponseCache(path))
            try:
                return [await client.chat(USER, purpose="t", sample_index=0),
                        await client.chat(USER, purpose="t", sample_index=1),
                        await client.chat(USER, purpose="t", sample_index=1),
                        await client.chat(USER, purpose="t", sample_index=1, temperature=0.9),
                        await client.chat(USER, purpose="t", sample_index=1, json_schema={"type": "object"})]
            finally:
                await client.aclose()

        results = asyncio.run(calls())
        assert len(server.chat_requests()) == 4
    assert [r.cache_hit for r in results] == [False, False, True, False, False]
    assert len({r.request_hash for r in results}) == 4


def test_failures_are_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "teacher.sqlite"
    with OpenAIServer(lambda request: "late answer") as server:
        server.script(*[Reply(status=500)] * 2)
        failed = chat(TeacherClient(config(server.base_url, max_retries=1), cache=ResponseCache(path)))
        later = chat(TeacherClient(config(server.base_url, max_retries=1), cache=ResponseCache(path)))
    assert failed.error and later.ok and not later.cache_hit


def test_cache_off_in_config_ignores_the_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "teacher.sqlite")
    with OpenAIServer(lambda request: "x") as server:
        chat(TeacherClient(config(server.base_url, cache=False), cache=cache))
    assert len(ResponseCache(tmp_path / "teacher.sqlite")) == 0


# --- structured output


SCHEMA = {"title": "question", "type": "object", "properties": {"question": {"type": "string"}},
          "required": ["question"]}


def test_json_schema_is_sent_when_supported() -> None:
    with OpenAIServer(lambda request: '{"question": "Which?"}') as server:
        result = chat(TeacherClient(config(server.base_url)), json_schema=SCHEMA)
        [sent] = server.chat_requests()
    assert json.loads(result.text) == {"question": "Which?"}
    assert sent.body["response_format"]["type"] == "json_schema"
    assert sent.body["response_format"]["json_schema"]["schema"] == SCHEMA


@pytest.mark.parametrize(("supported", "expected"), [({"json_object"}, ["json_schema", "json_object"]),
                                                     (set(), ["json_schema", "json_object", None])])
def test_structured_output_falls_back_and_remembers(supported: set[str], expected: list) -> None:
    with OpenAIServer(lambda request: '{"question": "Which?"}', response_formats=supported) as server:
        client = TeacherClient(config(server.base_url))

        results = chat_in_turn(client, 2, json_schema=SCHEMA)
        kinds = [(r.body.get("response_format") or {}).get("type") for r in server.chat_requests()]
    assert all(r.ok and r.retries == 0 for r in results)
    assert kinds == [*expected, expected[-1]]  # the second call goes straight to what worked
    fallback = server.chat_requests()[-1].body["messages"][0]
    assert fallback["role"] == "system" and "JSON schema" in fallback["content"]


def test_a_strict_json_schema_setting_does_not_fall_back() -> None:
    with OpenAIServer(lambda request: "{}", response_formats=set()) as server:
        result = chat(TeacherClient(config(server.base_url, structured_output="json_schema")), json_schema=SCHEMA)
        assert len(server.chat_requests()) == 1
    assert "400" in result.error


# --- secrets


def test_the_api_key_reaches_no_row_cache_log_or_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    echo = lambda request: Reply(status=401, body={"error": {"message": f"bad key {SECRET}"}})  # noqa: E731
    caplog.set_level(logging.DEBUG)
    log = RequestLog()
    path = tmp_path / "teacher.sqlite"
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with OpenAIServer(lambda request: "fine") as good, OpenAIServer(echo) as rude:
        results = [
            chat(TeacherClient(config(dead, good.base_url), cache=ResponseCache(path), log=log)),
            chat(TeacherClient(config(rude.base_url), cache=ResponseCache(path), log=log), sample_index=1),
            chat(TeacherClient(config(good.base_url), cache=ResponseCache(path), log=log)),
        ]
    assert results[0].ok and results[1].error and results[2].cache_hit
    assert "***" in results[1].error
    rows = log.drain()
    assert len(rows) == 3
    texts = [json.dumps(rows, default=str), repr(results), caplog.text]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.iterdir()]
    assert caplog.records  # the SDK did log at DEBUG, so the check below has something to look at
    for text in texts:
        assert SECRET not in text
    assert SECRET not in repr(TeacherClient(config(good.base_url)).config)


def test_a_key_past_the_error_cut_is_scrubbed_before_cutting() -> None:
    """The server's message is long and names the key where the error text gets cut: no prefix of the
    key may survive the cut."""
    long = lambda request: Reply(status=401, body={"error": {"message": "x" * 284 + f" key: {SECRET}"}})  # noqa: E731
    log = RequestLog()
    with OpenAIServer(long) as rude:
        result = chat(TeacherClient(config(rude.base_url), log=log))
    assert result.error
    row_text = json.dumps(log.drain(), default=str)
    for text in (result.error, row_text):
        assert not any(SECRET[:n] in text for n in range(8, len(SECRET) + 1))


# --- the test server itself, and calling from sync code


def test_the_test_server_streams_and_truncates_streams() -> None:
    import openai

    with OpenAIServer(lambda request: "one two three four") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0, timeout=5)
        stream = client.chat.completions.create(model="m", messages=USER, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two three four"
        server.script(Reply(truncate=True))
        with pytest.raises(openai.APIConnectionError):
            for _ in client.chat.completions.create(model="m", messages=USER, stream=True):
                pass
        client.close()


def test_run_blocking_works_inside_and_outside_an_event_loop() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def from_async_code() -> int:
        return run_blocking(answer())  # a sync stage called from a coroutine must not deadlock

    assert run_blocking(answer()) == 42
    assert asyncio.run(from_async_code()) == 42


# --- the in-process vLLM backend


def test_vllm_backend_explains_a_missing_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_vllm(name: str, *args, **kwargs):
        if name == "vllm" or name.startswith("vllm."):
            raise ImportError("No module named 'vllm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vllm)
    with pytest.raises(ImportError, match=r"install drsynth\[vllm\] on a GPU machine"):
        TeacherClient(TeacherConfig(backend="vllm", model="Qwen/Qwen3-0.6B"))


# --- review fixes: cancellation, structured-output fallback, the cache's wiring and thread, URLs ------------


def test_a_cancelled_call_still_writes_its_row(tmp_path: Path) -> None:
    log = RequestLog()
    cache = ResponseCache(tmp_path / "teacher.sqlite")
    with OpenAIServer(lambda request: Reply("late", delay_s=5.0)) as server:
        client = TeacherClient(config(server.base_url, timeout_s=30.0), cache=cache, log=log)

        async def go() -> None:
            try:  # what the agent runner's wall-time limit does to a call in flight
                await asyncio.wait_for(client.chat(USER, purpose="agent", parents=["t1"]), timeout=0.3)
            finally:
                await client.aclose()

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            asyncio.run(go())
        assert time.monotonic() - started < 4.0
    [row] = log.drain()
    assert (row["error"], row["purpose"], row["parents"], row["cache_hit"]) == ("cancelled", "agent", ["t1"], False)
    assert row["request_hash"] == request_key(client.request_payload(USER)) and row["latency_ms"] >= 250
    assert len(cache) == 0  # nothing half-done is cached
    cache.close()


def test_an_unrelated_400_with_a_schema_is_an_error_not_a_downgrade() -> None:
    too_long = Reply(status=400, body={"error": {"message": "This model's maximum context length is 32768 "
                                                            "tokens. However, you requested 40000 tokens."}})
    with OpenAIServer(lambda request: '{"question": "Which?"}') as server:
        server.script(too_long)
        client = TeacherClient(config(server.base_url))

        first, second = chat_in_turn(client, 2, json_schema=SCHEMA)
        kinds = [r.body["response_format"]["type"] for r in server.chat_requests()]
    assert "HTTP 400" in first.error and "maximum context length" in first.error and first.retries == 0
    assert second.ok
    assert kinds == ["json_schema", "json_schema"]  # one attempt each, and the endpoint keeps json_schema


@pytest.mark.parametrize("message", ["response_format 'json_schema' is not supported by this server",
                                     "guided decoding backend 'xgrammar' cannot handle this schema",
                                     "Structured outputs are not enabled on this deployment"])
def test_a_structured_output_refusal_still_downgrades(message: str) -> None:
    with OpenAIServer(lambda request: '{"question": "Which?"}') as server:
        server.script(Reply(status=400, body={"error": {"message": message}}))
        result = chat(TeacherClient(config(server.base_url)), json_schema=SCHEMA)
        kinds = [r.body["response_format"]["type"] for r in server.chat_requests()]
    assert result.ok and kinds == ["json_schema", "json_object"]


def test_the_cache_is_read_and_written_off_the_event_loop(tmp_path: Path) -> None:
    threads: dict[str, list[int]] = {"get": [], "put": []}

    class Watched(ResponseCache):
        def get(self, key: str) -> dict | None:
            threads["get"].append(threading.get_ident())
            return super().get(key)

        def put(self, key: str, value: dict) -> None:
            threads["put"].append(threading.get_ident())
            super().put(key, value)

    cache = Watched(tmp_path / "teacher.sqlite")
    with OpenAIServer(lambda request: "fine") as server:
        client = TeacherClient(config(server.base_url), cache=cache)

        async def go() -> tuple[int, list[ChatResult]]:
            try:
                return threading.get_ident(), [await client.chat(USER, purpose="t") for _ in range(2)]
            finally:
                await client.aclose()

        loop_thread, (first, second) = asyncio.run(go())
    assert first.ok and not first.cache_hit and second.cache_hit
    assert len(threads["get"]) == 2 and len(threads["put"]) == 1
    assert loop_thread not in threads["get"] + threads["put"]
    cache.close()


def test_default_cache_lives_under_a_local_root_and_not_a_remote_one(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.storage.store import Store
    from drsynth.synth.teacher import default_cache, default_cache_path

    store = Store(str(tmp_path / "data"))
    cache = default_cache(store)
    assert cache is not None and default_cache_path(store) == str(tmp_path / "data" / "_cache" / "teacher.sqlite")
    assert cache.path == tmp_path / "data" / "_cache" / "teacher.sqlite" and cache.path.exists()
    assert store.datasets() == []  # `_cache` is no dataset
    cache.close()
    monkeypatch.chdir(tmp_path)  # a remote root's catalog file lives in the working directory
    remote = Store(f"memory://drsynth-teacher-{time.time_ns()}")
    assert default_cache(remote) is None and default_cache_path(remote) is None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_agent_stage_gives_its_client_the_store_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           enabled: bool) -> None:
    from collections import Counter

    import drsynth.synth.agent.synthesize as agent_stage
    import drsynth.synth.teacher.client as client_module
    import drsynth.synth.tools.toolbox as toolbox
    from drsynth.storage.store import Store

    built: list[TeacherClient] = []

    class Recording(TeacherClient):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    async def no_batch(*args, **kwargs) -> Counter[str]:
        return Counter()

    monkeypatch.setattr(client_module, "TeacherClient", Recording)
    monkeypatch.setattr(toolbox, "default_toolbox", lambda *args, **kwargs: None)
    monkeypatch.setattr(agent_stage, "run_batch", no_batch)
    store = Store(str(tmp_path / "data"))
    agent_stage.write_trajectories(store, "run", None, agent_stage.AgentConfig(policy="teacher"),
                                   config("http://127.0.0.1:9/v1", cache=enabled))
    [client] = built
    if enabled:
        assert client.cache is not None and client.cache.path == tmp_path / "data" / "_cache" / "teacher.sqlite"
        client.cache.close()
    else:
        assert client.cache is None and not (tmp_path / "data" / "_cache").exists()


@pytest.mark.parametrize("url", ["http://a:8000/v1?api-key=sk-planted-in-the-url",
                                 "https://a/v1#sk-planted-in-the-url", "ftp://a/v1?sk-planted-in-the-url"])
def test_base_urls_with_a_query_or_fragment_are_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValueError, match="base_urls") as refused:
        TeacherConfig(base_urls=(url,))
    assert "sk-planted" not in str(refused.value)
