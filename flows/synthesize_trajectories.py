"""Flow `synthesize_trajectories`: QA tasks -> k agent trajectories each (ReAct, context or heavy mode),
every teacher and tool call in `requests`; one Prefect task per batch of tasks, batches in parallel."""

from __future__ import annotations

from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from drsynth.filters import budget, rejection
from drsynth.flows.filter_and_publish import apply_budget, judge_pending, screen_tasks
from drsynth.flows.limits import teacher_limits
from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run
from drsynth.flows.ui import Progress
from drsynth.storage.store import Store
from drsynth.synth.agent import synthesize as stage
from drsynth.synth.settings import Settings


@task(name="index-corpus", retries=1, cache_policy=NO_CACHE)
def index_corpus(out: str) -> dict:
    counts = stage.index_corpus(Store(out))
    get_run_logger().info("search index: %d documents added", counts["search.indexed"])
    return dict(counts)


@task(name="plan-trajectories", cache_policy=NO_CACHE)
def plan_trajectories(out: str, config: Settings) -> list[stage.TaskBatch]:
    """Tasks with any of their k trajectories (for this mode, policy and model) still missing."""
    agent = config.agent
    return stage.trajectory_batches(Store(out), agent.tasks_per_batch, agent.tasks_per_level,
                                    config=agent, teacher_config=config.teacher)


@task(name="run-agents", task_run_name="run-agents {label}", retries=1, cache_policy=NO_CACHE)
def run_agents(out: str, run_id: str, batch: stage.TaskBatch, config: Settings, label: str) -> dict:
    with teacher_limits():  # a teacher policy's requests share the endpoint's limit with every other run
        counts = stage.write_trajectories(Store(out), run_id, batch, config.agent, config.teacher,
                                          update_index=False)
    get_run_logger().info("agents %s: %d tasks -> %d trajectories, %d requests", label, len(batch.ids),
                          counts["trajectories.added"], counts["requests.added"])
    return dict(counts)


@task(name="plan-wave", cache_policy=NO_CACHE)
def plan_wave(out: str, config: Settings, fingerprint: str) -> list[stage.TaskBatch]:
    """Budgeted mode: the tasks of the levels still short of accepted trajectories."""
    return budget.next_wave(Store(out), config.agent, config.filter, fingerprint, config.teacher)


def run_agent_batches(out: str, run_id: str, batches: list[stage.TaskBatch], config: Settings,
                      counts: Counter[str], label: str = "") -> None:
    # batches side by side: a teacher policy waits on the model server, and the client caps requests
    futures = [run_agents.submit(out, run_id, b, config, f"{label}{i + 1}/{len(batches)}")
               for i, b in enumerate(batches)]
    progress = Progress(out, "trajectories", len(futures))
    for future in futures:
        counts.update(future.result())
        progress.advance()


def run_synthesize_trajectories(out: str, config: Settings, run_id: str, counts: Counter[str]) -> None:
    """The trajectory steps, for `synthesize_trajectories` and for `pipeline`. With `[filter]
    budget_per_level`, waves of agents each judged before the next is planned, until every level has its
    accepted trajectories or runs out of tasks."""
    counts.update(index_corpus(out))
    if config.filter.budget_per_level <= 0:
        run_agent_batches(out, run_id, plan_trajectories(out, config), config, counts)
        return
    fingerprint = rejection.filter_fingerprint(config.filter, config.teacher)
    counts["filter"] = fingerprint  # type: ignore[assignment]
    counts.update(screen_tasks(out, run_id, config, fingerprint))
    wave = 0
    while True:
        judge_pending(out, run_id, config, fingerprint, counts)
        batches = plan_wave(out, config, fingerprint)
        if not batches:
            counts.update(apply_budget(out, run_id, config, fingerprint))  # a last wave may overshoot
            break
        wave += 1
        counts["budget.waves"] += 1
        run_agent_batches(out, run_id, batches, config, counts, label=f"wave {wave} ")


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="synthesize_trajectories", task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=False)
def synthesize_trajectories(out: str = "data", config: Settings | None = None, run_id: str | None = None) -> dict:
    """Agent trajectories for every task of `out` that has none yet."""
    config = over_defaults("config", config, Settings)
    with recorded_run(out, "synthesize_trajectories", {"config": config.to_dict()}, run_id) as (log, counts):
        run_synthesize_trajectories(out, config, log.run_id, counts)
    return {"run_id": log.run_id, "counts": dict(counts)}
