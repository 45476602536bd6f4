"""Run semantics a CI job can trust: a run over sources that yield nothing fails and says which; a version of
nothing is never published; a version is announced once; a training deployment trains a version once, from
the root the event names; run parameters deep-merge over the deployment's; a failed run's reason is its
final state's message and its `runs` row; decontamination with no benchmark set is a warning."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drsynth.storage.published import publications, publish
from drsynth.storage.runs import RunLog, latest_events
from drsynth.storage.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One ephemeral Prefect API for the module's flow runs (its start costs more than the runs)."""
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # (no network here)
        with prefect_test_harness(server_startup_timeout=180):
            yield


def _runs(root: str, flow: str) -> list[dict]:
    """The latest event of each run of `flow` under `root`, in the order the runs started."""
    return sorted((row for row in latest_events(Store(root)).values() if row["flow"] == flow),
                  key=lambda row: row["started_at"])


def _sft_rows(store: Store, n: int) -> list[str]:
    """n committed `sft_samples` rows; their ids."""
    ids = [f"sft-{i:03d}" for i in range(n)]
    messages = [{"role": "user", "content": "q", "train": False}, {"role": "assistant", "content": "a", "train": True}]
    with store.writer("sft_samples", "fixture") as writer:
        for i, sample_id in enumerate(ids):
            writer.write({"id": sample_id, "parents": [f"traj-{i}"], "mode": "react",
                          "messages": [{**m, "content": f"{m['content']} {i}"} for m in messages],
                          "task_id": f"task-{i}", "level": 1})
    return ids


# --- sources that yield nothing ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_run_over_sources_that_yield_no_pages_fails_naming_them(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing.jsonl", tmp_path / "empty-dir"
    empty.mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run([sys.executable, "-m", "drsynth.flows.cli", "run", "--source", str(missing), "--source", str(empty),
                             "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "the sources yielded no pages" in error and str(missing) in error and str(empty) in error, error
    assert "read:missing_source" in error
    [run] = _runs(str(out), "pipeline")
    assert run["status"] == "failed" and str(missing) in run["error"] and str(empty) in run["error"]
    assert publications(Store(str(out))) == []


def test_a_failed_runs_final_state_message_is_its_reason_in_runs(prefect_api, tmp_path: Path) -> None:
    from drsynth.flows.ingest import ingest

    out, missing = str(tmp_path / "out"), str(tmp_path / "nowhere.warc.gz")
    state = ingest(sources=[missing], out=out, return_state=True)
    assert state.is_failed()
    [run] = _runs(out, "ingest")
    assert run["status"] == "failed" and missing in run["error"]
    # what `prefect deployment run --watch` and the UI show is the reason `runs` holds
    assert run["error"] in state.message, (state.message, run["error"])


def test_a_source_that_yields_nothing_beside_others_is_a_warning() -> None:
    from collections import Counter

    from prefect.logging import disable_run_logger

    from drsynth.flows.ingest import check_sources

    counts: Counter[str] = Counter()
    with disable_run_logger():
        check_sources({"/data/a": {"pages.added": 3}, "/data/b": {"quarantine.read.missing_source": 1}}, counts)
    assert counts["warnings"] == ["source '/data/b' yielded no pages (read:missing_source x1)"]


# --- publishing and announcing -------------------------------------------------------------------------------------


def test_nothing_is_published_for_a_dataset_with_no_rows(tmp_path: Path) -> None:
    from drsynth.filters.publish import publish_sets

    store = Store(str(tmp_path / "data"))
    ids = _sft_rows(store, 3)
    made = publish_sets(store, "run-1", {"sft_samples": ids, "rl_tasks": [], "cpt_samples": []}, "fp")
    assert set(made) == {"sft_samples"} and made["sft_samples"].rows == 3
    assert [p.dataset for p in publications(store)] == ["sft_samples"]


def test_a_version_is_announced_once_with_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.logging import disable_run_logger

    from drsynth.flows import filter_and_publish as flow_module

    events: list[dict] = []
    monkeypatch.setattr(flow_module, "emit_event", lambda **kwargs: events.append(kwargs))
    out = str(tmp_path / "data")
    ids = _sft_rows(Store(out), 4)
    publish = flow_module.publish_versions.fn
    first = publish(out, "run-1", {"sft_samples": ids, "rl_tasks": []}, "fp")
    assert list(first) == ["sft_samples"]  # rl_tasks had no rows: neither published nor announced
    [event] = events
    assert event["event"] == "drsynth.dataset.published"
    assert event["resource"]["prefect.resource.id"] == "drsynth.dataset.sft_samples"
    assert event["payload"] == {"dataset": "sft_samples", "version": first["sft_samples"], "rows": 4,
                                "root": Store(out).uri, "run_id": "run-1"}
    assert event["id"] == flow_module.announcement_id(Store(out).uri, first["sft_samples"])
    # the same rows again (a rerun of filter-on-demand): named, not announced
    with disable_run_logger():  # (outside a flow run)
        again = publish(out, "run-2", {"sft_samples": ids[::-1]}, "fp")
    assert again == first and len(events) == 1
    # the run that made it, retried (it may have stopped before announcing): the same event, which Prefect
    # drops when it has seen it
    publish(out, "run-1", {"sft_samples": ids}, "fp")
    assert len(events) == 2 and events[1]["id"] == event["id"]
    # another root's version of the same rows is another announcement
    assert flow_module.announcement_id("/elsewhere", first["sft_samples"]) != event["id"]


def test_filter_on_an_empty_root_warns_of_missing_benchmarks_and_publishes_nothing(
        prefect_api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect.client.orchestration import get_client

    from drsynth.flows.cli import main
    from drsynth.flows.ui import artifact_key

    out = tmp_path / "data"
    out.mkdir()
    config = tmp_path / "drsynth.toml"
    config.write_text(f"[filter]\nbenchmarks = [\"{tmp_path / 'no-benchmarks'}\"]\n")
    assert main(["filter", "--out", str(out), "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "published " not in printed and publications(Store(str(out))) == []
    assert f"warning: no benchmark sets loaded from {tmp_path / 'no-benchmarks'}" in printed
    assert "warning: sft_samples: nothing to publish (0 rows)" in printed
    [run] = _runs(str(out), "filter_and_publish")
    warnings = json.loads(run["counts"])["warnings"]
    assert any("decontamination checked nothing" in w for w in warnings), warnings

    async def report(key: str) -> str:
        async with get_client() as client:
            artifact = await client.read_latest_artifacts()
            return next(a.data for a in artifact if a.key == key)

    # the filter report and the run's counts, keyed by the root, say so first
    for key in (artifact_key("filter-report", str(out)), artifact_key("filter_and_publish-counts", str(out))):
        markdown = asyncio.run(report(key))
        assert "## Warnings" in markdown and "decontamination checked nothing" in markdown, key
        assert markdown.index("## Warnings") < markdown.index("decontamination checked nothing") < \
            min(markdown.index(h) for h in ("## Trajectories", "## filter_and_publish") if h in markdown), key


def test_filter_report_says_when_no_benchmark_set_was_loaded(tmp_path: Path) -> None:
    from drsynth.filters.config import FilterConfig
    from drsynth.filters.report import filter_report, screening_warnings

    config = FilterConfig(benchmarks=[str(tmp_path / "absent")])
    assert screening_warnings(FilterConfig(decontaminate=False), {}) == []
    assert screening_warnings(config, {"decontaminate.benchmark_items": 12}) == []
    [warning] = screening_warnings(config, {"decontaminate.benchmark_items": 0})
    assert str(tmp_path / "absent") in warning
    report = filter_report(Store(str(tmp_path / "data")), "fp", {}, {}, [warning])
    assert f"## Warnings\n\n- **warning:** {warning}" in report


# --- training: once per version, from the event's root, parameters merged -----------------------------------------


def test_a_training_flow_trains_a_version_once_unless_asked_to_retrain(prefect_api, tmp_path: Path) -> None:
    from drsynth.flows.train import train_sft

    root = str(tmp_path / "data")
    store = Store(root)
    version = publish(store, "sft_samples", _sft_rows(store, 3), "filter-run").name
    # a completed run of this flow that trained the version and wrote a model
    log = RunLog(store, "train_sft", {"deployment": None}).start()
    log.read("sft_samples", version)
    log.finish({"model": "/models/sft/final"})
    result = train_sft(data=root, model="tiny", version=version)
    assert result["trained_by"] == log.run_id and result["model"] is None
    again = train_sft(data=root, model="tiny", version=version, retrain=True, dry_run=True)
    assert "trained_by" not in again and again["datasets"] == {"sft_samples": version}
    skipped, dry = _runs(root, "train_sft")[-2:]
    assert json.loads(skipped["counts"]) == {"dry_run": 0, "skipped": 1}
    assert json.loads(dry["counts"]) == {"dry_run": 1}
    assert json.loads(dry["datasets"])["read"] == {"sft_samples": version}


def test_an_empty_version_is_never_trained(prefect_api, tmp_path: Path) -> None:
    from drsynth.flows.train import train_sft
    from drsynth.storage.published import PublicationError

    root = str(tmp_path / "data")
    empty = publish(Store(root), "sft_samples", [], "old-run").name  # what older releases published
    with pytest.raises(PublicationError, match="no rows"):
        train_sft(data=root, model="tiny", version=empty, dry_run=True)


def test_a_deployment_runs_parameters_deep_merge_over_its_defaults(prefect_api, tmp_path: Path) -> None:
    """What `prefect deployment run train-sft/... -p config='{"lr": 2e-5}'` does: one key overridden."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from drsynth.flows.train import train_sft
    from drsynth.training.launch import LaunchSpec

    root = str(tmp_path / "data")
    version = publish(Store(root), "sft_samples", _sft_rows(Store(root), 2), "filter-run").name
    defaults = {"data": root, "model": "tiny", "dry_run": True, "launch": {"num_gpus": 8, "num_nodes": 1},
                "config": {"lr": 1e-5, "epochs": 3, "seq_len": 1024}}

    async def create() -> object:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("train_sft")
            deployment_id = await client.create_deployment(flow_id, "train-sft", parameters=defaults,
                                                           entrypoint="drsynth.flows.train:train_sft")
            return await client.create_flow_run_from_deployment(
                deployment_id, parameters={"version": version, "config": {"lr": 2e-5}, "launch": {"num_gpus": 1}})

    flow_run = asyncio.run(create())
    result = run_flow(train_sft, flow_run=flow_run, parameters=flow_run.parameters)
    assert result["datasets"] == {"sft_samples": version}
    [run] = _runs(root, "train_sft")
    parameters = json.loads(run["parameters"])
    assert (parameters["config"]["lr"], parameters["config"]["epochs"], parameters["config"]["seq_len"]) == \
        (2e-5, 3, 1024)
    # the run's num_gpus over the deployment's num_nodes, recorded whole (every launch setting, as validated)
    assert parameters["launch"] == {**LaunchSpec().to_dict(), "num_gpus": 1, "num_nodes": 1}
    assert parameters["deployment"] == "train-sft"


# what each training deployment's trigger says (infra/prefect.yaml): the version and the root from the event
TRAIN_SFT_TRIGGER = {
    "type": "event", "enabled": True, "match": {"prefect.resource.id": "drsynth.dataset.sft_samples"},
    "expect": ["drsynth.dataset.published"],
    "parameters": {"version": "{{ event.payload.version }}", "data": "{{ event.payload.root }}"},
}


def test_a_published_version_triggers_one_training_run_on_its_root(prefect_api, tmp_path: Path) -> None:
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.events.worker import EventsWorker
    from prefect.logging import disable_run_logger

    from drsynth.flows.filter_and_publish import publish_versions

    async def deploy() -> object:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("train_sft")
            deployment_id = await client.create_deployment(
                flow_id, "train-sft-trigger", parameters={"data": "/not/the/root", "model": "tiny"},
                entrypoint="drsynth.flows.train:train_sft")
            trigger = DeploymentEventTrigger.model_validate(TRAIN_SFT_TRIGGER)
            trigger.set_deployment_id(deployment_id)
            await client.create_automation(trigger.as_automation())
            return deployment_id

    async def runs(deployment_id: object) -> list[dict]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        async with get_client() as client:
            found = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
            return sorted((r.parameters for r in found), key=lambda p: p["version"])

    deployment_id = asyncio.run(deploy())
    time.sleep(2)  # the automation reaches the trigger service
    out = str(tmp_path / "data")
    ids = _sft_rows(Store(out), 5)
    with disable_run_logger():  # (the publish task's body, outside a flow run)
        first = publish_versions.fn(out, "run-1", {"sft_samples": ids[:4]}, "fp")["sft_samples"]
        EventsWorker.drain_all()
        time.sleep(1)
        publish_versions.fn(out, "run-1", {"sft_samples": ids[:4]}, "fp")  # the run retried: the same event again
        publish_versions.fn(out, "run-2", {"sft_samples": ids[:4]}, "fp")  # filter-on-demand again: no event
        second = publish_versions.fn(out, "run-3", {"sft_samples": ids}, "fp")["sft_samples"]
        EventsWorker.drain_all()
    expected = [{"data": Store(out).uri, "model": "tiny", "version": v} for v in sorted([first, second])]
    deadline = time.monotonic() + 60
    while len(asyncio.run(runs(deployment_id))) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # long enough for a second run of one version to show
    assert asyncio.run(runs(deployment_id)) == expected


def test_a_pipeline_config_given_at_run_time_overrides_only_the_keys_it_names(prefect_api, tmp_path: Path) -> None:
    """`prefect deployment run 'filter_and_publish/filter-on-demand' -p config='{"filter": {"dedup": false}}'`
    keeps the deployment's other [filter] settings."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from drsynth.flows.filter_and_publish import filter_and_publish

    out = tmp_path / "data"
    out.mkdir()
    defaults = {"out": str(out), "config": {"filter": {"decontaminate": False, "ngram": 9}, "agent": {"samples": 3}}}

    async def create() -> object:
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("filter_and_publish")
            deployment_id = await client.create_deployment(flow_id, "filter-on-demand", parameters=defaults,
                                                           entrypoint="drsynth.flows.filter_and_publish:filter_and_publish")
            return await client.create_flow_run_from_deployment(
                deployment_id, parameters={"config": {"filter": {"dedup": False}}})

    flow_run = asyncio.run(create())
    run_flow(filter_and_publish, flow_run=flow_run, parameters=flow_run.parameters)
    [run] = _runs(str(out), "filter_and_publish")
    # the run records every setting it ran with: the run's key, the deployment's, and the defaults
    config = json.loads(run["parameters"])["config"]
    assert {k: config["filter"][k] for k in ("decontaminate", "ngram", "dedup")} == \
        {"decontaminate": False, "ngram": 9, "dedup": False}
    assert config["agent"]["samples"] == 3
    assert config["filter"]["num_perm"] == 128 and config["tasks"]["subgraphs"] == 150
