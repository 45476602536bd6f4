"""Reading one `[section]` of the TOML settings into its dataclass: unknown keys are an error, not a typo
that silently keeps a default."""

from __future__ import annotations

import dataclasses
from typing import Any


def section_items(cls: type, data: dict[str, Any] | None, section: str) -> dict[str, Any]:
    """A copy of `data` after checking that every key names a field of the dataclass `cls`."""
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown [{section}] key(s) {sorted(unknown)}; known: {sorted(known)}")
    return data
