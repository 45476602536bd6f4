"""Flows `train_cpt`, `train_sft`, `train_rl`: pin the published dataset version, prepare the base model,
run the `deepspeed` launcher as a subprocess with its log streamed into the flow's log, and record the run
in `runs` of the data root: the exact dataset version it read (runs.datasets) and the model it wrote
(parameters.out, counts.model), so lineage reaches from a model to its versions, rows and source URLs.

A training deployment is triggered by `drsynth.dataset.published` (flows/filter_and_publish.py): the
trigger passes the event's `root` as `data` and its `version`, so the run reads exactly the version
announced, from the root it was published in. Each deployment trains a version once: a run whose
deployment already trained that version (a completed run of it in `runs` of the root that wrote a model)
records itself as skipped and launches nothing, unless `retrain` is set. `dry_run` stops after pinning the
version (a smoke test of the wiring on a machine without GPUs).

The settings parameters are typed: `config` is the [train] table (`TrainConfig`, `[train.rl]` nested) and
`launch` the launcher's (`LaunchSpec`), so the Prefect UI renders their forms. The keys a run names are
deep-merged over the deployment's defaults and the result validated once, by `over_defaults`: Prefect's own
validation of the parameters is off for these flows, since it would check a run's partial table alone,
before the merge (`-p config='{"min_lr": 2e-5}'` against the default lr, `-p launch='{"num_nodes": 2}'`
without the deployment's hostfile) and refuse what the merged settings allow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import deployment as current_deployment

from drsynth.flows.parameters import deployment_defaults, over_defaults
from drsynth.flows.recorded import recorded_run
from drsynth.storage.published import PublicationError, resolve
from drsynth.storage.runs import COMPLETED, latest_events, new_run_id
from drsynth.storage.store import Store
from drsynth.training.config import TrainConfig, write_config
from drsynth.training.launch import LaunchError, LaunchSpec, launch_command, run_launcher, train_args
from drsynth.training.run import DATASETS, SUMMARY

TINY = "tiny"


def default_out(data: str, mode: str, run_id: str) -> str:
    return os.path.join(data, "models", f"{mode}-{run_id}")


@task(name="pin-dataset-version", cache_policy=NO_CACHE)
def pin_version(data: str, dataset: str, version: str) -> str:
    """`latest` (or a short name) as the exact `dataset@v…` this run will read, fixed before it starts."""
    publication = resolve(Store(data), dataset, version)
    if not publication.rows:  # published before 0-row versions were refused
        raise PublicationError(f"{publication.name} under {data} has no rows: nothing to train on")
    return publication.name


def trained_by(data: str, flow: str, version: str, deployment: str | None) -> str | None:
    """The id of a completed run of `flow` from `deployment` (None: not a deployment's run) that trained
    `version` of the root `data` and wrote a model, if there is one."""
    for run_id, row in sorted(latest_events(Store(data)).items()):
        if row["flow"] != flow or row["status"] != COMPLETED:
            continue
        read = json.loads(row.get("datasets") or "{}").get("read", {})
        counts = json.loads(row.get("counts") or "{}")
        parameters = json.loads(row.get("parameters") or "{}")
        if version in read.values() and counts.get("model") and parameters.get("deployment") == deployment:
            return run_id
    return None


@task(name="prepare-base-model", cache_policy=NO_CACHE)
def prepare_model(model: str, out: str) -> str:
    """The base model directory; `tiny` builds the tiny random model and its tokenizer into out/base-tiny."""
    if model == TINY:
        from drsynth.training.tiny import build_tiny

        path = build_tiny(Path(out) / "base-tiny")
        get_run_logger().info("built the tiny random model at %s", path)
        return path
    if not (Path(model) / "config.json").exists():
        raise FileNotFoundError(f"{model} is not a Hugging Face model directory (no config.json)")
    return model


@task(name="launch-training", cache_policy=NO_CACHE)
def launch_training(mode: str, data: str, version: str, model: str, out: str, config_path: str,
                    launch: LaunchSpec) -> dict:
    """The launcher and its ranks, to the end; their output is this task's log. Returns OUT/summary.json."""
    logger = get_run_logger()
    args = train_args(mode, data=data, version=version, model=model, out=out, config=config_path)
    cmd = launch_command(launch, args)
    logger.info("launching: %s", " ".join(cmd))
    (Path(out) / SUMMARY).unlink(missing_ok=True)
    run_launcher(cmd, out, on_line=logger.info)
    summary_path = Path(out) / SUMMARY
    if not summary_path.exists():  # e.g. a rank killed by a signal: the launcher still exits 0
        raise LaunchError(f"the launcher exited 0 but the job wrote no {summary_path}: see {out}/launcher.log")
    return json.loads(summary_path.read_text())


def _report(mode: str, pinned: str, summary: dict) -> str:
    lines = [f"# train_{mode}", "", f"- dataset: `{pinned}`", f"- model: `{summary.get('output')}`",
             f"- steps: {summary.get('steps')}, trained tokens: {summary.get('tokens')}",
             f"- final loss: {summary.get('final_loss')}"]
    for name, phase in (summary.get("phases") or {}).items():
        lines.append(f"- phase `{name}`: {json.dumps(phase, sort_keys=True)}")
    return "\n".join(lines)


def run_training(mode: str, data: str, model: str, out: str | None = None, version: str = "latest",
                 config: TrainConfig | Mapping[str, Any] | None = None,
                 launch: LaunchSpec | Mapping[str, Any] | None = None, run_id: str | None = None,
                 retrain: bool = False, dry_run: bool = False) -> dict:
    """One training job of `mode` over the data root `data`, recorded in its `runs`. `config` and `launch`
    come as the flow got them (a model, or a run's table from the API) and are validated here, once, over
    the deployment's defaults: a bad setting fails before anything runs."""
    defaults = deployment_defaults()
    cfg = over_defaults("config", config, TrainConfig, defaults)
    spec = over_defaults("launch", launch, LaunchSpec, defaults)
    run_id = run_id or new_run_id()
    out = os.path.abspath(out or default_out(data, mode, run_id))
    dataset, flow = DATASETS[mode], f"train_{mode}"
    deployment = current_deployment.name
    parameters = {"mode": mode, "data": data, "model": model, "out": out, "version": version,
                  "config": cfg.to_dict(), "launch": spec.to_dict(), "deployment": deployment, "retrain": retrain,
                  "dry_run": dry_run}
    result: dict = {"model": None, "summary": {}}
    with recorded_run(data, flow, parameters, run_id) as (log, counts):
        pinned = pin_version(data, dataset, version)
        log.read(dataset, pinned)
        result.update(run_id=log.run_id, datasets={dataset: pinned})
        earlier = None if retrain else trained_by(data, flow, pinned, deployment)
        if earlier or dry_run:
            if earlier:
                get_run_logger().info("%s was trained already by run %s%s: skipped (retrain=true trains it "
                                      "again)", pinned, earlier, f" of deployment {deployment}" if deployment else "")
                counts["skipped"] = 1
                result["trained_by"] = earlier
            counts["dry_run"] = int(dry_run)
            return result
        Path(out).mkdir(parents=True, exist_ok=True)
        base = prepare_model(model, out)
        config_path = write_config(cfg, Path(out) / "train_config.json")
        summary = launch_training(mode, data, pinned, base, out, config_path, spec)
        read = (summary.get("datasets") or {}).get(dataset)
        if read != pinned:
            raise RuntimeError(f"the job read {read!r}, not the pinned {pinned!r}")
        counts.update({"steps": summary.get("steps", 0), "tokens": summary.get("tokens", 0),
                       "final_loss": summary.get("final_loss"), "model": summary.get("output"),
                       "base_model": base})
        create_markdown_artifact(_report(mode, pinned, summary), key=f"train-{mode}",
                                 description=f"train_{mode} run {log.run_id}")
    return {**result, "model": summary.get("output"), "summary": summary}


@flow(name="train_cpt", validate_parameters=False)  # validated in run_training, after the merge
def train_cpt(data: str, model: str, out: str | None = None, version: str = "latest",
              config: TrainConfig | None = None, launch: LaunchSpec | None = None, run_id: str | None = None,
              retrain: bool = False, dry_run: bool = False) -> dict:
    """Agentic continual pre-training on a published `cpt_samples` version (config: the [train] table;
    launch: num_gpus, num_nodes, hostfile, master_addr, master_port, launcher, bind_cores; retrain: train a
    version this deployment trained already; dry_run: stop after pinning the version)."""
    return run_training("cpt", data, model, out, version, config, launch, run_id, retrain, dry_run)


@flow(name="train_sft", validate_parameters=False)  # validated in run_training, after the merge
def train_sft(data: str, model: str, out: str | None = None, version: str = "latest",
              config: TrainConfig | None = None, launch: LaunchSpec | None = None, run_id: str | None = None,
              retrain: bool = False, dry_run: bool = False) -> dict:
    """SFT on a published `sft_samples` version (ReAct and context-management samples)."""
    return run_training("sft", data, model, out, version, config, launch, run_id, retrain, dry_run)


@flow(name="train_rl", validate_parameters=False)  # validated in run_training, after the merge
def train_rl(data: str, model: str, out: str | None = None, version: str = "latest",
             config: TrainConfig | None = None, launch: LaunchSpec | None = None, run_id: str | None = None,
             retrain: bool = False, dry_run: bool = False) -> dict:
    """RL (group rollouts, leave-one-out advantage, clipped token-level loss) on a published `rl_tasks`
    version; rollouts search the corpus of the same data root."""
    return run_training("rl", data, model, out, version, config, launch, run_id, retrain, dry_run)
