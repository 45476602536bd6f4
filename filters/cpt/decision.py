"""Decision samples: an accepted trajectory rewritten as the decisions it made, with the alternatives.

At each step: what is known (the running report of findings and open leads, findings.py), the options
the observations so far actually offered (search results and page links not visited yet, entities of
the question not searched yet, answering now), the choice with the agent's own reasoning, the action,
and what it returned. The last step answers, against continuing with the best open lead.

    Question: ...

    Step 2
    Known so far:
    Findings:
    - ...
    Options:
    - visit "Nils Farrand" (http://...): result 1 of the search for "Nils Farrand" [chosen]
    - visit "Selva Film Studios" (http://...): result 2 of the search for "Nils Farrand"
    - answer now: not yet, the findings do not settle the question
    Decision: visit "Nils Farrand" (http://...)
    Why: I read the page on Nils Farrand (to find the thriller film).
    Action:
    <tool_call>...</tool_call>
    Result: ...
    ...
    Answer: Night Train to Kellmar
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from drsynth.filters.cpt.draft import SHORT_MAX_TOKENS, CptDraft, cpt_row, task_fields
from drsynth.filters.cpt.findings import (
    Finding,
    Lead,
    RunningReport,
    cap,
    focus_terms,
    read_observation,
    score,
)
from drsynth.filters.cpt.path import solving_path
from drsynth.filters.cpt.question import question_names
from drsynth.filters.cpt.steps import SampleError, Step, question_of, trajectory_steps
from drsynth.filters.cpt.support import same_name
from drsynth.filters.cpt.writer import CptWriter, TemplateCptWriter
from drsynth.synth.agent.format import ToolCall
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.tasks.formal import ANSWER
from drsynth.synth.tasks.text import fold

# '"X": its page ..., not an observatory. I drop it.' or '"X": a conductor: fails (...); ... I drop it.'
_DROPPED = re.compile(r'^"([^"\n]+)":\s*(?:an? ([^:;()\n]+?): )?[^\n]*?(?:\bnot an? ([^.\n]+)\. )?I drop it\b', re.M)
MAX_ALTERNATIVES = 3
RESULT_CHARS = 240
REPORT_CHARS = 800  # each step restates what is known: kept short, the results say what is new


def describe(call: ToolCall, leads: Mapping[str, Lead]) -> str:
    """An action in words: 'search for "a", "b"', 'visit "Title" (url)', 'run Python code'."""
    args = call.arguments
    if call.name == "search" and isinstance(args.get("query"), list):
        return "search for " + ", ".join(json.dumps(str(q), ensure_ascii=False) for q in args["query"])
    if call.name == "visit" and isinstance(args.get("url"), list):
        pages = [f'"{leads[u].title}" ({u})' if u in leads else str(u) for u in args["url"]]
        return "visit " + ", ".join(pages)
    if call.name == "PythonInterpreter":
        return "run Python code"
    shown = {k: v for k, v in args.items() if k != "code"}
    return f"call {call.name} with {json.dumps(shown, ensure_ascii=False, sort_keys=True)}"


def _query_key(query: object) -> str:
    """A query as compared with others: "The Lighthouse Keeper" and "lighthouse keeper" are one search."""
    words = str(query).casefold().split()
    return " ".join(words[1:] if len(words) > 1 and words[0] in ("the", "a", "an") else words)


def _origin(lead: Lead) -> str:
    return f"result {lead.rank} of the search for {json.dumps(lead.query, ensure_ascii=False)}" if lead.rank \
        else "linked from a page already read"


class _State:
    """What the agent had before each step: report, leads offered, pages visited, queries searched."""

    def __init__(self, question: str, names: list[str]) -> None:
        self.question = question
        # the options list the leads: the report keeps the findings only, within a smaller budget
        self.report = RunningReport(question, max_chars=REPORT_CHARS, max_leads=0)
        self.leads: dict[str, tuple[int, int, Lead]] = {}  # url -> (-score, order, lead), as first offered
        self.visited: set[str] = set()
        self.queries: set[str] = set()
        self.names = names  # the entities the question names: queries worth trying
        self.focus = focus_terms(question)

    def open_leads(self, exclude: set[str]) -> list[Lead]:
        """The leads not followed yet, those nearest to the question first."""
        pool = sorted(e for url, e in self.leads.items() if url not in self.visited and url not in exclude)
        return [lead for _, _, lead in pool]

    def titles(self) -> dict[str, Lead]:
        return {url: lead for url, (_, _, lead) in self.leads.items()}

    def alternatives(self, step: Step) -> list[str]:
        call = step.turn.call
        chosen_urls = set(call.arguments.get("url") or []) if call is not None and call.name == "visit" else set()
        out: list[str] = []
        if call is not None and call.name == "search":
            asked = self.queries | {_query_key(q) for q in call.arguments.get("query") or []}
            out += [f"search for {json.dumps(n, ensure_ascii=False)}" for n in self.names
                    if _query_key(n) not in asked][:1]
        for lead in self.open_leads(chosen_urls)[: MAX_ALTERNATIVES - len(out)]:
            out.append(f'visit "{lead.title}" ({lead.url}): {_origin(lead)}')
        return out

    def answer_option(self) -> str:
        if not self.report.findings:
            return "answer now: not yet, nothing is known so far"
        return "answer now: not yet, the findings do not settle the question"

    def advance(self, step: Step) -> str:
        """Fold in what the step did and returned; the result in words."""
        call = step.turn.call
        if call is not None and call.name == "search":
            self.queries.update(_query_key(q) for q in call.arguments.get("query") or [])
        if call is not None and call.name == "visit":
            self.visited.update(str(u) for u in call.arguments.get("url") or [])
        read = read_observation(step.observation)
        for lead in [*read.hits, *read.links]:
            if lead.url not in self.leads:
                self.leads[lead.url] = (-score(f"{lead.title} {lead.snippet}", self.focus), len(self.leads), lead)
        self.visited.update(read.visited)
        new = self.report.add(step.observation, step.goal)
        return _result(step, read.hits, new)


def _result(step: Step, hits: list[Lead], new: list[Finding]) -> str:
    if step.observation is None:
        return "no result."
    parts = []
    if hits:
        queries = list(dict.fromkeys(h.query for h in hits))
        top = ", ".join(f'"{h.title}"' for h in hits[:3])
        parts.append(f"{len(hits)} results for {', '.join(json.dumps(q, ensure_ascii=False) for q in queries)};"
                     f" the first: {top}.")
    if new:
        parts.append("New findings:\n" + "\n".join(f"- {f.text}" for f in new))
    if not parts:
        first = next((line.strip() for line in step.observation.splitlines() if line.strip()), "")
        parts.append(cap(first, RESULT_CHARS) if first else "nothing.")
    return " ".join(parts) if len(parts) == 1 else "\n".join(parts)


def dropped_names(think: str, noun: str = "") -> list[str]:
    """The candidates a think drops in so many words: '"Varkholm": its page ..., not an observatory. I drop it.'
    With `noun`, only those dropped as not being one (or for no stated noun): a candidate dropped as "not a work"
    at one hop may still be the church another asks for."""
    return [m.group(1) for m in _DROPPED.finditer(think or "")
            if not noun or not (m.group(2) or m.group(3)) or fold(m.group(2) or m.group(3)) == fold(noun)]


def _step_block(n: int, state: _State, step: Step, answer: str) -> list[str]:
    known = state.report.text()
    lines = [f"Step {n}", f"Known so far:\n{known}", "Options:"]
    why = step.turn.think.strip() or "(no reasoning written)"
    if step.turn.answer is not None:
        lines.append(f"- answer {json.dumps(answer, ensure_ascii=False)} now [chosen]")
        best = state.open_leads(set())[:1]
        lines += ([f'- keep researching: visit "{lead.title}" ({lead.url})' for lead in best]
                  or ["- keep researching: search again"])
        lines += [f"Decision: answer {json.dumps(answer, ensure_ascii=False)}", f"Why: {why}"]
        return lines
    assert step.turn.call is not None
    chosen = describe(step.turn.call, state.titles())
    lines.append(f"- {chosen} [chosen]")
    lines += [f"- {alternative}" for alternative in state.alternatives(step)]
    lines.append(f"- {state.answer_option()}")
    lines += [f"Decision: {chosen}", f"Why: {why}", f"Action:\n{step.turn.action}"]
    lines.append(f"Result: {state.advance(step)}")
    return lines


def decision_draft(task: Mapping[str, Any], trajectory: Mapping[str, Any]) -> CptDraft:
    task_id, question, level = task_fields(task)
    trajectory_id = str(trajectory.get("id") or "")
    if trajectory.get("mode") == "heavy":
        raise SampleError("heavy_synthesis", f"trajectory {trajectory_id!r} is a heavy-mode synthesis: its "
                                             "member trajectories carry the decisions")
    steps = [s for s in trajectory_steps(trajectory) if s.turn.error is None]
    if not steps or steps[-1].turn.answer is None:
        raise SampleError("no_answer", f"trajectory {trajectory_id!r} does not end with an answer")
    question = question_of(trajectory) or question
    answer = " ".join(steps[-1].turn.answer.split())
    hops = solving_path(task.get("formalization") or [])
    noun = hops[-1].noun if hops and hops[-1].term == ANSWER and hops[-1].kind == "entity" else ""
    dropped = next((n for step in steps for n in dropped_names(step.turn.think, noun) if same_name(n, answer)), None)
    if dropped is not None:
        raise SampleError("contradicted", f"trajectory {trajectory_id!r} answers {answer!r}, which its own "
                                          f"reasoning dropped as {dropped!r}")
    state = _State(question, question_names(question))  # what the question states, never what it hides
    blocks = [f"Question: {question}"]
    actions = []
    for n, step in enumerate(steps, 1):
        if step.turn.call is not None:
            actions.append(step.turn.action)
        blocks.append("\n".join(_step_block(n, state, step, answer)))
    blocks.append(f"Answer: {answer}")
    return CptDraft("decision", "\n\n".join(blocks), task_id, trajectory_id or None, level,
                    (trajectory_id, task_id), (*dict.fromkeys(actions), f"Answer: {answer}"))


def decision_samples(task: Mapping[str, Any], trajectory: Mapping[str, Any], writer: CptWriter | None = None,
                     counter: TokenCounter | None = None, *, short_max_tokens: int = SHORT_MAX_TOKENS) -> list[dict]:
    """One decision sample rewritten from an accepted trajectory of `task`."""
    draft = decision_draft(task, trajectory)
    written = (writer or TemplateCptWriter()).write(draft)
    return [cpt_row(draft, written.text, written.writer, counter, short_max_tokens=short_max_tokens)]
