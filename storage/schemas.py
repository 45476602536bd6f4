"""Every dataset's schema, declared once.

The catalog contract (DESIGN §2) makes view and column names binding: columns may be added, never
renamed or removed. Every dataset starts with the lineage columns `id`, `run_id`, `parents`.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

LINEAGE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("parents", pa.list_(pa.string()), nullable=False),
]

LINK = pa.struct(
    [
        ("href", pa.string()),
        ("anchor", pa.string()),
        ("context", pa.string()),
        # where the link sits: "text" (main content), "infobox" or "table"
        ("kind", pa.string()),
    ]
)

INFOBOX_ENTRY = pa.struct(
    [
        ("key", pa.string()),
        ("value", pa.string()),
        ("links", pa.list_(pa.struct([("href", pa.string()), ("anchor", pa.string())]))),
    ]
)

TABLE = pa.struct(
    [
        ("caption", pa.string()),
        ("header", pa.list_(pa.string())),
        ("rows", pa.list_(pa.list_(pa.string()))),
    ]
)


def _schema(*fields: pa.Field) -> pa.Schema:
    return pa.schema([*LINEAGE_FIELDS, *fields])


SCHEMAS: dict[str, pa.Schema] = {
    # one row per successful fetch or read of a source item; the raw bytes travel in `body`
    "pages": _schema(
        pa.field("url", pa.string()),
        pa.field("final_url", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("headers", pa.string()),  # JSON object
        pa.field("fetched_at", TIMESTAMP),
        pa.field("body", pa.binary()),
        pa.field("body_sha256", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("depth", pa.int32()),
        pa.field("source", pa.string()),  # the seed URL, directory, WARC or corpus file it came from
        pa.field("source_kind", pa.string()),  # crawl | html_dir | warc | text
    ),
    "documents": _schema(
        pa.field("url", pa.string()),
        pa.field("page_url", pa.string()),  # the URL as requested, before redirects
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("date", pa.string()),  # ISO 8601 date as found in the page, or null
        pa.field("description", pa.string()),
        pa.field("links", pa.list_(LINK)),
        pa.field("infobox", pa.list_(INFOBOX_ENTRY)),
        pa.field("tables", pa.list_(TABLE)),
        pa.field("bold_terms", pa.list_(pa.string())),  # bold names in the lead: alias candidates
        pa.field("canonical_url", pa.string()),  # <link rel="canonical">: one URL for a page's copies
        pa.field("word_count", pa.int32()),
        pa.field("extractor", pa.string()),
    ),
    # bad input never disappears: it lands here with the stage that refused it and why
    "quarantine": _schema(
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),  # short code: oversize, binary, http_404, robots, ...
        pa.field("detail", pa.string()),  # human-readable explanation
        pa.field("source", pa.string()),  # URL or path of the offending input
        pa.field("input", pa.binary()),  # first bytes of the input, for debugging
        pa.field("input_size", pa.int64()),
        pa.field("at", TIMESTAMP),
    ),
    # an event log: one row per state change of a run; the `runs` view shows the latest
    "runs": _schema(
        pa.field("flow", pa.string()),
        pa.field("parameters", pa.string()),  # JSON object
        pa.field("code_version", pa.string()),
        pa.field("started_at", TIMESTAMP),
        pa.field("ended_at", TIMESTAMP),
        pa.field("status", pa.string()),  # running | completed | failed
        pa.field("counts", pa.string()),  # JSON object: dataset -> rows added, quarantine reasons, ...
        pa.field("flow_run_id", pa.string()),
        pa.field("error", pa.string()),
        pa.field("updated_at", TIMESTAMP),
    ),
}


def schema_for(dataset: str) -> pa.Schema:
    try:
        return SCHEMAS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; declared: {sorted(SCHEMAS)}") from None
