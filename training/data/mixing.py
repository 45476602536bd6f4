"""Mixing CPT stages: each stage draws from the `stage` pools (short, long) in configured shares.

A stage's size is set by its scarcest pool relative to its share, so no pool repeats within a stage: with
100 short and 20 long samples, a 0.9 / 0.1 mix takes 100 short and 11 long. A pool with a share but no
samples is dropped and the other shares renormalised (reported, never silent).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Mix(Generic[T]):
    items: list[T]
    taken: dict[str, int] = field(default_factory=dict)  # pool -> items drawn from it
    missing: list[str] = field(default_factory=list)  # pools with a share but no samples


def mix(pools: Mapping[str, Sequence[T]], shares: Mapping[str, float], seed: int) -> Mix[T]:
    """One stage's items: `shares` of each pool, shuffled together (deterministic for a seed)."""
    wanted = {name: share for name, share in shares.items() if share > 0}
    missing = sorted(name for name in wanted if not pools.get(name))
    active = {name: share for name, share in wanted.items() if name not in missing}
    if not active:
        return Mix([], {}, missing)
    total = sum(active.values())
    active = {name: share / total for name, share in active.items()}
    size = min(len(pools[name]) / share for name, share in active.items())
    rng = random.Random(seed)
    items: list[T] = []
    taken: dict[str, int] = {}
    for name in sorted(active):
        pool = list(pools[name])
        rng.shuffle(pool)
        count = min(len(pool), max(1, round(size * active[name])))
        items.extend(pool[:count])
        taken[name] = count
    rng.shuffle(items)
    return Mix(items, taken, missing)


def split_steps(sizes: Sequence[int], total: int) -> list[int]:
    """`total` steps shared among stages in proportion to their sizes (largest remainder; every
    non-empty stage gets at least one step when total allows)."""
    weight = sum(sizes)
    if total <= 0 or weight <= 0:
        return [0] * len(sizes)
    exact = [total * s / weight for s in sizes]
    steps = [int(e) for e in exact]
    order = sorted(range(len(sizes)), key=lambda i: exact[i] - steps[i], reverse=True)
    for i in order[: total - sum(steps)]:
        steps[i] += 1
    for i, size in enumerate(sizes):
        if size and not steps[i]:
            donor = max(range(len(steps)), key=lambda j: steps[j])
            if steps[donor] > 1:
                steps[donor] -= 1
                steps[i] = 1
    return steps
