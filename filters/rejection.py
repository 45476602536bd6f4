"""Rejection sampling: every trajectory judged and checked, one `judgments` row each, then the budget, the
pass rate of every task and the RL task pool.

A trajectory is accepted when its task survived screening, every check passes, no earlier sample of its
task has the same messages, and the judge says correct; otherwise it is rejected with the first reason in
that order (`missing_task`, `task_contaminated`, `task_duplicate`, `task_no_answer` (no gold answer to
judge against), a failed check such as `format_error` or `no_answer`, `duplicate_trajectory`,
`judge_incorrect`); the judge is not asked where the task alone decides, and such a judgment's verdict is
`error` ("not judged: ..."). A duplicate is still judged: its verdict counts in the task's pass rate (it
was sampled), but training on the same messages twice would only weight them double. A judge that
could not decide (an unreachable LLM judge) writes no judgment but a quarantine row `judge_error`, so the
trajectory stays pending and a rerun judges it. Judgment ids are (trajectory, filter fingerprint): a rerun
adds nothing, a new setting adds its own decisions, and the `trajectories` view shows the latest one.

Budget: with `budget_per_level = N`, the first N accepted trajectories of each level (in the order they
were first judged, then by id) stay accepted; any later one gets a second judgment `over_budget`. The
trajectory flow also judges as it goes in that mode and stops generating a level once N are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drsynth.filters.checks import CheckConfig, check_trajectory, load_counter
from drsynth.filters.config import FilterConfig
from drsynth.filters.judges import JUDGE_RULES, Judge, Verdict, make_judge
from drsynth.filters.judges.verdict import gold_spellings
from drsynth.filters.screen import TASK_REJECTIONS, Removed, memo_on_commits, screened_tasks
from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.teacher.open import open_client
from drsynth.synth.teacher.requests_log import RequestLog

STAGE = "judge"
TRAJECTORY_COLUMNS = ["id", "task_id", "mode", "level", "messages", "answer", "termination", "tool_calls",
                      "tokens", "parents"]
TASK_COLUMNS = ["id", "question", "answer", "aliases", "answer_type", "level"]
DUPLICATE = "duplicate_trajectory"
BUDGET_JUDGE = "budget"


def judgment_id(trajectory_id: str, fingerprint: str, judge: str = "") -> str:
    return content_id("judgment", trajectory_id, fingerprint, judge if judge == BUDGET_JUDGE else "")


def check_config(config: FilterConfig) -> CheckConfig:
    return CheckConfig(max_tool_calls=config.max_tool_calls, min_tool_calls=config.min_tool_calls,
                       max_tokens=config.max_tokens, tokenizer=config.tokenizer,
                       require_answer=config.require_answer)


@dataclass(frozen=True)
class Decision:
    status: str  # accepted | rejected
    rejection: str | None
    detail: str


def decide(removed: Removed | None, failures: list, verdict: Verdict, duplicate_of: str | None = None) -> Decision:
    """The first reason in order: the task's screening, the checks, an identical earlier sample, the judge."""
    if removed is not None:
        return Decision("rejected", TASK_REJECTIONS[removed.stage], f"{removed.reason}: {removed.detail}")
    if failures:
        names = ", ".join(f.name for f in failures)
        return Decision("rejected", failures[0].name, f"failed checks: {names}; {failures[0].detail}")
    if duplicate_of is not None:
        return Decision("rejected", DUPLICATE, f"the same messages as trajectory {duplicate_of}, an earlier "
                                               f"sample of this task ({verdict.judge}: {verdict.verdict})")
    if verdict.verdict == "correct":
        return Decision("accepted", None, f"{verdict.judge}: {verdict.reason}")
    reason = {"no_answer": "no_answer", "error": "judge_error"}.get(verdict.verdict, "judge_incorrect")
    return Decision("rejected", reason, f"{verdict.judge}: {verdict.reason}")


def judgment_row(trajectory: Mapping, verdict: Verdict, failures: list, decision: Decision, fingerprint: str) -> dict:
    return {
        "id": judgment_id(trajectory["id"], fingerprint),
        "parents": [trajectory["id"]],
        "trajectory_id": trajectory["id"],
        "task_id": trajectory["task_id"],
        "level": trajectory["level"],
        "judge": verdict.judge,
        "verdict": verdict.verdict,
        "score": float(verdict.score),
        "reason": verdict.reason,
        "failed_checks": [f.name for f in failures],
        "status": decision.status,
        "rejection": decision.rejection,
        "detail": decision.detail,
        "filter": fingerprint,
        "at": datetime.now(UTC),
    }


def messages_digest(messages: Iterable[Mapping] | None) -> str:
    """What makes two trajectories the same training text: their messages, role and content."""
    return content_id("messages", [[m.get("role"), m.get("content")] for m in messages or ()])


def duplicate_samples(store: Store) -> dict[str, str]:
    """trajectory id -> the id of the earlier sample (lowest sample index, then id) of the same task and mode
    with identical messages; the first of each identical group is absent. Read once per `trajectories`
    commit in a process."""
    return dict(memo_on_commits(store, "trajectories", ("duplicates",), lambda: _duplicates(store)))


def _duplicates(store: Store) -> dict[str, str]:
    groups: dict[tuple, list[tuple[int, str]]] = defaultdict(list)
    for batch in store.scan("trajectories", ["id", "task_id", "mode", "sample_index", "messages"], batch_size=256):
        for row in batch.to_pylist():
            if row["task_id"] is None:
                continue  # no task, no samples of one (rejected `missing_task` anyway)
            key = (row["task_id"], row["mode"], messages_digest(row["messages"]))
            groups[key].append((row["sample_index"] if row["sample_index"] is not None else -1, row["id"]))
    out: dict[str, str] = {}
    for members in groups.values():
        first, *later = sorted(members)
        out.update({tid: first[1] for _, tid in later})
    return out


def judged_ids(store: Store, fingerprint: str) -> set[str]:
    """Trajectories with a judgment under this setting."""
    done: set[str] = set()
    for batch in store.scan("judgments", ["trajectory_id", "filter"]):
        for tid, fp in zip(batch.column("trajectory_id").to_pylist(), batch.column("filter").to_pylist(),
                           strict=True):
            if fp == fingerprint:
                done.add(tid)
    return done


def judgment_batches(store: Store, config: FilterConfig, fingerprint: str,
                     only: Iterable[str] | None = None) -> list[RowBatch]:
    """Trajectories not yet judged under `fingerprint` (optionally only some), in batches."""
    done = judged_ids(store, fingerprint)
    wanted = set(only) if only is not None else None
    return plan_batches(store, "trajectories", config.trajectories_per_batch,
                        keep=lambda i: i not in done and (wanted is None or i in wanted))


def _tasks_by_id(store: Store, task_ids: set[str | None]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    wanted = {t for t in task_ids if isinstance(t, str)}  # a trajectory without a task_id has no task
    if not wanted:
        return found
    for batch in store.scan("tasks", TASK_COLUMNS, ids=wanted):
        for row in batch.to_pylist():
            found[row["id"]] = row
    return found


def task_decision(task: Mapping | None, removed: Removed | None) -> Decision | None:
    """A rejection every trajectory of the task gets whatever its answer: its task is missing, was removed by
    screening, or has no gold answer to judge against (None: the trajectory decides)."""
    if task is None:
        return Decision("rejected", "missing_task", "the trajectory's task is not in `tasks`")
    if removed is not None:
        return Decision("rejected", TASK_REJECTIONS[removed.stage], f"{removed.reason}: {removed.detail}")
    if not gold_spellings(task):
        return Decision("rejected", "task_no_answer",
                        f"task {task.get('id')!r} has no gold answer to judge against")
    return None


async def judge_rows(trajectories: list[dict], tasks: Mapping[str, dict], judge: Judge, tools: Mapping[str, dict] | None,
                     config: FilterConfig, removed: Mapping[str, Removed], counter: Any,
                     ) -> list[tuple[dict, Verdict, list]]:
    """(trajectory, verdict, failed checks) for each trajectory; the judge runs only where it matters."""
    checks = check_config(config)
    failures = [check_trajectory(t, tools, checks, counter) for t in trajectories]
    items, slots = [], []
    for i, trajectory in enumerate(trajectories):
        task_id = trajectory["task_id"]
        if task_decision(tasks.get(task_id), removed.get(task_id)) is None:
            items.append((tasks[task_id], trajectory.get("answer")))
            slots.append(i)
    verdicts: list[Verdict | None] = [None] * len(trajectories)
    for i, verdict in zip(slots, await judge.judge_many(items), strict=True):
        verdicts[i] = verdict
    out = []
    for i, trajectory in enumerate(trajectories):
        verdict = verdicts[i]
        if verdict is None:
            # not judged: `task_decision` rejects it whatever the judge would say, and the verdict says why
            decision = task_decision(tasks.get(trajectory["task_id"]), removed.get(trajectory["task_id"]))
            why = decision.detail if decision is not None else "the task could not be judged"
            verdict = Verdict("error", 0.0, f"not judged: {why}", judge.name)
        out.append((trajectory, verdict, failures[i]))
    return out


async def judge_batch(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
                      judge: Judge, tools: Mapping[str, dict] | None, log: RequestLog | None = None,
                      removed: Mapping[str, Removed] | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    trajectories = list(store.iter_row_groups(batch.file, batch.row_groups, TRAJECTORY_COLUMNS, ids=batch.ids))
    removed = screened_tasks(store, fingerprint) if removed is None else removed
    tasks = _tasks_by_id(store, {t["task_id"] for t in trajectories})
    counter = load_counter(config.tokenizer)
    duplicates = duplicate_samples(store)
    results = await judge_rows(trajectories, tasks, judge, tools, config, removed, counter)
    meta = {"stage": STAGE, "filter": fingerprint, "judge": judge.name, "trajectories_file": batch.file}
    with StageOutput(store, run_id, "judgments", stage=STAGE, meta=meta) as out:
        for trajectory, verdict, failures in results:
            task_id = trajectory["task_id"]
            decision = task_decision(tasks.get(task_id), removed.get(task_id))
            if decision is None and verdict.verdict == "error" and verdict.retryable:
                # the judge was unreachable: pending, and a rerun asks again
                record = quarantine_record(stage=STAGE, reason="judge_error", source=trajectory["id"],
                                           detail=verdict.reason[:500],
                                           input=json.dumps({"trajectory": trajectory["id"], "filter": fingerprint}),
                                           parents=[trajectory["id"]])
                out.write("quarantine", record)
                counts["quarantine.judge.judge_error"] += 1
                continue
            if decision is None:
                decision = decide(None, failures, verdict, duplicates.get(trajectory["id"]))
            if out.write("judgments", judgment_row(trajectory, verdict, failures, decision, fingerprint)):
                counts[f"judgments.{decision.status}"] += 1
                if decision.rejection:
                    counts[f"rejected.{decision.rejection}"] += 1
        for row in (log.drain() if log is not None else []):
            if out.write("requests", row):
                counts["requests.added"] += 1
    counts["trajectories.judged"] += len(trajectories)
    return counts


def latest_judgments(store: Store, fingerprint: str) -> dict[str, dict]:
    """The deciding judgment of each trajectory under `fingerprint` (a budget override beats the first).
    Read once per new `judgments` commit in a process: every build batch asks for it. The rows are
    shared: do not mutate them."""
    return dict(memo_on_commits(store, "judgments", ("latest", fingerprint), lambda: _latest(store, fingerprint)))


def _latest(store: Store, fingerprint: str) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    columns = ["id", "trajectory_id", "task_id", "level", "verdict", "status", "rejection", "judge", "filter", "at"]
    for row in store.rows("judgments", columns):
        if row["filter"] != fingerprint:
            continue
        seen = latest.get(row["trajectory_id"])
        # a budget override is written after the judgment it overrides: it wins even against a skewed clock
        if seen is None or (row["judge"] == BUDGET_JUDGE, row["at"]) > (seen["judge"] == BUDGET_JUDGE, seen["at"]):
            latest[row["trajectory_id"]] = row
    return latest


def first_judged_at(store: Store, fingerprint: str) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for row in store.rows("judgments", ["trajectory_id", "filter", "at", "judge"]):
        if row["filter"] == fingerprint and row["judge"] != BUDGET_JUDGE:
            tid = row["trajectory_id"]
            if tid not in first or row["at"] < first[tid]:
                first[tid] = row["at"]
    return first


def accepted_per_level(store: Store, fingerprint: str) -> Counter[int]:
    return Counter(j["level"] for j in latest_judgments(store, fingerprint).values() if j["status"] == "accepted")


def apply_budget(store: Store, run_id: str, config: FilterConfig, fingerprint: str) -> Counter[str]:
    """Keep the first `budget_per_level` accepted trajectories of each level; reject the rest as over budget."""
    counts: Counter[str] = Counter()
    if config.budget_per_level <= 0:
        return counts
    latest = latest_judgments(store, fingerprint)
    first = first_judged_at(store, fingerprint)
    accepted = sorted((j for j in latest.values() if j["status"] == "accepted"),
                      key=lambda j: (first.get(j["trajectory_id"], j["at"]), j["trajectory_id"]))
    kept: Counter[int] = Counter()
    with store.writer("judgments", run_id, meta={"stage": "budget", "filter": fingerprint}) as writer:
        for judgment in accepted:
            level = judgment["level"]
            if kept[level] < config.budget_per_level:
                kept[level] += 1
                continue
            row = {
                "id": judgment_id(judgment["trajectory_id"], fingerprint, BUDGET_JUDGE),
                "parents": [judgment["trajectory_id"], judgment["id"]],
                "trajectory_id": judgment["trajectory_id"], "task_id": judgment["task_id"], "level": level,
                "judge": BUDGET_JUDGE, "verdict": judgment["verdict"], "score": None,
                "reason": f"level {level} already has {config.budget_per_level} accepted trajectories",
                "failed_checks": [], "status": "rejected", "rejection": "over_budget",
                "detail": f"budget_per_level = {config.budget_per_level}", "filter": fingerprint,
                "at": datetime.now(UTC),
            }
            if writer.write(row):
                counts["rejected.over_budget"] += 1
    return counts


def heavy_member_ids(store: Store) -> set[str]:
    """Trajectories that are members of a heavy trajectory: they are not samples of their own."""
    members: set[str] = set()
    for batch in store.scan("trajectories", ["mode", "parents"]):
        for mode, parents in zip(batch.column("mode").to_pylist(), batch.column("parents").to_pylist(), strict=True):
            if mode == "heavy":
                members.update(parents)
    return members


def pass_rates(store: Store, run_id: str, config: FilterConfig, fingerprint: str) -> tuple[Counter[str], list[str]]:
    """One `pass_rates` row per judged task (not those `task_decision` rejects whole) and the RL pool
    (`rl_tasks`): tasks with a pass rate strictly between the bounds. Returns the counts and the ids of the
    current `rl_tasks` rows (to publish)."""
    counts: Counter[str] = Counter()
    latest = latest_judgments(store, fingerprint)
    members = heavy_member_ids(store)
    removed = screened_tasks(store, fingerprint)
    groups: dict[str, list[dict]] = defaultdict(list)
    for tid, judgment in latest.items():
        # a trajectory without a task (rejected `missing_task`) is no sample of any task
        if tid not in members and judgment["task_id"] is not None:
            groups[judgment["task_id"]].append(judgment)
    tasks = _tasks_by_id(store, set(groups))
    rl_ids: list[str] = []
    with (store.writer("pass_rates", run_id, meta={"stage": "pass_rates", "filter": fingerprint}) as rates,
          store.writer("rl_tasks", run_id, meta={"stage": "rl_tasks", "filter": fingerprint}) as pool):
        for task_id in sorted(groups):
            unjudged = task_decision(tasks.get(task_id), removed.get(task_id))
            if unjudged is not None:
                # missing, removed by screening or without a gold answer: no sample was judged, no rate is known
                counts[f"pass_rates.skipped.{unjudged.rejection}"] += 1
                continue
            judged = groups[task_id]
            samples = len(judged)
            correct = sum(j["verdict"] == "correct" for j in judged)
            accepted = sum(j["status"] == "accepted" for j in judged)
            no_answer = sum(j["verdict"] == "no_answer" for j in judged)
            rate = correct / samples
            level = judged[0]["level"]
            rates.write({"id": content_id("pass-rate", task_id, fingerprint, samples, correct, accepted, no_answer),
                         "parents": [task_id], "task_id": task_id, "level": level, "samples": samples,
                         "correct": correct, "accepted": accepted, "no_answer": no_answer, "pass_rate": rate,
                         "filter": fingerprint, "at": datetime.now(UTC)})
            counts["pass_rates.tasks"] += 1
            counts[f"pass_rates.{'all' if rate == 1 else 'none' if rate == 0 else 'some'}"] += 1
            task = tasks[task_id]
            if config.rl_min_pass_rate < rate < config.rl_max_pass_rate:
                row_id = content_id("rl-task", task_id, fingerprint, samples, correct)
                pool.write({"id": row_id, "parents": [task_id], "task_id": task_id,
                            "question": task["question"], "answer": task["answer"], "aliases": task["aliases"],
                            "answer_type": task["answer_type"], "level": task["level"], "pass_rate": rate,
                            "samples": samples})
                rl_ids.append(row_id)
    counts["rl_tasks.pool"] = len(rl_ids)
    return counts, rl_ids


def make_task_judge(config: FilterConfig, client: Any = None) -> Judge:
    if config.judge == "llm":
        return make_judge("llm", client, concurrency=config.concurrency)
    return make_judge("match", f1_threshold=config.f1_threshold, number_tolerance=config.number_tolerance)


def run_judging(store: Store, run_id: str, batch: RowBatch, config: FilterConfig, fingerprint: str,
                teacher_config: Any = None) -> Counter[str]:
    """The synchronous entry point for one Prefect task: judge, tools, client set up and closed here."""
    async def go() -> Counter[str]:
        log = RequestLog()
        client = (open_client(store, teacher_config, log, needed_by="[filter] judge = 'llm'")
                  if config.judge == "llm" else None)
        async with client or contextlib.nullcontext():
            judge = make_task_judge(config, client)
            # tools=None: each trajectory is checked against the tools its own system prompt declared
            return await judge_batch(store, run_id, batch, config, fingerprint, judge, None, log)

    return asyncio.run(go())


def filter_fingerprint(config: FilterConfig, teacher_config: Any = None) -> str:
    """The setting's name: the LLM judge's model and the judges' rules are part of it (a root judged under
    older rules is judged again, not read back)."""
    model = teacher_config.model if config.judge == "llm" and teacher_config is not None else ""
    return config.fingerprint(model, JUDGE_RULES)
