"""Work plans over a dataset: batches of row ids that follow its shards' row groups.

A batch is a reference (a shard, some of its row groups, the ids wanted from them), never the rows:
a Prefect task reads its rows itself, one row group at a time, so a task's memory is bounded by the
writer's row-group size however large the shard or the corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from storage.store import Store


@dataclass(frozen=True)
class RowBatch:
    file: str
    row_groups: tuple[int, ...]
    ids: tuple[str, ...]


def plan_batches(store: Store, dataset: str, per_task: int, keep: Callable[[str], bool] | None = None) -> list[RowBatch]:
    """The committed rows of `dataset` that `keep` accepts (all by default), in batches of `per_task` ids."""
    if per_task < 1:
        raise ValueError(f"per_task must be >= 1, got {per_task}")
    batches: list[RowBatch] = []
    for path in store.files(dataset):
        groups: list[int] = []
        ids: list[str] = []
        for group, group_ids in enumerate(store.row_group_ids(path)):
            pending = group_ids if keep is None else [i for i in group_ids if keep(i)]
            while pending:
                take = pending[: per_task - len(ids)]
                pending = pending[len(take):]
                if not groups or groups[-1] != group:
                    groups.append(group)
                ids.extend(take)
                if len(ids) >= per_task:
                    batches.append(RowBatch(path, tuple(groups), tuple(ids)))
                    groups, ids = [], []
        if ids:
            batches.append(RowBatch(path, tuple(groups), tuple(ids)))
    return batches
