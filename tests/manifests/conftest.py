from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from imagebot.manifests import Discovery, discover
from tests.manifests.helpers import write_tree


@pytest.fixture
def scan(tmp_path: Path) -> Callable[..., Discovery]:
    """``scan({"a.yaml": "..."}, **discover_kwargs)``: write the files, discover them."""

    def run(files: dict[str, str | bytes], **kwargs: object) -> Discovery:
        write_tree(tmp_path, files)
        return discover(tmp_path, **kwargs)  # type: ignore[arg-type]

    return run
