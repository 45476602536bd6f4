"""ReAct SFT samples: an accepted trajectory's whole conversation, the loss on the assistant turns.

`train` is True on the assistant turns the model should learn and False on everything it is shown: the
system prompt, the question, every `<tool_response>` and the runner's requests to answer now. An assistant
turn that does not parse (a format error the runner fed back) is shown but not trained on: the sample
must not teach the error, only the recovery after it.

A heavy-mode trajectory's synthesis conversation (the synthesis prompt over the members' reports, then
the answer) is a whole conversation the model sees at once, so it becomes a sample of mode "react" too:
`sft_samples.mode` says how the sample is laid out (react: one conversation; context: one round), and the
trajectory it came from (`trajectory_id`) says which agent mode made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drsynth.filters.cpt.steps import SampleError, messages_of
from drsynth.storage.ids import content_id
from drsynth.synth.agent.format import parse_turn
from drsynth.synth.agent.runner import TokenCounter

FORMAT = "sft-1"  # the version of the sample layout: part of every id
ROLES = frozenset({"system", "user", "assistant"})


def trains(message: Mapping[str, Any]) -> bool:
    """Whether the loss covers a message: a well-formed assistant turn."""
    return message.get("role") == "assistant" and parse_turn(message["content"]).error is None


def sft_row(trajectory: Mapping[str, Any], mode: str, messages: list[dict], round_index: int | None,
            counter: TokenCounter, settings: Mapping[str, Any] | None = None) -> dict:
    """An `sft_samples` row (without `run_id`: the publisher adds it). The id covers the layout, the
    trajectory, the round, the messages with their train flags and the settings that built them; not the
    tokenizer that counted them."""
    trajectory_id, task_id = str(trajectory.get("id") or ""), str(trajectory.get("task_id") or "")
    return {
        "id": content_id("sft_sample", FORMAT, mode, trajectory_id, round_index, messages, dict(settings or {})),
        "parents": [p for p in (trajectory_id, task_id) if p],
        "mode": mode, "messages": messages, "trajectory_id": trajectory_id, "task_id": task_id,
        "level": trajectory.get("level"), "round": round_index, "policy": trajectory.get("policy"),
        "model": trajectory.get("model"), "tokens": counter.messages(messages), "tokenizer": counter.name,
    }


def check_trajectory(trajectory: Mapping[str, Any]) -> list[dict]:
    """The trajectory's messages; SampleError when no sample can come from them."""
    if not trajectory.get("id"):
        raise SampleError("no_id", "the trajectory has no id to trace its samples to")
    messages = messages_of(trajectory)
    if len(messages) != len(trajectory.get("messages") or []):
        raise SampleError("malformed_messages", f"trajectory {trajectory['id']!r} has messages without text")
    odd = sorted({str(m.get("role")) for m in messages} - ROLES)
    if odd:
        raise SampleError("unknown_role", f"trajectory {trajectory['id']!r} has role(s) {odd}")
    if not messages or messages[0].get("role") != "system":
        raise SampleError("no_system_prompt", f"trajectory {trajectory['id']!r} does not open with a system prompt")
    return messages


def react_sample(trajectory: Mapping[str, Any], counter: TokenCounter | None = None) -> dict:
    """The `sft_samples` row of a react or heavy trajectory (mode "react")."""
    messages = check_trajectory(trajectory)
    if trajectory.get("mode") == "context":
        raise SampleError("wrong_mode", f"trajectory {trajectory['id']!r} is a context-mode trajectory: its "
                                        "rounds are samples of their own (context_samples)")
    sample = [{"role": m["role"], "content": m["content"], "train": trains(m)} for m in messages]
    if not any(m["train"] for m in sample):
        raise SampleError("no_assistant_turn", f"trajectory {trajectory['id']!r} has no well-formed assistant turn")
    return sft_row(trajectory, "react", sample, None, counter or TokenCounter())
