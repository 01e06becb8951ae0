"""Fixtures for the update cycle: real registry, real Git, a bot that runs cycles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.helpers import isolate_git
from tests.harness import RegistryServer
from tests.update.helpers import Bot


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in isolate_git(tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_SSH_COMMAND"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer) -> Iterator[Bot]:
    with Bot(tmp_path, registry) as b:
        yield b
