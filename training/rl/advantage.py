"""Leave-one-out advantages within a task's group of rollouts.

A_i = r_i - mean_{j != i} r_j, over the rollouts of the group that are INCLUDED in the loss. A rollout
without a final answer (termination != "answer": a format error, a limit reached, a timeout) is excluded
from the loss and from the baseline too: it says nothing about how good an answer is, and counting its
reward (0) in the others' baselines would reward them merely for ending with an answer. An excluded
rollout's advantage is 0. A group with fewer than two included rollouts has no baseline: its included
rollout gets advantage 0 as well (it contributes tokens to the count but no gradient).
"""

from __future__ import annotations

from collections.abc import Sequence


def leave_one_out(rewards: Sequence[float], included: Sequence[bool]) -> list[float]:
    """The advantage of each rollout of one group (0.0 for the excluded ones)."""
    if len(rewards) != len(included):
        raise ValueError(f"{len(rewards)} rewards for {len(included)} inclusion flags")
    n = sum(1 for keep in included if keep)
    if n < 2:
        return [0.0] * len(rewards)
    total = sum(r for r, keep in zip(rewards, included, strict=True) if keep)
    return [r - (total - r) / (n - 1) if keep else 0.0 for r, keep in zip(rewards, included, strict=True)]


def group_advantages(groups: Sequence[tuple[Sequence[float], Sequence[bool]]]) -> list[list[float]]:
    """`leave_one_out` for each (rewards, included) group."""
    return [leave_one_out(rewards, included) for rewards, included in groups]
