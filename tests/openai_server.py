"""A real OpenAI-compatible HTTP server for tests: the `openai` SDK talks to it over a socket.

    with OpenAIServer(lambda request: "hello") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k")
        ...
        server.requests  # every request: path, headers, JSON body

Routes: POST /v1/chat/completions (streaming or not) and GET /v1/models. The `responder` gets the request
JSON and returns the assistant's content (str), a complete response body (dict, sent as is), or a
`Reply` to control status, headers, body and delay.

Fault injection: `server.script(Reply(status=429, headers={"Retry-After": "0"}), Reply(close=True), ...)`
queues replies that the next chat requests get, in order, before the responder is asked again. A `Reply`
can delay (`delay_s`, e.g. past the client's timeout), send any status, send a malformed body (bytes),
`truncate` the body (or the stream) and drop the connection, or `close` it without answering at all.
`response_formats` is the set of `response_format` types the server accepts (the rest get a 400, as a
server without structured output would answer); `latency_s` delays every chat reply; `in_flight` and
`max_in_flight` count concurrent chat requests.

Fault mode: `OpenAIServer(responder, faults=Faults(rate=0.3, seed=7))` fails a seeded share of the chat
requests in every way a teacher server can (`FAULT_KINDS`: 429 with Retry-After, 500, 503, a stall past
the client's timeout, a malformed or truncated body, a 200 that is no completion, a dropped connection, a
401 whose body echoes the API key it was sent). Whether a request fails is a function of the seed, the
request body and how many times that body was asked before (a retry draws again); the faults take the
kinds in turn, so a run with as many faults as kinds meets each. `server.injected` counts them by kind.

`python tests/openai_server.py --latency 0.05` runs a different, fast server (raw asyncio, one process)
with fixed latency for benchmarks: it prints its port on stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ALL_FORMATS = frozenset({"text", "json_object", "json_schema"})


@dataclass
class Reply:
    body: dict | str | bytes = ""  # a dict is sent as JSON; a str as the assistant's content; bytes as is
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    truncate: bool = False  # send half of the body (or of the stream), then drop the connection
    close: bool = False  # drop the connection without sending anything


FAULT_KINDS = ("rate_limit", "server_error", "unavailable", "timeout", "malformed", "truncated", "wrong_shape",
               "dropped", "unauthorized")


@dataclass(frozen=True)
class Faults:
    """A seeded share of chat requests that fail, and the ways they fail (see the module docstring)."""

    rate: float = 0.3
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    stall_s: float = 2.0  # how long a `timeout` fault stalls: set it past the client's timeout
    retry_after: str = "0"  # the Retry-After header of a 429

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds or not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"faults: rate within 0..1 and kinds among {FAULT_KINDS}, got {self.rate}, {self.kinds}")

    def fails(self, body: dict, seen: int) -> bool:
        """Whether the `seen`-th asking of this request body fails."""
        digest = hashlib.sha256(f"{self.seed}|{seen}|{json.dumps(body, sort_keys=True)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.rate

    def reply(self, kind: str, body: dict, api_key: str, completion: Callable[[dict, str], dict]) -> Reply:
        error = {"error": {"message": f"injected {kind}", "type": "server_error", "code": kind}}
        if kind == "rate_limit":
            return Reply(status=429, body=error, headers={"Retry-After": self.retry_after})
        if kind == "server_error":
            return Reply(status=500, body=error)
        if kind == "unavailable":
            return Reply(status=503, body=error)
        if kind == "timeout":
            return Reply(delay_s=self.stall_s, close=True)
        if kind == "malformed":
            return Reply(body=b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "')
        if kind == "truncated":
            return Reply(body=completion(body, "a reply cut in half on the wire"), truncate=True)
        if kind == "wrong_shape":
            return Reply(body={"object": "chat.completion", "choices": []})
        if kind == "dropped":
            return Reply(close=True)
        # what careless servers do: quote the key they refused
        return Reply(status=401, body={"error": {"message": f"Incorrect API key provided: {api_key}",
                                                 "type": "invalid_request_error", "code": "invalid_api_key"}})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None


Responder = Callable[[dict], "str | dict | Reply"]


class OpenAIServer:
    def __init__(self, responder: Responder, *, model: str = "test-model", host: str = "127.0.0.1",
                 response_formats: frozenset[str] | set[str] = ALL_FORMATS, latency_s: float = 0.0,
                 faults: Faults | None = None) -> None:
        self.responder = responder
        self.model = model
        self.response_formats = frozenset(response_formats)
        self.latency_s = latency_s
        self.faults = faults
        self.injected: collections.Counter[str] = collections.Counter()
        self._asked: collections.Counter[str] = collections.Counter()  # request body -> times asked
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._server.request_queue_size = 1024
        self._thread = threading.Thread(target=self._server.serve_forever, name="openai-test-server", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # wakes handlers that are delaying
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply) -> None:
        """The next chat requests get these replies, in order; then the responder again."""
        with self._lock:
            self._script.extend(replies)

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, body: dict, api_key: str = "") -> Reply:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            fault = None
            if scripted is None and self.faults is not None:
                key = json.dumps(body, sort_keys=True)
                if self.faults.fails(body, self._asked[key]):
                    # the kinds in turn: a run with as many faults as kinds meets every kind
                    fault = self.faults.kinds[sum(self.injected.values()) % len(self.faults.kinds)]
                    self.injected[fault] += 1
                self._asked[key] += 1
        if fault is not None:
            return self.faults.reply(fault, body, api_key, self.completion)
        reply = scripted if scripted is not None else self.responder(body)
        return reply if isinstance(reply, Reply) else Reply(body=reply)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def completion(self, request: dict, content: str) -> dict:
        return completion(request, content, next(self._ids), self.model)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict | bytes, headers: dict[str, str] | None = None,
                      truncate: bool = False) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if truncate else data)
                if truncate:
                    self.close_connection = True

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": {"message": message, "type": "invalid_request_error",
                                              "code": status}})

            def _stream(self, request: dict, reply: Reply) -> None:
                content = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks(request, content, server.model)]
                events.append(b"data: [DONE]\n\n")
                if reply.truncate:
                    events = events[: max(1, len(events) // 2)]
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in events:
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                if reply.truncate:
                    self.close_connection = True  # no terminating chunk: the stream ends mid-message
                    return
                self.wfile.write(b"0\r\n\r\n")

            def do_GET(self) -> None:
                server._record(RecordedRequest("GET", self.path, _headers(self), None))
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "created": 0, "owned_by": "tests"}]})
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = None
                server._record(RecordedRequest("POST", self.path, _headers(self), body))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}")
                    return
                if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                    self._error(400, "the body must be a JSON object with a messages list")
                    return
                server._enter()
                try:
                    self._chat(body)
                finally:
                    server._leave()

            def _chat(self, body: dict) -> None:
                kind = (body.get("response_format") or {}).get("type")
                if kind is not None and kind not in server.response_formats:
                    self._error(400, f"response_format {kind!r} is not supported by this server")
                    return
                authorization = self.headers.get("Authorization") or ""
                reply = server._next_reply(body, authorization.removeprefix("Bearer "))
                delay = reply.delay_s + server.latency_s
                if delay and server._closing.wait(delay):
                    self.close_connection = True
                    return
                if reply.close:
                    self.close_connection = True
                    return
                if body.get("stream") and reply.status == 200 and not isinstance(reply.body, bytes):
                    self._stream(body, reply)
                    return
                payload = reply.body
                if isinstance(payload, str):
                    payload = server.completion(body, payload)
                self._send(reply.status, payload, reply.headers, truncate=reply.truncate)

        return Handler


def completion(request: dict, content: str, number: int, model: str) -> dict:
    prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    prompt_tokens, completion_tokens = len(prompt.split()), len(content.split())
    return {
        "id": f"chatcmpl-test-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def chunks(request: dict, content: str, model: str) -> list[dict]:
    """The streamed form of a completion: one chunk per word, then the finish reason."""
    base = {"id": "chatcmpl-test-stream", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": request.get("model") or model}
    words = content.split(" ")
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        out.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return out


def _headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {name.lower(): value for name, value in handler.headers.items()}


# --- the benchmark server: raw asyncio HTTP/1.1 keep-alive, fixed latency, a canned completion


async def serve_fixed_latency(host: str, port: int, latency_s: float, ready: Callable[[int], None]) -> None:
    counter = itertools.count(1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                raw = await reader.readexactly(length) if length else b""
                request = json.loads(raw) if raw else {}
                if latency_s:
                    await asyncio.sleep(latency_s)
                data = json.dumps(completion(request, "ok", next(counter), "bench-model")).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(data)).encode() + b"\r\n\r\n" + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=4096)
    ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="a fixed-latency OpenAI-compatible server for benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per chat completion")
    args = parser.parse_args()
    asyncio.run(serve_fixed_latency(args.host, args.port, args.latency, lambda port: print(port, flush=True)))


if __name__ == "__main__":
    main()
