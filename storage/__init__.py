"""Datasets of Parquet shards: schemas, atomic commits, manifests, the DuckDB catalog and lineage."""
