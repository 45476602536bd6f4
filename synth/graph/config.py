"""Graph settings: the `[graph]` section of the TOML config, or a dict of Prefect parameters."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from drsynth.synth.sections import Section

MentionLinking = Literal["auto", "always", "never"]
MENTION_LINKING: tuple[str, ...] = get_args(MentionLinking)


class GraphConfig(Section):
    """The `[graph]` section: how the knowledge graph links documents to entities."""

    mention_linking: MentionLinking = "auto"
    """Edges from entity names found in a document's text: "auto" only for documents without a
    resolvable hyperlink (text corpora), "always" for every document (besides its links), "never" none."""
    min_alias_chars: int = Field(4, ge=1, le=100)
    """Shortest surface form, in characters, kept as an alias to match or an anchor to keep; shorter ones
    are ignored."""
    max_alias_words: int = Field(8, ge=1, le=50)
    """Longest anchor or alias, in words, kept as a name; longer ones are sentences, not names."""
    docs_per_task: int = Field(1024, ge=1, le=10_000_000)
    """Documents one Prefect linking task handles (does not change the graph)."""

    def version_settings(self) -> dict[str, Any]:
        """The settings that change what a graph holds (batch sizes do not): part of its version."""
        return {"mention_linking": self.mention_linking, "min_alias_chars": self.min_alias_chars,
                "max_alias_words": self.max_alias_words}
