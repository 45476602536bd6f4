"""The JSON object in a model's reply, read defensively.

Asked for JSON, models still wrap it in a ``` fence, put a <think> block before it, or a sentence around it
(servers without structured output most of all). Each caller then checks the object's own fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)


class NoJSONObject(ValueError):
    """No JSON object could be read from a reply; the message says why, with the start of the reply."""


def reply_text(content: str | None) -> str:
    """The reply without its <think> block and its ``` fence."""
    return _FENCE.sub("", _THINK.sub("", content or "").strip()).strip()


def json_object(content: str | None, *, wanted: Callable[[dict], bool] | None = None, shown: int = 200) -> dict:
    """The JSON object in a reply, after any <think> block: the whole reply or its fenced block if that is an
    object; else the text from the first "{" to the last "}", or, given `wanted`, the last object in the text
    that `wanted` accepts (the one with a "verdict" after others the model wrote on its way).
    NoJSONObject otherwise; `shown` is how much of the reply its message quotes."""
    text = reply_text(content)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return data
    if wanted is not None:
        return _last_object(text, wanted, shown)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise NoJSONObject(f"no JSON object in the reply: {text[:shown]!r}")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as error:
        raise NoJSONObject(f"invalid JSON ({error.msg}): {text[:shown]!r}") from None
    return data  # from "{" to "}": an object whenever it parses


def _last_object(text: str, wanted: Callable[[dict], bool], shown: int) -> dict:
    decoder = json.JSONDecoder()
    found = None
    for start in (i for i, c in enumerate(text) if c == "{"):
        try:
            data, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and wanted(data):
            found = data
    if found is None:
        raise NoJSONObject(f"no JSON object in the reply: {text[:shown]!r}")
    return found
