"""Small hostile HTTP servers on 127.0.0.1, for what a real registry cannot be made to do.

A :class:`HostileServer` reads each request (line and headers) itself and hands it to a
script, a function that writes raw bytes to the socket: it can trickle a byte at a time,
never finish a body, declare 200 MB, send a gzip bomb, or answer nothing at all. Every
request is recorded with its ``Authorization`` header. With ``tls=True`` one port speaks
both TLS (a throw-away self-signed certificate) and plain HTTP, told apart by the first byte
a client sends, so a downgrade from https to http on the same host and port can be tried.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class Conn:
    """The script's side of one request: ``send`` raw bytes, or use the helpers."""

    sock: socket.socket
    request: Request
    stopped: threading.Event = field(default_factory=threading.Event)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int, headers: dict[str, str] | None = None, reason: str = "OK") -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        all_headers["Content-Length"] = str(len(body))
        self.head(status, all_headers)
        if self.request.method != "HEAD":
            self.send(body)

    def hang(self, seconds: float = 60.0) -> None:
        """Say nothing until the client goes away (or the server stops)."""
        self.stopped.wait(seconds)


Script = Callable[[Conn], None]


class HostileServer:
    """``with HostileServer(script) as server: server.host`` ("127.0.0.1:PORT")."""

    def __init__(self, script: Script, *, tls: bool = False) -> None:
        self.script = script
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._tmp: TemporaryDirectory[str] | None = None
        context = None
        if tls:
            self._tmp = TemporaryDirectory()
            cert, key = _self_signed(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        self.scheme = "https" if tls else "http"
        self._server = _Server(("127.0.0.1", 0), _handler(self), context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="hostile"
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def http_url(self) -> str:
        """The same host and port in plain HTTP (a TLS server answers both)."""
        return f"http://{self.host}"

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self.seen)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext | None):
        self.context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.context is not None:
            sock.settimeout(5)
            try:
                first = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                first = b""
            sock.settimeout(None)
            if first == b"\x16":  # a TLS handshake record
                sock = self.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
        return sock, address

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on a hostile answer is the point


def _handler(server: HostileServer) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if isinstance(sock, ssl.SSLSocket):
                sock.settimeout(5)
                try:
                    sock.do_handshake()
                except (ssl.SSLError, OSError):
                    return
                sock.settimeout(None)
            reader = sock.makefile("rb")
            while not server._stopped.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                with server._lock:
                    server.seen.append(request)
                try:
                    server.script(Conn(sock, request, server._stopped))
                except OSError:
                    return

    return Handler


def _read_request(reader: object) -> Request | None:
    line = reader.readline(65536)  # type: ignore[attr-defined]
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        return None
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline(65536)  # type: ignore[attr-defined]
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length:
        reader.read(length)  # type: ignore[attr-defined]
    return Request(parts[0], parts[1], headers)


def trickle(conn: Conn, data: bytes, every: float) -> None:
    """Send *data* one byte every *every* seconds."""
    for byte in data:
        conn.send(bytes([byte]))
        time.sleep(every)


def endless(chunk: bytes = b"[" * 65536) -> Iterator[bytes]:
    while True:
        yield chunk


def _self_signed(directory: Path) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.harness.tokenserver import self_signed

    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, "127.0.0.1")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
