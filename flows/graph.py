"""Flow `build_graph`: documents -> entities (one resolution pass) -> edges (one task per batch) -> report."""

from __future__ import annotations

import json
from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run
from drsynth.flows.ui import Progress, artifact_key
from drsynth.storage.store import Store
from drsynth.synth import graph as stage
from drsynth.synth.settings import Settings


@task(name="resolve-entities", retries=1, cache_policy=NO_CACHE)
def resolve_entities(out: str, run_id: str, config: Settings) -> tuple[str, dict]:
    """Every document into one node per real-world entity; returns the graph version it built."""
    version, counts = stage.build_entities(Store(out), run_id, config.graph)
    get_run_logger().info("graph %s: %d entities added, %d documents are not entities",
                          version, counts["entities.added"], counts["quarantine.graph.not_an_entity"])
    return version, dict(counts)


@task(name="plan-linking", cache_policy=NO_CACHE)
def plan_linking(out: str, docs_per_task: int) -> list[stage.DocBatch]:
    return stage.document_batches(Store(out), docs_per_task)


@task(name="link-batch", task_run_name="link-batch {label}", retries=1, cache_policy=NO_CACHE)
def link_documents(out: str, run_id: str, version: str, batch: stage.DocBatch, config: Settings, label: str) -> dict:
    counts = stage.link_batch(Store(out), run_id, version, batch, config.graph)
    get_run_logger().info("link %s: %d documents -> %d edges added", label, len(batch.ids), counts["edges.added"])
    return dict(counts)


@task(name="graph-report", cache_policy=NO_CACHE)
def report_graph(out: str, version: str) -> dict:
    report = stage.graph_report(Store(out), version)
    create_markdown_artifact(stage.report_markdown(report), key=artifact_key("graph-report", out),
                             description=f"knowledge graph {version}")
    get_run_logger().info("graph %s: %s", version, json.dumps(
        {k: report[k] for k in ("entities", "edges") if k in report}, default=str))
    return report


def run_build_graph(out: str, config: Settings, run_id: str, counts: Counter[str]) -> str:
    """The graph steps, for `build_graph` and for `pipeline`; returns the graph version."""
    cfg = config.graph
    version, resolved = resolve_entities(out, run_id, config)
    counts.update(resolved)
    batches = plan_linking(out, cfg.docs_per_task)
    progress = Progress(out, "graph-edges", len(batches))
    for i, batch in enumerate(batches):
        # one after another: a batch is CPU-bound and reuses the process's cached resolution index
        counts.update(link_documents(out, run_id, version, batch, config, f"{i + 1}/{len(batches)}"))
        progress.advance()
    report = report_graph(out, version)
    counts["graph.components"] = int(report.get("components", {}).get("count", 0))
    # recorded in `runs` once every batch is linked: how a later run finds the newest complete graph
    counts["graph"] = version  # type: ignore[assignment]
    return version


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="build_graph", task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=False)
def build_graph(out: str = "data", config: Settings | None = None, run_id: str | None = None) -> dict:
    """The knowledge graph over every committed document of `out`: `entities`, `edges`, a report."""
    config = over_defaults("config", config, Settings)
    with recorded_run(out, "build_graph", {"config": config.to_dict()}, run_id) as (log, counts):
        version = run_build_graph(out, config, log.run_id, counts)
    return {"run_id": log.run_id, "graph": version, "counts": dict(counts)}
