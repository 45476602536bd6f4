"""A published dataset version, read by name from an output root's manifests (storage/published.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from drsynth.storage.published import Publication, PublicationError, read_publication, resolve
from drsynth.storage.store import Store

__all__ = ["PublicationError", "Published", "load_published"]


@dataclass(frozen=True)
class Published:
    publication: Publication
    table: pa.Table

    @property
    def name(self) -> str:
        """`dataset@version`: what the run records as read."""
        return self.publication.name

    def rows(self) -> list[dict]:
        return self.table.to_pylist()


def load_published(root: str, dataset: str, version: str = "latest", columns: list[str] | None = None) -> Published:
    """Exactly the rows of one published version (`latest`, `v…` or `dataset@v…`), in id order.

    Raises `PublicationError` when the dataset has no such version.
    """
    store = Store(root)
    publication = resolve(store, dataset, version)
    return Published(publication, read_publication(store, publication, columns))
