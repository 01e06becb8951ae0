"""Push small images fast: one config blob and one layer, and manifests under many tags.

The demo fills its local registry with this, and the test suite pushes thousands of tags with
it. Blobs are uploaded monolithically (POST, then PUT ``Location&digest=``); children of an
index are PUT by digest first; tags go up concurrently (threads sharing one client). The
image config's ``created`` is the build time policies such as newest-build rank by.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from imagebot.errors import ImagebotError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class PushResult:
    """What was pushed: the digest every tag points at, and each platform's manifest."""

    digest: str
    media_type: str
    tags: list[str]
    platform_digests: dict[str, str] = field(default_factory=dict)


class RegistryAuth(httpx.Auth):
    """Basic, or the Bearer dance with push scope, for the pusher's admin user."""

    def __init__(self, username: str, password: str) -> None:
        self._basic = httpx.BasicAuth(username, password)
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._basic_known = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = _scope_for(request.url.path)
        with self._lock:
            token = self._tokens.get(scope)
        if self._basic_known:
            yield from self._basic.auth_flow(request)
            return
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        if challenge.lower().startswith("basic"):
            self._basic_known = True
            yield from self._basic.auth_flow(request)
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        query = {"service": params.get("service", ""), "scope": scope}
        token_request = httpx.Request("GET", params["realm"] + "?" + urlencode(query))
        token_request = next(self._basic.auth_flow(token_request))
        token_response = yield token_request
        token_response.read()
        answer = token_response.json()
        token = answer.get("token") or answer["access_token"]
        with self._lock:
            self._tokens[scope] = token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _scope_for(path: str) -> str:
    match = re.match(r"/v2/(.+?)/(?:manifests|blobs|tags)/", path)
    return f"repository:{match.group(1)}:pull,push" if match else "registry:catalog:*"


class Pusher:
    """Pushes to one registry (``base_url``), as *credentials* when it wants any."""

    def __init__(
        self, base_url: str, credentials: tuple[str, str] | None = None, *, threads: int = 6
    ):
        auth = RegistryAuth(*credentials) if credentials else None
        self._client = httpx.Client(base_url=base_url, auth=auth, timeout=30.0)
        self._threads = threads

    def close(self) -> None:
        self._client.close()

    def push(
        self,
        repository: str,
        tags: list[str] | str,
        *,
        created: datetime | str | None = None,
        platforms: list[str] | None = None,
        labels: dict[str, str] | None = None,
        oci: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> PushResult:
        """Push one image (an index when *platforms* is given) under every tag in *tags*.

        *created* is the build time written into the image config (RFC 3339 when a string).
        """
        tags = [tags] if isinstance(tags, str) else list(tags)
        layer = f"layer of {repository} {created}".encode()
        layer_digest = self.upload_blob(repository, layer)
        if platforms:
            children: dict[str, tuple[str, bytes]] = {}
            entries = []
            for platform in platforms:
                body, media_type = self._image_manifest(
                    repository, layer, layer_digest, platform, created, labels, oci, None
                )
                digest = self.put_manifest(repository, sha256(body), body, media_type)
                children[platform] = (digest, body)
                entries.append(
                    {
                        "mediaType": media_type,
                        "digest": digest,
                        "size": len(body),
                        "platform": _platform_dict(platform),
                    }
                )
            index: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX if oci else DOCKER_LIST,
                "manifests": entries,
            }
            if annotations:
                index["annotations"] = annotations
            body = json.dumps(index).encode()
            media_type = index["mediaType"]
            self._put_tags(repository, tags, body, media_type)
            return PushResult(
                sha256(body), media_type, tags, {p: d for p, (d, _) in children.items()}
            )
        body, media_type = self._image_manifest(
            repository, layer, layer_digest, "linux/amd64", created, labels, oci, annotations
        )
        self._put_tags(repository, tags, body, media_type)
        return PushResult(sha256(body), media_type, tags, {"linux/amd64": sha256(body)})

    def _image_manifest(
        self,
        repository: str,
        layer: bytes,
        layer_digest: str,
        platform: str,
        created: datetime | str | None,
        labels: dict[str, str] | None,
        oci: bool,
        annotations: dict[str, str] | None,
    ) -> tuple[bytes, str]:
        config: dict[str, Any] = {
            **_platform_dict(platform),
            "config": {"Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
        if created is not None:
            config["created"] = created if isinstance(created, str) else _rfc3339(created)
        config_bytes = json.dumps(config).encode()
        config_digest = self.upload_blob(repository, config_bytes)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
        if annotations:
            manifest["annotations"] = annotations
        return json.dumps(manifest).encode(), manifest["mediaType"]

    def upload_blob(self, repository: str, data: bytes) -> str:
        digest = sha256(data)
        if self._client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
            return digest
        started = self._client.post(f"/v2/{repository}/blobs/uploads/")
        _expect(started, 202)
        location = started.headers["location"]
        # Append the digest: params= would replace the upload's _state query.
        separator = "&" if "?" in location else "?"
        done = self._client.put(
            f"{location}{separator}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(done, 201)
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        response = self._client.put(
            f"/v2/{repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        )
        _expect(response, 201)
        return response.headers.get("docker-content-digest") or sha256(body)

    def _put_tags(self, repository: str, tags: list[str], body: bytes, media_type: str) -> None:
        if len(tags) <= 2:
            for tag in tags:
                self.put_manifest(repository, tag, body, media_type)
            return
        with ThreadPoolExecutor(self._threads) as pool:
            for future in [
                pool.submit(self.put_manifest, repository, tag, body, media_type) for tag in tags
            ]:
                future.result()

    def delete_tag_manifest(self, repository: str, digest: str) -> None:
        _expect(self._client.delete(f"/v2/{repository}/manifests/{digest}"), 202)


class PushFailed(ImagebotError):
    """The registry refused an upload: the request and the registry's answer."""


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise PushFailed(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:300]}"
        )


def _platform_dict(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    out = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


def _rfc3339(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
