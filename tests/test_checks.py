"""drsynth.filters.checks: trajectory checks on hand-built and runner-built trajectories in the three modes, the token
counters (chars/4 and a real tokenizer directory built here), and real trajectories of the scripted agent on
the demo tasks."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.filters.checks import (
    CHECKS,
    CheckConfig,
    CheckFailure,
    check_trajectory,
    load_counter,
    toolbox_schemas,
    tools_in_system_prompt,
)
from drsynth.filters.judges import MatchJudge
from drsynth.storage.store import Store
from drsynth.synth.agent import (
    AgentLimits,
    Policy,
    ScriptedSearchPolicy,
    ToolCall,
    render_turn,
    run_context,
    run_heavy,
)
from drsynth.synth.agent import run_react as react_runner
from drsynth.synth.agent.format import FORCE_ANSWER, parse_turn, system_prompt, tool_response
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.tools.base import Tool, Toolbox, ToolResult

# --- tools and hand-built trajectories ---------------------------------------------------------------------


class Search(Tool):
    name = "search"
    description = "Search."
    parameters = {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string"},  # noqa: RUF012
                                                             "minItems": 1}},
                  "required": ["query"], "additionalProperties": False}

    async def run(self, arguments: dict) -> ToolResult:
        return ToolResult("results for " + "; ".join(arguments["query"]))


class Python(Tool):
    name = "PythonInterpreter"
    description = "Run Python."
    parameters = {"type": "object", "properties": {"code": {"type": "string", "minLength": 1}},  # noqa: RUF012
                  "required": ["code"]}

    async def run(self, arguments: dict) -> ToolResult:
        return ToolResult("2")


TOOLBOX = Toolbox([Search(), Python()])
TOOLS = toolbox_schemas(TOOLBOX)
SEARCH = render_turn("look it up", call=ToolCall("search", {"query": ["port of Estavia"]}))
PYTHON = render_turn("compute", call=ToolCall("PythonInterpreter", {"code": "print(1 + 1)"}, "print(1 + 1)"))
ANSWER = "<think>found it</think>\n<answer>Port Selva</answer>"
TASK = {"id": "t1", "question": "Which port?", "level": 1}


def names(failures: list[CheckFailure]) -> list[str]:
    return [f.name for f in failures]


def react_row(*turns: str, observations: list[str] | None = None, **columns) -> dict:
    """A react row: system, question, then each turn (a call turn followed by its tool response)."""
    messages = [{"role": "system", "content": system_prompt(TOOLBOX.schemas(), "2025-03-01")},
                {"role": "user", "content": TASK["question"]}]
    observations = list(observations or [])
    calls = 0
    for turn in turns:
        messages.append({"role": "assistant", "content": turn})
        if "<answer>" not in turn:
            messages.append({"role": "user", "content": observations.pop(0) if observations
                             else tool_response("results")})
            parsed = parse_turn(turn)
            calls += parsed.call is not None and parsed.error is None
    answers = re.findall(r"<answer>(.*?)</answer>", turns[-1]) if turns else []
    row = {"id": "traj-1", "task_id": "t1", "mode": "react", "messages": messages,
           "answer": answers[-1] if answers else None, "termination": "answer" if answers else "call_limit",
           "tool_calls": calls}
    row.update(columns)
    return row


def run(coro):
    return asyncio.run(coro)


class Scripted(Policy):
    name, model = "fake", "fake-1"

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.turns = replies, 0

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        self.turns += 1
        return self.replies[min(self.turns - 1, len(self.replies) - 1)]


# --- react -------------------------------------------------------------------------------------------------------


def test_a_valid_trajectory_passes() -> None:
    row = react_row(SEARCH, PYTHON, ANSWER)
    assert check_trajectory(row, TOOLS, CheckConfig()) == []
    assert check_trajectory(row, None, CheckConfig()) == []  # the tools its system prompt declares
    assert set(tools_in_system_prompt(row["messages"][0]["content"])) == {"search", "PythonInterpreter"}
    assert TOOLS["search"]["function"]["parameters"]["required"] == ["query"]


BROKEN_JSON = '<think>x</think>\n<tool_call>\n{"name": "search", "arguments": {"query": [</tool_call>'


@pytest.mark.parametrize(("turns", "config", "expected", "detail"), [
    ((SEARCH, "<think>hmm, no action</think>", ANSWER), CheckConfig(), "format_error", "message 4: no <tool_call>"),
    ((SEARCH + SEARCH, ANSWER), CheckConfig(), "format_error", "2 tool calls in one turn"),
    ((BROKEN_JSON, ANSWER), CheckConfig(), "invalid_tool_call", "not valid JSON"),
    (('<tool_call>{"name": "search", "arguments": [1]}</tool_call>', ANSWER), CheckConfig(), "invalid_tool_call",
     '"arguments" must be a JSON object'),
    ((render_turn("t", call=ToolCall("browse", {"url": "x"})), ANSWER), CheckConfig(), "unknown_tool",
     "'browse' (given: search, PythonInterpreter)"),
    ((render_turn("t", call=ToolCall("search", {"q": "x"})), ANSWER), CheckConfig(), "invalid_arguments",
     "missing required argument 'query'"),
    ((render_turn("t", call=ToolCall("search", {"query": [3]})), ANSWER), CheckConfig(), "invalid_arguments",
     "must be string"),
    ((render_turn("t", call=ToolCall("PythonInterpreter", {})), ANSWER), CheckConfig(), "invalid_arguments",
     "'code'"),
    ((SEARCH, SEARCH, SEARCH, ANSWER), CheckConfig(max_tool_calls=2), "too_many_tool_calls", "3 tool calls > 2"),
    ((ANSWER,), CheckConfig(min_tool_calls=1), "too_few_tool_calls", "0 tool calls < 1"),
    ((SEARCH, ANSWER), CheckConfig(max_tokens=100), "too_long", "> 100 (chars/4)"),
    ((SEARCH, SEARCH), CheckConfig(), "no_answer", "no final <answer> (termination 'call_limit')"),
])
def test_each_failure_is_caught(turns: tuple[str, ...], config: CheckConfig, expected: str, detail: str) -> None:
    failures = check_trajectory(react_row(*turns), TOOLS, config)
    assert names(failures) == [expected], failures
    assert detail in failures[0].detail


def test_no_answer_also_covers_the_termination_and_can_be_off() -> None:
    row = react_row(SEARCH, ANSWER, termination="token_limit")
    assert names(check_trajectory(row, TOOLS, CheckConfig())) == ["no_answer"]
    lenient = CheckConfig(require_answer=False)
    assert check_trajectory(row, TOOLS, lenient) == []
    assert check_trajectory(react_row(SEARCH, SEARCH), TOOLS, lenient) == []


@pytest.mark.parametrize(("columns", "detail"), [
    ({"tool_calls": 5}, "tool_calls column says 5, the messages hold 1 run calls"),
    ({"answer": "Varkholm"}, "answer column 'Varkholm' differs from the last <answer> 'Port Selva'"),
    ({"answer": None}, "answer column None"),
])
def test_inconsistent_columns(columns: dict, detail: str) -> None:
    failures = check_trajectory(react_row(SEARCH, ANSWER, **columns), TOOLS, CheckConfig())
    assert names(failures) == ["inconsistent"] and detail in failures[0].detail


def test_every_failure_is_returned_most_fundamental_first() -> None:
    unknown = render_turn("t", call=ToolCall("browse", {"url": "x"}))
    bad_args = render_turn("t", call=ToolCall("search", {}))
    row = react_row(ANSWER.replace("<answer>", ""), unknown, bad_args, unknown, SEARCH, unknown, unknown,
                    tool_calls=2, termination="call_limit")
    failures = check_trajectory(row, TOOLS, CheckConfig(max_tool_calls=3, max_tokens=200))
    assert names(failures) == ["format_error", "unknown_tool", "invalid_arguments", "too_many_tool_calls",
                               "too_long", "no_answer", "inconsistent"]
    assert [n for n in CHECKS if n in names(failures)] == names(failures)
    assert failures[1].detail.endswith("(+1 more)") and failures[1].detail.count("'browse'") == 3


@pytest.mark.parametrize(("row", "detail"), [
    ({"mode": "react", "messages": []}, "no messages"),
    ({"mode": "reflexion", "messages": [{"role": "system", "content": "x"}]}, "unknown mode 'reflexion'"),
    ({"mode": "react", "messages": None}, "no messages"),
    ({"mode": "react", "messages": [{"role": "user", "content": "Which port?"},
                                    {"role": "assistant", "content": ANSWER}],
      "answer": "Port Selva", "termination": "answer"}, "message 0 is not a system message"),
    ({"mode": "react", "messages": [{"role": "system", "content": "You are helpful."},
                                    {"role": "user", "content": "Which port?"},
                                    {"role": "assistant", "content": ANSWER}],
      "answer": "Port Selva", "termination": "answer"}, "no valid <tools></tools> block"),
    ({"mode": "react", "messages": [{"role": "tool", "content": None}]}, "message 0 has role 'tool'"),
    ({"mode": "react", "messages": 42}, "unreadable trajectory"),
])
def test_malformed_rows_are_format_errors_never_exceptions(row: dict, detail: str) -> None:
    failures = check_trajectory(row, TOOLS, CheckConfig())
    assert failures[0].name == "format_error" and detail in failures[0].detail, failures


def test_roles_out_of_order_are_format_errors() -> None:
    row = react_row(SEARCH, ANSWER)
    row["messages"].insert(3, {"role": "assistant", "content": SEARCH})
    failures = check_trajectory(row, TOOLS, CheckConfig())
    assert names(failures)[0] == "format_error" and "two assistant turns in a row" in failures[0].detail


# --- runner-built trajectories: forced answers, format errors fed back, context and heavy modes -----------------


def test_runner_trajectories_with_forced_answers_are_consistent() -> None:
    forced = run(react_runner(TASK, Scripted([SEARCH] * 3 + [ANSWER]), TOOLBOX, AgentLimits(max_tool_calls=2)))
    row = forced.row()
    assert row["tool_calls"] == 2 and FORCE_ANSWER["call_limit"] in [m["content"] for m in row["messages"]]
    assert check_trajectory(row, TOOLS, CheckConfig(max_tool_calls=2)) == []  # the third call never ran
    fed_back = run(react_runner(TASK, Scripted(["no action", SEARCH, ANSWER]), TOOLBOX)).row()
    assert fed_back["termination"] == "answer"
    assert names(check_trajectory(fed_back, TOOLS, CheckConfig())) == ["format_error"]
    stubborn = run(react_runner(TASK, Scripted([SEARCH]), TOOLBOX, AgentLimits(max_tool_calls=1))).row()
    assert names(check_trajectory(stubborn, TOOLS, CheckConfig())) == ["no_answer"]


def report_turn(report: str, call: ToolCall | None = None) -> str:
    return render_turn("t", call=call or ToolCall("search", {"query": [report]}), report=report)


FINAL = "<think>t</think><report>final</report><answer>Port Selva</answer>"


def test_context_mode() -> None:
    t = run(run_context(TASK, Scripted([report_turn("r1"), report_turn("r2"), FINAL]), TOOLBOX))
    row = t.row()
    assert check_trajectory(row, TOOLS, CheckConfig()) == []
    # the bound is per round (each round is one sample), not the whole list
    whole = TokenCounter().messages(row["messages"])
    rounds = [TokenCounter().messages(row["messages"][:1] + row["messages"][i:i + 2]) for i in (1, 3, 5)]
    assert check_trajectory(row, TOOLS, CheckConfig(max_tokens=max(rounds))) == []
    assert max(rounds) < whole
    failures = check_trajectory(row, TOOLS, CheckConfig(max_tokens=max(rounds) - 1))
    assert names(failures) == ["too_long"] and failures[0].detail.startswith("round ")
    # a turn without its report, a bad call and an unknown tool are caught as in react mode
    bad = run(run_context(TASK, Scripted([render_turn("t", call=ToolCall("search", {"query": ["x"]})),
                                          report_turn("r", ToolCall("browse", {})), FINAL]), TOOLBOX)).row()
    failures = check_trajectory(bad, TOOLS, CheckConfig())
    assert names(failures) == ["format_error", "unknown_tool"] and "without <report>" in failures[0].detail
    # past the call limit the runner does not run the call ("Not run: ..."): not counted
    limited = run(run_context(TASK, Scripted([report_turn("r1"), report_turn("r2"), FINAL]), TOOLBOX,
                              AgentLimits(max_tool_calls=1))).row()
    assert limited["tool_calls"] == 1 and check_trajectory(limited, TOOLS, CheckConfig(max_tool_calls=1)) == []
    react_shaped = {**row, "messages": [row["messages"][0], {"role": "user", "content": "Which port?"},
                                        *row["messages"][2:]]}
    assert "not a context-mode round" in check_trajectory(react_shaped, TOOLS, CheckConfig())[0].detail


class Voter(Policy):
    name, model = "fake", "fake-1"

    def __init__(self, synthesis: str = "<think>majority</think><answer>Port Selva</answer>") -> None:
        self.synthesis = synthesis

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        if "research agents worked on it" in messages[-1]["content"]:
            return self.synthesis
        if "Last action" not in messages[-1]["content"]:
            return report_turn(f"agent {sample_index}")
        return f"<think>t</think><report>agent {sample_index}</report><answer>Port Selva</answer>"


def test_heavy_mode() -> None:
    t = run(run_heavy(TASK, Voter(), TOOLBOX, n=3))
    row = t.row()
    assert row["tool_calls"] == 3 and [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert check_trajectory(row, TOOLS, CheckConfig(max_tool_calls=1)) == []  # the members' calls are theirs
    assert all(check_trajectory(m.row(), TOOLS, CheckConfig()) == [] for m in t.members)
    calling = run(run_heavy(TASK, Voter(report_turn("more")), TOOLBOX, n=2)).row()
    failures = check_trajectory(calling, TOOLS, CheckConfig())
    assert names(failures) == ["format_error", "no_answer"] and "calls 'search' instead of answering" in failures[0].detail


# --- token counters ------------------------------------------------------------------------------------------------


TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real Hugging Face tokenizer directory: a word-level vocabulary trained here on a few sentences, with a
    chat template, saved as `PreTrainedTokenizerFast` does (nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["Which port is the capital of Estavia?", "Port Selva is the capital.", "look it up, found it",
              "search the results for port of Estavia", "<think> </think> <answer> </answer> <tool_call> </tool_call>"]
    core = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<|end|>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.chat_template = TEMPLATE
    path = tmp_path_factory.mktemp("tokenizer") / "tiny-wordlevel"
    tokenizer.save_pretrained(os.fspath(path))
    return os.fspath(path)


def test_the_approximation() -> None:
    counter = load_counter("approx")
    assert counter.name == "chars/4" and counter("x" * 9) == 3 and load_counter(None).name == "chars/4"
    assert counter.messages([{"role": "user", "content": "abcd"}, {"role": "assistant", "content": "abcdefgh"}]) == 3


def test_a_real_tokenizer_counts_differently_and_through_its_chat_template(tokenizer_dir: str) -> None:
    from transformers import AutoTokenizer

    counter = load_counter(tokenizer_dir)
    assert counter.name == "hf:tiny-wordlevel" and load_counter(Path(tokenizer_dir)) is counter  # loaded once
    text = "Port Selva is the capital of Estavia."
    assert counter(text) == 8 != load_counter("approx")(text) == 10  # words and the final '.'
    messages = react_row(SEARCH, ANSWER)["messages"]
    reference = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    ids = reference.apply_chat_template(messages, tokenize=True)
    templated = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
    assert counter.messages(messages) == templated > sum(counter(m["content"]) for m in messages)
    assert counter.messages(messages) != TokenCounter().messages(messages)


def test_too_long_uses_the_configured_tokenizer(tokenizer_dir: str) -> None:
    row = react_row(SEARCH, ANSWER)
    hf, approx = load_counter(tokenizer_dir).messages(row["messages"]), TokenCounter().messages(row["messages"])
    assert hf < approx  # whole words versus four characters
    bound = (hf + approx) // 2
    assert check_trajectory(row, TOOLS, CheckConfig(max_tokens=bound, tokenizer=tokenizer_dir)) == []
    failures = check_trajectory(row, TOOLS, CheckConfig(max_tokens=bound))
    assert names(failures) == ["too_long"] and f"{approx} tokens > {bound} (chars/4)" == failures[0].detail
    failures = check_trajectory(row, TOOLS, CheckConfig(max_tokens=hf - 1, tokenizer=tokenizer_dir))
    assert failures == [CheckFailure("too_long", f"{hf} tokens > {hf - 1} (hf:tiny-wordlevel)")]


def test_a_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither 'approx' nor a local tokenizer directory"):
        load_counter(os.fspath(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="cannot load a tokenizer"):
        load_counter(os.fspath(tmp_path / "empty"))


def test_config_checks_its_values() -> None:
    with pytest.raises(ValueError, match="max_tool_calls"):
        CheckConfig(min_tool_calls=5, max_tool_calls=2)
    with pytest.raises(ValueError, match="max_tokens"):
        CheckConfig(max_tokens=0)


# --- real trajectories of the scripted agent on the demo tasks ----------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    from drsynth.synth.tasks import TaskConfig, select_tasks, subgraph_batches, write_tasks
    from drsynth.synth.tools.toolbox import default_toolbox

    root = os.fspath(tmp_path_factory.mktemp("checks-demo") / "data")
    shutil.copytree(demo_subgraphs.root, root)
    store, graph, config = Store(root), demo_subgraphs.graph, TaskConfig()
    for batch in subgraph_batches(store, graph, config.subgraphs_per_task):
        write_tasks(store, "tasks-run", graph, batch, config)
    select_tasks(store, "tasks-run", graph, config)
    tasks = sorted(store.rows("tasks"), key=lambda t: t["id"])
    return SimpleNamespace(tasks=tasks, tools=default_toolbox(store, log=None))


STRUCTURAL = {"format_error", "invalid_tool_call", "unknown_tool", "invalid_arguments", "inconsistent"}


def _exact(answer: str | None, task: dict) -> bool:
    """The agent tests' strict notion of correct: the normalized answer equals the gold or an alias."""
    def norm(text: str | None) -> str:
        words = re.sub(r"[^\w\s]", " ", (text or "").casefold()).split()
        return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)
    return norm(answer) in {norm(a) for a in [task["answer"], *(task["aliases"] or [])]}


def test_scripted_trajectories_pass_format_and_tool_checks(demo: SimpleNamespace) -> None:
    chosen = [t for level in (1, 2, 3) for t in [t for t in demo.tasks if t["level"] == level][:4]]

    async def all_of() -> list:
        return await asyncio.gather(*(react_runner(t, ScriptedSearchPolicy(), demo.tools) for t in chosen),
                                    *(run_context(t, ScriptedSearchPolicy(), demo.tools) for t in chosen[:3]),
                                    run_heavy(chosen[0], ScriptedSearchPolicy(), demo.tools, n=2))

    trajectories = run(all_of())
    rows = [t.row() for t in trajectories] + [m.row() for m in trajectories[-1].members]
    tools = toolbox_schemas(demo.tools)
    assert {r["mode"] for r in rows} == {"react", "context", "heavy"}
    for row in rows:
        failures = check_trajectory(row, tools, CheckConfig())
        assert not STRUCTURAL & set(names(failures)), (row["mode"], failures)
        assert check_trajectory(row, None, CheckConfig()) == failures  # the system prompt declares the same tools
    # the match judge accepts at least what strict equality accepts, and judges every answer
    judge = MatchJudge()
    by_id = {t["id"]: t for t in demo.tasks}
    verdicts = run(judge.judge_many([(by_id[r["task_id"]], r["answer"]) for r in rows]))
    for row, verdict in zip(rows, verdicts, strict=True):
        assert verdict.verdict in ("correct", "incorrect", "no_answer"), verdict
        if _exact(row["answer"], by_id[row["task_id"]]):
            assert verdict.correct, (row["answer"], verdict)


class Slow(Search):
    async def run(self, arguments: dict) -> ToolResult:
        await asyncio.sleep(5)
        return ToolResult("late")


def test_a_call_cut_by_the_wall_time_counts_as_run() -> None:
    row = run(react_runner(TASK, Scripted([SEARCH]), Toolbox([Slow()]), AgentLimits(max_wall_s=0.2))).row()
    assert row["termination"] == "timeout" and row["tool_calls"] == 1 and row["messages"][-1]["role"] == "assistant"
    assert names(check_trajectory(row, TOOLS, CheckConfig())) == ["no_answer"]
