"""Signed and identified webhooks cannot be replayed, and hostile payloads are 400s.

Over real HTTP to an :class:`Endpoint` with the default replay window: a delivery the sender
identifies (a delivery id, event ids, or a date) is accepted once; the same delivery again,
or one dated outside the window, is refused with 409 and counted. A signed payload whose
fields have the wrong type is refused with 400 naming the field, and counted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagebot.config import WebhookReceiverConfig
from imagebot.service.hooks import Delivery, HookEvent, HookRejected, ReplayGuard, build_receivers
from imagebot.service.http import Endpoint
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

SECRET = "replay-secret-93be"


class Server:
    def __init__(self) -> None:
        self.events: list[HookEvent] = []
        configs = {
            kind: WebhookReceiverConfig(type=kind, secret=SECRET)  # type: ignore[arg-type]
            for kind in ("github", "generic", "gitlab", "harbor", "dockerhub", "quay")
        }
        self.endpoint = Endpoint(
            "127.0.0.1:0",
            receivers=build_receivers(configs),
            on_event=self.events.extend,
            metrics=Metrics(),
            readiness=lambda: Readiness(True, True, True),
        )

    def post(
        self, receiver: str, payload: Any, headers: dict[str, str] | None = None, **params: str
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return httpx.post(
            f"{self.endpoint.url}/hooks/{receiver}",
            content=body,
            headers=headers or {},
            params=params,
            timeout=5,
        )

    def counted(self, receiver: str, reason: str) -> float:
        text = self.endpoint.metrics.render().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "imagebot_webhook_rejected_total" and sample.labels == {
                    "receiver": receiver,
                    "reason": reason,
                }:
                    return sample.value
        return 0.0


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    served.endpoint.start()
    yield served
    served.endpoint.stop()


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def github(tag: str = "1.0", **package: Any) -> bytes:
    return json.dumps(
        {
            "action": "published",
            "package": {
                "name": "app",
                "package_type": "CONTAINER",
                "owner": {"login": "o"},
                "package_version": {
                    "container_metadata": {"tag": {"name": tag}},
                    "package_url": f"ghcr.io/o/app:{tag}",
                },
                **package,
            },
        }
    ).encode()


def github_headers(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": signature(body),
        "X-GitHub-Event": "package",
        "X-GitHub-Delivery": delivery,
    }


# --- replays ---------------------------------------------------------------------------


def test_a_github_delivery_replayed_is_refused_with_409(server: Server) -> None:
    body = github()
    assert server.post("github", body, github_headers(body, "d-1")).status_code == 202
    replay = server.post("github", body, github_headers(body, "d-1"))
    assert replay.status_code == 409
    assert "replay" in replay.json()["error"]
    assert len(server.events) == 1
    assert server.counted("github", "replay") == 1


def test_a_github_replay_with_a_new_delivery_id_is_still_refused(server: Server) -> None:
    # X-GitHub-Delivery is not signed: the signed body is what a replay cannot change.
    body = github()
    assert server.post("github", body, github_headers(body, "d-1")).status_code == 202
    assert server.post("github", body, github_headers(body, "forged-2")).status_code == 409


def test_two_different_github_deliveries_are_both_accepted(server: Server) -> None:
    first, second = github("1.0"), github("1.1")
    assert server.post("github", first, github_headers(first, "d-1")).status_code == 202
    assert server.post("github", second, github_headers(second, "d-2")).status_code == 202


def test_a_generic_delivery_id_is_accepted_once(server: Server) -> None:
    body = b'{"image": "ghcr.io/o/app", "tag": "1.0"}'
    headers = {"X-Imagebot-Signature": signature(body), "X-Imagebot-Delivery": "abc"}
    assert server.post("generic", body, headers).status_code == 202
    assert server.post("generic", body, headers).status_code == 409


def test_a_generic_event_without_a_delivery_id_or_date_may_repeat(server: Server) -> None:
    # Nothing identifies it: a tag pushed again is a new event, not a replay.
    body = b'{"image": "ghcr.io/o/app", "tag": "main"}'
    headers = {"X-Imagebot-Signature": signature(body)}
    assert server.post("generic", body, headers).status_code == 202
    assert server.post("generic", body, headers).status_code == 202


def test_a_signed_generic_event_dated_outside_the_window_is_refused(server: Server) -> None:
    body = json.dumps({"image": "ghcr.io/o/app", "tag": "1.0", "timestamp": time.time() - 3600})
    data = body.encode()
    response = server.post("generic", data, {"X-Imagebot-Signature": signature(data)})
    assert response.status_code == 409
    assert "replay window" in response.json()["error"]


def test_a_registry_envelope_replayed_is_refused(server: Server) -> None:
    envelope = {
        "events": [
            {
                "id": "event-1",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "action": "push",
                "target": {"repository": "group/app", "tag": "1.0"},
                "request": {"host": "registry.gitlab.com"},
            }
        ]
    }
    headers = {"X-Gitlab-Token": SECRET}
    assert server.post("gitlab", envelope, headers).status_code == 202
    assert server.post("gitlab", envelope, headers).status_code == 409


def test_a_dockerhub_push_replayed_is_refused(server: Server) -> None:
    payload = {
        "callback_url": "https://registry.hub.docker.com/u/o/app/hook/1a2b/",
        "push_data": {"pushed_at": int(time.time()), "tag": "1.0"},
        "repository": {"repo_name": "o/app"},
    }
    assert server.post("dockerhub", payload, token=SECRET).status_code == 202
    assert server.post("dockerhub", payload, token=SECRET).status_code == 409


def test_a_dockerhub_push_dated_a_day_ago_is_refused(server: Server) -> None:
    payload = {
        "callback_url": "https://registry.hub.docker.com/u/o/app/hook/9z/",
        "push_data": {"pushed_at": int(time.time()) - 86400, "tag": "1.0"},
        "repository": {"repo_name": "o/app"},
    }
    assert server.post("dockerhub", payload, token=SECRET).status_code == 409
    assert server.events == []


def test_a_harbor_push_replayed_is_refused(server: Server) -> None:
    payload = {
        "type": "PUSH_ARTIFACT",
        "occur_at": int(time.time()),
        "event_data": {"resources": [{"tag": "v1", "resource_url": "harbor.example.com/l/a:v1"}]},
    }
    headers = {"Authorization": SECRET}
    assert server.post("harbor", payload, headers).status_code == 202
    assert server.post("harbor", payload, headers).status_code == 409


def test_a_request_that_fails_authentication_does_not_use_up_a_delivery_id(
    server: Server,
) -> None:
    body = github()
    forged = {**github_headers(body, "d-1"), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert server.post("github", body, forged).status_code == 403
    assert server.post("github", body, github_headers(body, "d-1")).status_code == 202


def test_the_replay_guard_forgets_a_delivery_after_the_window() -> None:
    now = [1000.0]
    guard = ReplayGuard(600, clock=lambda: now[0])
    guard.check("hook", Delivery(("id-1",)))
    with pytest.raises(HookRejected) as refused:
        guard.check("hook", Delivery(("id-1",)))
    assert refused.value.status == 409
    now[0] += 601
    guard.check("hook", Delivery(("id-1",)))  # long gone: accepted (and dated ones: refused)


def test_the_replay_guard_holds_a_bounded_number_of_deliveries() -> None:
    guard = ReplayGuard(600, max_entries=100)
    for number in range(1000):
        guard.check("hook", Delivery((f"id-{number}",)))
    assert len(guard._seen) == 100


# --- wrongly typed fields --------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "field"),
    [
        ({"registry": "CONTAINER"}, "registry"),
        ({"package_version": {"container_metadata": {"tag": {"name": 7}}}}, "tag.name"),
        ({"package_version": {"container_metadata": "x"}}, "container_metadata"),
        ({"package_version": {"container_metadata": {"tag": 7}}}, "container_metadata.tag"),
        ({"package_version": [1]}, "package_version"),
    ],
)
def test_a_signed_github_payload_with_a_wrongly_typed_field_is_400_naming_it(
    server: Server, package: dict[str, Any], field: str
) -> None:
    body = github(**package)
    response = server.post("github", body, github_headers(body, "typed"))
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert server.counted("github", "malformed") == 1


@pytest.mark.parametrize(
    "event",
    [
        {"action": "push", "target": "group/app:1.0"},
        {"action": "push", "target": {"repository": "a", "tag": "1"}, "request": "host"},
        {"action": "push", "target": {"repository": ["a"], "tag": {"t": 1}}, "id": 5},
    ],
)
def test_a_registry_envelope_with_a_wrongly_typed_field_is_400(
    server: Server, event: dict[str, Any]
) -> None:
    response = server.post("gitlab", {"events": [event]}, {"X-Gitlab-Token": SECRET})
    assert response.status_code == 400
    assert response.json()["error"].startswith("payload")
    assert server.counted("gitlab", "malformed") == 1


def test_a_signed_payload_nested_too_deep_is_400(server: Server) -> None:
    body = b"[" * 100_000 + b"]" * 100_000  # valid JSON, deeper than the parser recurses
    response = server.post("generic", body, {"X-Imagebot-Signature": signature(body)})
    assert response.status_code == 400
    assert response.json() == {"error": "body is not JSON"}
