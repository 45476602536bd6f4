"""Flow `filter_and_publish`: screen tasks (decontamination, dedup), judge and check every trajectory,
apply the budget, compute pass rates and the RL pool, build SFT and CPT samples, and publish immutable
versions of `sft_samples`, `rl_tasks` and `cpt_samples`, named in `runs`. One Prefect task per batch.

Each version this run makes is announced once, as the Prefect event `drsynth.dataset.published` (what the
training deployments trigger on, infra/prefect.yaml): resource `drsynth.dataset.<dataset>`, payload
`{"dataset", "version": "dataset@v…", "rows", "root", "run_id"}`, where `root` is the data root the version
lives in. A version named again (a rerun over unchanged rows) is not announced again, and the event's id
is derived from the root and the version, so Prefect drops a second announcement of one version (two runs
racing to make it, a retried run) instead of triggering a second training run. A dataset with no rows is
not published at all, and says so as a warning of the run."""

from __future__ import annotations

import uuid
from collections import Counter

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.task_runners import ThreadPoolTaskRunner

from drsynth.filters import publish, rejection, screen
from drsynth.filters.report import screening_warnings
from drsynth.flows.limits import teacher_limits
from drsynth.flows.parameters import over_defaults
from drsynth.flows.recorded import recorded_run, run_warnings, warn
from drsynth.flows.ui import Progress, artifact_key, publish_links
from drsynth.storage.batches import RowBatch
from drsynth.storage.catalog import catalog_path
from drsynth.storage.runs import RunLog
from drsynth.storage.store import Store
from drsynth.synth.settings import Settings


@task(name="screen-tasks", retries=1, cache_policy=NO_CACHE)
def screen_tasks(out: str, run_id: str, config: Settings, fingerprint: str) -> dict:
    counts = screen.screen_tasks(Store(out), run_id, config.filter, fingerprint)
    get_run_logger().info("screening: %d tasks, %d contaminated, %d duplicates", counts["tasks.screened"],
                          counts["decontaminate.contaminated"],
                          counts["dedup.duplicate"] + counts["dedup.near_duplicate"])
    return dict(counts)


@task(name="plan-judging", cache_policy=NO_CACHE)
def plan_judging(out: str, config: Settings, fingerprint: str) -> list[RowBatch]:
    return rejection.judgment_batches(Store(out), config.filter, fingerprint)


@task(name="judge-batch", task_run_name="judge-batch {label}", retries=1, cache_policy=NO_CACHE)
def judge_batch(out: str, run_id: str, batch: RowBatch, config: Settings, fingerprint: str, label: str = "1/1") -> dict:
    with teacher_limits():  # an LLM judge's requests share the endpoint's limit with every other run
        return dict(rejection.run_judging(Store(out), run_id, batch, config.filter, fingerprint, config.teacher))


@task(name="apply-budget", cache_policy=NO_CACHE)
def apply_budget(out: str, run_id: str, config: Settings, fingerprint: str) -> dict:
    return dict(rejection.apply_budget(Store(out), run_id, config.filter, fingerprint))


@task(name="pass-rates", retries=1, cache_policy=NO_CACHE)
def pass_rates(out: str, run_id: str, config: Settings, fingerprint: str) -> tuple[dict, list[str]]:
    counts, ids = rejection.pass_rates(Store(out), run_id, config.filter, fingerprint)
    return dict(counts), ids


@task(name="plan-samples", cache_policy=NO_CACHE)
def plan_samples(out: str, config: Settings, fingerprint: str) -> tuple[list[RowBatch], list[RowBatch]]:
    store, filter_config = Store(out), config.filter
    return publish.sft_batches(store, filter_config, fingerprint), publish.cpt_batches(store, filter_config, fingerprint)


@task(name="build-sft", task_run_name="build-sft {label}", retries=1, cache_policy=NO_CACHE)
def build_sft(out: str, run_id: str, batch: RowBatch, config: Settings, fingerprint: str,
              label: str = "1/1") -> tuple[dict, list[str]]:
    counts, ids = publish.build_sft(Store(out), run_id, batch, config.filter, fingerprint)
    return dict(counts), ids


@task(name="build-cpt", task_run_name="build-cpt {label}", retries=1, cache_policy=NO_CACHE)
def build_cpt(out: str, run_id: str, batch: RowBatch, config: Settings, fingerprint: str,
              label: str = "1/1") -> tuple[dict, list[str]]:
    with teacher_limits():  # a teacher CPT writer's requests share the endpoint's limit with every other run
        counts, ids = publish.build_cpt(Store(out), run_id, batch, config.filter, fingerprint, config.teacher)
    return dict(counts), ids


PUBLISHED_EVENT = "drsynth.dataset.published"


def announcement_id(root: str, version: str) -> uuid.UUID:
    """The id of the event announcing `version` of the data root `root`: one version, one event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"drsynth:{PUBLISHED_EVENT}:{root}:{version}")


@task(name="publish", cache_policy=NO_CACHE)
def publish_versions(out: str, run_id: str, ids: dict[str, list[str]], fingerprint: str) -> dict[str, str]:
    """Publish each dataset's set of ids; announce the versions this run made (not those named again)."""
    store = Store(out)
    made = publish.publish_sets(store, run_id, ids, fingerprint)
    for dataset, version in made.items():
        if version.run_id != run_id:  # published before, by another run: announced then
            get_run_logger().info("%s is published already (by run %s): not announced again", version.name,
                                  version.run_id)
            continue
        emit_event(event=PUBLISHED_EVENT, id=announcement_id(store.uri, version.name),
                   resource={"prefect.resource.id": f"drsynth.dataset.{dataset}", "drsynth.dataset": dataset,
                             "drsynth.version": version.name, "drsynth.root": store.uri},
                   payload={"dataset": dataset, "version": version.name, "rows": version.rows,
                            "root": store.uri, "run_id": run_id})
    return {dataset: version.name for dataset, version in made.items()}


def _labels(batches: list) -> list[str]:
    """`k/N` for each of `batches`: the batch a task run handles, in its name."""
    return [f"{i + 1}/{len(batches)}" for i in range(len(batches))]


def _gather(futures: list, counts: Counter[str], ids: list[str] | None = None, progress: Progress | None = None) -> None:
    for future in futures:
        result = future.result()
        if ids is None:
            counts.update(result)
        else:
            counts.update(result[0])
            ids.extend(result[1])
        if progress is not None:
            progress.advance()


def judge_pending(out: str, run_id: str, config: Settings, fingerprint: str, counts: Counter[str]) -> None:
    batches = plan_judging(out, config, fingerprint)
    progress = Progress(out, "filter", len(batches))
    _gather([judge_batch.submit(out, run_id, b, config, fingerprint, label)
             for b, label in zip(batches, _labels(batches), strict=True)], counts, progress=progress)


def run_filter_and_publish(out: str, config: Settings, log: RunLog, counts: Counter[str]) -> dict[str, str]:
    """The filter steps, for `filter_and_publish` and for `pipeline`; returns the published version names."""
    fingerprint = rejection.filter_fingerprint(config.filter, config.teacher)
    counts["filter"] = fingerprint  # type: ignore[assignment]
    counts.update(screen_tasks(out, log.run_id, config, fingerprint))
    warnings = screening_warnings(config.filter, counts)
    judge_pending(out, log.run_id, config, fingerprint, counts)
    counts.update(apply_budget(out, log.run_id, config, fingerprint))
    rates, rl_ids = pass_rates(out, log.run_id, config, fingerprint)
    counts.update(rates)
    sft, cpt = plan_samples(out, config, fingerprint)
    ids: dict[str, list[str]] = {"rl_tasks": rl_ids, "sft_samples": [], "cpt_samples": []}
    _gather([build_sft.submit(out, log.run_id, b, config, fingerprint, label)
             for b, label in zip(sft, _labels(sft), strict=True)], counts, ids["sft_samples"])
    _gather([build_cpt.submit(out, log.run_id, b, config, fingerprint, label)
             for b, label in zip(cpt, _labels(cpt), strict=True)], counts, ids["cpt_samples"])
    versions = publish_versions(out, log.run_id, ids, fingerprint)
    for dataset, name in versions.items():
        log.published(dataset, name)
    warnings += [f"{dataset}: nothing to publish (0 rows), no version published"
                 for dataset in publish.PUBLISHED if dataset not in versions]
    for message in warnings:
        warn(counts, message)
    create_markdown_artifact(report_markdown(Store(out), fingerprint, counts, versions, warnings),
                             key=artifact_key("filter-report", out), description=f"filter_and_publish run {log.run_id}")
    return versions


def report_markdown(store: Store, fingerprint: str, counts: Counter[str], versions: dict[str, str],
                    warnings: list[str]) -> str:
    from drsynth.filters.report import filter_report

    return filter_report(store, fingerprint, counts, versions, warnings)


# `config` is checked by over_defaults, once the deployment defaults are merged in
@flow(name="filter_and_publish", task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=False)
def filter_and_publish(out: str = "data", config: Settings | None = None, run_id: str | None = None) -> dict:
    """Judge, screen and publish the training sets of `out`."""
    config = over_defaults("config", config, Settings)
    with recorded_run(out, "filter_and_publish", {"config": config.to_dict()}, run_id) as (log, counts):
        versions = run_filter_and_publish(out, config, log, counts)
    if log.flow == "filter_and_publish":  # (as a stage of `pipeline`, the pipeline links them once it ends)
        publish_links(out, catalog_path(Store(out)), versions)
    return {"run_id": log.run_id, "published": versions, "counts": dict(counts), "warnings": run_warnings(counts)}

