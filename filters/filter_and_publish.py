"""The whole filter stage in one call, for tests and scripts; the Prefect flow runs the same steps with one
task per batch. Screen tasks -> judge trajectories -> budget -> pass rates and RL pool -> SFT and CPT
samples -> published versions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from drsynth.filters import publish, rejection, screen
from drsynth.filters.config import FilterConfig
from drsynth.storage.published import Publication
from drsynth.storage.store import Store


@dataclass
class FilterResult:
    fingerprint: str
    counts: Counter[str] = field(default_factory=Counter)
    publications: dict[str, Publication] = field(default_factory=dict)


def filter_and_publish(store: Store, run_id: str, config: FilterConfig | None = None,
                       teacher_config: Any = None) -> FilterResult:
    config = config or FilterConfig()
    result = FilterResult(rejection.filter_fingerprint(config, teacher_config))
    fp, counts = result.fingerprint, result.counts
    counts.update(screen.screen_tasks(store, run_id, config, fp))
    for batch in rejection.judgment_batches(store, config, fp):
        counts.update(rejection.run_judging(store, run_id, batch, config, fp, teacher_config))
    counts.update(rejection.apply_budget(store, run_id, config, fp))
    rates, rl_ids = rejection.pass_rates(store, run_id, config, fp)
    counts.update(rates)
    ids: dict[str, list[str]] = {"rl_tasks": rl_ids, "sft_samples": [], "cpt_samples": []}
    for batch in publish.sft_batches(store, config, fp):
        made, sample_ids = publish.build_sft(store, run_id, batch, config, fp)
        counts.update(made)
        ids["sft_samples"].extend(sample_ids)
    for batch in publish.cpt_batches(store, config, fp):
        made, sample_ids = publish.build_cpt(store, run_id, batch, config, fp, teacher_config)
        counts.update(made)
        ids["cpt_samples"].extend(sample_ids)
    result.publications = publish.publish_sets(store, run_id, ids, fp)
    return result
