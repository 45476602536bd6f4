"""The whole TOML settings file, split into each stage's section and checked before any flow starts.

Sections: [crawl], [extract] and `commit_rows` (ingest), [graph], [tasks] (with [tasks.teacher]), [agent],
[teacher] (the OpenAI-compatible endpoints the teacher policy talks to) and [filter] (judging, screening and
publishing). A [train] section may sit in the same file: the training jobs read it, the pipeline skips it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drsynth.filters.config import FilterConfig
from drsynth.synth.agent.synthesize import AgentConfig
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.graph import GraphConfig
from drsynth.synth.tasks import TaskConfig
from drsynth.synth.teacher.config import TeacherConfig

INGEST_KEYS = ("crawl", "extract", "commit_rows")
SECTIONS = (*INGEST_KEYS, "graph", "tasks", "agent", "teacher", "filter")
ELSEWHERE = ("train",)  # read by the training jobs


@dataclass(frozen=True)
class Settings:
    ingest: IngestConfig
    graph: GraphConfig
    tasks: TaskConfig
    agent: AgentConfig
    teacher: TeacherConfig
    filter: FilterConfig = field(default_factory=FilterConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Settings:
        data = dict(data or {})
        unknown = set(data) - set(SECTIONS) - set(ELSEWHERE)
        if unknown:
            raise ValueError(f"unknown config section(s) {sorted(unknown)}; known: {', '.join(SECTIONS + ELSEWHERE)}")
        for section in ("graph", "tasks", "agent", "teacher", "filter"):
            if not isinstance(data.get(section, {}), dict):
                raise ValueError(f"[{section}] must be a table of settings, got {data[section]!r}")
        return cls(
            ingest=IngestConfig.from_dict({k: data[k] for k in INGEST_KEYS if k in data}),
            graph=GraphConfig.from_dict(data.get("graph")),
            tasks=TaskConfig.from_dict(data.get("tasks")),
            agent=AgentConfig.from_dict(data.get("agent")),
            teacher=TeacherConfig.from_dict(data.get("teacher")),
            filter=FilterConfig.from_dict(data.get("filter")),
        )
