"""The service's single HTTP port: webhooks, metrics and health.

The standard library's ``ThreadingHTTPServer`` is enough here: a handful of routes, small
bodies, low request rates, and no new dependency to audit. It does, however, trust clients
more than a long-running service should, so the handler adds what it lacks: a body size
limit checked before reading (413), a socket timeout against slow clients, and access logs
that never print a query string (Docker Hub and Quay put the token there).

Routes::

    POST /hooks/<receiver>   202 accepted | 200 ignored | 400 | 401 | 403 | 404 | 411 | 413 | 503
    GET  /metrics            Prometheus text format
    GET  /healthz            200 while the process serves requests
    GET  /readyz             200 when config loaded, store open and first sync done, else 503
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from imagebot.errors import ConfigError
from imagebot.service.hooks import HookEvent, HookRejected, HookRequest, Receiver
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

log = logging.getLogger(__name__)

GET_ROUTES = ("/metrics", "/healthz", "/readyz")
HOOK_PREFIX = "/hooks/"


def parse_listen(listen: str) -> tuple[str, int]:
    """``0.0.0.0:8080``, ``[::]:8080``, ``:8080`` (all interfaces) or ``8080``."""
    text = listen.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ConfigError(
            f"expected host:port such as 0.0.0.0:8080, got {listen!r}", key="service.listen"
        )
    return host or "0.0.0.0", number


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    endpoint: Endpoint

    def __init__(self, address: tuple[str, int], endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: Any) -> None:
        # A client that vanished mid-request is not worth a traceback on stderr.
        log.debug("connection from %s failed", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30  # seconds a client may take to send its request
    server_version = "imagebot"
    sys_version = ""

    # --- dispatch -------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        endpoint = self.server.endpoint
        path = urlsplit(self.path).path
        try:
            if path.startswith(HOOK_PREFIX):
                name = path[len(HOOK_PREFIX) :]
                if name not in endpoint.receivers:
                    self._drain()
                    return self._reply(404, {"error": "no such webhook receiver"})
                if method != "POST":
                    self._drain()
                    return self._reply(405, {"error": "use POST"}, allow="POST")
                return self._hook(name)
            if path in GET_ROUTES:
                if method not in ("GET", "HEAD"):
                    self._drain()
                    return self._reply(405, {"error": "use GET"}, allow="GET, HEAD")
                return self._get(path)
            self._drain()
            return self._reply(404, {"error": "not found"})
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # --- routes ---------------------------------------------------------------------

    def _get(self, path: str) -> None:
        endpoint = self.server.endpoint
        if path == "/healthz":
            return self._reply(200, {"status": "ok"})
        if path == "/readyz":
            state = endpoint.readiness()
            body = {
                "ready": state.ready,
                "checks": {
                    "config_loaded": state.config_loaded,
                    "store_open": state.store_open,
                    "first_sync_done": state.first_sync_done,
                },
            }
            if state.stopping:
                body["stopping"] = True
            if state.details:
                body["details"] = state.details
            return self._reply(200 if state.ready else 503, body)
        payload = endpoint.metrics.render()
        return self._send(200, payload, endpoint.metrics.content_type)

    def _hook(self, name: str) -> None:
        endpoint = self.server.endpoint
        code = self._hook_code(name)
        endpoint.metrics.webhook(name, code)

    def _hook_code(self, name: str) -> int:
        endpoint = self.server.endpoint
        if not endpoint.accepting():
            self._drain()
            self._reply(503, {"error": "shutting down"}, retry_after="30")
            return 503
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._reply(411, {"error": "send a Content-Length, not a chunked body"})
            return 411
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text) if length_text is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(411, {"error": "Content-Length required"})
            return 411
        if length > endpoint.max_body_bytes:
            # Not reading a large body: answer and close the connection instead.
            self.close_connection = True
            self._reply(413, {"error": f"body larger than {endpoint.max_body_bytes} bytes"})
            return 413
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return 400
        request = HookRequest(
            body=body, headers=self.headers, query=parse_qs(urlsplit(self.path).query)
        )
        receiver = endpoint.receivers[name]
        try:
            result = receiver.handle(request)
        except HookRejected as exc:
            log.warning(
                "webhook %s: refused %s request from %s: %s",
                name,
                receiver.type,
                self.client_address[0],
                exc.reason,
                extra={"receiver": name, "status": exc.status},
            )
            self._reply(exc.status, {"error": exc.reason})
            return exc.status
        if not result.events:
            log.info("webhook %s: nothing to do (%s)", name, result.ignored)
            self._reply(200, {"ignored": result.ignored})
            return 200
        events = list(result.events)
        log.info(
            "webhook %s: %s",
            name,
            ", ".join(f"{e.image}:{e.tag}" if e.tag else e.image for e in events),
            extra={"receiver": name, "images": [e.image for e in events]},
        )
        try:
            matched = endpoint.on_event(events)
        except Exception:
            log.exception("webhook %s: could not act on the event", name)
            self._reply(500, {"error": "internal error"})
            return 500
        answer: dict[str, Any] = {"accepted": [{"image": e.image, "tag": e.tag} for e in events]}
        if isinstance(matched, list):
            answer["matched"] = matched  # the images some repository uses
        self._reply(202, answer)
        return 202

    # --- plumbing -------------------------------------------------------------------

    def _drain(self) -> None:
        """Read a small unread body so a kept-alive connection stays in sync; else close."""
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text) if length_text else 0
        except ValueError:
            length = -1
        if 0 < length <= 65536:
            self.rfile.read(length)
        elif length != 0 or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True

    def _reply(self, code: int, data: Any, *, allow: str | None = None, **headers: str) -> None:
        body = (json.dumps(data) + "\n").encode()
        extra = dict(headers)
        if allow:
            extra["allow"] = allow
        self._send(code, body, "application/json", extra)

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(code, HTTPStatus(code).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key.replace("_", "-").title(), value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path  # never the query: tokens travel there
        log.debug(
            "%s %s %s %s",
            self.client_address[0],
            self.command,
            path,
            code,
            extra={"http_method": self.command, "http_path": path, "http_status": code},
        )

    def log_error(self, format: str, *args: Any) -> None:
        # Called with the raw request line for malformed requests; keep it out of the logs.
        log.debug("bad HTTP request from %s", self.client_address[0])


class Endpoint:
    """The HTTP server, run on a daemon thread. ``listen`` port 0 picks a free port."""

    def __init__(
        self,
        listen: str,
        *,
        receivers: Mapping[str, Receiver],
        on_event: Callable[[list[HookEvent]], object],
        metrics: Metrics,
        readiness: Callable[[], Readiness],
        max_body_bytes: int = 1 << 20,
        accepting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.listen = listen
        self.receivers = dict(receivers)
        self.on_event = on_event
        self.metrics = metrics
        self.readiness = readiness
        self.max_body_bytes = max_body_bytes
        self.accepting = accepting
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        host, port = parse_listen(self.listen)
        try:
            self._server = _Server((host, port), self)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.listen}: {exc.strerror or exc}", key="service.listen"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="imagebot-http",
            daemon=True,
        )
        self._thread.start()
        log.info("listening on http://%s", self.address_text)

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def address_text(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        """Base URL for clients (loopback when listening on all interfaces)."""
        host, port = self.address
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
