"""Flow `pipeline`: every stage in order, each stage flow a subflow of it (the UI shows them nested under
the pipeline's run, each with its tasks and artifacts). The stages record into the pipeline's `runs` row:
one run, one row, counts grouped by stage. `python -m drsynth.flows.pipeline` runs the demo."""

from __future__ import annotations

from prefect import flow

from drsynth.flows.filter_and_publish import filter_and_publish
from drsynth.flows.graph import build_graph
from drsynth.flows.ingest import ingest
from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run, run_warnings
from drsynth.flows.synthesize_tasks import synthesize_tasks
from drsynth.flows.synthesize_trajectories import synthesize_trajectories
from drsynth.flows.ui import publish_links
from drsynth.storage.catalog import catalog_path
from drsynth.storage.store import Store
from drsynth.synth.settings import Settings


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="pipeline", validate_parameters=False)
def pipeline(sources: list[str], out: str = "data", config: Settings | None = None, run_id: str | None = None) -> dict:
    """Sources in, training data out. Stages exchange datasets through `out`, never in memory."""
    config = over_defaults("config", config, Settings)
    with recorded_run(out, "pipeline", {"sources": sources, "config": config.to_dict()}, run_id) as (log, counts):
        ingest(sources=sources, out=out, config=config, run_id=log.run_id)
        graph = build_graph(out=out, config=config, run_id=log.run_id)["graph"]
        synthesize_tasks(out=out, graph=graph, config=config, run_id=log.run_id)
        synthesize_trajectories(out=out, config=config, run_id=log.run_id)
        published = filter_and_publish(out=out, config=config, run_id=log.run_id)["published"]
    # the catalog is rebuilt as the run is recorded: linked once it holds every stage's rows
    publish_links(out, catalog_path(Store(out)), published)
    return {"run_id": log.run_id, "graph": graph, "published": published, "counts": dict(counts),
            "warnings": run_warnings(counts)}


if __name__ == "__main__":
    from drsynth.flows.cli import main

    raise SystemExit(main(["demo"], guard=True))
