"""The trajectory stage: batches of tasks -> k agent trajectories per task, into `trajectories` (with every
teacher and tool call in `requests`, failures in `quarantine`).

Work is the set of missing trajectory ids. A trajectory's id is a content id of task, mode, policy, model,
sample index and config (`trajectory_id`), so for each task the ids of its k samples under the current
settings are known before any agent runs: a task is pending while one of them is not committed. Changing
the mode, policy, model, limits or raising `samples` therefore adds exactly the new trajectories, an
interrupted run resumes, and a rerun adds nothing.

Failures never disappear and never block a retry wrongly:
- a task without a question becomes a quarantine row (reason `empty_question`), which closes the task;
- a sample whose policy failed (termination `error`: the teacher was unreachable) is not written as a
  trajectory but as a quarantine row (reason `policy_error`); it does not count as done, so a rerun after
  the outage fills it in;
- a sample whose runner raised becomes a quarantine row (reason `agent_error`), retried by a rerun too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Self, get_args

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.store import Store
from drsynth.synth.agent.policy import Policy, TeacherPolicy
from drsynth.synth.agent.runner import (
    AgentLimits,
    Trajectory,
    run_context,
    run_heavy,
    run_react,
    trajectory_config,
    trajectory_id,
)
from drsynth.synth.agent.scripted import ScriptedSearchPolicy
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.sections import Section
from drsynth.synth.teacher.open import open_client, required
from drsynth.synth.teacher.requests_log import RequestLog
from drsynth.synth.tools.base import Toolbox

Mode = Literal["react", "context", "heavy"]
PolicyName = Literal["scripted", "teacher"]
HeavyInner = Literal["context", "react"]

STAGE = "agent"
MODES: tuple[str, ...] = get_args(Mode)
POLICIES: tuple[str, ...] = get_args(PolicyName)
NEEDS_TEACHER = "[agent] policy = 'teacher'"  # the setting that asks for [teacher] settings
TASK_COLUMNS = ["id", "question", "level"]  # never the answer or evidence: the agent must not see them
CLOSING_REASONS = frozenset({"empty_question"})  # agent quarantine reasons that close a task for good


class AgentConfig(Section):
    """The `[agent]` section: how the agent runs the tasks into trajectories (mode, policy, samples per
    task, per-trajectory limits). Mode, policy, model, limits and heavy settings are part of every
    trajectory's id: changing them adds new trajectories beside the old ones."""

    mode: Mode = "react"
    """How one trajectory runs: react (the policy sees the whole conversation every turn), context (it sees
    the question, its own running report and its last action with that observation) or heavy (heavy_n
    agents run the task in parallel, then one synthesis turn over their reports gives the answer)."""
    policy: PolicyName = "scripted"
    """Who writes each turn: scripted (the offline search agent, no model needed) or teacher (the model of
    the [teacher] section)."""
    samples: int = Field(2, ge=1)
    """Trajectories per task (k), sample indexes 0..k-1; raising it adds only the new samples."""
    heavy_n: int = Field(3, ge=1)
    """Heavy mode: agents per heavy trajectory (their rows are written too, as its members)."""
    heavy_inner: HeavyInner = "context"
    """Heavy mode: what each of its agents runs, context or react."""
    max_tool_calls: int = Field(30, ge=1)
    """Tool calls one agent may make; then it is asked for its answer (also the scripted agent's budget)."""
    max_context_tokens: int = Field(32768, ge=1)
    """Tokens one request of one agent may hold (counted with chars/4); no request is sent over it: older
    observations are dropped or the answer is forced."""
    max_wall_s: float = Field(600.0, gt=0)
    """Wall-clock limit of one trajectory, in seconds; it ends where it stands (in heavy mode: the whole
    trajectory, agents and synthesis)."""
    max_turns: int = Field(60, ge=1)
    """Turns one agent may take; then it is asked for its answer (none: it ends `call_limit`)."""
    max_format_errors: int = Field(2, ge=0)
    """Malformed replies fed back to the model for a retry; one more ends the trajectory (0: the first
    ends it)."""
    max_observation_chars: int = Field(20_000, ge=1)
    """Each tool observation is cut to this many characters."""
    concurrency: int = Field(16, ge=1)
    """Trajectories in flight at once in one batch (the teacher client caps its requests on its own)."""
    tasks_per_batch: int = Field(16, ge=1)
    """Tasks per batch, the unit of work one Prefect task commits."""
    tasks_per_level: int = Field(0, ge=0)
    """Trajectories only for a fixed sample of this many tasks per level (the smallest task ids, so a
    rerun picks the same ones); 0: for every task."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """Teacher policy: sampling temperature of the model (0: greedy)."""
    max_tokens: int = Field(4096, ge=1)
    """Teacher policy: the most tokens one model reply may have."""
    today: str = ""
    """The "Current date" of the system prompt, YYYY-MM-DD; empty: the day the run starts."""

    @field_validator("today")
    @classmethod
    def _iso_date(cls, today: str) -> str:
        if today:
            try:
                datetime.date.fromisoformat(today)
            except ValueError:
                raise ValueError(f"[agent] today must be empty or a date YYYY-MM-DD, got {today!r}") from None
        return today

    @model_validator(mode="after")
    def _limits_hold(self) -> Self:
        self.limits  # noqa: B018 - AgentLimits checks its own values: the one place their rules live
        return self

    @property
    def limits(self) -> AgentLimits:
        return AgentLimits(max_tool_calls=self.max_tool_calls, max_context_tokens=self.max_context_tokens,
                           max_wall_s=self.max_wall_s, max_turns=self.max_turns,
                           max_format_errors=self.max_format_errors,
                           max_observation_chars=self.max_observation_chars)

    def day(self) -> str:
        return self.today or datetime.date.today().isoformat()


TaskBatch = RowBatch


def sample_ids(task_id: str, config: AgentConfig, policy: str, model: str) -> list[str]:
    """The ids of the k trajectories this configuration makes for the task (sample index 0..k-1)."""
    run_config = trajectory_config(config.limits, config.mode, n=config.heavy_n, inner=config.heavy_inner)
    return [trajectory_id(task_id, config.mode, policy, model, k, run_config) for k in range(config.samples)]


def policy_identity(config: AgentConfig, teacher_config: Any = None) -> tuple[str, str]:
    """(policy name, model) of the trajectories `config` makes: what their ids depend on."""
    if config.policy == "teacher":
        return TeacherPolicy.name, required(teacher_config, NEEDS_TEACHER).model
    return ScriptedSearchPolicy.name, ScriptedSearchPolicy.model


def committed_trajectory_ids(store: Store) -> set[str]:
    done: set[str] = set()
    for batch in store.scan("trajectories", ["id"]):
        done.update(batch.column("id").to_pylist())
    return done


def closed_task_ids(store: Store) -> set[str]:
    """Tasks an agent quarantine row closes for good (no question): never the retryable failures."""
    closed: set[str] = set()
    for batch in store.scan("quarantine", ["parents", "stage", "reason"]):
        chosen = batch.filter(pc.and_(pc.equal(batch.column("stage"), STAGE),
                                      pc.is_in(batch.column("reason"), value_set=pa.array(sorted(CLOSING_REASONS)))))
        for parents in chosen.column("parents").to_pylist():
            closed.update(parents)
    return closed


def processed_task_ids(store: Store) -> set[str]:
    """Tasks any trajectory names, or closed: the coarse check of a plan that is given no configuration."""
    done = closed_task_ids(store)
    for batch in store.scan("trajectories", ["task_id"]):
        done.update(batch.column("task_id").to_pylist())
    return done


def trajectory_batches(store: Store, per_task: int, tasks_per_level: int = 0, *, config: AgentConfig | None = None,
                       teacher_config: Any = None) -> list[TaskBatch]:
    """Pending tasks in batches (resumable): with `config`, the tasks one of whose k trajectory ids under it
    is not committed yet (and that no quarantine row closes); without, only the tasks no trajectory names
    at all (coarse: a new mode or more samples add nothing; pass the config).

    `tasks_per_level` > 0 keeps a fixed sample: per level, the tasks with the smallest ids. The sample
    depends on the tasks only, so a rerun picks the same tasks (and adds nothing).
    """
    if config is None:
        done = processed_task_ids(store)

        def pending(task_id: str) -> bool:
            return task_id not in done
    else:
        name, model = policy_identity(config, teacher_config)
        committed, closed = committed_trajectory_ids(store), closed_task_ids(store)

        def pending(task_id: str) -> bool:
            return task_id not in closed and not committed.issuperset(sample_ids(task_id, config, name, model))
    chosen: set[str] | None = None
    if tasks_per_level > 0:
        by_level: dict[int, list[str]] = {}
        for row in store.rows("tasks", ["id", "level"]):
            by_level.setdefault(row["level"], []).append(row["id"])
        chosen = {i for ids in by_level.values() for i in sorted(ids)[:tasks_per_level]}
    return plan_batches(store, "tasks", per_task,
                        keep=lambda i: (chosen is None or i in chosen) and pending(i))


PolicyFactory = Callable[[], Policy]


async def run_one(task: dict, policy: Policy, tools: Toolbox, config: AgentConfig, sample_index: int) -> Trajectory:
    limits, today = config.limits, config.day()
    if config.mode == "heavy":
        return await run_heavy(task, policy, tools, limits, sample_index=sample_index, n=config.heavy_n,
                               inner=config.heavy_inner, today=today)
    run = run_context if config.mode == "context" else run_react
    return await run(task, policy, tools, limits, sample_index=sample_index, today=today)


def _has_question(task: dict) -> bool:
    question = task.get("question")
    return isinstance(question, str) and bool(question.strip())


def _policy_failure(trajectory: Trajectory) -> str | None:
    """Why the policy (not the agent) failed this sample, or None: the sample is retried by a rerun."""
    for t in (*trajectory.members, trajectory):
        if t.termination == "error":
            return t.reason or "the policy failed"
    return None


async def run_batch(store: Store, run_id: str, batch: TaskBatch, config: AgentConfig, policy: Policy,
                    tools: Toolbox, log: RequestLog | None = None) -> Counter[str]:
    """The missing ones of the k trajectories of each task of the batch, `config.concurrency` in flight at
    once; the trajectories, the `requests` rows `log` collected and any quarantine rows commit together.
    Samples already committed are not run again (idempotent)."""
    counts: Counter[str] = Counter()
    tasks = list(store.iter_row_groups(batch.file, batch.row_groups, TASK_COLUMNS, ids=batch.ids))
    committed = committed_trajectory_ids(store)
    gate = asyncio.Semaphore(config.concurrency)

    async def one(task: dict, k: int) -> Trajectory | BaseException:
        async with gate:
            try:
                return await run_one(task, policy, tools, config, k)
            except Exception as error:  # never lose the batch to one trajectory
                return error

    empty = [task for task in tasks if not _has_question(task)]
    jobs = []
    for task in tasks:
        if not _has_question(task):
            continue
        for k, sample_id in enumerate(sample_ids(task["id"], config, policy.name, policy.model)):
            if sample_id in committed:
                counts["trajectories.already_present"] += 1
            else:
                jobs.append((task, k, sample_id))
    results = await asyncio.gather(*(one(task, k) for task, k, _ in jobs))
    meta = {"stage": STAGE, "mode": config.mode, "policy": policy.name, "model": policy.model,
            "tasks_file": batch.file}
    with StageOutput(store, run_id, "trajectories", stage=STAGE, meta=meta) as out:
        for task in empty:
            record = quarantine_record(stage=STAGE, reason="empty_question", source=task["id"],
                                       detail=f"the task's question is {task.get('question')!r}: no agent ran",
                                       input=json.dumps({"task": task["id"]}), parents=[task["id"]])
            if out.write("quarantine", record):
                counts[f"quarantine.{STAGE}.empty_question"] += 1
        for (task, k, sample_id), result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                reason, detail = "agent_error", f"sample {k}: {type(result).__name__}: {str(result)[:300]}"
            elif (failure := _policy_failure(result)) is not None:
                reason, detail = "policy_error", f"sample {k}: {failure[:300]}"
            else:
                reason = None
            if reason is not None:
                record = quarantine_record(stage=STAGE, reason=reason, source=task["id"], detail=detail,
                                           input=json.dumps({"task": task["id"], "sample": k,
                                                             "trajectory": sample_id}),
                                           parents=[task["id"]])
                if out.write("quarantine", record):
                    counts[f"quarantine.{STAGE}.{reason}"] += 1
                continue
            for member in result.members:
                if out.write("trajectories", member.row()):
                    counts["trajectories.members"] += 1
            if out.write("trajectories", result.row()):
                counts["trajectories.added"] += 1
                counts[f"trajectories.termination.{result.termination}"] += 1
            else:
                counts["trajectories.already_present"] += 1
        for row in (log.drain() if log is not None else []):
            if out.write("requests", row):
                counts["requests.added"] += 1
    counts["tasks.read"] += len(tasks)
    return counts


def make_policy(config: AgentConfig, teacher: Any = None) -> Policy:
    if config.policy == "teacher":
        if teacher is None:
            raise ValueError("[agent] policy = 'teacher' needs a teacher client")
        return TeacherPolicy(teacher, temperature=config.temperature, max_tokens=config.max_tokens)
    return ScriptedSearchPolicy(max_calls=config.max_tool_calls)


def write_trajectories(store: Store, run_id: str, batch: TaskBatch, config: AgentConfig,
                       teacher_config: Any = None, *, update_index: bool = True) -> Counter[str]:
    """The synchronous entry point for one Prefect task: builds the log, tools, client and policy, runs the
    batch, closes what it opened. Batches running side by side pass `update_index=False` after one
    `index_corpus` call, so they never race to update the same search index."""
    from drsynth.synth.tools.toolbox import default_toolbox

    async def go() -> Counter[str]:
        log = RequestLog()
        client = (open_client(store, teacher_config, log, needed_by=NEEDS_TEACHER)
                  if config.policy == "teacher" else None)
        async with client or contextlib.nullcontext():
            tools = default_toolbox(store, log=log, update_index=update_index, teacher=client)
            return await run_batch(store, run_id, batch, config, make_policy(config, client), tools, log)

    return asyncio.run(go())


def index_corpus(store: Store) -> Counter[str]:
    """Bring the local search index of `documents` up to date (before batches fan out)."""
    from drsynth.synth.tools.search import SearchIndex, default_index_path

    return SearchIndex(default_index_path(store)).update(store)
