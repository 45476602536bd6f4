"""The pipeline's settings: the TOML file the CLI reads (`--config`) and the `config` parameter of every
pipeline flow are this one model, checked once where a flow starts.

Sections: [crawl], [extract] and `commit_rows` (ingest), [graph], [tasks] (with [tasks.teacher]), [agent],
[teacher] (the OpenAI-compatible endpoints the teacher policy talks to) and [filter] (judging, screening and
publishing). A [train] section may sit in the same file: the training jobs read it (training.config), the
pipeline leaves it out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from drsynth.filters.config import FilterConfig
from drsynth.synth.agent.synthesize import AgentConfig
from drsynth.synth.corpus.config import ExtractConfig, IngestConfig, load_toml
from drsynth.synth.corpus.crawler import CrawlConfig
from drsynth.synth.graph import GraphConfig
from drsynth.synth.sections import Section
from drsynth.synth.tasks import TaskConfig
from drsynth.synth.teacher.config import TeacherConfig

ELSEWHERE = ("train",)  # sections of the same file that the training jobs read


class Settings(Section):
    """drsynth's pipeline settings, one table per stage. Every key has a default: a run names only what it
    changes (a deployment run's keys are laid over the deployment's own)."""

    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
    """[crawl] The crawler: depth, page budget, politeness, the address policy."""
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    """[extract] Text extraction: worker processes, per-page timeout, size caps, batch sizes."""
    commit_rows: int = Field(500, ge=1)
    """Acquisition publishes a commit of its rows every this many rows (a crash loses at most these)."""
    graph: GraphConfig = Field(default_factory=GraphConfig)
    """[graph] The knowledge graph: mention linking and alias lengths."""
    tasks: TaskConfig = Field(default_factory=TaskConfig)
    """[tasks] QA task synthesis: subgraph sampling, the question writer, selection."""
    agent: AgentConfig = Field(default_factory=AgentConfig)
    """[agent] Trajectory synthesis: the agent's mode, policy, samples per task and limits."""
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    """[teacher] The OpenAI-compatible endpoints the teacher policy, the LLM judge and the CPT writer call."""
    filter: FilterConfig = Field(default_factory=FilterConfig)
    """[filter] Judging, trajectory checks, rejection sampling, dedup, decontamination and publishing."""

    @property
    def ingest(self) -> IngestConfig:
        return IngestConfig(crawl=self.crawl, extract=self.extract, commit_rows=self.commit_rows)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Settings:
        return cls.from_dict(pipeline_tables(load_toml(path)))


def pipeline_tables(data: Mapping[str, Any]) -> dict[str, Any]:
    """A settings file's tables without those the training jobs read."""
    return {key: value for key, value in data.items() if key not in ELSEWHERE}
