"""Reasoning-action samples: a question and gathered knowledge, then a reasoning chain to the answer.

The knowledge is the task's evidence (the sentences that prove each fact of the formalization), or what
an accepted trajectory's observations established (their findings, see findings.py). The chain follows
the solving path (path.py): each hop's sub-question; for an entity, the candidates (entity names of the
task: the pages its knowledge comes from, its formalization's constants, the entities its operations hide,
never a phrase a sentence opens with) and each constraint checked for each candidate by what the passages
say about THAT candidate (support.py: "holds [4]", "does not hold [2]", "no passage states it"), the one
that satisfies them all kept; the passages that show it, and what it resolves to. A value is quoted in full
from the passage that gives it, unit and format included ("Length: 2:24", so the answer is 2:24, never 2).
Intermediate entities are named from the task where its operations record them (a masked or described
entity), else as the one candidate the passages show meeting every constraint, else from the evidence
sentence that gives the entity's description when no check refutes it; the last hop resolves to the gold
answer. A sample whose own checks contradict its conclusion (the kept candidate fails a check, or a dropped
one meets them all) is not written: SampleError "contradicted", which the caller quarantines.

    Question: ...

    Knowledge:
    [1] Dagny Sorel (2 February 1931 – 11 August 2015) was an Estavian historian. (http://...)
    ...

    Reasoning:
    Step 1. Who is the historian whose notable works include A History of Estavia?
    Candidates: Dagny Sorel, The Dunmere Mine Disaster.
    - Dagny Sorel: is a historian: holds [3]; whose notable works include A History of Estavia: holds [4]; kept.
    - The Dunmere Mine Disaster: is a historian: no passage states it; dropped.
    [3] "Dagny Sorel ... was an Estavian historian." [4] "Notable works: A History of Estavia (1978), ..."
    So x1 is Dagny Sorel.
    ...

    Answer: Dunmere Mine Disaster
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drsynth.filters.cpt.draft import SHORT_MAX_TOKENS, CptDraft, cpt_row, task_fields
from drsynth.filters.cpt.findings import cap, clean, findings, focus_terms, read_observation, score
from drsynth.filters.cpt.path import Hop, constants, display, label, solving_path
from drsynth.filters.cpt.steps import SampleError, trajectory_steps
from drsynth.filters.cpt.support import (
    FAILS,
    HOLDS,
    Verdict,
    about,
    check,
    infobox,
    page_title,
    same_key,
    same_name,
    subject_of,
)
from drsynth.filters.cpt.writer import CptWriter, TemplateCptWriter
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.tasks.formal import ANSWER, DISTINCT, EDGE_KINDS, Triple
from drsynth.synth.tasks.phrases import TYPE_NOUNS
from drsynth.synth.tasks.text import contains_phrase

NAMING_OPS = frozenset({"mask_name", "shared_attribute", "describe_by_attributes"})  # their `original` is a name
QUOTE_CHARS = 220
PER_OBSERVATION = 4
MAX_ITEMS = 12  # of a trajectory's findings in one sample


def knowledge_from_evidence(task: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(text, url) of each evidence item of the task, in order, duplicates dropped."""
    out: dict[str, str] = {}
    for item in task.get("evidence") or []:
        text = clean(str(item.get("text") or ""))
        if text and text not in out:
            out[text] = str(item.get("url") or "")
    return list(out.items())


def knowledge_from_trajectory(trajectory: Mapping[str, Any], question: str, focus: str = "",
                              max_items: int = MAX_ITEMS) -> list[tuple[str, str]]:
    """(finding, source) of what the trajectory's observations established, in the order it found them:
    the `max_items` that share the most words with the question and `focus` (the answer, named entities)."""
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for step in trajectory_steps(trajectory):
        read = read_observation(step.observation)
        found.extend((f.text, f.source) for f in findings(read, focus_terms(question, step.goal),
                                                          limit=PER_OBSERVATION, seen=seen))
    terms = focus_terms(question, focus)
    best = sorted(range(len(found)), key=lambda i: (-score(found[i][0], terms), i))[:max_items]
    return [found[i] for i in sorted(best)]


def bindings(task: Mapping[str, Any], hops: list[Hop], knowledge: list[tuple[str, str]],
             guess: bool = False) -> dict[str, str]:
    """What each variable of the path names, where the task tells: term -> name; with `guess`, also the
    subject of a sentence that uses a hop's noun ("Dagny Sorel ... was an Estavian historian")."""
    names: dict[str, str] = {}
    for op in task.get("operations") or []:
        if op.get("op") in NAMING_OPS and op.get("slot") and op.get("original"):
            names.setdefault(op["slot"], str(op["original"]))
    answer = str(task.get("answer") or "")
    if answer:
        names[ANSWER] = answer
    question = str(task.get("question") or "")
    taken = {display(a, question) for hop in hops for a in hop.anchors if not a.startswith("?")}
    for hop in hops if guess else []:
        if hop.kind != "entity" or hop.term in names:
            continue
        for text, _ in knowledge:
            name = subject_of(text) if contains_phrase(text, hop.noun) else None
            if name and name not in taken and name not in names.values():
                names[hop.term] = name
                break
    return names


def _citations(hop: Hop, names: dict[str, str], knowledge: list[tuple[str, str]], limit: int = 2) -> list[int]:
    focus = focus_terms(hop.question(names), hop.noun, names.get(hop.term, ""))
    ranked = sorted(((score(text, focus), -i) for i, (text, _) in enumerate(knowledge)), reverse=True)
    return [-neg for value, neg in ranked[:limit] if value > 0]


def candidate_pool(task: Mapping[str, Any], knowledge: list[tuple[str, str]]) -> list[str]:
    """The entity names a hop may weigh: the graph's pages the knowledge comes from, then the names the task
    records (its formalization's constants, the entities its operations hide, an entity answer); never a
    phrase a sentence happens to open with ("Her first album", "Their dens")."""
    names = [display(page_title(url)) for _, url in knowledge]
    names += constants(task.get("formalization") or [])
    names += [str(op["original"]) for op in task.get("operations") or []
              if op.get("op") in NAMING_OPS and op.get("original")]
    if str(task.get("answer_type") or "entity") == "entity" and task.get("answer"):
        names.append(str(task["answer"]))
    out: list[str] = []
    for name in names:
        if name and not any(same_name(name, other) for other in out):
            out.append(name)
    return out


def _checks(hop: Hop, known: Mapping[str, str]) -> list[tuple[str, Triple]]:
    """(how the constraint reads, the constraint) of each constraint a hop's candidates are weighed by."""
    checks: list[tuple[str, Triple]] = []
    if hop.noun and hop.noun not in TYPE_NOUNS.values():  # a class, not a bare type ("place")
        article = "an" if hop.noun[0].lower() in "aeiou" else "a"
        kind = "keyword" if hop.described else "type"
        checks.append((f"is {article} {hop.noun}", Triple(hop.term, "description", hop.noun, kind)))
    clauses = list(hop.clauses) if len(hop.clauses) == len(hop.triples) else [t.predicate for t in hop.triples]
    checks += [(_named_text(c, known), t) for c, t in zip(clauses, hop.triples, strict=True)]
    return checks


def weigh(hop: Hop, candidate: str, known: Mapping[str, str], knowledge: list[tuple[str, str]],
          *, stop: bool = True, strict: bool = False) -> list[tuple[str, Verdict]]:
    """Each constraint of the hop checked for `candidate`; with `stop`, up to the first one not shown."""
    out: list[tuple[str, Verdict]] = []
    for words, triple in _checks(hop, known):
        if triple.object_kind == DISTINCT:
            other = known.get(triple.object) or display(triple.object)
            verdict = Verdict(FAILS if same_name(candidate, other) else HOLDS)
        else:
            verdict = check(triple, candidate, hop.term, known, knowledge, hop.noun, strict=strict)
        out.append((words, verdict))
        if stop and verdict.state != HOLDS:
            break
    return out


def _shown(verdicts: list[tuple[str, Verdict]]) -> bool:
    """Every check holds, and some passage shows one of them (a name mask alone proves nothing)."""
    return bool(verdicts) and all(v.state == HOLDS for _, v in verdicts) \
        and any(v.passage is not None for _, v in verdicts)


def _part(words: str, verdict: Verdict) -> str:
    where = f" [{verdict.passage + 1}]" if verdict.passage is not None else f" ({verdict.note})" if verdict.note \
        else ""
    if verdict.state == HOLDS:
        return f"{words}: holds{where}"
    if verdict.state == FAILS:
        return f"{words}: does not hold{where}"
    return f"{words}: no passage states it"


def _others(hop: Hop, name: str, known: Mapping[str, str], pool: list[str], limit: int) -> list[str]:
    taken = [display(a) for a in hop.anchors if not a.startswith("?")] + list(known.values()) + [name]
    return [c for c in pool if not any(same_name(c, t) for t in taken)][: limit - 1]


def anchor_passages(hop: Hop, known: Mapping[str, str], knowledge: list[tuple[str, str]]) -> list[int]:
    """For a hop no name resolves: the passages where a known entity states its side of a constraint
    ("Died: 1 February 1920, Varkholm" on Edvard Lune's page for "the city where Edvard Lune died")."""
    out: list[int] = []
    for triple in hop.triples:
        if triple.object_kind not in EDGE_KINDS or triple.subject == hop.term:
            continue
        owner = known.get(triple.subject) or ("" if triple.subject.startswith("?") else display(triple.subject))
        out += [i for i, (text, url) in enumerate(knowledge)
                if owner and about(owner, text, url) and (line := infobox(text)) and same_key(line[0], triple.predicate)]
    return list(dict.fromkeys(out))


def resolve(hop: Hop, known: Mapping[str, str], knowledge: list[tuple[str, str]], pool: list[str]) -> str | None:
    """The one name of the pool the passages show meeting every constraint of the hop; None if not one."""
    if not _checks(hop, known):
        return None
    fits = [c for c in _others(hop, "", known, pool, len(pool) + 1) if _shown(weigh(hop, c, known, knowledge))]
    return fits[0] if len(fits) == 1 else None


def candidate_lines(hop: Hop, name: str, known: Mapping[str, str], knowledge: list[tuple[str, str]],
                    pool: list[str], limit: int = 4) -> tuple[list[str], list[int]]:
    """The candidates for an entity hop, each with every constraint checked against what the passages say
    about it, and the passages that show the kept one (`name`, first). SampleError when the checks contradict
    the conclusion: the kept candidate fails one, or a dropped one meets them all."""
    if not _checks(hop, known):
        return [], []
    candidates = [name, *_others(hop, name, known, pool, limit)]
    lines = [f"Candidates: {', '.join(candidates)}."]
    cited: list[int] = []
    for candidate in candidates:
        kept = candidate == name
        verdicts = weigh(hop, candidate, known, knowledge, stop=not kept)
        failed = [w for w, v in verdicts if v.state == FAILS]
        if kept and failed:
            raise SampleError("contradicted", f"the kept candidate {name!r} fails {failed[0]!r}")
        if not kept and _shown(verdicts):
            raise SampleError("contradicted", f"the dropped candidate {candidate!r} meets every check of "
                                              f"{hop.question(known)!r}, as {name!r} does")
        if kept:
            cited = [v.passage for _, v in verdicts if v.passage is not None]
        lines.append(f"- {candidate}: " + "; ".join(_part(w, v) for w, v in verdicts)
                     + f"; {'kept' if kept else 'dropped'}.")
    return lines, list(dict.fromkeys(cited))


def _named_text(text: str, known: Mapping[str, str]) -> str:
    for term, value in known.items():
        text = re.sub(rf"(?<![\w?]){re.escape(label(term))}(?!\w)", value, text)
    return text


def value_line(answer: str, aliases: list[str], knowledge: list[tuple[str, str]], owner: str = "") -> str | None:
    """The passage that writes the answer's value, quoted in full with its unit, and the value as read: one
    about the value's owner first."""
    order = sorted(range(len(knowledge)), key=lambda i: (not (owner and about(owner, *knowledge[i])), i))
    for spelling in [answer, *aliases]:
        for i in order:
            if spelling and contains_phrase(knowledge[i][0], spelling):
                return f'[{i + 1}] "{cap(knowledge[i][0], QUOTE_CHARS)}" gives the value as {spelling}.'
    return None


def chain_lines(hops: list[Hop], names: dict[str, str], knowledge: list[tuple[str, str]],
                answer_type: str = "", aliases: list[str] | None = None, pool: list[str] | None = None,
                guesses: Mapping[str, str] | None = None) -> list[str]:
    lines: list[str] = []
    known: dict[str, str] = {}
    pool = pool if pool is not None else [display(page_title(url)) for _, url in knowledge]
    for i, hop in enumerate(hops, 1):
        lines.append(f"Step {i}. {hop.question(known, answer_type)}")
        name = names.get(hop.term)
        if hop.kind == "entity" and not name:
            # the one the passages show, where the task does not say; else a defining sentence's subject that
            # no check refutes
            name = resolve(hop, known, knowledge, pool)
            guessed = (guesses or {}).get(hop.term)
            if name is None and guessed and all(v.state != FAILS for _, v in
                                                weigh(hop, guessed, known, knowledge, stop=False, strict=True)):
                name = guessed
        cited: list[int] = []
        quoted = None
        if hop.kind == "entity" and name:
            weighed, cited = candidate_lines(hop, name, known, knowledge, pool)
            lines += weighed
        if hop.kind == "value" and hop.term == ANSWER:
            owner = known.get(hop.anchors[0], "") if hop.anchors else ""
            quoted = value_line(name or "", aliases or [], knowledge, owner)
            if quoted:
                lines.append(quoted)
        if hop.kind == "entity" and not name:
            cited = anchor_passages(hop, known, knowledge)
        cited = (cited or _citations(hop, {**known, hop.term: name or ""}, knowledge))[:2]
        if cited and not quoted:  # (a value's passage is quoted above already)
            lines.append(" ".join(f'[{n + 1}] "{cap(knowledge[n][0], QUOTE_CHARS)}"' for n in cited))
        elif not quoted:
            lines.append("No passage states this directly; it follows from the steps before.")
        if hop.term == ANSWER:
            lines.append(f"So the answer is {name}.")
        elif name:
            lines.append(f"So {label(hop.term)} is {name}.")
            known[hop.term] = name
        else:
            refs = ", ".join(f"[{n + 1}]" for n in cited) or "the passages above"
            lines.append(f"So {label(hop.term)} is the {hop.noun} that {refs} describe.")
    return lines


def reasoning_draft(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None) -> CptDraft:
    task_id, question, level = task_fields(task)
    answer = " ".join(str(task.get("answer") or "").split())
    if not answer:
        raise SampleError("no_answer", f"task {task_id!r} has no answer")
    hops = solving_path(task.get("formalization") or [])
    if not hops:
        raise SampleError("no_formalization", f"task {task_id!r} has no formalization to reason along")
    evidence = knowledge_from_evidence(task)
    # the evidence names the path's entities even where a trajectory's findings only mention them
    names = {**bindings(task, hops, evidence), ANSWER: answer}
    guesses = bindings(task, hops, evidence, guess=True)
    if trajectory is None:
        knowledge = evidence
    else:
        knowledge = knowledge_from_trajectory(trajectory, question, " ".join([*names.values(), *guesses.values()]))
        guesses = {**bindings(task, hops, knowledge, guess=True), **guesses}
    if not knowledge:
        source = "its evidence" if trajectory is None else f"trajectory {trajectory.get('id')!r}"
        raise SampleError("no_knowledge", f"task {task_id!r}: {source} gives no knowledge to reason from")
    listed = "\n".join(f"[{i}] {text}" + (f" ({source})" if source else "")
                       for i, (text, source) in enumerate(knowledge, 1))
    chain = chain_lines(hops, names, knowledge, str(task.get("answer_type") or ""), list(task.get("aliases") or []),
                        candidate_pool(task, knowledge), guesses)
    text = "\n\n".join([f"Question: {question}", f"Knowledge:\n{listed}", "Reasoning:\n" + "\n".join(chain),
                        f"Answer: {answer}"])
    trajectory_id = str(trajectory.get("id") or "") or None if trajectory is not None else None
    return CptDraft("reasoning", text, task_id, trajectory_id, level, (trajectory_id or "", task_id),
                    (f"Answer: {answer}",))


def reasoning_samples(task: Mapping[str, Any], trajectory: Mapping[str, Any] | None = None,
                      writer: CptWriter | None = None, counter: TokenCounter | None = None, *,
                      short_max_tokens: int = SHORT_MAX_TOKENS) -> list[dict]:
    """One reasoning-action sample: over the task's evidence, or over `trajectory`'s observations."""
    draft = reasoning_draft(task, trajectory)
    written = (writer or TemplateCptWriter()).write(draft)
    return [cpt_row(draft, written.text, written.writer, counter, short_max_tokens=short_max_tokens)]
