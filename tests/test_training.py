"""Training (T1): published data -> chat masks, packing, CPT mixing; the DeepSpeed engine (schedule,
checkpoint/resume, ZeRO-3 export); merging; launcher command lines; and CPT/SFT runs end to end through
`drsynth train` (launcher subprocess, Prefect flow, `runs` lineage) with the tiny model, on CPU."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DS_ACCELERATOR", "cpu")  # before deepspeed is first imported
torch = pytest.importorskip("torch")
pytest.importorskip("deepspeed")
transformers = pytest.importorskip("transformers")

from drsynth.storage.ids import content_id  # noqa: E402
from drsynth.storage.published import publish  # noqa: E402
from drsynth.storage.store import Store  # noqa: E402
from drsynth.synth.agent.format import ToolCall, render_turn, system_prompt, tool_response  # noqa: E402
from drsynth.training.config import TrainConfig, load_config  # noqa: E402
from drsynth.training.data.chat import ChatTemplateError, encode_chat  # noqa: E402
from drsynth.training.data.mixing import mix, split_steps  # noqa: E402
from drsynth.training.data.packing import IGNORE, Sample, collate, pack  # noqa: E402

TOOLS = [
    {"name": "search", "description": "Search the encyclopedia.",
     "parameters": {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string"}}}}},
    {"name": "visit", "description": "Read pages for a goal.",
     "parameters": {"type": "object", "properties": {"url": {"type": "array"}, "goal": {"type": "string"}}}},
]
PLACES = ["Varkholm", "Estavia", "Selva", "Brenmark", "Olvik", "Tarsund"]


def trajectory(i: int, compact: bool = False) -> list[dict]:
    """A ReAct sample in the Tongyi format: system, question, tool call, tool response, answer (`compact`:
    a short system prompt, so CPU training steps stay cheap)."""
    place, year = PLACES[i % len(PLACES)], 1800 + 7 * i
    system = (f"You are a deep research assistant.\n<tools>\n{json.dumps(TOOLS[0])}\n</tools>\nCurrent date: "
              "2026-01-01" if compact else system_prompt(TOOLS, "2026-01-01"))
    return [
        {"role": "system", "content": system, "train": False},
        {"role": "user", "content": f"In which year was the harbour of {place} founded?", "train": False},
        {"role": "assistant", "train": True, "content": render_turn(
            f"I should search for the harbour of {place}.", call=ToolCall("search", {"query": [f"{place} harbour"]}))},
        {"role": "user", "train": False, "content": tool_response(
            f"1. [{place}](http://halvard.drsynth.test/wiki/{place})\nThe harbour of {place} was founded in {year}.")},
        {"role": "assistant", "content": render_turn(f"The page says {year}.", answer=str(year)), "train": True},
    ]


def cpt_text(i: int) -> str:
    place = PLACES[i % len(PLACES)]
    text = (f"Question: when was the harbour of {place} founded?\nPlan:\n1. search for {place}\n"
            f"2. read the article\nThe harbour of {place} was founded in {1800 + 7 * i}.\n")
    return text * (6 if i % 5 == 0 else 1)


def publish_fixture(root: str, n: int = 24) -> dict[str, str]:
    """sft_samples and cpt_samples rows in their schemas, published: {dataset: dataset@version}."""
    store = Store(root)
    names = {}
    sft_ids, cpt_ids = [], []
    with store.writer("sft_samples", "fixture") as writer:
        for i in range(n):
            sft_ids.append(content_id("sft", str(i)))
            writer.write({"id": sft_ids[-1], "parents": [content_id("trajectory", str(i))],
                          "mode": "context" if i % 4 == 0 else "react", "messages": trajectory(i, compact=True),
                          "task_id": f"task-{i}", "level": 1})
    names["sft_samples"] = publish(store, "sft_samples", sft_ids, "fixture").name
    with store.writer("cpt_samples", "fixture") as writer:
        for i in range(n):
            cpt_ids.append(content_id("cpt", str(i)))
            writer.write({"id": cpt_ids[-1], "parents": [f"task-{i}"], "kind": "planning", "text": cpt_text(i),
                          "stage": "long" if i % 5 == 0 else "short", "task_id": f"task-{i}"})
    names["cpt_samples"] = publish(store, "cpt_samples", cpt_ids, "fixture").name
    return names


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    from drsynth.training.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tokenizer(tiny: str):
    return transformers.AutoTokenizer.from_pretrained(tiny)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    root = os.fspath(tmp_path_factory.mktemp("published") / "data")
    return root, publish_fixture(root)


def trained_runs(tokenizer, sample: Sample) -> list[str]:
    """The decoded runs of consecutive trained tokens."""
    runs, current = [], []
    for token, label in zip(sample.input_ids.tolist(), sample.labels.tolist(), strict=True):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


# --- config -----------------------------------------------------------------------------------------


def test_config_reads_the_train_table_and_refuses_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "drsynth.toml"
    path.write_text("[crawl]\nmax_depth = 2\n[train]\nlr = 2e-5\nzero_stage = 3\n"
                    "cpt_mix = {short = {short = 0.9, long = 0.1}, long = {long = 1.0}}\n"
                    "[train.rl]\ngroup_size = 6\n")
    cfg = load_config(path)
    assert (cfg.lr, cfg.zero_stage, cfg.rl.group_size) == (2e-5, 3, 6)
    assert cfg.cpt_mix["short"] == {"short": 0.9, "long": 0.1}
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"(?s)learning_rate.*Extra inputs are not permitted"):
        TrainConfig.from_dict({"learning_rate": 1e-5})
    with pytest.raises(ValueError, match="sum to 1"):
        TrainConfig.from_dict({"cpt_mix": {"short": {"short": 0.5}, "long": {"long": 1.0}}})
    with pytest.raises(ValueError, match=r"(?s)rl\.groups.*Extra inputs are not permitted"):
        TrainConfig.from_dict({"rl": {"groups": 2}})


# --- tiny model, chat template and masks ------------------------------------------------------------


def test_tiny_model_is_deterministic_and_loads_with_transformers(tiny: str, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from drsynth.training.tiny import build_tiny

    again = build_tiny(tmp_path / "again")
    assert Path(again, "tokenizer.json").read_text() == Path(tiny, "tokenizer.json").read_text()
    first, second = load_file(Path(tiny) / "model.safetensors"), load_file(Path(again) / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny)
    tok = transformers.AutoTokenizer.from_pretrained(tiny)
    assert model.config.model_type == "qwen2" and model.config.vocab_size == len(tok)
    assert tok.eos_token == "<|im_end|>" and tok.chat_template
    assert all(len(tok.encode(t, add_special_tokens=False)) == 1 for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"))


def test_labels_cover_exactly_the_assistant_turns_and_their_end_token(tokenizer) -> None:
    messages = trajectory(3)
    sample = encode_chat(tokenizer, messages)
    # what is trained is exactly each assistant message's content plus its <|im_end|>: not the role
    # header, not the newline after the turn, and nothing of the system, user or tool-response turns
    assert trained_runs(tokenizer, sample) == [messages[2]["content"] + "<|im_end|>",
                                               messages[4]["content"] + "<|im_end|>"]
    text = tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages],
                                         tokenize=False)
    assert sample.input_ids.tolist() == tokenizer(text, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(messages[3]["content"], add_special_tokens=False)["input_ids"]
    ids = sample.input_ids.tolist()
    start = next(i for i in range(len(ids)) if ids[i:i + len(response_ids)] == response_ids)
    assert (sample.labels[start:start + len(response_ids)] == IGNORE).all()  # the tool response is context
    untrained = dict(messages[4], train=False)
    assert trained_runs(tokenizer, encode_chat(tokenizer, [*messages[:4], untrained])) == [
        messages[2]["content"] + "<|im_end|>"]


def test_a_template_that_rewrites_earlier_turns_is_refused(tiny: str, tmp_path: Path) -> None:
    from drsynth.training.sft import sft_samples

    shutil.copytree(tiny, tmp_path / "m")
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "m")
    # like Qwen3's template: earlier assistant turns lose their <think> block
    tok.chat_template = (
        "{%- for m in messages %}{%- set c = m['content'] %}"
        "{%- if m['role'] == 'assistant' and not loop.last %}{%- set c = c.split('</think>')[-1] %}{%- endif %}"
        "{{- '<|im_start|>' + m['role'] + '\\n' + c + '<|im_end|>\\n' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
    with pytest.raises(ChatTemplateError, match="differently"):
        encode_chat(tok, trajectory(0))
    samples, counts = sft_samples(tok, [{"id": "a", "mode": "react", "messages": trajectory(0)},
                                        {"id": "b", "mode": "heavy", "messages": trajectory(1)}], TrainConfig())
    assert samples == [] and counts == {"skipped.chat_template": 1, "skipped.mode_heavy": 1}


# --- packing ----------------------------------------------------------------------------------------


def _sample(ids: list[int], trained: bool = True) -> Sample:
    return Sample.of(ids, ids if trained else [IGNORE] * len(ids))


def test_packing_keeps_targets_and_positions_inside_each_sample() -> None:
    a, b, c = _sample([5, 6, 7, 8]), _sample([9, 10, 11]), _sample([12, 13, 14, 15, 16])
    rows = pack([a, b, c], 8)
    assert [[len(s) for s in row] for row in rows] == [[4, 3], [5]]
    assert [[len(s) for s in row] for row in pack([a, b, c], 8, enabled=False)] == [[4], [3], [5]]
    batch = collate(rows, pad_id=0, mask="4d")
    assert batch["input_ids"].shape == (2, 8)
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]  # the pad is a segment of its own
    # a's last token (8) never learns to predict b's first (9); padding is never trained
    assert batch["targets"][0].tolist() == [6, 7, 8, IGNORE, 10, 11, IGNORE, IGNORE]
    assert batch["targets"][1].tolist() == [13, 14, 15, 16, IGNORE, IGNORE, IGNORE, IGNORE]
    allowed = batch["attention_mask"][0, 0] == 0
    assert allowed[4, :4].sum() == 0 and allowed[4, 4] and not allowed[3, 4]  # no look across, no look ahead
    with pytest.raises(ValueError, match="does not fit"):
        pack([_sample(list(range(9)))], 8)


@pytest.mark.parametrize("mask", ["position_ids", "4d"])
def test_a_packed_sample_has_the_logits_it_has_alone(tiny: str, tokenizer, mask: str) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny, attn_implementation="sdpa").eval()
    first, second = encode_chat(tokenizer, trajectory(1)), encode_chat(tokenizer, trajectory(2))
    batch = collate(pack([first, second], len(first) + len(second)), tokenizer.pad_token_id, mask=mask)
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "targets"}, use_cache=False).logits[0]
        alone = model(input_ids=torch.tensor(second.input_ids[None], dtype=torch.long), use_cache=False).logits[0]
        crossed = model(input_ids=batch["input_ids"], use_cache=False).logits[0]  # no restart, no mask
    span = slice(len(first), len(first) + len(second))
    torch.testing.assert_close(packed[span], alone, atol=1e-5, rtol=1e-4)
    assert (crossed[span] - alone).abs().max() > 1e-2  # what the boundary protects against


def test_the_trainer_notices_a_model_whose_attention_ignores_the_restart(tiny: str, monkeypatch) -> None:
    import transformers.masking_utils

    from drsynth.training.loop import packing_isolated

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny).eval()
    assert packing_isolated(model, model.config.vocab_size)
    # as if the model's mask code did not read packed position_ids: fit() then uses explicit 4D masks
    monkeypatch.setattr(transformers.masking_utils, "find_packed_sequence_indices", lambda position_ids: None)
    assert not packing_isolated(model, model.config.vocab_size)


# --- CPT stages and mixing --------------------------------------------------------------------------


def test_mixing_draws_each_pool_in_its_share_and_reports_empty_pools() -> None:
    pools = {"short": [f"s{i}" for i in range(100)], "long": [f"l{i}" for i in range(20)]}
    drawn = mix(pools, {"short": 0.9, "long": 0.1}, seed=1)
    assert drawn.taken == {"short": 100, "long": 11} and len(set(drawn.items)) == 111
    assert drawn.items == mix(pools, {"short": 0.9, "long": 0.1}, seed=1).items
    only = mix({"short": pools["short"], "long": []}, {"short": 0.9, "long": 0.1}, seed=1)
    assert only.taken == {"short": 100} and only.missing == ["long"]
    assert split_steps([300, 100], 8) == [6, 2] and split_steps([1000, 1], 5) == [4, 1] and sum(split_steps([3, 5, 7], 11)) == 11


def test_cpt_stages_run_short_then_long_in_their_mix(tokenizer, published) -> None:
    from drsynth.training.cpt import cpt_phases
    from drsynth.training.data.published import load_published
    from drsynth.training.data.text import document_end_id

    rows = load_published(published[0], "cpt_samples").rows()
    cfg = TrainConfig(seq_len=128, cpt_seq_len={"long": 512}, max_steps=10,
                      cpt_mix={"short": {"short": 0.8, "long": 0.2}, "long": {"long": 1.0}})
    short, long = cpt_phases(tokenizer, rows, cfg)
    assert (short.name, long.name) == ("short", "long") and short.steps + long.steps == 10
    assert short.counts == {"from.short": 19, "from.long": 5} and long.counts == {"from.long": 5}
    assert max(len(s) for s in short.samples) <= 128 < max(len(s) for s in long.samples) <= 512
    end = document_end_id(tokenizer)
    assert sum(int(s.input_ids[-1]) == end for s in long.samples) == 5  # each document ends once
    assert all((s.labels == s.input_ids).all() for s in long.samples)  # every CPT token is trained


# --- engine -----------------------------------------------------------------------------------------


def test_ds_config_and_schedule() -> None:
    from drsynth.training.engine import WarmupCosine, ds_config

    config = ds_config(TrainConfig(micro_batch_size=2, grad_accum=4), world_size=8)
    assert config["train_batch_size"] == 64 and config["zero_optimization"]["stage"] == 2
    assert config["bf16"] == {"enabled": True} and "optimizer" not in config
    offload = ds_config(TrainConfig(zero_stage=3, offload=True, bf16=False), world_size=1)
    assert offload["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert offload["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    assert offload["optimizer"]["type"] == "AdamW" and offload["bf16"] == {"enabled": False}
    schedule = WarmupCosine(warmup=4, total=14, min_ratio=0.1)
    assert [schedule(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule(9) == pytest.approx(0.55) and schedule(14) == pytest.approx(0.1)


def test_bf16_falls_back_to_fp32_with_the_reason_logged(monkeypatch, caplog) -> None:
    from drsynth.training import engine

    monkeypatch.setattr(engine, "bf16_supported", lambda: (False, "this accelerator does not support bf16"))
    engine._bf16_or_warn.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="training"):
            assert engine.use_bf16(TrainConfig()) is False
        assert "does not support bf16: training in fp32" in caplog.text
        assert engine.use_bf16(TrainConfig(bf16=False)) is False
    finally:
        engine._bf16_or_warn.cache_clear()


def test_the_plan_shares_rows_among_ranks_and_fills_epochs() -> None:
    from drsynth.training.loop import Phase, plan

    samples = [_sample([i + 1] * 4) for i in range(12)]
    cfg = TrainConfig(seq_len=8, micro_batch_size=1, grad_accum=2, epochs=2)
    ranks = [plan([Phase("sft", samples, 8)], cfg, world_size=2, rank=r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # 6 rows of 2 samples, twice, 4 rows a step
    step_rows = [{tuple(int(s.input_ids[0]) for s in row) for mb in step.micro_batches for row in mb}
                 for step in ranks[0][:1] + ranks[1][:1]]
    assert not step_rows[0] & step_rows[1] and len(step_rows[0] | step_rows[1]) == 4
    again = plan([Phase("sft", samples, 8)], cfg, world_size=2, rank=0)
    assert [s.micro_batches for s in again] == [s.micro_batches for s in ranks[0]]  # resumable: same plan
    fixed = plan([Phase("sft", samples, 8, steps=7)], cfg, world_size=2, rank=1)
    assert len(fixed) == 7 and all(len(s.micro_batches) == 2 for s in fixed)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_sft_loss_falls_and_the_model_loads(tiny: str, published, tmp_path: Path) -> None:
    from drsynth.training.sft import train_sft

    cfg = TrainConfig(lr=3e-3, min_lr=3e-4, warmup_steps=2, max_steps=24, seq_len=512)
    summary = train_sft(cfg, published[0], "latest", tiny, os.fspath(tmp_path / "sft"))
    assert summary["datasets"] == {"sft_samples": published[1]["sft_samples"]} and summary["steps"] == 24
    assert summary["phases"]["sft"]["used.react"] == 18 and summary["phases"]["sft"]["used.context"] == 6
    losses = [r["loss"] for r in _log(tmp_path / "sft")]
    assert len(losses) == 24 and sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "sft" / "final")
    assert model.config.model_type == "qwen2"
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "sft" / "final").chat_template


def test_a_resumed_run_continues_the_step_count_and_the_loss_curve(tiny: str, published, tmp_path: Path) -> None:
    from drsynth.training.engine import CheckpointMismatch
    from drsynth.training.sft import train_sft

    cfg = TrainConfig(lr=3e-3, warmup_steps=1, max_steps=6, save_every=3, seq_len=512)
    whole = tmp_path / "whole"
    train_sft(cfg, published[0], "latest", tiny, os.fspath(whole))
    # a run that died after its step-3 checkpoint: its log also holds steps it made but never saved
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000003", cut / "checkpoints" / "step-00000003")
    (cut / "checkpoints" / "latest").write_text("step-00000003")
    shutil.copy(whole / "train_log.jsonl", cut / "train_log.jsonl")
    summary = train_sft(cfg, published[0], "latest", tiny, os.fspath(cut))
    assert summary["steps"] == 6
    resumed, reference = _log(cut), _log(whole)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in reference], rel=1e-3)
    assert [r["lr"] for r in resumed] == pytest.approx([r["lr"] for r in reference])
    with pytest.raises(CheckpointMismatch, match="different plan"):  # other settings, same directory
        train_sft(cfg.model_copy(update={"max_steps": 8}), published[0], "latest", tiny, os.fspath(cut))


def test_zero3_export_gathers_the_partitioned_weights(tiny: str, published, tmp_path: Path) -> None:
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from drsynth.training.sft import train_sft

    cfg = TrainConfig(zero_stage=3, max_steps=2, seq_len=512, lr=3e-3, warmup_steps=1)
    train_sft(cfg, published[0], "latest", tiny, os.fspath(tmp_path / "z3"))
    assert not is_deepspeed_zero3_enabled()  # nothing leaks into later loads in this process
    trained = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "z3" / "final")
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny)
    for (name, p), (_, q) in zip(trained.named_parameters(), base.named_parameters(), strict=True):
        assert p.shape == q.shape and p.numel() > 0, name
    assert any(not torch.allclose(p.float(), q.float(), atol=1e-3) for p, q in
               zip(trained.parameters(), base.parameters(), strict=True))


# --- merging ----------------------------------------------------------------------------------------


def test_merge_is_the_weighted_average(tiny: str, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from drsynth.training.merge import MergeError, merge_checkpoints
    from drsynth.training.tiny import build_tiny

    other = build_tiny(tmp_path / "other", seed=1)
    out = merge_checkpoints([(tiny, 0.25), (other, 0.75)], tmp_path / "merged")
    a, b = load_file(Path(tiny) / "model.safetensors"), load_file(Path(other) / "model.safetensors")
    merged = load_file(Path(out) / "model.safetensors")
    assert merged.keys() == a.keys()
    for name in a:
        expected = (a[name].double() * 0.25 + b[name].double() * 0.75).to(a[name].dtype)
        assert torch.equal(merged[name], expected), name
    assert not torch.equal(a["model.embed_tokens.weight"], b["model.embed_tokens.weight"])
    transformers.AutoModelForCausalLM.from_pretrained(out)
    assert transformers.AutoTokenizer.from_pretrained(out).chat_template
    assert json.loads((Path(out) / "merge.json").read_text())["inputs"][1]["weight"] == 0.75
    with pytest.raises(MergeError, match="sum to 1"):
        merge_checkpoints([(tiny, 0.5), (other, 0.4)], tmp_path / "bad")
    wider = tmp_path / "wider"
    from drsynth.training.tiny import build_tokenizer, tiny_config

    transformers.Qwen2ForCausalLM(tiny_config(build_tokenizer(), hidden_size=96)).save_pretrained(wider)
    with pytest.raises(MergeError, match="other tensors"):
        merge_checkpoints([(tiny, 0.5), (wider, 0.5)], tmp_path / "bad")


# --- launcher ---------------------------------------------------------------------------------------


def test_launch_commands_for_one_node_and_a_hostfile(tmp_path: Path) -> None:
    from drsynth.training.launch import LaunchSpec, launch_command, read_hostfile, train_args, write_hostfile

    args = train_args("sft", data="/d", version="sft_samples@v1", model="/m", out="/o", config="/o/c.json")
    one = launch_command(LaunchSpec(num_gpus=2, master_port=29511), args, executable="deepspeed")
    assert one == ["deepspeed", "--num_nodes", "1", "--num_gpus", "2", "--master_port", "29511", "--module",
                   "drsynth.training.run", "sft", "--data", "/d", "--version", "sft_samples@v1", "--model", "/m",
                   "--out", "/o", "--config", "/o/c.json"]
    hostfile = write_hostfile({"node-a": 8, "node-b": 8}, tmp_path / "hostfile")
    assert read_hostfile(hostfile) == {"node-a": 8, "node-b": 8}
    many = launch_command(LaunchSpec(num_gpus=8, num_nodes=2, hostfile=hostfile, master_port=29512), args,
                          executable="deepspeed")
    assert many[:12] == ["deepspeed", "--hostfile", hostfile, "--launcher", "pdsh", "--master_addr", "node-a",
                         "--num_nodes", "2", "--num_gpus", "8", "--master_port"]
    with pytest.raises(ValueError, match="fewer than 16 slots"):
        launch_command(LaunchSpec(num_gpus=16, num_nodes=2, hostfile=hostfile), args, executable="deepspeed")
    with pytest.raises(ValueError, match="1 host"):
        launch_command(LaunchSpec(num_nodes=2, hostfile=write_hostfile({"a": 1}, tmp_path / "h1")), args,
                       executable="deepspeed")
    (tmp_path / "bad").write_text("node-a slots=8\nnode-b 8\n")
    with pytest.raises(ValueError, match="bad:2"):
        read_hostfile(tmp_path / "bad")
    with pytest.raises(ValueError, match="hostfile"):
        LaunchSpec(num_nodes=2)


def test_the_launcher_output_streams_to_the_callback_and_the_log(tmp_path: Path) -> None:
    from drsynth.training.launch import LaunchError, run_launcher

    lines: list[str] = []
    run_launcher([sys.executable, "-c", "print('rank 0 ready'); print('step 1')"], tmp_path, lines.append)
    assert lines == ["rank 0 ready", "step 1"]
    with pytest.raises(LaunchError, match="status 3") as failure:
        run_launcher([sys.executable, "-c", "print('loading'); raise SystemExit(3)"], tmp_path, lines.append)
    assert "loading" in str(failure.value)
    log = (tmp_path / "launcher.log").read_text()
    assert "rank 0 ready" in log and "loading" in log and log.count("$ ") == 2


# --- CLI and flows ----------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    from drsynth.flows.cli_train import add_train_parser

    top = argparse.ArgumentParser(prog="drsynth")
    add_train_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(list(argv))
    return args.func(args)


def test_cli_mistakes_are_one_error_line_and_exit_2(published, tmp_path: Path, capsys) -> None:
    root = published[0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearning_rate = 1\n")
    cases = [
        (["train", "sft", "--data", os.fspath(tmp_path / "nowhere"), "--model", "tiny"], "does not exist"),
        (["train", "rl", "--data", root, "--model", "tiny"], "rl_tasks has no published version"),
        (["train", "sft", "--data", root, "--model", "tiny", "--version", "v0"], "no version 'v0'"),
        (["train", "sft", "--data", root, "--model", os.fspath(tmp_path)], "not a Hugging Face model"),
        (["train", "sft", "--data", root, "--model", "tiny", "--config", os.fspath(bad)], "learning_rate"),
        (["train", "cpt", "--data", root, "--model", "tiny", "--num-nodes", "2"], "need a hostfile"),
    ]
    for argv, message in cases:
        assert _cli(*argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_cli_trains_cpt_sft_and_rl_from_a_demo_runs_shards_and_records_the_versions(
        tiny: str, demo_published, tmp_path: Path) -> None:
    import duckdb
    from prefect.testing.utilities import prefect_test_harness

    from tests.conftest import copy_root

    root = copy_root(demo_published.root, tmp_path)
    names, rows = demo_published.versions, demo_published.rows
    assert rows["rl_tasks"] >= 1
    config = tmp_path / "train.toml"
    # the demo's samples are real conversations: a system prompt with the tools, pages read
    config.write_text("[train]\nlr = 3e-3\nwarmup_steps = 1\nmax_steps = 2\nseq_len = 8192\n"
                      "[train.rl]\ngroup_size = 2\ntasks_per_step = 1\nmax_new_tokens = 16\nmax_turns = 2\n"
                      "max_tool_calls = 1\ntoday = \"2026-11-21\"\n")
    with prefect_test_harness(server_startup_timeout=180):
        assert _cli("train", "sft", "--data", root, "--model", "tiny", "--out", os.fspath(tmp_path / "sft"),
                    "--config", os.fspath(config)) == 0
        assert _cli("train", "cpt", "--data", root, "--model", tiny, "--config", os.fspath(config)) == 0
        assert _cli("train", "rl", "--data", root, "--model", tiny, "--config", os.fspath(config)) == 0
    assert (tmp_path / "sft" / "base-tiny" / "config.json").exists()  # --model tiny built it first
    con = duckdb.connect(os.fspath(Path(root) / "catalog.duckdb"), read_only=True)
    runs = con.execute("SELECT flow, status, parameters, counts, datasets FROM runs "
                       "WHERE flow LIKE 'train_%' ORDER BY flow").fetchall()
    assert [(flow, status) for flow, status, *_ in runs] == \
        [("train_cpt", "completed"), ("train_rl", "completed"), ("train_sft", "completed")]
    for (_, _, parameters, counts, datasets), dataset in zip(runs, ["cpt_samples", "rl_tasks", "sft_samples"],
                                                             strict=True):
        read = json.loads(datasets)["read"]
        assert read == {dataset: names[dataset]}
        model = json.loads(counts)["model"]
        assert model == os.path.join(json.loads(parameters)["out"], "final") and json.loads(counts)["steps"] == 2
        # model -> version -> the exact rows it was trained on -> (lineage) the demo's URLs
        version = read[dataset].split("@", 1)[1]
        assert con.execute(f"SELECT count(*) FROM {dataset} d JOIN published p ON p.id = d.id "
                           "WHERE p.version = ?", [version]).fetchone() == (rows[dataset],)
        loaded = transformers.AutoModelForCausalLM.from_pretrained(model)
        assert loaded.config.model_type == "qwen2"
        out = Path(model).parent
        assert len(_log(out)) == 2 and "drsynth.training.run" in (out / "launcher.log").read_text()
        assert json.loads((out / "summary.json").read_text())["datasets"] == {dataset: names[dataset]}


def test_training_deployments_run_on_the_gpu_pool_when_a_dataset_is_published() -> None:
    import inspect

    import yaml
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from drsynth.flows import train
    from drsynth.training.launch import LaunchSpec

    # the training deployments live apart from the CPU ones, so `deploy --all` of infra/prefect.yaml needs
    # only the CPU pool
    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "infra" / "prefect-train.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    for mode, dataset in (("cpt", "cpt_samples"), ("sft", "sft_samples"), ("rl", "rl_tasks")):
        deployment = deployments[f"train-{mode}"]
        assert deployment["entrypoint"] == f"drsynth.flows.train:train_{mode}"
        assert deployment["work_pool"]["name"] == "drsynth-gpu"
        trigger = DeploymentEventTrigger.model_validate(deployment["triggers"][0])
        assert trigger.expect == {"drsynth.dataset.published"}
        assert trigger.match.model_dump() == {"prefect.resource.id": f"drsynth.dataset.{dataset}"}
        flow = getattr(train, f"train_{mode}")
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) | set(trigger.parameters or {}) <= accepted
        TrainConfig.from_dict(deployment["parameters"]["config"])
        LaunchSpec.from_dict(deployment["parameters"]["launch"])
