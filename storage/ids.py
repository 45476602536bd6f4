"""Stable, content-derived record ids.

An id is a hash of the record's canonical content and the parameters that made it, never of the
run: re-running the same inputs with the same parameters yields the same ids, which is what lets a
commit skip rows that are already there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_id(*parts: Any) -> str:
    """32 hex chars of BLAKE2b over the canonical JSON of `parts`."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
