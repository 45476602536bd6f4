from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_prefect_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # never touch the user's ~/.prefect from tests
    home = tmp_path_factory.getbasetemp() / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(home))


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared test corpora live beside the checkout (../shared)")
    return path


@pytest.fixture
def store_root(tmp_path: Path) -> str:
    return os.fspath(tmp_path / "data")


@pytest.fixture(scope="session")
def demo_documents(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A root holding the demo site's `pages`, `redirects` and `documents`, built once per session.

    Read it, never write to it: tests that write take `demo_store`, a private copy.
    """
    from drsynth.storage.store import Store
    from drsynth.synth.corpus.demo.offline import ingest_demo_site

    root = os.fspath(tmp_path_factory.mktemp("demo-documents") / "data")
    ingest_demo_site(Store(root))
    return root


@pytest.fixture
def demo_store(demo_documents: str, tmp_path: Path) -> str:
    """A private, writable copy of `demo_documents`."""
    import shutil

    root = os.fspath(tmp_path / "demo")
    shutil.copytree(demo_documents, root)
    return root


@pytest.fixture(scope="session")
def demo_subgraphs(demo_documents: str, tmp_path_factory: pytest.TempPathFactory):
    """`demo_documents` plus its knowledge graph and sampled subgraphs (default settings), built once.

    Read it, never write to it: copy `root` first.
    """
    import shutil
    from types import SimpleNamespace

    from drsynth.storage.store import Store
    from drsynth.synth.graph import build_graph
    from drsynth.synth.tasks import TaskConfig, sample_subgraphs

    root = os.fspath(tmp_path_factory.mktemp("demo-subgraphs") / "data")
    shutil.copytree(demo_documents, root)
    store = Store(root)
    graph, _ = build_graph(store, "graph-run")
    counts = sample_subgraphs(store, "tasks-run", graph, TaskConfig())
    return SimpleNamespace(root=root, graph=graph, sample_counts=counts)


@pytest.fixture(scope="session")
def demo_trajectories(demo_subgraphs, tmp_path_factory: pytest.TempPathFactory):
    """`demo_subgraphs` plus every task and, for 8 tasks per level, 2 scripted-agent trajectories each
    (no filter has run: all are pending). Built once; read it, never write to it: copy `root` first."""
    import shutil
    from types import SimpleNamespace

    from drsynth.storage.store import Store
    from drsynth.synth.agent.synthesize import (
        AgentConfig,
        index_corpus,
        trajectory_batches,
        write_trajectories,
    )
    from drsynth.synth.tasks import TaskConfig, select_tasks, subgraph_batches, write_tasks

    root = os.fspath(tmp_path_factory.mktemp("demo-trajectories") / "data")
    shutil.copytree(demo_subgraphs.root, root)
    store, config = Store(root), TaskConfig()
    for batch in subgraph_batches(store, demo_subgraphs.graph, config.subgraphs_per_task):
        write_tasks(store, "tasks-run", demo_subgraphs.graph, batch, config)
    select_tasks(store, "tasks-run", demo_subgraphs.graph, config)
    agent = AgentConfig(tasks_per_level=8, samples=2, today="2026-11-21")
    index_corpus(store)
    for batch in trajectory_batches(store, agent.tasks_per_batch, agent.tasks_per_level, config=agent):
        write_trajectories(store, "agents-run", batch, agent, update_index=False)
    return SimpleNamespace(root=root, graph=demo_subgraphs.graph, agent=agent)


def copy_root(root: str, tmp_path: Path) -> str:
    """A private, writable copy of a session-built root."""
    import shutil

    target = os.fspath(tmp_path / "data")
    shutil.copytree(root, target)
    return target


@pytest.fixture(scope="session")
def demo_published(demo_trajectories, tmp_path_factory: pytest.TempPathFactory):
    """`demo_trajectories` after one filter run with default settings: judged trajectories and published
    `sft_samples`, `rl_tasks` and `cpt_samples` versions (a demo run's shards, for the training jobs).
    Read it, never write to it: copy `root` first."""
    from types import SimpleNamespace

    from drsynth.filters.filter_and_publish import filter_and_publish
    from drsynth.storage.store import Store

    root = copy_root(demo_trajectories.root, tmp_path_factory.mktemp("demo-published"))
    result = filter_and_publish(Store(root), "filter-run")
    return SimpleNamespace(root=root, versions={d: p.name for d, p in result.publications.items()},
                           rows={d: p.rows for d, p in result.publications.items()})
