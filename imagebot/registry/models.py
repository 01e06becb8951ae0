"""Plain values the registry client returns; no I/O here so every stage can hold them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Manifest media types, most capable first: the order of the Accept header. A request
# without them makes Distribution convert schema 2 to schema 1 (another digest) and answer
# 404 for OCI content, so every manifest request sends the whole list.
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1_PLAIN = "application/vnd.docker.distribution.manifest.v1+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))


@dataclass(frozen=True)
class TagList:
    """Every valid tag of one repository, complete or not at all.

    ``dropped`` holds what the registry listed but the OCI tag grammar rejects; those never
    reach a policy.
    """

    repository: str
    tags: list[str]
    dropped: list[str] = field(default_factory=list)
    fetched_at: datetime | None = None
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tags": list(self.tags),
            "dropped": list(self.dropped),
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "from_cache": self.from_cache,
        }


@dataclass(frozen=True)
class ImageInfo:
    """What a tag points at: immutable for a digest, so it is cached forever."""

    digest: str
    media_type: str
    platforms: list[str] = field(default_factory=list)
    created: datetime | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "media_type": self.media_type,
            "platforms": list(self.platforms),
            "created": self.created.isoformat() if self.created else None,
        }
