"""SFT training throughput on the real trainer loop (training.loop.run_steps on the DeepSpeed engine):
tokens/s per rank and model FLOPs utilisation (MFU), packed SFT-like rows, ZeRO-2 by default.

Samples are synthetic (random token ids, lengths drawn between seq_len/16 and seq_len/2, the loss on their
second half like an assistant turn) packed into rows of seq_len, so only the model shape and the engine
are measured. The first `--warmup` steps are not timed; checkpoints are off.

    # CPU smoke figure (steps/s of the tiny model; MFU is not meaningful there)
    DS_ACCELERATOR=cpu .venv/bin/python bench/train_throughput.py
    # one GPU: a randomly initialised ~0.5B Qwen2-shaped model built from its config, nothing downloaded
    python bench/train_throughput.py --model qwen2-0.5b --seq-len 4096 --micro-batch 4 --steps 30
    # several GPUs: the same under the launcher (tokens/s is per rank)
    deepspeed --num_gpus 8 bench/train_throughput.py --model qwen2-0.5b --zero 2

MFU = (6 · N_matmul + 12 · layers · hidden · mean causal context) · tokens/s / peak FLOP/s, where N_matmul
counts every weight used in a matrix multiply (the LM head included, the embedding lookup not) and the
attention term uses each packed sample's own context. Peak: --peak-tflops, else bf16 dense for known GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


def build_model(name: str, out: Path) -> str:
    """A model directory: `tiny`, `qwen2-0.5b` (random, from its config) or an existing path."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from drsynth.training.tiny import QWEN2_05B, build_tiny

    if name == "tiny":
        return build_tiny(out / "tiny")
    if name == "qwen2-0.5b":
        path = out / "qwen2-0.5b"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            Qwen2ForCausalLM(Qwen2Config(**QWEN2_05B)).to(torch.bfloat16).save_pretrained(path)
        return os.fspath(path)
    return name


def synthetic_samples(vocab: int, seq_len: int, count: int, seed: int = 0):
    from drsynth.training.data.packing import IGNORE, Sample

    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        n = rng.randint(max(8, seq_len // 16), max(16, seq_len // 2))
        ids = [rng.randrange(vocab) for _ in range(n)]
        samples.append(Sample.of(ids, [IGNORE] * (n // 2) + ids[n // 2:]))
    return samples


def flops_per_token(model, rows) -> float:
    """Training FLOPs per input token: 6 · matmul weights + 12 · layers · hidden · mean causal context."""
    config = model.config
    embedding = model.get_input_embeddings().weight
    matmul = sum(p.numel() for p in model.parameters() if p is not embedding)
    if getattr(config, "tie_word_embeddings", False):
        matmul += config.vocab_size * config.hidden_size  # a tied LM head is the excluded embedding matrix
    contexts = [(len(s) + 1) / 2 for row in rows for s in row for _ in range(len(s))]
    mean_context = sum(contexts) / max(1, len(contexts))
    return 6 * matmul + 12 * config.num_hidden_layers * config.hidden_size * mean_context


def peak_flops(arg: float | None) -> float | None:
    import torch

    if arg:
        return arg * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((tflops * 1e12 for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny | qwen2-0.5b | a model directory")
    parser.add_argument("--zero", type=int, default=2, choices=(0, 1, 2, 3))
    parser.add_argument("--offload", action="store_true")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--micro-batch", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, flash_attention_2, eager)")
    parser.add_argument("--peak-tflops", type=float, help="the accelerator's peak bf16 TFLOP/s for MFU")
    parser.add_argument("--no-pack", action="store_true")
    parser.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch.distributed as dist

    from drsynth.training.config import TrainConfig
    from drsynth.training.engine import init_distributed, initialize, load_model
    from drsynth.training.loop import Phase, plan, run_steps

    rank, world = init_distributed()
    cfg = TrainConfig(zero_stage=args.zero, offload=args.offload, seq_len=args.seq_len,
                      micro_batch_size=args.micro_batch, grad_accum=args.grad_accum, lr=1e-5, warmup_steps=0,
                      max_steps=args.warmup + args.steps, pack=not args.no_pack, log_every=1,
                      gradient_checkpointing=args.gradient_checkpointing, attn_implementation=args.attn)
    with tempfile.TemporaryDirectory() as scratch:
        path = build_model(args.model, Path(scratch)) if rank == 0 else None
        if world > 1:  # every rank reads the model rank 0 built (a shared /tmp on one node)
            holder = [path]
            dist.broadcast_object_list(holder, src=0)
            path = holder[0]
        model = load_model(path, cfg)
        rows_needed = cfg.max_steps * cfg.micro_batch_size * cfg.grad_accum * world
        samples = synthetic_samples(model.config.vocab_size, args.seq_len, rows_needed * 8)
        phase = Phase("sft", samples, args.seq_len, cfg.max_steps)
        steps = plan([phase], cfg, world, rank)
        per_token = flops_per_token(model, [row for step in steps for mb in step.micro_batches for row in mb])
        params = sum(p.numel() for p in model.parameters())  # before ZeRO-3 partitions them
        engine = initialize(model, cfg, total_steps=len(steps))
        records: list[dict] = []
        run_steps(engine, steps, cfg, scratch, pad_id=0, on_step=records.append, checkpoints=False)
    if rank != 0:
        return
    timed = records[args.warmup:]
    seconds = timed[-1]["elapsed_s"] - records[args.warmup - 1]["elapsed_s"] if args.warmup else timed[-1]["elapsed_s"]
    tokens = sum(r["input_tokens"] for r in timed)  # over all ranks
    per_rank = tokens / seconds / world
    peak = peak_flops(args.peak_tflops)
    result = {
        "model": args.model, "params": params, "world_size": world,
        "zero": args.zero, "offload": args.offload, "seq_len": args.seq_len, "micro_batch": args.micro_batch,
        "grad_accum": args.grad_accum, "packed": not args.no_pack, "bf16": bool(engine.bfloat16_enabled()),
        "steps_timed": len(timed), "seconds": round(seconds, 3), "steps_per_s": round(len(timed) / seconds, 3),
        "tokens_per_s_per_rank": round(per_rank, 1), "trained_tokens_per_s": round(
            sum(r["tokens"] for r in timed) / seconds / world, 1),
        "flops_per_token": per_token, "mfu": round(per_rank * per_token / peak, 4) if peak else None,
        "final_loss": timed[-1]["loss"],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
