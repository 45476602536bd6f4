"""A hook around every teacher request: the orchestrator's shared limit on the endpoint's requests in flight.

The client's own cap (`max_concurrency`) holds within one client, that is one batch task. What holds across
batch tasks and flow runs lives outside this package (flows/limits.py, Prefect's global concurrency limits),
so it comes in as a callable: `gate(base_url, model, cap)` returns an async context manager that is held
while one request is on the wire. `use_gate` installs one for the code it wraps (a context variable: every
client opened inside, in this thread, in the event loops it starts and in `run_blocking`'s worker, sees it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar

# (base_url, model, cap) -> a slot of the endpoint's shared limit, held while one request is in flight;
# `cap` is the configured concurrency, for a limit that does not exist yet
RequestGate = Callable[[str, str, int], AbstractAsyncContextManager[object]]

_gate: ContextVar[RequestGate | None] = ContextVar("teacher_request_gate", default=None)


@contextmanager
def use_gate(gate: RequestGate | None) -> Iterator[None]:
    """Clients opened inside take a slot of `gate` per request (None: no shared limit)."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)


def current_gate() -> RequestGate | None:
    return _gate.get()
