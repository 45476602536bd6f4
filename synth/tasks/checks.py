"""Checks every task must pass; each failure is a quarantine reason, never a silent drop.

  answer_unsupported      neither the answer nor an alias appears (folded, whole words) in the evidence
  answer_leak             the answer or an alias appears in the question (whole words, case and
                          diacritics folded, or at the start of a longer token: see `leaks`)
  missing_evidence        an evidence doc id is not a committed `documents` id
  level_mismatch          the level (or hop count) disagrees with what the formalization and the
                          operations make it
  formalization_mismatch  the answer does not surely satisfy the formalization (formal.analyze: definite)
  ambiguous               another entity or value satisfies it, or might: a candidate whose attribute
                          that would rule it out is missing (formal.analyze: possible), or a value the
                          answer's source lists under the relation that names no entity. Checked at every
                          level: a lookup question with several right answers is as unusable as a vague one
  no_class_noun           (planning) a described entity whose kind the graph does not know: "the entity that"
  open_class              (planning) a described entity whose page says others of its kind exist beyond the
                          corpus ("the largest lake in Estavia"): any of them might fit a description
  hidden_named            (planning) the question names an entity it describes ("the town where the
                          Dunmere Mine Disaster took place" for Dunmere)
  unseen_siblings         (planning) a described entity listed in a data table beside rows that name no
                          entity of the graph: those rows' subjects might fit a description
  level3_searchable       (planning) one query from the question's constants finds the answer's page in the
                          search index's top k

Hops and levels are computed from the formalization alone. Hops: the distance from the answer's
entity (for an attribute question, the entity that owns it, plus one for reading the attribute) to
the nearest named entity, or to the farthest term when nothing is named. Level 1: one hop, no
operation. Level 2: at least two hops from a named anchor, at most one light operation (vague_date,
number_range, mask_name). Level 3: at least two hops, at least two operations, and nothing named
next to the answer's entity, in the formalization or anywhere in the graph.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from drsynth.synth.graph.values import strip_parentheticals
from drsynth.synth.graph.view import GraphView
from drsynth.synth.tasks.formal import (
    ANSWER,
    EDGE_KINDS,
    NOT_NAMING_KINDS,
    Analysis,
    Triple,
    analyze,
    entities_named,
    is_var,
    name_of,
)
from drsynth.synth.tasks.operations import LIGHT_OPS, surname
from drsynth.synth.tasks.text import attribute_answer, contains_phrase, fold, strip_diacritics, year_of

if TYPE_CHECKING:
    from drsynth.synth.tasks.draft import TaskDraft

REASONS = ("answer_unsupported", "answer_leak", "missing_evidence", "level_mismatch", "formalization_mismatch",
           "ambiguous", "no_class_noun", "open_class", "unseen_siblings", "hidden_named", "level3_searchable")


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


def leaks(question: str, answer: str, aliases: Iterable[str] | None = (), *, person: bool = False,
          dated: bool = False) -> list[str]:
    """The spellings of the answer (the answer, then each alias) that the question gives away: as whole
    words (folded, so "Voss" leaks from "Voss-Hartmann" and "Voss's"), or at the start of a longer token:
    a number inside any token but never inside a longer number ("1970" in "the 1970s", "7" in "7th", not
    in "19705"), a name inside a capitalized longer name ("Marr" in "Marrsville", not "marriage"). With
    `person`, the surname of a spelling of two or more words is a spelling too: "Karl Voss" leaks from
    "a child of Henrik Voss". With `dated` (a date answer), its year is: "When did Princess Maria
    Carolina (1820–1861) die?" gives 14 January 1861 away."""
    found: list[str] = []
    for spelling in [s for s in [answer, *(aliases or [])] if s and s.strip()]:
        candidates = [spelling]
        if person and len(spelling.split()) >= 2:
            candidates.append(surname(spelling))
        if dated and (year := year_of(spelling)) is not None:
            candidates.append(str(year))
        for candidate in candidates:
            if candidate not in found and (contains_phrase(question, candidate) or _inside_token(question, candidate)):
                found.append(candidate)
    return found


def leaked_alias(question: str, task: TaskDraft | dict, *, person: bool = False) -> str | None:
    """The first answer spelling the question gives away (see `leaks`), if any."""
    answer, aliases = (task["answer"], task["aliases"]) if isinstance(task, dict) else (task.answer, task.aliases)
    answer_type = task.get("answer_type") if isinstance(task, dict) else task.answer_type
    found = leaks(question, answer, aliases, person=person, dated=answer_type == "date")
    return found[0] if found else None


def _inside_token(question: str, spelling: str) -> bool:
    # a number leaks at the start of any longer token but never inside a longer number ("1970" is in
    # "1970s", not in "19705"); a name only from four letters on and only into a capitalized token, so
    # "Bay" does not leak through "Bayonne" nor "Marr" through "marriage"
    text, wanted = strip_diacritics(question), strip_diacritics(spelling).strip()
    numeric = any(c.isdigit() for c in wanted)
    if not wanted or (not numeric and len(wanted) < 4):
        return False
    after = r"(?!\d)" if wanted[-1].isdigit() else r"(?=[^\W\d_])"
    for match in re.finditer(r"(?<![^\W_])" + re.escape(wanted) + after, text, re.IGNORECASE):
        if numeric or text[match.start()].isupper():
            return True
    return False


def supported(task: TaskDraft | dict) -> bool:
    if isinstance(task, dict):
        answer, aliases, evidence = task["answer"], task["aliases"], task["evidence"]
    else:
        answer, aliases, evidence = task.answer, task.aliases, task.evidence
    return any(contains_phrase(e.get("text") or "", s) for e in evidence for s in [answer, *(aliases or [])] if s)


def plan_problem(draft: TaskDraft, view: GraphView) -> tuple[tuple[str, str] | None, int, Analysis]:
    """The checks that do not depend on wording, run while planning: (problem or None, answers the
    solver admits: those that hold and those that might, the analysis they come from)."""
    analysis = analyze(draft.formalization, view, trace=False)
    admitted = len(analysis.possible)
    if not supported(draft):
        return ("answer_unsupported", f"no evidence text contains {draft.answer!r} or an alias"), admitted, analysis
    if draft.expected not in analysis.definite:
        return ("formalization_mismatch", f"solve() gives {_show(analysis.definite, view)}, not the answer "
                f"{draft.answer!r}"), admitted, analysis
    if analysis.possible != {draft.expected}:
        return ("ambiguous", _ambiguity(analysis, {draft.expected}, view)), admitted, analysis
    bound = {m.var: m.entity_id for m in draft.root.walk() if m.var is not None and m.var != ANSWER}
    if draft.attribute is None:
        bound[ANSWER] = draft.target_entity_id
    for var, entity_id in bound.items():
        if others := unlisted_values(draft.formalization, entity_id, view, var=var):
            return ("ambiguous", f"the source of {var} also lists {others[:5]} under the relation: values that "
                    f"name no entity might be the one meant"), 1 + len(others), analysis
    if (child := unseen_parent(draft.formalization, view)) is not None:
        return ("ambiguous", f"{child} has two parents and the corpus names one: the other might be the one "
                "meant"), 2, analysis
    return None, 1, analysis


# relations from a child to a parent, and from a parent to a child: everyone has two parents, and a page
# that names one ("Parent: Oskar Lindell") says nothing of the other
_TO_PARENT = frozenset({"parent", "parents"})
_TO_CHILD = frozenset({"children", "child"})


def unseen_parent(formalization: Iterable[dict | Triple], view: GraphView) -> str | None:
    """The named child whose parent the formalization asks for, where the graph knows fewer than two of
    its parents ("the person whose children include Marta Lindell" fits her mother as well), or None."""
    for t in map(Triple.of, formalization):
        if t.object_kind not in EDGE_KINDS:
            continue
        if t.predicate in _TO_PARENT and is_var(t.object) and not is_var(t.subject):
            child = name_of(t.subject)
        elif t.predicate in _TO_CHILD and is_var(t.subject) and not is_var(t.object):
            child = name_of(t.object)
        else:
            continue
        for child_id in entities_named(view, child):
            parents = set()
            for edge, other in view.neighbors(child_id):
                if not edge.typed:
                    continue
                if (edge.src == child_id and edge.relation in _TO_PARENT) or (
                        edge.dst == child_id and edge.relation in _TO_CHILD):
                    parents.add(other)
            if len(parents) < 2:
                return child
    return None


def unlisted_values(formalization: Iterable[dict | Triple], target_entity_id: str, view: GraphView,
                    var: str = ANSWER) -> list[str]:
    """Other values the source of `var` (the answer, or a described entity bound to `target_entity_id`)
    lists under the relation that reaches it, naming nothing in the graph.

    "Office: President of the United States; ...; Office: [Illinois House]": only the linked office is an
    entity, so the solver sees one candidate, yet the question "Which office did Lincoln hold?" has three
    answers. A value of the relation that is no entity might be the one meant, as much as an entity might."""
    target = view.entities.get(target_entity_id)
    if target is None:
        return []
    names = {fold(n) for n in (target.name, target.label, *target.aliases) if n}
    found: list[str] = []
    for t in map(Triple.of, formalization):
        if t.object != var or t.object_kind not in EDGE_KINDS:
            continue
        named = set(entities_named(view, name_of(t.subject))) if not is_var(t.subject) else None
        for edge, source in view.neighbors(target.id):
            if not edge.typed or edge.dst != target.id or edge.relation != t.predicate:
                continue
            if named is not None and source not in named:
                continue
            for attribute in view.entities[source].attributes:
                value = str(attribute.get("value") or "")
                # a value that names an entity is weighed by the solver already (it might be the one)
                if (attribute.get("key") == t.predicate and attribute.get("kind") not in NOT_NAMING_KINDS
                        and not attribute.get("entity_id") and fold(value) not in names
                        and not entities_named(view, value)):
                    found.append(value)
    return sorted(set(found))


def _ambiguity(analysis: Analysis, expected: set[str], view: GraphView) -> str:
    others = analysis.possible - expected
    might = others - analysis.definite
    return (f"{len(analysis.possible)} answers hold or might: {_show(others, view)}"
            + (" besides the answer" if expected else "")
            + (f" ({len(might)} of them only might: an attribute that would rule them out is missing)"
               if might else ""))


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


def _person_answer(task: dict, view: GraphView) -> bool:
    entity = view.entities.get(task.get("target_entity_id") or "")
    return task.get("answer_type") == "entity" and entity is not None and entity.type == "person"


def check_task(task: dict, view: GraphView, document_ids: set[str]) -> list[tuple[str, str]]:
    """Every check on a finished task row; [] when it passes."""
    problems: list[tuple[str, str]] = []
    if not supported(task):
        problems.append(("answer_unsupported", f"no evidence text contains {task['answer']!r} or an alias"))
    leak = leaked_alias(task["question"], task, person=_person_answer(task, view))
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
    analysis = analyze(task["formalization"], view, trace=False)
    if not expected_answer(task, analysis.definite, view):
        problems.append(("formalization_mismatch", f"solve() gives {_show(analysis.definite, view)}, not the "
                         f"answer {task['answer']!r}"))
    elif len(analysis.possible) > 1:
        problems.append(("ambiguous", _ambiguity(analysis, set(), view)))
    elif task.get("answer_type") == "entity" and (
            others := unlisted_values(task["formalization"], task.get("target_entity_id") or "", view)):
        problems.append(("ambiguous", f"the answer's source also lists {others[:5]} under the relation"))
    return problems
