"""Row builders for the datasets the corpus stage writes (`pages`, `quarantine`).

Stages build plain dicts that match `storage.schemas`; the dataset writer fills in `run_id`.
Ids are content-derived (storage.ids) so that a rerun over the same input adds nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from drsynth.storage.ids import content_id, sha256_hex

# how much of an offending input a quarantine row keeps, for debugging
QUARANTINE_SAMPLE_BYTES = 4096


def now_utc() -> datetime:
    return datetime.now(UTC)


def page_record(
    *,
    url: str,
    body: bytes,
    content_type: str,
    source: str,
    source_kind: str,
    final_url: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
    depth: int | None = None,
) -> dict:
    digest = sha256_hex(body)
    return {
        # the same bytes at the same final URL are the same page, whenever and by whichever link (the
        # article itself or a redirect to it) they were reached: a crawl's page ids, and so its graph
        # version, do not depend on which of two links the fetchers happened to follow first
        "id": content_id("page", final_url or url, digest),
        "parents": [],
        "url": url,
        "final_url": final_url or url,
        "status": status,
        "content_type": content_type,
        "headers": json.dumps(dict(headers or {}), sort_keys=True),
        "fetched_at": fetched_at or now_utc(),
        "body": body,
        "body_sha256": digest,
        "size": len(body),
        "depth": depth,
        "source": source,
        "source_kind": source_kind,
    }


def redirect_record(*, url: str, target: str, status: int, source: str) -> dict:
    return {
        "id": content_id("redirect", url, target),
        "parents": [],
        "url": url,
        "target": target,
        "status": status,
        "source": source,
        "at": now_utc(),
    }


def quarantine_record(
    *,
    stage: str,
    reason: str,
    source: str,
    detail: str = "",
    input: bytes | str | None = None,
    parents: list[str] | None = None,
) -> dict:
    data = input.encode("utf-8", "replace") if isinstance(input, str) else (input or b"")
    return {
        "id": content_id("quarantine", stage, reason, source, sha256_hex(data)),
        "parents": list(parents or []),
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "source": source,
        "input": data[:QUARANTINE_SAMPLE_BYTES],
        "input_size": len(data),
        "at": now_utc(),
    }
