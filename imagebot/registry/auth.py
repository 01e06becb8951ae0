"""The registry auth dance: ``WWW-Authenticate`` challenges and cached Bearer tokens.

Registries answer an unauthenticated request with 401 and a challenge. ``Basic`` wants the
credentials on every request; ``Bearer`` sends us to a token server (``realm``) which hands
out a short-lived token for a ``scope`` such as ``repository:library/alpine:pull``. Tokens are
per scope, so one is fetched per repository and reused until it expires.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
_SCHEME_RE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")

#: Tokens are dropped this long before they expire, so a request never carries a dead one.
EXPIRY_MARGIN = 10.0
#: The distribution spec's default lifetime when a token server omits ``expires_in``.
DEFAULT_TOKEN_LIFETIME = 60.0


@dataclass(frozen=True)
class Challenge:
    """One parsed challenge: scheme in lower case, parameter names in lower case."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (several challenges may share one header)."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        match = _SCHEME_RE.match(header, pos)
        if not match:
            break
        scheme = match.group(1).lower()
        pos = match.end()
        params: dict[str, str] = {}
        while pos < len(header):
            param = _PARAM_RE.match(header, pos)
            if not param:
                break
            # A bare word followed by a space starts the next challenge, not a parameter.
            name = param.group(1).lower()
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[name] = re.sub(r"\\(.)", r"\1", value) if param.group(2) is not None else value
            pos = param.end()
        challenges.append(Challenge(scheme, params))
        while pos < len(header) and header[pos] in ", ":
            pos += 1
    return challenges


def pick_challenge(headers: list[str]) -> Challenge | None:
    """Bearer if offered (it is what registries mean), else Basic, else nothing we speak."""
    found = [c for h in headers for c in parse_challenges(h)]
    for scheme in ("bearer", "basic"):
        for challenge in found:
            if challenge.scheme == scheme:
                return challenge
    return None


def pull_scope(repository_path: str) -> str:
    return f"repository:{repository_path}:pull"


@dataclass
class Token:
    value: str
    expires_at: float

    def valid(self, now: float) -> bool:
        return now < self.expires_at


def token_from_response(data: object, *, now: float) -> Token:
    """Read a token server's JSON answer (``token`` or ``access_token``, ``expires_in``)."""
    if not isinstance(data, dict):
        raise ValueError("token response is not a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise ValueError("token response has neither 'token' nor 'access_token'")
    lifetime = data.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    # A token shorter-lived than the margin is still used once rather than never.
    usable = max(float(lifetime) - EXPIRY_MARGIN, float(lifetime) / 2)
    return Token(value, now + usable)


class TokenCache:
    """Bearer tokens by (realm, service, scope, account), dropped when they expire."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str, str], Token] = {}

    def now(self) -> float:
        return self._clock()

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        token = self._tokens.get(key)
        if token is None:
            return None
        if not token.valid(self._clock()):
            del self._tokens[key]
            return None
        return token.value

    def put(self, key: tuple[str, str, str, str], token: Token) -> None:
        self._tokens[key] = token

    def forget(self, key: tuple[str, str, str, str]) -> None:
        self._tokens.pop(key, None)
