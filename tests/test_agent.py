"""Agent trajectories (synth.agent): the Tongyi format, the runners and their limits, context and heavy modes,
the scripted policy on the demo tasks, the teacher policy through the openai SDK, and the stage."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.storage.store import Store
from drsynth.synth.agent import (
    AgentConfig,
    AgentLimits,
    Policy,
    PolicyError,
    ScriptedSearchPolicy,
    ToolCall,
    parse_turn,
    render_turn,
    run_batch,
    run_context,
    run_heavy,
    run_react,
    system_prompt,
    trajectory_batches,
)
from drsynth.synth.agent.format import parse_context_prompt, tool_response
from drsynth.synth.agent.policy import restore_stop
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.agent.scripted import parse_question
from drsynth.synth.tools.base import Toolbox, ToolResult
from tests.helpers import Echo, run, write_demo_tasks

# --- fakes -------------------------------------------------------------------------------------------------


class Slow(Echo):
    name = "slow"

    async def run(self, arguments: dict) -> ToolResult:
        await asyncio.sleep(5)
        return ToolResult("late")


class Scripted(Policy):
    """Replies from a list (the last one repeated); records what it was shown."""
    name, model = "fake", "fake-1"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.seen: list[list[dict]] = []

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        self.seen.append(messages)
        return self.replies[min(len(self.seen) - 1, len(self.replies) - 1)]


CALL = render_turn("look", call=ToolCall("search", {"query": ["x"]}))
ANSWER = "<think>done</think>\n<answer>42</answer>"
TASK = {"id": "t1", "question": "What is the answer?", "level": 1}


# --- the format ----------------------------------------------------------------------------------------------

GOLDEN_SYSTEM = """You are a deep research assistant. Your core function is to conduct thorough, multi-source \
investigations into any topic. You must handle both broad, open-domain inquiries and queries within specialized \
academic fields. For every request, synthesize information from credible, diverse sources to deliver a \
comprehensive, accurate, and objective response. When you have gathered sufficient information and are ready \
to provide the definitive response, you must enclose the entire final answer within <answer></answer> tags.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{"type": "function", "function": {"name": "search", "description": "Search.", "parameters": {"type": "object", \
"properties": {"query": {"type": "array", "items": {"type": "string"}}}, "required": ["query"]}}}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> \
XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
For the Python interpreter, put the code in <code></code> tags after the JSON, inside the tool call:
<tool_call>
{"name": <python-function-name>, "arguments": {}}
<code>
# your code here
</code>
</tool_call>
Think inside <think></think> before each action. Make at most one tool call per turn.

Current date: 2025-03-01"""


def test_system_prompt_is_exact() -> None:
    assert system_prompt(Toolbox([Echo()]).schemas(), "2025-03-01") == GOLDEN_SYSTEM
    assert "<report></report>" in system_prompt([], "2025-03-01", context_mode=True)


def test_turn_rendering_and_parsing_round_trip() -> None:
    turn = render_turn("I look it up.", call=ToolCall("search", {"query": ["Johan Vell"]}))
    assert turn == ('<think>\nI look it up.\n</think>\n<tool_call>\n{"name": "search", "arguments": '
                    '{"query": ["Johan Vell"]}}\n</tool_call>')
    parsed = parse_turn(turn)
    assert parsed.think == "I look it up." and parsed.call == ToolCall("search", {"query": ["Johan Vell"]})
    assert parse_turn("  <think> x </think>\n\n <answer> 1921 </answer>  ").answer == "1921"
    python = '<think>t</think><tool_call>\n{"name": "PythonInterpreter", "arguments": {}}\n<code>\nprint(2)\n</code>\n</tool_call>'
    call = parse_turn(python).call
    assert call.name == "PythonInterpreter" and call.code == "print(2)" and call.arguments == {"code": "print(2)"}
    assert parse_turn(render_turn("t", call=call)).call == call
    assert tool_response("hits") == "<tool_response>\nhits\n</tool_response>"


@pytest.mark.parametrize(("text", "error"), [
    (CALL + CALL, "2 tool calls"),
    ('<tool_call>{"name": "search", "arguments": {</tool_call>', "not valid JSON"),
    ('<tool_call>["search"]</tool_call>', '"name" string'),
    ("<think>hmm</think> I am not sure", "no <tool_call>"),
    (CALL + "<answer>x</answer>", "a tool call and an answer"),
])
def test_parser_rejects_malformed_turns(text: str, error: str) -> None:
    turn = parse_turn(text)
    assert turn.call is None and turn.answer is None and error in turn.error


def test_parser_tolerates_whitespace_string_arguments_and_a_cut_stop() -> None:
    turn = parse_turn('<think>a</think>\n  <tool_call>  {"name":"search","arguments":"{\\"query\\": [\\"q\\"]}"}  ')
    assert turn.call == ToolCall("search", {"query": ["q"]})
    assert restore_stop('<think>a</think><tool_call>\n{"name": "s", "arguments": {}}').endswith("}\n</tool_call>")
    assert restore_stop("<think>a</think><answer>Kestrel Press") == "<think>a</think><answer>Kestrel Press</answer>"
    assert parse_turn("<think>maybe <answer>no</answer></think>" + CALL).call is not None  # tags in thought


# --- the ReAct runner and its limits ------------------------------------------------------------------------


def test_react_runs_tools_and_answers() -> None:
    policy = Scripted([CALL, ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Echo()]), today="2025-03-01"))
    assert (t.termination, t.answer, t.tool_calls) == ("answer", "42", 1)
    assert [m["role"] for m in t.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert t.messages[3]["content"] == "<tool_response>\nresults for x\n</tool_response>"
    assert t.tokens == sum((len(m["content"]) + 3) // 4 for m in t.messages) and t.tokenizer == "chars/4"
    row = t.row()
    assert row["status"] == "pending" and row["parents"] == ["t1"] and row["level"] == 1
    assert json.loads(row["config"])["limits"]["max_tool_calls"] == 30
    assert row["id"] == run(run_react(TASK, Scripted([CALL, ANSWER]), Toolbox([Echo()]))).id  # stable


def test_call_limit_forces_an_answer() -> None:
    policy = Scripted([CALL] * 3 + [ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Echo()]), AgentLimits(max_tool_calls=2)))
    assert t.tool_calls == 2 and t.answer == "42" and t.termination == "answer" and "call_limit" in t.reason
    assert "maximum number of tool calls" in t.messages[-2]["content"]
    stubborn = run(run_react(TASK, Scripted([CALL]), Toolbox([Echo()]), AgentLimits(max_tool_calls=2)))
    assert (stubborn.termination, stubborn.answer, stubborn.tool_calls) == ("call_limit", None, 2)


class Big(Echo):
    """A tool whose observation is `size` characters long."""
    name = "search"

    def __init__(self, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = size

    async def run(self, arguments: dict) -> ToolResult:
        return ToolResult("y" * self.size)


def test_token_limit_forces_an_answer() -> None:
    # the system prompt and question take 361 tokens: a forced-answer request would not fit in 400
    policy = Scripted([CALL])
    t = run(run_react(TASK, policy, Toolbox([Echo()]), AgentLimits(max_context_tokens=400)))
    assert t.termination == "token_limit" and t.answer is None and "nothing was sent" in t.reason
    assert "maximum context length" in t.messages[-1]["content"] and len(policy.seen) == 1
    policy = Scripted([CALL, CALL, ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Big(2000)]), AgentLimits(max_context_tokens=1200)))
    assert t.answer == "42" and t.reason == "answer forced by token_limit"
    assert "maximum context length" in t.messages[-2]["content"] and "characters cut]" in t.messages[-3]["content"]
    assert all(TokenCounter().messages(seen) <= 1200 for seen in policy.seen)


def test_observations_are_capped_and_no_request_exceeds_the_context() -> None:
    count = TokenCounter()
    policy = Scripted([CALL, ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Big(5_000_000)]), AgentLimits(max_observation_chars=20_000)))
    observation = t.messages[3]["content"]
    assert t.answer == "42" and t.reason is None and "[... 4980000 characters cut]" in observation
    assert len(observation) < 20_100 and t.tokens < 6000
    # one observation larger than what is left: cut to fit beside the forced-answer request
    for runner in (run_react, run_context):
        policy = Scripted([CALL, ANSWER] if runner is run_react else [_report_turn("r"), ANSWER])
        t = run(runner(TASK, policy, Toolbox([Big(100_000)]), AgentLimits(max_context_tokens=3000)))
        assert t.answer == "42" and t.reason == "answer forced by token_limit", runner
        assert all(count.messages(seen) <= 3000 for seen in policy.seen), runner
        assert "characters cut]" in policy.seen[-1][-1]["content"] + policy.seen[-1][-2]["content"]


def test_older_observations_are_trimmed_rather_than_sending_too_much() -> None:
    long_turn = render_turn("z" * 2000, call=ToolCall("search", {"query": ["x"]}))
    policy = Scripted([CALL, CALL, long_turn, ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Big(600)]), AgentLimits(max_context_tokens=1200)))
    assert t.answer == "42" and t.reason == "answer forced by token_limit"
    assert "[removed: context limit]" in t.messages[3]["content"]
    assert all(TokenCounter().messages(seen) <= 1200 for seen in policy.seen)


def test_a_cancelled_tool_call_leaves_a_requests_row() -> None:
    from drsynth.synth.teacher.requests_log import RequestLog

    log = RequestLog()
    slow = render_turn("wait", call=ToolCall("slow", {"query": ["x"]}))
    t = run(run_react(TASK, Scripted([slow]), Toolbox([Slow(log=log)]), AgentLimits(max_wall_s=0.3)))
    [row] = log.drain()
    assert t.termination == "timeout" and row["error"] == "cancelled" and list(row["parents"]) == ["t1"]


def test_teacher_policy_cuts_after_the_action_outside_think() -> None:
    from drsynth.synth.agent import TeacherPolicy
    from drsynth.synth.agent.policy import cut_at_action

    class Client:
        config = SimpleNamespace(model="m")

        def __init__(self, text: str) -> None:
            self.text, self.requests = text, []

        async def chat(self, messages, **kwargs):
            self.requests.append(kwargs)
            return SimpleNamespace(text=self.text, error=None, finish_reason="stop")

    turn = ('<think>I will put the result in <answer></answer> tags, after a </tool_call>.</think>\n'
            '<tool_call>\n{"name": "search", "arguments": {"query": ["x"]}}\n</tool_call>'
            '\n<tool_response>\ninvented\n</tool_response>')
    client = Client(turn)
    reply = run(TeacherPolicy(client, max_tokens=512).respond([{"role": "user", "content": "q"}], sample_index=0))
    assert client.requests[0]["stop"] is None and client.requests[0]["max_tokens"] == 512
    assert reply.endswith("}\n</tool_call>") and "invented" not in reply and "<answer></answer> tags" in reply
    parsed = parse_turn(reply)
    assert parsed.error is None and parsed.call.name == "search"
    assert cut_at_action("<think>a</answer></think><answer>B</answer> more") == "<think>a</answer></think><answer>B</answer>"
    assert cut_at_action("<think>unclosed </answer>") == "<think>unclosed </answer>"
    assert cut_at_action("no tags") == "no tags"


def test_wall_time_limit() -> None:
    slow = render_turn("wait", call=ToolCall("slow", {"query": ["x"]}))
    t = run(run_react(TASK, Scripted([slow]), Toolbox([Slow()]), AgentLimits(max_wall_s=0.3)))
    assert t.termination == "timeout" and t.duration_s < 4

    class Sleepy(Scripted):
        async def respond(self, messages: list[dict], *, sample_index: int) -> str:
            await asyncio.sleep(5)
            return ANSWER

    assert run(run_react(TASK, Sleepy([]), Toolbox([Echo()]), AgentLimits(max_wall_s=0.2))).termination == "timeout"


def test_format_errors_are_fed_back_then_terminate() -> None:
    policy = Scripted(["no action here", CALL + CALL, ANSWER])
    t = run(run_react(TASK, policy, Toolbox([Echo()])))
    assert t.termination == "answer" and "Format error" in t.messages[3]["content"]
    t = run(run_react(TASK, Scripted(["gibberish"]), Toolbox([Echo()])))
    assert t.termination == "format_error" and len([m for m in t.messages if m["role"] == "assistant"]) == 3


def test_unknown_tool_and_policy_errors() -> None:
    unknown = render_turn("t", call=ToolCall("teleport", {}))
    t = run(run_react(TASK, Scripted([unknown, ANSWER]), Toolbox([Echo()])))
    assert "unknown tool 'teleport'" in t.messages[3]["content"] and t.termination == "answer"

    class Broken(Scripted):
        async def respond(self, messages: list[dict], *, sample_index: int) -> str:
            raise PolicyError("teacher request failed: HTTP 500")

    t = run(run_react(TASK, Broken([]), Toolbox([Echo()])))
    assert t.termination == "error" and "500" in t.reason


# --- context management and heavy mode ----------------------------------------------------------------------


def _report_turn(report: str) -> str:
    return render_turn("t", call=ToolCall("search", {"query": [report]}), report=report)


def test_context_mode_shows_only_report_and_last_observation() -> None:
    policy = Scripted([_report_turn("r1"), _report_turn("r2"), _report_turn("r3"),
                       "<think>t</think><report>final</report><answer>42</answer>"])
    t = run(run_context(TASK, policy, Toolbox([Echo()])))
    assert t.termination == "answer" and t.answer == "42" and t.report == "final" and t.tool_calls == 3
    for seen in policy.seen:
        assert [m["role"] for m in seen] == ["system", "user"]
    question, report, action, observation = parse_context_prompt(policy.seen[3][1]["content"])
    assert (question, report, observation) == ("What is the answer?", "r3", "results for r3")
    assert '"r3"' in action and "r1" not in policy.seen[3][1]["content"] and "r2" not in policy.seen[3][1]["content"]
    # messages: the system prompt once, then each round's input and reply
    assert [m["role"] for m in t.messages] == ["system"] + ["user", "assistant"] * 4
    assert t.messages[7]["content"] == policy.seen[3][1]["content"]


def test_heavy_mode_runs_n_agents_and_a_synthesis() -> None:
    class Voter(Policy):
        name, model = "fake", "fake-1"

        def __init__(self) -> None:
            self.indexes: list[int] = []
            self.synthesis: list[str] = []

        async def respond(self, messages: list[dict], *, sample_index: int) -> str:
            if "research agents worked on it" in messages[-1]["content"]:
                self.synthesis.append(messages[-1]["content"])
                return "<think>majority</think><answer>B</answer>"
            self.indexes.append(sample_index)
            return f"<think>t</think><report>agent {sample_index} thinks B</report><answer>B{sample_index}</answer>"

    policy = Voter()
    t = run(run_heavy(TASK, policy, Toolbox([Echo()]), sample_index=1, n=3))
    assert sorted(set(policy.indexes)) == [3, 4, 5] and len(t.members) == 3
    assert t.answer == "B" and t.mode == "heavy" and len(policy.synthesis) == 1
    assert all(f"agent {i} thinks B" in policy.synthesis[0] for i in (3, 4, 5))
    row = t.row()
    assert row["parents"] == ["t1", *(m.id for m in t.members)] and len({row["id"], *row["parents"]}) == 5
    assert {m.mode for m in t.members} == {"context"}  # the real mode; membership is in the config
    assert all(json.loads(m.row()["config"])["heavy_member_of"] == t.id for m in t.members)
    assert all(m.row()["mode"] in ("react", "context", "heavy") for m in [t, *t.members])
    react = run(run_heavy(TASK, Voter(), Toolbox([Echo()]), sample_index=1, n=2, inner="react"))
    assert {m.mode for m in react.members} == {"react"}


# --- the scripted policy on the demo tasks ------------------------------------------------------------------


def _normalize(text: str | None) -> str:
    words = re.sub(r"[^\w\s]", " ", (text or "").casefold()).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


def correct(answer: str | None, task: dict) -> bool:
    return _normalize(answer) in {_normalize(a) for a in [task["answer"], *(task["aliases"] or [])]}


@pytest.fixture(scope="module")
def demo(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo graph's tasks and a search index, built once."""
    from drsynth.synth.tools.toolbox import default_toolbox

    root = os.fspath(tmp_path_factory.mktemp("agent-demo") / "data")
    store = write_demo_tasks(demo_subgraphs, root)
    tools = default_toolbox(store, log=None)
    return SimpleNamespace(root=root, store=store, tasks=sorted(store.rows("tasks"), key=lambda t: t["id"]),
                           tools=tools)


def test_scripted_policy_never_reads_the_answer(demo: SimpleNamespace) -> None:
    task = next(t for t in demo.tasks if t["level"] == 1)
    blind = {"id": task["id"], "question": task["question"], "level": 1}
    full = run(run_react(task, ScriptedSearchPolicy(), demo.tools))
    assert full.messages == run(run_react(blind, ScriptedSearchPolicy(), demo.tools)).messages
    assert full.messages[1]["content"] == task["question"]


def test_question_parsing() -> None:
    target = parse_question("When was the astronomer whose institutions include the Ostvale Observatory born?")
    assert (target.attribute, target.kind, target.subject.head) == ("born", "date", "astronomer")
    target = parse_question("What is the publisher of Lanterns of Brennick?")
    assert (target.attribute, target.subject.name) == ("publisher", "Lanterns of Brennick")
    target = parse_question("Who is the painter whose name begins with F and who was born in the 1890s?")
    assert target.head == "painter"
    assert [(c.kind, c.value, c.years) for c in target.checks] == [("letter", "name:F", ()),
                                                                  ("period", "", ((1890, 1899),))]
    # a check belongs to the entity whose own clause states it, not to the one it describes
    target = parse_question("What is the song whose name begins with N and whose label is the organization whose "
                            "name begins with G?")
    assert [c.value for c in target.checks] == ["name:N"]
    target = parse_question("Who was the museum director born in the port city whose population is between "
                            "150,000 and 200,000?")
    assert target.head == "museum director" and target.checks == ()


PER_LEVEL = 25  # tasks per level in the accuracy run (the whole demo set takes a minute)
# measured on these 3 x 25 tasks by the match judge (the filter's): 20/25, 9/25, 6/25, of which checked on pages
# and not marked "Unverified:" 20, 4, 1 (scripted-search-3: every
# constraint checked on the candidate's page, unverified answers marked as such). The
# floors sit a few tasks below, so the task writer's wording may move a little: they catch a broken agent,
# not a weaker baseline; level 1 above the others catches one that stopped falling with level
FLOORS = {1: 0.5, 2: 0.2, 3: 0.08}
VERIFIED_FLOORS = {1: 0.4, 2: 0.08}  # correct and not marked "Unverified:" (what the filter may accept)


def test_scripted_policy_accuracy_by_level(demo: SimpleNamespace) -> None:
    from drsynth.filters.judges import make_judge

    chosen = [t for level in (1, 2, 3) for t in [t for t in demo.tasks if t["level"] == level][:PER_LEVEL]]

    async def all_of() -> list:
        return await asyncio.gather(*(run_react(t, ScriptedSearchPolicy(), demo.tools) for t in chosen))

    trajectories = run(all_of())
    verdicts = run(make_judge("match").judge_many([(task, t.answer) for task, t in zip(chosen, trajectories,
                                                                                      strict=True)]))
    solved, verified, total = Counter(), Counter(), Counter()
    for task, t, verdict in zip(chosen, trajectories, verdicts, strict=True):
        assert t.termination == "answer" and t.tool_calls >= 1
        assert all(parse_turn(m["content"]).error is None for m in t.messages if m["role"] == "assistant")
        total[task["level"]] += 1
        solved[task["level"]] += verdict.verdict == "correct"
        final = [m["content"] for m in t.messages if m["role"] == "assistant"][-1]
        unverified = any(line.strip().lower().startswith("unverified:") for line in final.splitlines())
        verified[task["level"]] += verdict.verdict == "correct" and not unverified
    accuracy = {level: solved[level] / total[level] for level in total}
    print("scripted accuracy by level:", {k: f"{solved[k]}/{total[k]}" for k in sorted(total)},
          "verified and correct:", {k: f"{verified[k]}/{total[k]}" for k in sorted(total)})
    assert all(accuracy[level] >= floor for level, floor in FLOORS.items()), accuracy
    assert accuracy[1] > accuracy[2] and accuracy[1] > accuracy[3]
    # an agent that marked every answer unverified would still be "accurate": what training keeps is checked
    assert all(verified[level] / total[level] >= floor for level, floor in VERIFIED_FLOORS.items()), verified


def test_scripted_policy_in_context_and_heavy_modes(demo: SimpleNamespace) -> None:
    tasks = [t for t in demo.tasks if t["level"] == 1][:6]
    context = [run(run_context(t, ScriptedSearchPolicy(), demo.tools)) for t in tasks]
    react = [run(run_react(t, ScriptedSearchPolicy(), demo.tools)) for t in tasks]
    assert [c.answer for c in context] == [r.answer for r in react]  # the report carries all it needs
    assert all("Searched:" in c.report for c in context)
    heavy = run(run_heavy(tasks[0], ScriptedSearchPolicy(), demo.tools, n=3))
    assert heavy.termination == "answer" and len(heavy.members) == 3
    votes = Counter(_normalize(m.answer) for m in heavy.members)
    assert _normalize(heavy.answer) == votes.most_common(1)[0][0]  # the synthesis takes the majority


# --- the stage --------------------------------------------------------------------------------------------


def test_stage_writes_trajectories_and_requests_and_resumes(demo: SimpleNamespace, tmp_path: Path) -> None:
    from drsynth.synth.teacher.requests_log import RequestLog
    from drsynth.synth.tools.toolbox import default_toolbox

    root = os.fspath(tmp_path / "copy")
    shutil.copytree(demo.root, root)
    store = Store(root)
    config = AgentConfig(samples=2, tasks_per_batch=4, today="2025-03-01")
    batches = trajectory_batches(store, config.tasks_per_batch, config=config)
    assert sum(len(b.ids) for b in batches) == len(demo.tasks)
    log = RequestLog()
    tools = default_toolbox(store, log=log, update_index=False, index_path=os.path.join(demo.root, "_index",
                                                                                          "search.sqlite"))
    counts = run(run_batch(store, "agent-run", batches[0], config, ScriptedSearchPolicy(), tools, log))
    rows = list(store.rows("trajectories"))
    assert counts["trajectories.added"] == len(rows) == 8 and {r["sample_index"] for r in rows} == {0, 1}
    requests = list(store.rows("requests"))
    assert counts["requests.added"] == len(requests) == sum(r["tool_calls"] for r in rows)
    assert all(r["kind"] == "tool" and set(r["parents"]) <= set(batches[0].ids) for r in requests)
    assert all(r["messages"][0]["content"].endswith("Current date: 2025-03-01") for r in rows)
    assert not set(batches[0].ids) & {i for b in trajectory_batches(store, 4, config=config) for i in b.ids}
    again = run(run_batch(store, "agent-rerun", batches[0], config, ScriptedSearchPolicy(), tools, RequestLog()))
    assert again["trajectories.added"] == 0 and again["trajectories.already_present"] == 8


class Answering(Policy):
    """Answers at once, or fails as an unreachable teacher does; named as the scripted policy, so the plan
    (which derives the policy's identity from the config) and the batch agree on trajectory ids."""
    name, model = ScriptedSearchPolicy.name, ScriptedSearchPolicy.model

    def __init__(self, up: bool = True) -> None:
        self.up, self.calls = up, 0

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        self.calls += 1
        if not self.up:
            raise PolicyError("teacher request failed: connect_error")
        return ANSWER


def small_store(path: Path, questions: dict[str, str | None]) -> Store:
    store = Store(os.fspath(path))
    with store.writer("tasks", "tasks-run", meta={}) as writer:
        for task_id, question in questions.items():
            writer.write({"id": task_id, "parents": [], "question": question, "level": 1})
    return store


def pending(store: Store, config: AgentConfig) -> list[str]:
    return [i for b in trajectory_batches(store, 16, config=config) for i in b.ids]


def stage_run(store: Store, config: AgentConfig, policy: Policy) -> Counter:
    [batch] = trajectory_batches(store, 16, config=config) or [None]
    return run(run_batch(store, "agent-run", batch, config, policy, Toolbox([Echo()])))


def test_stage_reruns_add_exactly_the_missing_samples(tmp_path: Path) -> None:
    store = small_store(tmp_path / "data", {"a": "Who?", "b": "When?"})
    one = AgentConfig(samples=1, today="2025-03-01")
    assert stage_run(store, one, Answering())["trajectories.added"] == 2 and pending(store, one) == []
    two = AgentConfig(samples=2, today="2025-03-01")
    assert sorted(pending(store, two)) == ["a", "b"]
    policy = Answering()
    counts = stage_run(store, two, policy)
    assert counts["trajectories.added"] == 2 and counts["trajectories.already_present"] == 2 and policy.calls == 2
    rows = list(store.rows("trajectories"))
    assert sorted((r["task_id"], r["sample_index"]) for r in rows) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert pending(store, two) == [] and pending(store, one) == []
    context = AgentConfig(samples=2, mode="context", today="2025-03-01")
    assert sorted(pending(store, context)) == ["a", "b"]
    assert stage_run(store, context, Answering())["trajectories.added"] == 4
    assert Counter(r["mode"] for r in store.rows("trajectories")) == {"react": 4, "context": 4}
    # idempotent: the same batch run again runs no agent and adds nothing
    policy = Answering()
    counts = run(run_batch(store, "again", all_tasks(store), context, policy, Toolbox([Echo()])))
    assert counts["trajectories.added"] == 0 and counts["trajectories.already_present"] == 4 and policy.calls == 0


def all_tasks(store: Store):
    from drsynth.storage.batches import plan_batches

    [batch] = plan_batches(store, "tasks", 16)
    return batch


def test_a_policy_outage_is_quarantined_and_retried(tmp_path: Path) -> None:
    store = small_store(tmp_path / "data", {"a": "Who?", "b": "When?"})
    for config in (AgentConfig(samples=1, today="2025-03-01"),
                   AgentConfig(samples=1, mode="heavy", heavy_n=2, today="2025-03-01")):
        counts = stage_run(store, config, Answering(up=False))
        assert counts["quarantine.agent.policy_error"] == 2 and counts["trajectories.added"] == 0
        assert not any(r["mode"] == config.mode for r in store.rows("trajectories"))
        rows = [r for r in store.rows("quarantine") if r["reason"] == "policy_error"]
        assert {tuple(r["parents"]) for r in rows} == {("a",), ("b",)} and "connect_error" in rows[0]["detail"]
        assert sorted(pending(store, config)) == ["a", "b"]  # the outage does not close the tasks
        counts = stage_run(store, config, Answering())
        assert counts["trajectories.added"] == 2 and pending(store, config) == []
        assert {r["termination"] for r in store.rows("trajectories")} == {"answer"}
    assert Counter(r["mode"] for r in store.rows("trajectories")) == {"react": 2, "heavy": 2, "context": 4}


def test_a_task_without_a_question_is_quarantined_not_run(tmp_path: Path) -> None:
    store = small_store(tmp_path / "data", {"a": "Who?", "b": "", "c": None, "d": "   "})
    config = AgentConfig(samples=2, today="2025-03-01")
    policy = Answering()
    counts = stage_run(store, config, policy)
    assert counts["quarantine.agent.empty_question"] == 3 and counts["trajectories.added"] == 2 and policy.calls == 2
    rows = [r for r in store.rows("quarantine") if r["stage"] == "agent"]
    assert sorted(tuple(r["parents"]) for r in rows) == [("b",), ("c",), ("d",)]
    assert {r["reason"] for r in rows} == {"empty_question"}
    assert {r["task_id"] for r in store.rows("trajectories")} == {"a"}
    assert pending(store, config) == []  # closed for good: a rerun adds nothing
    with pytest.raises(ValueError, match="no question"):
        run(run_react({"id": "x", "question": None}, policy, Toolbox([Echo()])))


def test_agent_config_checks_keys_and_values() -> None:
    config = AgentConfig.from_dict({"mode": "heavy", "samples": 4, "max_wall_s": 30})
    assert config.limits.max_wall_s == 30.0 and config.samples == 4
    for bad in ({"mode": "solo"}, {"samples": 0}, {"nope": 1}, {"today": "March"}, {"samples": "two"}):
        with pytest.raises(ValueError):
            AgentConfig.from_dict(bad)


# --- the teacher policy end to end, through the openai SDK ------------------------------------------------------


def test_teacher_policy_through_the_openai_sdk(demo: SimpleNamespace, tmp_path: Path) -> None:
    from drsynth.synth.agent import TeacherPolicy
    from drsynth.synth.teacher.client import TeacherClient
    from drsynth.synth.teacher.config import TeacherConfig
    from drsynth.synth.teacher.requests_log import RequestLog
    from drsynth.synth.tools.toolbox import default_toolbox
    from tests.openai_server import OpenAIServer, Reply

    def responder(request: dict) -> str | Reply:
        assert "stop" not in request  # no server stop strings: the policy cuts after the action itself
        last = request["messages"][-1]["content"]
        if "<tool_response>" not in last:  # the first turn: a search, and a tool response the model invents
            return '<think>I should search, not write </answer> yet.</think>\n<tool_call>\n{"name": "search", ' \
                   '"arguments": {"query": ["Johan Vell"]}}\n</tool_call>\n<tool_response>\ninvented'
        if "Johan Vell" not in last:
            return Reply(status=500, body={"error": {"message": "unexpected"}})
        return "<think>The results name him.</think>\n<answer>Johan Vell</answer>\nuser: thanks"

    log = RequestLog()
    tools = default_toolbox(demo.store, log=log, update_index=False)
    with OpenAIServer(responder, model="tiny-teacher") as server:
        async def go():
            client = TeacherClient(TeacherConfig(base_urls=(server.base_url,), model="tiny-teacher", max_retries=0,
                                                 cache=False), log=log)
            try:
                return await run_react(TASK, TeacherPolicy(client, temperature=0.0), tools, today="2025-03-01")
            finally:
                await client.aclose()

        t = run(go())
        chats = server.chat_requests()
    assert (t.termination, t.answer, t.tool_calls, t.policy, t.model) == ("answer", "Johan Vell", 1, "teacher",
                                                                           "tiny-teacher")
    assert t.messages[2]["content"].endswith("}\n</tool_call>") and t.messages[-1]["content"].endswith("</answer>")
    assert len(chats) == 2 and chats[1].body["messages"][3]["content"].startswith("<tool_response>\nA search")
    rows = log.drain()
    assert Counter(r["kind"] for r in rows) == {"llm": 2, "tool": 1}
    assert all(r["purpose"] == "agent" and r["error"] is None for r in rows)

    with OpenAIServer(lambda request: Reply(status=500, body={"error": {"message": "down"}})) as server:
        async def failing():
            client = TeacherClient(TeacherConfig(base_urls=(server.base_url,), model="m", max_retries=0, cache=False))
            try:
                return await run_react(TASK, TeacherPolicy(client), tools)
            finally:
                await client.aclose()

        t = run(failing())
    assert t.termination == "error" and t.answer is None
