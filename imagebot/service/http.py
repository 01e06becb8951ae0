"""The service's single HTTP port: webhooks, metrics and health, as one ASGI app.

The routes are a Starlette app (:func:`build_app`) served by uvicorn on a daemon thread with
its own event loop (:class:`Endpoint`), so the scheduler's threads and the port never wait
for each other. Blocking work (a store query for ``/readyz``, parsing and acting on a webhook
body, rendering ``/metrics``) runs in Starlette's thread pool; ``/healthz`` never leaves the
event loop.

Routes::

    POST /hooks/<receiver>   202 accepted | 200 ignored | 400 | 401 | 403 | 404 | 409 | 411
                             | 413 | 503
    GET  /metrics            Prometheus text format
    GET  /healthz            200 while the process serves requests
    GET  /readyz             200 when config loaded, store open and first sync done, else 503

**Mount point.** Other parts of imagebot (the Deploy view in ``imagebot/web/``) add their
routes with ``Endpoint(..., routes=[Mount("/ui", app=web_app)])`` (or
``build_app(endpoint, routes=...)``). They come after the built-in routes, so they can never
shadow ``/hooks/``, ``/metrics``, ``/healthz`` or ``/readyz``; a mounted Starlette app keeps
its own middleware and exception handlers. The connection limits below hold for them too.

**Limits.** Every byte from a client is hostile, so the port holds under slow and many
clients. Per connection, below any route (:class:`_GuardedProtocol`, a uvicorn h11 protocol):

* a *request deadline*: a request's headers and body must arrive within
  ``service.request_timeout`` of the connection opening (or of the previous response on a
  kept-alive connection), however steadily the bytes trickle; else 408 and the connection is
  closed (uvicorn's own timeouts restart at every byte, so a slowloris client would never
  hit them);
* a *connection cap*: at ``service.max_connections`` open connections, a new connection
  evicts the one that has waited longest for its request (a slow client, or an idle
  kept-alive one); only when every connection is being answered is the new one refused
  with 503. So ``/healthz`` keeps answering through a flood of slow clients;
* request headers over 16 KiB are refused (400), idle kept-alive connections close after
  5 s.

For webhooks, the endpoint reads no body before it knows it wants it: a ``Content-Length``
is required (411), at most ``service.max_body_bytes`` (413), and credentials that travel in
headers or the URL (tokens) are checked before the first body byte is read; HMAC-signed
schemes need the body, which is then size-capped and deadline-bound. Access logs never print
a query string (Docker Hub and Quay put the token there).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from imagebot.errors import ConfigError
from imagebot.service.hooks import HookEvent, HookRejected, HookRequest, Receiver, ReplayGuard
from imagebot.service.metrics import Metrics
from imagebot.service.reconcilers import ReconcilerReport
from imagebot.service.types import Readiness

log = logging.getLogger(__name__)

GET_ROUTES = ("/metrics", "/healthz", "/readyz")
#: Methods the built-in routes take in, to answer 405 (with Allow) themselves.
_ANY = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
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


@dataclass(frozen=True)
class Limits:
    """What one client may hold of the port (see the module docstring)."""

    max_connections: int = 100
    request_timeout: float = 10.0
    keep_alive: float = 5.0
    max_header_bytes: int = 16 * 1024


# --- connection guard (runs on the server's event loop only) ------------------------------


class _Guard:
    """The open connections of one server, oldest first, and what closes them."""

    def __init__(self, limits: Limits, count: Callable[[str], None]) -> None:
        self.limits = limits
        self.count = count
        self.open: dict[_GuardedProtocol, None] = {}

    def longest_waiting(self) -> _GuardedProtocol | None:
        waiting = [c for c in self.open if c.waiting_since is not None]
        return min(waiting, key=lambda c: c.waiting_since or 0.0) if waiting else None


class _GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with a request deadline and a connection cap."""

    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.waiting_since: float | None = None  # waiting for (part of) a request since
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if len(guard.open) >= guard.limits.max_connections:
            victim = guard.longest_waiting()
            if victim is None:
                guard.count("over_capacity")
                self.refuse(503, b"Service Unavailable")
                return
            guard.count("evicted")
            victim.refuse(503, b"Service Unavailable")
        guard.open[self] = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.open.pop(self, None)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE):
            self._disarm()  # the whole request is in: the app takes its time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state not in (h11.DONE, h11.MUST_CLOSE) and self._deadline is None:
            self._arm()  # the next request on this connection has its own deadline

    def _arm(self) -> None:
        self._disarm()
        self.waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.guard.limits.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.waiting_since = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state in (h11.DONE, h11.MUST_CLOSE):
            return
        self.guard.count("deadline")
        self.refuse(408, b"Request Timeout")

    def refuse(self, status: int, phrase: bytes) -> None:
        """Answer *status* unless a response is under way, and close."""
        self._disarm()
        self.guard.open.pop(self, None)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                % (status, phrase)
            )
        self.transport.close()


# --- the app ---------------------------------------------------------------------------


def _json(code: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        (json.dumps(data) + "\n").encode(),
        status_code=code,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _method_not_allowed(allow: str, error: str) -> Response:
    return _json(405, {"error": error}, {"Allow": allow})


def build_app(endpoint: Endpoint, routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    """The ASGI app of *endpoint*: the built-in routes, then *routes* (the mount point)."""

    async def healthz(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET, HEAD", "use GET")
        return _json(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET, HEAD", "use GET")
        state = await run_in_threadpool(endpoint.readiness)
        body: dict[str, Any] = {
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
        return _json(200 if state.ready else 503, body)

    async def metrics(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed("GET, HEAD", "use GET")
        payload = await run_in_threadpool(endpoint.metrics.render)
        return Response(
            payload,
            media_type=endpoint.metrics.content_type,
            headers={"Cache-Control": "no-store"},
        )

    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in endpoint.receivers:
            return _json(404, {"error": "no such webhook receiver"})
        if request.method != "POST":
            return _method_not_allowed("POST", "use POST")
        response = await endpoint.hook(name, request)
        endpoint.metrics.webhook(name, response.status_code)
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json(404, {"error": "not found"})

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=_ANY),
            Route("/readyz", readyz, methods=_ANY),
            Route("/metrics", metrics, methods=_ANY),
            Route(HOOK_PREFIX + "{name}", hook, methods=_ANY),
            *routes,
        ],
        exception_handlers={404: not_found},
    )
    return _Front(app, endpoint.limits.max_header_bytes)


class _Front:
    """Before any route: refuse oversized request heads (431; h11 only bounds a head still
    arriving), and log method, path (never the query: tokens travel there) and status at
    debug level."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_header_bytes:
            await _json(431, {"error": "request headers too large"}, {"Connection": "close"})(
                scope, receive, send
            )
            return
        status: list[int] = []

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            client = scope.get("client") or ("-", 0)
            log.debug(
                "%s %s %s %s",
                client[0],
                scope["method"],
                scope["path"],
                status[0] if status else "-",
                extra={
                    "http_method": scope["method"],
                    "http_path": scope["path"],
                    "http_status": status[0] if status else None,
                },
            )


# --- the endpoint ----------------------------------------------------------------------


class Endpoint:
    """The HTTP server, run on a daemon thread. ``listen`` port 0 picks a free port."""

    def __init__(
        self,
        listen: str,
        *,
        receivers: Mapping[str, Receiver],
        on_event: Callable[[list[HookEvent]], object],
        metrics: Metrics,
        on_report: Callable[[list[ReconcilerReport]], object] | None = None,
        readiness: Callable[[], Readiness],
        max_body_bytes: int = 1 << 20,
        accepting: Callable[[], bool] = lambda: True,
        limits: Limits | None = None,
        replay_window: float | None = 600.0,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.listen = listen
        self.receivers = dict(receivers)
        self.on_event = on_event
        self.on_report = on_report
        self.metrics = metrics
        self.readiness = readiness
        self.max_body_bytes = max_body_bytes
        self.accepting = accepting
        self.limits = limits or Limits()
        self.replays = ReplayGuard(replay_window) if replay_window else None
        self.app = build_app(self, routes)
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # --- webhooks -------------------------------------------------------------------

    async def hook(self, name: str, request: Request) -> Response:
        """Everything about one webhook request but routing and counting."""
        if not self.accepting():
            return _json(503, {"error": "shutting down"}, {"Retry-After": "30"})
        close = {"Connection": "close"}
        if "chunked" in (request.headers.get("transfer-encoding") or "").lower():
            return _json(411, {"error": "send a Content-Length, not a chunked body"}, close)
        length_text = request.headers.get("content-length")
        try:
            length = int(length_text) if length_text is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            return _json(411, {"error": "Content-Length required"}, close)
        if length > self.max_body_bytes:
            # Not reading a large body: answer and close the connection instead.
            return _json(413, {"error": f"body larger than {self.max_body_bytes} bytes"}, close)
        receiver = self.receivers[name]
        query = parse_qs(request.url.query)
        client = request.client.host if request.client else "-"
        try:
            # Credentials that travel outside the body are checked before reading it.
            receiver.preauthenticate(HookRequest(b"", request.headers, query))
            body = await _read_body(request, self.max_body_bytes)
            hook_request = HookRequest(body, request.headers, query)
            result = await run_in_threadpool(
                functools.partial(receiver.handle, hook_request, replays=self.replays)
            )
        except HookRejected as exc:
            log.warning(
                "webhook %s: refused %s request from %s: %s",
                name,
                receiver.type,
                client,
                exc.reason,
                extra={"receiver": name, "status": exc.status, "reason": exc.kind},
            )
            self.metrics.webhook_rejected(name, exc.kind)
            return _json(exc.status, {"error": exc.reason})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening any more
        if result.reports:
            return await self._reports(name, list(result.reports))
        if not result.events:
            log.info("webhook %s: nothing to do (%s)", name, result.ignored)
            return _json(200, {"ignored": result.ignored})
        events = list(result.events)
        log.info(
            "webhook %s: %s",
            name,
            ", ".join(f"{e.image}:{e.tag}" if e.tag else e.image for e in events),
            extra={"receiver": name, "images": [e.image for e in events]},
        )
        try:
            matched = await run_in_threadpool(self.on_event, events)
        except Exception:
            log.exception("webhook %s: could not act on the event", name)
            return _json(500, {"error": "internal error"})
        answer: dict[str, Any] = {"accepted": [{"image": e.image, "tag": e.tag} for e in events]}
        if isinstance(matched, list):
            answer["matched"] = matched  # the images some repository uses
        return _json(202, answer)

    async def _reports(self, name: str, reports: list[ReconcilerReport]) -> Response:
        """A reconciler's reports: recorded and matched with imagebot's commits (202), or
        503 when nothing takes them (no store to record them in)."""
        for report in reports:
            log.info(
                "webhook %s: %s reports %s of %s: %s",
                name,
                report.object,
                report.outcome,
                report.revision[:12],
                report.reason,
                extra={"receiver": name, "revision": report.revision, "outcome": report.outcome},
            )
        if self.on_report is None:
            return _json(503, {"error": "reconciler reports are not handled here"})
        try:
            linked = await run_in_threadpool(self.on_report, reports)
        except Exception:
            log.exception("webhook %s: could not act on the report", name)
            return _json(500, {"error": "internal error"})
        answer: dict[str, Any] = {"accepted": [report.to_dict() for report in reports]}
        if isinstance(linked, list):
            answer["linked"] = linked  # the imagebot commits the revision contains
        return _json(202, answer)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        host, port = parse_listen(self.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(1024)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.listen}: {exc.strerror or exc}", key="service.listen"
            ) from None
        guard = _Guard(self.limits, self.metrics.connection_closed)
        config = uvicorn.Config(
            self.app,
            http=cast(Any, functools.partial(_GuardedProtocol, guard=guard)),
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=int(self.limits.keep_alive),
            timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=self.limits.max_header_bytes,
        )
        server = uvicorn.Server(config)
        # Logged by uvicorn per bad request: a hostile client must not flood the log.
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        self._socket, self._server = sock, server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="imagebot-http",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            self.stop()
            raise ConfigError(f"cannot serve on {self.listen}", key="service.listen")
        log.info("listening on http://%s", self.address_text)

    @property
    def address(self) -> tuple[str, int]:
        if self._socket is None:
            raise RuntimeError("the endpoint is not started")
        host, port = self._socket.getsockname()[:2]
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
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._socket = None


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # h11 holds the client to its Content-Length; belt and braces
            raise HookRejected(413, f"body larger than {limit} bytes", kind="too_large")
    return bytes(body)
