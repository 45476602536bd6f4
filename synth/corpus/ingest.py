"""The ingest stage as plain functions over a Store: acquire sources into `pages`, extract `documents`.

Flows call these one batch at a time; they never import Prefect. Extraction works from the manifest,
not from what acquisition returned: a page is pending until a document or an extract-stage quarantine
row names it as a parent, so an interrupted run resumes where it stopped and a rerun does nothing new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from drsynth.storage.batches import RowBatch, plan_batches
from drsynth.storage.store import Store
from drsynth.synth.corpus.config import IngestConfig
from drsynth.synth.corpus.extract import STAGE as EXTRACT_STAGE
from drsynth.synth.corpus.extract_pool import ExtractionPool
from drsynth.synth.corpus.limits import RecordLimits, oversized_document
from drsynth.synth.corpus.records import QUARANTINE_SAMPLE_BYTES, quarantine_record
from drsynth.synth.corpus.sources import read_source
from drsynth.synth.corpus.stage_output import StageOutput

PAGE_COLUMNS = ["id", "url", "final_url", "content_type", "body"]


def acquire(store: Store, run_id: str, source: str, config: IngestConfig) -> Counter[str]:
    """Crawl or read one source into `pages` (and `quarantine`), committing every `commit_rows` rows."""
    counts: Counter[str] = Counter()
    with StageOutput(store, run_id, "pages", stage="acquire", meta={"stage": "acquire", "source": source}) as out:
        pending = 0
        for dataset, row in read_source(source, config):
            counts[f"{dataset}.seen"] += 1
            if dataset == "quarantine":
                counts[f"quarantine.{row['stage']}.{row['reason']}"] += 1
            pending += out.write(dataset, row)
            if pending >= config.commit_rows:
                out.commit()
                pending = 0
    for dataset, w in out.writers.items():
        counts[f"{dataset}.added"] += w.stats["written"]
        counts[f"{dataset}.already_present"] += w.stats["duplicates"]
    return counts


# pages to extract: ids inside some row groups of one committed shard (a reference, not the rows)
PageBatch = RowBatch


def processed_page_ids(store: Store) -> set[str]:
    done: set[str] = set()
    for batch in store.scan("documents", ["parents"]):
        for parents in batch.column("parents").to_pylist():
            done.update(parents)
    for batch in store.scan("quarantine", ["parents", "stage"]):
        for parents, stage in zip(batch.column("parents").to_pylist(), batch.column("stage").to_pylist(),
                                  strict=True):
            if stage == "extract":
                done.update(parents)
    return done


def pending_batches(store: Store, pages_per_task: int) -> list[PageBatch]:
    """Every committed page no document or extract-stage quarantine row names yet, in batches."""
    done = processed_page_ids(store)
    return plan_batches(store, "pages", pages_per_task, keep=lambda i: i not in done)


def iter_pages(store: Store, batch: PageBatch) -> Iterator[dict]:
    return store.iter_row_groups(batch.file, batch.row_groups, PAGE_COLUMNS, ids=batch.ids)


def _chunks(rows: Iterator[dict], size: int, max_bytes: int, total: int, workers: int) -> Iterator[list[dict]]:
    """Work units for the pool: at most `size` pages and, past the first page, `max_bytes` of bodies.

    Near the end of a batch the units shrink, so that every worker finishes at about the same time
    instead of one idling while another works through a last full chunk.
    """
    chunk: list[dict] = []
    held, left = 0, total
    for row in rows:
        limit = max(1, min(size, -(-left // (2 * max(workers, 1)))))
        if chunk and (len(chunk) >= limit or held + len(row["body"] or b"") > max_bytes):
            left -= len(chunk)
            yield chunk
            chunk, held = [], 0
        chunk.append(row)
        held += len(row["body"] or b"")
    if chunk:
        yield chunk


def capped(dataset: str, row: dict, limits: RecordLimits) -> tuple[str, dict]:
    """A document past a per-record cap (synth.corpus.limits) becomes an extract-stage quarantine row
    naming its page, so a resumed run counts the page as done."""
    if dataset != "documents" or (refusal := oversized_document(row, limits)) is None:
        return dataset, row
    reason, detail = refusal
    field = row.get("title") if reason == "title_too_long" else row.get("text") if reason == "text_too_long" else ""
    return "quarantine", quarantine_record(
        stage=EXTRACT_STAGE, reason=reason, source=row.get("page_url") or row.get("url") or "", detail=detail,
        input=(field or "")[:QUARANTINE_SAMPLE_BYTES], parents=list(row["parents"]),
    )


def extract(store: Store, run_id: str, batch: PageBatch, pool: ExtractionPool, config: IngestConfig) -> Counter[str]:
    """Extract one batch of pages in the worker pool; one commit each to `documents` and `quarantine`.

    Pages stream from the shard into the pool chunk by chunk, so memory holds the chunks in flight,
    not the batch. The per-record caps are checked here, on what the workers return.
    """
    limits = config.extract.limits
    counts: Counter[str] = Counter()
    meta = {"stage": "extract", "pages_file": batch.file}
    chunks = _chunks(iter_pages(store, batch), config.extract.pages_per_chunk, config.extract.chunk_bytes,
                     len(batch.ids), pool.workers)
    with StageOutput(store, run_id, "documents", stage="extract", meta=meta) as out:
        for results in pool.map_batches(chunks):
            for dataset, row in (capped(*result, limits) for result in results):
                if out.write(dataset, row):
                    counts[dataset] += 1
                    if dataset == "quarantine":
                        counts[f"quarantine.extract.{row['reason']}"] += 1
    return counts
