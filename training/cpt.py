"""Agentic continual pre-training over a published `cpt_samples` version: next-token prediction on every
token of each text (document-end separated), stage by stage (short context first, then long), each stage
mixing the `stage` pools in the configured shares (`cpt_mix`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from drsynth.training.config import TrainConfig
from drsynth.training.data.mixing import mix, split_steps
from drsynth.training.data.published import load_published
from drsynth.training.data.text import chunks, document_ids
from drsynth.training.loop import Phase, fit

log = logging.getLogger("training")
DATASET = "cpt_samples"


def cpt_phases(tokenizer, rows: Iterable[Mapping], cfg: TrainConfig) -> list[Phase]:
    """One phase per configured stage: its mix of documents, cut to the stage's seq_len."""
    pools: dict[str, list[tuple[str, list[int]]]] = {}
    for row in rows:
        pools.setdefault(row["stage"] or "short", []).append((row["id"], document_ids(tokenizer, row["text"] or "")))
    phases = []
    for index, stage in enumerate(cfg.cpt_stages):
        drawn = mix(pools, cfg.cpt_mix[stage], seed=cfg.seed + index)
        seq_len = cfg.stage_seq_len(stage)
        samples = [piece for source, ids in drawn.items for piece in chunks(ids, seq_len, source)]
        counts = {f"from.{pool}": n for pool, n in drawn.taken.items()}
        if drawn.missing:
            counts["missing_pools"] = drawn.missing
            log.warning("cpt stage %s: no samples in pool(s) %s; their share goes to the others", stage, drawn.missing)
        phases.append(Phase(stage, samples, seq_len, 0, counts))
    if cfg.max_steps:
        sizes = [sum(len(s) for s in p.samples) for p in phases]
        for phase, steps in zip(phases, split_steps(sizes, cfg.max_steps), strict=True):
            phase.steps = steps
        phases = [p for p in phases if p.steps]
    return phases


def train_cpt(cfg: TrainConfig, data_root: str, version: str, model_path: str, out: str) -> dict:
    from transformers import AutoTokenizer

    published = load_published(data_root, DATASET, version, columns=["id", "text", "stage"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    phases = cpt_phases(tokenizer, published.rows(), cfg)
    log.info("%s: %d rows -> %s", published.name, published.table.num_rows,
             {p.name: len(p.samples) for p in phases})
    summary = fit(cfg, phases, model_path, tokenizer, out)
    return {"mode": "cpt", "datasets": {DATASET: published.name}, **summary}
