"""The HTTP endpoint's routes, limits and health answers, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from imagebot.config import WebhookReceiverConfig
from imagebot.errors import ConfigError
from imagebot.service.hooks import HookEvent, build_receivers
from imagebot.service.http import Endpoint, parse_listen
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

SECRET = "endpoint-secret"


@dataclass
class Served:
    endpoint: Endpoint
    client: httpx.Client
    events: list[HookEvent]
    state: Readiness = field(default_factory=Readiness)
    accepting: list[bool] = field(default_factory=lambda: [True])

    @property
    def url(self) -> str:
        return self.endpoint.url


@pytest.fixture
def served() -> Iterator[Served]:
    events: list[HookEvent] = []
    holder: dict[str, Served] = {}
    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers=build_receivers({"gen": WebhookReceiverConfig(type="generic", secret=SECRET)}),
        on_event=events.extend,
        metrics=Metrics(),
        readiness=lambda: holder["s"].state,
        max_body_bytes=1000,
        accepting=lambda: holder["s"].accepting[0],
    )
    endpoint.start()
    with httpx.Client(timeout=5) as client:
        holder["s"] = Served(endpoint, client, events)
        yield holder["s"]
    endpoint.stop()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Imagebot-Signature": f"sha256={digest}"}


def test_healthz_answers_while_the_process_serves(served: Served) -> None:
    response = served.client.get(f"{served.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_until_every_check_holds(served: Served) -> None:
    served.state = Readiness(config_loaded=True, store_open=True, first_sync_done=False)
    response = served.client.get(f"{served.url}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "config_loaded": True,
        "store_open": True,
        "first_sync_done": False,
    }
    served.state = Readiness(config_loaded=True, store_open=True, first_sync_done=True)
    assert served.client.get(f"{served.url}/readyz").status_code == 200


def test_metrics_is_prometheus_text(served: Served) -> None:
    response = served.client.get(f"{served.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE imagebot_scans_total counter" in response.text


def test_head_on_healthz_has_no_body(served: Served) -> None:
    response = served.client.head(f"{served.url}/healthz")
    assert response.status_code == 200
    assert response.content == b""


def test_unknown_path_is_404(served: Served) -> None:
    assert served.client.get(f"{served.url}/nope").status_code == 404


def test_unknown_receiver_is_404_and_triggers_nothing(served: Served) -> None:
    body = b'{"image": "nginx"}'
    response = served.client.post(f"{served.url}/hooks/other", content=body, headers=signed(body))
    assert response.status_code == 404
    assert served.events == []


def test_get_on_a_receiver_is_405_with_allow(served: Served) -> None:
    response = served.client.get(f"{served.url}/hooks/gen")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_post_to_metrics_is_405(served: Served) -> None:
    response = served.client.post(f"{served.url}/metrics", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_body_over_the_limit_is_413_and_triggers_nothing(served: Served) -> None:
    body = b'{"image": "nginx", "pad": "' + b"x" * 2000 + b'"}'
    response = served.client.post(f"{served.url}/hooks/gen", content=body, headers=signed(body))
    assert response.status_code == 413
    assert served.events == []


def test_body_at_the_limit_is_accepted(served: Served) -> None:
    body = b'{"image": "nginx", "pad": "'
    body += b"x" * (1000 - len(body) - 2) + b'"}'
    assert len(body) == 1000
    response = served.client.post(f"{served.url}/hooks/gen", content=body, headers=signed(body))
    assert response.status_code == 202


def test_chunked_body_is_refused_with_411(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"image": "nginx"}'

    response = served.client.post(
        f"{served.url}/hooks/gen", content=chunks(), headers={"X-Imagebot-Token": SECRET}
    )
    assert response.status_code == 411
    assert served.events == []


def test_webhooks_are_503_while_shutting_down(served: Served) -> None:
    served.accepting[0] = False
    body = b'{"image": "nginx"}'
    response = served.client.post(f"{served.url}/hooks/gen", content=body, headers=signed(body))
    assert response.status_code == 503
    assert served.events == []


def test_accepted_webhook_answers_202_with_the_events(served: Served) -> None:
    body = b'{"image": "ghcr.io/o/app", "tag": "1.0"}'
    response = served.client.post(f"{served.url}/hooks/gen", content=body, headers=signed(body))
    assert response.status_code == 202
    assert response.json() == {"accepted": [{"image": "ghcr.io/o/app", "tag": "1.0"}]}
    assert served.events == [HookEvent("ghcr.io/o/app", "1.0", "gen")]


def test_keep_alive_connection_survives_a_refused_request(served: Served) -> None:
    body = b'{"image": "nginx"}'
    assert served.client.post(f"{served.url}/hooks/gen", content=body).status_code == 401
    response = served.client.post(f"{served.url}/hooks/gen", content=body, headers=signed(body))
    assert response.status_code == 202


def test_a_client_that_stops_sending_does_not_block_others(served: Served) -> None:
    host, port = served.endpoint.address
    with socket.create_connection((host, port)) as stalled:
        stalled.sendall(b"POST /hooks/gen HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
        assert served.client.get(f"{served.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":9000", ("0.0.0.0", 9000)),
        ("9100", ("0.0.0.0", 9100)),
        ("[::1]:8080", ("::1", 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["localhost:http", "1.2.3.4:70000", ""])
def test_bad_listen_is_a_config_error(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"service\.listen"):
        parse_listen(listen)


def test_port_in_use_is_a_config_error(served: Served) -> None:
    host, port = served.endpoint.address
    other = Endpoint(
        f"{host}:{port}",
        receivers={},
        on_event=lambda events: None,
        metrics=Metrics(),
        readiness=Readiness,
    )
    with pytest.raises(ConfigError, match="cannot listen"):
        other.start()
