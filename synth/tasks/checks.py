"""Checks every task must pass; each failure is a quarantine reason, never a silent drop.

  answer_unsupported      neither the answer nor an alias appears (folded, whole words) in the evidence
  answer_leak             the answer or an alias appears in the question (whole words, case and
                          diacritics folded)
  missing_evidence        an evidence doc id is not a committed `documents` id
  level_mismatch          the level (or hop count) disagrees with what the formalization and the
                          operations make it
  formalization_mismatch  solve() does not return the answer
  ambiguous               solve() returns more than one answer (checked at every level: a lookup
                          question with several right answers is as unusable as a vague one)

Hops and levels are computed from the formalization alone. Hops: the distance from the answer's
entity (for an attribute question, the entity that owns it, plus one for reading the attribute) to
the nearest named entity, or to the farthest term when nothing is named. Level 1: one hop, no
operation. Level 2: at least two hops from a named anchor, at most one light operation (vague_date,
number_range, mask_name). Level 3: at least two hops, at least two operations, and nothing named
next to the answer's entity, in the formalization or anywhere in the graph.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from synth.graph.values import strip_parentheticals
from synth.graph.view import GraphView
from synth.tasks.formal import ANSWER, EDGE_KINDS, Triple, entities_named, is_var, name_of, solve
from synth.tasks.operations import LIGHT_OPS
from synth.tasks.text import attribute_answer, contains_phrase, fold

if TYPE_CHECKING:
    from synth.tasks.draft import TaskDraft

REASONS = ("answer_unsupported", "answer_leak", "missing_evidence", "level_mismatch", "formalization_mismatch",
           "ambiguous")


def _structure(formalization: Iterable[dict | Triple]) -> tuple[str, int, dict[str, int]]:
    """(the answer's entity term, 1 for an attribute question else 0, distances from that term)."""
    triples = [Triple.of(t) for t in formalization]
    owner, extra = ANSWER, 0
    for t in triples:
        if t.object == ANSWER and t.object_kind == "value":
            owner, extra = t.subject, 1
    graph: dict[str, set[str]] = defaultdict(set)
    for t in triples:
        graph[t.subject]
        if t.object_kind in EDGE_KINDS:
            graph[t.subject].add(t.object)
            graph[t.object].add(t.subject)
    distance = {owner: 0}
    queue = deque([owner])
    while queue:
        term = queue.popleft()
        for other in graph[term]:
            if other not in distance:
                distance[other] = distance[term] + 1
                queue.append(other)
    return owner, extra, distance


def hops_of(formalization: Iterable[dict | Triple]) -> int:
    _, extra, distance = _structure(formalization)
    named = [d for term, d in distance.items() if not is_var(term)]
    if named:
        return min(named) + extra
    return max(distance.values(), default=0) + extra


def level_from(formalization: Iterable[dict | Triple], operations: Iterable[dict | str]) -> int:
    """The level the formalization and operations make a task: 1, 2, 3, or 0 for none."""
    triples = [Triple.of(t) for t in formalization]
    ops = [o if isinstance(o, str) else o["op"] for o in operations]
    _, extra, distance = _structure(triples)
    named = [d for term, d in distance.items() if not is_var(term)]
    hops = (min(named) if named else max(distance.values(), default=0)) + extra
    if hops == 1 and not ops and named:
        return 1
    if hops >= 2 and named and len(ops) <= 1 and all(o in LIGHT_OPS for o in ops):
        return 2
    if hops >= 2 and len(ops) >= 2 and all(d >= 2 for d in named):
        return 3
    return 0


def level_of(draft: TaskDraft) -> int:
    return level_from(draft.formalization, [o.op for o in draft.operations])


def leaked_alias(question: str, task: TaskDraft | dict) -> str | None:
    """The answer spelling that appears in the question, if any."""
    answer, aliases = (task["answer"], task["aliases"]) if isinstance(task, dict) else (task.answer, task.aliases)
    for spelling in [answer, *(aliases or [])]:
        if spelling and contains_phrase(question, spelling):
            return spelling
    return None


def supported(task: TaskDraft | dict) -> bool:
    if isinstance(task, dict):
        answer, aliases, evidence = task["answer"], task["aliases"], task["evidence"]
    else:
        answer, aliases, evidence = task.answer, task.aliases, task.evidence
    return any(contains_phrase(e.get("text") or "", s) for e in evidence for s in [answer, *(aliases or [])] if s)


def plan_problem(draft: TaskDraft, view: GraphView) -> tuple[tuple[str, str] | None, int]:
    """The checks that do not depend on wording, run while planning: (problem or None, answers)."""
    solutions = solve(draft.formalization, view)
    if not supported(draft):
        return ("answer_unsupported", f"no evidence text contains {draft.answer!r} or an alias"), len(solutions)
    if draft.expected not in solutions:
        return ("formalization_mismatch", f"solve() gives {_show(solutions, view)}, not the answer "
                f"{draft.answer!r}"), len(solutions)
    if len(solutions) > 1:
        return ("ambiguous", f"solve() gives {len(solutions)} answers: {_show(solutions, view)}"), len(solutions)
    return None, 1


def _show(solutions: set[str], view: GraphView, limit: int = 5) -> str:
    names = sorted(view.entities[s].name if s in view.entities else s for s in solutions)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more if names else "nothing"


def expected_answer(task: dict, solutions: set[str], view: GraphView) -> bool:
    """Whether the solver's bindings include this task's answer: its entity, or a value it spells, or
    the normalized value ("5280", seconds) of the target's attribute written as the answer ("88 minutes")."""
    if task.get("answer_type") == "entity":
        return task.get("target_entity_id") in solutions
    spellings = {fold(s) for s in [task["answer"], *(task.get("aliases") or [])] if s}
    if any(fold(s) in spellings for s in solutions):
        return True
    entity = view.entities.get(task.get("target_entity_id") or "")
    keys = {t.predicate for t in map(Triple.of, task["formalization"]) if t.object == ANSWER and t.object_kind == "value"}
    for attribute in entity.attributes if entity is not None else []:
        raw = str(attribute.get("value") or "").strip()
        if (attribute.get("key") in keys and attribute_answer(attribute) in solutions
                and {fold(raw), fold(strip_parentheticals(raw))} & spellings):
            return True
    return False


def neighbors_of(view: GraphView, entity_id: str) -> set[str]:
    return {other for _, other in view.neighbors(entity_id)}


def named_next_to_answer(task: dict, view: GraphView) -> list[str]:
    """Names in a formalization that are one edge (any relation) from the answer's entity in the graph.

    A name stands for every entity that bears it (as in the solver): it counts when any of them is next
    to the answer. The name index is built once per graph view, not per task."""
    near = neighbors_of(view, task["target_entity_id"])
    triples = [Triple.of(t) for t in task["formalization"]]
    terms = {t.subject for t in triples if not is_var(t.subject)}
    terms |= {t.object for t in triples if t.object_kind == "entity"}
    names = {name_of(term) for term in terms}
    return sorted(n for n in names if any(i in near for i in entities_named(view, n)))


def check_task(task: dict, view: GraphView, document_ids: set[str]) -> list[tuple[str, str]]:
    """Every check on a finished task row; [] when it passes."""
    problems: list[tuple[str, str]] = []
    if not supported(task):
        problems.append(("answer_unsupported", f"no evidence text contains {task['answer']!r} or an alias"))
    leak = leaked_alias(task["question"], task)
    if leak:
        problems.append(("answer_leak", f"the question names the answer as {leak!r}"))
    missing = [d for d in task["evidence_doc_ids"] if d not in document_ids]
    if missing or not task["evidence_doc_ids"]:
        problems.append(("missing_evidence", f"evidence documents not among committed documents: {missing}"
                         if missing else "the task cites no evidence document"))
    level = level_from(task["formalization"], task["operations"])
    hops = hops_of(task["formalization"])
    if level != task["level"] or hops != task["hops"]:
        problems.append(("level_mismatch", f"labelled level {task['level']} with {task['hops']} hops; the "
                         f"formalization and operations make level {level} with {hops} hops"))
    elif level == 3 and (named := named_next_to_answer(task, view)):
        problems.append(("level_mismatch", f"a level-3 question names {named}, one edge from the answer in "
                         "the graph: a single search leads to it"))
    solutions = solve(task["formalization"], view)
    if not expected_answer(task, solutions, view):
        problems.append(("formalization_mismatch", f"solve() gives {_show(solutions, view)}, not the answer "
                         f"{task['answer']!r}"))
    elif len(solutions) > 1:
        problems.append(("ambiguous", f"solve() gives {len(solutions)} answers: {_show(solutions, view)}"))
    return problems
