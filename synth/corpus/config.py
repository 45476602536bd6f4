"""Ingest settings, from defaults, a TOML file (`--config`) or a dict (Prefect parameters)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field

from drsynth.synth.corpus.crawler import CrawlConfig
from drsynth.synth.corpus.limits import RecordLimits
from drsynth.synth.sections import Section


def _cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


class ExtractConfig(Section):
    """The `[extract]` section: turning fetched pages into documents (worker processes, per-page timeout,
    batch sizes) and the per-record size caps applied when a source is read and a document extracted."""

    workers: int = Field(default_factory=_cpu_count, ge=1)
    """Extraction worker processes. Default: the machine's CPU count."""
    timeout_s: float = Field(30.0, gt=0)
    """Seconds one page's extraction may take; a slower page becomes a `timeout` quarantine row."""
    max_bytes: int = Field(5 * 2**20, ge=1)
    """Largest page body in bytes, for pages read from local sources (HTML directories, WARC, ZIM, dumps)
    and for extraction; a larger one becomes an `oversize` quarantine row."""
    pages_per_task: int = Field(1024, ge=1)
    """Pages one Prefect extraction task handles (memory does not grow with it)."""
    pages_per_chunk: int = Field(16, ge=1)
    """Pages handed to one worker process at a time: the unit of work of the pool."""
    chunk_bytes: int = Field(4 * 2**20, ge=1)
    """Bound in bytes of one chunk of pages: memory holds a few chunks in flight."""
    # the per-record caps (synth.corpus.limits): a record past one becomes a quarantine row
    max_title_chars: int = Field(RecordLimits.max_title_chars, ge=1)
    """Longest title, in characters, of a text record, a dump page or an extracted document; a longer one
    becomes a `title_too_long` quarantine row."""
    max_text_chars: int = Field(RecordLimits.max_text_chars, ge=1)
    """Longest text, in characters, of a text record or an extracted document; a longer one becomes a
    `text_too_long` quarantine row."""
    max_field_chars: int = Field(RecordLimits.max_field_chars, ge=1)
    """Longest other string of a document, in characters (description, link anchor or target, infobox
    label or value, table cell, bold term, category, section title); past it: a `field_too_long`
    quarantine row."""
    max_record_bytes: int = Field(RecordLimits.max_record_bytes, ge=1)
    """Largest input record in bytes, decompressed: one JSONL line or one whole JSON array file; a larger
    one becomes a `record_too_large` quarantine row."""

    @property
    def limits(self) -> RecordLimits:
        return RecordLimits(self.max_title_chars, self.max_text_chars, self.max_field_chars, self.max_record_bytes)


class IngestConfig(Section):
    """The ingest settings: the `[crawl]` and `[extract]` sections and the top-level `commit_rows`."""

    crawl: CrawlConfig = Field(default_factory=CrawlConfig)
    """[crawl] The crawler: depth, page budget, politeness, the address policy."""
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    """[extract] Text extraction: worker processes, per-page timeout, batch sizes, record size caps."""
    commit_rows: int = Field(500, ge=1)
    """Acquisition publishes a commit of its rows every this many rows (a crash loses at most these)."""

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> IngestConfig:
        return cls.from_dict(load_toml(path))


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    with Path(path).open("rb") as handle:
        return tomllib.load(handle)
