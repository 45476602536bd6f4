"""The DeepSpeed engine every trainer runs on: its config, AdamW with warmup + cosine, checkpoints and
resume, and the Hugging Face export (config + safetensors + tokenizer) that transformers and `vllm serve`
load.

ZeRO-2 by default; ZeRO-3 partitions the parameters too (at `initialize`; the export gathers them); `offload` moves the optimizer state (and at stage 3 the parameters) to CPU memory,
with DeepSpeed's CPU Adam. bf16 where the accelerator has it, else fp32 with the reason logged.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drsynth.training.config import TrainConfig

log = logging.getLogger("training")


def bf16_supported() -> tuple[bool, str]:
    """Whether the current accelerator trains in bf16, and why not when it does not."""
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    try:
        if accelerator.is_bf16_supported():
            return True, ""
    except Exception as exc:  # an accelerator that cannot even say
        return False, f"{accelerator.device_name()} could not report bf16 support ({exc})"
    return False, f"{accelerator.device_name()} does not support bf16"


def use_bf16(cfg: TrainConfig) -> bool:
    return cfg.bf16 and _bf16_or_warn()


@functools.cache
def _bf16_or_warn() -> bool:
    ok, reason = bf16_supported()
    if not ok:
        log.warning("bf16 requested but %s: training in fp32", reason)
    return ok


def ds_config(cfg: TrainConfig, *, world_size: int, bf16: bool | None = None) -> dict:
    """The DeepSpeed config for `cfg` on `world_size` ranks (optimizer and schedule are built in
    `initialize`, except DeepSpeed's own CPU Adam under offload)."""
    bf16 = cfg.bf16 if bf16 is None else bf16
    zero: dict[str, Any] = {"stage": cfg.zero_stage, "overlap_comm": cfg.zero_stage > 0,
                            "contiguous_gradients": True, "reduce_bucket_size": 5e7}
    if cfg.zero_stage == 3:
        # save_hf gathers the partitioned weights into one 16-bit state dict on rank 0
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    config: dict[str, Any] = {
        "train_batch_size": cfg.micro_batch_size * cfg.grad_accum * world_size,
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "gradient_clipping": cfg.grad_clip,
        "bf16": {"enabled": bool(bf16)},
        "zero_optimization": zero,
        "steps_per_print": 10**9,  # the trainers log their own steps
        "wall_clock_breakdown": False,
    }
    if cfg.offload:
        if cfg.zero_stage == 0:
            raise ValueError("[train] offload needs zero_stage >= 1")
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if cfg.zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        # DeepSpeed's CPU Adam (built on first use) steps the offloaded state
        config["optimizer"] = {"type": "AdamW", "params": {
            "lr": cfg.lr, "betas": list(cfg.betas), "eps": 1e-8, "weight_decay": cfg.weight_decay}}
    return config


class WarmupCosine:
    """The LR factor after `step` optimizer steps: linear warmup to 1 over `warmup` steps, then a cosine
    down to `min_ratio` at `total` steps (an object, not a lambda, so checkpoints carry it)."""

    def __init__(self, warmup: int, total: int, min_ratio: float) -> None:
        self.warmup, self.total, self.min_ratio = warmup, max(1, total), min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# world sizes that srun and mpirun give their processes: DeepSpeed's slurm, openmpi and mvapich backends start
# the ranks that way and set no RANK, leaving `deepspeed.init_distributed` to find them through MPI (mpi4py)
LAUNCHER_WORLD_SIZES = ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")


def launched_world_size(environ: Mapping[str, str]) -> int:
    """How many processes srun or mpirun started together with this one (1 when none did)."""
    sizes = [environ[name] for name in LAUNCHER_WORLD_SIZES if environ.get(name, "").isdigit()]
    return max((int(size) for size in sizes), default=1)


def init_distributed() -> tuple[int, int]:
    """Join the launcher's process group, or make a one-process group when run directly; (rank, world)."""
    import deepspeed
    import torch.distributed as dist

    if not dist.is_initialized():
        if "RANK" in os.environ:
            deepspeed.init_distributed(verbose=False)
        elif launched_world_size(os.environ) > 1:  # one of several ranks srun/mpirun started: never train alone
            if importlib.util.find_spec("mpi4py") is None:
                raise RuntimeError(f"started by srun/mpirun as one of {launched_world_size(os.environ)} ranks "
                                   "without RANK: DeepSpeed finds the ranks of its slurm, openmpi and mvapich "
                                   "backends through MPI; install mpi4py")
            deepspeed.init_distributed(verbose=False)
        else:  # not under a launcher: a private single-rank group on a free port
            from drsynth.training.launch import free_port

            private = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
            os.environ.update(private)
            os.environ.setdefault("LOCAL_RANK", "0")  # the engine reads it
            try:
                deepspeed.init_distributed(verbose=False)
            finally:
                # the group is made: do not hand this process's rendezvous to subprocesses it starts
                for key in private:
                    os.environ.pop(key, None)
    return dist.get_rank(), dist.get_world_size()


def load_model(path: str, cfg: TrainConfig):
    """The model to train, whole on every rank (at ZeRO-3 `initialize` then partitions it: each rank needs
    the CPU memory for one full copy while loading)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if use_bf16(cfg) else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=cfg.attn_implementation)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def initialize(model, cfg: TrainConfig, total_steps: int):
    """A DeepSpeed engine over `model`: AdamW, warmup + cosine to min_lr over `total_steps`."""
    import deepspeed
    import torch

    _, world = init_distributed()
    config = ds_config(cfg, world_size=world, bf16=use_bf16(cfg))
    schedule = WarmupCosine(cfg.warmup_steps, total_steps, cfg.min_lr / cfg.lr)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = None
    if "optimizer" not in config:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, eps=1e-8,
                                      weight_decay=cfg.weight_decay, foreach=True)
    engine, *_ = deepspeed.initialize(
        model=model, model_parameters=params, optimizer=optimizer, config=config,
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule))
    log.info("deepspeed engine: world %d, zero %d%s, %s, %d steps", world, cfg.zero_stage,
             " + offload" if cfg.offload else "", "bf16" if engine.bfloat16_enabled() else "fp32", total_steps)
    return engine


def checkpoint_tag(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(engine, directory: str | os.PathLike[str], step: int, keep: int = 2,
                    state: Mapping[str, Any] | None = None) -> str:
    """Model, optimizer, schedule, step (and `state`) under `directory/step-N` (every rank calls it); keeps
    the newest `keep` checkpoints."""
    import torch.distributed as dist

    engine.save_checkpoint(os.fspath(directory), tag=checkpoint_tag(step), client_state={**(state or {}), "step": step})
    if dist.get_rank() == 0:
        tags = sorted(p for p in Path(directory).iterdir() if p.is_dir() and p.name.startswith("step-"))
        for old in tags[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return os.fspath(Path(directory) / checkpoint_tag(step))


class CheckpointMismatch(RuntimeError):
    """The checkpoint to resume from was made by another run (other data or settings)."""


def resume(engine, directory: str | os.PathLike[str], expect: Mapping[str, Any] | None = None) -> int:
    """Load the newest checkpoint under `directory` if there is one; the step it was saved at (else 0).
    `expect`: state the checkpoint must have been saved with (e.g. the plan's fingerprint)."""
    if not (Path(directory) / "latest").exists():
        return 0
    path, client_state = engine.load_checkpoint(os.fspath(directory))
    if path is None:
        raise RuntimeError(f"could not load the checkpoint named by {directory}/latest")
    client_state = client_state or {}
    for key, value in (expect or {}).items():
        if client_state.get(key) != value:
            raise CheckpointMismatch(f"{path} was saved by a different {key} ({client_state.get(key)!r}, this run "
                                     f"{value!r}): the data or settings changed; train into a new output directory")
    step = int(client_state.get("step", 0))
    log.info("resumed from %s at step %d", path, step)
    return step


def save_hf(engine, tokenizer, out: str | os.PathLike[str]) -> str:
    """The model in Hugging Face format (config, model.safetensors, tokenizer) under `out`; ZeRO-3
    partitions are gathered first. Every rank calls it; rank 0 writes."""
    import torch.distributed as dist

    module = engine.module
    if engine.zero_optimization_stage() == 3:
        state = engine._zero3_consolidated_16bit_state_dict()  # gathers layer by layer onto rank 0
    else:
        state = module.state_dict()
    if dist.get_rank() == 0:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        module.config.use_cache = True
        dtype = next(iter(state.values())).dtype
        module.config.dtype = dtype
        module.save_pretrained(out, state_dict=state)
        tokenizer.save_pretrained(out)
    dist.barrier()
    return os.fspath(out)
