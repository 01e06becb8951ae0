"""Reading manifests and image config blobs: platforms and build times.

Pure functions over parsed JSON, so every manifest flavour is testable without a registry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imagebot.registry.models import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_PLAIN,
    INDEX_TYPES,
)

CREATED_ANNOTATION = "org.opencontainers.image.created"
IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
# Reproducible builds (ko, Bazel, Nix, buildkit's SOURCE_DATE_EPOCH) stamp the epoch or Go's
# zero time; those say nothing about when the image was built.
_MEANINGLESS_BEFORE = datetime(1970, 1, 2, tzinfo=UTC)
_FRACTION_RE = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True)
class Described:
    platforms: list[str] = field(default_factory=list)
    created: datetime | None = None
    #: The config blob to read for the build time or platform (image manifests).
    config_digest: str | None = None
    #: For an index without a created annotation: the child whose config tells the build time.
    child_digest: str | None = None


@dataclass(frozen=True)
class ConfigInfo:
    created: datetime | None
    platform: str | None


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time (Go's nanoseconds allowed) as an aware datetime; None if meaningless."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION_RE.sub(r"\1", value.strip(), count=1)
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return None if when < _MEANINGLESS_BEFORE else when


#: One word of a platform (os, architecture, variant) as registries write them; anything else
#: (control characters, slashes, a kilobyte of text) is a hostile or broken answer.
_PLATFORM_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def format_platform(platform: Any) -> str | None:
    """``os/architecture[/variant]``; None when absent, unknown (buildkit attestations) or
    not made of plain words: such a platform counts as missing, so a platforms gate holds the
    tag rather than trusting or printing it."""
    if not isinstance(platform, dict):
        return None
    os_name, arch = platform.get("os"), platform.get("architecture")
    if not _is_word(os_name) or not _is_word(arch):
        return None
    if os_name == "unknown" or arch == "unknown":  # buildkit attestation manifests
        return None
    text = f"{os_name}/{arch}"
    variant = platform.get("variant")
    if variant is not None and variant != "":
        if not _is_word(variant):
            return None
        text += f"/{variant}"
    return text


def _is_word(value: object) -> bool:
    return isinstance(value, str) and _PLATFORM_WORD.fullmatch(value) is not None


def describe_manifest(media_type: str, body: dict[str, Any]) -> Described:
    annotations = _object(body.get("annotations"))
    annotated = parse_time(annotations.get(CREATED_ANNOTATION)) if annotations else None
    if media_type in INDEX_TYPES or (not media_type and "manifests" in body):
        listed = body.get("manifests")
        children = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
        platforms: list[str] = []
        child: str | None = None
        preferred: str | None = None
        for entry in children:
            platform = format_platform(entry.get("platform"))
            if platform is None:
                continue
            if platform not in platforms:
                platforms.append(platform)
            digest = entry.get("digest")
            if isinstance(digest, str):
                child = child or digest
                if platform == "linux/amd64":
                    preferred = preferred or digest
        return Described(platforms, annotated, None, None if annotated else (preferred or child))
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_PLAIN) or body.get("schemaVersion") == 1:
        return _describe_schema1(body)
    config = _object(body.get("config"))
    config_digest = config.get("digest") if isinstance(config.get("digest"), str) else None
    config_type = config.get("mediaType")
    if config_type not in IMAGE_CONFIG_TYPES:
        config_digest = None  # an artifact (Helm chart, signature): its config is no image config
    return Described([], annotated, config_digest, None)


def _object(value: object) -> dict[str, Any]:
    """*value* if it is a JSON object, else an empty one: registries send all sorts."""
    return value if isinstance(value, dict) else {}


def _describe_schema1(body: dict[str, Any]) -> Described:
    arch = body.get("architecture")
    platforms = [f"linux/{arch}"] if _is_word(arch) else []
    created = None
    history = body.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        v1_text = history[0].get("v1Compatibility", "{}")
        try:
            v1 = json.loads(v1_text) if isinstance(v1_text, str) else None
            created = parse_time(v1.get("created")) if isinstance(v1, dict) else None
        except (ValueError, RecursionError):
            created = None
    return Described(platforms, created)


def parse_config_blob(blob: bytes) -> ConfigInfo:
    """Build time (``created``, else the ``org.opencontainers.image.created`` label), platform."""
    try:
        data = json.loads(blob)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond the parser
        return ConfigInfo(None, None)
    if not isinstance(data, dict):
        return ConfigInfo(None, None)
    created = parse_time(data.get("created"))
    if created is None:
        config = _object(data.get("config"))
        labels = _object(config.get("Labels"))
        created = parse_time(labels.get(CREATED_ANNOTATION)) if labels else None
    return ConfigInfo(created, format_platform(data))
