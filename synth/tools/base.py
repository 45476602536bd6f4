"""What every agent tool shares: argument validation, a timeout, retries, a cache and a `requests` row.

A tool never raises into the agent loop: bad arguments, a timeout, a crash inside the tool all come back
as a `ToolResult` whose `text` is readable by the agent and whose `error` says what went wrong. Only a
cancellation goes on up (after the call's `requests` row is recorded with error `cancelled`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from drsynth.synth.teacher.requests_log import RequestLog


@dataclass
class ToolResult:
    text: str  # what the agent sees, errors included
    error: str | None = None  # a short machine-readable reason when the call failed
    cache_hit: bool = False


class ToolError(Exception):
    """A failure the agent should read (unknown URL, bad query): not retried."""


class TransientToolError(ToolError):
    """A failure worth retrying (connection reset, 5xx from a hosted API)."""


class Cache(Protocol):
    def get(self, key: str) -> dict | None: ...
    def put(self, key: str, value: dict) -> None: ...


class LRUCache:
    """In-memory, thread-safe, bounded: the default cache of a tool."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: dict) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def make_cache(cache: Cache | str | os.PathLike | bool | None) -> Cache | None:
    """None/True -> in-memory LRU; a path -> the persistent ResponseCache; False -> no cache."""
    if cache is None or cache is True:
        return LRUCache()
    if cache is False:
        return None
    if isinstance(cache, str | os.PathLike):
        from drsynth.synth.teacher.cache import ResponseCache

        return ResponseCache(cache)
    return cache


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,),
}


def validate_arguments(schema: Mapping[str, Any], arguments: Any) -> dict:
    """The arguments checked against a (small subset of) JSON schema, lightly coerced.

    Models often pass a single string where a list of strings is declared; that one is wrapped rather
    than refused. Raises ValueError with a message meant for the agent.
    """
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not a JSON object: {exc.msg}") from None
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(arguments).__name__}")
    properties: Mapping[str, Any] = schema.get("properties", {})
    out: dict[str, Any] = {}
    for name in schema.get("required", ()):
        if name not in arguments or arguments[name] is None:
            raise ValueError(f"missing required argument '{name}'")
    for name, value in arguments.items():
        spec = properties.get(name)
        if spec is None:
            if schema.get("additionalProperties", True) is False:
                raise ValueError(f"unknown argument '{name}' (expected: {', '.join(properties)})")
            continue
        out[name] = _check_value(name, spec, value)
    return out


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec.get("type")
    if kind == "array" and isinstance(value, str):
        value = [value]
    if kind is not None:
        accepted = _JSON_TYPES.get(kind, (object,))
        if not isinstance(value, accepted) or (kind in ("integer", "number") and isinstance(value, bool)):
            raise ValueError(f"argument '{name}' must be {kind}, got {type(value).__name__}")
    if kind == "array":
        item_spec = spec.get("items", {})
        value = [_check_value(f"{name}[{i}]", item_spec, item) for i, item in enumerate(value)]
        if len(value) < spec.get("minItems", 0):
            raise ValueError(f"argument '{name}' needs at least {spec['minItems']} item(s)")
        if "maxItems" in spec and len(value) > spec["maxItems"]:
            raise ValueError(f"argument '{name}' takes at most {spec['maxItems']} items")
    if kind == "string" and len(value) < spec.get("minLength", 0):
        raise ValueError(f"argument '{name}' must not be empty")
    if "enum" in spec and value not in spec["enum"]:
        raise ValueError(f"argument '{name}' must be one of {spec['enum']}")
    return value


# the parents of the call in progress: each asyncio task has its own copy, so concurrent trajectories sharing
# one tool never see each other's lineage (a tool that makes its own requests rows reads it in `run`)
_CALL_PARENTS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("tool_call_parents", default=())


def call_parents() -> tuple[str, ...]:
    """The `parents` of the tool call this code runs in (empty outside one)."""
    return _CALL_PARENTS.get()


def bind_call_parents(parents: tuple[str, ...]) -> None:
    """Name the records the calls made from here on (in this asyncio task) serve: an agent's task."""
    _CALL_PARENTS.set(tuple(parents))


class Tool(ABC):
    """One agent tool. Subclasses set name/description/parameters and implement `run`."""

    name: str = ""
    description: str = ""
    parameters: dict = {}  # noqa: RUF012 - a JSON schema, overridden per subclass
    version: str = "1"  # part of the cache key: bump when the output of the same arguments changes

    def __init__(self, *, log: RequestLog | None = None, cache: Cache | str | os.PathLike | bool | None = None,
                 timeout_s: float = 30.0, retries: int = 2, backoff_s: float = 0.2,
                 purpose: str = "agent") -> None:
        self.log = log
        self.cache = make_cache(cache)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.purpose = purpose

    @property
    def endpoint(self) -> str:
        """Where the answers come from (index path, API base URL), never with credentials."""
        return f"local:{self.name}"

    def schema(self) -> dict:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def cache_identity(self) -> dict:
        """What besides the arguments decides the output (index path, budgets): part of the cache key."""
        return {}

    @abstractmethod
    async def run(self, arguments: dict) -> ToolResult:
        """Do the work on validated arguments. Raise ToolError / TransientToolError, or return a result."""

    async def __call__(self, arguments: dict | str, *, parents: Sequence[str] = ()) -> ToolResult:
        token = _CALL_PARENTS.set(tuple(parents))
        try:
            return await self._call(arguments, tuple(parents))
        finally:
            _CALL_PARENTS.reset(token)

    async def _call(self, arguments: dict | str, parents: tuple[str, ...]) -> ToolResult:
        started = time.perf_counter()
        retries = 0
        key = ""
        try:
            args = validate_arguments(self.parameters, arguments)
        except ValueError as exc:
            result = ToolResult(f"[{self.name}] invalid arguments: {exc}", error="invalid_arguments")
            self._record(key, started, retries, result, parents)
            return result
        key = self._key(args)
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            result = ToolResult(cached["text"], cached.get("error"), cache_hit=True)
            self._record(key, started, retries, result, parents)
            return result
        result: ToolResult | None = None
        try:
            while True:
                try:
                    result = await asyncio.wait_for(self.run(args), self.timeout_s)
                    break
                except (TransientToolError, TimeoutError) as exc:
                    if retries >= self.retries:
                        reason = "timeout" if isinstance(exc, TimeoutError) else "transient"
                        detail = f"timed out after {self.timeout_s:g}s" if reason == "timeout" else str(exc)
                        result = ToolResult(f"[{self.name}] failed after {retries + 1} attempt(s): {detail}",
                                            error=reason)
                        break
                    retries += 1
                    delay = self.backoff_s * 2 ** (retries - 1)
                    await asyncio.sleep(delay * (0.5 + random.random()))
                except ToolError as exc:
                    result = ToolResult(f"[{self.name}] {exc}", error="tool_error")
                    break
                except Exception as exc:  # a bug in a tool must not end the trajectory
                    result = ToolResult(f"[{self.name}] internal error: {type(exc).__name__}: {exc}",
                                        error="internal")
                    break
        finally:
            # a call cancelled midway (the runner's wall time, a cancelled batch) still leaves its requests row;
            # the cancellation itself goes on up
            self._record(key, started, retries,
                         result or ToolResult(f"[{self.name}] cancelled", error="cancelled"), parents)
        if result.error is None and self.cache is not None:
            self.cache.put(key, {"text": result.text, "error": None})
        return result

    def _key(self, args: dict) -> str:
        from drsynth.synth.teacher.cache import request_key

        return request_key({"tool": self.name, "version": self.version, "identity": self.cache_identity(),
                            "arguments": args})

    def _record(self, key: str, started: float, retries: int, result: ToolResult,
                parents: Sequence[str]) -> None:
        if self.log is None:
            return
        from drsynth.synth.teacher.requests_log import request_row

        self.log.record(request_row(
            kind="tool", endpoint=self.endpoint, name=self.name, purpose=self.purpose, request_hash=key,
            latency_ms=(time.perf_counter() - started) * 1000.0, retries=retries,
            cache_hit=result.cache_hit, error=result.error, parents=tuple(parents),
            tokens_in=0, tokens_out=0,
        ))


class Toolbox(Mapping[str, Tool]):
    """The tools an agent may call, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"two tools named {tool.name!r}")
        self._tools[tool.name] = tool

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def schemas(self) -> list[dict]:
        return [tool.schema() for tool in self._tools.values()]

    async def call(self, name: str, arguments: dict | str, *, parents: Sequence[str] = ()) -> ToolResult:
        """Call a tool by name; an unknown name is an error the agent reads, not an exception."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return ToolResult(f"Unknown tool '{name}'. Available tools: {known}.", error="unknown_tool")
        return await tool(arguments, parents=parents)
