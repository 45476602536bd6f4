"""The DuckDB catalog: one view per dataset over committed shards only, plus `lineage` and `runs`.

`duckdb <root>/catalog.duckdb` is all an analyst needs. The catalog is derived data: it is rebuilt
from the manifests after every stage, into a temporary file that replaces the old one atomically, so
an analyst's open session keeps the snapshot it opened and never blocks a run.
"""

from __future__ import annotations

import json
import os
import uuid

import duckdb
import pyarrow as pa

from drsynth.storage.published import IDS_SCHEMA, ids_files, publications
from drsynth.storage.schemas import SCHEMAS, schema_for
from drsynth.storage.store import Store

CATALOG_FILE = "catalog.duckdb"
# datasets whose rows are events; the view of the same name shows each run's latest state
EVENT_LOGS = {"runs": ("run_events", "run_id, flow", "updated_at")}
# trajectories are written once, `pending`; the filter's decisions live in `judgments`. The view shows
# each trajectory with its latest decision (the raw rows stay in `trajectory_rows`).
JUDGED = "trajectory_rows"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _empty_select(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> str:
    """A typed, empty SELECT for a dataset with no commits yet, so its view already has its columns."""
    con.register("_empty", schema.empty_table())
    types = con.execute("SELECT column_name, column_type FROM (DESCRIBE _empty)").fetchall()
    con.unregister("_empty")
    cols = ", ".join(f"CAST(NULL AS {t}) AS {_quote(c)}" for c, t in types)
    return f"SELECT {cols} WHERE false"


def _source_select(con: duckdb.DuckDBPyConnection, store: Store, dataset: str) -> str:
    files = store.files(dataset)
    if not files:
        return _empty_select(con, schema_for(dataset))
    listing = ", ".join(_sql_str(f) for f in files)
    return f"SELECT * FROM read_parquet([{listing}], union_by_name = true)"


def catalog_path(store: Store) -> str:
    if store.root.is_local:
        return os.path.join(store.root.path, CATALOG_FILE)
    # DuckDB cannot write a database file onto an object store: keep it in the working directory
    return os.path.abspath(f"{store.root.protocol}_{store.root.path.replace('/', '_')}.{CATALOG_FILE}")


def build_catalog(store: Store, path: str | None = None) -> str:
    """(Re)build the catalog file; returns its path."""
    path = path or catalog_path(store)
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    datasets = sorted(set(SCHEMAS) | set(store.datasets()))
    con = duckdb.connect(tmp)
    try:
        if not store.root.is_local:
            # DuckDB reads the shards through the same fsspec filesystem; a later session opening
            # this catalog needs that filesystem too (httpfs and credentials for s3://, gs://)
            con.register_filesystem(store.root.fs)
        for dataset in datasets:
            select = _source_select(con, store, dataset)
            if dataset in EVENT_LOGS:
                raw, key, order = EVENT_LOGS[dataset]
                con.execute(f"CREATE VIEW {_quote(raw)} AS {select}")
                con.execute(
                    f"CREATE VIEW {_quote(dataset)} AS SELECT * FROM {_quote(raw)} "
                    f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order} DESC) = 1"
                )
            elif dataset == "trajectories":
                con.execute(f"CREATE VIEW {JUDGED} AS {select}")
                con.execute(_judged_view(current_filter(store)))
            else:
                con.execute(f"CREATE VIEW {_quote(dataset)} AS {select}")
        con.execute(_lineage_view(datasets))
        _commits_table(con, store, datasets)
        _publications(con, store)
        con.close()
        os.replace(tmp, path)
    except BaseException:
        con.close()
        for leftover in (tmp, f"{tmp}.wal"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    return path


def current_filter(store: Store) -> str | None:
    """The filter setting of the newest run that judged: its decisions are the ones the view shows (a rerun of
    an older setting writes no new judgments, yet it is the current one again)."""
    newest: tuple | None = None
    for row in store.rows("runs", ["counts", "updated_at"]):
        try:
            fingerprint = json.loads(row["counts"] or "{}").get("filter")
        except ValueError:
            continue
        if fingerprint and (newest is None or row["updated_at"] > newest[0]):
            newest = (row["updated_at"], fingerprint)
    return newest[1] if newest else None


def _judged_view(fingerprint: str | None) -> str:
    chosen = f"WHERE filter = {_sql_str(fingerprint)} " if fingerprint else ""
    return (
        "CREATE VIEW trajectories AS WITH decided AS (SELECT trajectory_id, status, rejection FROM judgments "
        f"{chosen}QUALIFY row_number() OVER (PARTITION BY trajectory_id ORDER BY \"at\" DESC, id DESC) = 1) "
        "SELECT t.* REPLACE (coalesce(d.status, t.status) AS status, "
        "CASE WHEN d.status IS NULL THEN t.reason WHEN d.status = 'rejected' THEN d.rejection ELSE t.reason END "
        f"AS reason) FROM {JUDGED} t LEFT JOIN decided d ON d.trajectory_id = t.id"
    )


def _publications(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    """`publications` (one row per published version) and `published` (dataset, version, id)."""
    found = publications(store)
    rows = [{"dataset": p.dataset, "version": p.version, "name": p.name, "run_id": p.run_id,
             "created_at": p.created_at, "rows": p.rows} for p in found]
    schema = pa.schema([("dataset", pa.string()), ("version", pa.string()), ("name", pa.string()),
                        ("run_id", pa.string()), ("created_at", pa.string()), ("rows", pa.int64())])
    con.register("_publications", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE TABLE publications AS SELECT * REPLACE (CAST(created_at AS TIMESTAMPTZ) AS created_at) "
                "FROM _publications")
    con.unregister("_publications")
    files = ids_files(store)
    if files:
        listing = ", ".join(_sql_str(f) for f in files)
        con.execute(f"CREATE VIEW published AS SELECT dataset, version, id FROM read_parquet([{listing}])")
    else:
        con.execute(f"CREATE VIEW published AS {_empty_select(con, IDS_SCHEMA)}")


def _lineage_view(datasets: list[str]) -> str:
    """child -> parent edges across all datasets, the parent's dataset found by its id."""
    with_parents = [d for d in datasets if d not in EVENT_LOGS]
    ids = " UNION ALL ".join(f"SELECT id, {_sql_str(d)} AS dataset FROM {_quote(d)}" for d in with_parents)
    edges = " UNION ALL ".join(
        f"SELECT id AS child_id, {_sql_str(d)} AS child_dataset, unnest(parents) AS parent_id FROM {_quote(d)}"
        for d in with_parents
    )
    return (
        f"CREATE VIEW lineage AS WITH ids AS ({ids}), edges AS ({edges}) "
        "SELECT e.child_id, e.child_dataset, e.parent_id, ids.dataset AS parent_dataset "
        "FROM edges e LEFT JOIN ids ON ids.id = e.parent_id"
    )


def _commits_table(con: duckdb.DuckDBPyConnection, store: Store, datasets: list[str]) -> None:
    """A snapshot of the manifest: which commit (dataset version) holds what, written by which run."""
    rows = [
        {
            "dataset": c.dataset,
            "commit_id": c.commit_id,
            "run_id": c.run_id,
            "created_at": c.created_at,
            "rows": c.rows,
            "files": len(c.files),
            "stage": str(c.meta.get("stage", "")),
        }
        for d in datasets
        for c in store.commits(d)
    ]
    schema = pa.schema(
        [("dataset", pa.string()), ("commit_id", pa.string()), ("run_id", pa.string()), ("created_at", pa.string()),
         ("rows", pa.int64()), ("files", pa.int64()), ("stage", pa.string())]
    )
    con.register("_commits", pa.Table.from_pylist(rows, schema=schema))
    con.execute("CREATE TABLE commits AS SELECT * REPLACE (CAST(created_at AS TIMESTAMPTZ) AS created_at) FROM _commits")
    con.unregister("_commits")


