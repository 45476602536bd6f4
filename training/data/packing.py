"""Token samples, packed several to a row without ever attending across their boundaries.

A packed row holds samples back to back. Each sample's `position_ids` restart at 0, and its targets are
shifted inside the sample only: its last token predicts nothing, so no sample learns to predict the next
one's first token. Attention stays inside a sample either through the restarting `position_ids` (which
transformers 5 turns into a block-diagonal causal mask for sdpa/eager/flex, and into `cu_seqlens` for
flash-attention) or through an explicit 4D additive mask (`packed_mask = "4d"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IGNORE = -100  # the label of a token the loss skips (PyTorch's cross_entropy ignore_index)


@dataclass(frozen=True, eq=False)  # arrays inside: equal means the same object
class Sample:
    """One tokenized sample: `labels[j]` is `input_ids[j]` where the loss covers token j, else IGNORE."""

    input_ids: np.ndarray  # int32
    labels: np.ndarray  # int32
    source: str = ""  # the row id it came from, for debugging and counts

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained(self) -> int:
        """Tokens the loss covers once shifted (the first token is never predicted)."""
        return int((self.labels[1:] != IGNORE).sum())

    @staticmethod
    def of(input_ids: Sequence[int], labels: Sequence[int], source: str = "") -> Sample:
        ids, lab = np.asarray(input_ids, dtype=np.int32), np.asarray(labels, dtype=np.int32)
        if ids.shape != lab.shape:
            raise ValueError(f"input_ids and labels differ in length: {ids.shape} vs {lab.shape}")
        return Sample(ids, lab, source)


def pack(samples: Sequence[Sample], seq_len: int, *, enabled: bool = True) -> list[list[Sample]]:
    """Rows of at most `seq_len` tokens, filled in order (one sample per row when not `enabled`)."""
    rows: list[list[Sample]] = []
    row: list[Sample] = []
    used = 0
    for sample in samples:
        if len(sample) > seq_len:
            raise ValueError(f"a sample of {len(sample)} tokens does not fit seq_len {seq_len}: truncate first")
        if not len(sample):
            continue
        if row and (not enabled or used + len(sample) > seq_len):
            rows.append(row)
            row, used = [], 0
        row.append(sample)
        used += len(sample)
    if row:
        rows.append(row)
    return rows


def segments(row: Sequence[Sample], length: int) -> np.ndarray:
    """Which sample each position of a padded row belongs to (padding is one more segment of its own)."""
    ids = np.full(length, len(row), dtype=np.int64)
    at = 0
    for index, sample in enumerate(row):
        ids[at:at + len(sample)] = index
        at += len(sample)
    return ids


def collate(rows: Sequence[Sequence[Sample]], pad_id: int, *, mask: str = "position_ids",
            dtype=None, multiple_of: int = 8) -> dict:
    """A micro batch of packed rows as tensors: input_ids, position_ids, targets (already shifted, IGNORE
    where nothing is trained) and, with `mask="4d"`, a (B, 1, L, L) additive attention mask of `dtype`."""
    import torch

    used = max(sum(len(s) for s in row) for row in rows)
    length = -(-used // multiple_of) * multiple_of
    input_ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    position_ids = np.zeros((len(rows), length), dtype=np.int64)
    targets = np.full((len(rows), length), IGNORE, dtype=np.int64)
    for b, row in enumerate(rows):
        at = 0
        for sample in row:
            n = len(sample)
            input_ids[b, at:at + n] = sample.input_ids
            position_ids[b, at:at + n] = np.arange(n)
            targets[b, at:at + n - 1] = sample.labels[1:]  # the sample's last token predicts nothing
            at += n
        position_ids[b, at:] = np.arange(length - at)  # padding: a segment of its own, never trained
    batch = {"input_ids": torch.from_numpy(input_ids), "position_ids": torch.from_numpy(position_ids),
             "targets": torch.from_numpy(targets)}
    if mask == "4d":
        seg = torch.from_numpy(np.stack([segments(row, length) for row in rows]))
        batch["attention_mask"] = block_causal_mask(seg, dtype or torch.float32)
    elif mask != "position_ids":
        raise ValueError(f"unknown packed mask {mask!r}")
    return batch


def block_causal_mask(segment_ids, dtype):
    """(B, L) segment ids -> (B, 1, L, L) additive mask: 0 where a query may attend (same segment, not in
    the future), the dtype's lowest value elsewhere."""
    import torch

    length = segment_ids.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    allowed = (same & causal)[:, None]
    out = torch.zeros(allowed.shape, dtype=dtype)
    return out.masked_fill(~allowed, torch.finfo(dtype).min)
