"""RL (training.rl): the config, leave-one-out advantages and the clipped token-level loss against values
computed by hand, the HF policy's token-level rollouts, one real optimizer step on the DeepSpeed engine, and
`train_rl` end to end (HF rollouts through the `training.run` entry point, and an OpenAI-compatible endpoint)
over a demo root with a published rl_tasks version, with the tiny model."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.training.config import TrainConfig
from drsynth.training.rl.advantage import group_advantages, leave_one_out
from drsynth.training.rl.config import RLConfig

os.environ.setdefault("DS_ACCELERATOR", "cpu")  # before deepspeed is first imported

TODAY = "2025-01-01"
GOLD = {
    "Who composed the opera The Lighthouse Keeper?": "Aurel Fennick",
    "What is the capital of Estavia?": "Varkholm",
    "In what year was the Varkholm Conservatory founded?": "1839",
}


def _torch():
    return pytest.importorskip("torch")


# --- config ----------------------------------------------------------------------------------------------------


def test_rl_config_reads_its_table_and_rejects_mistakes() -> None:
    cfg = TrainConfig.from_dict({"rl": {"group_size": 8, "eps_high": 0.3, "on_policy": False, "ppo_epochs": 2}})
    assert isinstance(cfg.rl, RLConfig) and (cfg.rl.group_size, cfg.rl.eps_high) == (8, 0.3)
    assert cfg.rl.updates_per_batch == 2 and RLConfig().updates_per_batch == 1
    defaults = RLConfig()
    assert (defaults.group_size, defaults.eps_low, defaults.eps_high, defaults.kl_coef, defaults.on_policy,
            defaults.rollout, defaults.judge) == (4, 0.2, 0.28, 0.0, True, "hf", "match")
    limits = RLConfig(max_new_tokens=100, max_turns=4).limits(2048)
    assert limits.max_context_tokens == 2048 - 100 - 8 * 12 and limits.max_turns == 4
    bad = [{"group_sise": 4}, {"group_size": 1}, {"eps_low": 1.0}, {"rollout": "vllm"}, {"rollout": "openai"},
           {"old_logprobs": "rollout", "rollout": "openai", "base_url": "http://x/v1", "model": "m"},
           {"on_policy": 1}, {"group_size": 2.5}, {"temperature": "hot"}, {"judge": "llm"}, {"today": "soon"},
           {"top_p": 0.0}, {"max_context_tokens": -1}, {"max_wall_s": float("inf")}, {"max_format_errors": -1},
           {"group_size": True}]
    for table in bad:
        with pytest.raises(ValueError, match="|".join(table)):  # the message names the key
            RLConfig.from_dict(table)
    with pytest.raises(ValueError, match=r"group_size\n.*greater than or equal to 2"):  # leave-one-out needs 2
        RLConfig.from_dict({"group_size": 1})


# --- advantages ------------------------------------------------------------------------------------------------


def test_leave_one_out_advantages_by_hand() -> None:
    # all four included: A_i = r_i - mean of the other three
    assert leave_one_out([1, 0, 1, 0], [True] * 4) == pytest.approx([1 - 1 / 3, -2 / 3, 1 - 1 / 3, -2 / 3])
    # the third ended without an answer: out of the loss AND of the others' baselines
    assert leave_one_out([1, 0, 0, 1], [True, True, False, True]) == pytest.approx([0.5, -1.0, 0.0, 0.5])
    # had it counted in the baseline, the first would have had 1 - 1/3
    assert leave_one_out([1.0, 0.5, 0.0], [True, True, True]) == pytest.approx([0.75, 0.0, -0.75])
    # fewer than two included: no baseline, no advantage
    assert leave_one_out([1, 0, 0], [True, False, False]) == [0.0, 0.0, 0.0]
    assert leave_one_out([0, 0], [False, False]) == [0.0, 0.0]
    # a group all right (or all wrong) carries no signal
    assert leave_one_out([1, 1, 1], [True] * 3) == [0.0, 0.0, 0.0]
    assert group_advantages([([1, 0], [True, True]), ([1, 1], [True, False])]) == [[1.0, -1.0], [0.0, 0.0]]
    with pytest.raises(ValueError):
        leave_one_out([1, 0], [True])


# --- the loss --------------------------------------------------------------------------------------------------


def _hand_batch():
    """Three sequences of three tokens, old log-probabilities 0, so the ratio is exactly r:
    row 0 (A = +1): r = 1.0, 1.5 (clipped high at 1.28), 0.5 (A > 0 and r < 1: not clipped);
    row 1 (A = -0.5): r = 0.7 (clipped low at 0.8), 1.2 (inside), 2.0 (masked out);
    row 2: an excluded rollout (mask 0, A 0) with wild ratios."""
    torch = _torch()
    ratios = torch.tensor([[1.0, 1.5, 0.5], [0.7, 1.2, 2.0], [3.0, 0.1, 1.0]], dtype=torch.float64)
    logp = ratios.log().requires_grad_(True)
    old = torch.zeros_like(ratios)
    advantages = torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 0, 0]], dtype=torch.float64)
    return torch, logp, old, advantages, mask


def test_policy_loss_by_hand_with_clipping_on_both_sides() -> None:
    from drsynth.training.rl.loss import policy_loss

    _, logp, old, advantages, mask = _hand_batch()
    parts = policy_loss(logp, old, advantages, mask, eps_low=0.2, eps_high=0.28)
    objectives = [1.0, 1.28, 0.5, -0.4, -0.6]  # min(r A, clip(r) A) of the five included tokens
    assert parts.tokens == 5
    assert parts.loss.item() == pytest.approx(-sum(objectives) / 5)  # -0.356
    assert (parts.clip_high, parts.clip_low) == (1, 1)
    assert parts.policy_sum == pytest.approx(-sum(objectives))
    assert (parts.ratio_max, parts.ratio_min) == (pytest.approx(1.5), pytest.approx(0.5))
    parts.loss.backward()
    # d loss / d logp = -A r / N where the clip is not active, else 0; nothing flows outside the mask
    expected = [[-1.0 * 1.0 / 5, 0.0, -1.0 * 0.5 / 5], [0.0, 0.5 * 1.2 / 5, 0.0], [0.0, 0.0, 0.0]]
    assert logp.grad.tolist() == [pytest.approx(row) for row in expected]


def test_policy_loss_micro_batches_add_up_and_the_kl_term_is_k3() -> None:
    from drsynth.training.rl.loss import policy_loss, token_logprobs

    torch, logp, old, advantages, mask = _hand_batch()
    whole = policy_loss(logp, old, advantages, mask, eps_low=0.2, eps_high=0.28)
    first = policy_loss(logp[:1], old[:1], advantages[:1], mask[:1], eps_low=0.2, eps_high=0.28, total_tokens=5)
    rest = policy_loss(logp[1:], old[1:], advantages[1:], mask[1:], eps_low=0.2, eps_high=0.28, total_tokens=5)
    assert (first.loss + rest.loss).item() == pytest.approx(whole.loss.item())
    assert first.clip_high + rest.clip_high == 1 and first.tokens + rest.tokens == 5

    ref = torch.zeros_like(old)  # the reference gives every token log-probability 0
    ratios = [1.0, 1.5, 0.5, 0.7, 1.2]
    k3 = [1 / r + math.log(r) - 1 for r in ratios]  # exp(ref - logp) - (ref - logp) - 1
    with_kl = policy_loss(logp, old, advantages, mask, eps_low=0.2, eps_high=0.28, ref_logp=ref, kl_coef=0.1)
    assert with_kl.kl_sum == pytest.approx(sum(k3))
    assert with_kl.loss.item() == pytest.approx(-1.78 / 5 + 0.1 * sum(k3) / 5)
    measured = policy_loss(logp, old, advantages, mask, eps_low=0.2, eps_high=0.28, ref_logp=ref, kl_coef=0.0)
    assert measured.loss.item() == pytest.approx(whole.loss.item()) and measured.kl_sum == pytest.approx(sum(k3))

    logits = torch.randn(2, 4, 7, dtype=torch.float64)
    targets = torch.randint(0, 7, (2, 4))
    expected = torch.log_softmax(logits / 0.7, dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, targets, 0.7), expected.float(), atol=1e-6)


# --- rollouts: token-level HF policy ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("transformers")
    _torch()
    from drsynth.training.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("rl-tiny") / "model")


@pytest.fixture(scope="module")
def tiny_loaded(tiny: str) -> SimpleNamespace:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny).eval()
    return SimpleNamespace(model=model, tokenizer=AutoTokenizer.from_pretrained(tiny))


class _Forcing:
    """A logits processor that leaves only the script's next token (then the end token) possible."""

    def __init__(self, script: list[int], width: int, end: int) -> None:
        self.script, self.width, self.end = script, width, end

    def __call__(self, input_ids, scores):
        import torch

        t = input_ids.shape[1] - self.width
        token = self.script[t] if t < len(self.script) else self.end
        forced = torch.full_like(scores, -math.inf)
        forced[:, token] = 0.0
        return forced


class ScriptedModel:
    """The tiny model made to write given turns, one script per `generate` call: what a trained model would
    sample, so the generator's stopping, cutting and recording can be checked exactly."""

    def __init__(self, model, tokenizer, scripts: list[str]) -> None:
        self.model, self.config = model, model.config
        self.scripts = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in scripts]
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def parameters(self):
        return self.model.parameters()

    def generate(self, *, input_ids, logits_processor, **kwargs):
        from transformers import LogitsProcessorList

        forcing = _Forcing(self.scripts.pop(0), input_ids.shape[1], self.end)
        return self.model.generate(input_ids=input_ids, logits_processor=LogitsProcessorList(
            [forcing, *logits_processor]), **kwargs)


def _echo_tools():
    from drsynth.synth.tools.base import Toolbox
    from tests.helpers import Echo

    return Toolbox([Echo()])


def test_action_end_is_the_teacher_policys_cut() -> None:
    from drsynth.synth.agent.policy import cut_at_action
    from drsynth.training.rl.rollout import action_end

    assert action_end("<think>write </answer> later</think>") is None  # inside think: not an action
    text = "<think>ok</think>\n<answer>42</answer>"
    assert action_end(text) == len(text) == len(cut_at_action(text + " junk"))
    assert action_end(text + "\nmore") == len(text)
    assert action_end("<tool_call>\n{}\n</tool_call>") is not None and action_end("<answer>4") is None


def test_hf_policy_rollout_is_token_exact(tiny_loaded: SimpleNamespace) -> None:
    from drsynth.synth.agent.runner import AgentLimits, run_react
    from drsynth.training.rl.rollout import Generator, HFPolicy

    tokenizer = tiny_loaded.tokenizer
    call = ('<think>I will not write </answer> yet.</think>\n<tool_call>\n{"name": "search", "arguments": '
            '{"query": ["Varkholm"]}}\n</tool_call>')
    answer = "<think>found it</think>\n<answer>Varkholm</answer>"
    scripts = [call + "\n<tool_response>\ninvented", answer + "\nuser: thanks"]
    generator = Generator(ScriptedModel(tiny_loaded.model, tokenizer, scripts), tokenizer, max_new_tokens=200)
    policy = HFPolicy(generator)
    task = {"id": "t1", "question": "What is the capital of Estavia?", "level": 1}
    t = asyncio.run(run_react(task, policy, _echo_tools(), AgentLimits(max_turns=4), today=TODAY))
    assert (t.termination, t.answer, t.tool_calls) == ("answer", "Varkholm", 1)
    # the turns the runner saw end at their action, like the teacher policy's
    assert t.messages[2]["content"] == call and t.messages[4]["content"] == answer
    assert generator.calls == 2

    [segment] = policy.segments  # the second turn extended the first one's context exactly
    renderer = generator.renderer
    assert renderer.decode(segment.ids).startswith(renderer.prompt(t.messages[:2]))
    sampled = [i for i, keep in zip(segment.ids, segment.trained, strict=True) if keep]
    turns = [renderer.encode(call), renderer.encode(answer)]
    assert sampled == turns[0] + turns[1]  # exactly the sampled tokens are trained
    runs, current = [], []
    for token, keep in zip(segment.ids, segment.trained, strict=True):
        if keep:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    runs.append(current)
    assert runs == turns  # two trained spans; the tool response between them is context
    context = renderer.decode([i for i, keep in zip(segment.ids, segment.trained, strict=True) if not keep])
    assert "<tool_response>\nresults for Varkholm\n</tool_response>" in context and "invented" not in context
    trained_logprobs = [lp for lp, keep in zip(segment.logprobs, segment.trained, strict=True) if keep]
    assert trained_logprobs == [0.0] * len(sampled)  # the forced distribution is one-hot
    assert all(math.isnan(lp) for lp, keep in zip(segment.logprobs, segment.trained, strict=True) if not keep)

    # a conversation that is no longer an extension of the segment (old observations cut) starts a new one
    changed = [*t.messages[:3], {"role": "user", "content": "<tool_response>\n[removed]\n</tool_response>"}]
    generator.model.scripts.append(renderer.encode(answer))
    asyncio.run(policy.respond(changed, sample_index=0))
    assert len(policy.segments) == 2
    assert renderer.decode(policy.segments[1].ids).startswith(renderer.prompt(changed))


def test_generator_behaviour_logprobs_match_a_forward_pass(tiny_loaded: SimpleNamespace) -> None:
    torch = _torch()
    from drsynth.training.rl.rollout import Generator

    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    torch.manual_seed(0)
    generator = Generator(model, tokenizer, max_new_tokens=12, temperature=0.7)
    prompts = [generator.renderer.encode(text) for text in
               ("<|im_start|>user\nWhere is Varkholm?<|im_end|>\n<|im_start|>assistant\n", "Estavia",
                "The Halvard Encyclopedia is an online open-content project written for testing software")]
    turns = generator.generate_batch(prompts)  # one left-padded batch of three lengths
    assert len(turns) == 3 and generator.calls == 1
    for prompt, turn in zip(prompts, turns, strict=True):
        assert turn.ids and len(turn.ids) == len(turn.logprobs) and turn.finish in ("length", "eos", "action")
        full = torch.tensor([prompt + turn.ids])
        with torch.no_grad():
            logits = model(full).logits[0, len(prompt) - 1:-1].float()
        expected = torch.log_softmax(logits / 0.7, dim=-1).gather(-1, torch.tensor(turn.ids)[:, None]).squeeze(-1)
        assert torch.allclose(torch.tensor(turn.logprobs), expected, atol=2e-4)


def test_endpoint_trajectories_are_masked_like_sft(tiny_loaded: SimpleNamespace) -> None:
    from drsynth.training.rl.rollout import endpoint_segments

    tokenizer = tiny_loaded.tokenizer
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "q?"},
                {"role": "assistant", "content": "<think>a</think>\n<tool_call>\n{}\n</tool_call>"},
                {"role": "user", "content": "<tool_response>\nobs\n</tool_response>"},
                {"role": "assistant", "content": "<answer>x</answer>"}]
    [segment] = endpoint_segments(tokenizer, messages)
    trained = tokenizer.decode([i for i, keep in zip(segment.ids, segment.trained, strict=True) if keep])
    assert trained == messages[2]["content"] + "<|im_end|>" + messages[4]["content"] + "<|im_end|>"
    assert all(math.isnan(lp) for lp in segment.logprobs)


# --- rollouts -> samples -> one optimizer step -----------------------------------------------------------------


def _rollout(task: dict, index: int, termination: str, verdict: str, reward: float, ids: list[int],
             trained: list[bool]):
    from drsynth.synth.agent.runner import Trajectory
    from drsynth.training.rl.rollout import Rollout, Segment

    answer = "x" if termination == "answer" else None
    trajectory = Trajectory(task["task_id"], task["question"], 1, "react", "rl-hf", "tiny", index, [], answer,
                            termination, 0, len(ids), "tiny", 0.0)
    segment = Segment(list(ids), list(trained), [-1.0 if keep else math.nan for keep in trained])
    return Rollout(task, index, trajectory, [segment], verdict, reward)


def _hand_rollouts(rewards: list[float]):
    """A group of hand-built rollouts of one task (each its own trained tokens) and one more without an
    answer, as a RolloutBatch."""
    from drsynth.training.rl.rollout import RolloutBatch

    task = {"task_id": "t1", "question": "q?"}
    trained = [False, False, False, True, True, True, False, True]
    rollouts = [_rollout(task, i, "answer", "correct" if r else "incorrect", r, [5, 6, 7, 20 + i, 30 + i, 9, 10, 11],
                         trained) for i, r in enumerate(rewards)]
    rollouts.append(_rollout(task, len(rewards), "format_error", "no_answer", 0.0, [5, 6, 7, 8, 9, 10, 11, 12],
                             trained))
    return RolloutBatch(rollouts, 0.0)


def test_rollouts_become_samples_with_their_groups_advantages() -> None:
    _torch()
    from drsynth.training.rl.trainer import (
        assign_advantages,
        exclusion,
        rollout_stats,
        step_tasks,
        train_items,
    )

    batch = _hand_rollouts([1.0, 0.0, 0.0])
    assign_advantages(batch)
    assert [r.advantage for r in batch.rollouts] == pytest.approx([1.0, -0.5, -0.5, 0.0])
    assert [exclusion(r) for r in batch.rollouts] == [None, None, None, "format_error"]
    items, cut = train_items(batch.rollouts, seq_len=6)
    assert len(items) == 3 and cut["segments_cut"] == 3  # the excluded rollout gives no sample
    assert [i.tokens for i in items] == [3, 3, 3]  # cut to 6 tokens: targets 3, 4, 5 trained
    assert items[0].behaviour.tolist()[2:5] == [-1.0, -1.0, -1.0]
    stats = rollout_stats(batch.rollouts)
    assert (stats["included"], stats["excluded"], stats["excluded_by"]) == (3, 1, {"format_error": 1})
    assert stats["trained_tokens"] == 12 and stats["rewards"] == [1.0, 0.0, 0.0]

    rows = [{"task_id": str(i)} for i in range(5)]
    ranks = [step_tasks(rows, 0, 2, rank, 2, seed=3) for rank in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 2 and not {r["task_id"] for r in ranks[0]} & {
        r["task_id"] for r in ranks[1]}
    assert step_tasks(rows, 1, 2, 0, 2, seed=3) == step_tasks(rows, 1, 2, 0, 2, seed=3)
    first_pass = [r["task_id"] for s in range(5) for r in step_tasks(rows, s, 1, 0, 1, seed=3)]
    assert sorted(first_pass) == ["0", "1", "2", "3", "4"]  # every task once per pass


def test_rl_steps_are_max_steps_or_enough_for_the_epochs() -> None:
    _torch()
    from drsynth.training.rl.trainer import rl_steps

    assert rl_steps(TrainConfig(max_steps=7), tasks=100, world=2) == 7
    per_step = TrainConfig.from_dict({"epochs": 2, "rl": {"tasks_per_step": 8}})
    assert rl_steps(per_step, tasks=100, world=1) == 25 and rl_steps(per_step, tasks=100, world=2) == 13
    assert rl_steps(TrainConfig(), tasks=3, world=1) == 1  # fewer tasks than one batch: still one step


def _parameters(module) -> dict:
    return {name: p.detach().float().clone() for name, p in module.named_parameters()}


@pytest.fixture(scope="module")
def engine(tiny: str):
    """A DeepSpeed engine (ZeRO-2, fp32) over the tiny model, shared by the update tests."""
    pytest.importorskip("deepspeed")
    from drsynth.training.engine import initialize, load_model

    cfg = TrainConfig.from_dict({"bf16": False, "lr": 1e-2, "warmup_steps": 0, "max_steps": 20, "seq_len": 64,
                                 "micro_batch_size": 1, "weight_decay": 0.0})
    return initialize(load_model(tiny, cfg), cfg, total_steps=cfg.max_steps)


def _items(rewards: list[float], seq_len: int = 64):
    from drsynth.training.rl.trainer import assign_advantages, train_items

    batch = _hand_rollouts(rewards)
    assign_advantages(batch)
    return train_items(batch.rollouts, seq_len)[0]


def test_one_optimizer_step_moves_the_weights_only_with_a_nonzero_advantage(engine) -> None:
    torch = _torch()
    from drsynth.training.rl.trainer import Updater

    cfg = TrainConfig.from_dict({"seq_len": 64, "micro_batch_size": 1})
    updater = Updater(engine, cfg, pad_id=0)

    def step(rewards: list[float], number: int):
        items = _items(rewards)
        before = _parameters(engine.module)
        stats = updater.run(items, step=number)
        after = _parameters(engine.module)
        return stats, any(not torch.equal(before[k], v) for k, v in after.items())

    solved = [1.0, 1.0, 1.0]  # every answer right: all advantages 0
    stats, moved = step(solved, 0)
    assert (stats.updates, stats.skipped, stats.tokens, stats.forwarded, moved) == (0, 1, 12, 0, False)

    stats, moved = step([1.0, 0.0, 0.0], 1)  # advantages +1, -0.5, -0.5; the no-answer rollout is out
    assert (stats.updates, stats.skipped, stats.tokens, stats.forwarded, moved) == (1, 0, 12, 12, True)
    assert stats.clip_low == stats.clip_high == 0  # strictly on-policy: the ratio is 1
    assert stats.policy_sum == pytest.approx(0.0, abs=1e-4)  # ratio 1: -(4 x 1 - 4 x 0.5 - 4 x 0.5)
    assert stats.gap_tokens == 12 and stats.gap_sum > 0  # behaviour log-probs (-1.0 here) were compared

    # no signal again: the step is skipped, so AdamW's momentum from the last step moves nothing
    stats, moved = step(solved, 2)
    assert (stats.updates, stats.skipped, moved) == (0, 1, False)


def test_ppo_epochs_minibatches_kl_and_rollout_logprobs(engine, tiny: str) -> None:
    from drsynth.training.rl.trainer import Updater, load_reference

    # against the generator's log-probabilities (-1.0 here, far above the tiny model's ~-7.6): r = e^-6.6, so
    # every token of a negative advantage is clipped low, and none high
    cfg = TrainConfig.from_dict({"seq_len": 64, "micro_batch_size": 2, "rl": {"old_logprobs": "rollout"}})
    stats = Updater(engine, cfg, pad_id=0).run(_items([1.0, 0.0, 0.0]), step=3)
    assert (stats.updates, stats.tokens, stats.clip_low, stats.clip_high) == (1, 12, 8, 0)
    assert stats.ratio_max < 0.01

    cfg = TrainConfig.from_dict({"seq_len": 64, "micro_batch_size": 1, "rl": {
        "on_policy": False, "ppo_epochs": 2, "minibatches": 2, "kl_coef": 0.5}})
    reference = load_reference(tiny, cfg, engine)
    stats = Updater(engine, cfg, pad_id=0, reference=reference).run(_items([1.0, 0.0, 1.0]), step=4)
    assert stats.updates == 4 and stats.skipped == 0  # 2 passes x 2 minibatches, each with KL tokens
    assert stats.tokens == 2 * 12  # every included token counted once per pass
    assert stats.ratio_max > 1.0 or stats.ratio_min < 1.0  # later minibatches ran against the old policy
    assert stats.kl_sum > 0  # the weights left the reference (earlier steps of this module moved them)


# --- end to end --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rl_root(demo_documents: str, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo site's documents plus a published rl_tasks version of three tasks about them."""
    from drsynth.storage.ids import content_id
    from drsynth.storage.published import publish
    from drsynth.storage.store import Store

    root = os.fspath(tmp_path_factory.mktemp("rl-root") / "data")
    shutil.copytree(demo_documents, root)
    store = Store(root)
    ids = []
    with store.writer("rl_tasks", "rl-fixture") as writer:
        for question, answer in GOLD.items():
            task_id = content_id("task", question)
            row = {"id": content_id("rl_task", task_id), "parents": [task_id], "task_id": task_id,
                   "question": question, "answer": answer, "aliases": [], "level": 1, "pass_rate": 0.5,
                   "answer_type": "year" if answer.isdigit() else "entity", "samples": 4}
            writer.write(row)
            ids.append(row["id"])
    return SimpleNamespace(root=root, version=publish(store, "rl_tasks", ids, "rl-fixture").name)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def _same_weights(a: str, b: str) -> bool:
    from safetensors.torch import load_file

    torch = _torch()
    left, right = load_file(os.path.join(a, "model.safetensors")), load_file(os.path.join(b, "model.safetensors"))
    # the base is fp32; a bf16 run saves bf16: compare in the saved precision
    return left.keys() == right.keys() and all(torch.equal(left[k].to(right[k].dtype), right[k]) for k in left)


def test_train_rl_end_to_end_with_hf_rollouts(rl_root: SimpleNamespace, tiny: str, tmp_path: Path) -> None:
    pytest.importorskip("deepspeed")
    from transformers import AutoModelForCausalLM

    from drsynth.training.run import main

    config = tmp_path / "rl.json"
    config.write_text(json.dumps({"train": {
        "max_steps": 2, "seq_len": 2048, "micro_batch_size": 2, "warmup_steps": 0, "lr": 1e-3,
        "rl": {"group_size": 2, "tasks_per_step": 2, "max_new_tokens": 24, "max_turns": 3, "max_tool_calls": 2,
               "generation_batch": 4, "today": TODAY}}}))
    out = tmp_path / "out"
    assert main(["rl", "--data", rl_root.root, "--version", rl_root.version, "--model", tiny, "--out",
                 os.fspath(out), "--config", os.fspath(config)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["datasets"] == {"rl_tasks": rl_root.version} and summary["steps"] == 2
    records = _log(out)
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        # every rollout ran, the random model's turns were sampled and each one was judged or excluded
        assert r["rollouts"] == 4 and r["included"] + r["excluded"] == 4
        assert sum(r["terminations"].values()) == 4 and sum(r["excluded_by"].values()) == r["excluded"]
        assert r["generated_tokens"] > 0 and r["sampled_tokens"] == r["generated_tokens"]
        assert r["format_errors"] + r["tool_calls_mean"] > 0 or r["included"] > 0
        for key in ("reward_mean", "adv_mean", "clip_low_frac", "clip_high_frac", "loss", "kl", "lr"):
            assert key in r
        assert r["updates"] + r["skipped_updates"] == 1
        assert r["kl"] is None  # no reference model unless kl_coef > 0
    final = out / "final"
    model = AutoModelForCausalLM.from_pretrained(final)
    assert model.config.num_hidden_layers == 2
    if all(r["adv_nonzero"] == 0 for r in records):  # no signal: every update skipped, the weights untouched
        assert all(r["skipped_updates"] == 1 for r in records) and _same_weights(tiny, os.fspath(final))

    # one more step: the run resumes from its checkpoint and continues the log
    table = json.loads(config.read_text())
    table["train"]["max_steps"] = 3
    config.write_text(json.dumps(table))
    assert main(["rl", "--data", rl_root.root, "--version", rl_root.version, "--model", tiny, "--out",
                 os.fspath(out), "--config", os.fspath(config)]) == 0
    assert json.loads((out / "summary.json").read_text())["resumed_at"] == 2
    assert [r["step"] for r in _log(out)] == [1, 2, 3] and _log(out)[:2] == records

    # another task order (here: another seed) does not continue this run's checkpoint
    from drsynth.training.engine import CheckpointMismatch

    table["train"]["seed"] = 1
    config.write_text(json.dumps(table))
    with pytest.raises(CheckpointMismatch, match="task_order"):
        main(["rl", "--data", rl_root.root, "--version", rl_root.version, "--model", tiny, "--out", os.fspath(out),
              "--config", os.fspath(config)])


def test_train_rl_end_to_end_with_an_openai_endpoint(rl_root: SimpleNamespace, tiny: str, tmp_path: Path) -> None:
    pytest.importorskip("deepspeed")
    from drsynth.training.rl.trainer import train_rl
    from tests.openai_server import OpenAIServer

    lock = threading.Lock()
    roles: dict[str, int] = {}

    def responder(request: dict) -> str:
        """Per question, the first rollout answers right and the second wrong; the year question is answered
        without a search, and its second rollout never writes an action (format errors until it ends)."""
        messages = request["messages"]
        question = messages[1]["content"]
        if len(messages) == 2:
            with lock:
                role = roles.get(question, 0)
                roles[question] = role + 1
        else:
            role = int(re.search(r"plan (\d+)", messages[2]["content"]).group(1))
        head = f"<think>plan {role}</think>\n"
        if question.startswith("In what year"):
            return head + (f"<answer>{GOLD[question]}</answer>" if role == 0 else "I do not know the format")
        if len(messages) == 2:
            return head + f'<tool_call>\n{{"name": "search", "arguments": {{"query": ["{question}"]}}}}\n</tool_call>'
        assert messages[3]["content"].startswith("<tool_response>")
        return head + f"<answer>{GOLD[question] if role == 0 else 'Nobody'}</answer>"

    out = tmp_path / "out"
    with OpenAIServer(responder, model="policy") as server:
        cfg = TrainConfig.from_dict({
            "seq_len": 2048, "micro_batch_size": 2, "warmup_steps": 0, "lr": 1e-3,  # max_steps 0: one epoch
            "rl": {"group_size": 2, "tasks_per_step": 3, "max_new_tokens": 64, "max_turns": 3, "rollout": "openai",
                   "base_url": server.base_url, "model": "policy", "today": TODAY}})
        summary = train_rl(cfg, rl_root.root, rl_root.version, tiny, os.fspath(out))
        requests = len(server.chat_requests())
    assert summary["datasets"] == {"rl_tasks": rl_root.version} and summary["rollout"] == "openai"
    assert summary["steps"] == 1  # the three tasks in one batch of three
    assert requests == 2 * 2 + 2 * 2 + 1 + 3  # two searching tasks x 2 turns x 2, the year task 1 + 3 tries
    [r] = _log(out)
    assert (r["rollouts"], r["included"], r["excluded"], r["excluded_by"]) == (6, 5, 1, {"format_error": 1})
    assert r["verdicts"] == {"correct": 3, "incorrect": 2, "no_answer": 1}
    assert r["reward_mean"] == pytest.approx(0.6) and r["adv_nonzero"] == 4
    assert (r["adv_min"], r["adv_max"], r["adv_mean"]) == (-1.0, 1.0, 0.0)
    assert r["tool_calls_mean"] == pytest.approx(4 / 6) and r["format_errors"] == 2
    assert r["updates"] == 1 and r["clip_low_frac"] == r["clip_high_frac"] == 0.0
    # the tokens of the zero-advantage rollout count in the loss's denominator but are not forwarded
    assert 0 < r["forwarded_tokens"] < r["tokens"]
    assert not _same_weights(tiny, summary["output"])
