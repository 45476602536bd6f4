"""Published dataset versions: named, immutable sets of rows that training jobs read.

A dataset is append-only and accumulates rows from every run (and every filter setting). Publishing
names an exact set of its ids as a version: `<root>/_published/<dataset>/<version>.json` (the manifest:
which committed shards hold the rows, how many, which run made it) beside `<version>.ids.parquet` (the
ids, with `dataset` and `version` columns, so the catalog's `published` view can join on them).

The version name is derived from the ids, so publishing the same rows again names the same version and
writes nothing; a manifest, once written, is never rewritten. Both files are written whole or not at
all (tmp + fsync + rename locally, one PUT on object stores), the ids before the manifest, so a
manifest never names ids that are not there.

`LATEST` beside them names the version the last `publish` named, and is the one file that changes: a
version published again after another one (settings A, B, then A again) is the latest again, although
its manifest is older.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drsynth.storage.fs import fsync_path
from drsynth.storage.ids import content_id
from drsynth.storage.schemas import schema_for
from drsynth.storage.store import Store

PUBLISHED_DIR = "_published"
LATEST = "LATEST"  # not `.json`: never taken for a manifest
IDS_SCHEMA = pa.schema([("dataset", pa.string()), ("version", pa.string()), ("id", pa.string())])


class PublicationError(LookupError):
    """A version that does not exist, or a dataset never published."""


@dataclass(frozen=True)
class Publication:
    dataset: str
    version: str
    run_id: str
    created_at: str
    rows: int
    files: tuple[str, ...]  # committed shards holding the rows, relative to the dataset directory
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """`dataset@version`, the form runs and the CLI use."""
        return f"{self.dataset}@{self.version}"

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = list(self.files)
        return json.dumps(data, sort_keys=True, indent=1)

    @staticmethod
    def from_json(text: str) -> Publication:
        data = json.loads(text)
        data["files"] = tuple(data["files"])
        return Publication(**data)


def version_name(dataset: str, ids: Iterable[str]) -> str:
    """The version a set of ids is published as: a hash of the dataset and the sorted ids."""
    return "v" + content_id("publication", dataset, *sorted(set(ids)))[:16]


def _directory(store: Store, dataset: str) -> str:
    return store.root.join(PUBLISHED_DIR, dataset)


def _write_whole(store: Store, path: str, data: bytes) -> None:
    root = store.root
    if not root.is_local:
        root.fs.pipe_file(path, data)
        return
    # unique per call: two threads of one process may write the same file (LATEST) at once
    tmp = f"{os.path.dirname(path)}/.tmp-{os.path.basename(path)}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(os.path.dirname(path))


def publish(store: Store, dataset: str, ids: Iterable[str], run_id: str, meta: dict | None = None) -> Publication:
    """Name the committed rows `ids` of `dataset` as a version (the existing one when the same ids were
    published before). Every id must be committed: a version never names rows that are not there."""
    schema_for(dataset)
    wanted = set(ids)
    version = version_name(dataset, wanted)
    existing = _read_manifest(store, dataset, version)
    if existing is not None:
        _point_latest(store, dataset, version)
        return existing
    files: list[str] = []
    found: set[str] = set()
    for commit in store.commits(dataset):
        for shard in commit.files:
            held = wanted.intersection(store._read_column(store.root.url(store.root.join(dataset, shard.path)), "id"))
            if held:
                files.append(shard.path)
                found |= held
    missing = wanted - found
    if missing:
        raise PublicationError(f"{dataset}: {len(missing)} ids to publish are not committed, e.g. {min(missing)}")
    publication = Publication(
        dataset=dataset, version=version, run_id=run_id,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        rows=len(wanted), files=tuple(files), meta=dict(meta or {}),
    )
    directory = _directory(store, dataset)
    store.root.fs.makedirs(directory, exist_ok=True)
    table = pa.table({"dataset": [dataset] * len(wanted), "version": [version] * len(wanted),
                      "id": sorted(wanted)}, schema=IDS_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    _write_whole(store, f"{directory}/{version}.ids.parquet", buffer.getvalue())
    _write_whole(store, f"{directory}/{version}.json", publication.to_json().encode("utf-8"))
    _point_latest(store, dataset, version)
    return publication


def _point_latest(store: Store, dataset: str, version: str) -> None:
    _write_whole(store, f"{_directory(store, dataset)}/{LATEST}", version.encode("utf-8"))


def _latest(store: Store, dataset: str) -> Publication | None:
    """The version `LATEST` names; roots published before it existed: the newest manifest."""
    path = f"{_directory(store, dataset)}/{LATEST}"
    if store.root.fs.exists(path):
        found = _read_manifest(store, dataset, store.root.fs.cat_file(path).decode("utf-8").strip())
        if found is not None:
            return found
    versions = publications(store, dataset)
    return versions[-1] if versions else None


def _read_manifest(store: Store, dataset: str, version: str) -> Publication | None:
    path = f"{_directory(store, dataset)}/{version}.json"
    if not store.root.fs.exists(path):
        return None
    return Publication.from_json(store.root.fs.cat_file(path).decode("utf-8"))


def publications(store: Store, dataset: str | None = None) -> list[Publication]:
    """Every published version (of one dataset, or of all), oldest first."""
    base = store.root.join(PUBLISHED_DIR)
    if not store.root.fs.exists(base):
        return []
    datasets = [dataset] if dataset else sorted(
        p.rstrip("/").rsplit("/", 1)[-1] for p in store.root.fs.ls(base, detail=False))
    found = []
    for name in datasets:
        directory = _directory(store, name)
        if not store.root.fs.exists(directory):
            continue
        for path in store.root.fs.ls(directory, detail=False):
            base_name = path.rsplit("/", 1)[-1]
            if base_name.endswith(".json") and not base_name.startswith("."):
                found.append(Publication.from_json(store.root.fs.cat_file(path).decode("utf-8")))
    return sorted(found, key=lambda p: (p.created_at, p.dataset, p.version))


def resolve(store: Store, dataset: str, version: str = "latest") -> Publication:
    """A version by name (`v…` or `dataset@v…`), or with "latest" the one the last `publish` named."""
    if "@" in version:
        named, version = version.split("@", 1)
        if named != dataset:
            raise PublicationError(f"version {named}@{version} is not a version of {dataset}")
    if version == "latest":
        latest = _latest(store, dataset)
        if latest is None:
            raise PublicationError(f"{dataset} has no published version under {store.uri}")
        return latest
    found = _read_manifest(store, dataset, version)
    if found is None:
        known = [p.version for p in publications(store, dataset)]
        raise PublicationError(f"{dataset} has no version {version!r}; published: {known or 'none'}")
    return found


def published_ids(store: Store, publication: Publication) -> pa.Array:
    path = f"{_directory(store, publication.dataset)}/{publication.version}.ids.parquet"
    return pq.read_table(path, columns=["id"], filesystem=store.root.fs)["id"]


def read_publication(store: Store, publication: Publication, columns: list[str] | None = None) -> pa.Table:
    """Exactly the rows of a published version, in id order."""
    ids = published_ids(store, publication)
    wanted = columns if columns is None or "id" in columns else ["id", *columns]
    parts = []
    for relative in publication.files:
        table = store.read_shard(store.root.url(store.root.join(publication.dataset, relative)), wanted)
        parts.append(table.filter(pc.is_in(table["id"], value_set=ids)))
    schema = schema_for(publication.dataset)
    if not parts:
        empty = schema.empty_table()
        return empty if wanted is None else empty.select(wanted)
    table = pa.concat_tables(parts, promote_options="default")
    table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
    if table.num_rows:
        # a row sits in two shards only when two runs committed it at once: keep one
        ids_sorted = table["id"].to_pylist()
        keep = [i for i in range(len(ids_sorted)) if i == 0 or ids_sorted[i] != ids_sorted[i - 1]]
        if len(keep) != table.num_rows:
            table = table.take(pa.array(keep, pa.int64()))
    if columns is not None and "id" not in columns:
        table = table.select(columns)
    return table


def ids_files(store: Store) -> list[str]:
    """The ids file of every publication, for the catalog's `published` view."""
    return [store.root.url(f"{_directory(store, p.dataset)}/{p.version}.ids.parquet") for p in publications(store)]
