from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_prefect_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # never touch the user's ~/.prefect from tests
    home = tmp_path_factory.getbasetemp() / "prefect-home"
    monkeypatch.setenv("PREFECT_HOME", str(home))


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared test corpora live beside the checkout (../shared)")
    return path


@pytest.fixture
def store_root(tmp_path: Path) -> str:
    return os.fspath(tmp_path / "data")
