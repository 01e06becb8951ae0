"""Fixtures for the update cycle: real registry, real Git, a bot that runs cycles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import RegistryServer
from tests.update.helpers import Bot


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs git in isolation, with a state directory of its own."""
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer) -> Iterator[Bot]:
    with Bot(tmp_path, registry) as b:
        yield b
