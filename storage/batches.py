"""Work plans over a dataset: batches of row ids that follow its shards' row groups, and the marker that
says which inputs a batch finished.

A batch is a reference (a shard, some of its row groups, the ids wanted from them), never the rows:
a Prefect task reads its rows itself, one row group at a time, so a task's memory is bounded by the
writer's row-group size however large the shard or the corpus.

A batch that writes several datasets commits them one after the other, and a kill can fall between two
commits. Where an input yields rows in more than one dataset, "some row names it" cannot tell a finished
input from a half-written one; the batch then marks its commits (`mark_batch`): every commit carries the
batch's attempt id, and its last commit names the inputs it finished. An input is done once such a last
commit names it (`finished_ids`), so a kill anywhere leaves it pending, and a rerun (whose ids are content
ids) writes exactly the rows that did not land.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from drsynth.storage.manifest import Commit
from drsynth.storage.store import Store
from drsynth.storage.writer import DatasetWriter

BATCH_KEY = "batch"  # commit meta: the attempt of one batch that the commit belongs to
DONE_KEY = "done"  # commit meta, on a batch's last commit only: the input ids the batch finished


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


def mark_batch(writers: Sequence[DatasetWriter], done: Iterable[str]) -> str:
    """Tag the commits `writers` are about to publish, in that order, as one batch attempt's, and name on the
    last of them (the last writer holding rows) the input ids the batch finished. Returns the attempt id.

    Call it once every row is written, just before committing. With no row to commit at all, every row
    was already there: a previous attempt's last commit named its inputs, or the inputs are not finished
    and stay pending (a rerun that fails again the same way adds nothing, and marks nothing)."""
    attempt = uuid.uuid4().hex[:16]
    for writer in writers:
        writer.meta[BATCH_KEY] = attempt
    holding = [w for w in writers if w.stats["written"] > 0 and not w.commits]
    if holding:
        holding[-1].meta[DONE_KEY] = sorted(set(done))
    return attempt


def finished_ids(store: Store, datasets: Iterable[str], stage: str) -> tuple[set[str], dict[str, list[Commit]]]:
    """The input ids that batches of `stage` finished (named by their last commits in `datasets`), and per
    dataset the commits of `stage` that carry no batch mark (written before batches were marked: whoever
    asks reads their rows instead)."""
    done: set[str] = set()
    unmarked: dict[str, list[Commit]] = {}
    for dataset in datasets:
        for commit in store.commits(dataset):
            meta = commit.meta or {}
            if meta.get("stage") != stage:
                continue
            if BATCH_KEY in meta:
                done.update(meta.get(DONE_KEY) or ())
            else:
                unmarked.setdefault(dataset, []).append(commit)
    return done, unmarked
