"""Reasoning-action samples: a question and gathered knowledge, then a reasoning chain to the answer.

The knowledge is the task's evidence (the sentences that prove each fact of the formalization), or what
an accepted trajectory's observations established (their findings, see findings.py). The chain follows
the solving path (path.py): each hop's sub-question; for an entity, the candidates the knowledge names
(the subjects its sentences open with) and each constraint checked for each candidate against the
passages ("holds [4]", "no passage states it"), the one that satisfies them all kept; the numbered passages
that bear on it (those sharing the most words with it), and what it resolves to. A value is quoted in full
from the passage that gives it, unit and format included ("Length: 2:24", so the answer is 2:24, never 2). Intermediate entities are named from the task where
its operations record them (a masked or described entity), else from the evidence sentence that gives
the entity's description ("Dagny Sorel (1931 – 2015) was an Estavian historian." names x1); the last hop
resolves to the gold answer.

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
from urllib.parse import unquote

from filters.cpt.draft import SHORT_MAX_TOKENS, CptDraft, cpt_row, task_fields
from filters.cpt.findings import cap, clean, findings, focus_terms, read_observation, score, terms
from filters.cpt.path import Hop, display, label, solving_path
from filters.cpt.steps import SampleError, trajectory_steps
from filters.cpt.writer import CptWriter, TemplateCptWriter
from synth.agent.runner import TokenCounter
from synth.tasks.formal import ANSWER, EDGE_KINDS, Triple
from synth.tasks.phrases import TYPE_NOUNS
from synth.tasks.text import contains_phrase

NAMING_OPS = frozenset({"mask_name", "shared_attribute", "describe_by_attributes"})  # their `original` is a name
QUOTE_CHARS = 220
PER_OBSERVATION = 4
MAX_ITEMS = 12  # of a trajectory's findings in one sample
_SUBJECT = re.compile(r"^(.+?)(?:\s+\(|,\s|\s+(?:is|was|are|were|has|had)\s)")


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


def subject_of(sentence: str) -> str | None:
    """The name a descriptive sentence opens with: "Kellmar is a small mountain town" -> "Kellmar"."""
    match = _SUBJECT.match(sentence)
    if match is None:
        return None
    name = match.group(1).strip()
    words = name.split()
    if not words or len(words) > 8 or not name[0].isupper() or ":" in name:
        return None
    return name


def bindings(task: Mapping[str, Any], hops: list[Hop], knowledge: list[tuple[str, str]]) -> dict[str, str]:
    """What each variable of the path names, where the task tells: term -> name."""
    names: dict[str, str] = {}
    for op in task.get("operations") or []:
        if op.get("op") in NAMING_OPS and op.get("slot") and op.get("original"):
            names.setdefault(op["slot"], str(op["original"]))
    answer = str(task.get("answer") or "")
    if answer:
        names[ANSWER] = answer
    question = str(task.get("question") or "")
    taken = {display(a, question) for hop in hops for a in hop.anchors if not a.startswith("?")}
    for hop in hops:
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


def _key(name: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", name.casefold().strip())


def _page_of(url: str) -> str:
    """The title a page URL names: ".../wiki/Dagny_Sorel" -> "dagny sorel"."""
    return _key(unquote(url.rstrip("/").rsplit("/", 1)[-1]).replace("_", " ")) if url else ""


def _on(name: str, text: str, url: str, pages: set[str]) -> bool:
    """Whether a passage is about `name`: it names it, or it is on its page."""
    return contains_phrase(text, name) or contains_phrase(text, _key(name)) or (bool(url) and url in pages)


def _pages(name: str, knowledge: list[tuple[str, str]]) -> set[str]:
    return {url for text, url in knowledge if url and (_page_of(url) == _key(name)
                                                       or _key(subject_of(text) or "") == _key(name))}


def _holds(triple: Triple, name: str, known: Mapping[str, str], knowledge: list[tuple[str, str]]) -> int | None:
    """The passage (index) that shows `triple` holding for the candidate `name`; None when none does."""
    mine = _pages(name, knowledge)
    about = [i for i, (text, url) in enumerate(knowledge) if _on(name, text, url, mine)]
    kind, spec = triple.object_kind, triple.object
    if kind in EDGE_KINDS:
        end = next((e for e in (triple.subject, triple.object) if e in known or not e.startswith("?")), "")
        target = known.get(end) or (display(end) if end else "")
        if not target:
            return None
        theirs = _pages(target, knowledge)
        return next((i for i in about if _on(target, *knowledge[i], theirs)), None)
    if kind == "keyword":
        words = terms(spec)
        return next((i for i in about if words and words <= terms(knowledge[i][0])), None)
    if kind in ("year_range", "number_range"):
        low, _, high = spec.lstrip("<>").partition("..")
        for i in about:
            for number in re.findall(r"\d[\d,]*(?:\.\d+)?", knowledge[i][0]):
                value = float(number.replace(",", ""))
                if (spec.startswith(">") and value > float(low)) or (spec.startswith("<") and value < float(low)) \
                        or (high and float(low) <= value <= float(high)):
                    return i
    return None


def candidate_lines(hop: Hop, name: str, known: Mapping[str, str], knowledge: list[tuple[str, str]],
                    limit: int = 4) -> list[str]:
    """The candidates the knowledge names for an entity hop and, for each, every constraint checked against
    the passages. `name` is the one the path resolves to; it comes first."""
    checks: list[tuple[str, Triple]] = []
    if hop.noun and hop.noun not in TYPE_NOUNS.values():  # a class keyword, not a bare type ("place")
        article = "an" if hop.noun[0].lower() in "aeiou" else "a"
        checks.append((f"is {article} {hop.noun}", Triple(hop.term, "description", hop.noun, "keyword")))
    clauses = list(hop.clauses) if len(hop.clauses) == len(hop.triples) else [t.predicate for t in hop.triples]
    checks += [(_named_text(c, known), t) for c, t in zip(clauses, hop.triples, strict=True)]
    taken = {_key(display(a)) for a in hop.anchors if not a.startswith("?")} | {_key(v) for v in known.values()}
    candidates = {_key(name): name}
    for text, _ in knowledge:
        other = subject_of(text)
        # a name, not "The disaster": the word after an article is capitalized
        if other and re.sub(r"^(?:The|A|An)\s+", "", other)[:1].isupper() and _key(other) not in taken:
            candidates.setdefault(_key(other), other)
    lines = [f"Candidates: {', '.join(list(candidates.values())[:limit])}."]
    for candidate in list(candidates.values())[:limit]:
        parts = []
        for words, triple in checks:
            if triple.object_kind in ("prefix", "distinct"):
                last = candidate.split()[-1]
                held = (last.upper().startswith(triple.object.upper()) if triple.object_kind == "prefix"
                        else _key(candidate) != _key(display(triple.object)))
                parts.append(f"{words}: {'holds' if held else 'does not hold'}"
                             + (f" ({last})" if triple.object_kind == "prefix" else ""))
            else:
                found = _holds(triple, candidate, known, knowledge)
                held = found is not None
                parts.append(f"{words}: holds [{found + 1}]" if held else f"{words}: no passage states it")
            if not held and candidate != name:
                break  # one unmet constraint drops a candidate
        verdict = "kept" if candidate == name else "dropped"
        lines.append(f"- {candidate}: " + "; ".join(parts) + f"; {verdict}.")
    return lines


def _named_text(text: str, known: Mapping[str, str]) -> str:
    for term, value in known.items():
        text = re.sub(rf"(?<![\w?]){re.escape(label(term))}(?!\w)", value, text)
    return text


def value_line(answer: str, aliases: list[str], knowledge: list[tuple[str, str]]) -> str | None:
    """The passage that writes the answer's value, quoted in full with its unit, and the value as read."""
    for spelling in [answer, *aliases]:
        for i, (text, _) in enumerate(knowledge):
            if spelling and contains_phrase(text, spelling):
                return f'[{i + 1}] "{cap(text, QUOTE_CHARS)}" gives the value as {spelling}.'
    return None


def chain_lines(hops: list[Hop], names: dict[str, str], knowledge: list[tuple[str, str]],
                answer_type: str = "", aliases: list[str] | None = None) -> list[str]:
    lines: list[str] = []
    known: dict[str, str] = {}
    for i, hop in enumerate(hops, 1):
        lines.append(f"Step {i}. {hop.question(known, answer_type)}")
        if hop.kind == "entity" and names.get(hop.term):
            lines += candidate_lines(hop, names[hop.term], known, knowledge)
        if hop.kind == "value" and hop.term == ANSWER:
            quoted = value_line(names.get(ANSWER, ""), aliases or [], knowledge)
            if quoted:
                lines.append(quoted)
        cited = _citations(hop, {**known, hop.term: names.get(hop.term, "")}, knowledge)
        if cited:
            lines.append(" ".join(f'[{n + 1}] "{cap(knowledge[n][0], QUOTE_CHARS)}"' for n in cited))
        else:
            lines.append("No passage states this directly; it follows from the steps before.")
        name = names.get(hop.term)
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
    if trajectory is None:
        knowledge = evidence
    else:
        knowledge = knowledge_from_trajectory(trajectory, question, " ".join(names.values()))
        names = {**bindings(task, hops, knowledge), **names}
    if not knowledge:
        source = "its evidence" if trajectory is None else f"trajectory {trajectory.get('id')!r}"
        raise SampleError("no_knowledge", f"task {task_id!r}: {source} gives no knowledge to reason from")
    listed = "\n".join(f"[{i}] {text}" + (f" ({source})" if source else "")
                       for i, (text, source) in enumerate(knowledge, 1))
    chain = chain_lines(hops, names, knowledge, str(task.get("answer_type") or ""), list(task.get("aliases") or []))
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
