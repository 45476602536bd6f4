"""Determinism: identical runs publish identical versions.

Two uninterrupted `drsynth demo` runs (separate roots and Prefect homes, real CLI subprocesses, started
together in the fast setting so that their batches interleave differently) publish the same versions
of every training set, and every dataset holds the same ids (requests, whose ids hold their time, the
same number). Below them, the tie-breaks that once followed commit order: of duplicate tasks the
screening keeps the same one whichever was committed first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drsynth.filters.config import FilterConfig
from drsynth.filters.screen import screen_tasks, screened_tasks
from drsynth.storage.store import Store
from tests.reliability.conftest import figure
from tests.reliability.demo_runs import dataset_ids, mismatches, published_versions, uninterrupted_pair

# 28 words before the last three: one changed word keeps a Jaccard above 0.8 (a near duplicate)
LONG = ("Which composer, born in the harbour town of Varkholm and trained at the conservatory there, wrote the "
        "Rook Island Suite that the city orchestra first played under its founding conductor")


def _tasks_committed(root: Path, order: list[tuple[str, str]]) -> Store:
    """A root whose `tasks` are `order`'s (id, question) pairs, one commit each, in that order."""
    store = Store(str(root))
    for task_id, question in order:
        with store.writer("tasks", f"run-{task_id}") as writer:
            writer.write({"id": task_id, "parents": [], "question": question, "answer": "Varkholm", "level": 1})
    return store


def test_screening_keeps_the_same_duplicate_whatever_the_commit_order(tmp_path: Path) -> None:
    tasks = [("task-b", "In which city was the Harbour Lights festival first held?"),
             ("task-a", "In which city was the Harbour Lights festival first held?"),
             ("task-c", "in which city was the harbour lights festival first held"),
             ("task-e", f"{LONG} in its first season?"),
             ("task-d", f"{LONG} in its first year?")]
    config = FilterConfig(decontaminate=False)
    fingerprint = config.fingerprint()
    removed = []
    for name, order in (("forward", tasks), ("backward", tasks[::-1])):
        store = _tasks_committed(tmp_path / name, order)
        screen_tasks(store, "screen", config, fingerprint)
        removed.append({task: (r.reason, r.detail) for task, r in screened_tasks(store, fingerprint).items()})
    assert removed[0] == removed[1]
    # the smallest id of each group stays; the others name it
    assert sorted(removed[0]) == ["task-b", "task-c", "task-e"]
    assert removed[0]["task-b"][0] == removed[0]["task-c"][0] == "duplicate"
    assert "task-a" in removed[0]["task-b"][1] and "task-a" in removed[0]["task-c"][1]
    assert removed[0]["task-e"][0] == "near_duplicate" and "task-d" in removed[0]["task-e"][1]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # it may build the two runs
def test_two_uninterrupted_demo_runs_publish_the_same_versions(tmp_path_factory: pytest.TempPathFactory) -> None:
    first, second = uninterrupted_pair(tmp_path_factory)
    versions = published_versions(first.root), published_versions(second.root)
    figure("determinism: published versions (first run, second run)",
           {dataset: (versions[0].get(dataset, ("-",))[0], versions[1].get(dataset, ("-",))[0])
            for dataset in sorted(set(versions[0]) | set(versions[1]))})
    assert set(versions[0]) == {"sft_samples", "rl_tasks", "cpt_samples"}
    for dataset in versions[0]:
        assert versions[0][dataset] == versions[1].get(dataset), f"{dataset}: the two runs published different versions"
    problems = mismatches(dataset_ids(first.root), dataset_ids(second.root))
    figure("determinism: datasets that differ between the two runs", problems or 0)
    assert not problems
