"""Shared limits: one Prefect global concurrency limit per teacher endpoint, held by every teacher request.

vLLM serves at most `--max-num-seqs` sequences at once and queues the rest; a client that sends more only
lengthens the queue and the tail latency, and several batch tasks of several flow runs each with their own
client cap would multiply it. So every request to an endpoint takes one slot of a global concurrency limit
named after the endpoint (`limit_name`: a stable slug of base_url and model); the Prefect server counts
slots across batch tasks, flow runs and workers, and the sum of requests in flight never exceeds the limit.

Granularity: one slot per request attempt (the client calls the gate around each attempt, synth/teacher/
gate.py), not N slots per batch task. A batch's requests in flight vary: cache hits take none, a call
backing off after a 429 holds none, the tail of a batch has few; a task holding its N slots for its whole
life would idle the server, and one with N above the limit could never start. The cost is two Prefect API
calls (increment, release) per teacher request, small next to a generation.

The limit is created where missing, with the configured concurrency (`[teacher] max_concurrency`,
`[tasks.teacher] concurrency`) as its size. Where it exists its size wins: the operator sizes it to the
server (`prefect gcl create|update teacher-... --limit N`), and the runs follow without a redeploy.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from urllib.parse import urlsplit

from drsynth.synth.teacher.gate import RequestGate, use_gate

logger = logging.getLogger(__name__)

_ensured: set[str] = set()  # limits this process has seen exist: one lookup per limit per process
_ensured_lock = threading.Lock()


def limit_name(base_url: str, model: str) -> str:
    """The global concurrency limit of the endpoint `base_url` serving `model`: readable (host, port, path,
    model) and stable, with a digest of the exact pair so that two endpoints never share a limit."""
    parts = urlsplit(base_url.rstrip("/"))
    readable = re.sub(r"[^a-z0-9]+", "-", f"{parts.netloc}{parts.path}-{model}".lower()).strip("-")[:60]
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{model}".encode()).hexdigest()[:8]
    return f"teacher-{readable}-{digest}"


def ensure_limit(name: str, cap: int) -> None:
    """Create the global concurrency limit `name` with `cap` slots where it does not exist yet. Serialized in
    the process (its batch tasks all start at once: one creates, the others find it); a run in another
    process that creates it in between is the same outcome."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with _ensured_lock:
        if name in _ensured:
            return
        with get_client(sync_client=True) as client:
            try:
                existing = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                try:
                    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=cap))
                    logger.info("teacher limit %s created with %d slots", name, cap)
                except ObjectAlreadyExists:
                    pass
            else:
                if existing.limit != cap:
                    logger.info("teacher limit %s has %d slots (configured concurrency %d): the limit wins",
                                name, existing.limit, cap)
        _ensured.add(name)


@asynccontextmanager
async def endpoint_slot(base_url: str, model: str, cap: int) -> AsyncIterator[None]:
    """One slot of the endpoint's limit, held while one request is in flight (a `RequestGate`)."""
    from prefect.concurrency.asyncio import concurrency

    name = limit_name(base_url, model)
    if name not in _ensured:
        await asyncio.to_thread(ensure_limit, name, cap)  # once per process; off the event loop
    # strict: a limit deleted under a running flow fails the request instead of letting it through unlimited;
    # a lease renewal that fails once (a slow API) must not kill a request in flight, the lease outlives it
    async with concurrency(name, occupy=1, strict=True, raise_on_lease_renewal_failure=False):
        yield


def teacher_limits(gate: RequestGate | None = None) -> AbstractContextManager[None]:
    """Around a batch task's teacher use: every teacher request inside takes a slot of its endpoint's limit."""
    return use_gate(gate or endpoint_slot)
