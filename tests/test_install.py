"""Reproducible installs: the lock (constraints.txt) that `make demo` and `make test` install from.

Fast setting (CI): the lock holds the known-good pins and agrees with pyproject.toml, resolving
`.[dev,train]` against it in a fresh virtualenv pins every package (nothing floats), the environment
the tests run in is the lock's, and its `duckdb` CLI opens a catalog the project writes. The full
setting (`make reliability`) installs the lock for real into a fresh virtualenv with the Makefile's
own steps and checks that environment the same way.

These tests reach the package index (PyPI), the one network the project's machines have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "constraints.txt"
FULL = os.environ.get("DRSYNTH_RELIABILITY", "fast") == "full"
# locked so that the venv's installer is reproducible too, though nothing depends on them
TOOLING = {"pip", "setuptools", "wheel"}
# a small root written with the project's own storage code, its catalog rebuilt: run in the interpreter
# whose duckdb library writes the file (this one, or a fresh venv's)
CATALOG_SCRIPT = """
import sys
from drsynth.storage.catalog import build_catalog
from drsynth.storage.store import Store
from drsynth.synth.corpus.records import page_record

store = Store(sys.argv[1])
with store.writer("pages", "install-check") as w:
    w.write_many(page_record(url=f"http://site.test/{i}", body=f"<p>page {i}</p>".encode(),
                             content_type="text/html", source="test", source_kind="crawl") for i in range(7))
print(build_catalog(store))
"""


def lock_pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert req.url is None and len(specs) == 1 and specs[0].operator == "==", f"not an exact pin: {line}"
        version = Version(specs[0].version)
        # `torch==2.13.0+cpu` would only install from the CPU wheel's own index
        assert version.local is None, f"a local version label in the lock: {line}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = version
    return pins


def pyproject_requirements() -> list[Requirement]:
    """The requirements `make` installs: the dependencies and the dev and train extras, then the build's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    listed = [*project["project"]["dependencies"], *extras["dev"], *extras["train"],
              *project["build-system"]["requires"]]
    reqs = [Requirement(r) for r in listed]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def cli_views(cli: Path, catalog: str) -> tuple[list[str], int]:
    """The catalog's views and `pages`' row count, as the DuckDB CLI reads them."""
    sql = ("SELECT view_name AS v FROM duckdb_views() WHERE NOT internal ORDER BY 1; "
           "SELECT count(*) AS n FROM pages;")
    done = subprocess.run([os.fspath(cli), "-readonly", "-json", catalog, "-c", sql],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{cli} could not open {catalog}:\n{done.stderr}{done.stdout}"
    # -json prints one array per statement, one after the other
    decoder, text, results = json.JSONDecoder(), done.stdout.strip(), []
    while text:
        result, end = decoder.raw_decode(text)
        results.append(result)
        text = text[end:].lstrip()
    views, counts = results
    return [row["v"] for row in views], counts[0]["n"]


def check_catalog_opens(python: Path, tmp_path: Path) -> None:
    """`<venv>/bin/duckdb <root>/catalog.duckdb` opens a catalog written by that venv's drsynth."""
    cli = python.parent / "duckdb"
    assert cli.exists(), f"no DuckDB CLI in the virtualenv ({cli}): `duckdb-cli` is not installed"
    built = subprocess.run([os.fspath(python), "-c", CATALOG_SCRIPT, os.fspath(tmp_path / "data")],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": os.fspath(REPO)})
    assert built.returncode == 0, built.stderr
    catalog = built.stdout.strip().splitlines()[-1]
    assert catalog == os.fspath(tmp_path / "data" / "catalog.duckdb")
    views, pages = cli_views(cli, catalog)
    assert {"pages", "documents", "tasks", "trajectories", "runs", "lineage", "published"} <= set(views)
    assert pages == 7


def test_lock_holds_the_known_good_pins() -> None:
    pins = lock_pins()
    # fastapi 0.151+ makes prefect 3.8's API answer 422 on work-pool workers (`prefect deploy` fails)
    assert pins["fastapi"] < Version("0.151"), pins["fastapi"]
    assert pins["prefect"].release[:2] == (3, 8), pins["prefect"]
    assert pins["torch"] == Version("2.13.0")  # the CPU wheel on the machines' disk
    assert "trafilatura" in pins and "lxml-html-clean" in pins  # trafilatura imports lxml.html.clean
    # the CLI reads the catalog file only if it is the library's release (duckdb 2.x files: none does)
    assert pins["duckdb"] == pins["duckdb-cli"], (pins["duckdb"], pins["duckdb-cli"])
    assert "vllm" not in pins  # a GPU extra: never in the CPU lock
    assert TOOLING - {"wheel"} <= set(pins), "pip and setuptools are locked too"


def test_lock_agrees_with_pyproject() -> None:
    """Every requirement is locked at a version it allows: a pyproject.toml change needs `make lock`."""
    pins = lock_pins()
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in constraints.txt: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, pyproject.toml asks {req}: run `make lock`")


def test_makefile_installs_from_the_lock() -> None:
    """`make test` / `make demo` (and CI's fresh clone) create .venv with the lock as constraints."""
    dry = subprocess.run(["make", "-n", "-B", "VENV=/nonexistent/venv", "/nonexistent/venv/.installed-dev"],
                         cwd=REPO, capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    installs = [line for line in dry.stdout.splitlines() if " install " in line]
    assert len(installs) >= 2 and any(".[dev,train]" in line for line in installs), dry.stdout
    for line in installs:
        assert "-c constraints.txt" in line, f"installs without the lock: {line}"
    for target in ("test", "demo"):
        plan = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert plan.returncode == 0, plan.stderr


def test_lock_resolves_fresh_venv_with_every_package_pinned(tmp_path: Path) -> None:
    """pip resolves `.[dev,train]` for an empty virtualenv against the lock, and everything it would
    install is pinned there: no package floats to whatever is newest on the day of the install."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.fspath(venv)], check=True, timeout=120)
    report = tmp_path / "report.json"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", os.fspath(venv / "bin" / "python"), "install", "-q",
         "--dry-run", "--ignore-installed", "--report", os.fspath(report),
         "-c", os.fspath(LOCK), "--build-constraint", os.fspath(LOCK), ".[dev,train]"],
        cwd=REPO, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"the lock does not resolve:\n{done.stderr[-4000:]}"
    print(f"\nINSTALL resolve .[dev,train] against the lock: {time.monotonic() - started:.0f} s")
    resolved = {canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
                for item in json.loads(report.read_text())["install"]}
    assert resolved.pop("drsynth")
    pins = lock_pins()
    unpinned = sorted(set(resolved) - set(pins))
    assert not unpinned, f"resolved but not in constraints.txt (run `make lock`): {unpinned}"
    for name, version in resolved.items():
        # the lock's torch==2.13.0 takes the CPU build on disk, 2.13.0+cpu
        assert Version(version.public) == pins[name], (name, version, pins[name])
    stale = sorted(set(pins) - set(resolved) - TOOLING)
    assert not stale, f"locked but no longer required (run `make lock`): {stale}"


def test_environment_is_the_lock() -> None:
    """The virtualenv the tests run in holds the lock's versions (what `make` installed), consistent."""
    pins = lock_pins()
    wrong = []
    for name, version in pins.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} missing (lock {version})")
            continue
        if Version(installed.public) != version:
            wrong.append(f"{name} {installed} (lock {version})")
    assert not wrong, f"this environment is not the lock's (`make` installs it): {wrong}"
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_venv_duckdb_cli_opens_the_catalog(tmp_path: Path) -> None:
    """`.venv/bin/duckdb data/catalog.duckdb`, as the README says: the venv's CLI reads the file the
    venv's duckdb library wrote, and lists every dataset as a view."""
    assert metadata.version("duckdb") == metadata.version("duckdb-cli")
    check_catalog_opens(Path(sys.executable), tmp_path)


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.skipif(not FULL, reason="a real install of the lock runs in the full setting (make reliability)")
def test_lock_installs_in_a_fresh_venv(tmp_path: Path) -> None:
    """The Makefile's own install steps into an empty virtualenv: it installs, pip finds no conflict,
    the pins hold in it, and its duckdb CLI opens a catalog its drsynth wrote."""
    venv = tmp_path / "venv"
    started = time.monotonic()
    done = subprocess.run(["make", f"VENV={venv}", f"{venv}/.installed-dev"], cwd=REPO, capture_output=True,
                          text=True, timeout=1200, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"\nINSTALL fresh virtualenv from the lock (make's steps): {seconds:.0f} s")
    python = venv / "bin" / "python"
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    installed = {canonicalize_name(Requirement(line).name): Version(line.split("==", 1)[1]).public
                 for line in frozen.splitlines() if "==" in line}
    assert Version(installed["fastapi"]) < Version("0.151")
    assert {name: str(v) for name, v in lock_pins().items() if name != "wheel"} == {
        name: v for name, v in installed.items() if name not in {"drsynth"}}
    assert subprocess.run([venv / "bin" / "drsynth", "--help"], capture_output=True, timeout=120).returncode == 0
    check_catalog_opens(python, tmp_path)
