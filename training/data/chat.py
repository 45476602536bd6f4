"""Chat samples through the model's own chat template, with labels exactly on the trained turns.

The conversation is rendered once, whole, and tokenized with character offsets: the tokens are what
inference sees. A message with `train=True` is trained from the end of the generation prompt that would
precede it (so the role header `<|im_start|>assistant\\n` is not) through the end of its rendered turn,
trailing whitespace excluded (so the end-of-turn token `<|im_end|>` is, the newline after it is not).
Those character spans come from rendering the conversation's prefixes; a template that renders a prefix
differently from the start of the whole (e.g. one that drops earlier turns' thinking) is refused, since
the masks would not say what was trained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drsynth.training.data.packing import IGNORE, Sample


class ChatTemplateError(ValueError):
    """A conversation the chat template cannot render into consistent trained spans."""


def _render(tokenizer, messages: list[dict], *, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def trained_spans(tokenizer, messages: Sequence[Mapping]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans [start, end) the loss covers."""
    chat = [{"role": m["role"], "content": m["content"] or ""} for m in messages]
    text = _render(tokenizer, chat)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if not message.get("train"):
            continue
        if message["role"] != "assistant":
            raise ChatTemplateError(f"message {i} is a {message['role']} turn marked train: only assistant "
                                    "turns are trained")
        head = _render(tokenizer, chat[:i], generation_prompt=True)
        turn = _render(tokenizer, chat[: i + 1])
        if not (turn.startswith(head) and text.startswith(turn)):
            raise ChatTemplateError(f"the chat template renders message {i} differently in a prefix than in "
                                    "the whole conversation: cannot locate its trained tokens")
        end = len(turn.rstrip())
        if end > len(head):
            spans.append((len(head), end))
    return text, spans


def encode_chat(tokenizer, messages: Sequence[Mapping], source: str = "") -> Sample:
    """The conversation's tokens; labels IGNORE everywhere except the trained turns' tokens."""
    text, spans = trained_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [IGNORE] * len(encoded["input_ids"])
    si = 0
    for t, (start, _end) in enumerate(encoded["offset_mapping"]):
        while si < len(spans) and start >= spans[si][1]:
            si += 1
        if si < len(spans) and spans[si][0] <= start:
            labels[t] = encoded["input_ids"][t]
    return Sample.of(encoded["input_ids"], labels, source)


def truncate(sample: Sample, seq_len: int) -> Sample:
    if len(sample) <= seq_len:
        return sample
    return Sample(sample.input_ids[:seq_len], sample.labels[:seq_len], sample.source)
