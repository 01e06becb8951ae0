"""A real CNCF Distribution registry (``docker-registry``) sends its push notifications to the
``distribution`` receiver: the payload and the Authorization header are the sender's own."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagebot.config import WebhookReceiverConfig
from imagebot.service.hooks import HookEvent, build_receivers
from imagebot.service.http import Endpoint
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

from .conftest import wait_for

SECRET = "registry-notify-secret"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def registry_binary() -> str:
    found = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    assert Path(found).exists(), (
        "docker-registry is not installed (apt-get install docker-registry)"
    )
    return found


def start_registry(
    tmp_path: Path, hook_url: str, token: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": True}},
                "storage": {"inmemory": {}},
                "http": {"addr": f"127.0.0.1:{port}"},
                "notifications": {
                    "endpoints": [
                        {
                            "name": "imagebot",
                            "url": hook_url,
                            "headers": {"Authorization": [f"Bearer {token}"]},
                            "timeout": "2s",
                            "threshold": 3,
                            "backoff": "200ms",
                        }
                    ]
                },
            }
        )
    )
    process = subprocess.Popen(
        [registry_binary(), "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if httpx.get(f"{base}/v2/", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("docker-registry did not start")
        time.sleep(0.02)


def push_image(client: httpx.Client, base: str, name: str, tag: str) -> None:
    """Upload a config and a layer blob, then PUT a schema 2 manifest under *tag*."""
    descriptors = []
    for media_type, content in (
        (
            "application/vnd.docker.container.image.v1+json",
            b'{"architecture":"amd64","os":"linux"}',
        ),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", b"layer-" + tag.encode()),
    ):
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        started = client.post(f"{base}/v2/{name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = str(httpx.URL(base).join(started.headers["Location"]))
        separator = "&" if "?" in location else "?"
        done = client.put(
            f"{location}{separator}digest={digest}",
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        descriptors.append({"mediaType": media_type, "size": len(content), "digest": digest})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": descriptors[0],
        "layers": descriptors[1:],
    }
    put = client.put(
        f"{base}/v2/{name}/manifests/{tag}",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": MANIFEST_V2},
    )
    assert put.status_code == 201, put.text


@pytest.fixture
def receiving_endpoint() -> Iterator[tuple[Endpoint, list[HookEvent], Metrics]]:
    events: list[HookEvent] = []
    metrics = Metrics()
    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers=build_receivers(
            {"reg": WebhookReceiverConfig(type="distribution", secret=SECRET)}
        ),
        on_event=events.extend,
        metrics=metrics,
        readiness=lambda: Readiness(True, True, True),
    )
    endpoint.start()
    yield endpoint, events, metrics
    endpoint.stop()


def test_real_registry_push_notification_reaches_the_receiver(
    tmp_path: Path, receiving_endpoint: tuple[Endpoint, list[HookEvent], Metrics]
) -> None:
    endpoint, events, _ = receiving_endpoint
    process, base = start_registry(tmp_path, f"{endpoint.url}/hooks/reg", SECRET)
    try:
        with httpx.Client(timeout=5) as client:
            push_image(client, base, "team/app", "1.0.0")
        host = base.removeprefix("http://")
        expected = HookEvent(f"{host}/team/app", "1.0.0", "reg")
        assert wait_for(lambda: expected in events, timeout=10), events
        assert all(event == expected for event in events)
    finally:
        process.kill()
        process.wait()


def test_real_registry_with_wrong_token_triggers_nothing(
    tmp_path: Path, receiving_endpoint: tuple[Endpoint, list[HookEvent], Metrics]
) -> None:
    endpoint, events, metrics = receiving_endpoint
    process, base = start_registry(tmp_path, f"{endpoint.url}/hooks/reg", "not-the-secret")
    try:
        with httpx.Client(timeout=5) as client:
            push_image(client, base, "team/app", "1.0.0")
        refused = 'imagebot_webhook_requests_total{code="403",receiver="reg"}'
        assert wait_for(lambda: refused in metrics.render().decode(), timeout=10)
        assert events == []
    finally:
        process.kill()
        process.wait()
