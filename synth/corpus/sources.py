"""Which kind of source a string names, and the reader for it: crawl, HTML directory, WARC, ZIM, text corpus,
MediaWiki XML dump."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.crawler import Crawler
from drsynth.synth.corpus.local_sources import STAGE as READ_STAGE
from drsynth.synth.corpus.local_sources import read_html_dir, read_text_corpus, read_warc
from drsynth.synth.corpus.records import quarantine_record
from drsynth.synth.corpus.wikidump import DUMP_SUFFIXES, is_wikidump, read_wikidump
from drsynth.synth.corpus.zim import read_zim

Row = tuple[str, dict]


def source_kind(source: str) -> str:
    """crawl | html_dir | warc | zim | text | wikidump | unknown."""
    if source.startswith(("http://", "https://")):
        return "crawl"
    path = Path(source)
    name = path.name.lower()
    if path.is_dir():
        return "html_dir"
    if name.endswith((".warc", ".warc.gz", ".arc", ".arc.gz")):
        return "warc"
    if name.endswith(".zim"):
        return "zim"
    if name.endswith((".json", ".jsonl", ".ndjson", ".jsonl.gz")):
        return "text"
    if name.endswith(DUMP_SUFFIXES):
        # any XML file ends in .xml: only a MediaWiki export (root <mediawiki>) is a dump
        return "wikidump" if not path.exists() or is_wikidump(path) else "unknown"
    return "unknown"


def read_source(source: str, config: IngestConfig) -> Iterator[Row]:
    """The rows of one source; a source that gives none (an empty file or directory, an archive with
    no response records or no articles) is one `empty_source` row, so no input leaves no trace."""
    empty = True
    for row in _read(source, config):
        empty = False
        yield row
    if empty:
        yield "quarantine", quarantine_record(stage=READ_STAGE, reason="empty_source", source=source,
                                              detail=f"{source_kind(source)} source with nothing to read")


def _read(source: str, config: IngestConfig) -> Iterator[Row]:
    kind = source_kind(source)
    if kind != "crawl" and not os.path.exists(source):
        yield "quarantine", quarantine_record(stage=READ_STAGE, reason="missing_source", source=source,
                                              detail="no such file or directory")
    elif kind == "crawl":
        yield from Crawler(config.crawl).crawl_sync([source])
    elif kind == "html_dir":
        yield from read_html_dir(source, max_bytes=config.extract.max_bytes)
    elif kind == "warc":
        yield from read_warc(source, max_bytes=config.extract.max_bytes)
    elif kind == "zim":
        yield from read_zim(source, max_bytes=config.extract.max_bytes)
    elif kind == "text":
        yield from read_text_corpus(source, limits=config.extract.limits)
    elif kind == "wikidump":
        yield from read_wikidump(source, max_bytes=config.extract.max_bytes,
                                 max_title_chars=config.extract.max_title_chars)
    else:
        yield "quarantine", quarantine_record(
            stage=READ_STAGE, reason="unknown_source", source=source,
            detail="expected an http(s) URL, a directory of HTML, a .warc/.warc.gz, a .zim archive, "
                   "a .json/.jsonl corpus or a MediaWiki XML dump (.xml, .xml.bz2, .xml.gz)",
        )
