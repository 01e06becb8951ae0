"""Where registry credentials come from, first match wins.

For the host a request actually goes to (the mirror's host when a mirror is set):

1. the ``registries:`` entry in the config: ``username`` with ``password``, ``password_file``
   or ``password_env``; or its ``credential_helper``;
2. environment variables ``IMAGEBOT_REGISTRY_<HOST>_USERNAME`` and ``..._PASSWORD``, where
   ``<HOST>`` is the host upper-cased with every other character than A-Z and 0-9 turned into
   ``_`` (``ghcr.io`` -> ``GHCR_IO``, ``localhost:5000`` -> ``LOCALHOST_5000``; Docker Hub is
   ``DOCKER_IO``);
3. Kubernetes ``dockerconfigjson`` (or legacy ``dockercfg``) Secrets mounted as files, listed in
   ``pull_secrets`` (a file, or a directory holding ``.dockerconfigjson``/``.dockercfg``);
4. Docker's ``config.json`` (``docker_config``, else ``$DOCKER_CONFIG``, else ``~/.docker``):
   ``credHelpers`` for the host, then ``credsStore``, then ``auths``.

None found means anonymous access. Credentials are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebot.config import Config, RegistryConfig
from imagebot.errors import Unauthorized

log = logging.getLogger(__name__)

ENV_PREFIX = "IMAGEBOT_REGISTRY_"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A user name and secret, or an OAuth2 refresh ("identity") token, and where they came from."""

    username: str | None
    password: str | None
    source: str
    identity_token: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def lookup_host(host: str) -> str:
    """The name credentials are filed under: Docker Hub's hosts are all ``docker.io``."""
    return "docker.io" if host in _HUB_ALIASES else host


def env_key(host: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", lookup_host(host).upper())


def helper_server_url(host: str) -> str:
    return DOCKER_HUB_SERVER if lookup_host(host) == "docker.io" else host


def _normalise_auth_key(key: str) -> str:
    text = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", key.strip())
    return lookup_host(text.split("/", 1)[0])


class CredentialResolver:
    """Finds credentials for a contacted host; each host is resolved once per client."""

    def __init__(self, config: Config, *, environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._environ = os.environ if environ is None else environ
        self._cache: dict[str, Credentials | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def resolve(
        self, host: str, entry: RegistryConfig | None = None, entry_name: str | None = None
    ) -> Credentials | None:
        """Credentials for *host*; *entry* is the config entry the request is made for."""
        lock = self._locks.setdefault(host, asyncio.Lock())
        async with lock:
            if host not in self._cache:
                self._cache[host] = await self._resolve(host, entry, entry_name)
            return self._cache[host]

    def cached(self, host: str) -> Credentials | None:
        """What :meth:`resolve` found for *host* earlier (None if nothing or not asked)."""
        return self._cache.get(host)

    async def _resolve(
        self, host: str, entry: RegistryConfig | None, entry_name: str | None
    ) -> Credentials | None:
        if entry is None:
            entry = self._config.registry(host)
            entry_name = host
        name = entry_name or host
        found = self._from_entry(host, entry, name)
        if found is None and entry.credential_helper:
            found = await run_helper(entry.credential_helper, host, required=True)
        if found is None:
            found = self._from_env(host)
        if found is None:
            found = self._from_pull_secrets(host)
        if found is None:
            found = await self._from_docker_config(host)
        if found is not None:
            log.debug("credentials for %s from %s", host, found.source)
        return found

    def _from_entry(self, host: str, entry: RegistryConfig, name: str) -> Credentials | None:
        if not entry.username:
            return None
        where = f"registries.{name}"
        password = entry.password
        if entry.password_file:
            path = Path(entry.password_file).expanduser()
            try:
                password = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise Unauthorized(
                    f"cannot read {where}.password_file {str(path)!r}: {exc.strerror}",
                    registry=host,
                ) from None
        elif entry.password_env:
            password = self._environ.get(entry.password_env)
            if password is None:
                raise Unauthorized(
                    f"{where}.password_env names ${entry.password_env}, which is not set",
                    registry=host,
                )
        return Credentials(entry.username, password, f"config {where}")

    def _from_env(self, host: str) -> Credentials | None:
        key = env_key(host)
        username = self._environ.get(key + "_USERNAME")
        password = self._environ.get(key + "_PASSWORD")
        if username is None and password is None:
            return None
        if not username or password is None:
            log.warning("ignoring %s_USERNAME/_PASSWORD: both must be set", key)
            return None
        return Credentials(username, password, f"environment {key}_USERNAME")

    def _from_pull_secrets(self, host: str) -> Credentials | None:
        for raw in self._config.pull_secrets:
            for path in _secret_files(Path(raw).expanduser()):
                data = _read_json(path)
                if data is None:
                    continue
                auths = data.get("auths") if "auths" in data else data  # legacy .dockercfg
                found = _from_auths(auths, host, str(path))
                if found is not None:
                    return found
        return None

    def docker_config_path(self) -> Path:
        directory = self._config.docker_config or self._environ.get("DOCKER_CONFIG")
        base = Path(directory).expanduser() if directory else Path.home() / ".docker"
        return base / "config.json"

    async def _from_docker_config(self, host: str) -> Credentials | None:
        path = self.docker_config_path()
        data = _read_json(path) if path.is_file() else None
        if data is None:
            return None
        wanted = lookup_host(host)
        helpers = data.get("credHelpers")
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if isinstance(helper, str) and _normalise_auth_key(key) == wanted:
                    return await run_helper(helper, host, required=True)
        store = data.get("credsStore")
        if isinstance(store, str) and store:
            found = await run_helper(store, host, required=False)
            if found is not None:
                return found
        return _from_auths(data.get("auths"), host, str(path))


def _secret_files(path: Path) -> list[Path]:
    if path.is_dir():
        names = (".dockerconfigjson", ".dockercfg", "config.json")
        return [path / n for n in names if (path / n).is_file()]
    if path.is_file():
        return [path]
    log.warning("pull secret %s does not exist", path)
    return []


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("cannot read credentials from %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("cannot read credentials from %s: not a JSON object", path)
        return None
    return data


def _from_auths(auths: Any, host: str, source: str) -> Credentials | None:
    if not isinstance(auths, dict):
        return None
    wanted = lookup_host(host)
    for key, entry in auths.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        if _normalise_auth_key(key) != wanted:
            continue
        username, password = entry.get("username"), entry.get("password")
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                log.warning("ignoring auths[%r] in %s: 'auth' is not base64", key, source)
                continue
            username, _, password = decoded.partition(":")
        identity = entry.get("identitytoken")
        if isinstance(identity, str) and identity:
            return Credentials(username or None, None, source, identity_token=identity)
        if isinstance(username, str) and username and isinstance(password, str):
            return Credentials(username, password, source)
    return None


async def run_helper(name: str, host: str, *, required: bool) -> Credentials | None:
    """Ask ``docker-credential-<name> get`` for *host*'s credentials (the Docker protocol)."""
    program = shutil.which(f"docker-credential-{name}")
    label = f"credential helper docker-credential-{name}"
    if program is None:
        if required:
            raise Unauthorized(f"{label} is not on PATH", registry=host)
        log.warning("%s is not on PATH; trying other credential sources", label)
        return None
    server = helper_server_url(host)
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unauthorized(f"{label} failed: {exc}", registry=host) from None
    output = result.stdout.decode("utf-8", "replace").strip()
    if result.returncode != 0:
        message = (output or result.stderr.decode("utf-8", "replace")).strip()
        if "credentials not found" in message.lower():
            return None
        raise Unauthorized(
            f"{label} exited with status {result.returncode}: {message[:200]}", registry=host
        )
    try:
        data = json.loads(output)
        username, secret = data["Username"], data["Secret"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise Unauthorized(f"{label} printed no valid JSON answer", registry=host) from None
    if not isinstance(username, str) or not isinstance(secret, str):
        raise Unauthorized(f"{label} answered without a Username and Secret", registry=host)
    if username == "<token>":
        return Credentials(None, None, label, identity_token=secret)
    return Credentials(username, secret, label)
