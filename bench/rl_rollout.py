"""RL rollout throughput with Hugging Face `generate`: sampled tokens per second.

Two figures:
- `generate`: one batched call of the RL generator (`training.rl.rollout.Generator`, with its per-token
  behaviour log-probabilities and action stop check) on B copies of the agent's real first prompt (the
  Tongyi system prompt with the default tools, and a question), `--new-tokens` each, for each batch size;
- `rollouts`: whole multi-turn rollouts (`training.rl.rollout.collect`: the ReAct runner, the real tools
  over the demo corpus, the match judge), `--tasks` x `--group` of them, their turns batched together.

Models are random (nothing is downloaded): `--model tiny` is the tests' tiny model (a CPU smoke figure
only); `--model 0.5b` a Qwen2-0.5B-shaped model (24 layers, hidden 896, vocab 151936) built from its
config with the tiny tokenizer (ids beyond it decode to nothing); or a path to a local HF model. A random
model rarely writes a well-formed action, so its turns run to `--new-tokens` and rollouts end in format
errors: the rollout figure measures the machinery at full turn length, not a trained agent's mix of turns.

    .venv/bin/python bench/rl_rollout.py [--model tiny|0.5b|PATH] [--batch 1 8 32] [--new-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if not Path("/dev/nvidia0").exists():  # a GPU machine keeps DeepSpeed's own accelerator detection
    os.environ.setdefault("DS_ACCELERATOR", "cpu")

QUESTION = "Who composed the opera The Lighthouse Keeper, and in what year was its composer born?"


def load(spec: str, work: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2ForCausalLM

    from drsynth.training.tiny import QWEN2_05B, build_tiny, tiny_config

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if spec in ("tiny", "0.5b"):
        path = build_tiny(os.path.join(work, "tiny"))
        tokenizer = AutoTokenizer.from_pretrained(path)
        if spec == "tiny":
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        else:
            torch.manual_seed(0)
            model = Qwen2ForCausalLM(tiny_config(tokenizer, **QWEN2_05B)).to(dtype)
    else:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype)
    return model.to(device).eval(), tokenizer


def first_prompt(tokenizer, tools) -> list[dict]:
    from drsynth.synth.agent.format import system_prompt

    return [{"role": "system", "content": system_prompt(tools.schemas(), "2025-01-01")},
            {"role": "user", "content": QUESTION}]


def bench_generate(model, tokenizer, tools, batches: list[int], new_tokens: int, device: str) -> list[dict]:
    import torch

    from drsynth.training.rl.rollout import Generator

    generator = Generator(model, tokenizer, max_new_tokens=new_tokens, temperature=1.0, max_batch=max(batches))
    prompt = generator.renderer.encode(generator.renderer.prompt(first_prompt(tokenizer, tools)))
    generator.generate_batch([prompt])  # warm-up (kernels, the vocabulary's ">" table)
    out = []
    for size in batches:
        torch.manual_seed(0)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        turns = generator.generate_batch([prompt] * size)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        tokens = sum(len(t.ids) for t in turns)
        out.append({"batch": size, "prompt_tokens": len(prompt), "new_tokens": tokens, "seconds": round(seconds, 3),
                    "tokens_per_s": round(tokens / seconds, 1)})
    return out


def bench_rollouts(model, tokenizer, root: str, tasks: int, group: int, new_tokens: int, turns: int) -> dict:
    from drsynth.storage.store import Store
    from drsynth.synth.agent.runner import AgentLimits
    from drsynth.training.rl.rollout import (
        ChatRenderer,
        Generator,
        HFPolicy,
        collect,
        hf_segments,
        make_judge,
    )

    store = Store(root)
    from drsynth.synth.tools.toolbox import default_toolbox

    tools = default_toolbox(store, log=None)
    titles = [d["title"] for d in store.rows("documents", ["title"]) if d["title"]][:tasks]
    rows = [{"task_id": f"t{i}", "question": f"Who or what is {t}?", "answer": t, "aliases": [], "level": 1,
             "answer_type": "entity"} for i, t in enumerate(titles)]
    generator = Generator(model, tokenizer, max_new_tokens=new_tokens, temperature=1.0, max_batch=tasks * group)
    limits = AgentLimits(max_turns=turns, max_tool_calls=turns, max_format_errors=turns)
    started = time.perf_counter()
    batch = asyncio.run(collect(rows, lambda: HFPolicy(generator), hf_segments, tools, limits,
                                make_judge("match"), group_size=group, concurrency=tasks * group,
                                today="2025-01-01", counter=ChatRenderer(tokenizer).counter()))
    seconds = time.perf_counter() - started
    terminations: dict[str, int] = {}
    for r in batch.rollouts:
        terminations[r.trajectory.termination] = terminations.get(r.trajectory.termination, 0) + 1
    return {"rollouts": len(batch.rollouts), "generate_calls": generator.calls, "sampled_tokens": generator.generated,
            "context_tokens": sum(len(s.ids) for r in batch.rollouts for s in r.segments), "seconds": round(seconds, 3),
            "tokens_per_s": round(generator.generated / seconds, 1), "terminations": terminations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="tiny | 0.5b | a local Hugging Face model directory")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--no-rollouts", action="store_true", help="only the generate figure")
    args = parser.parse_args()

    import torch

    from drsynth.storage.store import Store
    from drsynth.synth.corpus.demo.offline import ingest_demo_site
    from drsynth.synth.tools.toolbox import default_toolbox

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as work:
        model, tokenizer = load(args.model, work, device)
        root = os.path.join(work, "data")
        ingest_demo_site(Store(root))
        tools = default_toolbox(Store(root), log=None)
        report = {
            "model": args.model, "parameters": sum(p.numel() for p in model.parameters()), "device": device,
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None, "dtype": str(model.dtype),
            "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "generate": bench_generate(model, tokenizer, tools, args.batch, args.new_tokens, device),
        }
        if not args.no_rollouts:
            report["rollouts"] = bench_rollouts(model, tokenizer, root, args.tasks, args.group, args.new_tokens,
                                                args.turns)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
