"""Harbor's CloudEvents payload format and GitLab project webhooks, over real HTTP, with the
payloads the vendors document (Harbor: "Configure Webhook Notifications"; GitLab: "Webhook
events"). The Default Harbor format and GitLab's registry notifications: ``test_hooks.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from imagebot.config import WebhookReceiverConfig
from imagebot.service.hooks import (
    HarborReceiver,
    HookEvent,
    HookRejected,
    HookRequest,
    ReplayGuard,
    build_receivers,
)
from imagebot.service.http import Endpoint
from imagebot.service.metrics import Metrics
from imagebot.service.types import Readiness

SECRET = "hook-secret-5b2e"
DIGEST = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
SENT = 1680501886.0  # 2023-04-03T06:04:46Z, the "time" below


def harbor_cloudevent(
    tag: str = "v1.4.2", *, kind: str = "harbor.artifact.pushed", event_id: str | None = None
) -> dict[str, Any]:
    """Harbor's CloudEvents example (structured mode), for an artifact pushed with *tag*."""
    return {
        "specversion": "1.0",
        "id": event_id or "66e18103-09c1-41f6-982f-37df223f3eeb",
        "requestid": "51c0b694-0168-4f3c-b0db-282565455d7b",
        "source": "/projects/2/webhook/policies/15",
        "type": kind,
        "datacontenttype": "application/json",
        "time": "2023-04-03T06:04:46Z",
        "data": {
            "resources": [
                {
                    "digest": DIGEST,
                    "tag": tag,
                    "resource_url": f"harbor.example.com/harbor/alpine:{tag}",
                }
            ],
            "repository": {
                "date_created": 1680501893,
                "name": "alpine",
                "namespace": "harbor",
                "repo_full_name": "harbor/alpine",
                "repo_type": "private",
            },
        },
        "operator": "harbor-jobservice",
    }


def by_digest() -> dict[str, Any]:
    """The documented example itself: pushed by digest, the digest where the tag would be."""
    event = harbor_cloudevent()
    (resource,) = event["data"]["resources"]
    resource.update(tag=DIGEST, resource_url=f"localhost/harbor/alpine@{DIGEST}")
    return event


GITLAB_PUSH_HOOK = {
    "object_kind": "push",
    "event_name": "push",
    "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "ref": "refs/heads/master",
    "user_username": "jsmith",
    "project_id": 15,
    "project": {
        "id": 15,
        "name": "Diaspora",
        "path_with_namespace": "mike/diaspora",
        "web_url": "http://example.com/mike/diaspora",
    },
    "commits": [],
    "total_commits_count": 0,
}


class Client:
    def __init__(self, url: str, http: httpx.Client, events: list[HookEvent]) -> None:
        self.url, self.http, self.events = url, http, events

    def post(self, receiver: str, payload: Any, headers: dict[str, str]) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.http.post(f"{self.url}/hooks/{receiver}", content=body, headers=headers)


@pytest.fixture(scope="module")
def server() -> Iterator[Client]:
    configs = {
        kind: WebhookReceiverConfig(type=kind, secret=SECRET)  # type: ignore[arg-type]
        for kind in ("harbor", "gitlab")
    }
    events: list[HookEvent] = []
    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers=build_receivers(configs),
        on_event=events.extend,
        metrics=Metrics(),
        readiness=lambda: Readiness(True, True, True),
        replay_window=None,  # the same documented payloads are posted by several tests
    )
    endpoint.start()
    with httpx.Client(timeout=5) as http:
        yield Client(endpoint.url, http, events)
    endpoint.stop()


@pytest.fixture
def hooks(server: Client) -> Client:
    server.events.clear()
    return server


CLOUDEVENTS = {"Content-Type": "application/cloudevents+json", "Authorization": SECRET}


# --- Harbor, CloudEvents format ---------------------------------------------------------


def test_harbor_cloudevents_artifact_pushed_names_image_and_tag(hooks: Client) -> None:
    response = hooks.post("harbor", harbor_cloudevent("v1.4.2"), CLOUDEVENTS)

    assert response.status_code == 202
    assert hooks.events == [HookEvent("harbor.example.com/harbor/alpine", "v1.4.2", "harbor")]


def test_harbor_cloudevents_push_by_digest_is_an_event_without_a_tag(hooks: Client) -> None:
    response = hooks.post("harbor", by_digest(), CLOUDEVENTS)

    assert response.status_code == 202
    assert hooks.events == [HookEvent("localhost/harbor/alpine", None, "harbor")]


def test_harbor_cloudevents_bearer_auth_header_is_accepted(hooks: Client) -> None:
    headers = {**CLOUDEVENTS, "Authorization": f"Bearer {SECRET}"}
    assert hooks.post("harbor", harbor_cloudevent(), headers).status_code == 202


@pytest.mark.parametrize("kind", ["harbor.artifact.pulled", "harbor.artifact.deleted"])
def test_harbor_cloudevents_other_event_types_are_ignored(hooks: Client, kind: str) -> None:
    response = hooks.post("harbor", harbor_cloudevent(kind=kind), CLOUDEVENTS)

    assert response.status_code == 200
    assert hooks.events == []


def test_harbor_cloudevents_wrong_auth_header_is_403(hooks: Client) -> None:
    headers = {**CLOUDEVENTS, "Authorization": "Bearer guess"}
    assert hooks.post("harbor", harbor_cloudevent(), headers).status_code == 403
    assert hooks.events == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.update(data=[]), "data to be an object"),
        (lambda e: e["data"].update(resources=[]), "data.resources is empty"),
        (lambda e: e["data"]["resources"][0].update(tag=7), "data.resources[].tag"),
        (lambda e: e["data"]["resources"][0].pop("resource_url"), "resource_url"),
        (lambda e: e["data"]["resources"][0].update(tag="-bad"), "bad tag"),
    ],
)
def test_harbor_cloudevents_malformed_data_is_400_naming_it(
    hooks: Client, change: Any, problem: str
) -> None:
    event = harbor_cloudevent()
    change(event)

    response = hooks.post("harbor", event, CLOUDEVENTS)

    assert response.status_code == 400
    assert problem in response.json()["error"]
    assert hooks.events == []


def harbor_handle(payload: dict[str, Any], guard: ReplayGuard) -> None:
    receiver = HarborReceiver("harbor", SECRET)
    body = json.dumps(payload).encode()
    receiver.handle(HookRequest(body, {"Authorization": SECRET}), replays=guard)


def test_a_harbor_cloudevent_delivered_twice_is_a_replay() -> None:
    guard = ReplayGuard(600, clock=lambda: SENT + 5)
    harbor_handle(harbor_cloudevent(), guard)

    with pytest.raises(HookRejected) as refused:
        harbor_handle(harbor_cloudevent(), guard)
    assert refused.value.status == 409


def test_harbor_cloudevents_with_new_ids_are_new_deliveries() -> None:
    guard = ReplayGuard(600, clock=lambda: SENT + 5)
    harbor_handle(harbor_cloudevent(event_id="a1"), guard)
    harbor_handle(harbor_cloudevent(event_id="a2"), guard)


def test_a_harbor_cloudevent_sent_long_ago_is_refused() -> None:
    guard = ReplayGuard(600, clock=lambda: SENT + 3600)

    with pytest.raises(HookRejected, match="outside the 600s replay window"):
        harbor_handle(harbor_cloudevent(), guard)


# --- GitLab project webhooks ------------------------------------------------------------


def test_a_gitlab_project_webhook_is_answered_200_and_ignored(hooks: Client) -> None:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}

    response = hooks.post("gitlab", GITLAB_PUSH_HOOK, headers)

    assert response.status_code == 200
    assert "container registry" in response.text
    assert hooks.events == []


def test_a_gitlab_project_webhook_with_a_wrong_token_is_403(hooks: Client) -> None:
    headers = {"X-Gitlab-Token": "guess", "X-Gitlab-Event": "Push Hook"}
    assert hooks.post("gitlab", GITLAB_PUSH_HOOK, headers).status_code == 403


def test_a_gitlab_body_that_is_neither_envelope_nor_project_hook_is_400(hooks: Client) -> None:
    response = hooks.post("gitlab", {"hello": "world"}, {"X-Gitlab-Token": SECRET})

    assert response.status_code == 400
    assert '"events" list' in response.json()["error"]
