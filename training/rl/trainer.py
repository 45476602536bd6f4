"""RL on the DeepSpeed engine: each step, G rollouts of a batch of tasks with the model being trained (or an
endpoint serving it), judged, leave-one-out advantages, then the token-level clipped policy loss.

One step (one rollout batch), on every rank with its own tasks:
1. rollouts (`training.rl.rollout.collect`) of `tasks_per_step` tasks, `group_size` each;
2. rewards from the judge, advantages within each task's group over the rollouts that ended with an answer
   (`training.rl.advantage`); the others are excluded from the loss and counted by reason;
3. the included rollouts' segments become token samples (the sampled assistant tokens trained, everything
   else context), packed like SFT rows (`training.data.packing`);
4. strictly on-policy (default): ONE optimizer step over all of them; the old log-probabilities are the
   current ones (ratio 1), so the update is the plain policy gradient. Otherwise `ppo_epochs` passes of
   `minibatches` optimizer steps against the log-probabilities from before the first update.

The loss of an optimizer step is the sum of the per-token objectives over its included tokens on every rank
divided by their total count (DeepSpeed averages gradients over ranks, hence the world-size factor). A token
of a rollout with advantage 0 counts in that total but has no gradient: it is not even forwarded unless the
KL term needs it. An optimizer step where no rank has a token with a gradient is skipped, not stepped with
zero gradients (AdamW's momentum and weight decay would still move the weights).

Tasks: the published `rl_tasks` rows in a seeded order, a new order each pass; step s takes the next
`tasks_per_step * world` of them (rank r every world-th), so a resumed run continues with the same tasks
(its checkpoint names the version and the order; another is refused). `max_steps` rollout batches, or with
`max_steps = 0` enough for `epochs` passes over the tasks.
Logs one JSON line per step to `out/train_log.jsonl`; checkpoints every `save_every` steps under
`out/checkpoints`; the model in Hugging Face format under `out/final`.

With `rollout = "openai"` the log-probabilities are the trainer's (recomputed), so the run is on-policy only
if the endpoint serves the weights being trained: reload it after every optimizer step (for `vllm serve`, a
restart on an export of the current weights, or a weight-update endpoint). The trainer does not reload it.
Not supported: HF rollouts with ZeRO-3 on several ranks (ranks would call `generate`, which gathers ZeRO-3
parameters in lockstep, a different number of times).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drsynth.training.config import TrainConfig
from drsynth.training.data.packing import IGNORE, Sample, collate, pack
from drsynth.training.rl.advantage import leave_one_out
from drsynth.training.rl.loss import policy_loss, token_logprobs
from drsynth.training.rl.rollout import (
    ChatRenderer,
    EndpointPolicy,
    Generator,
    HFPolicy,
    Rollout,
    RolloutBatch,
    collect,
    endpoint_segments_of,
    hf_segments,
    make_judge,
)

log = logging.getLogger("training")
DATASET = "rl_tasks"
TASK_COLUMNS = ["id", "task_id", "question", "answer", "aliases", "answer_type", "level", "pass_rate"]


# --- tasks ----------------------------------------------------------------------------------------------------


def step_tasks(rows: Sequence[dict], step: int, per_rank: int, rank: int, world: int, seed: int) -> list[dict]:
    """This rank's tasks for `step`: the next `per_rank * world` of a seeded order, reshuffled each pass."""
    need = per_rank * world
    orders: dict[int, list[int]] = {}
    out: list[dict] = []
    for k in range(step * need, (step + 1) * need):
        epoch, at = divmod(k, len(rows))
        if epoch not in orders:
            orders[epoch] = list(range(len(rows)))
            random.Random(f"{seed}:rl:{epoch}").shuffle(orders[epoch])
        out.append(rows[orders[epoch][at]])
    return out[rank::world]


# --- rollouts -> training samples -----------------------------------------------------------------------------


def assign_advantages(batch: RolloutBatch) -> None:
    """Leave-one-out advantages within each task's group, over its included rollouts."""
    for group in batch.groups():
        advantages = leave_one_out([r.reward for r in group], [r.included for r in group])
        for rollout, advantage in zip(group, advantages, strict=True):
            rollout.advantage = advantage


def exclusion(rollout: Rollout) -> str | None:
    """Why a rollout stays out of the loss, or None when it is included."""
    if rollout.included:
        return None
    if rollout.trajectory.termination != "answer":
        return rollout.trajectory.termination
    if rollout.verdict not in ("correct", "incorrect"):
        return f"judge_{rollout.verdict}"
    return "no_trained_tokens"


@dataclass
class TrainItem:
    """One training sequence: a segment of an included rollout, with its rollout's advantage.
    `behaviour[j]` is the log-probability the generator sampled token j + 1 with (NaN where unknown);
    `old[j]` the one the ratio is taken against when it is not the current one (None: use behaviour)."""
    sample: Sample
    advantage: float
    behaviour: np.ndarray
    old: np.ndarray | None = None

    @property
    def tokens(self) -> int:
        return self.sample.trained


def train_items(rollouts: Sequence[Rollout], seq_len: int) -> tuple[list[TrainItem], Counter[str]]:
    """The included rollouts' segments as samples, cut to `seq_len` (counted when cut)."""
    items: list[TrainItem] = []
    counts: Counter[str] = Counter()
    for rollout in rollouts:
        if not rollout.included:
            continue
        for segment in rollout.segments:
            if not segment.trained_tokens:
                continue
            ids, trained, logprobs = segment.ids, segment.trained, segment.logprobs
            if len(ids) > seq_len:
                counts["segments_cut"] += 1
                ids, trained, logprobs = ids[:seq_len], trained[:seq_len], logprobs[:seq_len]
            labels = [t if keep else IGNORE for t, keep in zip(ids, trained, strict=True)]
            sample = Sample.of(ids, labels, source=rollout.task.get("task_id") or "")
            if sample.trained:
                items.append(TrainItem(sample, rollout.advantage, np.asarray(logprobs[1:], dtype=np.float32)))
    return items, counts


# --- the update -----------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """A micro-batch: the collated rows, per-position advantages and old log-probabilities, and where each
    item sits (row, offset) so recomputed log-probabilities can be written back."""
    batch: dict
    advantages: Any  # (B, L) float tensor
    behaviour: Any  # (B, L) float tensor (NaN where unknown)
    old: Any  # (B, L) float tensor (NaN where unknown)
    places: list[tuple[TrainItem, int, int]]


def layout(rows: Sequence[Sequence[TrainItem]], pad_id: int, mask: str, dtype: Any) -> Layout:
    import torch

    batch = collate([[item.sample for item in row] for row in rows], pad_id, mask=mask, dtype=dtype)
    shape = batch["targets"].shape
    advantages = np.zeros(shape, dtype=np.float32)
    behaviour = np.full(shape, np.nan, dtype=np.float32)
    old = np.full(shape, np.nan, dtype=np.float32)
    places = []
    for b, row in enumerate(rows):
        at = 0
        for item in row:
            n = len(item.sample)
            advantages[b, at:at + n - 1] = item.advantage
            behaviour[b, at:at + n - 1] = item.behaviour
            old[b, at:at + n - 1] = item.behaviour if item.old is None else item.old
            places.append((item, b, at))
            at += n
    return Layout(batch, torch.from_numpy(advantages), torch.from_numpy(behaviour), torch.from_numpy(old), places)


@dataclass
class StepStats:
    """Sums over the optimizer steps of one rollout batch, on this rank."""
    policy_sum: float = 0.0
    kl_sum: float = 0.0
    clip_low: int = 0
    clip_high: int = 0
    tokens: int = 0  # included tokens (the loss's denominators, summed over optimizer steps)
    forwarded: int = 0  # trained tokens that were forwarded (those with a gradient or a KL term)
    gap_sum: float = 0.0  # sum |logp - behaviour logp| over forwarded tokens with a known behaviour logp
    gap_tokens: int = 0
    ratio_max: float = -math.inf  # over forwarded tokens (infinite while none was)
    ratio_min: float = math.inf
    updates: int = 0
    skipped: int = 0


class Updater:
    """The optimizer steps of one rollout batch on the engine (see the module docstring)."""

    def __init__(self, engine: Any, cfg: TrainConfig, pad_id: int, reference: Any = None) -> None:
        self.engine = engine
        self.cfg = cfg
        self.rl = cfg.rl
        self.pad_id = pad_id
        self.reference = reference
        self.rank, self.world = _rank_world()

    @property
    def _dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.engine.bfloat16_enabled() else torch.float32

    def _rows(self, items: Sequence[TrainItem]) -> list[list[list[TrainItem]]]:
        """Micro-batches of packed rows (longest first, so similar lengths share a row)."""
        ordered = sorted(items, key=lambda i: len(i.sample), reverse=True)
        by_id = {id(i.sample): i for i in ordered}
        packed = pack([i.sample for i in ordered], self.cfg.seq_len, enabled=self.cfg.pack)
        rows = [[by_id[id(s)] for s in row] for row in packed]
        size = self.cfg.micro_batch_size
        return [rows[k:k + size] for k in range(0, len(rows), size)]

    def _forward(self, part: Layout, model: Any) -> Any:
        device = self.engine.device
        inputs = {k: v.to(device) for k, v in part.batch.items() if k != "targets"}
        logits = model(**inputs, use_cache=False).logits
        targets = part.batch["targets"].to(device)
        return token_logprobs(logits, targets.clamp(min=0), self.rl.temperature or 1.0), targets != IGNORE

    def recompute_old(self, items: Sequence[TrainItem]) -> None:
        """The current model's log-probabilities as every item's `old` (before the first update)."""
        import torch

        for micro in self._rows(items):
            part = layout(micro, self.pad_id, self.cfg.packed_mask, self._dtype)
            with torch.no_grad():
                logp, _ = self._forward(part, self.engine)
            logp = logp.float().cpu().numpy()
            for item, b, at in part.places:
                n = len(item.sample)
                item.old = logp[b, at:at + n - 1].copy()

    def run(self, items: Sequence[TrainItem], step: int) -> StepStats:
        stats = StepStats()
        strict = self.rl.on_policy
        if not strict and self.rl.old_logprobs == "recompute":
            self.recompute_old(items)
        epochs, chunks = (1, 1) if strict else (self.rl.ppo_epochs, self.rl.minibatches)
        for epoch in range(epochs):
            order = list(items)
            random.Random(f"{self.cfg.seed}:rl-minibatch:{step}:{epoch}").shuffle(order)
            for chunk in range(chunks):
                self.optimizer_step(order[chunk::chunks], stats, detach_old=strict and
                                    self.rl.old_logprobs == "recompute")
        return stats

    def optimizer_step(self, items: Sequence[TrainItem], stats: StepStats, *, detach_old: bool) -> None:
        """One optimizer step over `items` (every rank calls it, the same number of times)."""
        import torch

        needs_kl = self.rl.kl_coef > 0
        work = [i for i in items if needs_kl or i.advantage != 0]
        micro = self._rows(work)
        local_tokens = sum(i.tokens for i in items)
        total_tokens, signal = _all_reduce([float(local_tokens), float(bool(work))], op="sum")
        micro_count = int(_all_reduce([float(len(micro))], op="max")[0])
        stats.tokens += local_tokens
        if not signal or total_tokens == 0:
            stats.skipped += 1
            return
        # DeepSpeed averages gradients over ranks: scale so the sum over ranks is divided by the total
        denominator = total_tokens / self.world
        self.engine.train()
        for k in range(micro_count):
            self.engine.set_gradient_accumulation_boundary(k == micro_count - 1)
            if k >= len(micro):  # this rank has fewer micro-batches: a zero-loss pass keeps ranks in step
                self._dummy_backward()
                continue
            part = layout(micro[k], self.pad_id, self.cfg.packed_mask, self._dtype)
            logp, mask = self._forward(part, self.engine)
            device = logp.device
            behaviour, old = part.behaviour.to(device), part.old.to(device)
            known = mask & ~torch.isnan(behaviour)
            # unknown old log-probabilities (context positions, endpoint turns) fall back to the current ones
            old = logp.detach() if detach_old else torch.where(torch.isnan(old), logp.detach(), old)
            ref = None
            if self.reference is not None:
                with torch.no_grad():
                    ref, _ = self._forward(part, self.reference)
            parts = policy_loss(logp, old, part.advantages.to(device), mask, eps_low=self.rl.eps_low,
                                eps_high=self.rl.eps_high, total_tokens=denominator, ref_logp=ref,
                                kl_coef=self.rl.kl_coef)
            self.engine.backward(parts.loss, scale_wrt_gas=False)
            stats.policy_sum += parts.policy_sum
            stats.kl_sum += parts.kl_sum
            stats.clip_low += parts.clip_low
            stats.clip_high += parts.clip_high
            stats.forwarded += parts.tokens
            stats.ratio_max = max(stats.ratio_max, parts.ratio_max)
            stats.ratio_min = min(stats.ratio_min, parts.ratio_min)
            if known.any():
                gap = (logp.detach() - torch.nan_to_num(behaviour)).abs()[known]
                stats.gap_sum += float(gap.sum())
                stats.gap_tokens += int(known.sum())
        self.engine.step()
        stats.updates += 1

    def _dummy_backward(self) -> None:
        import torch

        ids = torch.full((1, 2), self.pad_id, dtype=torch.long, device=self.engine.device)
        logits = self.engine(input_ids=ids, use_cache=False).logits
        self.engine.backward(logits.float().sum() * 0.0, scale_wrt_gas=False)


# --- distributed helpers ----------------------------------------------------------------------------------------


def _rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce(values: list[float], op: str) -> list[float]:
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor.tolist()


def _gather(obj: Any) -> list[Any]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


# --- statistics -----------------------------------------------------------------------------------------------


def rollout_stats(rollouts: Sequence[Rollout]) -> dict:
    """What one rank's rollouts were: counts, rewards, advantages, why rollouts were excluded."""
    included = [r for r in rollouts if r.included]
    return {
        "rollouts": len(rollouts), "included": len(included), "excluded": len(rollouts) - len(included),
        "excluded_by": dict(Counter(exclusion(r) for r in rollouts if not r.included)),
        "terminations": dict(Counter(r.trajectory.termination for r in rollouts)),
        "verdicts": dict(Counter(r.verdict for r in rollouts)),
        "correct": sum(r.verdict == "correct" for r in rollouts),
        "rewards": [r.reward for r in included], "advantages": [r.advantage for r in included],
        "tool_calls": sum(r.trajectory.tool_calls for r in rollouts),
        "format_errors": sum(m["content"].startswith("<tool_response>\nFormat error")
                             for r in rollouts for m in r.trajectory.messages if m["role"] == "user"),
        "segments": sum(len(r.segments) for r in rollouts),
        "sampled_tokens": sum(r.tokens for r in rollouts),
        "trained_tokens": sum(r.tokens for r in included),
    }


def _merge(parts: Sequence[dict]) -> dict:
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                target = merged.setdefault(key, Counter())
                target.update(value)
            elif isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = merged.get(key, 0) + value
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in merged.items()}


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.pstdev(values)


def step_record(step: int, rollouts: dict, update: dict, lr: float, timing: dict, *, kl: bool = False) -> dict:
    """The train_log line of one step (rollout stats merged over ranks, update sums over ranks); `kl`: a
    reference model was there to measure it."""
    reward_mean, reward_std = _mean_std(rollouts["rewards"])
    adv_mean, adv_std = _mean_std(rollouts["advantages"])
    advantages = rollouts["advantages"]
    tokens = update["tokens"]
    record = {
        "step": step, "lr": lr,
        "rollouts": rollouts["rollouts"], "included": rollouts["included"], "excluded": rollouts["excluded"],
        "excluded_by": rollouts["excluded_by"], "terminations": rollouts["terminations"],
        "verdicts": rollouts["verdicts"],
        "accuracy": rollouts["correct"] / max(1, rollouts["rollouts"]),
        "reward_mean": reward_mean, "reward_std": reward_std,
        "adv_mean": adv_mean, "adv_std": adv_std,
        "adv_min": min(advantages) if advantages else None, "adv_max": max(advantages) if advantages else None,
        "adv_nonzero": sum(1 for a in advantages if a != 0),
        "tool_calls_mean": rollouts["tool_calls"] / max(1, rollouts["rollouts"]),
        "format_errors": rollouts["format_errors"], "segments": rollouts["segments"],
        "sampled_tokens": rollouts["sampled_tokens"], "tokens": rollouts["trained_tokens"],
        "loss": update["policy_sum"] / tokens if tokens else None,
        "kl": update["kl_sum"] / tokens if tokens and kl else None,
        "clip_low_frac": update["clip_low"] / tokens if tokens else 0.0,
        "clip_high_frac": update["clip_high"] / tokens if tokens else 0.0,
        "ratio_max": update["ratio_max"], "ratio_min": update["ratio_min"],
        "behaviour_logp_gap": update["gap_sum"] / update["gap_tokens"] if update["gap_tokens"] else None,
        "forwarded_tokens": update["forwarded"], "updates": update["updates"], "skipped_updates": update["skipped"],
        **timing,
    }
    return {k: (v if not isinstance(v, float) else round(v, 6) if math.isfinite(v) else None)
            for k, v in record.items()}


def _merge_updates(parts: Sequence[StepStats]) -> dict:
    out = _merge([{k: v for k, v in dataclasses.asdict(p).items()
                   if k not in ("ratio_max", "ratio_min", "updates", "skipped")} for p in parts])
    out["ratio_max"] = max(p.ratio_max for p in parts)
    out["ratio_min"] = min(p.ratio_min for p in parts)
    out["updates"], out["skipped"] = parts[0].updates, parts[0].skipped  # the same on every rank
    return out


# --- the job --------------------------------------------------------------------------------------------------


class Rollouts:
    """Makes one step's rollouts with the configured backend, over the data root's tools."""

    def __init__(self, cfg: TrainConfig, engine: Any, tokenizer: Any, store: Any, model_name: str) -> None:
        from drsynth.synth.tools.toolbox import default_toolbox

        self.cfg = cfg
        self.rl = cfg.rl
        self.engine = engine
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.renderer = ChatRenderer(tokenizer)
        self.tools = default_toolbox(store, log=None, update_index=False)
        self.limits = self.rl.limits(cfg.seq_len)
        self.judge = make_judge(self.rl.judge)
        self.generator: Generator | None = None
        if self.rl.rollout == "hf":
            self.generator = Generator(engine.module, tokenizer, max_new_tokens=self.rl.max_new_tokens,
                                       temperature=self.rl.temperature, top_p=self.rl.top_p,
                                       max_batch=self.rl.generation_batch, max_length=cfg.seq_len)

    def run(self, tasks: Sequence[dict]) -> RolloutBatch:
        module = self.engine.module
        module.eval()
        try:
            return asyncio.run(self._collect(tasks))
        finally:
            module.train()

    async def _collect(self, tasks: Sequence[dict]) -> RolloutBatch:
        common = dict(group_size=self.rl.group_size, concurrency=self.rl.concurrency, today=self.rl.day(),
                      counter=self.renderer.counter())
        if self.generator is not None:
            generator = self.generator
            generator.reset()
            return await collect(tasks, lambda: HFPolicy(generator, self.model_name), hf_segments, self.tools,
                                 self.limits, self.judge, **common)
        from drsynth.synth.teacher.client import TeacherClient
        from drsynth.synth.teacher.config import TeacherConfig

        extra = {"top_p": self.rl.top_p} if self.rl.top_p < 1 else {}
        client = TeacherClient(TeacherConfig(
            base_urls=(self.rl.base_url,), model=self.rl.model, api_key_env=self.rl.api_key_env, cache=False,
            max_concurrency=self.rl.concurrency, temperature=self.rl.temperature,
            max_tokens=self.rl.max_new_tokens, extra_body=extra))
        try:
            policy = EndpointPolicy(client, temperature=self.rl.temperature, max_tokens=self.rl.max_new_tokens)
            return await collect(tasks, lambda: policy, endpoint_segments_of(self.tokenizer), self.tools,
                                 self.limits, self.judge, **common)
        finally:
            await client.aclose()


def load_tasks(data_root: str, version: str) -> tuple[list[dict], str]:
    from drsynth.training.data.published import load_published

    published = load_published(data_root, DATASET, version, columns=TASK_COLUMNS)
    rows = [r for r in published.rows() if isinstance(r.get("question"), str) and r["question"].strip()]
    if not rows:
        raise ValueError(f"{published.name} has no task with a question to train on")
    return rows, published.name


def rl_steps(cfg: TrainConfig, tasks: int, world: int) -> int:
    """Rollout batches the run makes: `max_steps`, else (0) enough for `epochs` passes over the tasks."""
    if cfg.max_steps:
        return cfg.max_steps
    return max(1, math.ceil(tasks * cfg.epochs / (cfg.rl.tasks_per_step * world)))


def load_reference(model_path: str, cfg: TrainConfig, engine: Any) -> Any:
    """The frozen initial model for the KL term (only when kl_coef > 0): a whole copy on every rank, also
    at ZeRO-3 (it is never partitioned: it takes one model's memory per rank)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if engine.bfloat16_enabled() else torch.float32
    reference = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype,
                                                     attn_implementation=cfg.attn_implementation)
    reference.to(engine.device).eval().requires_grad_(False)
    return reference


def train_rl(cfg: TrainConfig, data_root: str, version: str, model_path: str, out: str) -> dict:
    """RL from the published `rl_tasks` version over the data root's tools; returns the run's summary."""
    import torch
    from transformers import AutoTokenizer

    from drsynth.storage.store import Store
    from drsynth.synth.tools.search import SearchIndex, default_index_path
    from drsynth.training.engine import (
        init_distributed,
        initialize,
        load_model,
        resume,
        save_checkpoint,
        save_hf,
    )
    from drsynth.training.loop import TrainLog

    rank, world = init_distributed()
    if cfg.zero_stage == 3 and world > 1 and cfg.rl.rollout == "hf":
        # each rank samples its own tasks, so ranks call `generate` a different number of times: ZeRO-3's
        # parameter gathering inside generate would wait forever for the others
        raise ValueError("[train.rl] rollout = 'hf' needs zero_stage <= 2 on several ranks (ZeRO-3 would "
                         "gather parameters inside generate in lockstep); use rollout = 'openai' or ZeRO-2")
    rows, name = load_tasks(data_root, version)
    steps = rl_steps(cfg, len(rows), world)
    store = Store(data_root)
    if rank == 0:  # one rank brings the search index up to date; the others wait, then read it
        SearchIndex(default_index_path(store)).update(store)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = load_model(model_path, cfg)
    engine = initialize(model, cfg, total_steps=steps * cfg.rl.updates_per_batch)
    reference = load_reference(model_path, cfg, engine) if cfg.rl.kl_coef > 0 else None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = out_dir / "checkpoints"
    # the tasks and their order: a checkpoint of another version or order is not this run's to continue
    identity = {"tasks": name, "task_order": f"seed {cfg.seed}, {cfg.rl.tasks_per_step} per rank, world {world}"}
    start = resume(engine, checkpoints, expect=identity)
    train_log = TrainLog(out_dir / "train_log.jsonl", start, rank == 0)
    rollouts = Rollouts(cfg, engine, tokenizer, store, Path(model_path).name or "policy")
    updater = Updater(engine, cfg, pad_id, reference)
    log.info("rl: %s, %d tasks, %d steps of %d tasks x %d rollouts per rank, %s rollouts", name, len(rows),
             steps, cfg.rl.tasks_per_step, cfg.rl.group_size, cfg.rl.rollout)
    record: dict = {}
    began = time.time()
    for step in range(start, steps):
        torch.manual_seed(cfg.seed * 1_000_003 + step * 1009 + rank)  # sampling reproducible across resumes
        tasks = step_tasks(rows, step, cfg.rl.tasks_per_step, rank, world, cfg.seed)
        generated_before = rollouts.generator.generated if rollouts.generator else 0
        batch = rollouts.run(tasks)
        assign_advantages(batch)
        items, cut = train_items(batch.rollouts, cfg.seq_len)
        lr = float(engine.get_lr()[0])  # the rate this step's updates use
        trained = time.time()
        stats = updater.run(items, step)
        train_s = time.time() - trained
        generated = (rollouts.generator.generated - generated_before) if rollouts.generator else None
        local = rollout_stats(batch.rollouts)
        local["segments_cut"] = cut.get("segments_cut", 0)
        merged = _merge(_gather(local))
        update = _merge_updates(_gather(stats))
        timing = {"rollout_s": round(batch.seconds, 3), "train_s": round(train_s, 3),
                  "elapsed_s": round(time.time() - began, 3),
                  "generated_tokens": generated,
                  "generated_tokens_per_s": round(generated / batch.seconds, 1) if generated and batch.seconds
                  else None, "segments_cut": merged["segments_cut"]}
        record = step_record(step + 1, merged, update, lr, timing, kl=reference is not None)
        train_log.write(record)
        if rank == 0 and (step + 1) % cfg.log_every == 0:
            log.info("rl step %d/%d: reward %s, included %d/%d, tokens %d, clip %.3f/%.3f, %s", step + 1,
                     steps, record["reward_mean"], record["included"], record["rollouts"], record["tokens"],
                     record["clip_low_frac"], record["clip_high_frac"], record["terminations"])
        if (cfg.save_every and (step + 1) % cfg.save_every == 0) or step + 1 == steps:
            save_checkpoint(engine, checkpoints, step + 1, cfg.keep_checkpoints, state=identity)
    final = save_hf(engine, tokenizer, out_dir / "final")
    return {"mode": "rl", "datasets": {DATASET: name}, "steps": steps, "resumed_at": start,
            "output": final, "world_size": world, "bf16": bool(engine.bfloat16_enabled()),
            "rollout": cfg.rl.rollout, "final": record}
