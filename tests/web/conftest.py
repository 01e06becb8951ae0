from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.helpers import use_isolated_git
from tests.harness import RegistryServer
from tests.web.support import Seeded, seed


@pytest.fixture
def seeded(
    tmp_path: Path, registry: RegistryServer, repo_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Seeded]:
    use_isolated_git(monkeypatch, tmp_path / "home")
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
    found = seed(tmp_path, registry, repo_name)
    yield found
    found.close()
