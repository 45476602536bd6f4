"""Flow `pipeline`: every stage in order (for now: ingest). `python -m flows.pipeline` runs the demo."""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.ingest import run_ingest
from flows.recorded import recorded_run


@flow(name="pipeline", task_runner=ThreadPoolTaskRunner(max_workers=4))
def pipeline(sources: list[str], out: str = "data", config: dict | None = None, run_id: str | None = None) -> dict:
    """Sources in, training data out. Stages exchange datasets through `out`, never in memory."""
    with recorded_run(out, "pipeline", {"sources": sources, "config": config or {}}, run_id) as (log, counts):
        run_ingest(sources, out, config or {}, log.run_id, counts)
    return {"run_id": log.run_id, "counts": dict(counts)}


if __name__ == "__main__":
    from flows.cli import main

    raise SystemExit(main(["demo"]))
