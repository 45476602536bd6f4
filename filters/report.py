"""The filter stage's report: what was judged, accepted and rejected (by level and reason), what screening
removed (per benchmark), the pass-rate distribution and the published versions, with the run's warnings
first (decontamination that had no benchmark set to check against, a dataset with nothing to publish).
A Prefect markdown artifact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from drsynth.filters.config import FilterConfig
from drsynth.filters.decontam.benchmarks import DEFAULT_DIR
from drsynth.filters.rejection import latest_judgments
from drsynth.filters.screen import screened_tasks
from drsynth.storage.store import Store


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _level_order(item: tuple) -> tuple[bool, int]:
    """Levels in order, a trajectory without one (bad input, still reported) last."""
    return item[0] is None, item[0] or 0


def screening_warnings(config: FilterConfig, counts: Mapping) -> list[str]:
    """What screening could not do, from the counts of `screen_tasks`: decontamination on, but no benchmark
    item loaded (the sets absent or unreadable), means no task was checked against any benchmark."""
    if config.decontaminate and not counts.get("decontaminate.benchmark_items"):
        where = ", ".join(str(p) for p in (config.benchmarks or [DEFAULT_DIR]))
        return [f"no benchmark sets loaded from {where}: decontamination checked nothing (give [filter] "
                "benchmarks; see quarantine rows with reason benchmark_unreadable)"]
    return []


def filter_report(store: Store, fingerprint: str, counts: Mapping, versions: Mapping[str, str],
                  warnings: Sequence[str] = ()) -> str:
    judgments = latest_judgments(store, fingerprint)
    by_level: dict[int, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    for judgment in judgments.values():
        by_level.setdefault(judgment["level"], Counter())[judgment["status"]] += 1
        if judgment["status"] == "rejected":
            reasons[judgment["rejection"]] += 1
    lines = [f"# Filter report (setting {fingerprint})", ""]
    if warnings:
        lines += ["## Warnings", "", *(f"- **warning:** {w}" for w in warnings), ""]
    lines += ["## Trajectories", ""]
    rows = [[level, c["accepted"] + c["rejected"], c["accepted"], c["rejected"],
             f"{c['accepted'] / max(1, c['accepted'] + c['rejected']):.2f}"]
            for level, c in sorted(by_level.items(), key=_level_order)]
    lines += _table(["level", "judged", "accepted", "rejected", "acceptance"], rows)
    pending = store.count("trajectories") - len(judgments)
    if pending > 0:  # accepted + rejected = generated only once these are judged
        lines += ["", f"{pending} trajectories pending: the judge could not decide them (see `quarantine`, stage "
                      "judge); a rerun judges them."]
    lines += ["", "## Rejection reasons", ""]
    lines += _table(["reason", "trajectories"], [[r, n] for r, n in reasons.most_common()]) if reasons else ["none"]
    removed = screened_tasks(store, fingerprint)
    per_source: Counter[str] = Counter()
    for item in removed.values():
        key = item.detail.split(" item ", 1)[0] if item.stage == "decontaminate" else item.reason
        per_source[f"{item.stage}: {key}"] += 1
    lines += ["", "## Screening", "", f"{counts.get('tasks.screened', 0)} tasks screened, {len(removed)} removed; "
              f"{counts.get('decontaminate.benchmark_items', 0)} benchmark items checked against.", ""]
    if per_source:
        lines += _table(["removed by", "tasks"], [[k, n] for k, n in sorted(per_source.items())])
    lines += ["", "## Pass rates", ""]
    lines += _table(["solved by", "tasks"], [[k, counts.get(f"pass_rates.{k}", 0)] for k in ("none", "some", "all")])
    lines += ["", f"RL pool: {counts.get('rl_tasks.pool', 0)} tasks.", "", "## Published", ""]
    lines += _table(["dataset", "version"], [[d, v] for d, v in sorted(versions.items())]) if versions else ["none"]
    return "\n".join(lines) + "\n"
