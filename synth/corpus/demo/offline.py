"""The demo site crawled and extracted in-process, without Prefect: fixtures for tests and benchmarks."""

from __future__ import annotations

from drsynth.storage.store import Store
from drsynth.synth.corpus import ingest
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.demo import DEMO_HOST
from drsynth.synth.corpus.demo.server import DemoSiteServer
from drsynth.synth.corpus.extract_pool import ExtractionPool


def ingest_demo_site(store: Store, run_id: str = "demo-ingest", workers: int = 2) -> None:
    """`pages`, `redirects` and `documents` of the bundled site, served locally and crawled briskly."""
    with DemoSiteServer() as server:
        config = IngestConfig.from_dict({"crawl": {
            "max_depth": 3, "rate_per_host": 500.0, "per_host_concurrency": 8, "allow_private": True,
            "resolve": {DEMO_HOST: f"127.0.0.1:{server.port}"},
        }})
        ingest.acquire(store, run_id, f"http://{DEMO_HOST}/", config)
    with ExtractionPool(workers) as pool:
        for batch in ingest.pending_batches(store, 1024):
            ingest.extract(store, run_id, batch, pool, config)
