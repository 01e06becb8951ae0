"""Shared pieces of the registry hardening tests: configs through the real loader, one call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from imagebot.config import Config, parse_config
from imagebot.reference import ImageReference
from imagebot.registry import RegistryClient, RetryPolicy, Scanner, TagList
from imagebot.registry.models import ImageInfo

FAST = {"rate_limit": 1000, "max_concurrency": 8}
#: Retries waste no real time in these tests.
NO_WAIT = RetryPolicy(base_delay=0.01, max_delay=0.05)


def config(registries: dict[str, dict[str, Any]], **top: Any) -> Config:
    """A config through the real loader (JSON is YAML), so validation applies."""
    entries = {host: {**FAST, **entry} for host, entry in registries.items()}
    return parse_config(json.dumps({"registries": entries, **top}), file="test-config.yaml")


def list_tags(cfg: Config, image: str) -> TagList:
    async def go() -> TagList:
        async with RegistryClient(cfg, retry=NO_WAIT) as client:
            return await client.list_tags(ImageReference.parse(image))

    return asyncio.run(go())


def scan(cfg: Config, *images: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with RegistryClient(cfg, retry=NO_WAIT) as client:
            return await Scanner(client).scan([ImageReference.parse(i) for i in images])

    return asyncio.run(go())


def image_info(cfg: Config, image: str, tag: str) -> ImageInfo:
    async def go() -> ImageInfo:
        async with RegistryClient(cfg, retry=NO_WAIT) as client:
            return await client.image_info(ImageReference.parse(image), tag)

    return asyncio.run(go())


def get_digest(cfg: Config, image: str, tag: str) -> str:
    async def go() -> str:
        async with RegistryClient(cfg, retry=NO_WAIT) as client:
            return await client.get_digest(ImageReference.parse(image), tag)

    return asyncio.run(go())
