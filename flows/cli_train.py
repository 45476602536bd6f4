"""`drsynth train {cpt,sft,rl} --data DIR --model PATH [--out DIR] [--config FILE] [--version V]`.

`--data` is a drsynth output root: the job reads the mode's published dataset (cpt_samples, sft_samples,
rl_tasks) through its manifests. `--model tiny` builds the tiny random model and local tokenizer into
OUT/base-tiny first, for a smoke run on any machine. User mistakes print one `error:` line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from drsynth.synth.sections import one_line
from drsynth.training.launch import LAUNCHERS

if TYPE_CHECKING:
    from drsynth.training.config import TrainConfig
    from drsynth.training.launch import LaunchSpec

MODES = {
    "cpt": "agentic continual pre-training on the published cpt_samples (short stage, then long)",
    "sft": "supervised fine-tuning on the published sft_samples (loss on assistant turns only)",
    "rl": "RL on the published rl_tasks: group rollouts with the tools, judge reward, clipped policy loss",
}


class TrainUsageError(Exception):
    """A mistake in the command line, the data root or the config: one line, exit 2."""


def add_train_parser(subparsers) -> None:
    """`drsynth train MODE ...` under the top-level command's subparsers."""
    train = subparsers.add_parser("train", help="train a model on published data with DeepSpeed (cpt, sft, rl)")
    modes = train.add_subparsers(dest="mode", required=True)
    for mode, description in MODES.items():
        command = modes.add_parser(mode, help=description, description=description)
        command.add_argument("--data", required=True, help="a drsynth output root holding published datasets")
        command.add_argument("--model", required=True,
                             help="base model directory (Hugging Face format), or 'tiny' for a random tiny model")
        command.add_argument("--out", help="where checkpoints, logs and OUT/final go (default: DATA/models/MODE-RUN)")
        command.add_argument("--config", help="TOML settings file; its [train] table (and [train.rl]) is read")
        command.add_argument("--version", default="latest", help="the dataset version to read (default: latest)")
        command.add_argument("--num-gpus", type=int, default=1, help="ranks per node (processes on CPU)")
        command.add_argument("--num-nodes", type=int, default=1)
        command.add_argument("--hostfile", help="multi-node: a DeepSpeed hostfile ('HOST slots=N' per line)")
        command.add_argument("--master-port", type=int, help="rendezvous port (default: a free one)")
        command.add_argument("--launcher", default="pdsh", choices=LAUNCHERS,
                             help="multi-node backend DeepSpeed starts the ranks with (default: pdsh over ssh)")
        command.set_defaults(func=run_train)


def _train_config(path: str | None) -> TrainConfig | None:
    """The config file's [train] table, checked (None: no file, the flow's defaults)."""
    from drsynth.training.config import load_config

    if path is None:
        return None
    if not os.path.isfile(path):
        raise TrainUsageError(f"config {path} does not exist")
    try:
        return load_config(path)
    except (OSError, ValueError, TypeError) as exc:  # tomllib's, json's and pydantic's errors are ValueErrors
        raise TrainUsageError(f"config {path}: {one_line(exc, '[train]')}") from exc


def _check_extra() -> None:
    missing = [m for m in ("torch", "deepspeed", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise TrainUsageError(f"training needs {', '.join(missing)}: pip install 'drsynth[train]'")


def _check_data(data: str, mode: str, version: str) -> str:
    from drsynth.storage.published import PublicationError, resolve
    from drsynth.storage.store import Store
    from drsynth.training.run import DATASETS

    if "://" not in data and not os.path.isdir(data):
        raise TrainUsageError(f"--data {data} does not exist: give the output root of a drsynth run")
    try:
        return resolve(Store(data), DATASETS[mode], version).name
    except PublicationError as exc:
        raise TrainUsageError(f"{exc}: publish it first (drsynth demo / drsynth run)") from exc


def _launch(args: argparse.Namespace) -> LaunchSpec:
    from drsynth.training.launch import LaunchSpec, read_hostfile

    launch = {"num_gpus": args.num_gpus, "num_nodes": args.num_nodes, "launcher": args.launcher}
    if args.hostfile:
        try:
            read_hostfile(args.hostfile)
        except (OSError, ValueError) as exc:
            raise TrainUsageError(f"--hostfile: {exc}") from exc
        launch["hostfile"] = os.path.abspath(args.hostfile)
    if args.master_port:
        launch["master_port"] = args.master_port
    try:
        return LaunchSpec.from_dict(launch)
    except ValueError as exc:
        raise TrainUsageError(one_line(exc, "launch")) from exc


def run_train(args: argparse.Namespace) -> int:
    """Check the request, then run the mode's flow; 0 when the model is written, 2 on a user mistake."""
    try:
        _check_extra()
        data = args.data if "://" in args.data else os.path.abspath(args.data)
        _check_data(data, args.mode, args.version)
        if args.model != "tiny" and not (Path(args.model) / "config.json").exists():
            raise TrainUsageError(f"--model {args.model} is not a Hugging Face model directory (no config.json); "
                                  "give one, or 'tiny'")
        config = _train_config(args.config)
        launch = _launch(args)
    except TrainUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from drsynth.flows import train

    model = args.model if args.model == "tiny" else os.path.abspath(args.model)
    out = os.path.abspath(args.out) if args.out else None
    flow = {"cpt": train.train_cpt, "sft": train.train_sft, "rl": train.train_rl}[args.mode]
    # asked for by hand: trains even a version trained before (deployments train each version once)
    result = flow(data=data, model=model, out=out, version=args.version, config=config, launch=launch,
                  retrain=True)
    summary = result["summary"]
    print(f"Trained {args.mode} on {', '.join(result['datasets'].values())}: {summary.get('steps')} steps, "
          f"final loss {summary.get('final_loss')}")
    print(f"Model:    {result['model']}")
    print(f"Run:      {result['run_id']} (drsynth sql --out {data} \"SELECT * FROM runs WHERE flow = "
          f"'train_{args.mode}'\")")
    return 0
