"""Agentic CPT samples (filters.cpt): the solving path, planning, reasoning and decision samples grounded in
their task and trajectories, stages, ids, skipped input, real scripted trajectories in a real store, and
the teacher writer over real HTTP with its fallback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.filters.cpt import (
    KINDS,
    SampleError,
    TeacherCptWriter,
    TemplateCptWriter,
    cpt_drafts,
    cpt_samples,
    decision_samples,
    planning_samples,
    reasoning_samples,
    stage_of,
)
from drsynth.filters.cpt.path import solving_path
from drsynth.filters.cpt.writer import RewriteError, parse_rewrite
from drsynth.storage.store import Store
from drsynth.synth.agent import Policy, ToolCall, render_turn, run_context, run_heavy, run_react
from drsynth.synth.agent.format import parse_turn
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.tasks.formal import Triple
from drsynth.synth.tools.base import Toolbox
from drsynth.synth.tools.search import Hit
from tests.helpers import FixedSearch, FixedVisit, Replies, run, wiki_url

TODAY = "2025-03-01"


def triples(*rows: tuple[str, str, str, str]) -> list[dict]:
    """Formalization rows from (subject, predicate, object, object_kind)."""
    return [Triple(*row).row() for row in rows]


def evidence(*rows: tuple[str, str, str]) -> list[dict]:
    """Evidence rows from (doc_id, page title, text)."""
    return [{"doc_id": doc_id, "url": wiki_url(title), "text": text} for doc_id, title, text in rows]


# "What was the underground fire associated with the historian whose notable works include A History of
# Estavia?" as the task synthesizer writes it
TASK = {
    "id": "task-fire", "level": 2, "answer": "Dunmere Mine Disaster", "aliases": [], "answer_type": "entity",
    "question": "What was the underground fire associated with the historian whose notable works include "
                "A History of Estavia?",
    "formalization": triples(
        ("?answer", "type", "event", "type"),
        ("?answer", "description", "underground fire", "keyword"),
        ("?answer", "links_to", "?x1", "var"),
        ("?x1", "type", "person", "type"),
        ("?x1", "description", "historian", "keyword"),
        ("?x1", "notable works", "A History of Estavia", "entity"),
    ),
    "operations": [],
    "evidence": evidence(
        ("d1", "Dunmere Mine Disaster",
         "The Dunmere Mine Disaster was an underground fire in the Deep Seven shaft at Dunmere in 1961."),
        ("d1", "Dunmere Mine Disaster",
         "The disaster is described in the second volume of Dagny Sorel's A History of Estavia."),
        ("d2", "Dagny Sorel", "Dagny Sorel (2 February 1931 – 11 August 2015) was an Estavian historian."),
        ("d2", "Dagny Sorel", "Notable works: A History of Estavia (1978), Orrevik: A Life (1985)"),
    ),
}

# a level-3 shape: a masked entity, a shared attribute, an attribute answer
SHARED = {
    "id": "task-concerto", "level": 3, "answer": "31 min", "aliases": [], "answer_type": "quantity",
    "question": "What is the duration of the concerto whose soloist is the violinist born in the same island "
                "country as Helena Brask and who died in Ostvale and whose surname begins with L?",
    "formalization": triples(
        ("?x1", "type", "work", "type"),
        ("?x1", "description", "concerto", "keyword"),
        ("?x1", "soloist", "?x2", "var"),
        ("?x2", "type", "person", "type"),
        ("?x2", "description", "violinist", "keyword"),
        ("?x2", "died", "Ostvale", "entity"),
        ("?x2", "born", "?s1", "var"),
        ("Helena Brask", "born", "?s1", "var"),
        ("?x2", "different_from", "Helena Brask", "distinct"),
        ("?s1", "type", "place", "type"),
        ("?x2", "surname", "L", "prefix"),
        ("?x1", "duration", "?answer", "value"),
    ),
    "operations": [
        {"op": "shared_attribute", "slot": "?s1", "original": "Estavia",
         "obfuscated": "born in the same island country as Helena Brask"},
        {"op": "mask_name", "slot": "?x2", "original": "Marta Lindell", "obfuscated": "whose surname begins with L"},
    ],
    "evidence": evidence(
        ("d3", "Estavian Violin Concerto",
         "The Estavian Violin Concerto is a concerto written for Marta Lindell."),
        ("d3", "Estavian Violin Concerto", "Duration: 31 min"),
        ("d4", "Marta Lindell", "Marta Lindell (1898 – 1979) was an Estavian violinist who died in Ostvale."),
        ("d5", "Helena Brask", "Born: 9 May 1918, Varkholm, Estavia"),
    ),
}

PAGES = {
    "A History of Estavia": "A History of Estavia is a two-volume history by the historian Dagny Sorel.",
    "Dagny Sorel": "Dagny Sorel was an Estavian historian; her notable works include A History of Estavia.",
    "Kestrel Press": "Kestrel Press publishes history, above all A History of Estavia.",
    "Dunmere Mine Disaster": "The Dunmere Mine Disaster was an underground fire described by Dagny Sorel.",
}
URLS = {name: wiki_url(name) for name in PAGES}

SEARCH = render_turn("I look for the book first.", call=ToolCall("search", {"query": ["A History of Estavia"]}))
VISIT = render_turn("The historian's page should list the fire.", call=ToolCall(
    "visit", {"url": [URLS["Dagny Sorel"]], "goal": "the underground fire associated with the historian"}))
ANSWER = "<think>\nThe disaster is linked to her.\n</think>\n<answer>Dunmere Mine Disaster</answer>"
TOOLS = Toolbox([FixedSearch([Hit(title=n, url=URLS[n], snippet=text) for n, text in PAGES.items()]),
                 FixedVisit({URLS[n]: {"rational": "Relevant.", "evidence": text, "summary": text}
                             for n, text in PAGES.items()})])


def trajectory(replies: list[str] | None = None, runner=run_react, sample_index: int = 0) -> dict:
    policy = Replies(replies or [SEARCH, VISIT, ANSWER])
    return run(runner(TASK, policy, TOOLS, today=TODAY, sample_index=sample_index)).row()


def section(text: str, name: str) -> str:
    match = re.search(rf"^{name}:\n(.*?)(?:\n\n|\Z)", text, flags=re.S | re.M)
    assert match, f"no {name} section in:\n{text}"
    return match.group(1)


def options(step: str) -> list[str]:
    """The option lines of one step of a decision sample."""
    lines = step.split("Options:\n", 1)[1].splitlines()
    return lines[: next((i for i, line in enumerate(lines) if not line.startswith("- ")), len(lines))]


# --- the solving path and planning -----------------------------------------------------------------------------


def test_the_solving_path_runs_from_named_entities_to_the_answer() -> None:
    hops = solving_path(SHARED["formalization"])
    assert [h.term for h in hops] == ["?s1", "?x2", "?x1", "?answer"]
    assert [h.question() for h in hops] == [
        "What is the place where Helena Brask was born?",
        "Who is the violinist who died in Ostvale, born in s1, other than Helena Brask and whose surname begins "
        "with L?",
        "What is the concerto whose soloist is x2?",
        "What is the duration of x1?",
    ]
    assert hops[1].anchors == ("Ostvale", "?s1") and hops[-1].kind == "value"
    assert [h.term for h in solving_path(TASK["formalization"])] == ["?x1", "?answer"]


def test_planning_decomposes_the_question_and_starts_from_its_entities() -> None:
    (row,) = planning_samples(TASK)
    text = row["text"]
    assert text.startswith(f"Question: {TASK['question']}\n\nPlan:\n")
    plan = section(text, "Plan").splitlines()
    assert plan == ["1. Find the historian whose notable works include A History of Estavia, starting from A History "
                    "of Estavia (call it x1).",
                    "2. Find the underground fire associated with x1 (this is the answer)."]
    assert section(text, "First action") == ('<tool_call>\n{"name": "search", "arguments": {"query": '
                                            '["A History of Estavia"]}}\n</tool_call>')
    assert (row["kind"], row["task_id"], row["trajectory_id"], row["parents"]) == ("planning", "task-fire", None,
                                                                                  ["task-fire"])
    (shared,) = planning_samples(SHARED)
    plan = section(shared["text"], "Plan")
    assert len(plan.splitlines()) == 3 and "Helena Brask" in plan and "Ostvale" in plan
    assert plan.splitlines()[-1] == "3. Find the duration of x2 (this is the answer)."
    assert "Marta Lindell" not in shared["text"] and "Estavia" not in plan  # hidden names stay hidden
    assert '"query": ["Helena Brask", "Ostvale"]' in section(shared["text"], "First action")
    t = trajectory()
    (from_trajectory,) = planning_samples(TASK, t)
    assert section(from_trajectory["text"], "First action") == parse_turn(SEARCH).action
    assert from_trajectory["trajectory_id"] == t["id"] and from_trajectory["parents"] == [t["id"], "task-fire"]


def test_planning_never_reads_what_the_question_hides() -> None:
    # the formalization, the operations and the answer may say anything: the plan is the question's
    hidden = {**SHARED, "answer": "Secret Answer", "formalization": triples(
        ("?x1", "composed", "1933..1966", "year_range"), ("?x1", "soloist", "Hidden Person", "entity")),
        "operations": [{"op": "vague_date", "slot": "?x1", "original": "1947", "obfuscated": "the mid 20th century"}]}
    (row,) = planning_samples(hidden)
    assert row["text"] == planning_samples(SHARED)[0]["text"]
    # a trajectory whose first action is not made of the question's words does not start the plan
    guess = render_turn("A guess.", call=ToolCall("search", {"query": ["Dunmere Mine Disaster"]}))
    (row,) = planning_samples(TASK, trajectory([guess, ANSWER]))
    assert "Dunmere" not in row["text"] and row["trajectory_id"] is None
    (row,) = planning_samples(TASK, trajectory([VISIT, ANSWER]))
    assert '"query": ["A History of Estavia"]' in section(row["text"], "First action")
    (row,) = planning_samples({**TASK, "question": "When was the architect born in Ostvale and whose name begins with "
                                                    "E born?"})
    assert section(row["text"], "Plan").splitlines() == [
        "1. Find the architect born in Ostvale and whose name begins with E, starting from Ostvale (call it x1).",
        "2. When was x1 born? (this is the answer)"]


def hidden_constants(task: dict) -> set[str]:
    """What a task knows and its question does not state: every operation's `original` and every constant or
    literal of its formalization (range bounds one by one) that appears neither in the question nor in the
    answer or its aliases."""
    shown = " ".join([task["question"], task["answer"] or "", *(task["aliases"] or [])]).casefold()
    found: set[str] = set()
    for op in task["operations"] or []:
        found.add(str(op.get("original") or ""))
    for triple in task["formalization"] or []:
        for end, kind in ((triple["subject"], "entity"), (triple["object"], triple["object_kind"])):
            if kind in ("type", "keyword", "var", "value") or end.startswith("?"):
                continue  # the class words and variables are the question's own nouns, not constants
            found.update(re.split(r"\.\.|^[<>]", end) if kind.endswith("_range") else [end])
    return {h for h in found if len(h.strip()) > 1 and not re.search(rf"(?<!\w){re.escape(h.casefold())}(?!\w)",
                                                                     shown)}


def test_no_planning_sample_of_a_demo_task_states_a_hidden_constant(demo_trajectories: SimpleNamespace) -> None:
    store = Store(demo_trajectories.root)
    trajectories: dict[str, list[dict]] = {}
    for t in store.rows("trajectories"):
        trajectories.setdefault(t["task_id"], []).append(t)
    checked = leaks = 0
    for task in store.rows("tasks"):
        hidden = hidden_constants(task)
        for t in [None, *sorted(trajectories.get(task["id"], []), key=lambda t: t["id"])]:
            text = planning_samples(task, t)[0]["text"]
            checked += 1
            leaked = [h for h in hidden if re.search(rf"(?<!\w){re.escape(h.casefold())}(?!\w)", text.casefold())]
            leaks += bool(leaked)
            assert not leaked, (leaked, text)
    assert checked > 100 and leaks == 0


# --- reasoning ---------------------------------------------------------------------------------------------------


def test_reasoning_follows_the_path_over_the_evidence_to_the_gold_answer() -> None:
    (row,) = reasoning_samples(TASK)
    text = row["text"]
    knowledge = section(text, "Knowledge").splitlines()
    assert len(knowledge) == 4 and knowledge[2].startswith("[3] Dagny Sorel (2 February 1931")
    chain = section(text, "Reasoning")
    assert "So x1 is Dagny Sorel." in chain and "So the answer is Dunmere Mine Disaster." in chain
    assert re.findall(r"^Step \d+\.", chain, flags=re.M) == ["Step 1.", "Step 2."]
    cited = {int(n) for n in re.findall(r"\[(\d+)\] \"", chain)}
    assert cited and cited <= {1, 2, 3, 4}
    assert text.endswith("\n\nAnswer: Dunmere Mine Disaster")
    (shared,) = reasoning_samples(SHARED)
    chain = section(shared["text"], "Reasoning")
    assert "So s1 is Estavia." in chain and "So x2 is Marta Lindell." in chain  # named by the operations
    assert "So x1 is The Estavian Violin Concerto." in chain  # named by its evidence sentence
    assert "What is the duration of The Estavian Violin Concerto?" in chain
    assert shared["text"].endswith("Answer: 31 min")


def test_reasoning_weighs_candidates_and_quotes_values_in_full() -> None:
    chain = section(reasoning_samples(TASK)[0]["text"], "Reasoning")
    assert "Candidates: Dagny Sorel, Dunmere Mine Disaster." in chain  # the pages', not sentence openings
    assert "- Dagny Sorel: is a historian: holds [3]; whose notable works include A History of Estavia: holds [4];" \
        in chain and chain.count("; kept.") == 2
    # its own lead calls it an underground fire: refuted by what the passage says about it, not merely unstated
    assert "- Dunmere Mine Disaster: is a historian: does not hold [1]; dropped." in chain
    assert chain.index("Candidates:") < chain.index("So x1 is Dagny Sorel.")
    song = {**SHARED, "answer": "2:24", "aliases": ["2 minutes 24 seconds"],
            "evidence": [*SHARED["evidence"][:1], *evidence(("d3", "Estavian Violin Concerto", "Length: 2:24")),
                         *SHARED["evidence"][2:]]}
    text = reasoning_samples(song)[0]["text"]
    assert '"Length: 2:24" gives the value as 2:24.' in text and "So the answer is 2:24." in text
    assert not re.search(r"So the answer is 2\.", text)


def test_reasoning_over_a_trajectory_uses_only_what_it_observed() -> None:
    t = trajectory()
    (row,) = reasoning_samples(TASK, t)
    observations = " ".join(m["content"] for m in t["messages"] if m["content"].startswith("<tool_response>"))
    for line in section(row["text"], "Knowledge").splitlines():
        text = re.sub(r"^\[\d+\] | \(\S+\)$", "", line)
        assert text in observations, text
    assert row["text"].endswith("Answer: Dunmere Mine Disaster") and row["trajectory_id"] == t["id"]


# --- decisions ---------------------------------------------------------------------------------------------------


def test_decision_samples_list_the_alternatives_the_observations_offered() -> None:
    t = trajectory()
    (row,) = decision_samples(TASK, t)
    text = row["text"]
    steps = re.split(r"\n\nStep \d+\n", text)
    assert len(steps) == 4  # the question, then three steps
    visit_step = steps[2]
    offered = options(visit_step)
    assert offered[0] == f'- visit "Dagny Sorel" ({URLS["Dagny Sorel"]}) [chosen]'
    others = [o for o in offered[1:] if o.startswith("- visit")]
    assert len(others) >= 2 and all("result" in o and "of the search for" in o for o in others)
    assert URLS["Dagny Sorel"] not in " ".join(others)
    assert offered[-1].startswith("- answer now: not yet")
    assert "Why: The historian's page should list the fire." in visit_step
    assert "Known so far:\nFindings:\n- " in visit_step  # the first search already established something
    for turn in (SEARCH, VISIT):  # every action verbatim
        assert parse_turn(turn).action in text
    final = options(steps[3])
    assert final[0] == '- answer "Dunmere Mine Disaster" now [chosen]' and final[1].startswith("- keep researching")
    assert text.endswith("\n\nAnswer: Dunmere Mine Disaster")
    assert row["trajectory_id"] == t["id"] and row["parents"] == [t["id"], "task-fire"]
    context = trajectory([render_turn("t", call=parse_turn(SEARCH).call, report="r"),
                          render_turn("t", call=parse_turn(VISIT).call, report="r2"),
                          "<think>t</think><report>r3</report><answer>Dunmere Mine Disaster</answer>"], run_context)
    (row,) = decision_samples(TASK, context)  # the same decisions, read from context rounds
    assert " ".join(options(re.split(r"\n\nStep \d+\n", row["text"])[2])).count("- visit") >= 3


def test_cpt_samples_of_a_task_ids_stages_and_skipped_input() -> None:
    t1, t2 = trajectory(), trajectory([VISIT, ANSWER], sample_index=1)
    rows = cpt_samples(TASK, [t1, t2])
    assert [r["kind"] for r in rows] == ["planning", "reasoning", "reasoning", "decision", "decision"]
    assert all(r["writer"] == "template-1" and r["tokenizer"] == "chars/4" and "run_id" not in r for r in rows)
    assert all(r["tokens"] == TokenCounter()(r["text"]) and r["stage"] == "short" for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    assert cpt_samples(TASK, [t2, t1]) == rows  # deterministic, whatever the order given
    small = cpt_samples(TASK, [t1], short_max_tokens=150)
    assert {r["stage"] for r in small} == {"short", "long"} and all(
        r["stage"] == stage_of(r["tokens"], 150) for r in small)
    assert [r["kind"] for r in cpt_samples(TASK, [t1], kinds=("decision",))] == ["decision"]
    with pytest.raises(ValueError, match="unknown CPT kind"):
        cpt_samples(TASK, kinds=("summary",))

    class Voter(Policy):
        name, model = "fake", "fake-1"

        async def respond(self, messages: list[dict], *, sample_index: int) -> str:
            return "<think>t</think><report>r</report><answer>Dunmere Mine Disaster</answer>"

    heavy = run(run_heavy(TASK, Voter(), TOOLS, n=2, today=TODAY)).row()
    skipped: list[dict] = []
    rows = cpt_samples(TASK, [heavy, {**t2, "status": "rejected"}, {**t1, "task_id": "other"}], skipped=skipped)
    assert [r["kind"] for r in rows] == ["planning", "reasoning"]  # no trajectory to start or decide from
    assert sorted(s["reason"] for s in skipped) == ["heavy_synthesis", "rejected", "task_mismatch"]
    skipped = []
    assert cpt_samples({**TASK, "question": " "}, [t1], skipped=skipped) == []
    assert {s["reason"] for s in skipped} == {"no_question"} and len(skipped) == 4
    skipped = []
    bare = {**TASK, "evidence": [], "formalization": []}  # a plan needs the question only
    assert [r["kind"] for r in cpt_samples(bare, [t1], skipped=skipped)] == ["planning", "decision"]
    assert sorted(s["reason"] for s in skipped) == ["no_formalization"] * 2
    with pytest.raises(SampleError, match="no_answer"):
        decision_samples(TASK, trajectory([SEARCH, "no action at all"] * 3))


# --- real scripted trajectories on the demo corpus ---------------------------------------------------------------


def _normalize(text: str | None) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").casefold()).split())


@pytest.fixture(scope="module")
def demo(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Demo tasks with the scripted agent's trajectories that answered them right (the accepted ones)."""
    from drsynth.synth.tools.toolbox import default_toolbox
    from tests.helpers import scripted_runs, tasks_by_level, write_demo_tasks

    store = write_demo_tasks(demo_subgraphs, os.fspath(tmp_path_factory.mktemp("cpt-demo") / "data"), first=40)
    chosen = tasks_by_level(store, 4)
    accepted = {}
    for task, t in zip(chosen, scripted_runs(chosen, default_toolbox(store, log=None), run_react, TODAY),
                       strict=True):
        gold = {_normalize(a) for a in [task["answer"], *(task["aliases"] or [])]}
        accepted[task["id"]] = [t.row()] if _normalize(t.answer) in gold else []
    return SimpleNamespace(tasks=chosen, accepted=accepted)


def test_demo_tasks_give_grounded_samples_of_every_kind(demo: SimpleNamespace, tmp_path: Path) -> None:
    rows, skipped = [], []
    for task in demo.tasks:
        rows += cpt_samples(task, demo.accepted[task["id"]], skipped=skipped)
    assert skipped == []
    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in KINDS}
    assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}
    tasks = {t["id"]: t for t in demo.tasks}
    for row in by_kind["planning"]:
        task = tasks[row["task_id"]]
        plan = section(row["text"], "Plan")
        for triple in task["formalization"]:  # every entity the question names is in the plan
            for end in (triple["subject"], triple["object"]):
                bare = re.sub(r"\s*\([^)]*\)$", "", end)
                if triple["object_kind"] in ("var", "entity") and not end.startswith("?") and bare in task["question"]:
                    assert bare in plan, (end, plan)
        hidden = [o["original"] for o in task["operations"] if o["op"] in ("mask_name", "describe_by_attributes")]
        assert not [h for h in hidden if h in row["text"] and h not in task["question"]], (row["text"], hidden)
    for row in by_kind["reasoning"]:
        assert row["text"].endswith(f"Answer: {' '.join(tasks[row['task_id']]['answer'].split())}")
    decided = {r["trajectory_id"] for r in by_kind["decision"]}
    assert decided == {t["id"] for ts in demo.accepted.values() for t in ts}
    several = 0
    for row in by_kind["decision"]:
        for step in re.split(r"\n\nStep \d+\n", row["text"])[2:]:
            if "Decision: answer" not in step:
                several += any(o.startswith("- visit") for o in options(step)[1:])
    assert several > 0  # after a search with several results, other results are weighed
    store = Store(os.fspath(tmp_path / "out"))
    with store.writer("cpt_samples", "cpt-run") as writer:
        assert writer.write_many([dict(r) for r in rows]) == len(rows)
    assert {r["id"] for r in store.rows("cpt_samples")} == {r["id"] for r in rows}


# --- the teacher writer over real HTTP ---------------------------------------------------------------------------


def test_teacher_writer_rewrites_and_falls_back_to_the_template(tmp_path: Path) -> None:
    from drsynth.synth.teacher.config import TeacherConfig
    from tests.openai_server import OpenAIServer, Reply

    t = trajectory()
    drafts = cpt_drafts(TASK, [t])
    template = TemplateCptWriter().write_many(drafts)

    def polish(request: dict) -> str:
        prompt = json.loads(request["messages"][-1]["content"])
        assert request["temperature"] == 0 and prompt["keep_verbatim"]
        return json.dumps({"text": "In short: " + prompt["draft"].replace("Why:", "Because:")})

    def config(url: str) -> TeacherConfig:
        return TeacherConfig(base_urls=(url,), model="tiny-teacher", max_retries=0, cache=False, timeout_s=10)

    with OpenAIServer(polish, model="tiny-teacher") as server:
        writer = TeacherCptWriter(config(server.base_url))
        rows = cpt_samples(TASK, [t], writer)
        again = cpt_samples(TASK, [t], TeacherCptWriter(config(server.base_url)))
        chats = server.chat_requests()
    assert rows == again  # deterministic given the replies
    assert all(r["writer"] == "llm:tiny-teacher" and r["text"].startswith("In short: ") for r in rows)
    assert [r["text"] for r in rows] == ["In short: " + w.text.replace("Why:", "Because:") for w in template]
    assert {r["id"] for r in rows}.isdisjoint(r["id"] for r in cpt_samples(TASK, [t]))
    assert writer.fallbacks == [] and len(chats) == 2 * len(drafts)
    requests = writer.requests.drain()
    assert len(requests) == len(drafts) and {r["purpose"] for r in requests} == {"cpt_writer"}
    assert all(r["error"] is None and r["parents"] for r in requests)

    def failing(request: dict) -> str | Reply:
        draft = json.loads(request["messages"][-1]["content"])["draft"]
        if draft.startswith("Question:") and "\n\nPlan:\n" in draft:
            return "this is not json"
        if "Deep Seven" in draft:  # the reasoning over the evidence: a rewrite that drops the answer line
            return json.dumps({"text": draft.replace("Answer: Dunmere Mine Disaster", "That is all.")})
        if "\n\nReasoning:\n" in draft:
            return Reply(status=500, body={"error": {"message": "overloaded"}})
        return json.dumps({"text": draft * 3})  # the decision sample, padded out of proportion

    with OpenAIServer(failing, model="tiny-teacher") as server:
        writer = TeacherCptWriter(config(server.base_url), max_tokens=512)
        written = writer.write_many(drafts)
    assert [w.text for w in written] == [w.text for w in template]  # the template text, and it says so
    assert all(w.writer == "template-1" and w.fallback.startswith("llm:tiny-teacher ") for w in written)
    assert [f["reason"] for f in writer.fallbacks] == ["malformed", "dropped_span", "request_failed", "length"]
    assert [f["kind"] for f in writer.fallbacks] == [d.kind for d in drafts]
    with pytest.raises(RewriteError, match="malformed"):
        parse_rewrite(json.dumps({"answer": "no text key"}), drafts[0])
    assert parse_rewrite("```json\n" + json.dumps({"text": drafts[0].text}) + "\n```", drafts[0]) == drafts[0].text
    assert {f["task_id"] for f in writer.fallbacks} == {"task-fire"}
    fallback_rows = cpt_samples(TASK, [t], TeacherCptWriter(config("http://127.0.0.1:9/v1")))
    assert [r["id"] for r in fallback_rows] == [r["id"] for r in cpt_samples(TASK, [t])]  # one row, not two


# --- regressions from the review of published CPT samples ---------------------------------------------------------

# "What is the song that lasts between 2 and 3 minutes and whose label is the record label whose name begins with G
# and that is among the labels of a singer?", as the demo writes it
SONG = {
    "id": "task-song", "level": 3, "answer": "Night Ferry", "aliases": [], "answer_type": "entity",
    "question": "What is the song that lasts between 2 and 3 minutes and whose label is the record label whose name "
                "begins with G and that is among the labels of a singer?",
    "formalization": triples(
        ("?answer", "type", "song", "type"), ("?answer", "label", "?x1", "var"),
        ("?answer", "length", "120..180", "number_range"), ("?x1", "type", "record label", "type"),
        ("?x2", "labels", "?x1", "var"), ("?x1", "name", "G", "prefix"), ("?x2", "type", "singer", "type")),
    "operations": [{"op": "mask_name", "slot": "?x1", "original": "Gullwing Records",
                    "obfuscated": "whose name begins with G"}],
    "evidence": evidence(
        ("d1", "Night Ferry", '"Night Ferry" is a song written and recorded by the Estavian singer Lina Marr.'),
        ("d1", "Night Ferry", "Label: Gullwing Records"),
        ("d1", "Night Ferry", "Length: 2:55"),
        ("d2", "Lina Marr", "Lina Marr (14 May 1932 – 3 October 2011) was an Estavian singer and songwriter."),
        ("d2", "Lina Marr", "Her first album, Songs from the Harbour, followed in 1957."),
        ("d2", "Lina Marr", "Labels: Gullwing Records"),
        ("d3", "Gellan Bay Blues", '"Gellan Bay Blues" is a song by Lina Marr.'),
        ("d3", "Gellan Bay Blues", "Length: 3:12")),
}


def test_reasoning_reads_a_name_mask_by_the_solvers_name_rules() -> None:
    chain = section(reasoning_samples(SONG)[0]["text"], "Reasoning")
    # the first letter of the name (bare_name), never its last word ("does not hold (Records)")
    assert "whose name begins with G: holds (Gullwing Records); kept." in chain
    assert "(Records)" not in chain
    surname_task = {**SHARED, "operations": SHARED["operations"][:1]}  # Marta Lindell found, not told
    chain = section(reasoning_samples(surname_task)[0]["text"], "Reasoning")
    assert "whose surname begins with L: holds (Lindell)" in chain


def test_reasoning_decides_a_constraint_by_what_a_passage_says_about_that_candidate() -> None:
    chain = section(reasoning_samples(SONG)[0]["text"], "Reasoning")
    # the singer is named from her own lead, and the label by her "Labels:" line
    assert "So x2 is Lina Marr." in chain and "that is among the labels of Lina Marr: holds [6]" in chain
    # a length read from "Length: 2:55" (175 s), and Gellan Bay Blues (3:12) refuted by its own line
    assert "- Night Ferry: is a song: holds [1]; whose label is Gullwing Records: holds [2]; " \
           "whose length is between 120 and 180: holds [3]; kept." in chain
    assert "- Gellan Bay Blues: is a song: holds [7]; whose label is Gullwing Records: no passage states it; dropped." \
        in chain
    died = {
        "id": "task-died", "level": 2, "answer": "Nils Farrand", "aliases": [], "answer_type": "entity",
        "question": "Who was the person who died in Varkholm?",
        "formalization": triples(("?answer", "type", "person", "type"), ("?answer", "died", "Varkholm", "entity")),
        "operations": [],
        "evidence": evidence(
            ("d1", "Selva Film Studios", "Selva Film Studios is a film production company in Varkholm, Estavia."),
            ("d2", "Nils Farrand", "Died: 3 March 1968 (aged 68), Varkholm, Estavia"),
            ("d2", "Nils Farrand", "Nils Farrand (1899 – 1968) was an Estavian film director.")),
    }
    chain = section(reasoning_samples(died)[0]["text"], "Reasoning")
    assert "- Nils Farrand: who died in Varkholm: holds [2]; kept." in chain
    # Selva Film Studios' own passage names Varkholm but says nothing of dying there
    assert "- Selva Film Studios: who died in Varkholm: no passage states it; dropped." in chain


def test_reasoning_candidates_are_the_tasks_entities_not_sentence_openings() -> None:
    chain = section(reasoning_samples(SONG)[0]["text"], "Reasoning")
    candidates = [line for line in chain.splitlines() if line.startswith("Candidates:")]
    assert candidates and all("Her first album" not in line for line in candidates)
    assert candidates == ["Candidates: Lina Marr, Night Ferry, Gellan Bay Blues, Gullwing Records.",
                          "Candidates: Gullwing Records, Night Ferry, Gellan Bay Blues.",
                          "Candidates: Night Ferry, Gellan Bay Blues."]


def test_samples_whose_checks_contradict_their_conclusion_are_skipped_with_a_reason() -> None:
    # the gold answer's own infobox gives a length outside the range: the sample would keep a refuted candidate
    wrong = {**SONG, "evidence": [e if e["text"] != "Length: 2:55" else {**e, "text": "Length: 4:10"}
                                  for e in SONG["evidence"]]}
    skipped: list[dict] = []
    drafts = cpt_drafts(wrong, kinds=["reasoning"], skipped=skipped)
    assert drafts == [] and [s["reason"] for s in skipped] == ["contradicted"]
    assert "fails 'whose length is between 120 and 180'" in skipped[0]["detail"]
    # a trajectory that dropped its own answer as not being what the question asks for
    drop = render_turn('"Dagny Sorel": its page does not say what it is, not a historian. I drop it.',
                       call=ToolCall("search", {"query": ["A History of Estavia"]}))
    t = trajectory([SEARCH, drop, ANSWER])
    task = {**TASK, "answer": "Dagny Sorel", "formalization": triples(
        ("?answer", "type", "person", "type"), ("?answer", "description", "historian", "keyword"),
        ("?answer", "notable works", "A History of Estavia", "entity"))}
    t["messages"][-1]["content"] = t["messages"][-1]["content"].replace("Dunmere Mine Disaster", "Dagny Sorel")
    skipped = []
    assert cpt_drafts(task, [t], kinds=["decision"], skipped=skipped) == []
    assert [s["reason"] for s in skipped] == ["contradicted"] and "Dagny Sorel" in skipped[0]["detail"]


@pytest.mark.parametrize(("question", "plan"), [
    ("What is the population of the city with a population of more than 400,000 and where the Violin Concerto was "
     "first performed?",
     ["1. Find the city with a population of more than 400,000 and where the Violin Concerto was first performed, "
      "starting from Violin Concerto (call it x1).", "2. Find the population of x1 (this is the answer)."]),
    ("Who was the composer who died on 12 June 1957 and whose notable works include the opera with a libretto by "
     "Ivo Castell?",
     ["1. Find the opera with a libretto by Ivo Castell, starting from Ivo Castell (call it x1).",
      "2. Find the composer who died on 12 June 1957 and whose notable works include x1 (this is the answer)."]),
    ("What is the company for which the director whose surname begins with F and who died in a city with a "
     "population of more than 400,000 is known?",
     ["1. Find a city with a population of more than 400,000 (call it x1).",
      "2. Find the director whose surname begins with F and who died in x1 (call it x2).",
      "3. Find the company for which x2 is known (this is the answer)."]),
    ("What is the comet discovered at the observatory located in a town with a population of between 60,000 and "
     "65,000?",
     ["1. Find a town with a population of between 60,000 and 65,000 (call it x1).",
      "2. Find the observatory located in x1 (call it x2).", "3. Find the comet discovered at x2 (this is the answer)."]),
])
def test_planning_keeps_an_attribute_after_with_on_its_noun(question: str, plan: list[str]) -> None:
    text = planning_samples({"id": "t", "level": 3, "question": question})[0]["text"]
    assert section(text, "Plan").splitlines() == plan
    assert "Find a population" not in text
