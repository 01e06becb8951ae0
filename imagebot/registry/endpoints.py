"""Which URL answers for a registry host, and whether it speaks plain HTTP."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from imagebot.config import Config, RegistryConfig

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    """Where requests for one registry go.

    ``registry`` is the name images use (``docker.io``) and what errors name; ``host`` is the
    ``host[:port]`` actually contacted (the API host or the mirror), which owns rate limits
    and credentials; ``prefix`` is a mirror's repository prefix (Harbor proxy projects).
    """

    registry: str
    scheme: str
    host: str
    prefix: str
    verify: bool
    entry: RegistryConfig
    entry_name: str
    #: An ``insecure`` HTTPS endpoint that may fall back to plain HTTP, as Docker does.
    http_fallback: bool = False

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, path: str, suffix: str) -> str:
        """``/v2/<prefix><path>/<suffix>`` on this endpoint."""
        return f"{self.base}/v2/{self.prefix}{path}/{suffix}"

    def with_scheme(self, scheme: str) -> Endpoint:
        return Endpoint(
            self.registry, scheme, self.host, self.prefix, self.verify, self.entry, self.entry_name
        )


def host_name(host: str) -> str:
    """``host[:port]`` without the port (and without IPv6 brackets)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    name = host_name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_endpoint(config: Config, registry: str) -> Endpoint:
    """The endpoint for *registry* (an image's domain) under *config*."""
    entry_name = registry
    entry = config.registry(registry)
    if entry.mirror:
        parts = urlsplit(entry.mirror)
        prefix = parts.path.strip("/")
        if prefix.startswith("v2/") or prefix == "v2":
            prefix = prefix[2:].lstrip("/")
        return Endpoint(
            registry,
            parts.scheme,
            parts.netloc,
            f"{prefix}/" if prefix else "",
            verify=not entry.insecure,
            entry=entry,
            entry_name=entry_name,
        )
    host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
    if is_loopback(host):
        return Endpoint(registry, "http", host, "", True, entry, entry_name)
    if entry.insecure:
        return Endpoint(registry, "https", host, "", False, entry, entry_name, http_fallback=True)
    return Endpoint(registry, "https", host, "", True, entry, entry_name)
