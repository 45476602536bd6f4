"""Token counters for the length bounds, compatible with the agent runner's `TokenCounter` (callable
text -> int, `.messages(list)`, `.name`).

`load_counter("approx")` (the default) is the runner's approximation, len(text) / 4 (name "chars/4"):
close for English on BPE vocabularies, long for code, and no tokenizer to load. `load_counter(path)`
loads a local Hugging Face tokenizer directory (never the hub: `local_files_only=True`) through
`transformers`, which comes with the `train` extra; messages are counted through the tokenizer's chat
template when it has one (the length the model will train on), else as the sum of their contents.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drsynth.synth.agent.runner import APPROX_TOKENIZER, TokenCounter

APPROX = "approx"


class TemplateTokenCounter(TokenCounter):
    """A Hugging Face tokenizer's count: text without special tokens; messages through its chat template."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        super().__init__(functools.partial(tokenizer.encode, add_special_tokens=False), name)
        self.tokenizer = tokenizer
        self.has_template = bool(getattr(tokenizer, "chat_template", None))

    def messages(self, messages: list[dict]) -> int:
        if not self.has_template:
            return super().messages(messages)
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            ids = self.tokenizer.apply_chat_template(plain, tokenize=True)
        except Exception:  # a template that refuses these roles (e.g. strict alternation): count the contents
            return super().messages(messages)
        if isinstance(ids, Mapping) or hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return len(ids)


def load_counter(spec: str | os.PathLike | None = APPROX) -> TokenCounter:
    """"approx" (or empty / "chars/4") -> len(text) / 4; a path -> that local Hugging Face tokenizer.
    Raises ValueError for a path that is no tokenizer directory, ImportError when transformers is missing."""
    text = os.fspath(spec) if spec is not None else ""
    if text in ("", APPROX, APPROX_TOKENIZER):
        return TokenCounter()
    return _load_tokenizer(str(Path(text).expanduser().resolve()))


@functools.lru_cache(maxsize=8)
def _load_tokenizer(path: str) -> TemplateTokenCounter:
    if not Path(path).is_dir():
        raise ValueError(f"tokenizer {path!r} is neither 'approx' nor a local tokenizer directory")
    try:
        from transformers import AutoTokenizer  # the train extra: imported only when a tokenizer is named
    except ImportError as error:
        raise ImportError(f"counting tokens with the tokenizer at {path!r} needs transformers: install the "
                          f"train extra (pip install 'drsynth[train]'), or use tokenizer = \"approx\"") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as error:
        raise ValueError(f"cannot load a tokenizer from {path!r}: {type(error).__name__}: {error}") from error
    return TemplateTokenCounter(tokenizer, f"hf:{Path(path).name}")
