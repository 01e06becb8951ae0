"""Fixtures for the registry tests (the registries themselves are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from imagebot.config import Config
from imagebot.registry import RegistryClient, RetryPolicy
from imagebot.store import Store
from tests.registry.helpers import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def new_client(fake_time: FakeTime) -> Callable[..., RegistryClient]:
    """``new_client(config, store=None, **kwargs)``: a client on virtual time, jitter fixed."""

    def make(config: Config, store: Store | None = None, **kwargs: Any) -> RegistryClient:
        kwargs.setdefault("retry", RetryPolicy(sleep=fake_time.sleep, random=lambda: 0.5))
        kwargs.setdefault("clock", fake_time.clock)
        return RegistryClient(config, store, **kwargs)

    return make
