"""Graph settings: the `[graph]` section of the TOML config, or a dict of Prefect parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from drsynth.synth.sections import section_items

MENTION_LINKING = ("auto", "always", "never")


@dataclass(frozen=True)
class GraphConfig:
    # mention edges: "auto" only for documents without a resolvable hyperlink (text corpora),
    # "always" for every document (besides its links), "never"
    mention_linking: str = "auto"
    min_alias_chars: int = 4  # shorter surface forms are neither aliases to match nor anchors to keep
    max_alias_words: int = 8  # longer anchors are sentences, not names
    docs_per_task: int = 1024  # one Prefect task links this many documents

    def __post_init__(self) -> None:
        if self.mention_linking not in MENTION_LINKING:
            raise ValueError(f"[graph] mention_linking must be one of {MENTION_LINKING}, got {self.mention_linking!r}")
        for name, low, high in (("min_alias_chars", 1, 100), ("max_alias_words", 1, 50),
                                ("docs_per_task", 1, 10_000_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"[graph] {name} must be an integer in [{low}, {high}], got {value!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GraphConfig:
        return cls(**section_items(cls, data, "graph"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def version_settings(self) -> dict[str, Any]:
        """The settings that change what a graph holds (batch sizes do not): part of its version."""
        return {"mention_linking": self.mention_linking, "min_alias_chars": self.min_alias_chars,
                "max_alias_words": self.max_alias_words}
