"""A tiny randomly initialised Qwen2-style causal LM and a tokenizer trained here: smoke runs and tests on
any machine, nothing downloaded.

The tokenizer is a byte-level BPE trained on the bundled demo corpus and the agent's prompt text, with
Qwen's special tokens and a Qwen-style chat template, so chat rendering, label masks and packing behave
as they do with a real Qwen model. Everything is deterministic for a seed.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path

IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [END_OF_TEXT, IM_START, IM_END]

# Qwen2's template without the tools branch: sft_samples already carry the tools in the system message
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

TINY_VOCAB = 2048


# the markup of the agent format (DESIGN §6) and the chat roles, so they encode in few tokens
FORMAT_TEXT = (
    "system\nuser\nassistant\ntool\n<think>\n</think>\n<tool_call>\n{\"name\": \"search\", \"arguments\": "
    "{\"query\": [\"\"]}}\n</tool_call>\n{\"name\": \"visit\", \"arguments\": {\"url\": [\"\"], \"goal\": \"\"}}\n"
    "<tool_response>\n</tool_response>\n<answer></answer>\n<report>\n</report>\n<tools>\n</tools>\n"
    "<code>\n</code>\nYou are a deep research assistant. Current date: "
)


def _corpus() -> Iterator[str]:
    """The demo encyclopedia's text (tags stripped) and the agent markup: what the tiny model will see."""
    from drsynth.synth.corpus.demo import SITE_DIR

    yield FORMAT_TEXT * 20
    for page in sorted(SITE_DIR.rglob("*.html")):
        raw = page.read_text(encoding="utf-8", errors="replace")
        raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S | re.I)
        yield html.unescape(re.sub(r"<[^>]+>", " ", raw))


def build_tokenizer(vocab_size: int = TINY_VOCAB):
    """A `PreTrainedTokenizerFast`: byte-level BPE (any text encodes), Qwen special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # exact character offsets (no trimming of spaces): the label masks are computed from offsets
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=END_OF_TEXT, bos_token=None,
        unk_token=None, chat_template=CHAT_TEMPLATE, model_max_length=32768,
    )


def tiny_config(tokenizer, **overrides):
    from transformers import Qwen2Config

    settings = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    settings.update(overrides)
    return Qwen2Config(**settings)


def build_tiny(path: str | os.PathLike[str], seed: int = 0) -> str:
    """Write the tiny model and its tokenizer to `path` (HF format, safetensors); returns the path."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = tiny_config(tokenizer)
    # a private RNG stream: building the model must not move the caller's global seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return os.fspath(out)


# Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads with 2 KV heads, vocab 151936, tied embeddings): the
# benchmarks build it randomly initialised from this config, so nothing is downloaded
QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1000000.0, tie_word_embeddings=True, rms_norm_eps=1e-6)
