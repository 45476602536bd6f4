"""A policy writes the next assistant turn of a trajectory; the teacher policy asks an LLM for it.

A turn ends at its action. The teacher is asked without server-side stop strings (only `max_tokens` bounds
the reply) and the reply is cut client-side after the first `</tool_call>` or `</answer>` that lies outside
`<think>`: a server stop string would also fire inside the reasoning ("... then I put it in </answer>
tags ...") and cut the turn there. The cost is the tokens a model writes after its action (a hallucinated
tool response), which `max_tokens` bounds.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from drsynth.synth.tools.base import call_parents

if TYPE_CHECKING:
    from drsynth.synth.teacher.client import TeacherClient

# a turn ends at its action (outside <think>): see `cut_at_action`
STOPS = ("</tool_call>", "</answer>")
_MARKS = re.compile(r"<think>|</think>|</tool_call>|</answer>")


class PolicyError(Exception):
    """The policy could not produce a turn (the teacher's request failed for good): termination `error`."""


class Policy(ABC):
    name: str = ""
    model: str = ""

    @abstractmethod
    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        """The next assistant turn given the conversation so far (system message first)."""


class TeacherPolicy(Policy):
    name = "teacher"

    def __init__(self, client: TeacherClient, *, temperature: float | None = None,
                 max_tokens: int | None = None, server_stops: bool = False) -> None:
        """`server_stops`: send STOPS as the request's stop strings (fewer tokens, but a stop string the
        reasoning mentions cuts the turn there); off by default, the reply is cut client-side."""
        self.client = client
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.server_stops = server_stops
        self.model = client.config.model

    async def respond(self, messages: list[dict], *, sample_index: int, parents: tuple[str, ...] = ()) -> str:
        parents = parents or call_parents()  # the runner names the task its trajectory serves
        result = await self.client.chat(messages, purpose="agent", sample_index=sample_index,
                                        temperature=self.temperature, max_tokens=self.max_tokens,
                                        stop=list(STOPS) if self.server_stops else None, parents=parents)
        if result.error:
            raise PolicyError(f"teacher request failed: {result.error}")
        text = restore_stop(result.text, result.finish_reason) if self.server_stops else result.text
        return cut_at_action(text)


def cut_at_action(text: str) -> str:
    """The turn up to and including its first `</tool_call>` or `</answer>` outside `<think>` (whole when
    there is none): what the model writes after its action is not part of the turn."""
    text = text or ""
    thinking = False
    for mark in _MARKS.finditer(text):
        tag = mark.group(0)
        if tag == "<think>":
            thinking = True
        elif tag == "</think>":
            thinking = False
        elif not thinking:
            return text[: mark.end()]
    return text


def restore_stop(text: str, finish_reason: str | None = None) -> str:
    """Put back the stop string the server cut off: an opened `<tool_call>`/`<answer>` left unclosed."""
    text = text or ""
    if finish_reason == "length":
        return text  # cut by max_tokens, not by a stop: leave it for the parser to judge
    for stop in STOPS:
        opening = stop.replace("</", "<")
        if text.rfind(opening) > text.rfind(stop):
            return text.rstrip() + ("\n" if stop == "</tool_call>" else "") + stop
    return text
