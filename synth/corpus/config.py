"""Ingest settings, from defaults, a TOML file (`--config`) or a dict (Prefect parameters)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drsynth.synth.corpus.crawler import CrawlConfig
from drsynth.synth.corpus.limits import RecordLimits


@dataclass
class ExtractConfig:
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    timeout_s: float = 30.0  # per page
    max_bytes: int = 5 * 2**20
    pages_per_task: int = 1024  # one Prefect task extracts this many pages (memory does not grow with it)
    pages_per_chunk: int = 16  # the unit of work handed to one worker process...
    chunk_bytes: int = 4 * 2**20  # ...and its bound in bytes: memory holds a few chunks in flight
    # per-record caps, checked when a source is read and when a document is extracted: a record past
    # one becomes a quarantine row (title_too_long, text_too_long, field_too_long, record_too_large);
    # see synth.corpus.limits
    max_title_chars: int = RecordLimits.max_title_chars
    max_text_chars: int = RecordLimits.max_text_chars
    max_field_chars: int = RecordLimits.max_field_chars
    max_record_bytes: int = RecordLimits.max_record_bytes  # one JSONL line / JSON array file, decompressed

    def __post_init__(self) -> None:
        for name in ("workers", "max_bytes", "pages_per_task", "pages_per_chunk", "chunk_bytes",
                     "max_title_chars", "max_text_chars", "max_field_chars", "max_record_bytes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"[extract] {name} must be >= 1, got {getattr(self, name)!r}")
        if float(self.timeout_s) <= 0:
            raise ValueError(f"[extract] timeout_s must be > 0, got {self.timeout_s!r}")

    @property
    def limits(self) -> RecordLimits:
        return RecordLimits(self.max_title_chars, self.max_text_chars, self.max_field_chars, self.max_record_bytes)


@dataclass
class IngestConfig:
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    commit_rows: int = 500  # acquisition publishes a commit every this many rows

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IngestConfig:
        data = dict(data or {})
        unknown = set(data) - {"crawl", "extract", "commit_rows"}
        if unknown:
            raise ValueError(f"unknown config section(s) {sorted(unknown)}; known: crawl, extract, commit_rows")
        for section in ("crawl", "extract"):
            if not isinstance(data.get(section, {}), dict):
                raise ValueError(f"[{section}] must be a table of settings, got {data[section]!r}")
        extract = dict(data.get("extract", {}))
        bad = set(extract) - {f.name for f in dataclasses.fields(ExtractConfig)}
        if bad:
            raise ValueError(f"unknown [extract] key(s) {sorted(bad)}")
        commit_rows = int(data.get("commit_rows", 500))
        if commit_rows < 1:
            raise ValueError(f"commit_rows must be >= 1, got {commit_rows}")
        return cls(crawl=CrawlConfig.from_dict(data.get("crawl", {})), extract=ExtractConfig(**extract),
                   commit_rows=commit_rows)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> IngestConfig:
        return cls.from_dict(load_toml(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    with Path(path).open("rb") as handle:
        return tomllib.load(handle)
