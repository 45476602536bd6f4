"""A trajectory as a list of steps: each assistant turn with what its action returned.

One reading of `messages` for every mode the runner writes (synth/agent/runner.py):
- react (and a heavy trajectory's synthesis conversation): system, the question, then each assistant turn
  followed by the user messages it caused: a `<tool_response>` (the observation, or a format error fed
  back) and, when a limit was hit, the request to answer now;
- context: the system prompt once, then per round the user message the model saw (question, report,
  last action and its observation, see `context_prompt`) and its reply: round k's action is observed in
  round k+1's user message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drsynth.synth.agent.format import FORCE_ANSWER, Turn, observation_text, parse_context_prompt, parse_turn

NOT_RUN = "Not run: the tool call limit is reached."  # what the context runner shows for a refused call


class SampleError(ValueError):
    """A trajectory or task no sample can be built from; `reason` is a short code for the caller's row."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Step:
    index: int  # which assistant turn, 0-based
    reply: str  # the assistant message as written
    turn: Turn  # the reply parsed
    observation: str | None  # what the action returned (a format error's feedback too); None: nothing came
    forced: str | None = None  # the limit that asked for an answer after this step: call_limit, token_limit, ...

    @property
    def goal(self) -> str:
        """What the action was after, in words: a visit's goal, a search's queries, the code run."""
        call = self.turn.call
        if call is None:
            return ""
        args = call.arguments
        if isinstance(args.get("goal"), str):
            return args["goal"]
        query = args.get("query")
        if isinstance(query, list):
            return " ".join(str(q) for q in query)
        return str(query or call.code or "")


def messages_of(trajectory: Mapping[str, Any]) -> list[dict]:
    messages = trajectory.get("messages") or []
    return [m for m in messages if isinstance(m, Mapping) and isinstance(m.get("content"), str)]


def question_of(trajectory: Mapping[str, Any]) -> str:
    """The question the agent worked on: the row's `question`, else read from the first user message."""
    question = trajectory.get("question")
    if isinstance(question, str) and question.strip():
        return question.strip()
    users = [m["content"] for m in messages_of(trajectory) if m.get("role") == "user"]
    if not users:
        return ""
    if trajectory.get("mode") == "context" or users[0].startswith("Question: "):
        return parse_context_prompt(users[0])[0] or users[0]
    return users[0]


def _forced(text: str) -> str | None:
    return next((limit for limit, request in FORCE_ANSWER.items() if request in text), None)


def trajectory_steps(trajectory: Mapping[str, Any]) -> list[Step]:
    """Every assistant turn of a trajectory, in order, with its observation."""
    messages = messages_of(trajectory)
    if trajectory.get("mode") == "context":
        return _context_steps(messages)
    return _react_steps(messages)


def _react_steps(messages: list[dict]) -> list[Step]:
    steps: list[Step] = []
    i = 0
    while i < len(messages):
        if messages[i].get("role") != "assistant":
            i += 1
            continue
        reply = messages[i]["content"]
        observation: str | None = None
        forced: str | None = None
        i += 1
        while i < len(messages) and messages[i].get("role") != "assistant":
            text = messages[i]["content"]
            if messages[i].get("role") == "user":
                if text.lstrip().startswith("<tool_response>") and observation is None:
                    observation = observation_text(text)
                else:
                    forced = _forced(text) or forced
            i += 1
        turn = parse_turn(reply)
        if observation is None and forced == "call_limit" and turn.call is not None:
            observation = NOT_RUN
        steps.append(Step(len(steps), reply, turn, observation, forced))
    return steps


def _context_steps(messages: list[dict]) -> list[Step]:
    rounds = [(messages[i]["content"], messages[i + 1]["content"]) for i in range(len(messages) - 1)
              if messages[i].get("role") == "user" and messages[i + 1].get("role") == "assistant"]
    steps: list[Step] = []
    for k, (_, reply) in enumerate(rounds):
        observation: str | None = None
        forced: str | None = None
        if k + 1 < len(rounds):
            observation = parse_context_prompt(rounds[k + 1][0])[3]
            forced = _forced(rounds[k + 1][0])
        steps.append(Step(k, reply, parse_turn(reply), observation, forced))
    return steps
