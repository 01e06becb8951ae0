"""Gates against the real local registry: a bot (``bot`` from tests/conftest.py) with a state
store of its own, so first-seen times start empty in every test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs git in isolation, with a state directory of its own."""
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
