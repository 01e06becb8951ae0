"""Fixtures for the update cycle: real registry, real Git, a bot that runs cycles (``bot``,
from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs git in isolation, with a state directory of its own."""
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
