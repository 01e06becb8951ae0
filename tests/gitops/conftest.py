from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitops.helpers import Remote, Writer, isolate_git, make_remote


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in isolate_git(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_SSH_COMMAND"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(tmp_path)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def writer(remote: Remote, tmp_path: Path) -> Writer:
    return Writer(remote, tmp_path / "writer")
