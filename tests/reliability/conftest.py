"""The fault suite: crashes, teacher faults, hostile inputs, determinism, sandbox escapes.

Every test here is marked `reliability`, so the suite runs alone with `pytest -m reliability`.
CI runs the fast setting (fewer kills, a smaller hostile set); `make reliability` runs the full
setting (`DRSYNTH_RELIABILITY=full`) and prints the figures the README records.
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("DRSYNTH_RELIABILITY", "fast") == "full"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if os.fspath(item.path).startswith(here):
            item.add_marker(pytest.mark.reliability)


def figure(name: str, value: object) -> None:
    """Print one figure of the suite (`make reliability` shows them; the README records them)."""
    print(f"\nRELIABILITY {name}: {value}", flush=True)
