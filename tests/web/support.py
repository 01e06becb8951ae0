"""A seeded fleet for the Deploy view's tests: a Git remote whose workloads use images in the
session's real registry, a config naming it, a users file, and a store filled the way the
service fills it (one real resolve per repository)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imagebot.config import Config, load_config
from imagebot.operations import fleet
from imagebot.store import Store, store_path
from imagebot.update import Runner
from imagebot.web.auth import hash_token
from tests.gitops.helpers import Remote, make_remote
from tests.harness import RegistryServer
from tests.update.helpers import automated, deployment

TOKEN = "alice-token-0123456789"
USER = "alice"
NOW = datetime.now(UTC)


@dataclass
class Seeded:
    config: Config
    store: Store
    remote: Remote
    images: dict[str, str]  # name -> registry/repository
    root: Path

    def close(self) -> None:
        self.store.close()


def push_images(registry: RegistryServer, prefix: str) -> dict[str, str]:
    """web: 1.0.0 -> 1.0.2 (update, 2 behind); api: locked at 2.0.0 with 2.0.1 out;
    worker: 3.0.0 -> 3.0.1 held for approval; db: 5.0.0 only (up to date)."""
    tags = {
        "web": ["1.0.0", "1.0.1", "1.0.2"],
        "api": ["2.0.0", "2.0.1"],
        "worker": ["3.0.0", "3.0.1"],
        "db": ["5.0.0"],
    }
    images = {}
    for name, listed in tags.items():
        image = f"{prefix}/{name}"
        for age, tag in enumerate(reversed(listed)):
            registry.push(image, tag, created=NOW - timedelta(days=age * 3 + 1))
        images[name] = f"{registry.host}/{image}"
    return images


def manifests(images: dict[str, str]) -> dict[str, bytes]:
    locked = {
        **automated("semver:~2.0"),
        "imagebot.io/locked": "true",
        "imagebot.io/locked_msg": "incident 42",
        "imagebot.io/locked_user": "bob",
    }
    approve = {**automated("semver:~3.0"), "imagebot.io/approve.app": "true"}
    return {
        "apps/web.yaml": deployment(
            "web", f"{images['web']}:1.0.0", annotations=automated("semver:~1.0")
        ),
        "apps/api.yaml": deployment("api", f"{images['api']}:2.0.0", annotations=locked),
        "apps/worker.yaml": deployment("worker", f"{images['worker']}:3.0.0", annotations=approve),
        "apps/db.yaml": deployment(
            "db", f"{images['db']}:5.0.0", annotations=automated("semver:~5.0")
        ),
    }


def seed(
    tmp: Path,
    registry: RegistryServer,
    prefix: str,
    *,
    anonymous_read: bool = False,
    extra: str = "",
) -> Seeded:
    images = push_images(registry, prefix)
    remote = make_remote(tmp / "fleet", manifests(images))
    users = tmp / "users.yaml"
    users.write_text(f"{USER}: {hash_token(TOKEN)}\nbob: {hash_token('bob-token-987654321')}\n")
    config_file = tmp / "imagebot.yaml"
    config_file.write_text(
        f"state_dir: {tmp / 'state'}\n"
        "repositories:\n"
        f"  - url: {remote.url}\n"
        "    name: fleet\n"
        "web:\n"
        f"  users_file: {users}\n"
        f"  anonymous_read: {'true' if anonymous_read else 'false'}\n" + extra
    )
    config = load_config(str(config_file))
    store = Store.open(store_path(config))
    with Runner(config, store) as runner:
        fleet.refresh(config, config.repositories[0], runner, store)
    return Seeded(config, store, remote, images, tmp)


class LiveServer:
    """uvicorn on a free 127.0.0.1 port in a thread, serving whichever app ``.app`` holds
    (one server per test module; each test swaps in the app over its own seeded fleet)."""

    def __init__(self) -> None:
        import socket
        import threading

        import uvicorn

        self.app: Any = None
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._serve, log_level="warning", lifespan="off", interface="asgi3", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        import time

        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.02)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
