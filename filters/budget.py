"""Budgeted rejection sampling: generate trajectories a wave at a time, judge each wave, and stop a level
once `budget_per_level` trajectories of it are accepted. The plan of the next wave is computed from what is
committed, so an interrupted run resumes and a finished one plans nothing."""

from __future__ import annotations

import math
from typing import Any

from filters.config import FilterConfig
from filters.rejection import accepted_per_level
from filters.screen import screened_tasks
from storage.batches import RowBatch, plan_batches
from storage.store import Store
from synth.agent.synthesize import AgentConfig, trajectory_batches


def next_wave(store: Store, agent: AgentConfig, filter_config: FilterConfig, fingerprint: str,
              teacher_config: Any = None) -> list[RowBatch]:
    """One batch per level still under budget: enough pending tasks for the missing accepted trajectories
    if every sample were accepted (at least one task), smallest task ids first. Empty when every level is
    full or has no pending task left."""
    budget = filter_config.budget_per_level
    accepted = accepted_per_level(store, fingerprint)
    removed = screened_tasks(store, fingerprint)
    levels = {row["id"]: row["level"] for row in store.rows("tasks", ["id", "level"])}
    pending = [i for b in trajectory_batches(store, 1 << 30, agent.tasks_per_level, config=agent,
                                             teacher_config=teacher_config) for i in b.ids]
    by_level: dict[int, list[str]] = {}
    for task_id in sorted(pending):
        if task_id not in removed:
            by_level.setdefault(levels[task_id], []).append(task_id)
    wave: list[RowBatch] = []
    for level, ids in sorted(by_level.items()):
        missing = budget - accepted[level]
        if missing <= 0:
            continue
        take = set(ids[: max(1, math.ceil(missing / agent.samples))])
        wave.extend(_batches_of(store, take, agent.tasks_per_batch))
    return wave


def _batches_of(store: Store, ids: set[str], per_task: int) -> list[RowBatch]:
    return plan_batches(store, "tasks", per_task, keep=ids.__contains__)
