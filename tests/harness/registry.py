"""Real CNCF Distribution registries for tests, with the auth modes the package does not need.

``start_registry(workdir, auth="none" | "basic" | "token")`` returns a running
:class:`RegistryServer` on a free 127.0.0.1 port with in-memory storage; ``.stop()`` ends that
process by its own handle. Starting, stopping and pushing are :mod:`imagebot.demo.registry`'s;
this module adds htpasswd users (bcrypt) and the token server. A missing ``docker-registry``
is an error, never a skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bcrypt

from imagebot.demo import registry as local
from imagebot.demo.registry import LocalRegistry, RegistryUnavailable, free_port
from tests.harness.tokenserver import TokenServer

REGISTRY_BINARY = os.environ.get("IMAGEBOT_TEST_REGISTRY_BINARY", local.REGISTRY_BINARY)
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-secret"
READER_USER = "reader"
READER_PASSWORD = "reader-secret"

AuthMode = Literal["none", "basic", "token"]

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "READER_PASSWORD",
    "READER_USER",
    "AuthMode",
    "RegistryServer",
    "RegistryUnavailable",
    "free_port",
    "start_registry",
]


@dataclass
class RegistryServer(LocalRegistry):
    """A :class:`LocalRegistry` with its auth mode, users and token server."""

    auth: AuthMode = "none"
    users: dict[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (ADMIN_USER, ADMIN_PASSWORD) if self.auth != "none" else None

    def stop(self) -> None:
        super().stop()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RegistryServer:
        return self


def start_registry(
    workdir: Path,
    *,
    auth: AuthMode = "none",
    token_expires_in: int = 300,
    token_field: str = "both",
) -> RegistryServer:
    """Start a registry in *workdir* (config, htpasswd and certificate files go there)."""
    local.find_registry_binary(REGISTRY_BINARY)  # fail before starting a token server
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
    try:
        started = local.start_registry(workdir, binary=REGISTRY_BINARY, extra_config=auth_yaml)
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise
    return RegistryServer(
        started.host,
        started.process,
        started.workdir,
        auth=auth,
        users=users,
        token_server=token_server,
    )
