"""One async client for a pool of OpenAI-compatible endpoints (e.g. several `vllm serve` replicas).

Per call: the response cache first; then attempts, each on the healthy endpoint with the fewest requests in
flight, under the client's concurrency cap, a slot of the endpoint's shared limit where one is installed
(synth/teacher/gate.py) and a hard per-attempt timeout; retries on 429 (Retry-After is
honoured), 5xx, timeouts, connection errors and malformed bodies, with exponential backoff and full jitter,
bounded by `max_retries` and `retry_budget_s`. A failed call is a `ChatResult` with `error`, never an
exception, and every call (cache hits and failures too) is one row in the `requests` log.

The SDK's own retries are off (max_retries=0): the retry policy, the fail-over and the accounting live here.

A call cancelled from outside (`asyncio.timeout` / `wait_for` around it) still writes its row, with error
"cancelled", and then re-raises. The SQLite cache is read and written in a worker thread
(`asyncio.to_thread`), never on the event loop: a slow disk or a locked database stalls one call, not all.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import itertools
import json
import os
import random
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from drsynth.synth.teacher.cache import ResponseCache, request_key
from drsynth.synth.teacher.config import TeacherConfig
from drsynth.synth.teacher.gate import RequestGate, current_gate
from drsynth.synth.teacher.requests_log import RequestLog, redact_url, request_row

__all__ = ["ChatResult", "TeacherClient", "TeacherConfig", "run_blocking"]

# structured-output modes from the strongest; an endpoint that rejects one is asked with the next
_FALLBACK = {"json_schema": "json_object", "json_object": "off", "off": "off"}
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# words in a 400/422 that say the server refused the structured-output request itself
_STRUCTURED_MARKERS = ("response_format", "json_schema", "json schema", "json_object", "guided", "structured",
                       "grammar")
_ERROR_CHARS = 500
T = TypeVar("T")


@dataclass
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None
    endpoint: str
    latency_ms: float
    retries: int
    cache_hit: bool
    error: str | None
    request_hash: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class _Retry(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(self, message: str, *, retry_after: float | None = None, endpoint_down: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.endpoint_down = endpoint_down


class _Fatal(Exception):
    """One attempt failed in a way no retry will fix (a 4xx other than the retryable ones)."""


class _Rejected(Exception):
    """The endpoint refused the structured-output mode: ask it again with a weaker one."""


@dataclass
class _Endpoint:
    url: str  # redacted: safe for rows and messages
    client: Any  # openai.AsyncOpenAI, or the in-process backend
    mode: str  # the structured-output mode this endpoint is asked with
    base_url: str = ""  # as configured: names the endpoint's shared limit
    in_flight: int = 0
    down_until: float = 0.0


class TeacherClient:
    def __init__(self, config: TeacherConfig, *, cache: ResponseCache | None = None,
                 log: RequestLog | None = None, gate: RequestGate | None = None) -> None:
        self.config = config
        self.cache = cache if config.cache else None
        self.log = log if log is not None else RequestLog()
        self._key = os.environ.get(config.api_key_env) or ""
        mode = "json_schema" if config.structured_output == "auto" else config.structured_output
        if config.backend == "vllm":
            from drsynth.synth.teacher.vllm_backend import VLLMBackend  # imported only when chosen

            self._endpoints = [_Endpoint(f"vllm:{config.model}", VLLMBackend(config), mode)]
        else:
            self._endpoints = [
                _Endpoint(redact_url(url), openai.AsyncOpenAI(base_url=url, api_key=self._key or "EMPTY",
                                                              timeout=config.timeout_s, max_retries=0), mode,
                          url)
                for url in config.base_urls
            ]
        self._turn = itertools.count()
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        # the shared limit across batch tasks and runs (given, or installed by the flow around this code);
        # an in-process vLLM engine is this process's alone: nothing to share, it schedules its own batch
        self._gate = (gate or current_gate()) if config.backend == "openai" else None

    @property
    def endpoints(self) -> list[str]:
        return [e.url for e in self._endpoints]

    async def aclose(self) -> None:
        for endpoint in self._endpoints:  # the cache is the caller's: it may serve other clients
            await endpoint.client.close()

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def request_payload(self, messages: list[dict], *, sample_index: int = 0, temperature: float | None = None,
                        max_tokens: int | None = None, json_schema: dict | None = None,
                        stop: list[str] | None = None, extra_body: dict | None = None) -> dict:
        """The whole request as asked, the cache key's input: sample_index makes k samples k keys."""
        return {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature if temperature is None else temperature,
            "max_tokens": self.config.max_tokens if max_tokens is None else max_tokens,
            "stop": list(stop) if stop else None,
            "json_schema": json_schema,
            "extra_body": {**self.config.extra_body, **(extra_body or {})},
            "sample_index": sample_index,
        }

    async def chat(self, messages: list[dict], *, purpose: str, sample_index: int = 0,
                   temperature: float | None = None, max_tokens: int | None = None,
                   json_schema: dict | None = None, stop: list[str] | None = None,
                   extra_body: dict | None = None, parents: Sequence[str] = ()) -> ChatResult:
        """The assistant's reply. Never raises for a failed request: the result carries the error. A
        cancellation (a timeout around the call) is re-raised after the call's row is written."""
        started = time.monotonic()
        payload = self.request_payload(messages, sample_index=sample_index, temperature=temperature,
                                       max_tokens=max_tokens, json_schema=json_schema, stop=stop,
                                       extra_body=extra_body)
        key = request_key(payload)
        result: ChatResult | None = None
        try:
            try:
                result = await self._cached(key, started) if self.cache is not None else None
                if result is None:
                    result = await self._call(payload, key, started)
                    if result.error is None and self.cache is not None:
                        value = {"text": result.text, "tokens_in": result.tokens_in,
                                 "tokens_out": result.tokens_out, "finish_reason": result.finish_reason,
                                 "endpoint": result.endpoint}
                        await asyncio.to_thread(self.cache.put, key, value)  # SQLite off the event loop
            except Exception as error:  # a bug or a broken cache file is one call's error, never the batch's
                result = ChatResult("", 0, 0, None, self._endpoints[0].url, _ms(started), 0, False,
                                    self._scrub(f"{type(error).__name__}: {error}"), key)
        finally:
            if result is None:  # cancelled (a timeout around the call) before any result: still one row
                result = ChatResult("", 0, 0, None, self._endpoints[0].url, _ms(started), 0, False, "cancelled",
                                    key)
            self.log.record(request_row(
                kind="llm", endpoint=result.endpoint, name=self.config.model, purpose=purpose, request_hash=key,
                latency_ms=result.latency_ms, retries=result.retries, cache_hit=result.cache_hit,
                tokens_in=result.tokens_in, tokens_out=result.tokens_out, error=result.error, parents=parents))
        return result

    async def _cached(self, key: str, started: float) -> ChatResult | None:
        hit = await asyncio.to_thread(self.cache.get, key) if self.cache is not None else None
        if hit is None:
            return None
        return ChatResult(hit["text"], hit.get("tokens_in", 0), hit.get("tokens_out", 0), hit.get("finish_reason"),
                          hit.get("endpoint", ""), _ms(started), 0, True, None, key)

    async def _call(self, payload: dict, key: str, started: float) -> ChatResult:
        config = self.config
        deadline: float | None = None  # the budget starts at the first attempt, not in the queue for the cap
        retries = 0
        last_error = "no attempt was made"
        while True:
            async with self._semaphore:
                endpoint = self._pick()  # picked under the cap, so in-flight counts are current
                endpoint.in_flight += 1  # counted while it waits for the shared slot too: others go elsewhere
                timeout = config.timeout_s
                try:
                    async with self._slot(endpoint):  # the attempt's clock starts once the endpoint has room
                        now = time.monotonic()
                        deadline = deadline if deadline is not None else now + config.retry_budget_s
                        timeout = min(config.timeout_s, deadline - now)
                        if timeout <= 0:
                            return self._failed(endpoint, started, retries, f"retry budget of "
                                                f"{config.retry_budget_s}s spent; last error: {last_error}", key)
                        async with asyncio.timeout(timeout):
                            text, tokens_in, tokens_out, finish = await self._attempt(endpoint, payload)
                    endpoint.down_until = 0.0
                    return ChatResult(text, tokens_in, tokens_out, finish, endpoint.url, _ms(started), retries,
                                      False, None, key)
                except _Rejected:
                    endpoint.mode = _FALLBACK[endpoint.mode]  # remembered for this endpoint; not a retry
                    continue
                except _Fatal as error:
                    return self._failed(endpoint, started, retries, str(error), key)
                except TimeoutError:
                    failure = _Retry(f"timeout after {timeout:.3g}s from {endpoint.url}", endpoint_down=True)
                except _Retry as error:
                    failure = error
                finally:
                    endpoint.in_flight -= 1
            # the caps are released while waiting: a backing-off call holds no slot, local or shared
            last_error = str(failure)
            if failure.endpoint_down and len(self._endpoints) > 1:
                endpoint.down_until = time.monotonic() + config.cooldown_s
            if retries >= config.max_retries:
                return self._failed(endpoint, started, retries, f"gave up after {retries + 1} attempts; "
                                                                f"last error: {last_error}", key)
            wait = random.uniform(0.0, min(config.backoff_max_s, config.backoff_base_s * 2 ** retries))
            if failure.retry_after is not None:
                wait = max(wait, failure.retry_after)
            if time.monotonic() + wait >= deadline:
                return self._failed(endpoint, started, retries, f"retry budget of {config.retry_budget_s}s "
                                                                f"would be spent waiting {wait:.3g}s; last "
                                                                f"error: {last_error}", key)
            retries += 1
            await asyncio.sleep(wait)

    def _slot(self, endpoint: _Endpoint) -> contextlib.AbstractAsyncContextManager[object]:
        """One slot of the endpoint's shared limit, held by one attempt while it is on the wire."""
        if self._gate is None:
            return contextlib.nullcontext()
        return self._gate(endpoint.base_url, self.config.model, self.config.max_concurrency)

    def _pick(self) -> _Endpoint:
        """The healthy endpoint with the fewest requests in flight, ties taken in turn; when every endpoint
        is cooling down, the one that recovers first."""
        endpoints = self._endpoints
        if len(endpoints) == 1:
            return endpoints[0]
        now = time.monotonic()
        start = next(self._turn) % len(endpoints)
        order = endpoints[start:] + endpoints[:start]
        healthy = [e for e in order if e.down_until <= now]
        if not healthy:
            return min(order, key=lambda e: e.down_until)
        return min(healthy, key=lambda e: e.in_flight)

    async def _attempt(self, endpoint: _Endpoint, payload: dict) -> tuple[str, int, int, str | None]:
        if self.config.backend == "vllm":
            return await endpoint.client.chat(payload)
        messages, response_format = _structured(payload["messages"], payload["json_schema"], endpoint.mode)
        extra: dict[str, Any] = {}
        if payload["stop"]:
            extra["stop"] = payload["stop"]
        if response_format is not None:
            extra["response_format"] = response_format
        if payload["extra_body"]:
            extra["extra_body"] = payload["extra_body"]
        try:
            reply = await endpoint.client.chat.completions.create(
                model=payload["model"], messages=messages, temperature=payload["temperature"],
                max_tokens=payload["max_tokens"], **extra)
        except openai.APIStatusError as error:
            status = error.status_code
            detail = self._scrub(f"HTTP {status} from {endpoint.url}: {_message(error)}")[:_ERROR_CHARS]
            if response_format is not None and status in (400, 422) and self.config.structured_output == "auto" \
                    and endpoint.mode != "off" and _about_structured_output(error):
                raise _Rejected(detail) from None
            if status in _RETRYABLE_STATUS:
                raise _Retry(detail, retry_after=_retry_after(error.response)) from None
            if status >= 500:
                raise _Retry(detail, endpoint_down=True) from None
            raise _Fatal(detail) from None
        except openai.APITimeoutError:
            raise _Retry(f"timeout from {endpoint.url}", endpoint_down=True) from None
        except openai.APIConnectionError as error:
            raise _Retry(self._scrub(f"connection error to {endpoint.url}: {_cause(error)}")[:_ERROR_CHARS],
                         endpoint_down=True) from None
        except (openai.OpenAIError, ValueError, TypeError, KeyError) as error:  # a body the SDK cannot read
            raise _Retry(self._scrub(f"malformed response from {endpoint.url}: "
                                     f"{type(error).__name__}: {error}")) from None
        try:
            choice = reply.choices[0]
            text = choice.message.content
        except (AttributeError, IndexError, TypeError):
            raise _Retry(f"malformed response from {endpoint.url}: no choices") from None
        if not isinstance(text, str):
            raise _Retry(f"malformed response from {endpoint.url}: no message content")
        usage = getattr(reply, "usage", None)
        return (text, int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0),
                choice.finish_reason)

    def _failed(self, endpoint: _Endpoint, started: float, retries: int, error: str, key: str) -> ChatResult:
        return ChatResult("", 0, 0, None, endpoint.url, _ms(started), retries, False,
                          self._scrub(error)[:_ERROR_CHARS], key)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if len(self._key) >= 4 else text


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from synchronous code: in this thread when no event loop runs here,
    else in a worker thread with its own loop (a sync stage called from async code must not deadlock it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()  # the worker sees what this thread set (the shared-limit gate)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


def _structured(messages: list[dict], schema: dict | None, mode: str) -> tuple[list[dict], dict | None]:
    """The messages and `response_format` for asking for JSON under `schema` in `mode`. Below json_schema
    the schema travels in a system message (json_object mode also needs the word JSON in the prompt)."""
    if schema is None:
        return messages, None
    if mode == "json_schema":
        return messages, {"type": "json_schema",
                          "json_schema": {"name": str(schema.get("title") or "response"), "schema": schema}}
    note = {"role": "system", "content": "Reply with one JSON object that follows this JSON schema:\n"
                                         + json.dumps(schema, sort_keys=True)}
    return [note, *messages], ({"type": "json_object"} if mode == "json_object" else None)


def _retry_after(response: Any) -> float | None:
    """Seconds from Retry-After (or retry-after-ms), a number or an HTTP date; None when absent."""
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _about_structured_output(error: openai.APIStatusError) -> bool:
    """Whether a 400/422 is the server refusing the structured-output request (and not, say, a prompt past
    the context length): only such a refusal moves the endpoint to a weaker mode, for good."""
    text = f"{error.message} {error.body}".lower()
    return any(marker in text for marker in _STRUCTURED_MARKERS)


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    return str(body if body is not None else error.message)[:20_000]  # scrubbed, then cut, by the caller


def _cause(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    return f"{type(cause).__name__}: {cause}"[:20_000] if cause is not None else str(error)


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
