"""Per-record size caps: what one input record may hold before it becomes a quarantine row.

A record past a cap is refused whole, never cut: a cut title or text would be a different document
under the same id. The caps are `[extract]` settings (`synth.corpus.config.ExtractConfig`):

- `max_title_chars` (1,000): a text record's or a dump page's title when read, a document's title when
  extracted -> `title_too_long`.
- `max_text_chars` (2,000,000): a text record's text when read, a document's text when extracted ->
  `text_too_long`.
- `max_field_chars` (10,000): every other string of a document (description, link anchors and targets,
  infobox labels and values, table cells, bold terms, categories, section titles) -> `field_too_long`.
  The page's own URL is not checked (it names the input), nor a link's context (a slice of the text).
- `max_record_bytes` (64 MiB): one JSONL line, or one whole JSON array file, decompressed ->
  `record_too_large`. Lines are read in bounded chunks, so a longer line is skipped, never held.

`[extract] max_bytes` (5 MiB) still bounds every page body (`oversize`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordLimits:
    max_title_chars: int = 1000  # a Wikipedia title is at most 255 bytes
    max_text_chars: int = 2_000_000
    max_field_chars: int = 10_000
    max_record_bytes: int = 64 * 2**20


# what names the page or the row rather than what the page says, and what has its own cap
_NOT_CONTENT = frozenset({"id", "parents", "url", "page_url", "title", "text", "extractor"})
# a slice of the text (a link's sentence), bounded by the text's own cap
_FROM_TEXT = frozenset({"context"})


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _FROM_TEXT:
                yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def oversized(title: str | None, text: str | None, limits: RecordLimits) -> tuple[str, str] | None:
    """(reason, detail) when a title or text is past its cap, else None."""
    if title is not None and len(title) > limits.max_title_chars:
        return "title_too_long", f"title of {len(title)} characters > max_title_chars {limits.max_title_chars}"
    if text is not None and len(text) > limits.max_text_chars:
        return "text_too_long", f"text of {len(text)} characters > max_text_chars {limits.max_text_chars}"
    return None


def oversized_document(document: Mapping[str, object], limits: RecordLimits) -> tuple[str, str] | None:
    """(reason, detail) for the first cap a `documents` row breaks, else None."""
    title, text = document.get("title"), document.get("text")
    found = oversized(title if isinstance(title, str) else None, text if isinstance(text, str) else None, limits)
    if found is not None:
        return found
    for key, value in document.items():
        if key in _NOT_CONTENT:
            continue
        for path, string in _strings(value, key):
            if len(string) > limits.max_field_chars:
                return "field_too_long", (f"{path} of {len(string)} characters > max_field_chars "
                                          f"{limits.max_field_chars}")
    return None
