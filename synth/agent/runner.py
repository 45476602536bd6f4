"""Agent loops: ReAct (the whole conversation), context management (report + last observation) and heavy
mode (n agents, then a synthesis), each returning a `Trajectory`.

Limits: tool calls, context tokens and turns force an answer (a user message asks for it, and the model
gets one more turn); wall time ends the trajectory where it stands. Tokens are counted with the
tokenizer given, else approximated as len(text) / 4 (`chars/4`), which is close for English on BPE
vocabularies and errs long on code.

Context size: each observation is cut to `max_observation_chars` (with a note "[... N characters cut]").
An observation that would not fit in `max_context_tokens` together with the forced-answer request is cut
to what fits and the answer is forced (token_limit). No request is ever sent over `max_context_tokens`:
where the conversation would still not fit, older observations are replaced by a note (ReAct), and where
even that is not enough the trajectory ends `token_limit` without sending.

Termination: answer | call_limit | token_limit | format_error | timeout | error. An answer given after a
forced stop is still `answer` (its `reason` says which limit forced it); a limit is the termination only
when no answer came. The turn limit (`max_turns`) has no termination of its own: a trajectory that reaches
it and still gives no answer ends `call_limit` (its `reason` says "turn limit"). `error` means the policy
failed (the teacher was unreachable), not the agent: the stage quarantines such samples so a rerun retries
them.

Heavy mode: the n agents' rows carry their real mode (`context` or `react`) and, in their `config`,
`heavy_member_of` (the heavy trajectory's id); the heavy row's `parents` are the task and the members.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drsynth.storage.ids import content_id
from drsynth.synth.agent.format import (
    FORCE_ANSWER,
    SYNTHESIS_LINE,
    Turn,
    context_prompt,
    parse_turn,
    system_prompt,
    tool_response,
)
from drsynth.synth.agent.policy import Policy, PolicyError
from drsynth.synth.tools.base import Toolbox, ToolResult, bind_call_parents

APPROX_TOKENIZER = "chars/4"
SYNTHESIS_MARK = "research agents worked on it independently"


@dataclass(frozen=True)
class AgentLimits:
    max_tool_calls: int = 30
    max_context_tokens: int = 32768
    max_wall_s: float = 600.0
    max_turns: int = 60
    max_format_errors: int = 2  # format errors fed back to the model; one more ends the trajectory
    max_observation_chars: int = 20_000  # each tool observation is cut to this many characters

    def __post_init__(self) -> None:
        for name in ("max_tool_calls", "max_context_tokens", "max_turns", "max_observation_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"[agent] {name} must be >= 1, got {getattr(self, name)!r}")
        if not self.max_wall_s > 0:
            raise ValueError(f"[agent] max_wall_s must be > 0, got {self.max_wall_s!r}")
        if self.max_format_errors < 0:
            raise ValueError(f"[agent] max_format_errors must be >= 0, got {self.max_format_errors!r}")


class TokenCounter:
    """Counts tokens of message texts: a tokenizer's `encode` when given, else len(text) / 4."""

    def __init__(self, encode: Callable[[str], list] | None = None, name: str | None = None) -> None:
        self.encode = encode
        self.name = name or (APPROX_TOKENIZER if encode is None else getattr(encode, "__qualname__", "tokenizer"))

    def __call__(self, text: str) -> int:
        if self.encode is None:
            return (len(text) + 3) // 4
        return len(self.encode(text))

    def messages(self, messages: list[dict]) -> int:
        return sum(self(m["content"]) for m in messages)


@dataclass
class Trajectory:
    task_id: str
    question: str
    level: int | None
    mode: str
    policy: str
    model: str
    sample_index: int
    messages: list[dict]
    answer: str | None
    termination: str
    tool_calls: int
    tokens: int
    tokenizer: str
    duration_s: float
    reason: str | None = None
    config: dict = field(default_factory=dict)
    report: str | None = None  # the final report (context mode) or the answer, for a heavy synthesis
    members: list[Trajectory] = field(default_factory=list)  # heavy mode: the parallel agents

    @property
    def id(self) -> str:
        return trajectory_id(self.task_id, self.mode, self.policy, self.model, self.sample_index, self.config)

    def row(self, parents: list[str] | None = None) -> dict:
        """The `trajectories` row (status pending until the filters judge it)."""
        return {
            "id": self.id,
            "parents": parents if parents is not None else [self.task_id, *(m.id for m in self.members)],
            "task_id": self.task_id, "mode": self.mode, "policy": self.policy, "model": self.model,
            "sample_index": self.sample_index,
            "messages": [{"role": m["role"], "content": m["content"]} for m in self.messages],
            "answer": self.answer, "termination": self.termination, "tool_calls": self.tool_calls,
            "tokens": self.tokens, "tokenizer": self.tokenizer, "duration_s": round(self.duration_s, 3),
            "status": "pending", "reason": self.reason, "question": self.question, "level": self.level,
            "config": _canonical(self.config),
        }


def trajectory_id(task_id: str, mode: str, policy: str, model: str, sample_index: int,
                  config: Mapping[str, Any]) -> str:
    """The content id of a trajectory: what the stage checks to know which samples are still missing."""
    return content_id("trajectory", task_id, mode, policy, model, sample_index, _canonical(config))


def trajectory_config(limits: AgentLimits, mode: str, *, n: int = 3, inner: str = "context") -> dict:
    """The `config` a runner gives its trajectory (mode react/context; heavy adds n and inner)."""
    return _config(limits, "heavy", n=n, inner=inner) if mode == "heavy" else _config(limits, mode)


def _canonical(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


def _today(today: str | None) -> str:
    return today or datetime.date.today().isoformat()


def _config(limits: AgentLimits, mode: str, **extra: Any) -> dict:
    return {"mode": mode, "limits": dataclasses.asdict(limits), **extra}


class _Clock:
    def __init__(self, limit_s: float) -> None:
        self.started = time.monotonic()
        self.limit_s = limit_s

    def left(self) -> float:
        return self.limit_s - (time.monotonic() - self.started)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class _Stop(Exception):
    def __init__(self, termination: str, reason: str) -> None:
        super().__init__(reason)
        self.termination = termination
        self.reason = reason


def _no_answer(turn: Turn, forced: str | None, format_errors: int, limits: AgentLimits) -> int:
    """A turn without an answer: the end of the run if an answer was forced or the format failed too often,
    else the format-error count so far (the caller shows the error to the policy and goes on)."""
    if forced is not None:
        raise _Stop("call_limit" if forced == "turn_limit" else forced,
                    f"no answer after the {forced.replace('_', ' ')} forced one")
    if turn.error is None:
        return format_errors
    if format_errors + 1 > limits.max_format_errors:
        raise _Stop("format_error", turn.error)
    return format_errors + 1


async def _respond(policy: Policy, messages: list[dict], sample_index: int, clock: _Clock) -> str:
    """The policy's next turn within the time left; a failure becomes a `_Stop`."""
    if clock.left() <= 0:
        raise _Stop("timeout", f"wall time limit {clock.limit_s:g}s reached")
    try:
        return await asyncio.wait_for(policy.respond([dict(m) for m in messages], sample_index=sample_index),
                                      clock.left())
    except TimeoutError:
        raise _Stop("timeout", f"wall time limit {clock.limit_s:g}s reached while the policy answered") from None
    except PolicyError as error:
        raise _Stop("error", str(error)) from None
    except Exception as error:  # a broken policy ends this trajectory, never the batch
        raise _Stop("error", f"policy raised {type(error).__name__}: {error}") from None


async def _act(tools: Toolbox, turn: Turn, parents: tuple[str, ...], clock: _Clock) -> str:
    """Run the turn's tool call; what the agent reads back (errors included)."""
    assert turn.call is not None
    try:
        result = await asyncio.wait_for(_call(tools, turn.call.name, turn.call.arguments, parents), clock.left())
    except TimeoutError:
        raise _Stop("timeout", f"wall time limit {clock.limit_s:g}s reached during {turn.call.name}") from None
    return result.text


async def _call(tools: Toolbox, name: str, arguments: dict, parents: tuple[str, ...]) -> ToolResult:
    if name not in tools:
        known = ", ".join(tools) or "none"
        return ToolResult(f"Error: unknown tool '{name}'. Available tools: {known}.", error="unknown_tool")
    try:
        return await tools[name](arguments, parents=parents)
    except Exception as error:  # a tool is not supposed to raise; if one does, the agent reads it
        return ToolResult(f"Error: {name} failed: {type(error).__name__}: {error}", error="internal")


def _task_fields(task: Mapping[str, Any]) -> tuple[str, str, int | None]:
    question = task.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"task {task.get('id')!r} has no question")
    return str(task.get("id") or ""), question, task.get("level")


def cut(text: str, max_chars: int) -> str:
    """`text` within `max_chars` characters, with a note saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[... {len(text) - max_chars} characters cut]"


def fit(text: str, max_tokens: int, count: TokenCounter, wrap: Callable[[str], str] = lambda t: t) -> str:
    """`text` cut so that `wrap(text)` counts at most `max_tokens` tokens (the note alone when nothing fits)."""
    tokens = count(wrap(text))
    keep = len(text)
    while tokens > max_tokens and keep > 0:
        keep = max(0, min(keep - 1, int(keep * 0.9), int(keep * max_tokens / max(tokens, 1))))
        tokens = count(wrap(cut(text, keep)))
    return text if keep == len(text) else cut(text, keep)


TRIMMED = "[removed: context limit]"


def _trim_to_fit(messages: list[dict], limit: int, count: TokenCounter) -> bool:
    """Replace the oldest observations by a note until the conversation fits `limit` tokens; whether it fits.
    The system prompt, the question, the assistant turns and the last user message stay."""
    for i in range(2, len(messages) - 1):
        if count.messages(messages) <= limit:
            return True
        message, trimmed = messages[i], tool_response(TRIMMED)
        if (message["role"] == "user" and message["content"].startswith("<tool_response>")
                and count(trimmed) < count(message["content"])):
            message["content"] = trimmed
    return count.messages(messages) <= limit


async def run_react(task: Mapping[str, Any], policy: Policy, tools: Toolbox, limits: AgentLimits = AgentLimits(),
                    *, sample_index: int = 0, today: str | None = None,
                    tokenizer: TokenCounter | None = None, mode: str = "react") -> Trajectory:
    """One ReAct trajectory: the policy sees the whole conversation every turn."""
    bind_call_parents((str(task.get("id") or ""),))  # lineage of the policy's teacher calls
    task_id, question, level = _task_fields(task)
    count = tokenizer or TokenCounter()
    clock = _Clock(limits.max_wall_s)
    messages = [{"role": "system", "content": system_prompt(tools.schemas(), _today(today))},
                {"role": "user", "content": question}]
    calls = format_errors = turns = 0
    forced: str | None = None
    answer: str | None = None
    termination, reason = "answer", None
    try:
        while True:
            if forced is None:
                if count.messages(messages) > limits.max_context_tokens:
                    forced = "token_limit"
                elif turns >= limits.max_turns:
                    forced = "turn_limit"
                if forced is not None:
                    messages.append({"role": "user", "content": FORCE_ANSWER[forced]})
            if count.messages(messages) > limits.max_context_tokens and not _trim_to_fit(
                    messages, limits.max_context_tokens, count):
                raise _Stop("token_limit", f"the conversation does not fit in {limits.max_context_tokens} tokens "
                                           "even without its older observations; nothing was sent")
            reply = await _respond(policy, messages, sample_index, clock)
            turns += 1
            messages.append({"role": "assistant", "content": reply})
            turn = parse_turn(reply)
            if turn.answer is not None:
                answer = turn.answer
                reason = f"answer forced by {forced}" if forced else None
                break
            format_errors = _no_answer(turn, forced, format_errors, limits)
            if turn.error is not None:
                messages.append({"role": "user", "content": tool_response(f"Format error: {turn.error}")})
                continue
            if calls >= limits.max_tool_calls:
                forced = "call_limit"
                messages.append({"role": "user", "content": FORCE_ANSWER[forced]})
                continue
            calls += 1
            observation = cut(await _act(tools, turn, (task_id,) if task_id else (), clock),
                              limits.max_observation_chars)
            room = limits.max_context_tokens - count.messages(messages) - count(FORCE_ANSWER["token_limit"])
            if count(tool_response(observation)) > room:  # it would overflow: keep what fits, then force
                observation = fit(observation, room, count, tool_response)
                messages.append({"role": "user", "content": tool_response(observation)})
                forced = "token_limit"
                messages.append({"role": "user", "content": FORCE_ANSWER[forced]})
                continue
            messages.append({"role": "user", "content": tool_response(observation)})
    except _Stop as stop:
        termination, reason = stop.termination, stop.reason
    return Trajectory(task_id, question, level, mode, policy.name, policy.model, sample_index, messages, answer,
                      termination, calls, count.messages(messages), count.name, clock.elapsed(), reason,
                      _config(limits, mode))


async def run_context(task: Mapping[str, Any], policy: Policy, tools: Toolbox,
                      limits: AgentLimits = AgentLimits(), *, sample_index: int = 0, today: str | None = None,
                      tokenizer: TokenCounter | None = None, mode: str = "context") -> Trajectory:
    """Context management: each round the policy sees only the system prompt and one user message holding
    the question, its report so far and its last action with that action's observation; it answers with an
    updated `<report>` and one action.

    `messages` stores every round as the model saw and wrote it: the system prompt once, then per round the
    user message (its whole input besides the system prompt) and the assistant reply. Each (system, user,
    assistant) triple is one training sample."""
    bind_call_parents((str(task.get("id") or ""),))  # lineage of the policy's teacher calls
    task_id, question, level = _task_fields(task)
    count = tokenizer or TokenCounter()
    clock = _Clock(limits.max_wall_s)
    system = {"role": "system", "content": system_prompt(tools.schemas(), _today(today), context_mode=True)}
    messages = [system]
    report, last_action = "", ""
    observation: str | None = None
    calls = format_errors = rounds = 0
    forced: str | None = None
    answer: str | None = None
    termination, reason = "answer", None
    try:
        while True:
            prompt = context_prompt(question, report, last_action, observation)
            if forced is None:
                if count(system["content"]) + count(prompt) > limits.max_context_tokens:
                    forced = "token_limit"
                elif rounds >= limits.max_turns:
                    forced = "turn_limit"
            if forced is not None:
                room = limits.max_context_tokens - count(system["content"])
                if observation is not None and count(_forced_prompt(prompt, forced)) > room:
                    # keep of the observation what fits beside the request to answer
                    observation = fit(observation, room, count, functools.partial(
                        _round_prompt, question, report, last_action, forced=forced))
                    prompt = context_prompt(question, report, last_action, observation)
                prompt = _forced_prompt(prompt, forced)
                if count(prompt) > room:
                    raise _Stop("token_limit", f"the report and last action alone exceed "
                                               f"{limits.max_context_tokens} tokens; nothing was sent")
            user = {"role": "user", "content": prompt}
            messages.append(user)
            reply = await _respond(policy, [system, user], sample_index, clock)
            rounds += 1
            messages.append({"role": "assistant", "content": reply})
            turn = parse_turn(reply)
            if turn.report is not None:
                report = turn.report
            if turn.answer is not None:
                answer = turn.answer
                reason = f"answer forced by {forced}" if forced else None
                break
            format_errors = _no_answer(turn, forced, format_errors, limits)
            if turn.error is not None:
                last_action, observation = reply.strip(), f"Format error: {turn.error}"
                continue
            last_action = turn.action
            if calls >= limits.max_tool_calls:
                forced = "call_limit"
                observation = "Not run: the tool call limit is reached."
                continue
            calls += 1
            observation = cut(await _act(tools, turn, (task_id,) if task_id else (), clock),
                              limits.max_observation_chars)
    except _Stop as stop:
        termination, reason = stop.termination, stop.reason
    return Trajectory(task_id, question, level, mode, policy.name, policy.model, sample_index, messages, answer,
                      termination, calls, count.messages(messages), count.name, clock.elapsed(), reason,
                      _config(limits, mode), report=report)


def _round_prompt(question: str, report: str, last_action: str, observation: str, *, forced: str) -> str:
    return _forced_prompt(context_prompt(question, report, last_action, observation), forced)


def _forced_prompt(prompt: str, forced: str) -> str:
    return prompt + "\n\n" + FORCE_ANSWER[forced]


def synthesis_prompt(question: str, members: list[Trajectory], max_report_chars: int | None = None) -> str:
    parts = [f"Question: {question}", f"{len(members)} {SYNTHESIS_MARK}."]
    for i, member in enumerate(members, 1):
        report = member.report or "(no report)"
        if max_report_chars is not None:
            report = cut(report, max_report_chars)
        answer = member.answer if member.answer is not None else f"(no answer: {member.termination})"
        parts.append(f"## Agent {i}\n<report>\n{report}\n</report>\nAnswer: {answer}")
    parts.append("Give the final answer within <answer></answer> tags.")
    return "\n\n".join(parts)


async def run_heavy(task: Mapping[str, Any], policy: Policy, tools: Toolbox, limits: AgentLimits = AgentLimits(),
                    *, sample_index: int = 0, n: int = 3, inner: str = "context", today: str | None = None,
                    tokenizer: TokenCounter | None = None) -> Trajectory:
    """Heavy mode: n agents in parallel (sample indexes sample_index * n + i), then one synthesis turn over
    their final reports and answers. The trajectory's `messages` are the synthesis conversation; the agents'
    own trajectories are its `members`: each its own row, with its real mode (`inner`) and, in its config,
    `heavy_member_of` (this trajectory's id). The limits apply to each agent; `max_wall_s` to the whole."""
    bind_call_parents((str(task.get("id") or ""),))  # lineage of the policy's teacher calls
    if n < 1:
        raise ValueError(f"heavy mode needs n >= 1, got {n}")
    run = {"context": run_context, "react": run_react}.get(inner)
    if run is None:
        raise ValueError(f"heavy mode runs context or react agents, got {inner!r}")
    task_id, question, level = _task_fields(task)
    count = tokenizer or TokenCounter()
    clock = _Clock(limits.max_wall_s)
    config = _config(limits, "heavy", n=n, inner=inner)
    heavy_id = trajectory_id(task_id, "heavy", policy.name, policy.model, sample_index, config)
    members = list(await asyncio.gather(*(
        run(task, policy, tools, limits, sample_index=sample_index * n + i, today=today, tokenizer=count,
            mode=inner) for i in range(n))))
    for member in members:
        member.config = {**member.config, "heavy_member_of": heavy_id}
        if member.report is None:  # a react agent: its final answer is its report
            member.report = member.answer
    system = {"role": "system", "content": f"{SYNTHESIS_LINE}\n\nCurrent date: {_today(today)}"}
    user = {"role": "user", "content": synthesis_prompt(question, members)}
    answer, termination, reason = None, "answer", None
    room = limits.max_context_tokens - count(system["content"])
    if count(user["content"]) > room:  # the reports share what fits, each cut alike
        longest = max(len(m.report or "") for m in members)
        while longest > 0 and count(user["content"]) > room:
            longest = int(longest * 0.8)
            user["content"] = synthesis_prompt(question, members, max_report_chars=longest)
    messages = [system, user]
    try:
        if count(user["content"]) > room:
            raise _Stop("token_limit", f"the synthesis prompt exceeds {limits.max_context_tokens} tokens even "
                                       "without the reports; nothing was sent")
        reply = await _respond(policy, messages, sample_index, _Clock(max(clock.left(), 1e-3)))
        messages.append({"role": "assistant", "content": reply})
        turn = parse_turn(reply)
        if turn.answer is None:
            termination, reason = "format_error", turn.error or "the synthesis gave no answer"
        else:
            answer = turn.answer
    except _Stop as stop:
        termination, reason = stop.termination, stop.reason
    tokens = count.messages(messages) + sum(m.tokens for m in members)
    return Trajectory(task_id, question, level, "heavy", policy.name, policy.model, sample_index, messages, answer,
                      termination, sum(m.tool_calls for m in members), tokens, count.name, clock.elapsed(), reason,
                      config, report=answer, members=members)
