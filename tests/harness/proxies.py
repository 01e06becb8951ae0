"""Loopback HTTP proxies in front of a registry: pagination and fault injection.

Distribution 2.8 ignores ``n``/``last`` and never sends ``Link``; hosted registries do
paginate, so :class:`PaginatingProxy` implements it (sorted tags, ``last`` excluded, ``n``
capped, ``Link: <...>; rel="next"``). :class:`FaultProxy` answers scripted faults (a status
with headers, a delay longer than the client's timeout, a dropped connection) for requests
matching a pattern, then forwards normally. Both record every request they see.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
}


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None
    at: float


class LoopbackProxy:
    """Forwards everything to *upstream* (``host:port``); subclasses intercept in :meth:`handle`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            daemon=True,
            name=type(self).__name__,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_to(self, pattern: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if re.search(pattern, s.path)]

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply | None:
        """Return a reply to answer the request yourself, or None to forward it."""
        return None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Reply:
        connection = getattr(self._local, "connection", None)
        for attempt in range(2):
            if connection is None:
                connection = http.client.HTTPConnection(self.upstream, timeout=30)
                self._local.connection = connection
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                return Reply(response.status, _collapse(response.getheaders()), data)
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.seen.append(
                Seen(
                    handler.command,
                    handler.path,
                    handler.headers.get("Authorization"),
                    time.monotonic(),
                )
            )


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timeout tests) is expected; don't print its broken pipe."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _collapse(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
            continue
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _handler(proxy: LoopbackProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            proxy._record(self)
            try:
                reply = proxy.handle(self, body)
            except ConnectionAbortedError:
                return
            if reply is None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = proxy.upstream
                reply = proxy.forward(self.command, self.path, headers, body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


class PaginatingProxy(LoopbackProxy):
    """Paginates ``/v2/<name>/tags/list`` like hosted registries do.

    ``max_page`` caps ``n``; ``absolute`` makes Link URLs absolute; ``ragged`` serves pages
    shorter than ``n`` (some registries do) so a client that stops on a short page fails.
    """

    def __init__(
        self, upstream: str, *, max_page: int = 100, absolute: bool = False, ragged: bool = False
    ) -> None:
        super().__init__(upstream)
        self.max_page = max_page
        self.absolute = absolute
        self.ragged = ragged

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply | None:
        parts = urlsplit(handler.path)
        match = re.fullmatch(r"/v2/(.+)/tags/list", parts.path)
        if handler.command != "GET" or not match:
            return None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = self.forward("GET", parts.path, headers)
        if upstream.status != 200:
            return upstream
        data = json.loads(upstream.body)
        tags = sorted(data.get("tags") or [])
        query = parse_qs(parts.query)
        n = min(int(query.get("n", [self.max_page])[0]), self.max_page)
        last = query.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        size = n
        if self.ragged:
            size = max(1, n - (len(tags) % 7) - 1)
        page, rest = tags[:size], tags[size:]
        reply_headers = {"Content-Type": "application/json"}
        if rest:
            link = f"{parts.path}?{urlencode({'last': page[-1], 'n': n})}"
            if self.absolute:
                link = f"{self.url}{link}"
            reply_headers["Link"] = f'<{link}>; rel="next"'
        return Reply(
            200, reply_headers, json.dumps({"name": match.group(1), "tags": page}).encode()
        )


@dataclass
class Fault:
    """A scripted answer: ``status`` (with ``headers``), or ``delay`` seconds of silence
    before forwarding, or ``drop`` to close the connection without an answer."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


class FaultProxy(LoopbackProxy):
    """Injects faults: ``proxy.inject(r"/tags/list", Fault(429, {"Retry-After": "1"}), ...)``."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._rules: list[tuple[re.Pattern[str], deque[Fault]]] = []
        self._always: list[tuple[re.Pattern[str], Fault]] = []

    def inject(self, pattern: str, *faults: Fault) -> None:
        """Answer the next requests matching *pattern* with *faults*, one each, in order."""
        with self._lock:
            self._rules.append((re.compile(pattern), deque(faults)))

    def always(self, pattern: str, fault: Fault) -> None:
        """Answer every request matching *pattern* with *fault* (a registry that is down)."""
        with self._lock:
            self._always.append((re.compile(pattern), fault))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._always.clear()

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for pattern, queue in self._rules:
                if queue and pattern.search(path):
                    return queue.popleft()
            for pattern, fault in self._always:
                if pattern.search(path):
                    return fault
        return None

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply | None:
        fault = self._next_fault(handler.path)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            handler.close_connection = True
            handler.connection.shutdown(2)
            raise ConnectionAbortedError("fault proxy dropped the connection")
        if fault.status is not None:
            payload = json.dumps(
                {"errors": [{"code": "FAULT", "message": f"injected {fault.status}"}]}
            ).encode()
            return Reply(
                fault.status, {"Content-Type": "application/json", **fault.headers}, payload
            )
        return None
