"""Flow `synthesize_trajectories`: QA tasks -> k agent trajectories each (ReAct, context or heavy mode),
every teacher and tool call in `requests`; one Prefect task per batch of tasks, batches in parallel."""

from __future__ import annotations

from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.recorded import recorded_run
from storage.store import Store
from synth.agent import synthesize as stage
from synth.settings import Settings


@task(name="index-corpus", retries=1, cache_policy=NO_CACHE)
def index_corpus(out: str) -> dict:
    counts = stage.index_corpus(Store(out))
    get_run_logger().info("search index: %d documents added", counts["search.indexed"])
    return dict(counts)


@task(name="plan-trajectories", cache_policy=NO_CACHE)
def plan_trajectories(out: str, config: dict) -> list[stage.TaskBatch]:
    """Tasks with any of their k trajectories (for this mode, policy and model) still missing."""
    settings = Settings.from_dict(config)
    agent = settings.agent
    return stage.trajectory_batches(Store(out), agent.tasks_per_batch, agent.tasks_per_level,
                                    config=agent, teacher_config=settings.teacher)


@task(name="run-agents", retries=1, cache_policy=NO_CACHE)
def run_agents(out: str, run_id: str, batch: stage.TaskBatch, config: dict, label: str) -> dict:
    settings = Settings.from_dict(config)
    counts = stage.write_trajectories(Store(out), run_id, batch, settings.agent, settings.teacher,
                                      update_index=False)
    get_run_logger().info("agents %s: %d tasks -> %d trajectories, %d requests", label, len(batch.ids),
                          counts["trajectories.added"], counts["requests.added"])
    return dict(counts)


def run_synthesize_trajectories(out: str, config: dict, run_id: str, counts: Counter[str]) -> None:
    """The trajectory steps, for `synthesize_trajectories` and for `pipeline`."""
    counts.update(index_corpus(out))
    batches = plan_trajectories(out, config)
    # batches side by side: a teacher policy waits on the model server, and the client caps requests
    futures = [run_agents.submit(out, run_id, b, config, f"{i + 1}/{len(batches)}") for i, b in enumerate(batches)]
    for future in futures:
        counts.update(future.result())


@flow(name="synthesize_trajectories", task_runner=ThreadPoolTaskRunner(max_workers=4))
def synthesize_trajectories(out: str = "data", config: dict | None = None, run_id: str | None = None) -> dict:
    """Agent trajectories for every task of `out` that has none yet."""
    with recorded_run(out, "synthesize_trajectories", {"config": config or {}}, run_id) as (log, counts):
        run_synthesize_trajectories(out, config or {}, log.run_id, counts)
    return {"run_id": log.run_id, "counts": dict(counts)}
