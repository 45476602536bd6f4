"""Walking the `lineage` view: from any record back to its sources, or forward to what it fed."""

from __future__ import annotations

import duckdb

# a recursive walk over child -> parent edges; `direction` picks which end we start from
_WALK = """
WITH RECURSIVE walk(id, dataset, depth, via) AS (
    SELECT ?::VARCHAR, NULL::VARCHAR, 0, NULL::VARCHAR
    UNION
    SELECT {next_id}, {next_dataset}, walk.depth + 1, walk.id
    FROM walk JOIN lineage ON lineage.{this_id} = walk.id
    WHERE walk.depth < 32
)
SELECT DISTINCT depth, id, dataset, via FROM walk WHERE depth > 0 ORDER BY depth, dataset, id
"""


def walk(con: duckdb.DuckDBPyConnection, record_id: str, *, forward: bool = False) -> list[tuple]:
    """(depth, id, dataset, via) for every ancestor (or, with forward=True, every descendant)."""
    sql = _WALK.format(
        next_id="lineage.child_id" if forward else "lineage.parent_id",
        next_dataset="lineage.child_dataset" if forward else "lineage.parent_dataset",
        this_id="parent_id" if forward else "child_id",
    )
    return con.execute(sql, [record_id]).fetchall()


def describe(con: duckdb.DuckDBPyConnection, dataset: str | None, record_id: str) -> str:
    """One line naming a record: the URL and fetch time of a page, the title of a document, ..."""
    if dataset is None:
        return "(a parent recorded in no dataset)"
    columns = {r[0] for r in con.execute(f'DESCRIBE "{dataset}"').fetchall()}
    names = ("url", "fetched_at", "title", "name", "relation", "shape", "stage", "reason", "kind", "mode", "level",
             "question", "answer", "status", "verdict", "pass_rate", "policy", "model", "run_id")
    wanted = [c for c in names if c in columns]
    row = con.execute(f'SELECT {", ".join(wanted)} FROM "{dataset}" WHERE id = ? LIMIT 1', [record_id]).fetchone()
    if row is None:
        return "(not found)"
    return "  ".join(f"{c}={v}" for c, v in zip(wanted, row, strict=True) if v is not None)


def find_dataset(con: duckdb.DuckDBPyConnection, record_id: str) -> str | None:
    row = con.execute(
        "SELECT child_dataset FROM lineage WHERE child_id = ? UNION SELECT parent_dataset FROM lineage "
        "WHERE parent_id = ? LIMIT 1", [record_id, record_id]
    ).fetchone()
    return row[0] if row else None
