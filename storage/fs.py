"""Where a dataset root lives: a local path by default, any fsspec URL (s3://, gs://, memory://) too."""

from __future__ import annotations

import os
from dataclasses import dataclass

import fsspec
from fsspec.implementations.local import LocalFileSystem


@dataclass(frozen=True)
class Root:
    fs: fsspec.AbstractFileSystem
    path: str  # root path inside `fs`, without a trailing slash
    protocol: str  # "file" for local roots

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def join(self, *parts: str) -> str:
        return "/".join([self.path, *[p.strip("/") for p in parts if p]])

    def url(self, path: str) -> str:
        """A path inside the root as a URL another tool (DuckDB, polars, datasets) can open."""
        return path if self.is_local else f"{self.protocol}://{path}"


def open_root(root: str | os.PathLike[str], storage_options: dict | None = None) -> Root:
    root = os.fspath(root)
    if "://" not in root or root.startswith("file://"):
        local = os.path.abspath(root.removeprefix("file://"))
        os.makedirs(local, exist_ok=True)
        return Root(LocalFileSystem(), local.rstrip("/") or "/", "file")
    fs, path = fsspec.core.url_to_fs(root, **(storage_options or {}))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    fs.makedirs(path, exist_ok=True)
    return Root(fs, path.rstrip("/"), protocol)


def fsync_path(path: str) -> None:
    """fsync a local file or directory (a directory, so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
