"""Plans a question of a given level from a subgraph: which entities are named, which are described,
which facts are blurred, and the proof of each, checked with the solver before anyone words it.

Level 1: the answer and one named neighbour, joined by one subgraph edge (or a named entity's
attribute). Level 2: a path of two or three edges from a named anchor, intermediate entities described
only by what they are, and at most one light operation, added when the plain path is ambiguous (or, now
and then, for variety). Level 3: the answer at least two hops from anything named, with obfuscated
constraints (vague dates, number ranges, masked names, shared attributes, entities described by
attributes) added until the solver finds one answer and at least two operations are in.

Every edge a plan states is a typed fact (`Planner.fact`): a key of its source's own infobox, worded as
how the two ends relate. Links and mentions say only that two entities are connected and are never
stated, nor used for a shared place; the planner reads the subgraph's typed edges only.

A plan is kept only if its formalization solves to exactly the expected answer and its template
wording names neither the answer nor an alias; otherwise the next skeleton is tried, and when none
works the first failure is reported for quarantine.
"""

from __future__ import annotations

import random
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from drsynth.storage.ids import content_id
from drsynth.synth.graph.values import strip_parentheticals
from drsynth.synth.graph.view import Edge, Entity, GraphView
from drsynth.synth.tasks import checks, render
from drsynth.synth.tasks.draft import Clause, Mention, TaskDraft
from drsynth.synth.tasks.formal import ANSWER, Analysis, Triple, with_trace
from drsynth.synth.tasks.operations import (
    Operation,
    amount_range,
    amount_text,
    duration_text,
    mask_name,
    money_text,
    unit_words,
    vague_date,
)
from drsynth.synth.tasks.phrases import (
    DEATH_COUNTS,
    DEATH_KEYS,
    LAST_RESORT,
    class_noun,
    date_clause,
    number_clause,
    phrasable,
    text_clause,
)
from drsynth.synth.tasks.sample import stated_fact
from drsynth.synth.tasks.search_check import SearchCheck
from drsynth.synth.tasks.text import (
    MONTHS,
    attribute_answer,
    contains_phrase,
    date_spellings,
    fold,
    number_of,
    parse_iso_date,
    unique,
    year_of,
)

_CIRCA = re.compile(r"^(?:c\.|ca\.|circa|about|around)\s", re.IGNORECASE)
_ISO_MONTH = re.compile(r"^(\d{3,4})-(\d{2})$")
SKELETONS_PER_LEVEL = 12  # skeleton candidates tried per (subgraph, level)
MAX_ADDITIONS = {1: 1, 2: 3, 3: 4}
MAX_CLAUSES = 3  # on any one entity: more reads as a list, not a question
LONGER_PATH_SHARE = 0.3  # of subgraphs whose level-2/3 question tries its longer path first
SHARED_TYPES = frozenset({"place", "organization"})


@dataclass
class Outcome:
    draft: TaskDraft | None = None
    reason: str = ""  # a check failure code when every candidate failed; "" when infeasible
    detail: str = ""
    failed: TaskDraft | None = None


@dataclass
class _Context:
    row: dict
    target: Entity
    attribute: dict | None
    adjacency: dict[str, list[tuple[Edge, str]]]
    rng: random.Random
    nodes: list[str]
    counter: Counter[str] = field(default_factory=Counter)

    def var(self) -> str:
        self.counter["x"] += 1
        return f"?x{self.counter['x']}"


# how many entities bear each label, counted once per graph view (a Planner is made per batch)
_LABELS: weakref.WeakKeyDictionary[GraphView, Counter[str]] = weakref.WeakKeyDictionary()
_LABELS_LOCK = threading.Lock()


def label_counts(view: GraphView) -> Counter[str]:
    with _LABELS_LOCK:
        counts = _LABELS.get(view)
        if counts is None:
            counts = _LABELS[view] = Counter(e.label for e in view.entities.values())
        return counts


_SPELLINGS: weakref.WeakKeyDictionary[GraphView, Counter[str]] = weakref.WeakKeyDictionary()


def _bare(name: str) -> str:
    folded = fold(name)
    return folded[4:] if folded.startswith("the ") else folded


def spelling_counts(view: GraphView) -> Counter[str]:
    """How many entities each spelling (name, label or alias, article dropped) may name."""
    with _LABELS_LOCK:
        counts = _SPELLINGS.get(view)
        if counts is None:
            counts = Counter()
            for entity in view.entities.values():
                counts.update({_bare(s) for s in (entity.name, entity.label, *entity.aliases) if s})
            _SPELLINGS[view] = counts
        return counts


# the most connected entities of each graph view, by share
_HUBS: weakref.WeakKeyDictionary[GraphView, dict[float, frozenset[str]]] = weakref.WeakKeyDictionary()


def hubs_of(view: GraphView, share: float) -> frozenset[str]:
    """The `share` most connected entities (at least one when the graph has edges): what a corpus is
    about. Hiding one of them at level 3 is no obfuscation: the corpus's topic gives it away."""
    with _LABELS_LOCK:
        cached = _HUBS.setdefault(view, {})
        if share not in cached:
            degrees = sorted(((view.degree(e), e) for e in view.entities), reverse=True)
            degrees = [(d, e) for d, e in degrees if d > 0]
            count = max(1, round(share * len(degrees))) if share > 0 and degrees else 0
            cached[share] = frozenset(e for _, e in degrees[:count])
        return cached[share]


class Planner:
    def __init__(self, view: GraphView, doc_urls: dict[str, str] | None = None, seed: int = 0, *,
                 search: SearchCheck | None = None, hub_share: float = 0.02) -> None:
        self.view = view
        self.doc_urls = doc_urls or {}
        self.seed = seed
        self.search = search
        self._labels = label_counts(view)
        self._spellings = spelling_counts(view)
        self._nouns: dict[str, tuple[str, str]] = {}
        self._blocked: dict[str, str | None] = {}  # entity id -> why it may not be described (_undescribable)
        self.hubs = hubs_of(view, hub_share)
        self._hub_words = {w for h in self.hubs for w in fold(view.entities[h].label or "").split() if len(w) >= 3}

    # --- entities as the question shows them ------------------------------------------------------

    def noun(self, entity: Entity) -> tuple[str, str]:
        """The class noun and the class it stands for, from the entity's type and subtype through the
        phrase table: ("single", "single"), ("musician", "musical artist"), ("person", "person"). Never
        from the description, whose fragments ("native", "title") are no nouns a reader accepts."""
        if entity.id not in self._nouns:
            found = class_noun(entity.type, entity.subtype)
            self._nouns[entity.id] = (found.noun, found.cls)
        return self._nouns[entity.id]

    def display(self, entity: Entity) -> str:
        """The name as a sentence writes it: "the Treaty of Brennick" where the entity's own description
        says "The Treaty of Brennick ...". The full name where the title carries a disambiguator ("George
        Mason (bishop)": the source itself says other George Masons exist, in the corpus or beyond it) or
        where a label is shared."""
        plain = entity.label and entity.label == entity.name and self._labels[entity.label] == 1
        name = entity.label if plain else entity.name
        if entity.label and entity.label != entity.name:
            return render.disambiguated(entity.label, entity.name, entity.type)
        noun = self.noun(entity)[0]
        if self._spellings[_bare(name)] > 1 and noun != LAST_RESORT:
            # "the Selva" is also another entity's alias: "the river Selva" says which
            return f"the {noun} {name[4:] if name.lower().startswith('the ') else name}"
        if not name.lower().startswith("the ") and entity.description.startswith(f"The {name}"):
            return f"the {name}"
        return name

    def mention(self, entity_id: str, var: str | None) -> Mention:
        entity = self.view.entities[entity_id]
        noun, cls = self.noun(entity)
        dead = any(a.get("key") in DEATH_KEYS for a in entity.attributes)
        return Mention(entity_id=entity_id, var=var, name=entity.name, display=self.display(entity), noun=noun,
                       person=entity.type == "person", keyword=False, type=entity.type, cls=cls,
                       past=entity.type == "event" or (entity.type == "person" and dead))

    def fact(self, edge: Edge) -> bool:
        """Whether a question may state an edge: typed (a key of its source's own infobox, never a link
        or a mention) and worded as how the two relate."""
        src, dst = self.view.entities.get(edge.src), self.view.entities.get(edge.dst)
        return (edge.typed and src is not None and dst is not None and whole_value(edge)
                and phrasable(edge.relation, dst.type, src.type))

    # --- evidence ---------------------------------------------------------------------------------

    def _evidence(self, doc_id: str, text: str) -> dict:
        return {"doc_id": doc_id, "url": self.doc_urls.get(doc_id, ""), "text": text}

    def edge_evidence(self, edge: Edge) -> dict:
        return self._evidence(edge.doc_id, edge.evidence)

    def entity_evidence(self, entity: Entity) -> list[dict]:
        if not entity.doc_ids or not entity.description:
            return []
        return [self._evidence(entity.doc_ids[0], entity.description)]

    def attribute_evidence(self, entity: Entity, attribute: dict) -> dict:
        doc = attribute.get("doc_id") or (entity.doc_ids[0] if entity.doc_ids else "")
        key = str(attribute.get("key") or "")
        return self._evidence(doc, f"{key[:1].upper()}{key[1:]}: {attribute.get('value') or ''}")

    # --- the answer -------------------------------------------------------------------------------

    def answer_of(self, entity: Entity, attribute: dict | None) -> tuple[str, list[str], str, str]:
        """(answer, aliases, answer_type, expected solver value)."""
        if attribute is None:
            answer = entity.label or entity.name
            aliases = unique([entity.label, entity.name, *entity.aliases])
            return answer, [a for a in aliases if a != answer], "entity", entity.id
        value = attribute_answer(attribute)
        kind = attribute.get("kind")
        raw = str(attribute.get("value") or "").strip()
        day = parse_iso_date(attribute.get("normalized"))
        if kind == "date" and day is not None:
            spellings = date_spellings(day)
            return spellings[0], spellings[1:], "date", value
        month = _ISO_MONTH.match(str(attribute.get("normalized") or ""))
        if kind == "date" and month is not None and 1 <= int(month.group(2)) <= 12:
            # known to the month ("December, 1935"): the answer says the month, as the source does
            name = MONTHS[int(month.group(2)) - 1]
            text = f"{name} {month.group(1)}"
            aliases = unique([f"{name[:3]} {month.group(1)}", value, raw])
            return text, [a for a in aliases if a != text], "date", value
        if kind in ("date", "year"):
            year = year_of(value)
            text = str(year) if year is not None else raw
            circa = attribute.get("qualifier") in ("c.", "ca.", "circa", "about", "around") or _CIRCA.match(raw)
            if year is not None and circa:
                text = f"c. {year}"  # "c. 1055": the source gives no exact year, nor does the answer
            aliases = unique([value, raw.split(",")[0], str(year) if year is not None else ""]) if raw else []
            return text, [a for a in aliases if a != text], "year", value
        surface = strip_parentheticals(raw) if raw else ""
        number = number_of(value) if "/" not in value else None
        if kind == "duration" and number is not None:
            # the length as written ("3:12"), and its other spellings ("3 minutes 12 seconds", "3 min 12 s")
            spellings = duration_text(number)
            written = surface or spellings[0]
            aliases = unique([*spellings, surface])
            return written, [a for a in aliases if a != written], "number", value
        if kind == "money" and number is not None:
            spelled = money_text(number, attribute.get("unit"))
            written = surface or spelled
            aliases = unique([spelled, f"{amount_text(number)} {attribute.get('unit') or ''}".strip(), surface])
            return written, [a for a in aliases if a != written], "number", value
        if kind == "percent" and number is not None:
            plain = amount_text(number)
            written = surface or f"{plain}%"
            aliases = unique([f"{plain}%", f"{plain} per cent", f"{plain} percent", surface])
            return written, [a for a in aliases if a != written], "number", value
        if kind in ("number", "quantity", "count") and number is not None:
            plain = amount_text(number, str(attribute.get("key") or ""))
            unit = str(attribute.get("unit") or "").strip()
            words = unit_words(unit)
            key = str(attribute.get("key") or "").lower()
            # "How many people died in X?" -> "4", not "4 dead"; "How many members ...?" -> "240"
            counted = kind == "count" and (unit.lower() in DEATH_COUNTS or unit.lower() in key.split())
            written = f"{plain} {unit}" if words and not counted else plain
            aliases = unique([plain, value, f"{plain} {words}" if words else "", raw.split("(")[0].strip()])
            return written, [a for a in aliases if a != written], "number", value
        if kind == "span" and surface:
            ends = [e for e in value.split("/") if e]
            aliases = unique([" to ".join(ends), surface.replace("–", "-")]) if len(ends) == 2 else []
            return surface, [a for a in aliases if a != surface], "text", value
        return raw or value, [value] if raw and value != raw else [], "text", value

    # --- planning ---------------------------------------------------------------------------------

    def context(self, row: dict, level: int) -> _Context | None:
        target = row["target"]
        entity = self.view.entities.get(target["entity_id"])
        if entity is None:
            return None
        attribute = None
        if target.get("attribute"):
            matching = [a for a in entity.attributes
                        if a.get("key") == target["attribute"] and attribute_answer(a) == target.get("value")]
            if not matching:
                return None
            attribute = matching[0]
        adjacency: dict[str, list[tuple[Edge, str]]] = {}
        for item in row["edges"]:
            edge = self.view.edges.get(item["id"])
            if edge is None:
                return None
            if not self.fact(edge):
                continue  # (a subgraph sampled before links were told from facts)
            adjacency.setdefault(edge.src, []).append((edge, edge.dst))
            adjacency.setdefault(edge.dst, []).append((edge, edge.src))
        rng = random.Random(content_id("plan", self.seed, row["id"], level))
        return _Context(row, entity, attribute, adjacency, rng, [n["id"] for n in row["nodes"]])

    def plan(self, row: dict, level: int) -> Outcome:
        ctx = self.context(row, level)
        if ctx is None:
            return Outcome(reason="stale_subgraph",
                           detail="the subgraph names an entity, edge or attribute its graph does not have")
        builders: dict[int, Callable[[_Context], list[Callable[[], tuple[TaskDraft, list]]]]] = {
            1: self._level1, 2: self._level2, 3: self._level3}
        first_failure: Outcome | None = None
        for build in builders[level](ctx)[:SKELETONS_PER_LEVEL]:
            draft, additions = build()
            outcome = self._grow(draft, additions, level)
            if outcome.draft is not None:
                return outcome
            if first_failure is None or (first_failure.reason == "level_mismatch" and outcome.reason):
                first_failure = outcome
        return first_failure or Outcome()

    def _grow(self, draft: TaskDraft, additions: list[Callable[[TaskDraft], bool]], level: int) -> Outcome:
        """Add constraints until the draft is unambiguous and reaches its level, or give up.

        A constraint that leaves as many answers as before is taken back unless the level still needs
        operations, so questions carry only constraints that do work.
        """
        problem, answers, analysis = self._evaluate(draft)
        added = 0
        for add in additions:
            if added >= MAX_ADDITIONS[level]:
                break
            reached = checks.level_of(draft) == level
            if problem is None and reached:
                break
            snapshot = _snapshot(draft.root)
            if not add(draft) or max(len(m.clauses) for m in draft.root.walk()) > MAX_CLAUSES:
                _restore(draft.root, snapshot)
                continue
            self.finalize(draft)
            new_problem, new_answers, new_analysis = self._evaluate(draft)
            needs_ops = level == 3 and len(draft.operations) <= 2
            useless = problem is not None and problem[0] == "ambiguous" and new_answers >= answers and not needs_ops
            if useless or (new_problem is not None and new_problem[0] in ("formalization_mismatch", "answer_leak")):
                _restore(draft.root, snapshot)
                self.finalize(draft)
                continue
            problem, answers, analysis = new_problem, new_answers, new_analysis
            added += 1
        if problem is None:
            analysis = self._prune_bare(draft, level, analysis)
        if problem is None and checks.level_of(draft) != level:
            problem = ("level_mismatch", f"planned level {level}, but hops={draft.hops} and operations="
                       f"{[o.op for o in draft.operations]} make level {checks.level_of(draft)}")
        if problem is None and level == 3:
            problem = self._searchable(draft)
        if problem is None:
            # what each constraint leaves, over the whole graph: hardness and uniqueness in the catalog (the
            # draft's uniqueness is analysed already: only the trace is new)
            analysis = with_trace(analysis, draft.formalization, self.view)
            draft.candidates = len(analysis.possible)
            draft.constraint_candidates = [(t.text(), n) for t, n in analysis.trace]
            return Outcome(draft=draft)
        return Outcome(reason=problem[0], detail=problem[1], failed=draft)

    def _prune_bare(self, draft: TaskDraft, level: int, analysis: Analysis) -> Analysis:
        """Drop each clause that reaches an entity described by its class alone ("the barque built by a
        company", "the comet discovered by an astronomer") where the draft stays unique and at its level
        without it: such a clause reads as padding, and usually is."""
        pruned = True
        while pruned:
            pruned = False
            for mention in draft.root.walk():
                bare = [i for i, c in enumerate(mention.clauses) if c.kind == "edge" and c.other is not None
                        and c.other.var is not None and not c.other.clauses]
                for i in bare:
                    saved = list(mention.clauses)
                    del mention.clauses[i]
                    self.finalize(draft)
                    problem, _, found = self._evaluate(draft)
                    if problem is None and checks.level_of(draft) == level:
                        analysis, pruned = found, True
                        break
                    mention.clauses[:] = saved
                    self.finalize(draft)
                if pruned:
                    break
        return analysis

    def _evaluate(self, draft: TaskDraft) -> tuple[tuple[str, str] | None, int, Analysis]:
        """(the first problem, or None; how many answers the formalization admits; the solver's analysis)."""
        problem, answers, analysis = checks.plan_problem(draft, self.view)
        if problem is not None:
            return problem, answers, analysis
        for reason, detail in _UNDESCRIBABLE:
            found = [m.name for m in draft.root.walk() if m.var is not None and self._undescribable(m) == reason]
            if found:
                return (reason, f"{detail}: {found}"), answers, analysis
        person = draft.attribute is None and self.view.entities[draft.target_entity_id].type == "person"
        question = render.question(draft)
        leak = checks.leaked_alias(question, draft, person=person)
        if leak:
            return ("answer_leak", f"the template question names the answer as {leak!r}"), answers, analysis
        named = [m.display for m in draft.root.walk() if m.var is not None and len(m.display) >= 4
                 and contains_phrase(question, m.display)]
        if named:
            # "the town where the Dunmere Mine Disaster took place" hides Dunmere in plain sight
            return ("hidden_named", f"the question names what it describes: {named}"), answers, analysis
        return None, answers, analysis

    # --- the level-3 search check --------------------------------------------------------------------

    def _searchable(self, draft: TaskDraft) -> tuple[str, str] | None:
        """("level3_searchable", why) when one query from the question's constants finds the answer page."""
        if self.search is None:
            return None
        constants = [m.display for m in draft.root.walk() if m.var is None]
        constants += [t.object for t in draft.formalization if t.object_kind == "literal"]
        result = self.search.run(constants, render.question(draft), self._answer_docs(draft))
        draft.search_queries, draft.search_rank, draft.search_k = result.queries, result.rank, result.k
        if result.found:
            return ("level3_searchable", f"one of the queries {result.queries} finds the answer's page at rank "
                    f"{result.rank} (k = {result.k}): a single search solves it")
        return None

    def _answer_docs(self, draft: TaskDraft) -> set[str]:
        """The answer's page; for an entity with no page (a stub), the pages whose infobox names it."""
        target = self.view.entities[draft.target_entity_id]
        if target.doc_ids:
            return set(target.doc_ids)
        return {edge.doc_id for edge, _ in self.view.neighbors(target.id) if edge.typed and edge.doc_id}

    def _undescribable(self, mention: Mention) -> str | None:
        """Why no question may describe this entity (a reason of `_UNDESCRIBABLE`), or None; per entity,
        once per planner.
          open_class       its page says others of its kind exist beyond what the corpus names ("the
                           largest lake in Estavia"): any of them might fit a description
          unseen_siblings  a data table lists it beside rows that name no entity ("Symphony No. 1" beside the
                           linked concerto), or its page describes another version of it (a cover): those
                           exist, the graph cannot rule them out
          no_class_noun    the graph does not know its kind: "the entity that followed the entity that ..."
        """
        if mention.entity_id not in self._blocked:
            entity = self.view.entities[mention.entity_id]
            reason = None
            if _OPEN_CLASS.search(entity.description):
                reason = "open_class"
            elif any((a.get("unlisted_rows") or 0) > 0 for a in entity.attributes):
                reason = "unseen_siblings"
            elif mention.noun == LAST_RESORT:
                reason = "no_class_noun"
            self._blocked[mention.entity_id] = reason
        return self._blocked[mention.entity_id]

    def hidden_ok(self, entity_id: str) -> bool:
        """Whether a level-3 question may hide this entity: not a hub of the corpus."""
        return entity_id not in self.hubs

    def maskable(self, entity_id: str) -> bool:
        """A masked name the corpus's topic gives away is no constraint: not a hub, and no word of a hub's
        name ("whose surname begins with V" in a corpus about the Voss family)."""
        if entity_id in self.hubs:
            return False
        words = set(fold(self.view.entities[entity_id].label or "").split())
        return not words & self._hub_words

    # --- finalizing: formalization, operations, evidence from the mention tree ----------------------

    def finalize(self, draft: TaskDraft) -> TaskDraft:
        triples: list[Triple] = []
        operations: list[Operation] = []
        evidence: list[dict] = []
        target = self.view.entities[draft.target_entity_id]
        if draft.attribute is not None:
            full = self._target_attribute(target, draft)
            evidence.append(self.attribute_evidence(target, full))
        else:
            evidence.extend(self.entity_evidence(target))
        for mention in draft.root.walk():
            if mention.var is not None:
                # the class the question's noun names ("the single"): membership with its hierarchy
                triples.append(Triple(mention.var, "type", mention.cls or mention.type, "type"))
            described = False
            for clause in mention.clauses:
                triples.extend(self._clause_triples(mention, clause))
                evidence.extend(clause.evidence)
                if clause.op is not None:
                    operations.append(clause.op)
                if clause.kind == "shared" and clause.other is not None:
                    operations.append(Operation("shared_attribute", clause.shared_var, clause.text,
                                                render.clause_text(mention, clause)))
                described = described or clause.kind == "attribute"
            is_answer = mention is draft.root and draft.attribute is None
            if mention.var is not None and described and not is_answer:
                operations.append(Operation("describe_by_attributes", mention.var, mention.display,
                                            render.noun_phrase(mention, "a")))
        if draft.attribute is not None:
            triples.append(Triple(draft.root.term, draft.attribute["key"], ANSWER, "value"))
        draft.formalization = triples
        draft.operations = operations
        draft.evidence = _dedupe(evidence)
        draft.hops = checks.hops_of(draft.formalization)
        draft.relation = _answer_relation(draft)
        return draft

    def _target_attribute(self, entity: Entity, draft: TaskDraft) -> dict:
        for attribute in entity.attributes:
            if attribute.get("key") == draft.attribute["key"] and attribute_answer(attribute) == draft.expected:
                return attribute
        raise KeyError(draft.attribute["key"])

    def _clause_triples(self, mention: Mention, clause: Clause) -> list[Triple]:
        if clause.kind == "edge" and clause.other is not None:
            other = clause.other
            if clause.outgoing:
                return [Triple(mention.term, clause.relation, other.term, "var" if other.var else "entity")]
            return [Triple(other.term, clause.relation, mention.term, "var" if mention.var else "entity")]
        if clause.kind == "shared" and clause.other is not None:
            hidden = clause.shared_var
            if clause.outgoing:
                pair = [Triple(mention.term, clause.relation, hidden, "var"),
                        Triple(clause.other.term, clause.relation, hidden, "var")]
            else:
                pair = [Triple(hidden, clause.relation, mention.term, "var" if mention.var else "entity"),
                        Triple(hidden, clause.relation, clause.other.term, "var" if clause.other.var else "entity")]
            return [*pair, Triple(mention.term, "different_from", clause.other.term, "distinct"), *clause.triples]
        return list(clause.triples)

    # --- clause builders --------------------------------------------------------------------------

    def edge_clause(self, mention: Mention, edge: Edge, other: Mention) -> Clause:
        if not self.fact(edge):
            raise ValueError(f"edge {edge.id} ({edge.relation!r}) states no fact a question can word")
        return Clause(kind="edge", relation=edge.relation, outgoing=edge.src == mention.entity_id, other=other,
                      evidence=[self.edge_evidence(edge)], edge_id=edge.id)

    def attribute_clause(self, mention: Mention, attribute: dict, *, obfuscate: bool,
                         rng: random.Random) -> Clause | None:
        entity = self.view.entities[mention.entity_id]
        key = str(attribute.get("key") or "")
        kind = attribute.get("kind")
        value = attribute_answer(attribute)
        raw = str(attribute.get("value") or "").strip()
        evidence = [self.attribute_evidence(entity, attribute)]
        if not key or not value:
            return None
        if kind in ("date", "year"):
            if obfuscate:
                granularity = rng.choices(["decade_part", "decade", "century"], weights=[5, 4, 1])[0]
                vague = vague_date(value, granularity, key)
                if vague is None:
                    return None
                text = date_clause(key, f"in {vague.phrase}", mention.person)
                return Clause(kind="attribute", relation=key, text=text, evidence=evidence,
                              triples=[Triple(mention.term, key, vague.object, vague.object_kind)],
                              op=Operation("vague_date", mention.term, raw or value, vague.phrase))
            day = parse_iso_date(value)
            year = year_of(value)
            if day is None and year is None:
                return None
            when = f"on {date_spellings(day)[0]}" if day is not None else f"in {year}"
            return Clause(kind="attribute", relation=key, text=date_clause(key, when, mention.person),
                          evidence=evidence, triples=[Triple(mention.term, key, value, "literal")])
        if kind in ("number", "quantity", "count", "percent", "money", "duration"):
            number = number_of(value) if "/" not in value else None
            if number is None:
                return None
            unit = attribute.get("unit")
            if kind == "count" and unit and str(unit).lower() in key.lower().split():
                unit = None  # "with between 2 and 4 children", not "... children children"
            if obfuscate:
                # the range is over the normalized value (seconds, a plain amount) and says its unit
                vague = amount_range(str(kind), value, unit, rng.choice(["between", "more_than"]), key)
                if vague is None:
                    return None
                return Clause(kind="attribute", relation=key, text=number_clause(key, vague.phrase, mention.person),
                              evidence=evidence, triples=[Triple(mention.term, key, vague.object, vague.object_kind)],
                              op=Operation("number_range", mention.term, raw or value, vague.phrase))
            if kind in ("duration", "money", "percent"):
                amount = strip_parentheticals(raw) if raw else value  # "3:12", "$2 million", "70.2%"
            else:
                amount = f"{amount_text(number, key)} {unit_words(unit)}".strip()
            return Clause(kind="attribute", relation=key, text=number_clause(key, amount, mention.person),
                          evidence=evidence, triples=[Triple(mention.term, key, value, "literal")])
        if kind == "text" and not obfuscate and raw and len(raw.split()) <= 4 and not any(c in raw for c in ",;()"):
            return Clause(kind="attribute", relation=key, text=text_clause(key, raw), evidence=evidence,
                          triples=[Triple(mention.term, key, value, "literal")])
        return None

    def mask_clause(self, mention: Mention, mode: str) -> Clause | None:
        entity = self.view.entities[mention.entity_id]
        vague = mask_name(entity.label, mention.person, mode)
        if vague is None or mention.var is None:
            return None
        return Clause(kind="name", relation=vague.predicate, text=vague.phrase,
                      evidence=self.entity_evidence(entity),
                      triples=[Triple(mention.term, vague.predicate, vague.object, vague.object_kind)],
                      op=Operation("mask_name", mention.term, entity.label, vague.phrase))

    def shared_clauses(self, ctx: _Context, mention: Mention, exclude: set[str]) -> list[Callable[[TaskDraft], bool]]:
        """Additions describing `mention` by a place or organization it shares with another subgraph node."""
        out: list[Callable[[TaskDraft], bool]] = []
        # a rare common entity makes a sharper constraint than a hub everything shares
        by_rarity = sorted(self.view.neighbors(mention.entity_id), key=lambda p: (self.view.degree(p[1]), p[0].id))
        for edge, common in by_rarity:
            if common in exclude or not self.fact(edge):
                continue
            hub = self.view.entities.get(common)
            if hub is None or hub.type not in SHARED_TYPES:
                continue
            outgoing = edge.src == mention.entity_id
            if not outgoing:
                # "born in the same city as X" reads right; the reverse ("where the same city as X is
                # located") does not
                continue
            if self._values(mention.entity_id, edge.relation) > 1:
                # "Born: Kellmar, Aldra, Estavia" makes three born-in edges: "born in the same place as" a
                # Dunmere native would be true by the province alone, and say something else
                continue
            for other_id in ctx.nodes:
                if other_id in (mention.entity_id, common) or other_id in exclude:
                    continue
                if self._values(other_id, edge.relation) > 1:
                    continue
                partner = self._same_relation(other_id, common, edge.relation, outgoing)
                if partner is None:
                    continue
                out.append(self._shared_addition(ctx, mention, edge, partner, other_id, common, outgoing))
        return out

    def _values(self, node: str, relation: str) -> int:
        """How many entities typed edges `relation` from `node` reach."""
        return len({e.dst for e, _ in self.view.neighbors(node) if e.typed and e.src == node and e.relation == relation})

    def _same_relation(self, node: str, common: str, relation: str, outgoing: bool) -> Edge | None:
        for edge, other in _sorted(self.view.neighbors(node)):
            if other == common and edge.relation == relation and (edge.src == node) == outgoing and self.fact(edge):
                return edge
        return None

    def _shared_addition(self, ctx: _Context, mention: Mention, edge: Edge, partner_edge: Edge, other_id: str,
                         common: str, outgoing: bool) -> Callable[[TaskDraft], bool]:
        def add(draft: TaskDraft) -> bool:
            if any(c.kind == "shared" for c in mention.clauses):
                return False
            other = self.mention(other_id, None)
            hub = self.view.entities[common]
            ctx.counter["s"] += 1
            clause = Clause(kind="shared", relation=edge.relation, outgoing=outgoing, other=other,
                            shared_noun=self.noun(hub)[0], shared_type=hub.type, shared_var=f"?s{ctx.counter['s']}", text=hub.name,
                            evidence=[self.edge_evidence(edge), self.edge_evidence(partner_edge)],
                            triples=[Triple(f"?s{ctx.counter['s']}", "type", self.noun(hub)[1] or hub.type, "type")])
            mention.clauses.append(clause)
            return True
        return add

    # --- skeletons per level ----------------------------------------------------------------------

    def _new_draft(self, ctx: _Context, level: int, root: Mention) -> TaskDraft:
        answer, aliases, answer_type, expected = self.answer_of(ctx.target, ctx.attribute)
        attribute = {"key": ctx.attribute["key"], "kind": ctx.attribute.get("kind")} if ctx.attribute else None
        draft = TaskDraft(subgraph_id=ctx.row["id"], graph=ctx.row["graph"], level=level, root=root, answer=answer,
                          aliases=aliases, answer_type=answer_type, expected=expected,
                          target_entity_id=ctx.target.id, attribute=attribute)
        return self.finalize(draft)

    def _paths(self, ctx: _Context, length: int) -> list[list[tuple[Edge, str]]]:
        """Simple paths of exactly `length` subgraph edges from the target, best first."""
        found: list[list[tuple[Edge, str]]] = []

        def extend(path: list[tuple[Edge, str]], seen: set[str]) -> None:
            if len(path) == length:
                found.append(list(path))
                return
            node = path[-1][1] if path else ctx.target.id
            for edge, other in _sorted(ctx.adjacency.get(node, [])):
                if other not in seen:
                    path.append((edge, other))
                    extend(path, seen | {other})
                    path.pop()

        extend([], {ctx.target.id})
        keyed = [(_repeats(p, ctx.target.id), ctx.rng.random(), p) for p in found]
        return [p for *_, p in sorted(keyed, key=lambda item: item[:2])]

    def _root(self, ctx: _Context, named: bool) -> Mention:
        if ctx.attribute is None:
            return self.mention(ctx.target.id, ANSWER)
        return self.mention(ctx.target.id, None if named else ctx.var())

    def _chain(self, ctx: _Context, root: Mention, path: list[tuple[Edge, str]], named_end: bool) -> list[Mention]:
        """Attach `path` below `root`; every node a variable except, when `named_end`, the last."""
        chain = [root]
        for position, (edge, node) in enumerate(path):
            last = position == len(path) - 1
            child = self.mention(node, None if (last and named_end) else ctx.var())
            chain[-1].clauses.append(self.edge_clause(chain[-1], edge, child))
            chain.append(child)
        return chain

    def _attribute_additions(self, ctx: _Context, mentions: list[Mention], *, obfuscate: bool,
                             skip_key: str | None = None) -> list[Callable[[TaskDraft], bool]]:
        out: list[Callable[[TaskDraft], bool]] = []
        for mention in mentions:
            if mention.var is None:
                continue
            entity = self.view.entities[mention.entity_id]
            for attribute in sorted(entity.attributes, key=lambda a: (str(a.get("key")), attribute_answer(a))):
                if attribute.get("key") == skip_key and mention is mentions[0]:
                    continue
                if not stated_fact(attribute):
                    continue
                out.append(self._attribute_addition(ctx, mention, attribute, obfuscate))
        ctx.rng.shuffle(out)
        return out

    def _attribute_addition(self, ctx: _Context, mention: Mention, attribute: dict,
                            obfuscate: bool) -> Callable[[TaskDraft], bool]:
        def add(draft: TaskDraft) -> bool:
            # one clause per key: "born in the 1970s and born in a port city" says "born" twice, and so
            # does "the town where the novelist who died in the 1970s died"
            if any(c.kind in ("attribute", "edge", "shared") and c.relation == attribute.get("key")
                   for c in mention.clauses):
                return False
            if any(c.kind == "edge" and c.other is mention and c.relation == attribute.get("key")
                   for m in draft.root.walk() for c in m.clauses):
                return False
            clause = self.attribute_clause(mention, attribute, obfuscate=obfuscate, rng=ctx.rng)
            if clause is None:
                return False
            mention.clauses.append(clause)
            return True
        return add

    def _mask_additions(self, ctx: _Context, mentions: list[Mention]) -> list[Callable[[TaskDraft], bool]]:
        def make(mention: Mention) -> Callable[[TaskDraft], bool]:
            def add(draft: TaskDraft) -> bool:
                if any(c.kind == "name" for c in mention.clauses):
                    return False
                clause = self.mask_clause(mention, ctx.rng.choice(["prefix", "prefix", "initials"]))
                if clause is None:
                    return False
                mention.clauses.append(clause)
                return True
            return add
        return [make(m) for m in mentions if m.var is not None and self.maskable(m.entity_id)]

    def _anchor_additions(self, ctx: _Context, mentions: list[Mention], used: set[str],
                          away_from: Mention) -> list[Callable[[TaskDraft], bool]]:
        """Extra subgraph edges from a described entity (never the answer) to a named one."""
        out: list[Callable[[TaskDraft], bool]] = []
        for mention in mentions:
            if mention.var is None or mention is away_from:
                continue
            for edge, other in _sorted(ctx.adjacency.get(mention.entity_id, [])):
                if other in used or other == ctx.target.id:
                    continue
                out.append(self._anchor_addition(mention, edge, other, used))
        return out

    def _anchor_addition(self, mention: Mention, edge: Edge, other: str,
                         used: set[str]) -> Callable[[TaskDraft], bool]:
        def add(draft: TaskDraft) -> bool:
            if other in used:
                return False
            mention.clauses.append(self.edge_clause(mention, edge, self.mention(other, None)))
            used.add(other)
            return True
        return add

    def _level1(self, ctx: _Context) -> list[Callable[[], tuple[TaskDraft, list]]]:
        builds: list[Callable[[], tuple[TaskDraft, list]]] = []
        if ctx.attribute is not None:
            def attribute_lookup() -> tuple[TaskDraft, list]:
                return self._new_draft(ctx, 1, self._root(ctx, named=True)), []
            return [attribute_lookup]
        for path in self._paths(ctx, 1):
            def one_hop(path: list[tuple[Edge, str]] = path) -> tuple[TaskDraft, list]:
                root = self._root(ctx, named=False)
                self._chain(ctx, root, path, named_end=True)
                draft = self._new_draft(ctx, 1, root)
                return draft, self._attribute_additions(ctx, [root], obfuscate=False)
            builds.append(one_hop)
        return builds

    def _level2(self, ctx: _Context) -> list[Callable[[], tuple[TaskDraft, list]]]:
        builds: list[Callable[[], tuple[TaskDraft, list]]] = []
        lengths = (1, 2) if ctx.attribute is not None else (2, 3)
        if ctx.rng.random() < LONGER_PATH_SHARE:
            lengths = lengths[::-1]  # now and then the longer path first, for depth
        for length in lengths:
            for path in self._paths(ctx, length):
                def multi_hop(path: list[tuple[Edge, str]] = path) -> tuple[TaskDraft, list]:
                    ctx.counter.clear()
                    root = self._root(ctx, named=False)
                    chain = self._chain(ctx, root, path, named_end=True)
                    draft = self._new_draft(ctx, 2, root)
                    used = {m.entity_id for m in chain}
                    light = [*self._attribute_additions(ctx, chain, obfuscate=True, skip_key=_key(ctx)),
                             *self._mask_additions(ctx, chain[1:])]
                    ctx.rng.shuffle(light)
                    plain = self._attribute_additions(ctx, chain, obfuscate=False, skip_key=_key(ctx))
                    anchors = self._anchor_additions(ctx, chain[1:], used, away_from=root)
                    # one light operation at most: now and then up front, for variety; else only if needed
                    first = light[:1]
                    # anchors first: a named entity's own infobox lists its links (closed world), where an
                    # attribute leaves every candidate that lacks it a "might"
                    rest = [*anchors[:2], *plain[:2]]
                    if ctx.rng.random() < 0.3:
                        return draft, [*first, *rest]
                    return draft, [*rest[:1], *first, *rest[1:]]
                builds.append(multi_hop)
        return builds

    def _level3(self, ctx: _Context) -> list[Callable[[], tuple[TaskDraft, list]]]:
        builds: list[Callable[[], tuple[TaskDraft, list]]] = []
        if not self.hidden_ok(ctx.target.id):
            return builds  # the corpus's hub hidden behind a description is found at once
        near = checks.neighbors_of(self.view, ctx.target.id)
        lengths = (3, 2) if ctx.rng.random() < LONGER_PATH_SHARE else (2, 3)
        share_first = ctx.rng.random() < 0.5
        for length in lengths:
            for path in self._paths(ctx, length):
                if not all(self.hidden_ok(node) for _, node in path[:-1]):
                    continue
                # nothing named may sit one edge from the answer anywhere in the graph; a hub is named
                ends = (True, False) if path[-1][1] not in near else (False,)
                if not self.hidden_ok(path[-1][1]) or _returns(path):
                    # a hub is named; so is the end of a path that comes back through the same relation
                    # ("the production company of a film" describes every production company)
                    ends = tuple(e for e in ends if e)
                for named_end in ends:
                    def obscure(path: list[tuple[Edge, str]] = path, named_end: bool = named_end
                                ) -> tuple[TaskDraft, list]:
                        ctx.counter.clear()
                        root = self._root(ctx, named=False)
                        chain = self._chain(ctx, root, path, named_end=named_end)
                        draft = self._new_draft(ctx, 3, root)
                        used = {m.entity_id for m in chain}
                        vague = self._attribute_additions(ctx, chain, obfuscate=True, skip_key=_key(ctx))
                        masks = self._mask_additions(ctx, chain[1:] + chain[:1])
                        shared = [s for m in chain[:2] if m.var is not None
                                  for s in self.shared_clauses(ctx, m, used | near)]
                        anchors = self._anchor_additions(ctx, chain[2:], used | near, away_from=root)
                        if share_first:
                            ordered = [*shared[:1], *vague[:2], *masks[:1], *vague[2:4], *anchors[:1]]
                        else:
                            ordered = [*vague[:2], *shared[:1], *masks[:1], *vague[2:4], *anchors[:1], *masks[1:2]]
                        return draft, ordered
                    builds.append(obscure)
        # two paths of two edges each would also do, but the walk's longest path is the natural spine
        return builds


def _answer_relation(draft: TaskDraft) -> str:
    """The relation the answer is read through: the asked attribute, else the root's first edge."""
    if draft.attribute is not None:
        return str(draft.attribute["key"])
    for clause in draft.root.clauses:
        if clause.kind == "edge":
            return clause.relation
    return ""


def _key(ctx: _Context) -> str | None:
    return ctx.attribute.get("key") if ctx.attribute else None


_RANGE_DASHES = ("–", "—")
_UNDESCRIBABLE = (("open_class", "described entities whose pages say others of their kind exist"),
                  ("unseen_siblings", "described entities listed beside subjects the graph does not hold"),
                  ("no_class_noun", "described entities with no class noun"))
_OPEN_CLASS = re.compile(r"\b(?:largest|highest|longest|biggest|oldest|tallest|deepest|smallest|most|best[- ]known|"
                         r"one of|among the)\b", re.IGNORECASE)


def whole_value(edge: Edge) -> bool:
    """Whether the link is a whole value of its infobox row, not a piece of a longer one: "Fossil range:
    Early [Pliocene] – Recent" says neither that the range is the Pliocene nor anything a question can
    state by the link alone; "Born: 3 March 1891, [Varkholm], [Estavia]" lists whole values."""
    evidence, anchor = edge.evidence or "", edge.anchor or ""
    value = evidence.split(":", 1)[1] if ":" in evidence else evidence
    at = value.find(anchor) if anchor else -1
    if at < 0:
        return True  # nothing to tell by
    before, after = value[:at].rstrip(), value[at + len(anchor):].lstrip()
    if (before and before[-1].isalnum()) or (after and after[0].isalnum()):
        return False  # a word of a longer phrase: "Early Pliocene", "Pliocene epoch"
    return not (before.endswith(_RANGE_DASHES) or after.startswith(_RANGE_DASHES))  # an end of a range


def _returns(path: list[tuple[Edge, str]]) -> bool:
    """Whether the path's last step comes back into its middle node by the relation it arrived by."""
    if len(path) < 2:
        return False
    before, after = path[-2][0], path[-1][0]
    return before.relation == after.relation and before.dst == after.dst


def _repeats(path: list[tuple[Edge, str]], start: str) -> int:
    """Nodes a path passes through by one relation on both sides: "the town where the geologist born in a
    place was born" (two "born" edges out of the geologist) says one thing twice, and "the film whose
    production company is the production company of a film" (two edges into the company) says nothing."""
    count = 0
    nodes = [start, *(node for _, node in path)]
    for position in range(1, len(path)):
        middle = nodes[position]
        before, after = path[position - 1][0], path[position][0]
        if before.relation == after.relation and (before.src == middle == after.src
                                                  or before.dst == middle == after.dst):
            count += 1
    return count


def _sorted(pairs: list[tuple[Edge, str]]) -> list[tuple[Edge, str]]:
    return sorted(pairs, key=lambda pair: pair[0].id)


def _dedupe(evidence: list[dict]) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in evidence:
        key = (item["doc_id"], item["text"])
        if item["text"] and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _snapshot(root: Mention) -> list[tuple[Mention, int]]:
    return [(m, len(m.clauses)) for m in root.walk()]


def _restore(root: Mention, snapshot: list[tuple[Mention, int]]) -> None:
    for mention, count in snapshot:
        del mention.clauses[count:]
