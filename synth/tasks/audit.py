"""The task audit: automatic signals over a root's `tasks`, and a review sheet a person marks by hand.

Signals are either defects (a valid catalog has none: each should read 0) or information (sizes and
distributions to read, no target). Defects:
  non_property_relation  a constraint or the answer reads a relation that is not a property: an edge
                         relation no typed edge of the graph carries (a link, a mention), or an
                         attribute key that `phrases.askable` refuses for every kind the graph gives it
  missing_unit           a number answer read from a duration, money, percent or quantity-with-unit
                         attribute, written without its unit ("2" for 2:24, "410" for 410 km2)
  exact_duplicates       tasks whose question equals an earlier one once case, accents and punctuation
                         are folded (filters.dedup.question_key)
  near_duplicates        tasks whose question is a MinHash near duplicate of an earlier one
                         (filters.dedup.find_duplicates, its default threshold)
  leaks                  the answer or an alias in the question, in the broad sense of `leaks`
  candidates             tasks whose solver admitted other than exactly one answer over the whole graph
                         (the `candidates` column; older roots have none: "not recorded")
  level3_search          level-3 tasks whose answer page a single query from the question's constants
                         finds among the top `search_k` (`search_rank` is set and at most `search_k`)
Information: answers (distinct answers per task, the top answers and relations, the most tasks one
answer has) and levels (tasks per level).

The review sheet samples N tasks per level (fixed seed) and lays each out with what a reviewer needs to
judge it by /work/shared/docs/QUALITY.md: the question, answer and aliases, the constraints in readable
form, the operations, the evidence sentences with their URLs, the solver's candidate counts and the
search rank, and blank marks for well-formed / correct / unique / no leak and a reason.
"""

from __future__ import annotations

import html
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import fsspec
import pyarrow.compute as pc

from drsynth.filters.dedup import find_duplicates, question_key
from drsynth.filters.screen import STAGES
from drsynth.storage.store import Store
from drsynth.synth.graph.links import UNTYPED_RELATIONS
from drsynth.synth.graph.view import GraphView, graph_files
from drsynth.synth.tasks.checks import leaks
from drsynth.synth.tasks.formal import AMOUNT_KINDS, ANSWER, ATTRIBUTE_KINDS, EDGE_KINDS, Triple, name_of
from drsynth.synth.tasks.phrases import askable
from drsynth.synth.tasks.text import contains_phrase, fold

DEFECT, INFO = "defect", "info"
EXAMPLES = 3
TOP = 10
AUDIT_DIR = "_audit"
SHEET_NAME = "review"
# the triples that read a relation: an edge, or an attribute of the subject
ATTRIBUTE_TRIPLES = frozenset({*ATTRIBUTE_KINDS, "value"})
RELATION_TRIPLES = EDGE_KINDS | ATTRIBUTE_TRIPLES
# the kinds an attribute triple can read when no graph tells which (askable judges key and kind together)
_KINDS_BY_TRIPLE = {"year_range": ("date", "year", "span"), "number_range": tuple(sorted(AMOUNT_KINDS))}
_ANY_KIND = ("date", "year", "number", "quantity", "count", "percent", "money", "duration", "text")
# screening's quarantine stages: a task they name is removed from publication only
SCREEN_STAGES = frozenset(STAGES)
# the sheet's marks, in QUALITY.md's order
MARKS = ("well-formed", "correct", "unique", "no leak")

TITLES = {
    "non_property_relation": "relations that are not properties",
    "missing_unit": "numeric answers without their unit",
    "exact_duplicates": "exact duplicate questions",
    "near_duplicates": "near-duplicate questions",
    "leaks": "answer leaks",
    "candidates": "solver candidates other than 1",
    "level3_search": "level-3 tasks a single search solves",
    "answers": "answers per entity and per answer string",
    "levels": "tasks per level",
}


# leaks: synth.tasks.checks.leaks (the task checks and the audit apply one rule)

# --- units -----------------------------------------------------------------------------------------

UNIT_KINDS = frozenset({"duration", "money", "percent", "quantity"})
_CLOCK = re.compile(r"\d:\d\d")
_TIME_WORDS = frozenset({"s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr",
                         "hrs", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year",
                         "years", "yr", "yrs"})
_CURRENCY_WORDS = frozenset({"dollar", "dollars", "euro", "euros", "pound", "pounds", "sterling", "yen", "franc",
                             "francs", "mark", "marks", "krona", "kronor", "krone", "kroner", "rupee", "rupees",
                             "yuan", "ruble", "rubles", "roubles", "peso", "pesos", "lira", "usd", "eur", "gbp"})
# words beside an amount that are not its unit: "about 410", "2.5 million"
_NOT_UNITS = frozenset({"about", "c", "ca", "circa", "approx", "approximately", "around", "over", "under", "nearly",
                        "almost", "some", "more", "less", "than", "up", "to", "and", "or", "thousand", "million",
                        "billion", "trillion", "bn", "m", "k", "est", "estimated"})


def needs_unit(attribute: dict) -> bool:
    """Whether an attribute's value means nothing without its unit: a duration, a sum of money, a
    percentage, a quantity measured in a unit."""
    kind = attribute.get("kind")
    return kind in ("duration", "money", "percent") or (kind == "quantity" and bool(attribute.get("unit")))


def carries_unit(answer: str, kind: str, unit: str | None) -> bool:
    """Whether an answer string says the unit of its amount ("3:12", "410 km2", "$2 million", "12%")."""
    words = fold(answer).split()
    unit_words = fold(unit or "").split()
    if unit_words and contains_phrase(" ".join(words), " ".join(unit_words)):
        return True
    if kind == "duration":
        return bool(_CLOCK.search(answer)) or any(w in _TIME_WORDS for w in words)
    if kind == "percent":
        return "%" in answer or "percent" in words or "pct" in words or contains_phrase(" ".join(words), "per cent")
    if kind == "money":
        return (any(unicodedata.category(c) == "Sc" for c in answer) or any(w in _CURRENCY_WORDS for w in words)
                or re.search(r"\b[A-Z]{3}\b", answer) is not None)
    # a quantity: any word that is not a qualifier or a scale word names its unit ("square kilometres")
    return any(w.isalpha() and w not in _NOT_UNITS for w in words) or any(not c.isascii() for c in answer)


# --- reading the root ------------------------------------------------------------------------------

def default_graph(store: Store) -> str | None:
    """The graph of the newest `tasks` commit that names one, else of the newest task row."""
    for commit in reversed(store.commits("tasks")):
        graph = (commit.meta or {}).get("graph")
        if isinstance(graph, str) and graph:
            return graph
    newest = None
    for batch in store.scan("tasks", ["graph"]):
        values = [v for v in batch.column("graph").to_pylist() if v]
        newest = values[-1] if values else newest
    return newest


def load_tasks(store: Store, graph: str) -> list[dict]:
    """Every committed task of `graph`, once per id, whatever columns its shard has (an older root lacks
    the solver and search columns: their keys are simply absent)."""
    out: dict[str, dict] = {}
    for path in graph_files(store, "tasks", graph):
        # whole shards: a column list naming a column an older shard lacks would fail
        for batch in store.scan("tasks", None, files=[path]):
            if "graph" in batch.schema.names:
                batch = batch.filter(pc.equal(batch.column("graph"), graph))
            for row in batch.to_pylist():
                out.setdefault(row["id"], row)
    return sorted(out.values(), key=lambda r: (r.get("level") or 0, r["id"]))


def screened_ids(store: Store) -> set[str]:
    """Task ids screening quarantined (they stay in `tasks`, out of the published sets)."""
    if not store.commits("quarantine"):
        return set()
    found: set[str] = set()
    for batch in store.scan("quarantine", ["stage", "source"]):
        for stage, source in zip(batch.column("stage").to_pylist(), batch.column("source").to_pylist(), strict=True):
            if stage in SCREEN_STAGES and source:
                found.add(source)
    return found


# --- signals ---------------------------------------------------------------------------------------

@dataclass
class _Properties:
    """What the graph says a relation is: typed edge relations, and the kinds each attribute key has."""

    typed: set[str]
    kinds: dict[str, set[str]]

    @classmethod
    def of(cls, view: GraphView | None) -> _Properties | None:
        if view is None or not view.entities:
            return None
        kinds: dict[str, set[str]] = defaultdict(set)
        for entity in view.entities.values():
            for attribute in entity.attributes:
                kinds[str(attribute.get("key") or "")].add(str(attribute.get("kind") or ""))
        return cls({e.relation for e in view.edges.values() if e.typed}, dict(kinds))


def _triples(task: dict) -> list[Triple]:
    return [Triple.of(t) for t in task.get("formalization") or []]


def relation_problems(task: dict, props: _Properties | None) -> list[str]:
    """Why each relation a task reads is not a property ("links_to: no typed edge carries it")."""
    problems: list[str] = []
    for t in _triples(task):
        if t.object_kind not in RELATION_TRIPLES:
            continue
        if t.object_kind in EDGE_KINDS:
            if t.predicate in UNTYPED_RELATIONS:
                problems.append(f"{t.predicate}: an untyped link, not a relation")
            elif props is not None and t.predicate not in props.typed:
                problems.append(f"{t.predicate}: no typed edge of the graph carries it")
            continue
        kinds = _KINDS_BY_TRIPLE.get(t.object_kind, _ANY_KIND)
        if props is not None:
            if t.predicate not in props.kinds:
                problems.append(f"{t.predicate}: no entity of the graph has this attribute")
                continue
            kinds = tuple(sorted(props.kinds[t.predicate]))
        if not any(askable(t.predicate, kind) for kind in kinds):
            problems.append(f"{t.predicate}: not askable as {'/'.join(kinds)}")
    return list(dict.fromkeys(problems))


def answer_attribute(task: dict, view: GraphView | None) -> dict | None:
    """The attribute a value answer is read from: the target entity's attribute under the answer's key."""
    if view is None:
        return None
    keys = [t.predicate for t in _triples(task) if t.object == ANSWER and t.object_kind == "value"]
    entity = view.entities.get(task.get("target_entity_id") or "")
    if entity is None or not keys:
        return None
    matching = [a for a in entity.attributes if a.get("key") == keys[0]]
    answer = fold(task.get("answer") or "")
    for attribute in matching:  # several rows under one key: the one the answer spells, if any
        if answer and answer in fold(str(attribute.get("value") or "")):
            return attribute
    return matching[0] if matching else None


def answer_relation(task: dict) -> str:
    """The relation the answer is read through: the task's `relation`, else from its formalization."""
    if task.get("relation"):
        return str(task["relation"])
    triples = _triples(task)
    for t in triples:
        if t.object == ANSWER and t.object_kind == "value":
            return t.predicate
    for t in triples:
        if t.object_kind in EDGE_KINDS and ANSWER in (t.subject, t.object):
            return t.predicate
    return "(none)"


def is_person(task: dict, view: GraphView | None) -> bool:
    if task.get("answer_type") != "entity":
        return False
    entity = view.entities.get(task.get("target_entity_id") or "") if view is not None else None
    if entity is not None:
        return entity.type == "person"
    return any(t.subject == ANSWER and t.object_kind == "type" and t.object == "person" for t in _triples(task))


def _example(task: dict, detail: str = "") -> dict:
    return {"id": task["id"], "level": task.get("level"), "question": task.get("question") or "", "detail": detail}


def _signal(name: str, kind: str, flagged: list[tuple[dict, str]] | None, **extra) -> dict:
    """A signal's dict: its kind, count (None: not recorded) and up to EXAMPLES examples."""
    if flagged is None:
        return {"title": TITLES[name], "kind": kind, "count": None, "examples": [], **extra}
    return {"title": TITLES[name], "kind": kind, "count": len(flagged),
            "examples": [_example(t, d) for t, d in flagged[:EXAMPLES]], **extra}


def _recorded(tasks: list[dict], column: str) -> list[dict]:
    return [t for t in tasks if t.get(column) is not None]


def audit_signals(tasks: list[dict], view: GraphView | None, screened: set[str] | None = None) -> dict:
    """Every signal over `tasks` (rows of one graph), as a dict keyed by signal name."""
    screened = screened or set()
    props = _Properties.of(view)
    signals: dict[str, dict] = {}

    problems = {t["id"]: relation_problems(t, props) for t in tasks}
    relation_flags = [(t, "; ".join(problems[t["id"]])) for t in tasks if problems[t["id"]]]
    relations = Counter(p.split(":")[0] for found in problems.values() for p in found)
    signals["non_property_relation"] = _signal(
        "non_property_relation", DEFECT, relation_flags, relations=dict(relations.most_common(TOP)),
        note="" if props is not None else "no graph loaded: only untyped links and unaskable keys are caught")

    unit_flags: list[tuple[dict, str]] = []
    for task in tasks:
        if task.get("answer_type") != "number":
            continue
        attribute = answer_attribute(task, view)
        if attribute is None or not needs_unit(attribute):
            continue
        kind, unit = str(attribute.get("kind")), attribute.get("unit")
        if not carries_unit(task.get("answer") or "", kind, unit):
            unit_flags.append((task, f"answer {task.get('answer')!r}; {attribute.get('key')} = "
                                     f"{attribute.get('value')!r} ({kind}, unit {unit or '-'})"))
    signals["missing_unit"] = _signal("missing_unit", DEFECT, None if view is None else unit_flags,
                                      note="" if view is not None else "no graph loaded: not checked")

    signals.update(_duplicate_signals(tasks, screened))

    signals["leaks"] = _signal("leaks", DEFECT, [
        (t, "leaks " + ", ".join(repr(s) for s in found)) for t in tasks
        if (found := leaks(t.get("question") or "", t.get("answer") or "", t.get("aliases") or [],
                           person=is_person(t, view), dated=t.get("answer_type") == "date"))])

    signals["answers"] = _answer_signal(tasks)
    signals["candidates"] = _candidate_signal(tasks)
    signals["level3_search"] = _search_signal(tasks)
    levels = Counter(int(t.get("level") or 0) for t in tasks)
    signals["levels"] = {"title": TITLES["levels"], "kind": INFO, "count": len(tasks), "examples": [],
                         "levels": {str(k): levels[k] for k in sorted(levels)}}
    return signals


def _duplicate_signals(tasks: list[dict], screened: set[str]) -> dict[str, dict]:
    by_id = {t["id"]: t for t in tasks}
    first: dict[str, dict] = {}
    exact: list[tuple[dict, str]] = []
    groups: Counter[str] = Counter()
    for task in tasks:
        key = question_key(task.get("question"))
        if not key:
            continue
        groups[key] += 1
        if key in first:
            exact.append((task, f"repeats {first[key]['id']}"))
        else:
            first[key] = task
    found = find_duplicates([(t["id"], t.get("question") or "") for t in tasks])
    near = [d for d in found if d.kind == "near"]
    near_flags = [(by_id[d.id], f"{d.similarity:.2f} like {d.of_id}: {by_id[d.of_id].get('question')}")
                  for d in near if d.of_id in by_id]
    covered = {d.id for d in near} | {d.of_id for d in near}
    total = len(tasks) or 1
    return {
        "exact_duplicates": _signal(
            "exact_duplicates", DEFECT, exact, groups=sum(1 for n in groups.values() if n > 1),
            screened=sum(1 for t, _ in exact if t["id"] in screened)),
        "near_duplicates": _signal(
            "near_duplicates", DEFECT, near_flags, rate=round(len(near) / total, 4),
            covered=round(len(covered) / total, 4), screened=sum(1 for d in near if d.id in screened)),
    }


def _answer_key(task: dict) -> tuple[str, str]:
    if task.get("answer_type") == "entity" and task.get("target_entity_id"):
        return "entity", str(task["target_entity_id"])
    return "value", fold(task.get("answer") or "")


def _answer_signal(tasks: list[dict]) -> dict:
    answers: Counter[tuple[str, str]] = Counter(_answer_key(t) for t in tasks)
    shown: dict[tuple[str, str], str] = {}
    for task in tasks:
        shown.setdefault(_answer_key(task), task.get("answer") or "")
    relations = Counter(answer_relation(t) for t in tasks)
    entity_tasks = [t for t in tasks if t.get("answer_type") == "entity"]
    entities = {_answer_key(t) for t in entity_tasks}
    return {
        "title": TITLES["answers"], "kind": INFO, "count": len(answers), "examples": [],
        "tasks": len(tasks),
        "distinct_share": round(len(answers) / len(tasks), 4) if tasks else 0.0,
        "distinct_answer_entities": len(entities), "entity_tasks": len(entity_tasks),
        "distinct_answer_strings": len({fold(t.get("answer") or "") for t in tasks}),
        "max_tasks_per_answer": max(answers.values(), default=0),
        "top_answers": [[shown[k], n] for k, n in answers.most_common(TOP)],
        "top_relations": [[r, n] for r, n in relations.most_common(TOP)],
    }


def _candidate_signal(tasks: list[dict]) -> dict:
    recorded = _recorded(tasks, "candidates")
    if not recorded:
        return _signal("candidates", DEFECT, None, recorded=0, distribution={},
                       note="not recorded: these tasks have no solver candidate counts")
    flagged = [(t, f"{t['candidates']} candidates") for t in recorded if t["candidates"] != 1]
    distribution = Counter(int(t["candidates"]) for t in recorded)
    return _signal("candidates", DEFECT, flagged, recorded=len(recorded),
                   not_recorded=len(tasks) - len(recorded),
                   distribution={str(k): distribution[k] for k in sorted(distribution)})


def _search_signal(tasks: list[dict]) -> dict:
    level3 = [t for t in tasks if t.get("level") == 3]
    recorded = _recorded(level3, "search_k")
    if not recorded:
        return _signal("level3_search", DEFECT, None, level3=len(level3), recorded=0, distribution={},
                       note="not recorded: these tasks have no search check" if level3 else "no level-3 tasks")
    # a rank beyond k (a check that records how deep it looked) is as good as none: not a defect
    flagged = [(t, f"answer page at rank {t['search_rank']} of the top {t['search_k']}") for t in recorded
               if t.get("search_rank") is not None and t["search_rank"] <= t["search_k"]]
    ranks = Counter("not in top k" if t.get("search_rank") is None or t["search_rank"] > t["search_k"]
                    else str(t["search_rank"]) for t in recorded)
    beyond = sum(1 for t in recorded if t.get("search_rank") is not None and t["search_rank"] > t["search_k"])
    ks = Counter(str(t["search_k"]) for t in recorded)
    return _signal("level3_search", DEFECT, flagged, level3=len(level3), recorded=len(recorded),
                   not_recorded=len(level3) - len(recorded), distribution=dict(sorted(ranks.items())),
                   ranked_beyond_k=beyond, k=dict(sorted(ks.items())))


# --- the printed report ----------------------------------------------------------------------------

def format_report(result: dict) -> str:
    """The signals as text: defects first (each should read 0), then the information."""
    signals = result["signals"]
    lines = [f"Audit of {result['root']}", f"graph {result['graph']}: {result['tasks']} tasks", ""]
    defects = [n for n, s in signals.items() if s["kind"] == DEFECT]
    open_defects = [n for n in defects if signals[n]["count"]]
    lines.append(f"DEFECTS (each should be 0): {len(open_defects)} of {len(defects)} signals non-zero")
    for name in defects:
        lines += _format_signal(name, signals[name])
    lines += ["", "INFORMATION (no target)"]
    for name, signal in signals.items():
        if signal["kind"] == INFO:
            lines += _format_signal(name, signal)
    return "\n".join(lines)


def _format_signal(name: str, signal: dict) -> list[str]:
    count = "not recorded" if signal["count"] is None else str(signal["count"])
    lines = ["", f"## [{signal['kind']}] {signal['title']} ({name}): {count}"]
    if signal.get("note"):
        lines.append(f"   note: {signal['note']}")
    skip = {"title", "kind", "count", "examples", "note"}
    for key, value in signal.items():
        if key in skip:
            continue
        if key in ("top_answers", "top_relations"):
            lines.append(f"   {key.replace('_', ' ')}: " + ", ".join(f"{a!r} {n}" for a, n in value))
        elif isinstance(value, dict):
            lines.append(f"   {key.replace('_', ' ')}: " + (", ".join(f"{k} {v}" for k, v in value.items()) or "-"))
        else:
            lines.append(f"   {key.replace('_', ' ')}: {value}")
    for example in signal["examples"]:
        lines.append(f"   e.g. {example['id']} (L{example['level']}) {example['question']}")
        if example["detail"]:
            lines.append(f"        {example['detail']}")
    return lines


# --- the review sheet ------------------------------------------------------------------------------

def sample_tasks(tasks: list[dict], per_level: int, seed: int) -> dict[int, list[dict]]:
    """Up to `per_level` tasks of each level, drawn with a fixed seed from the tasks in id order."""
    by_level: dict[int, list[dict]] = defaultdict(list)
    for task in sorted(tasks, key=lambda t: t["id"]):
        by_level[int(task.get("level") or 0)].append(task)
    out: dict[int, list[dict]] = {}
    for level in sorted(by_level):
        rng = random.Random(f"{seed}:{level}")  # one stream per level: a level's sample ignores the others
        pool = by_level[level]
        out[level] = sorted(rng.sample(pool, min(per_level, len(pool))), key=lambda t: t["id"])
    return out


def constraint_text(triple: dict | Triple) -> str:
    """A formalization triple in short readable form: "?x1 --publisher--> Kestrel Press" (an edge),
    "?x1 [published] in 1940..1949" (an attribute)."""
    t = Triple.of(triple)
    s, p, o = name_of(t.subject), t.predicate, name_of(t.object)
    match t.object_kind:
        case "var" | "entity":
            return f"{s} --{p}--> {o}"
        case "value":
            return f"{o} = {s} [{p}]"
        case "literal":
            return f"{s} [{p}] = {o}"
        case "year_range" | "number_range":
            return f"{s} [{p}] in {o}"
        case "prefix":
            return f"{s} [{p}] begins with {o!r}"
        case "initials":
            return f"{s} [initials] = {o!r}"
        case "type":
            return f"{s} [type] = {o}"
        case "keyword":
            return f"{s} [description] mentions {o!r}"
        case "distinct":
            return f"{s} is not {o}"
    return f"{s} {p} {o} ({t.object_kind})"


def operation_text(operation: dict) -> str:
    return f"{operation.get('op')} on {operation.get('slot')}: {operation.get('original')!r} -> " \
           f"{operation.get('obfuscated')!r}"


def solver_text(task: dict) -> str:
    if task.get("candidates") is None:
        return "not recorded"
    steps = task.get("constraint_candidates") or []
    after = "; ".join(f"{s.get('constraint')}: {s.get('candidates')}" for s in steps)
    return f"{task['candidates']} candidate(s)" + (f" (after each constraint: {after})" if after else "")


def search_text(task: dict) -> str:
    if task.get("search_k") is None:
        return "not recorded" if task.get("level") == 3 else "-"
    rank, k = task.get("search_rank"), task["search_k"]
    if rank is None:
        where = f"not in the top {k}"
    elif rank > k:
        where = f"not in the top {k} (best rank {rank})"
    else:
        where = f"rank {rank} of the top {k}"
    queries = task.get("search_queries") or []
    return where + (f"; queries: {' | '.join(queries)}" if queries else "")


def _row_label(level: int, index: int) -> str:
    return f"L{level}-{index:02d}"


def sheet_markdown(sample: dict[int, list[dict]], result: dict, per_level: int, seed: int) -> str:
    lines = [f"# Task review sheet: {_md(result['root'])}", "",
             f"Graph {_md(result['graph'])}, {result['tasks']} tasks; {per_level} sampled per level, seed {seed}.", "",
             "Mark each row by /work/shared/docs/QUALITY.md: well-formed, correct, unique, no leak, each yes "
             "or no, and a reason for every no. A row is valid when all four are yes.", ""]
    for level, tasks in sample.items():
        lines += [f"## Level {level} ({len(tasks)} rows)", ""]
        for index, task in enumerate(tasks, 1):
            aliases = ", ".join(task.get("aliases") or []) or "-"
            lines += [f"### {_row_label(level, index)} {_md(task['id'])}", "",
                      f"- **Question:** {_md(task.get('question'))}",
                      f"- **Answer:** {_md(task.get('answer'))} ({task.get('answer_type')}; aliases: {_md(aliases)})",
                      "- **Constraints:**"]
            lines += [f"  - {_md(constraint_text(t))}" for t in task.get("formalization") or []] or ["  - -"]
            lines.append("- **Operations:**" + ("" if task.get("operations") else " none"))
            lines += [f"  - {_md(operation_text(o))}" for o in task.get("operations") or []]
            lines.append("- **Evidence:**" + ("" if task.get("evidence") else " none"))
            lines += [f"  - {_md(e.get('text'))} (source: {_md(e.get('url') or '?')})" for e in task.get("evidence") or []]
            lines += [f"- **Solver:** {_md(solver_text(task))}", f"- **Search:** {_md(search_text(task))}", "",
                      "| " + " | ".join(MARKS) + " | reason |", "|" + "---|" * (len(MARKS) + 1),
                      "|" + "   |" * (len(MARKS) + 1), ""]
    lines += ["## Tally", "", "| level | rows | valid | " + " no | ".join(MARKS) + " no |",
              "|" + "---|" * (len(MARKS) + 3)]
    lines += [f"| {level} | {len(tasks)} |" + "   |" * (len(MARKS) + 1) for level, tasks in sample.items()]
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    """Text safe inside a Markdown list item or table cell: one line, no table pipes, no raw HTML."""
    return " ".join(str(text if text is not None else "").split()).replace("|", "\\|").replace("<", "\\<")


_STYLE = """body{font-family:system-ui,sans-serif;font-size:14px;margin:1em}table{border-collapse:collapse}
th,td{border:1px solid #bbb;padding:4px;vertical-align:top}th{background:#eee;position:sticky;top:0}
td.q{min-width:18em}td.mark{min-width:3.5em;background:#fffbe6}td.reason{min-width:12em;background:#fffbe6}
ul{margin:0;padding-left:1.2em}code{font-size:12px}"""


def sheet_html(sample: dict[int, list[dict]], result: dict, per_level: int, seed: int) -> str:
    e = html.escape
    head = ["id", "level", "question", "answer", "constraints", "operations", "evidence", "solver", "search",
            *MARKS, "reason"]
    rows = []
    for level, tasks in sample.items():
        for index, task in enumerate(tasks, 1):
            aliases = ", ".join(task.get("aliases") or [])
            evidence = [f"{e(x.get('text') or '')} <a href=\"{e(x.get('url') or '', quote=True)}\">"
                        f"{e(x.get('url') or '?')}</a>" for x in task.get("evidence") or []]
            cells = [
                f"{e(_row_label(level, index))}<br><code>{e(task['id'])}</code>", e(str(level)),
                e(task.get("question") or ""),
                f"<b>{e(task.get('answer') or '')}</b> ({e(str(task.get('answer_type')))})"
                + (f"<br>aliases: {e(aliases)}" if aliases else ""),
                _ul(constraint_text(t) for t in task.get("formalization") or []),
                _ul(operation_text(o) for o in task.get("operations") or []),
                "<ul>" + "".join(f"<li>{x}</li>" for x in evidence) + "</ul>" if evidence else "",
                e(solver_text(task)), e(search_text(task)),
            ]
            classes = ["", "", "q", "", "", "", "", "", ""]
            row = "".join(f"<td class=\"{c}\">{x}</td>" if c else f"<td>{x}</td>" for c, x in zip(classes, cells,
                                                                                                    strict=True))
            row += "".join("<td class=\"mark\" contenteditable=\"true\"></td>" for _ in MARKS)
            row += "<td class=\"reason\" contenteditable=\"true\"></td>"
            rows.append(f"<tr>{row}</tr>")
    title = f"Task review sheet: {result['root']}"
    return "\n".join([
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">", f"<title>{e(title)}</title>",
        f"<style>{_STYLE}</style></head><body>", f"<h1>{e(title)}</h1>",
        f"<p>Graph {e(str(result['graph']))}, {result['tasks']} tasks; {per_level} sampled per level, seed "
        f"{seed}. Mark each row by QUALITY.md: well-formed, correct, unique, no leak (yes/no), and a reason "
        "for every no. The marks are not saved: record them in the Markdown sheet.</p>",
        "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>",
        *rows, "</tbody></table></body></html>", ""])


def _ul(items: Iterable[str]) -> str:
    listed = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    return f"<ul>{listed}</ul>" if listed else ""


# --- the whole audit -------------------------------------------------------------------------------

@dataclass
class Audit:
    result: dict  # root, graph, tasks, signals, sample, files
    text: str  # the printed report


def sheet_paths(store: Store, sheet: str | None) -> tuple[fsspec.AbstractFileSystem, str, str, str]:
    """(filesystem, Markdown path, HTML path, audit.json path): `sheet`, or <root>/_audit/review.md."""
    if sheet is None:
        fs, base = store.root.fs, store.root.join(AUDIT_DIR, SHEET_NAME)
    else:
        fs, base = fsspec.core.url_to_fs(sheet)
        base = re.sub(r"\.(md|html)$", "", base)
    directory = base.rsplit("/", 1)[0] if "/" in base else "."
    return fs, f"{base}.md", f"{base}.html", f"{directory}/audit.json"


def run_audit(store: Store, *, graph: str | None = None, sample: int = 30, seed: int = 0,
              sheet: str | None = None, write: bool = True) -> Audit:
    """The signals over one graph's tasks (default: the newest) and, with `write`, the review sheet
    (Markdown and HTML) and audit.json beside it."""
    version = graph or default_graph(store)
    if version is None:
        raise LookupError(f"{store.uri} has no tasks yet")
    tasks = load_tasks(store, version)
    if not tasks:
        raise LookupError(f"{store.uri} has no tasks of graph {version}")
    view = GraphView.load(store, version)
    signals = audit_signals(tasks, view if view.entities else None, screened_ids(store))
    chosen = sample_tasks(tasks, sample, seed)
    result = {"root": store.uri, "graph": version, "tasks": len(tasks), "signals": signals,
              "sample": {"per_level": sample, "seed": seed,
                         "ids": {str(level): [t["id"] for t in rows] for level, rows in chosen.items()}}}
    if write:
        fs, markdown, page, report = sheet_paths(store, sheet)
        fs.makedirs(markdown.rsplit("/", 1)[0] if "/" in markdown else ".", exist_ok=True)
        result["files"] = {"markdown": markdown, "html": page, "json": report}
        for path, text in ((markdown, sheet_markdown(chosen, result, sample, seed)),
                           (page, sheet_html(chosen, result, sample, seed)),
                           (report, json.dumps(result, indent=1, ensure_ascii=False) + "\n")):
            with fs.open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    return Audit(result, format_report(result))
