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


def _ingest_demo_site(root: str) -> None:
    """Crawl the bundled demo site and extract it into `root`, in-process and without Prefect."""
    from storage.store import Store
    from synth.corpus import ingest
    from synth.corpus.config import IngestConfig
    from synth.corpus.demo import DEMO_HOST
    from synth.corpus.demo.server import DemoSiteServer
    from synth.corpus.extract_pool import ExtractionPool

    store = Store(root)
    with DemoSiteServer() as server:
        config = IngestConfig.from_dict({"crawl": {
            "max_depth": 3, "rate_per_host": 200.0, "per_host_concurrency": 4, "allow_private": True,
            "resolve": {DEMO_HOST: f"127.0.0.1:{server.port}"},
        }})
        ingest.acquire(store, "demo-ingest", f"http://{DEMO_HOST}/", config)
    with ExtractionPool(2) as pool:
        for batch in ingest.pending_batches(store, 1024):
            ingest.extract(store, "demo-ingest", batch, pool, config)


@pytest.fixture(scope="session")
def demo_documents(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A root holding the demo site's `pages`, `redirects` and `documents`, built once per session.

    Read it, never write to it: tests that write take `demo_store`, a private copy.
    """
    root = os.fspath(tmp_path_factory.mktemp("demo-documents") / "data")
    _ingest_demo_site(root)
    return root


@pytest.fixture
def demo_store(demo_documents: str, tmp_path: Path) -> str:
    """A private, writable copy of `demo_documents`."""
    import shutil

    root = os.fspath(tmp_path / "demo")
    shutil.copytree(demo_documents, root)
    return root
