"""Helpers for the registry tests: configs through the real loader, and virtual time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from imagebot.config import Config, parse_config


class FakeTime:
    """A clock and sleep for retries, rate limits and token expiry: sleeping advances the
    clock instantly, and every delay asked for is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_config(registries: dict[str, dict[str, Any]] | None = None, **top: Any) -> Config:
    """A config through the real loader (JSON is YAML), so validation applies."""
    data = {"registries": registries or {}, **top}
    return parse_config(json.dumps(data), file="test-config.yaml")


FAST = {"rate_limit": 1000, "max_concurrency": 8}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
