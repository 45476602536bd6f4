"""Flow `pipeline`: every stage in order. `python -m flows.pipeline` runs the demo."""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.filter_and_publish import run_filter_and_publish
from flows.graph import run_build_graph
from flows.ingest import run_ingest
from flows.parameters import over_defaults
from flows.recorded import recorded_run, run_warnings
from flows.synthesize_tasks import run_synthesize_tasks
from flows.synthesize_trajectories import run_synthesize_trajectories


@flow(name="pipeline", task_runner=ThreadPoolTaskRunner(max_workers=4))
def pipeline(sources: list[str], out: str = "data", config: dict | None = None, run_id: str | None = None) -> dict:
    """Sources in, training data out. Stages exchange datasets through `out`, never in memory."""
    config = over_defaults("config", config)
    with recorded_run(out, "pipeline", {"sources": sources, "config": config}, run_id) as (log, counts):
        run_ingest(sources, out, config, log.run_id, counts)
        graph = run_build_graph(out, config, log.run_id, counts)
        run_synthesize_tasks(out, graph, config, log.run_id, counts)
        run_synthesize_trajectories(out, config, log.run_id, counts)
        published = run_filter_and_publish(out, config, log, counts)
    return {"run_id": log.run_id, "graph": graph, "published": published, "counts": dict(counts),
            "warnings": run_warnings(counts)}


if __name__ == "__main__":
    from flows.cli import main

    raise SystemExit(main(["demo"], guard=True))
