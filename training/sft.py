"""SFT over a published `sft_samples` version: ReAct and context-management chat samples, the loss only
on the turns marked `train` (assistant turns; system, user and tool responses are context)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from drsynth.training.config import TrainConfig
from drsynth.training.data.chat import ChatTemplateError, encode_chat, truncate
from drsynth.training.data.packing import Sample
from drsynth.training.data.published import load_published
from drsynth.training.loop import Phase, fit

log = logging.getLogger("training")
DATASET = "sft_samples"


def sft_samples(tokenizer, rows: Iterable[Mapping], cfg: TrainConfig) -> tuple[list[Sample], Counter[str]]:
    """Token samples of the rows in `cfg.sft_modes`; every row not used is counted with its reason."""
    samples: list[Sample] = []
    counts: Counter[str] = Counter()
    for row in rows:
        if row["mode"] not in cfg.sft_modes:
            counts[f"skipped.mode_{row['mode']}"] += 1
            continue
        try:
            sample = encode_chat(tokenizer, row["messages"] or [], source=row["id"])
        except ChatTemplateError as exc:
            counts["skipped.chat_template"] += 1
            log.warning("sft sample %s skipped: %s", row["id"], exc)
            continue
        if len(sample) > cfg.seq_len:
            counts["truncated"] += 1
            sample = truncate(sample, cfg.seq_len)
        if not sample.trained:
            counts["skipped.no_trained_tokens"] += 1
            continue
        counts[f"used.{row['mode']}"] += 1
        samples.append(sample)
    return samples, counts


def train_sft(cfg: TrainConfig, data_root: str, version: str, model_path: str, out: str) -> dict:
    from transformers import AutoTokenizer

    published = load_published(data_root, DATASET, version, columns=["id", "mode", "messages"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    samples, counts = sft_samples(tokenizer, published.rows(), cfg)
    log.info("%s: %d rows -> %d samples %s", published.name, published.table.num_rows, len(samples), dict(counts))
    summary = fit(cfg, [Phase("sft", samples, cfg.seq_len, cfg.max_steps, dict(counts))], model_path, tokenizer, out)
    return {"mode": "sft", "datasets": {DATASET: published.name}, **summary}
