"""A throwaway OCI registry on loopback: Debian's ``docker-registry`` (CNCF Distribution).

The demo runs one so that imagebot has real tags to read without touching the network, and
the test suite's harness builds its authenticated variants on the same code. The registry
keeps everything in memory, listens on a free ``127.0.0.1`` port only (the Debian package's
own config listens on every interface, so it is never used) and is stopped through the
process handle that started it, never by name.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from imagebot.demo.pusher import Pusher, PushResult
from imagebot.errors import ImagebotError

#: The binary Debian's ``docker-registry`` package installs.
REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = (
    "install the Debian/Ubuntu package: sudo apt-get install docker-registry "
    "(./dev demo and ./dev setup install it for you)"
)


class RegistryUnavailable(ImagebotError):
    """``docker-registry`` is missing or would not start."""

    exit_code = 2


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_registry_binary(name: str = REGISTRY_BINARY) -> str:
    """The path of *name* on ``PATH``; a clear error naming the package when it is missing."""
    found = shutil.which(name)
    if found is None:
        raise RegistryUnavailable(f"{name!r} is not installed (not found on PATH): {INSTALL_HINT}")
    return found


def registry_config(host: str, *, extra: str = "") -> str:
    """Distribution's config: in-memory storage, quiet logs, *host* only, plus *extra* YAML."""
    return (
        "version: 0.1\n"
        "log: {level: error, accesslog: {disabled: true}}\n"
        "storage: {inmemory: {}, delete: {enabled: true}}\n"
        f'http: {{addr: "{host}", secret: imagebot-local-registry}}\n' + extra
    )


@dataclass
class LocalRegistry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``, ``url`` is ``http://host``."""

    host: str
    process: subprocess.Popen[bytes]
    workdir: Path
    _pusher: Pusher | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """Who the pusher pushes as (a registry with auth overrides this)."""
        return None

    @property
    def pusher(self) -> Pusher:
        if self._pusher is None:
            self._pusher = Pusher(self.url, self.credentials)
        return self._pusher

    def push(self, repository: str, tags: list[str] | str, **options: Any) -> PushResult:
        """:meth:`Pusher.push <imagebot.demo.pusher.Pusher.push>` to this registry."""
        return self.pusher.push(repository, tags, **options)

    def stop(self) -> None:
        """Stop the process this object started (idempotent)."""
        if self._pusher is not None:
            self._pusher.close()
            self._pusher = None
        _end(self.process)

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_registry(
    workdir: Path,
    *,
    binary: str = REGISTRY_BINARY,
    extra_config: str = "",
    attempts: int = 5,
    timeout: float = 15.0,
) -> LocalRegistry:
    """Start a registry whose config and log live in *workdir*; wait until ``/v2/`` answers.

    *extra_config* is appended to the config (an ``auth:`` section, say). A port taken between
    choosing and binding it is retried on another one, up to *attempts* times.
    """
    path = find_registry_binary(binary)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    log = workdir / "registry.log"
    for _ in range(attempts):
        host = f"127.0.0.1:{free_port()}"
        config.write_text(registry_config(host, extra=extra_config))
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                [path, "serve", str(config)],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # the environment overrides the file: make sure nothing widens the address
                env={**os.environ, "REGISTRY_HTTP_ADDR": host},
            )
        try:
            if _wait_ready(process, f"http://{host}/v2/", timeout):
                return LocalRegistry(host, process, workdir)
        except BaseException:
            _end(process)
            raise
        _end(process)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RegistryUnavailable(f"{binary} did not start (log {log}):\n{tail}")


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
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


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
