"""CPT documents as token samples: the text, then the document-end token, every token trained.

A document longer than seq_len becomes several samples of at most seq_len tokens (the first token of each
piece is context only). Packing keeps documents from attending to each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from drsynth.training.data.packing import Sample

DOCUMENT_END = "<|endoftext|>"  # Qwen's document separator; other tokenizers end documents with EOS


def document_end_id(tokenizer) -> int:
    vocab = tokenizer.get_vocab()
    if DOCUMENT_END in vocab:
        return vocab[DOCUMENT_END]
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has neither <|endoftext|> nor an EOS token to end documents with")
    return tokenizer.eos_token_id


def document_ids(tokenizer, text: str) -> list[int]:
    """[BOS if the tokenizer has one] + the text's tokens + the document-end token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    head = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return [*head, *ids, document_end_id(tokenizer)]


def chunks(ids: Sequence[int], seq_len: int, source: str = "") -> list[Sample]:
    """Pieces of at most seq_len tokens, all trained (a one-token tail has nothing to predict: dropped)."""
    return [Sample.of(ids[i:i + seq_len], ids[i:i + seq_len], source)
            for i in range(0, len(ids), seq_len) if len(ids[i:i + seq_len]) > 1]
