"""What the `deepspeed` launcher runs on every rank:

    python -m drsynth.training.run {cpt,sft,rl} --data ROOT --version V --model PATH --out DIR --config FILE

Rank 0 writes `OUT/summary.json` (steps, losses, the output path and the dataset versions read); every
trainer writes `OUT/train_log.jsonl` and `OUT/final/` (Hugging Face format).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from drsynth.training.config import TrainConfig, load_config

MODES = ("cpt", "sft", "rl")
DATASETS = {"cpt": "cpt_samples", "sft": "sft_samples", "rl": "rl_tasks"}
SUMMARY = "summary.json"


def trainer(mode: str) -> Callable[[TrainConfig, str, str, str, str], dict]:
    if mode == "cpt":
        from drsynth.training.cpt import train_cpt

        return train_cpt
    if mode == "sft":
        from drsynth.training.sft import train_sft

        return train_sft
    from drsynth.training.rl.trainer import train_rl

    return train_rl


def versions_read(mode: str, data: str, version: str, summary: dict) -> dict[str, str]:
    """The exact versions the trainer read: its own report, else the version it was given, resolved."""
    named = summary.get("datasets")
    if isinstance(named, dict) and named:
        return {str(k): str(v) for k, v in named.items()}
    from drsynth.storage.published import resolve
    from drsynth.storage.store import Store

    return {DATASETS[mode]: resolve(Store(data), DATASETS[mode], version).name}


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m drsynth.training.run", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("mode", choices=MODES)
    top.add_argument("--data", required=True, help="a drsynth output root with published datasets")
    top.add_argument("--version", default="latest", help="the version of the mode's dataset to read")
    top.add_argument("--model", required=True, help="base model directory (Hugging Face format)")
    top.add_argument("--out", required=True)
    top.add_argument("--config", help="TOML file with a [train] table, or JSON {\"train\": {...}}")
    top.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rank = next((os.environ[k] for k in ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK") if k in os.environ), "0")
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress bars are noise in a streamed log
    cfg = load_config(args.config)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    summary = dict(trainer(args.mode)(cfg, args.data, args.version, args.model, args.out))
    summary["datasets"] = versions_read(args.mode, args.data, args.version, summary)
    summary.setdefault("mode", args.mode)
    if _rank() == 0:  # known only now under srun/mpirun, where the trainer's MPI discovery sets it
        Path(args.out, SUMMARY).write_text(json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n")
        logging.getLogger("training").info("done: %s", json.dumps(summary, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
