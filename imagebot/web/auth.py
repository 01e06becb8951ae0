"""Who is asking, and may they: sign-in, sessions and CSRF for the Deploy view.

- **Named tokens** (``web.users_file``): one ``user: sha256:<hex>`` per line, the SHA-256 of a
  random token (a mounted Secret; re-read when it changes). A person signs in on ``/login``
  with the token; scripts send ``Authorization: Bearer <token>`` to ``/api/v1/``.
- **A trusted reverse proxy** (``web.proxy_user_header``, oauth2-proxy style): its user header
  counts only on connections from ``web.trusted_proxies``; from anywhere else it is ignored
  (and logged).
- **Anonymous read** only with ``web.anonymous_read``; acting always needs a user.

The session is a signed cookie (HMAC-SHA256 with a key of the process): ``HttpOnly``,
``SameSite=Strict``, ``Secure`` with ``web.secure_cookies``. Every visitor gets one (without a
user) so that forms carry a CSRF token bound to it: ``HMAC(key, "csrf:" + session id)``.
Every POST from a browser must carry it; nothing changes on a GET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagebot.config import WebConfig

log = logging.getLogger(__name__)

COOKIE = "imagebot_session"
TOKEN_PREFIX = "sha256:"


def hash_token(token: str) -> str:
    """What the users file holds for *token*: ``sha256:<hex>``."""
    return TOKEN_PREFIX + hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The users file: user -> token hash, read again when its modification time changes."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path).expanduser() if path else None
        self._mtime: float | None = None
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            log.warning("web: cannot read users file %s: %s", self.path, exc)
            return {}
        with self._lock:
            if mtime != self._mtime:
                self._hashes = _parse_users(self.path.read_text(encoding="utf-8"), self.path)
                self._mtime = mtime
            return self._hashes

    def user_for(self, token: str) -> str | None:
        """The user whose hash matches *token* (compared in constant time), else None."""
        if not token:
            return None
        wanted = hash_token(token)
        found = None
        for user, stored in self._load().items():
            if hmac.compare_digest(stored.lower(), wanted):
                found = user
        return found


def _parse_users(text: str, path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        user, _, value = line.partition(":")
        user, value = user.strip().strip("'\""), value.strip().strip("'\"")
        hexdigest = value[len(TOKEN_PREFIX) :] if value.startswith(TOKEN_PREFIX) else ""
        if (
            not user
            or len(hexdigest) != 64
            or any(c not in "0123456789abcdefABCDEF" for c in hexdigest)
        ):
            log.warning("web: %s:%d: expected 'user: sha256:<64 hex digits>'", path, number)
            continue
        users[user] = value
    return users


@dataclass(frozen=True)
class Session:
    sid: str
    user: str | None
    expires: float


class Sessions:
    """Signed session cookies and the CSRF tokens bound to them."""

    def __init__(self, lifetime: float, key: bytes | None = None) -> None:
        self.lifetime = lifetime
        self.key = key or secrets.token_bytes(32)

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, payload, "sha256").digest()).decode()

    def new(self, user: str | None) -> Session:
        return Session(secrets.token_urlsafe(18), user, time.time() + self.lifetime)

    def dump(self, session: Session) -> str:
        payload = json.dumps([session.sid, session.user, int(session.expires)]).encode()
        body = base64.urlsafe_b64encode(payload).decode()
        return f"{body}.{self._sign(payload)}"

    def load(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie or len(cookie) > 4096:
            return None
        body, _, signature = cookie.rpartition(".")
        try:
            payload = base64.urlsafe_b64decode(body.encode())
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            sid, user, expires = json.loads(payload)
        except (ValueError, TypeError):
            return None
        if not isinstance(sid, str) or expires < time.time():
            return None
        return Session(sid, user if isinstance(user, str) else None, float(expires))

    def csrf(self, session: Session) -> str:
        return self._sign(b"csrf:" + session.sid.encode())

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return bool(session and token and hmac.compare_digest(self.csrf(session), token))


@dataclass(frozen=True)
class Visitor:
    """The request's user (None: anonymous), how they were known, and what they may do."""

    user: str | None
    via: str  # "session" | "proxy" | "token" | "anonymous"
    address: str
    can_read: bool

    @property
    def can_act(self) -> bool:
        return self.user is not None

    @property
    def who(self) -> str:
        return f"{self.user} ({self.address})" if self.user else self.address


class Access:
    """Decides who a request comes from (see the module docstring)."""

    def __init__(self, config: WebConfig, users: Users | None = None) -> None:
        self.config = config
        self.users = users or Users(config.users_file)
        self.sessions = Sessions(float(config.session_lifetime))
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies]

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)

    def visitor(
        self, headers: Any, address: str, session: Session | None, *, api: bool = False
    ) -> Visitor:
        header = self.config.proxy_user_header
        if header:
            proxied = headers.get(header)
            if proxied and self.trusted(address):
                return Visitor(proxied.strip()[:200], "proxy", address, True)
            if proxied:
                log.warning("web: ignored %s header from untrusted %s", header, address)
        authorization = headers.get("authorization", "")
        if api and authorization.lower().startswith("bearer "):
            user = self.users.user_for(authorization[7:].strip())
            if user is not None:
                return Visitor(user, "token", address, True)
            log.warning("web: refused an unknown API token from %s", address)
        if session is not None and session.user is not None:
            return Visitor(session.user, "session", address, True)
        return Visitor(None, "anonymous", address, self.config.anonymous_read)

    @property
    def sign_in_possible(self) -> bool:
        return self.users.path is not None
