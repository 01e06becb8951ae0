"""The service's port holds under slow and many clients, over raw sockets on 127.0.0.1.

Each test starts a real :class:`Endpoint` (uvicorn on its own thread) with small limits so
the behaviour shows in a second or two: a request deadline that cuts off a slowloris client
however steadily it trickles, a connection cap that evicts slow clients so /healthz keeps
answering, credentials checked before any body byte is read, and mounted routes that get the
same protection and can never shadow the built-in ones.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from imagebot.config import WebhookReceiverConfig
from imagebot.service.hooks import HookEvent, build_receivers
from imagebot.service.http import Endpoint, Limits
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

SECRET = "port-secret-4a1f"
RECEIVERS = {
    kind: WebhookReceiverConfig(type=kind, secret=SECRET)  # type: ignore[arg-type]
    for kind in ("generic", "github", "dockerhub", "harbor", "gitlab")
}


def metric(endpoint: Endpoint, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(endpoint.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


@pytest.fixture
def serve() -> Iterator[Callable[..., Endpoint]]:
    started: list[Endpoint] = []

    def start(**kwargs: Any) -> Endpoint:
        options: dict[str, Any] = {
            "receivers": build_receivers(RECEIVERS),
            "on_event": lambda events: None,
            "metrics": Metrics(),
            "readiness": lambda: Readiness(True, True, True),
            "max_body_bytes": 4096,
        }
        options.update(kwargs)
        endpoint = Endpoint("127.0.0.1:0", **options)
        endpoint.start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


def connect(endpoint: Endpoint) -> socket.socket:
    sock = socket.create_connection(endpoint.address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_reply(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or *timeout*)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) on a kept-alive connection."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send *data* one byte per *every* seconds until done, refused or *stop*."""
    for byte in data:
        if stop.wait(every):
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return


# --- the request deadline ----------------------------------------------------------------


def test_a_client_trickling_header_bytes_is_cut_off_at_the_deadline(serve) -> None:
    endpoint = serve(limits=Limits(request_timeout=1.5))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    stop = threading.Event()
    with connect(endpoint) as sock:
        started = time.monotonic()
        sender = threading.Thread(target=trickle, args=(sock, request, 0.1, stop), daemon=True)
        sender.start()
        reply = read_reply(sock)
        elapsed = time.monotonic() - started
        stop.set()
    # The whole request would take 23 s at this pace; the deadline ends it after 1.5 s.
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert 1.4 <= elapsed < 4.0
    assert metric(endpoint, "imagebot_http_connections_closed_total", reason="deadline") == 1


def test_a_client_trickling_its_body_is_cut_off_at_the_same_deadline(serve) -> None:
    received: list[HookEvent] = []
    endpoint = serve(limits=Limits(request_timeout=1.5), on_event=received.extend)
    body = b'{"image": "ghcr.io/o/app", "tag": "1.0"}'
    head = (
        b"POST /hooks/generic HTTP/1.1\r\nHost: x\r\nX-Imagebot-Token: " + SECRET.encode()
    ) + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    stop = threading.Event()
    with connect(endpoint) as sock:
        sock.sendall(head)
        started = time.monotonic()
        threading.Thread(target=trickle, args=(sock, body, 0.2, stop), daemon=True).start()
        reply = read_reply(sock)
        elapsed = time.monotonic() - started
        stop.set()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 4.0
    assert received == []


def test_the_deadline_counts_again_for_each_request_on_a_kept_alive_connection(serve) -> None:
    endpoint = serve(limits=Limits(request_timeout=1.0))
    with connect(endpoint) as sock:
        for _ in range(3):
            time.sleep(0.6)  # three requests: 1.8 s on one connection, each in time
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_a_request_being_answered_is_never_cut_off_by_the_deadline(serve) -> None:
    release = threading.Event()

    def slow_event(events: list[HookEvent]) -> None:
        release.wait(5)  # acting on the event takes longer than the deadline

    endpoint = serve(limits=Limits(request_timeout=0.5), on_event=slow_event)
    body = b'{"image": "nginx"}'
    threading.Timer(1.5, release.set).start()
    response = httpx.post(
        f"{endpoint.url}/hooks/generic",
        content=body,
        headers={"X-Imagebot-Token": SECRET},
        timeout=10,
    )
    assert response.status_code == 202


# --- many clients ----------------------------------------------------------------------


def test_healthz_answers_throughout_a_flood_of_slow_clients(serve) -> None:
    endpoint = serve(limits=Limits(max_connections=20, request_timeout=30))
    stop = threading.Event()
    flood: list[socket.socket] = []
    latencies: list[float] = []
    try:
        for _ in range(60):  # three times the cap, each sending a header byte a second
            sock = connect(endpoint)
            flood.append(sock)
            threading.Thread(
                target=trickle,
                args=(sock, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 100, 1.0, stop),
                daemon=True,
            ).start()
        for _ in range(10):
            started = time.monotonic()
            response = httpx.get(f"{endpoint.url}/healthz", timeout=5)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            # More slow clients arrive between the probes.
            for _ in range(5):
                sock = connect(endpoint)
                flood.append(sock)
                sock.sendall(b"GET / HTTP/1.1\r\n")
    finally:
        stop.set()
        for sock in flood:
            sock.close()
    assert metric(endpoint, "imagebot_http_connections_closed_total", reason="evicted") >= 40
    assert max(latencies) < 2.0, latencies


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(serve) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    def busy(events: list[HookEvent]) -> None:
        entered.release()
        release.wait(10)

    endpoint = serve(limits=Limits(max_connections=2), on_event=busy)
    body = b'{"image": "nginx"}'
    head = b"POST /hooks/generic HTTP/1.1\r\nHost: x\r\nX-Imagebot-Token: %s\r\n" % (
        SECRET.encode()
    )
    request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    busy_socks = [connect(endpoint), connect(endpoint)]
    try:
        for sock in busy_socks:
            sock.sendall(request)
        assert entered.acquire(timeout=5)
        assert entered.acquire(timeout=5)
        with connect(endpoint) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_reply(extra, 5).startswith(b"HTTP/1.1 503 ")
    finally:
        release.set()
        for sock in busy_socks:
            assert read_response(sock).startswith(b"HTTP/1.1 202 ")
            sock.close()
    assert metric(endpoint, "imagebot_http_connections_closed_total", reason="over_capacity") == 1


def test_request_headers_over_the_size_limit_are_refused(serve) -> None:
    endpoint = serve(limits=Limits(max_header_bytes=4096))
    with connect(endpoint) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        assert read_reply(sock, 5).startswith(b"HTTP/1.1 431 ")


def test_request_headers_trickling_past_the_size_limit_are_refused(serve) -> None:
    endpoint = serve(limits=Limits(max_header_bytes=4096))
    with connect(endpoint) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):
            time.sleep(0.01)
            try:
                sock.sendall(b"X-Big: " + b"a" * 1000 + b"\r\n")
            except OSError:
                break
        assert read_reply(sock, 5).startswith(b"HTTP/1.1 400 ")


# --- authentication before the body ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "credentials", "status"),
    [
        ("/hooks/generic", b"X-Imagebot-Token: wrong\r\n", 403),
        ("/hooks/generic", b"", 401),
        ("/hooks/harbor", b"Authorization: wrong\r\n", 403),
        ("/hooks/gitlab", b"X-Gitlab-Token: wrong\r\n", 403),
        ("/hooks/dockerhub?token=wrong", b"", 403),
        ("/hooks/github", b"", 401),
        ("/hooks/github", b"X-Hub-Signature-256: sha1=abc\r\n", 403),
    ],
)
def test_credentials_outside_the_body_are_checked_before_any_body_byte_is_read(
    serve, path: str, credentials: bytes, status: int
) -> None:
    endpoint = serve()
    with connect(endpoint) as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 3000\r\n\r\n"
            % (path.encode(), credentials)
        )
        sock.settimeout(5)
        reply = sock.recv(4096)  # answered although not one body byte was sent
    assert reply.startswith(b"HTTP/1.1 %d " % status)


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(serve) -> None:
    endpoint = serve(max_body_bytes=1000)
    with connect(endpoint) as sock:
        sock.sendall(
            b"POST /hooks/generic HTTP/1.1\r\nHost: x\r\nX-Imagebot-Token: %s\r\n"
            b"Content-Length: 50000000\r\n\r\n" % SECRET.encode()
        )
        reply = read_reply(sock, 5)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in reply.lower()


def test_a_signed_body_is_read_then_verified(serve) -> None:
    received: list[HookEvent] = []
    endpoint = serve(on_event=received.extend)
    body = b'{"image": "ghcr.io/o/app", "tag": "2.0"}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = httpx.post(
        f"{endpoint.url}/hooks/generic",
        content=body,
        headers={"X-Imagebot-Signature": f"sha256={digest}"},
    )
    assert response.status_code == 202
    assert received == [HookEvent("ghcr.io/o/app", "2.0", "generic")]


# --- the mount point -------------------------------------------------------------------


def _page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("a page")


def test_mounted_routes_are_served_on_the_same_port(serve) -> None:
    endpoint = serve(routes=[Route("/ui/deploy", _page)])
    assert httpx.get(f"{endpoint.url}/ui/deploy").text == "a page"
    assert httpx.get(f"{endpoint.url}/healthz").json() == {"status": "ok"}


def test_mounted_routes_cannot_shadow_the_built_in_ones(serve) -> None:
    endpoint = serve(routes=[Route("/healthz", _page), Route("/hooks/generic", _page)])
    assert httpx.get(f"{endpoint.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{endpoint.url}/hooks/generic").status_code == 405


def test_mounted_routes_get_the_same_request_deadline(serve) -> None:
    endpoint = serve(routes=[Route("/ui/deploy", _page)], limits=Limits(request_timeout=1.0))
    stop = threading.Event()
    with connect(endpoint) as sock:
        threading.Thread(
            target=trickle,
            args=(sock, b"GET /ui/deploy HTTP/1.1\r\nX: " + b"a" * 100, 0.1, stop),
            daemon=True,
        ).start()
        reply = read_reply(sock)
        stop.set()
    assert reply.startswith(b"HTTP/1.1 408 ")
