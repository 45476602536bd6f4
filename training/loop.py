"""The training loop shared by CPT and SFT: a fixed plan of steps over packed rows, token-level loss,
logging to `train_log.jsonl`, checkpoints and resume.

The plan is a pure function of the data and the config, so a resumed run skips exactly the steps it
already made and continues the same loss curve. Every rank builds the same plan and takes its own rows.
Loss: cross-entropy summed over the trained tokens of one step's micro batches on every rank and divided by
their total count, so accumulating micro batches, or spreading them over ranks, equals one large batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drsynth.training.config import TrainConfig
from drsynth.training.data.packing import IGNORE, Sample, collate, pack

log = logging.getLogger("training")


@dataclass(frozen=True)
class Step:
    """One optimizer step on one rank: grad_accum micro batches of micro_batch_size rows."""

    stage: str
    micro_batches: tuple[tuple[tuple[Sample, ...], ...], ...]


@dataclass
class Phase:
    """A span of steps over one pool of samples (SFT has one; CPT one per stage)."""

    name: str
    samples: list[Sample]
    seq_len: int
    steps: int = 0  # 0: `epochs` passes
    counts: dict = field(default_factory=dict)


def rows_per_step(cfg: TrainConfig, world_size: int) -> int:
    return cfg.micro_batch_size * cfg.grad_accum * world_size


def epoch_rows(samples: Sequence[Sample], seq_len: int, cfg: TrainConfig, epoch: int, salt: str) -> list[tuple]:
    """One pass over the samples: shuffled (seeded by epoch), packed into rows."""
    order = list(samples)
    random.Random(f"{cfg.seed}:{salt}:{epoch}").shuffle(order)
    return [tuple(row) for row in pack(order, seq_len, enabled=cfg.pack)]


def phase_steps(phase: Phase, cfg: TrainConfig, world_size: int) -> int:
    """Steps the phase makes: its fixed count, or what `epochs` passes fill (at least one)."""
    if phase.steps:
        return phase.steps
    rows = len(epoch_rows(phase.samples, phase.seq_len, cfg, 0, phase.name))
    return max(1, (rows * cfg.epochs) // rows_per_step(cfg, world_size))


def plan(phases: Sequence[Phase], cfg: TrainConfig, world_size: int, rank: int) -> list[Step]:
    """Every step of the run for this rank, phases in order, each cycling epochs of its rows."""
    per_step = rows_per_step(cfg, world_size)
    steps: list[Step] = []
    for phase in phases:
        count = phase_steps(phase, cfg, world_size)
        rows: list[tuple] = []
        epoch = 0
        while len(rows) < count * per_step:
            rows.extend(epoch_rows(phase.samples, phase.seq_len, cfg, epoch, phase.name))
            epoch += 1
        for s in range(count):
            mine = rows[s * per_step:(s + 1) * per_step][rank::world_size]
            micro = tuple(tuple(mine[m * cfg.micro_batch_size:(m + 1) * cfg.micro_batch_size])
                          for m in range(cfg.grad_accum))
            steps.append(Step(phase.name, micro))
    return steps


def plan_fingerprint(steps: Sequence[Step]) -> str:
    """What the plan trains on, in order: a resumed run must find the same one in its checkpoint."""
    digest = hashlib.sha256()
    for step in steps:
        digest.update(step.stage.encode())
        for rows in step.micro_batches:
            for row in rows:
                digest.update(repr([(s.source, len(s)) for s in row]).encode())
    return digest.hexdigest()[:16]


def token_loss(logits, targets):
    """(sum of cross-entropy over trained targets, their count)."""
    import torch.nn.functional as F

    flat = targets.reshape(-1)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat, ignore_index=IGNORE, reduction="sum")
    return loss, int((flat != IGNORE).sum())


class TrainLog:
    """`train_log.jsonl`: one JSON object per logged step; a resumed run first drops what came after
    its checkpoint (and a line a killed run left half-written), so the file is always one curve."""

    def __init__(self, path: str | os.PathLike[str], resumed_at: int, enabled: bool) -> None:
        self.path = Path(path)
        self.enabled = enabled
        if enabled and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= resumed_at]
            self.path.write_text("".join(f"{line}\n" for line in kept))

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")


def _step_of(line: str) -> float:
    """The step a log line records; infinite (dropped on resume) for a line that is not a whole record."""
    try:
        return json.loads(line).get("step", 0)
    except (json.JSONDecodeError, AttributeError):
        return math.inf


def run_steps(engine, steps: Sequence[Step], cfg: TrainConfig, out: str, pad_id: int,
              on_step: Callable[[dict], None] | None = None, checkpoints: bool = True) -> dict:
    """Train `steps` on `engine` from the newest checkpoint under `out/checkpoints`; returns totals.
    (`checkpoints=False`, for benchmarks: neither resume nor save.)"""
    import torch
    import torch.distributed as dist

    from drsynth.training.engine import resume, save_checkpoint

    rank, world = dist.get_rank(), dist.get_world_size()
    directory = Path(out) / "checkpoints"
    fingerprint = {"plan": plan_fingerprint(steps)}
    start = resume(engine, directory, expect=fingerprint) if checkpoints else 0
    train_log = TrainLog(Path(out) / "train_log.jsonl", start, rank == 0)
    dtype = torch.bfloat16 if engine.bfloat16_enabled() else torch.float32
    device = engine.device
    totals = {"steps": start, "tokens": 0, "loss": None}
    began, window_tokens, window_began = time.time(), 0, time.time()
    for index in range(start, len(steps)):
        step = steps[index]
        batches = [collate(rows, pad_id, mask=cfg.packed_mask, dtype=dtype) for rows in step.micro_batches]
        trained = sum(int((b["targets"] != IGNORE).sum()) for b in batches)
        everywhere = torch.tensor([trained], dtype=torch.float64, device=device)
        dist.all_reduce(everywhere)  # the step's trained tokens on all ranks
        # DeepSpeed divides by grad_accum and averages over ranks: undo both, so the step's loss is a mean
        # over all its trained tokens
        scale = cfg.grad_accum * world / max(1.0, float(everywhere[0]))
        loss_sum, lr = 0.0, engine.get_lr()[0]  # the rate this step applies (the schedule moves after it)
        for batch in batches:
            inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
            logits = engine(**inputs, use_cache=False).logits
            loss, _ = token_loss(logits, batch["targets"].to(device))
            engine.backward(loss * scale)
            engine.step()
            loss_sum += float(loss.detach())
        stats = torch.tensor([loss_sum, trained, sum(int((b["input_ids"] != pad_id).sum()) for b in batches)],
                             dtype=torch.float64, device=device)
        dist.all_reduce(stats)
        number = index + 1
        window_tokens += int(stats[2])
        totals.update(steps=number, tokens=totals["tokens"] + int(stats[1]),
                      loss=float(stats[0] / max(1.0, float(stats[1]))))
        if number % cfg.log_every == 0 or number == len(steps):
            now = time.time()
            grad_norm = engine.get_global_grad_norm()
            record = {"step": number, "stage": step.stage, "loss": round(totals["loss"], 6),
                      "lr": lr, "tokens": int(stats[1]), "input_tokens": int(stats[2]),
                      "grad_norm": None if grad_norm is None else float(grad_norm),
                      "tokens_per_s": round(window_tokens / max(1e-9, now - window_began), 1),
                      "elapsed_s": round(now - began, 3)}
            window_tokens, window_began = 0, now
            train_log.write(record)
            if on_step is not None and rank == 0:
                on_step(record)
        if checkpoints and ((cfg.save_every and number % cfg.save_every == 0) or number == len(steps)):
            save_checkpoint(engine, directory, number, cfg.keep_checkpoints, state=fingerprint)
    return totals


def packing_isolated(engine, vocab_size: int, length: int = 8) -> bool:
    """Whether restarting position_ids alone keep two packed samples apart in this model: the second
    sample's logits packed must match its logits alone (a model whose attention ignores the restart would
    let it see the first sample)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (1, 2 * length), generator=generator).to(engine.device)
    positions = torch.arange(length).repeat(2)[None].to(engine.device)
    with torch.no_grad():
        packed = engine(input_ids=ids, position_ids=positions, use_cache=False).logits[0, length:].float()
        alone = engine(input_ids=ids[:, length:], position_ids=positions[:, :length], use_cache=False).logits[0].float()
    return bool((packed - alone).abs().max() <= 0.05 * alone.abs().max() + 1e-3)


def fit(cfg: TrainConfig, phases: Sequence[Phase], model_path: str, tokenizer, out: str) -> dict:
    """Plan, train and export: the model from `model_path` through every phase, then `out/final`."""
    import torch

    from drsynth.training.engine import init_distributed, initialize, load_model, save_hf

    rank, world = init_distributed()
    phases = [p for p in phases if p.samples]
    if not phases:
        raise ValueError("nothing to train on: no sample has a trained token")
    torch.manual_seed(cfg.seed)
    steps = plan(phases, cfg, world, rank)
    model = load_model(model_path, cfg)
    engine = initialize(model, cfg, total_steps=len(steps))
    if cfg.pack and cfg.packed_mask == "position_ids" and not packing_isolated(engine, model.config.vocab_size):
        log.warning("this model's attention does not separate packed samples by position_ids alone: "
                    "using explicit 4D block-diagonal masks instead")
        cfg = cfg.model_copy(update={"packed_mask": "4d"})
    Path(out).mkdir(parents=True, exist_ok=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    totals = run_steps(engine, steps, cfg, out, pad_id,
                       on_step=lambda r: log.info("step %d/%d %s loss %.4f lr %.3g %.0f tok/s", r["step"],
                                                  len(steps), r["stage"], r["loss"], r["lr"], r["tokens_per_s"]))
    final = save_hf(engine, tokenizer, Path(out) / "final")
    stage_steps: dict[str, int] = {}
    for step in steps:
        stage_steps[step.stage] = stage_steps.get(step.stage, 0) + 1
    return {"steps": totals["steps"], "tokens": totals["tokens"], "final_loss": totals["loss"],
            "output": final, "world_size": world, "bf16": bool(engine.bfloat16_enabled()),
            "phases": {p.name: {"samples": len(p.samples), "steps": stage_steps.get(p.name, 0), **p.counts}
                       for p in phases}}
