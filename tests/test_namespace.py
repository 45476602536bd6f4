"""One import namespace: drsynth's five folders install as `drsynth.<folder>` (setup.py maps them), so the
wheel claims no top-level name but `drsynth`, and drsynth installs beside a project that owns a top-level
`storage` (on the package index, four of the five folder names belong to other projects).

The installs here are real: the wheel is built from this checkout by pip, and installed with pip into a
fresh virtualenv next to another distribution. The new virtualenv borrows the test environment's
dependencies through a path file (the wheel alone is what is new), so nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from drsynth.flows.deployment_steps import FOLDERS

REPO = Path(__file__).resolve().parents[1]
OTHER_PROJECT = {
    "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
                      '[project]\nname = "storage"\nversion = "9.9"\n[tool.setuptools]\npackages = ["storage"]\n',
    "storage/__init__.py": "OWNER = 'another project'\n",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    os.fspath(out), os.fspath(REPO)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("drsynth-*.whl")
    return path


def test_wheel_holds_only_the_drsynth_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"drsynth"}
    # every package folder of the checkout is in it (setup.py finds new ones), and the data files
    packages = {p.parent.relative_to(REPO).as_posix() for folder in FOLDERS
                for p in (REPO / folder).rglob("__init__.py") if "demo/site" not in p.as_posix()}
    assert {f"drsynth/{package}/__init__.py" for package in packages} <= set(names)
    assert "drsynth/synth/tasks/phrases.toml" in names
    assert any(name.startswith("drsynth/synth/corpus/demo/site/wiki/") for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "drsynth = drsynth.flows.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installs_beside_a_project_owning_top_level_storage(wheel: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    for name, text in OTHER_PROJECT.items():
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_text(text)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.fspath(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the test environment's dependencies, after the venv's own packages (its editable drsynth is not
    # loaded: only a site directory's own path files run)
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", os.fspath(python), "install", "-q", "--no-deps",
           "--no-build-isolation"]
    subprocess.run([*pip, os.fspath(other)], check=True, capture_output=True, timeout=300)
    subprocess.run([*pip, os.fspath(wheel)], check=True, capture_output=True, timeout=300)

    probe = (
        "import sys, storage, drsynth.storage.store as store, drsynth.flows.cli\n"
        "print(storage.OWNER)\n"
        "print(store.__file__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{FOLDERS!r} and m != 'storage'))\n"
    )
    # from a directory outside the checkout: its folders must not be what is found
    result = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    owner, store_file, stray = result.stdout.splitlines()
    assert owner == "another project"
    assert Path(store_file).is_relative_to(site / "drsynth" / "storage")
    # drsynth's own imports never went through a top-level name
    assert stray == "[]"
    cli = subprocess.run([venv / "bin" / "drsynth", "--help"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, check=False)
    assert cli.returncode == 0 and "demo" in cli.stdout, cli.stderr[-3000:]


def test_no_code_imports_a_folder_by_its_top_level_name() -> None:
    """ruff (TID251) refuses `import storage` in code; this also reads the scripts that tests and modules
    hand to a subprocess as strings: such a script would import a second copy of the module."""
    pattern = re.compile(rf"(^|\\n|;)\s*(from|import)\s+({'|'.join(FOLDERS)})\b", re.M)
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    offenders = [name for name in files if pattern.search((REPO / name).read_text(encoding="utf-8"))]
    assert offenders == []
