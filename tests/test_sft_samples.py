"""SFT samples (filters.sft): ReAct conversations with exact train flags, context-management rounds recorded
and converted from react trajectories, heavy syntheses, ids, skipped input, and real scripted trajectories
written to a real store."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.filters.cpt.findings import clean
from drsynth.filters.cpt.steps import NOT_RUN, SampleError
from drsynth.filters.sft import (
    context_samples,
    converted_rounds,
    parse_system_prompt,
    react_sample,
    sft_samples,
)
from drsynth.storage.store import Store
from drsynth.synth.agent import Policy, ToolCall, render_turn, run_context, run_heavy, run_react
from drsynth.synth.agent.format import (
    FORCE_ANSWER,
    REPORT_INSTRUCTIONS,
    parse_context_prompt,
    parse_turn,
    system_prompt,
)
from drsynth.synth.agent.runner import AgentLimits, TokenCounter
from drsynth.synth.tools.base import Toolbox
from drsynth.synth.tools.search import Hit
from tests.helpers import FixedSearch, FixedVisit, Replies, run, wiki_url

TODAY = "2025-03-01"
URLS = {name: wiki_url(name) for name in
        ("Nils Farrand", "Selva Film Studios", "Night Train to Kellmar", "Vera Castell")}
SNIPPETS = {
    "Nils Farrand": "Nils Farrand (1899 – 1968) was an Estavian film director who co-founded Selva Film Studios.",
    "Selva Film Studios": "Selva Film Studios is a film production company in Varkholm, founded in 1928.",
    "Night Train to Kellmar": "Night Train to Kellmar is a 1938 thriller film directed by Nils Farrand.",
    "Vera Castell": "Vera Castell was an Estavian actress who starred in Night Train to Kellmar.",
}
QUESTION = "What is the thriller film directed by Nils Farrand?"

SEARCH = render_turn("I search for the director.", call=ToolCall("search", {"query": ["Nils Farrand"]}))
VISIT = render_turn("I read the film's page.", call=ToolCall(
    "visit", {"url": [URLS["Night Train to Kellmar"]], "goal": "the thriller film directed by Nils Farrand"}))
ANSWER = "<think>\nThe page says so.\n</think>\n<answer>Night Train to Kellmar</answer>"
TASK = {"id": "task-1", "question": QUESTION, "level": 1}
# the real result formats of the search and visit tools, over four fixed pages
TOOLS = Toolbox([
    FixedSearch([Hit(title=n, url=u, snippet=SNIPPETS[n]) for n, u in URLS.items()]),
    FixedVisit({u: {"rational": "The page has passages on the goal.",
                    "evidence": f"{SNIPPETS[n]}\n[infobox] Directed by: Nils Farrand", "summary": SNIPPETS[n]}
                for n, u in URLS.items()}, links=[("Vera Castell", URLS["Vera Castell"])]),
])


def react_row(replies: list[str], limits: AgentLimits | None = None, sample_index: int = 0) -> dict:
    trajectory = run(run_react(TASK, Replies(replies), TOOLS, limits or AgentLimits(), today=TODAY, sample_index=sample_index))
    return trajectory.row()


# --- ReAct samples ---------------------------------------------------------------------------------------------


def test_react_sample_trains_exactly_on_assistant_turns() -> None:
    row = react_row([SEARCH, VISIT, ANSWER])
    sample = react_sample(row)
    roles = [m["role"] for m in sample["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert [m["train"] for m in sample["messages"]] == [False, False, True, False, True, False, True]
    assert all(m["content"].startswith("<tool_response>") for m in sample["messages"][3::2][:2])
    assert [m["content"] for m in sample["messages"]] == [m["content"] for m in row["messages"]]
    assert (sample["mode"], sample["round"], sample["trajectory_id"], sample["task_id"]) == (
        "react", None, row["id"], "task-1")
    assert sample["parents"] == [row["id"], "task-1"] and "run_id" not in sample
    assert (sample["policy"], sample["model"], sample["level"]) == ("fake", "fake-1", 1)
    counter = TokenCounter()
    assert sample["tokens"] == counter.messages(sample["messages"]) and sample["tokenizer"] == "chars/4"
    words = TokenCounter(str.split, name="words")
    counted = react_sample(row, words)
    assert counted["tokenizer"] == "words" and counted["tokens"] == sum(len(m["content"].split())
                                                                       for m in row["messages"])
    assert counted["id"] == sample["id"]  # the tokenizer counts a sample; it does not make another one


def test_a_format_error_is_shown_not_trained_and_forced_answers_are_masked() -> None:
    row = react_row(["<think>hm</think> no action", SEARCH, SEARCH, ANSWER], AgentLimits(max_tool_calls=1))
    sample = react_sample(row)
    flags = [(m["role"], m["train"], m["content"][:40]) for m in sample["messages"]]
    assert flags[2][:2] == ("assistant", False)  # the malformed turn
    assert flags[3][1] is False and "Format error" in flags[3][2]
    assert [m["train"] for m in sample["messages"] if m["role"] == "assistant"] == [False, True, True, True]
    forced = [m for m in sample["messages"] if m["content"] == FORCE_ANSWER["call_limit"]]
    assert len(forced) == 1 and forced[0]["train"] is False and forced[0]["role"] == "user"


def test_ids_are_deterministic_and_distinct() -> None:
    a, b = react_row([SEARCH, ANSWER]), react_row([SEARCH, ANSWER])
    assert react_sample(a) == react_sample(b)
    other = react_row([SEARCH, ANSWER], sample_index=1)
    assert react_sample(other)["id"] != react_sample(a)["id"]
    rounds = context_samples(a)
    ids = [r["id"] for r in rounds] + [react_sample(a)["id"]]
    assert len(set(ids)) == len(ids) == 3
    assert [r["id"] for r in context_samples(b)] == [r["id"] for r in rounds]
    assert context_samples(a, max_report_chars=500)[1]["id"] != rounds[1]["id"]  # the settings are in the id


def test_broken_input_is_refused_with_a_reason() -> None:
    row = react_row([SEARCH, ANSWER])
    cases = {
        "no_id": {**row, "id": ""},
        "no_system_prompt": {**row, "messages": row["messages"][1:]},
        "unknown_role": {**row, "messages": [*row["messages"], {"role": "tool", "content": "x"}]},
        "malformed_messages": {**row, "messages": [*row["messages"], {"role": "user", "content": None}]},
        "no_assistant_turn": {**row, "messages": row["messages"][:2]},
    }
    for reason, broken in cases.items():
        with pytest.raises(SampleError) as error:
            react_sample(broken)
        assert error.value.reason == reason
        skipped: list[dict] = []
        assert sft_samples(broken, skipped=skipped) == []
        assert skipped and {s["reason"] for s in skipped} <= {reason, "no_assistant_turn"}
        assert all(s["trajectory_id"] == broken["id"] and s["detail"] for s in skipped)
    custom = {**row, "messages": [{"role": "system", "content": "Be brief."}, *row["messages"][1:]]}
    with pytest.raises(SampleError, match="unparsable_system"):
        context_samples(custom)
    assert react_sample(custom)["messages"][0]["content"] == "Be brief."  # react needs no parsing
    skipped = []
    assert sft_samples({**row, "status": "rejected"}, skipped=skipped) == []
    assert {s["reason"] for s in skipped} == {"rejected"} and {s["mode"] for s in skipped} == {"react", "context"}
    with pytest.raises(ValueError, match="unknown SFT mode"):
        sft_samples(row, modes=("rl",))


# --- context-management samples ----------------------------------------------------------------------------------


def test_context_trajectory_gives_one_sample_per_round() -> None:
    replies = [render_turn("t", call=ToolCall("search", {"query": ["Nils Farrand"]}), report="r1"),
               render_turn("t", call=ToolCall("search", {"query": ["thriller"]}), report="r2"),
               "<think>t</think><report>final</report><answer>Night Train to Kellmar</answer>"]
    trajectory = run(run_context(TASK, Replies(replies), TOOLS, today=TODAY)).row()
    samples = context_samples(trajectory)
    assert [s["round"] for s in samples] == [0, 1, 2]
    messages = trajectory["messages"]
    for k, sample in enumerate(samples):
        assert sample["mode"] == "context" and [m["role"] for m in sample["messages"]] == ["system", "user",
                                                                                          "assistant"]
        assert [m["train"] for m in sample["messages"]] == [False, False, True]
        assert [m["content"] for m in sample["messages"]] == [messages[0]["content"], messages[1 + 2 * k]["content"],
                                                              messages[2 + 2 * k]["content"]]
    assert sft_samples(trajectory) == samples  # no react sample: the model never saw the rounds together
    with pytest.raises(SampleError, match="wrong_mode"):
        react_sample(trajectory)


def finding_lines(report: str) -> list[str]:
    """The findings of a report, without their source."""
    out = []
    for line in report.splitlines():
        if line == "Open leads:":
            break
        if line.startswith("- "):
            out.append(re.sub(r" \[\S*\]$", "", line[2:]).rstrip("…"))
    return out


def lead_urls(report: str) -> list[str]:
    part = report.split("Open leads:", 1)
    return re.findall(r"\[(\S+)\]$", part[1], flags=re.M) if len(part) == 2 else []


def check_converted(row: dict, samples: list[dict]) -> None:
    """What every react trajectory converted to context rounds must satisfy."""
    schemas, today = parse_system_prompt(row["messages"][0]["content"])
    system = system_prompt(schemas, today, context_mode=True)
    assert REPORT_INSTRUCTIONS in system
    originals = [parse_turn(m["content"]) for m in row["messages"] if m["role"] == "assistant"]
    originals = [t for t in originals if t.error is None]
    assert len(samples) == len(originals)
    seen: list[str] = []  # the observations shown so far
    previous_report = ""
    for sample, original in zip(samples, originals, strict=True):
        system_message, user, assistant = sample["messages"]
        assert system_message["content"] == system and [m["train"] for m in sample["messages"]] == [False, False, True]
        question, shown, action, observation = parse_context_prompt(user["content"])
        assert question == row["question"] and shown == previous_report
        if sample["round"] == 0:
            assert (shown, action, observation) == ("", "", None)
        if observation is not None:
            seen.append(clean(observation))
        turn = parse_turn(assistant["content"])
        assert turn.error is None and turn.report  # a report, then exactly one action or the answer
        assert (turn.call is None) != (turn.answer is None)
        assert turn.think == original.think and turn.action == original.action
        for finding in finding_lines(turn.report):  # only what the observations so far said
            assert any(finding in text for text in seen), finding
        for url in lead_urls(turn.report):
            assert any(url in text for text in seen), url
        previous_report = turn.report


def test_react_trajectory_converts_to_context_rounds() -> None:
    row = react_row([SEARCH, VISIT, ANSWER])
    samples = context_samples(row)
    assert [s["round"] for s in samples] == [0, 1, 2] and all(s["mode"] == "context" for s in samples)
    check_converted(row, samples)
    reports = [parse_turn(s["messages"][2]["content"]).report for s in samples]
    assert reports[0] == "Findings: none yet."  # nothing observed before the first action
    assert "thriller film directed by Nils Farrand" in reports[1] and URLS["Night Train to Kellmar"] in reports[1]
    assert "Directed by: Nils Farrand" in reports[2]  # the visited page's infobox line
    assert len(finding_lines(reports[2])) >= len(finding_lines(reports[1])) > 0  # the report grows
    # the visited page is no longer an open lead; the link it offered is
    assert URLS["Night Train to Kellmar"] not in lead_urls(reports[2]) and URLS["Vera Castell"] in reports[2]
    small = context_samples(row, max_report_chars=220)
    assert all(len(parse_turn(s["messages"][2]["content"]).report) <= 220 for s in small)
    assert [s["round"] for s in sft_samples(row) if s["mode"] == "context"] == [0, 1, 2]


def test_conversion_keeps_forced_answers_and_format_errors_as_the_runner_shows_them() -> None:
    row = react_row(["<think>hm</think> no action", SEARCH, SEARCH, ANSWER], AgentLimits(max_tool_calls=1))
    rounds = converted_rounds(row)
    assert [k for k, _ in rounds] == [1, 2, 3]  # round 0 did not parse: not a sample
    first_user = rounds[0][1][1]["content"]
    _, _, action, observation = parse_context_prompt(first_user)
    assert action == "<think>hm</think> no action" and observation.startswith("Format error:")
    last_user = rounds[-1][1][1]["content"]
    assert parse_context_prompt(last_user)[3] == NOT_RUN and last_user.endswith(FORCE_ANSWER["call_limit"])
    check_converted(row, context_samples(row))


def test_heavy_synthesis_is_a_react_sample() -> None:
    class Voter(Policy):
        name, model = "fake", "fake-1"

        async def respond(self, messages: list[dict], *, sample_index: int) -> str:
            if "research agents worked on it" in messages[-1]["content"]:
                return "<think>Both agree.</think><answer>Night Train to Kellmar</answer>"
            return "<think>t</think><report>it is the film</report><answer>Night Train to Kellmar</answer>"

    heavy = run(run_heavy(TASK, Voter(), TOOLS, n=2, today=TODAY))
    row = heavy.row()
    samples = sft_samples(row)
    assert len(samples) == 1 and samples[0]["mode"] == "react"
    assert [m["train"] for m in samples[0]["messages"]] == [False, False, True]
    assert samples[0]["parents"] == [row["id"], "task-1"]
    with pytest.raises(SampleError, match="heavy_synthesis"):
        context_samples(row)
    members = [sft_samples(m.row()) for m in heavy.members]  # each member is a context trajectory
    assert all(len(s) == 1 and s[0]["mode"] == "context" for s in members)


# --- real scripted trajectories on the demo corpus ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Scripted react and context trajectories of a few demo tasks (one batch of tasks is enough)."""
    from drsynth.synth.tools.toolbox import default_toolbox
    from tests.helpers import scripted_runs, tasks_by_level, write_demo_tasks

    root = os.fspath(tmp_path_factory.mktemp("sft-demo") / "data")
    store = write_demo_tasks(demo_subgraphs, root, first=40)
    chosen, tools = tasks_by_level(store, 2), default_toolbox(store, log=None)
    react = [t.row() for t in scripted_runs(chosen, tools, run_react, TODAY)]
    context = [t.row() for t in scripted_runs(chosen, tools, run_context, TODAY)]
    return SimpleNamespace(root=root, react=react, context=context)


def test_scripted_trajectories_become_samples_in_a_real_store(demo: SimpleNamespace, tmp_path: Path) -> None:
    rows, skipped = [], []
    for row in demo.react:
        samples = sft_samples(row, skipped=skipped)
        react = [s for s in samples if s["mode"] == "react"]
        assert len(react) == 1
        assert [m["train"] for m in react[0]["messages"]] == [m["role"] == "assistant" for m in row["messages"]]
        check_converted(row, [s for s in samples if s["mode"] == "context"])
        rows += samples
    for row in demo.context:
        samples = sft_samples(row, skipped=skipped)
        assert len(samples) == sum(m["role"] == "assistant" for m in row["messages"])
        rows += samples
    assert skipped == []
    assert len({r["id"] for r in rows}) == len(rows)
    store = Store(os.fspath(tmp_path / "out"))
    with store.writer("sft_samples", "sft-run") as writer:
        assert writer.write_many([dict(r) for r in rows]) == len(rows)
    back = {r["id"]: r for r in store.rows("sft_samples")}
    assert set(back) == {r["id"] for r in rows}
    sample = rows[0]
    assert back[sample["id"]]["messages"] == sample["messages"] and back[sample["id"]]["run_id"] == "sft-run"
    with store.writer("sft_samples", "sft-rerun") as writer:  # the same trajectories again add nothing
        assert writer.write_many([dict(r) for r in rows]) == 0


# --- what is published -------------------------------------------------------------------------------------------


def test_identical_samples_are_published_once_as_the_smallest_id(tmp_path: Path) -> None:
    from drsynth.filters.publish import distinct_samples, publish_sets
    from drsynth.storage import published

    store = Store(os.fspath(tmp_path / "out"))
    first, second = react_row([SEARCH, VISIT, ANSWER]), react_row([SEARCH, VISIT, ANSWER], sample_index=1)
    other = react_row([VISIT, ANSWER], sample_index=2)
    rows = [react_sample(t) for t in (first, second, other)]
    assert rows[0]["messages"] == rows[1]["messages"] and rows[0]["id"] != rows[1]["id"]  # two trajectories
    cpt = [{"id": i, "parents": ["task-1"], "kind": "planning", "text": text, "task_id": "task-1",
            "trajectory_id": None, "level": 1, "stage": "short", "tokens": 3, "tokenizer": "chars/4",
            "writer": "template-1"} for i, text in (("c2", "same"), ("c1", "same"), ("c3", "other"))]
    with store.writer("sft_samples", "run") as writer:
        writer.write_many([dict(r) for r in rows])
    with store.writer("cpt_samples", "run") as writer:
        writer.write_many(cpt)
    ids = [r["id"] for r in rows]
    kept = distinct_samples(store, "sft_samples", ids)
    assert kept == sorted([min(ids[0], ids[1]), ids[2]])
    assert distinct_samples(store, "cpt_samples", ["c2", "c1", "c3"]) == ["c1", "c3"]
    assert distinct_samples(store, "rl_tasks", ["b", "a", "a"]) == ["a", "b"]  # not samples: as given
    made = publish_sets(store, "run", {"sft_samples": ids[::-1], "cpt_samples": ["c3", "c2", "c1"]}, "fp")
    assert made["sft_samples"].rows == 2 and made["cpt_samples"].rows == 2
    assert made["cpt_samples"].meta["identical_samples_dropped"] == 1
    again = publish_sets(store, "run", {"sft_samples": ids, "cpt_samples": ["c1", "c2", "c3"]}, "fp")
    assert again["sft_samples"].version == made["sft_samples"].version  # identical input, identical version
    assert sorted(published.published_ids(store, made["cpt_samples"]).to_pylist()) == ["c1", "c3"]


def test_a_demo_run_publishes_distinct_samples_from_correct_answers_only(demo_published: SimpleNamespace) -> None:
    """Every published SFT and decision sample comes from a trajectory whose final answer the unit-aware
    judge accepts, and no two published samples are identical."""
    import json

    from drsynth.filters.judges import MatchJudge
    from drsynth.storage import published

    store = Store(demo_published.root)
    tasks = {t["id"]: t for t in store.rows("tasks", ["id", "question", "answer", "aliases", "answer_type"])}
    answers = {t["id"]: (t["task_id"], t["answer"]) for t in store.rows("trajectories", ["id", "task_id", "answer"])}
    judge = MatchJudge()
    for dataset, column in (("sft_samples", "messages"), ("cpt_samples", "text")):
        table = published.read_publication(store, published.resolve(store, dataset), ["trajectory_id", column])
        assert table.num_rows > 0
        contents = [json.dumps(c, sort_keys=True) for c in table[column].to_pylist()]
        assert len(set(contents)) == len(contents), dataset
        for trajectory_id in table["trajectory_id"].to_pylist():
            if trajectory_id is not None:  # planning and reasoning samples of a task alone have none
                task_id, answer = answers[trajectory_id]
                assert judge.match(tasks[task_id], answer).correct, (task_id, answer)
