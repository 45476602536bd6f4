"""Steps that infra/prefect.yaml runs around its deployments: `require_env` when `prefect deploy` builds
one, `use_code` when a worker pulls one.

Prefect leaves a `{{ $VAR }}` that is not set in place (then blanks it), so a deployment would be saved
with `out: ''`; `require_env` turns that into a failed deploy that names every missing variable.
`use_code` reads its choice from the worker's environment, not from the deployer's: one deployment runs
from a checkout on a VM, from the image, or from a fresh git clone, whichever worker picks it up.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# the worker's environment: where the code the entrypoints name lives
CODE_DIR = "DRSYNTH_CODE_DIR"
GIT_URL = "DRSYNTH_GIT_URL"
GIT_REF = "DRSYNTH_GIT_REF"
# a folder holds drsynth's code when it holds this file
MARKER = Path("flows") / "pipeline.py"
# the folders of a checkout that install as drsynth.<folder> (setup.py)
FOLDERS = ("flows", "storage", "synth", "filters", "training")
# inside a clone: drsynth/<folder> links to the clone's folders, put ahead of the installed drsynth
IMPORT_DIR = ".drsynth-import"
# the folder the installed drsynth.flows comes from sits in this one
INSTALLED = Path(__file__).resolve().parents[1]


class MissingEnvironment(SystemExit):
    """The deployer's environment lacks variables a deployment's definition needs. A SystemExit, because
    `prefect deploy` turns any Exception into a page of traceback but lets this one end it: the message
    alone, exit status 1."""


def require_env(names: Sequence[str], absolute: Sequence[str] = ()) -> dict[str, str]:
    """Build step: fail the deploy, naming them, when any of `names` is unset or empty; each of `absolute`
    must also be an absolute path or a URL, since the worker resolves a relative one against its own
    working directory, not the deployer's, and end in no slash (the deployments append to it). Returns
    the values (step outputs)."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise MissingEnvironment(
            f"set the environment variable{'s' * (len(missing) > 1)} {', '.join(missing)} before "
            "`prefect deploy` (their meaning: infra/README.md)"
        )
    relative = [name for name in absolute if not _absolute(os.environ[name])]
    if relative:
        raise MissingEnvironment(
            ", ".join(f"{name}={os.environ[name]!r}" for name in relative)
            + ": give an absolute path or a URL (s3://…), without a trailing slash: a worker runs in "
            "another directory"
        )
    return {name: os.environ[name] for name in names}


def _absolute(value: str) -> bool:
    return (os.path.isabs(value) or "://" in value) and not value.endswith("/")


def use_code(directory: str = "", repository: str = "", ref: str = "") -> dict[str, str]:
    """Pull step: change into the drsynth code a deployment runs; its relative paths (the demo corpus) are
    relative to it.

    A git clone of `repository` (else $DRSYNTH_GIT_URL) at `ref` (else $DRSYNTH_GIT_REF, else its default
    branch) when one is named; otherwise `directory` (else $DRSYNTH_CODE_DIR: a checkout, /opt/drsynth in
    the image); otherwise the code of the installed drsynth itself, which is the checkout for an editable
    install."""
    repository = repository or os.environ.get(GIT_URL, "")
    if repository:
        return _clone(repository, ref or os.environ.get(GIT_REF, ""))
    path = Path(directory or os.environ.get(CODE_DIR) or INSTALLED)
    if not (path / MARKER).is_file():
        raise FileNotFoundError(
            f"{path} holds no drsynth code (no {MARKER}): set {CODE_DIR} on the worker to a checkout, "
            f"or {GIT_URL} to clone one"
        )
    os.chdir(path)
    if path.resolve() != INSTALLED:  # another checkout than the installed one: its code, not the installed
        _import_from(path)
    return {"directory": str(path)}


def _clone(repository: str, ref: str) -> dict[str, str]:
    from prefect.deployments.steps import git_clone

    cloned = git_clone(repository=repository, branch=ref or None)
    path = Path(cloned["directory"]).resolve()
    if not (path / MARKER).is_file():
        raise FileNotFoundError(f"{repository} at {ref or 'its default branch'} has no {MARKER}")
    os.chdir(path)
    _import_from(path)
    return {"directory": str(path)}


def _import_from(path: Path) -> None:
    """Make `drsynth.<folder>` the clone's folder, in this run's process and in every process it starts
    (extraction workers, training ranks): a directory holding drsynth/<folder> links goes first on sys.path
    and $PYTHONPATH. drsynth is a namespace package, so its first portion on the path wins over the
    installed one; the modules already imported (this one, to run the step) are dropped so that the
    entrypoint's import finds the clone's."""
    package = path / IMPORT_DIR / "drsynth"
    package.mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        link = package / folder
        if not link.is_symlink():
            link.symlink_to(path / folder, target_is_directory=True)
    entry = str(path / IMPORT_DIR)
    sys.path.insert(0, entry)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (entry, os.environ.get("PYTHONPATH"))))
    for name in [m for m in sys.modules if m == "drsynth" or m.startswith("drsynth.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
