"""Fixtures for Argo CD Image Updater repositories: real Git in isolation, a state directory
of its own per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
