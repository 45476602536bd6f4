"""Flow `synthesize_tasks`: a graph version -> sampled `subgraphs` -> checked QA `tasks`, one task per batch."""

from __future__ import annotations

import json
from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from drsynth.flows.limits import teacher_limits
from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run
from drsynth.flows.synthesize_trajectories import index_corpus
from drsynth.flows.ui import Progress, artifact_key
from drsynth.storage.store import Store
from drsynth.synth import tasks as stage
from drsynth.synth.settings import Settings
from drsynth.synth.tasks.audit import run_audit


@task(name="sample-subgraphs", retries=1, cache_policy=NO_CACHE)
def sample_subgraphs(out: str, run_id: str, version: str, config: Settings) -> dict:
    counts = stage.sample_subgraphs(Store(out), run_id, version, config.tasks)
    get_run_logger().info("graph %s: %d subgraphs added", version, counts["subgraphs.added"])
    return dict(counts)


@task(name="plan-questions", cache_policy=NO_CACHE)
def plan_questions(out: str, version: str, per_task: int) -> list[stage.SubgraphBatch]:
    return stage.subgraph_batches(Store(out), version, per_task)


@task(name="write-questions", task_run_name="write-questions {label}", retries=1, cache_policy=NO_CACHE)
def write_questions(out: str, run_id: str, version: str, batch: stage.SubgraphBatch, config: Settings, label: str) -> dict:
    with teacher_limits():  # a teacher writer's requests share the endpoint's limit with every other run
        counts = stage.write_tasks(Store(out), run_id, version, batch, config.tasks)
    get_run_logger().info("questions %s: %d subgraphs -> %d drafts, %d quarantined", label, len(batch.ids),
                          counts["task_drafts.added"], sum(v for k, v in counts.items() if k.startswith("quarantine.")))
    return dict(counts)


@task(name="select-tasks", retries=1, cache_policy=NO_CACHE)
def select_tasks(out: str, run_id: str, version: str, config: Settings) -> dict:
    counts = stage.select_tasks(Store(out), run_id, version, config.tasks)
    refused = {k.rsplit(".", 1)[-1]: v for k, v in counts.items() if k.startswith("quarantine.select.")}
    get_run_logger().info("selection: %d drafts -> %d tasks; refused %s", counts["task_drafts.selected"],
                          counts["tasks.added"], refused or "none")
    return dict(counts)


@task(name="task-report", cache_policy=NO_CACHE)
def report_tasks(out: str, version: str) -> None:
    """The automatic audit signals of the task pool (distinct answers, top answers and relations, near
    duplicates, leaks, solver candidates, level-3 search ranks) as an artifact in the UI."""
    try:
        audit = run_audit(Store(out), graph=version, write=False)
    except LookupError:  # no task at all (a corpus with no fact to ask): nothing to report
        return
    create_markdown_artifact(f"```\n{audit.text}\n```", key=artifact_key("task-report", out),
                             description=f"task pool of graph {version}")


def run_synthesize_tasks(out: str, version: str, config: Settings, run_id: str, counts: Counter[str]) -> None:
    """The task-synthesis steps, for `synthesize_tasks` and for `pipeline`."""
    cfg = config.tasks
    counts.update(sample_subgraphs(out, run_id, version, config))
    counts.update(index_corpus(out))  # the level-3 search check queries the index the agents search
    batches = plan_questions(out, version, cfg.subgraphs_per_task)
    # batches in parallel: a teacher writer spends its time waiting on the model server
    futures = [write_questions.submit(out, run_id, version, b, config, f"{i + 1}/{len(batches)}")
               for i, b in enumerate(batches)]
    progress = Progress(out, "tasks", len(futures))
    for future in futures:
        counts.update(future.result())
        progress.advance()
    # once every batch is in: no batch alone can see a duplicate or a cap another batch fills
    counts.update(select_tasks(out, run_id, version, config))
    report_tasks(out, version)


def newest_graph(store: Store) -> str | None:
    """The graph of the newest completed run that built one (a rebuild of an older graph counts)."""
    built = [(row["updated_at"], json.loads(row["counts"] or "{}").get("graph"))
             for row in store.rows("runs", ["status", "counts", "updated_at"]) if row["status"] == "completed"]
    built = [b for b in built if isinstance(b[1], str)]
    return max(built)[1] if built else None


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="synthesize_tasks", task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=False)
def synthesize_tasks(out: str = "data", graph: str | None = None, config: Settings | None = None,
                     run_id: str | None = None) -> dict:
    """QA tasks from graph version `graph` (default: the newest graph built in `out`)."""
    config = over_defaults("config", config, Settings)
    store = Store(out)
    version = graph or newest_graph(store)
    if version is None:
        raise ValueError(f"{out} has no knowledge graph yet: run build_graph first")
    with recorded_run(out, "synthesize_tasks", {"graph": version, "config": config.to_dict()}, run_id) as (log, counts):
        run_synthesize_tasks(out, version, config, log.run_id, counts)
    return {"run_id": log.run_id, "graph": version, "counts": dict(counts)}
