"""Start and stop a real CNCF Distribution registry (Debian's ``docker-registry``).

``start_registry(workdir, auth="none" | "basic" | "token")`` returns a running
:class:`RegistryServer` on a free 127.0.0.1 port with in-memory storage; ``.stop()`` ends
that process by its own handle. A missing ``docker-registry`` is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import bcrypt
import httpx

from tests.harness.pusher import Pusher, PushResult
from tests.harness.tokenserver import TokenServer

REGISTRY_BINARY = os.environ.get("IMAGEBOT_TEST_REGISTRY_BINARY", "docker-registry")
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-secret"
READER_USER = "reader"
READER_PASSWORD = "reader-secret"

AuthMode = Literal["none", "basic", "token"]


class RegistryUnavailable(RuntimeError):
    """The registry binary is missing or would not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_registry_binary() -> str:
    found = shutil.which(REGISTRY_BINARY)
    if found is None:
        raise RegistryUnavailable(
            f"{REGISTRY_BINARY!r} is not installed: run ./dev setup "
            "(apt-get install docker-registry) - registry tests need a real registry"
        )
    return found


@dataclass
class RegistryServer:
    """A running registry: ``host`` is ``127.0.0.1:PORT``, ``url`` is ``http://host``."""

    host: str
    auth: AuthMode
    process: subprocess.Popen[bytes]
    workdir: Path
    users: dict[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None
    _pusher: Pusher | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pusher(self) -> Pusher:
        if self._pusher is None:
            credentials = (ADMIN_USER, ADMIN_PASSWORD) if self.auth != "none" else None
            self._pusher = Pusher(self.url, credentials)
        return self._pusher

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
        """Push one image (an index when *platforms* is given) under every tag in *tags*."""
        return self.pusher.push(
            repository,
            [tags] if isinstance(tags, str) else list(tags),
            created=created,
            platforms=platforms,
            labels=labels,
            oci=oci,
            annotations=annotations,
        )

    def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.close()
            self._pusher = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RegistryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_registry(
    workdir: Path,
    *,
    auth: AuthMode = "none",
    token_expires_in: int = 300,
    token_field: str = "both",
) -> RegistryServer:
    """Start a registry in *workdir* (config, htpasswd and certificate files go there)."""
    binary = find_registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    users = {ADMIN_USER: ADMIN_PASSWORD, READER_USER: READER_PASSWORD} if auth != "none" else {}
    token_server = None
    auth_yaml = ""
    if auth == "basic":
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}\n"
                for user, pw in users.items()
            )
        )
        auth_yaml = f"auth: {{htpasswd: {{realm: test-realm, path: {htpasswd}}}}}\n"
    elif auth == "token":
        token_server = TokenServer(
            workdir, users=dict(users), expires_in=token_expires_in, token_field=token_field
        ).start()
        auth_yaml = (
            f"auth: {{token: {{realm: {token_server.realm}, service: {token_server.service}, "
            f"issuer: {token_server.issuer}, rootcertbundle: {token_server.cert_path}}}}}\n"
        )
    last_error = ""
    for _ in range(5):
        port = free_port()
        host = f"127.0.0.1:{port}"
        config = workdir / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            "storage: {inmemory: {}, delete: {enabled: true}}\n"
            f'http: {{addr: "{host}", secret: imagebot-test-secret}}\n' + auth_yaml
        )
        log_file = (workdir / "registry.log").open("ab")
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "REGISTRY_HTTP_ADDR": host},
        )
        log_file.close()
        if _wait_ready(process, f"http://{host}/v2/"):
            return RegistryServer(host, auth, process, workdir, users, token_server)
        if process.poll() is None:
            process.kill()
        process.wait()
        last_error = (workdir / "registry.log").read_text(errors="replace")[-2000:]
    if token_server is not None:
        token_server.stop()
    raise RegistryUnavailable(f"docker-registry did not start:\n{last_error}")


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code in (200, 401):
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    return False
