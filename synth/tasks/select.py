"""Task selection: the checked `task_drafts` of a graph -> `tasks` with no duplicate and balanced answers.

Question writing runs in parallel batches, each seeing only its own subgraphs, so no batch can tell
that another wrote the same question or asked for the same answer. Selection runs once the batches are
done, over every undecided draft of the graph at once, before anything reaches `tasks`: the view
analysts and agents read never holds what screening would remove.

A draft is kept unless it
  duplicate        repeats a kept task's question (after normalization),
  near_duplicate   shares at least `near_duplicate_threshold` of its word shingles with a kept one
                   (MinHash, filters.dedup),
  answer_cap       would give its answer (folded text) more than `max_per_answer` tasks,
  entity_cap       would give its answer's entity more than `max_per_entity` tasks,
  relation_cap     would give its (relation, answer type) more than its share of the tasks;
each refusal is a `quarantine` row (stage `select`) naming the draft and the task it yields to.

Order decides who yields, so it must not depend on commit order (parallel batches commit in any
order): drafts are taken round-robin over answers, each answer at its turn offering its draft of the
level with the fewest tasks so far (then by id). An answer's first task is chosen before any answer's
second, so caps drop the tasks of the most asked answers and keep one task of every answer the corpus
affords. Tasks already in `tasks` count against the caps and are matched against, never removed: a
rerun adds nothing and changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from drsynth.filters.dedup import QuestionDeduper
from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.stage_output import StageOutput
from drsynth.synth.tasks.config import TaskConfig
from drsynth.synth.tasks.text import fold

STAGE = "select"
REASONS = ("duplicate", "near_duplicate", "answer_cap", "entity_cap", "relation_cap")
SELECT_COLUMNS = ["id", "question", "answer", "answer_type", "level", "target_entity_id", "relation", "graph",
                  "subgraph_id", "writer"]


def task_id(subgraph_id: str, level: int, writer: str, question: str) -> str:
    return content_id("task", subgraph_id, level, writer, question)


def draft_id_of(task: str) -> str:
    """The id of the draft a task was chosen from (drafts and tasks never share an id: lineage finds each
    id in one dataset)."""
    return content_id("task_draft", task)


def task_id_of(draft: dict) -> str:
    return task_id(draft["subgraph_id"], int(draft["level"]), draft["writer"], draft["question"])


@dataclass(frozen=True)
class Refusal:
    draft_id: str
    reason: str
    detail: str


@dataclass
class Caps:
    """How many tasks one answer, one entity and one (relation, answer type) may have."""

    per_answer: int
    per_entity: int
    per_relation: int

    @classmethod
    def for_pool(cls, config: TaskConfig, pool: int) -> Caps:
        # a share of the whole pool (kept and undecided), never below the floor: a small corpus that
        # affords one relation still yields its tasks
        relation = max(config.min_per_relation, int(config.max_relation_share * pool))
        return cls(config.max_per_answer, config.max_per_entity, relation)


def answer_key(row: dict) -> str:
    return fold(str(row.get("answer") or ""))


def relation_key(row: dict) -> tuple[str, str]:
    return (str(row.get("relation") or ""), str(row.get("answer_type") or ""))


def choose(drafts: list[dict], kept: Iterable[dict], config: TaskConfig) -> tuple[list[dict], list[Refusal]]:
    """Which of `drafts` become tasks and why each other one does not; `kept` are tasks already chosen.

    Round-robin over answers (in order of their smallest draft id); at its turn an answer offers the
    draft of the level with the fewest tasks so far, so where a cap drops one of an answer's levels it
    drops the most plentiful one and the levels stay balanced."""
    kept = list(kept)
    caps = Caps.for_pool(config, len(kept) + len(drafts))
    answers = Counter(answer_key(t) for t in kept)
    entities = Counter(t["target_entity_id"] for t in kept if t.get("answer_type") == "entity")
    relations = Counter(relation_key(t) for t in kept)
    levels = Counter(int(t["level"]) for t in kept)
    deduper = QuestionDeduper(threshold=config.near_duplicate_threshold)
    deduper.add_existing((t["id"], t["question"]) for t in kept)
    questions = {t["id"]: t["question"] for t in kept}
    queues: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(drafts, key=lambda r: r["id"]):
        queues[answer_key(row)].append(row)
    turns = sorted(queues, key=lambda a: queues[a][0]["id"])
    chosen: list[dict] = []
    refused: list[Refusal] = []
    while turns:
        for answer in turns:
            queue = queues[answer]
            row = min(queue, key=lambda r: (levels[int(r["level"])], -int(r["level"]), r["id"]))
            queue.remove(row)
            task = task_id_of(row)
            # the caps first: a draft over a cap must not enter the dedup index and push out a later one
            reason, detail = _over_cap(row, caps, answers, entities, relations)
            if not reason:
                duplicate = next(iter(deduper.process([(task, row["question"])])), None)
                if duplicate is not None:
                    reason = "duplicate" if duplicate.kind in ("exact", "empty") else "near_duplicate"
                    of = questions.get(duplicate.of_id, "")
                    detail = (f"repeats task {duplicate.of_id} (estimated Jaccard {duplicate.similarity:.2f}): "
                              f"{of!r}" if duplicate.of_id else "the question has no words")
            if reason:
                refused.append(Refusal(row["id"], reason, detail))
                continue
            chosen.append(row)
            questions[task] = row["question"]
            answers[answer] += 1
            if row.get("answer_type") == "entity":
                entities[row["target_entity_id"]] += 1
            relations[relation_key(row)] += 1
            levels[int(row["level"])] += 1
        turns = [a for a in turns if queues[a]]
    return chosen, refused


def _over_cap(row: dict, caps: Caps, answers: Counter[str], entities: Counter[str],
              relations: Counter[tuple[str, str]]) -> tuple[str, str]:
    answer = answer_key(row)
    if answers[answer] >= caps.per_answer:
        return "answer_cap", f"the answer {row['answer']!r} already has {answers[answer]} tasks (max_per_answer)"
    if row.get("answer_type") == "entity" and entities[row["target_entity_id"]] >= caps.per_entity:
        return "entity_cap", (f"the answer's entity already has {entities[row['target_entity_id']]} tasks "
                              "(max_per_entity)")
    relation = relation_key(row)
    if relations[relation] >= caps.per_relation:
        return "relation_cap", (f"({relation[0]!r}, {relation[1]}) already has {relations[relation]} tasks "
                                f"(max_relation_share: at most {caps.per_relation})")
    return "", ""


def decided_drafts(store: Store) -> set[str]:
    """Drafts already kept (their task is in `tasks`) or refused (a `select` quarantine row names them)."""
    done = {draft_id_of(i) for b in store.scan("tasks", ["id"]) for i in b.column("id").to_pylist()}
    for row in store.rows("quarantine", ["stage", "parents"]):
        if row["stage"] == STAGE:
            done.update(row["parents"] or [])
    return done


def select_tasks(store: Store, run_id: str, graph: str, config: TaskConfig) -> Counter[str]:
    """Every undecided draft of `graph` into `tasks` or a `select` quarantine row (one commit each)."""
    counts: Counter[str] = Counter()
    decided = decided_drafts(store)
    drafts: list[dict] = []
    undecided: set[str] = set()
    for row in store.rows("task_drafts", ["id", "graph"]):
        if row["graph"] == graph and row["id"] not in decided:
            undecided.add(row["id"])
    if not undecided:
        return counts
    full = {r["id"]: r for b in store.scan("task_drafts", ids=undecided) for r in b.to_pylist()}
    drafts = [full[i] for i in sorted(full)]
    # in id order, not commit order: which kept task a refusal names must not depend on how batches landed
    kept = sorted((r for r in store.rows("tasks", SELECT_COLUMNS) if r["graph"] == graph), key=lambda r: r["id"])
    chosen, refused = choose(drafts, kept, config)
    meta = {"stage": STAGE, "graph": graph}
    # refusals first: a crash between the two commits leaves the kept drafts undecided, and a rerun
    # chooses them again (the refusals it reads back are the ones this order made)
    with StageOutput(store, run_id, "quarantine", stage=STAGE, meta=meta) as out:
        for refusal in refused:
            row = full[refusal.draft_id]
            record = quarantine_record(stage=STAGE, reason=refusal.reason, source=task_id_of(row),
                                       detail=refusal.detail,
                                       input=json.dumps({"draft": refusal.draft_id, "question": row["question"],
                                                         "answer": row["answer"], "level": row["level"]},
                                                        ensure_ascii=False),
                                       parents=[refusal.draft_id])
            if out.write("quarantine", record):
                counts[f"quarantine.{STAGE}.{refusal.reason}"] += 1
    with StageOutput(store, run_id, "tasks", stage=STAGE, meta=meta) as out:
        for row in chosen:
            task = {**row, "id": task_id_of(row)}
            task.pop("run_id", None)
            if out.write("tasks", task):
                counts["tasks.added"] += 1
                counts[f"tasks.level_{row['level']}"] += 1
            else:
                counts["tasks.already_present"] += 1
    counts["task_drafts.selected"] += len(drafts)
    return counts
