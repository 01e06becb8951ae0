"""Remote URLs and Git credentials: how secrets reach git without ever touching disk.

A token is handed to git through a credential helper that is defined on the command line
(``-c credential.<origin>.helper=...``) and reads the secret from an environment variable
of that one git process. Nothing secret is written to ``.git/config``, to a URL stored on
disk, or to a file; URLs given with ``user:token@`` in them are split on the way in. Every
message that may show a URL or git's stderr goes through :func:`redact` first.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from imagebot.config import GitCredentials
from imagebot.errors import ConfigError

_USER_ENV = "IMAGEBOT_GIT_USERNAME"
_PASSWORD_ENV = "IMAGEBOT_GIT_PASSWORD"
# The helper answers only "get"; "store" and "erase" are no-ops, so git never asks it to
# persist anything.
_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    f'printf "username=%s\\npassword=%s\\n" "${_USER_ENV}" "${_PASSWORD_ENV}"; }}; f'
)
# Used with a token when no user name is configured: GitHub wants exactly this for App
# tokens and accepts anything for personal tokens; GitLab and Gitea accept any name.
DEFAULT_TOKEN_USER = "x-access-token"

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>(?!//).*)$")


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if ":" in userinfo:
        return f"{scheme}{userinfo.split(':', 1)[0]}:***@"
    if scheme.lower().startswith("http"):
        return f"{scheme}***@"  # a token used as the user name
    return match.group(0)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """*text* with ``user:password@`` in URLs and every known secret replaced by ``***``."""
    text = _URL_USERINFO.sub(_redact_userinfo, text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class RemoteURL:
    """A Git remote URL split into what may be stored (``url``) and what may not."""

    url: str
    """The URL without any password (and, for http(s), without a user name)."""
    scheme: str
    """``https``, ``http``, ``ssh`` (also for ``git@host:path``), ``git`` or ``file``."""
    host: str | None
    port: int | None
    path: str
    """Path on the host without leading or trailing slashes, e.g. ``org/repo.git``."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def origin(self) -> str | None:
        """``scheme://host[:port]`` for http(s): the scope of a credential helper."""
        if self.scheme not in ("http", "https") or not self.host:
            return None
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")

    @property
    def display(self) -> str:
        return redact(self.url)


def parse_remote_url(url: str) -> RemoteURL:
    """Parse any URL git accepts for a remote; credentials are split out of it."""
    url = url.strip()
    if not url:
        raise ConfigError("empty repository URL", key="url")
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "ssh", "git", "file"):
            raise ConfigError(
                f"unsupported URL scheme {scheme!r} in {redact(url)}",
                key="url",
                hint="use https://, ssh://, git@host:path or file://",
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"invalid port in {redact(url)}", key="url") from None
        host = parts.hostname
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if scheme in ("ssh", "git") and username:
            netloc = f"{quote(username, safe='')}@{netloc}"
        clean = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
        if scheme == "file":
            return RemoteURL(clean, "file", None, None, parts.path.strip("/"))
        if not host:
            raise ConfigError(f"no host in {redact(url)}", key="url")
        return RemoteURL(clean, scheme, host, port, parts.path.strip("/"), username, password)
    match = _SCP_LIKE.match(url)
    if match and not url.startswith(("/", ".")):
        host, path, user = match.group("host"), match.group("path").strip("/"), match.group("user")
        return RemoteURL(url, "ssh", host, None, path, user)
    return RemoteURL(url, "file", None, None, url.rstrip("/"))


@dataclass(frozen=True)
class GitAuth:
    """What git needs to authenticate to one remote, as per-process environment and -c."""

    remote: RemoteURL
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None

    @classmethod
    def resolve(cls, remote: RemoteURL, credentials: GitCredentials | None = None) -> GitAuth:
        """Credentials from the config (files and variables read now), else from the URL."""
        creds = credentials or GitCredentials()
        password = remote.password
        if creds.password_file:
            password = _read_secret_file(creds.password_file, "credentials.password_file")
        elif creds.password_env:
            password = os.environ.get(creds.password_env)
            if not password:
                raise ConfigError(
                    f"environment variable {creds.password_env} is not set or empty",
                    key="credentials.password_env",
                )
        if password is not None and ("\n" in password or "\r" in password):
            raise ConfigError("the Git password or token spans several lines", key="credentials")
        username = creds.username or remote.username
        if password and not username:
            username = DEFAULT_TOKEN_USER
        key = known = None
        if creds.ssh_key_file:
            key = str(Path(creds.ssh_key_file).expanduser().resolve())
            if not Path(key).is_file():
                raise ConfigError(f"no such file: {key}", key="credentials.ssh_key_file")
        if creds.known_hosts_file:
            known = str(Path(creds.known_hosts_file).expanduser().resolve())
            if not Path(known).is_file():
                raise ConfigError(f"no such file: {known}", key="credentials.known_hosts_file")
        return cls(remote, username, password, key, known)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()

    def env(self) -> dict[str, str]:
        """Environment for a git process that talks to the remote."""
        env: dict[str, str] = {}
        if self.password is not None and self.remote.origin:
            env[_USER_ENV] = self.username or DEFAULT_TOKEN_USER
            env[_PASSWORD_ENV] = self.password
        command = self.ssh_command()
        if command:
            env["GIT_SSH_COMMAND"] = command
        return env

    def config(self) -> list[str]:
        """``-c`` arguments: our helper, scoped to the remote's origin, replaces all others."""
        if self.password is None or not self.remote.origin:
            return []
        scoped = f"credential.{self.remote.origin}.helper={_HELPER}"
        return ["-c", "credential.helper=", "-c", scoped]

    def ssh_command(self) -> str | None:
        """GIT_SSH_COMMAND using only the configured key, checking the host key strictly."""
        if not self.ssh_key_file and not self.known_hosts_file:
            return None
        args = ["ssh", "-o", "BatchMode=yes"]
        if self.ssh_key_file:
            args += ["-i", self.ssh_key_file, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts_file}"]
        args += ["-o", "StrictHostKeyChecking=yes"]
        return " ".join(shlex.quote(a) for a in args)


def _read_secret_file(path: str, key: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key=key) from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(f"{path} is empty", key=key)
    return value
