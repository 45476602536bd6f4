"""Context-management SFT samples: one row per round, `[system, user, assistant]`, the loss on the reply.

In context mode (DESIGN §6) the agent sees, each round, only the system prompt and one user message:
the question, its report so far, its last action and that action's observation (`context_prompt`). It
replies with its thinking, the rewritten `<report>` and one action (`REPORT_INSTRUCTIONS`).

- A context-mode trajectory already stores its rounds that way (the system prompt once, then per round
  the user message and the reply): each round is a sample as it happened.
- A react trajectory is converted. The system prompt is rebuilt with `context_mode=True` from the tools
  and date of the original one. Round k shows the question, the report written in round k-1 (empty in
  round 0), the action of turn k-1 and its observation, and any request to answer now that followed;
  its reply is turn k's own `<think>` and action, with a report in between: an extractive running summary
  of what the observations seen so far established (findings.py: the sentences sharing the most content
  words with the question and the action's goal, with their source, and the open leads), capped at
  `max_report_chars`. The report only ever takes in observations, so it never knows more than the agent
  had seen.

Rounds whose reply does not parse are not samples (their feedback still flows into the next round, as
the runner shows it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from drsynth.filters.cpt.findings import RunningReport
from drsynth.filters.cpt.steps import SampleError, question_of, trajectory_steps
from drsynth.filters.sft.react import check_trajectory, sft_row, trains
from drsynth.synth.agent.format import FORCE_ANSWER, context_prompt, render_turn, system_prompt
from drsynth.synth.agent.runner import TokenCounter

MAX_REPORT_CHARS = 2000
_TOOLS = re.compile(r"<tools>\n(.*?)\n</tools>", re.S)
_DATE = re.compile(r"^Current date: (\S+)\s*$", re.M)


def parse_system_prompt(text: str) -> tuple[list[dict], str]:
    """(tool schemas, date) of a system prompt written by `system_prompt`; SampleError otherwise."""
    tools, dates = _TOOLS.search(text), _DATE.findall(text)
    if tools is None or not dates:
        raise SampleError("unparsable_system", "the system prompt has no <tools> block or no current date")
    try:
        schemas = [json.loads(line) for line in tools.group(1).splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise SampleError("unparsable_system", f"a tool signature is not JSON ({error.msg})") from None
    return schemas, dates[-1]


def _round(system: str, user: str, reply: str) -> list[dict]:
    return [{"role": "system", "content": system, "train": False},
            {"role": "user", "content": user, "train": False},
            {"role": "assistant", "content": reply, "train": True}]


def recorded_rounds(trajectory: Mapping[str, Any]) -> list[tuple[int, list[dict]]]:
    """(round, messages) of a context-mode trajectory, as the agent saw and wrote them."""
    messages = check_trajectory(trajectory)
    system = messages[0]["content"]
    pairs = [(messages[i], messages[i + 1]) for i in range(1, len(messages) - 1)
             if messages[i]["role"] == "user" and messages[i + 1]["role"] == "assistant"]
    return [(k, _round(system, user["content"], reply["content"])) for k, (user, reply) in enumerate(pairs)
            if trains(reply)]


def converted_rounds(trajectory: Mapping[str, Any],
                     max_report_chars: int = MAX_REPORT_CHARS) -> list[tuple[int, list[dict]]]:
    """(round, messages) of a react trajectory rewritten as context-management rounds."""
    messages = check_trajectory(trajectory)
    schemas, today = parse_system_prompt(messages[0]["content"])
    system = system_prompt(schemas, today, context_mode=True)
    question = question_of(trajectory)
    report = RunningReport(question, max_chars=max_report_chars)
    shown, last_action = "", ""  # the report and action the next round shows
    observation: str | None = None
    forced: str | None = None
    goal = ""
    out: list[tuple[int, list[dict]]] = []
    for step in trajectory_steps(trajectory):
        prompt = context_prompt(question, shown, last_action, observation)
        if forced in FORCE_ANSWER:
            prompt += "\n\n" + FORCE_ANSWER[forced]
        if observation is not None:
            report.add(observation, goal)
        if step.turn.error is None:
            written = report.text()
            reply = render_turn(step.turn.think, call=step.turn.call, answer=step.turn.answer, report=written)
            out.append((step.index, _round(system, prompt, reply)))
            shown, last_action = written, step.turn.action
        else:  # as the runner shows a malformed reply: the text itself, then the format error
            last_action = step.reply.strip()
        observation, forced, goal = step.observation, step.forced, step.goal
        if step.turn.answer is not None:
            break
    return out


def context_samples(trajectory: Mapping[str, Any], counter: TokenCounter | None = None, *,
                    max_report_chars: int = MAX_REPORT_CHARS) -> list[dict]:
    """One `sft_samples` row (mode "context") per round of a context-mode trajectory, or of a react
    trajectory converted to context rounds. `round` is the 0-based round index."""
    counter = counter or TokenCounter()
    mode = trajectory.get("mode")
    if mode == "context":
        rounds, settings = recorded_rounds(trajectory), {"source": "context"}
    elif mode == "heavy":
        raise SampleError("heavy_synthesis", f"trajectory {trajectory.get('id')!r} is a heavy-mode synthesis: "
                                             "one conversation, no rounds (its members are trajectories)")
    else:
        rounds = converted_rounds(trajectory, max_report_chars)
        settings = {"source": "react", "max_report_chars": max_report_chars}
    if not rounds:
        raise SampleError("no_assistant_turn", f"trajectory {trajectory.get('id')!r} has no well-formed round")
    return [sft_row(trajectory, "context", messages, k, counter, settings) for k, messages in rounds]
