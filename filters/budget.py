"""Budgeted rejection sampling: generate trajectories a wave at a time, judge each wave, and stop a level
once `budget_per_level` trajectories of it are accepted. The plan of the next wave is computed from what is
committed, so an interrupted run resumes and a finished one plans nothing.

A task whose agent run left a quarantine row (a policy or agent error, a trajectory row that did not fit
its schema) stays pending, and planning it again could repeat the same failure wave after wave: waves
move on to other tasks instead (a run without a budget retries it), so every wave tries new tasks and the
loop ends when every level is full or no untried task is left."""

from __future__ import annotations

import math
from typing import Any

import pyarrow.compute as pc

from drsynth.filters.config import FilterConfig
from drsynth.filters.rejection import accepted_per_level
from drsynth.filters.screen import screened_tasks
from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.store import Store
from drsynth.synth.agent.synthesize import STAGE as AGENT_STAGE
from drsynth.synth.agent.synthesize import AgentConfig, policy_identity, sample_ids, trajectory_batches


def next_wave(store: Store, agent: AgentConfig, filter_config: FilterConfig, fingerprint: str,
              teacher_config: Any = None) -> list[RowBatch]:
    """One batch per level still under budget: enough pending tasks for the missing accepted trajectories
    if every sample were accepted (at least one task), smallest task ids first. Empty when every level is
    full or has no untried pending task left."""
    budget = filter_config.budget_per_level
    accepted = accepted_per_level(store, fingerprint)
    removed = screened_tasks(store, fingerprint)
    failed = agent_failures(store)
    name, model = policy_identity(agent, teacher_config)
    levels = {row["id"]: row["level"] for row in store.rows("tasks", ["id", "level"])}
    pending = [i for b in trajectory_batches(store, 1 << 30, agent.tasks_per_level, config=agent,
                                             teacher_config=teacher_config) for i in b.ids]
    by_level: dict[int | None, list[str]] = {}
    for task_id in sorted(pending):
        tried = task_id in failed or not failed.isdisjoint(sample_ids(task_id, agent, name, model))
        if task_id in removed or tried:
            continue
        by_level.setdefault(levels[task_id], []).append(task_id)
    wave: list[RowBatch] = []
    for level, ids in sorted(by_level.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        missing = budget - accepted[level]
        if missing <= 0:
            continue
        take = set(ids[: max(1, math.ceil(missing / agent.samples))])
        wave.extend(_batches_of(store, take, agent.tasks_per_batch))
    return wave


def agent_failures(store: Store) -> set[str]:
    """What the agent stage's quarantine rows name: task ids (errors) and trajectory ids (invalid rows)."""
    named: set[str] = set()
    for batch in store.scan("quarantine", ["stage", "source", "parents"]):
        chosen = batch.filter(pc.equal(batch.column("stage"), AGENT_STAGE))
        named.update(s for s in chosen.column("source").to_pylist() if s)
        for parents in chosen.column("parents").to_pylist():
            named.update(parents or ())
    return named


def _batches_of(store: Store, ids: set[str], per_task: int) -> list[RowBatch]:
    return plan_batches(store, "tasks", per_task, keep=ids.__contains__)
