"""Checks of one `trajectories` row against the Tongyi format and the filter's bounds (DESIGN §6, §8).

`check_trajectory` returns every failure, most fundamental first, one per check name. The names are the
rejection reasons the filter writes, so they stay:

    format_error         a turn `parse_turn` cannot read, a missing or invalid system message, roles out of
                         order, a context-mode turn without its <report>, a heavy synthesis that calls a tool
    invalid_tool_call    the JSON inside <tool_call> is not {"name": ..., "arguments": {...}}
    unknown_tool         a call to a tool the trajectory was not given
    invalid_arguments    arguments that fail the tool's JSON schema (`validate_arguments`)
    too_many_tool_calls  more tool calls than `max_tool_calls`
    too_few_tool_calls   fewer than `min_tool_calls`
    too_long             more tokens than `max_tokens`, counted with the configured counter
    no_answer            no final <answer>, or a termination other than "answer"
    inconsistent         the row's `tool_calls` or `answer` column disagrees with its messages
    unverified_answer    the last assistant turn's <think> declares its answer unverified: a line that starts
                         with `Unverified:` (`UNVERIFIED_MARK`, any case). A policy that answers without every
                         constraint of the question confirmed by what it read writes that line, saying what
                         is left open; the scripted policy does (synth/agent/scripted.py), and a teacher
                         prompt can ask for the same. A lucky guess the judge finds correct is no training text.

Modes: react, the whole conversation; context, the system prompt then per round the user message (question,
report, last action and observation) and the assistant reply, each round one training sample (its length is
bounded, not the sum); heavy, the synthesis conversation (system, user, one answer; no tools: its members
are rows of their own, checked on their own, and its `tool_calls` column is theirs).

A tool call counts when it was run: in react mode a `<tool_response>` follows it, in context mode the next
round's observation is not the runner's "Not run: ..." note; a call that is the last message was run only
when the wall time cut it (termination "timeout": the runner counts a call before running it); otherwise the
runner stopped on it without running it (no answer after a forced one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drsynth.filters.checks.tokens import APPROX, load_counter
from drsynth.synth.agent.format import UNVERIFIED_MARK, Turn, parse_context_prompt, parse_turn
from drsynth.synth.agent.runner import TokenCounter
from drsynth.synth.tools.base import validate_arguments

CHECKS = ("format_error", "invalid_tool_call", "unknown_tool", "invalid_arguments", "too_many_tool_calls",
          "too_few_tool_calls", "too_long", "no_answer", "inconsistent", "unverified_answer")
MODES = ("react", "context", "heavy")
_SHOWN = 3  # occurrences named in a failure's detail
_TOOLS_BLOCK = re.compile(r"<tools>\n(.*?)\n</tools>", re.S)  # the block, not the "<tools></tools>" mention
_NOT_RUN = "Not run:"  # the runner's observation for a call past the call limit (context mode)
_UNVERIFIED = re.compile(rf"^\s*{re.escape(UNVERIFIED_MARK)}", re.M | re.I)


@dataclass(frozen=True)
class CheckConfig:
    max_tool_calls: int = 30
    min_tool_calls: int = 0
    max_tokens: int = 32768
    tokenizer: str = APPROX  # "approx" (chars/4) or a local Hugging Face tokenizer directory
    require_answer: bool = True

    def __post_init__(self) -> None:
        if self.min_tool_calls < 0:
            raise ValueError(f"min_tool_calls must be >= 0, got {self.min_tool_calls!r}")
        if self.max_tool_calls < self.min_tool_calls:
            raise ValueError(f"max_tool_calls ({self.max_tool_calls}) must be >= min_tool_calls "
                             f"({self.min_tool_calls})")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens!r}")


@dataclass(frozen=True)
class CheckFailure:
    name: str  # one of CHECKS: the rejection reason
    detail: str  # what failed, where (message index)


class _Found:
    """Failures as found, grouped by check name."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[str]] = {}

    def add(self, name: str, detail: str) -> None:
        self.by_name.setdefault(name, []).append(detail)

    def failures(self) -> list[CheckFailure]:
        out = []
        for name in CHECKS:
            details = self.by_name.get(name)
            if details:
                more = f" (+{len(details) - _SHOWN} more)" if len(details) > _SHOWN else ""
                out.append(CheckFailure(name, "; ".join(details[:_SHOWN]) + more))
        return out


def toolbox_schemas(toolbox: Any) -> dict[str, dict]:
    """Tool name -> its schema (as `Tool.schema()` gives it), from a `Toolbox` or any name -> tool mapping."""
    return {name: tool.schema() for name, tool in toolbox.items()}


def tools_in_system_prompt(content: str) -> dict[str, dict] | None:
    """The tool schemas a system prompt declares inside <tools></tools> (one JSON object per line); None when
    there is no such block or a line is not a tool schema."""
    block = _TOOLS_BLOCK.search(content or "")
    if block is None:
        return None
    out: dict[str, dict] = {}
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        try:
            schema = json.loads(line)
        except json.JSONDecodeError:
            return None
        name = _schema_name(schema)
        if name is None:
            return None
        out[name] = schema
    return out


def check_trajectory(row: Mapping[str, Any], tools: Mapping[str, dict] | None, config: CheckConfig = CheckConfig(),
                     counter: TokenCounter | None = None) -> list[CheckFailure]:
    """Every failure of `row`, most fundamental first (empty: the trajectory passes). `tools`: name -> JSON
    schema of the tools the agent was given; None takes the ones its system prompt declares. `counter`:
    counts tokens (default: `load_counter(config.tokenizer)`). Never raises for a bad row."""
    found = _Found()
    try:
        _check(row, tools, config, counter or load_counter(config.tokenizer), found)
    except (TypeError, KeyError, AttributeError, ValueError) as error:  # a row too broken to read
        found.add("format_error", f"unreadable trajectory: {type(error).__name__}: {error}")
    return found.failures()


def _check(row: Mapping[str, Any], tools: Mapping[str, dict] | None, config: CheckConfig, counter: TokenCounter,
           found: _Found) -> None:
    mode = row.get("mode")
    messages = _messages(row.get("messages"), found)
    if mode not in MODES:
        found.add("format_error", f"unknown mode {mode!r}")
        return
    if not messages:
        found.add("format_error", "no messages")
        return
    if messages[0]["role"] != "system" or not messages[0]["content"].strip():
        found.add("format_error", "message 0 is not a system message")
    declared = tools_in_system_prompt(messages[0]["content"]) if messages[0]["role"] == "system" else None
    if mode != "heavy" and declared is None:
        found.add("format_error", "the system message has no valid <tools></tools> block")
    if tools is None:
        tools = declared or {}
    _check_roles(mode, messages, found)
    turns = {i: parse_turn(m["content"]) for i, m in enumerate(messages) if m["role"] == "assistant"}
    calls = _check_turns(mode, messages, turns, tools, found, row.get("termination"))
    if mode != "heavy":
        if calls > config.max_tool_calls:
            found.add("too_many_tool_calls", f"{calls} tool calls > {config.max_tool_calls}")
        if calls < config.min_tool_calls:
            found.add("too_few_tool_calls", f"{calls} tool calls < {config.min_tool_calls}")
    _check_length(mode, messages, config.max_tokens, counter, found)
    final = turns[max(turns)].answer if turns else None
    last_think = turns[max(turns)].think if turns else None
    marked = _UNVERIFIED.search(last_think) if final is not None and last_think else None
    if marked:
        line = last_think[marked.start():].strip().splitlines()[0]
        found.add("unverified_answer", f"message {max(turns)}: {_cut(line, 160)!r}")
    termination = row.get("termination")
    if config.require_answer:
        if final is None:
            found.add("no_answer", f"no final <answer> (termination {termination!r})")
        elif termination != "answer":
            found.add("no_answer", f"termination {termination!r}")
    recorded = row.get("tool_calls")
    if mode != "heavy" and recorded is not None and int(recorded) != calls:
        found.add("inconsistent", f"tool_calls column says {recorded}, the messages hold {calls} run calls")
    answer = row.get("answer")
    if (answer.strip() if isinstance(answer, str) else answer) != final:
        found.add("inconsistent", f"answer column {_cut(answer)!r} differs from the last <answer> {_cut(final)!r}")


def _messages(value: Any, found: _Found) -> list[dict]:
    if value is None:
        return []
    out = []
    for i, message in enumerate(value):
        role = message.get("role") if isinstance(message, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            found.add("format_error", f"message {i} has role {role!r} and content of type {type(content).__name__}")
            content = content if isinstance(content, str) else ""
        out.append({"role": role, "content": content})
    return out


def _check_roles(mode: str, messages: list[dict], found: _Found) -> None:
    roles = [m["role"] for m in messages]
    if "system" in roles[1:]:
        found.add("format_error", f"a system message at index {roles.index('system', 1)}")
    if len(roles) > 1 and roles[1] != "user":
        found.add("format_error", "message 1 is not the user's question")
    if mode == "react":
        for i in range(2, len(roles)):
            if roles[i] == roles[i - 1] == "assistant":
                found.add("format_error", f"two assistant turns in a row at message {i}")
        return
    # context and heavy: system, then (user, assistant) rounds; a last user message is a round cut short
    for i in range(1, len(roles)):
        wanted = "user" if i % 2 else "assistant"
        if roles[i] != wanted:
            found.add("format_error", f"message {i} is {roles[i]!r}, expected {wanted!r}")
            return
    if mode == "context":
        for i in range(1, len(messages), 2):
            if not messages[i]["content"].startswith("Question: "):
                found.add("format_error", f"message {i} is not a context-mode round (question, report, last action)")
    if mode == "heavy" and len(roles) > 3:
        found.add("format_error", f"a heavy synthesis has one answer turn, found {len(roles) - 2} more messages")


def _check_turns(mode: str, messages: list[dict], turns: dict[int, Turn], tools: Mapping[str, dict],
                 found: _Found, termination: Any) -> int:
    """Per assistant turn: format, call, tool, arguments. Returns how many calls were run."""
    calls = 0
    for i, turn in turns.items():
        if turn.error is not None:
            # parse_call's errors all start "the tool call": the call's JSON, not the turn's layout, is wrong
            name = "invalid_tool_call" if turn.error.startswith("the tool call") else "format_error"
            found.add(name, f"message {i}: {turn.error}")
            continue
        if mode == "context" and turn.report is None:
            found.add("format_error", f"message {i}: a context-mode turn without <report>")
        if turn.call is None:
            continue
        if mode == "heavy":
            found.add("format_error", f"message {i}: the heavy synthesis calls {turn.call.name!r} instead of answering")
            continue
        if _was_run(mode, messages, i, termination):
            calls += 1
        schema = tools.get(turn.call.name)
        if schema is None:
            found.add("unknown_tool", f"message {i}: {turn.call.name!r} (given: {', '.join(tools) or 'none'})")
            continue
        try:
            validate_arguments(_parameters(schema), turn.call.arguments)
        except ValueError as error:
            found.add("invalid_arguments", f"message {i}: {turn.call.name}: {error}")
    return calls


def _was_run(mode: str, messages: list[dict], i: int, termination: Any) -> bool:
    if i + 1 >= len(messages):
        return termination == "timeout"  # the wall time cut the call short: counted, not answered
    following = messages[i + 1]
    if following["role"] != "user":
        return False
    if mode == "react":
        return following["content"].startswith("<tool_response>")
    observation = parse_context_prompt(following["content"])[3]
    return observation is None or not observation.startswith(_NOT_RUN)


def _check_length(mode: str, messages: list[dict], limit: int, counter: TokenCounter, found: _Found) -> None:
    if mode != "context":
        tokens = counter.messages(messages)
        if tokens > limit:
            found.add("too_long", f"{tokens} tokens > {limit} ({counter.name})")
        return
    system = messages[:1]
    for start in range(1, len(messages), 2):
        tokens = counter.messages(system + messages[start:start + 2])
        if tokens > limit:
            found.add("too_long", f"round {(start + 1) // 2}: {tokens} tokens > {limit} ({counter.name})")


def _schema_name(schema: Any) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    function = schema.get("function")
    name = function.get("name") if isinstance(function, Mapping) else schema.get("name")
    return name if isinstance(name, str) and name else None


def _parameters(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The arguments' JSON schema from a tool schema ({"type": "function", "function": {...}}), a bare
    function schema ({"name", "parameters"}), or the parameters schema itself."""
    function = schema.get("function")
    if isinstance(function, Mapping):
        return function.get("parameters") or {}
    if "parameters" in schema:
        return schema.get("parameters") or {}
    return schema


def _cut(text: Any, limit: int = 80) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[:limit] + "..."
    return text
