from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitops.helpers import Remote, Writer, make_remote


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path) -> None:
    """Every test here runs git in isolation."""


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(tmp_path)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def writer(remote: Remote, tmp_path: Path) -> Writer:
    return Writer(remote, tmp_path / "writer")
