"""A tiny Docker token server (the Docker Hub auth flow) that Distribution trusts.

It signs ES256 JWTs with a fresh P-256 key whose self-signed certificate is the registry's
``rootcertbundle``; the JWT ``kid`` is the libtrust fingerprint Distribution looks keys up
by. Users authenticate with Basic (``GET /token``) or an OAuth2 refresh token (``POST``).
Every request is recorded in :attr:`TokenServer.requests` so tests can count token fetches.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def libtrust_kid(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@dataclass
class TokenRequest:
    method: str
    account: str | None
    scopes: list[str]
    service: str | None


@dataclass
class TokenServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``realm`` is the URL to configure."""

    workdir: Path
    users: dict[str, str] = field(default_factory=dict)
    service: str = "imagebot-test-registry"
    issuer: str = "imagebot-test-issuer"
    expires_in: int = 300
    #: Anonymous users get pull access, except to repositories under these prefixes.
    private_prefixes: tuple[str, ...] = ("private/",)
    #: Refresh ("identity") tokens accepted on POST, mapped to the user they stand for.
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    #: Which field(s) carry the token: "both", "token" or "access_token".
    token_field: str = "both"
    requests: list[TokenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = libtrust_kid(self._key.public_key())
        self.cert_path = self.workdir / "token-cert.pem"
        self._write_certificate()
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "token server not started"
        return self._server.server_address[1]

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="token-server"
        ).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def issue(self, account: str | None, scopes: list[str]) -> str:
        now = int(time.time())
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            if account is None:
                if name.startswith(self.private_prefixes):
                    continue
                actions = [a for a in actions if a == "pull"]
            if actions:
                access.append({"type": "repository", "name": name, "actions": actions})
        claims = {
            "iss": self.issuer,
            "sub": account or "",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})

    def _write_certificate(self) -> None:
        cert = self_signed(self._key, "imagebot test token issuer")
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            account = None
            header = self.headers.get("Authorization", "")
            if header.lower().startswith("basic "):
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return self._reply(400, {"details": "bad basic auth"})
                if server.users.get(user) != password:
                    return self._reply(401, {"details": "invalid credentials"})
                account = user
            scopes = _scopes(query.get("scope", []))
            server._record(TokenRequest("GET", account, scopes, _first(query.get("service"))))
            self._token(account, scopes)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            scopes = _scopes(form.get("scope", []))
            refresh = _first(form.get("refresh_token"))
            account = server.refresh_tokens.get(refresh or "")
            server._record(TokenRequest("POST", account, scopes, _first(form.get("service"))))
            if _first(form.get("grant_type")) != "refresh_token" or account is None:
                return self._reply(401, {"details": "invalid refresh token"})
            self._token(account, scopes)

        def _token(self, account: str | None, scopes: list[str]) -> None:
            token = server.issue(account, scopes)
            body: dict[str, object] = {
                "expires_in": server.expires_in,
                "issued_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            if server.token_field in ("both", "token"):
                body["token"] = token
            if server.token_field in ("both", "access_token"):
                body["access_token"] = token
            self._reply(200, body)

        def _reply(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _scopes(values: list[str]) -> list[str]:
    return [s for value in values for s in value.split(" ") if s]


def self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    """A certificate for *key*, signed by itself, valid from yesterday for 30 days."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
