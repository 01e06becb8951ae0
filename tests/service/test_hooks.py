"""Webhook receivers, exercised over real HTTP with each sender's documented payload and
authentication. A refused request must never reach ``on_event``."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.config import WebhookReceiverConfig
from imagebot.errors import ConfigError
from imagebot.service.hooks import (
    GenericReceiver,
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

SECRET = "hook-secret-8d1f"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Hooks:
    url: str
    client: httpx.Client
    events: list[HookEvent] = field(default_factory=list)

    def post(
        self,
        receiver: str,
        payload: Any,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post(
            f"{self.url}/hooks/{receiver}",
            content=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            params=params,
        )


@pytest.fixture(scope="module")
def hooks_server() -> Iterator[Hooks]:
    configs = {
        kind: WebhookReceiverConfig(type=kind, secret=SECRET)  # type: ignore[arg-type]
        for kind in ("github", "generic", "gitlab", "distribution", "harbor", "dockerhub", "quay")
    }
    events: list[HookEvent] = []
    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers=build_receivers(configs),
        on_event=events.extend,
        metrics=Metrics(),
        readiness=lambda: Readiness(True, True, True),
        replay_window=None,  # the same documented payloads are posted by many tests
    )
    endpoint.start()
    with httpx.Client(timeout=5) as client:
        yield Hooks(endpoint.url, client, events)
    endpoint.stop()


@pytest.fixture
def hooks(hooks_server: Hooks) -> Hooks:
    hooks_server.events.clear()
    return hooks_server


# --- payloads as the senders document them ---------------------------------------------


def github_package(tag: str = "v1.2.0", event_key: str = "package") -> dict[str, Any]:
    return {
        "action": "published",
        event_key: {
            "id": 10696,
            "name": "hello-world",
            "namespace": "Codertocat/hello-world",
            "ecosystem": "CONTAINER",
            "package_type": "CONTAINER",
            "owner": {"login": "Codertocat", "type": "User"},
            "package_version": {
                "id": 57755791,
                "version": "sha256:" + "3da1996a8115d7616457760d9920b815" * 2,
                "container_metadata": {
                    "tag": {"name": tag, "digest": "sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc97"},
                },
                "package_url": f"ghcr.io/Codertocat/hello-world:{tag}",
            },
            "registry": {"name": "GitHub CONTAINER registry", "type": "CONTAINER"},
        },
        "repository": {"full_name": "Codertocat/hello-world"},
        "sender": {"login": "Codertocat"},
    }


DOCKERHUB = {
    "callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5/",
    "push_data": {"pushed_at": 1417566161, "pusher": "trustedbuilder", "tag": "latest"},
    "repository": {
        "comment_count": 0,
        "date_created": 1417494799,
        "name": "testhook",
        "namespace": "svendowideit",
        "owner": "svendowideit",
        "repo_name": "svendowideit/testhook",
        "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/",
        "status": "Active",
    },
}

QUAY = {
    "name": "test",
    "repository": "dgangaia/test",
    "namespace": "dgangaia",
    "docker_url": "quay.io/dgangaia/test",
    "homepage": "https://quay.io/repository/dgangaia/test",
    "updated_tags": ["latest", "1.0"],
}

HARBOR = {
    "type": "PUSH_ARTIFACT",
    "occur_at": 1737446601,
    "operator": "admin",
    "event_data": {
        "resources": [
            {
                "digest": "sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0",
                "tag": "v1",
                "resource_url": "harbor.example.com/library/rumput:v1",
            }
        ],
        "repository": {
            "date_created": 1737446600,
            "name": "rumput",
            "namespace": "library",
            "repo_full_name": "library/rumput",
            "repo_type": "public",
        },
    },
}


def registry_events(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}


def manifest_push(repository: str, tag: str | None, host: str) -> dict[str, Any]:
    target: dict[str, Any] = {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "size": 708,
        "digest": "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
        "length": 708,
        "repository": repository,
        "url": f"https://{host}/v2/{repository}/manifests/sha256:fea8",
    }
    if tag:
        target["tag"] = tag
    return {
        "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
        "timestamp": "2016-03-09T14:44:26.402973972-08:00",
        "action": "push",
        "target": target,
        "request": {"id": "6df24a34", "addr": "192.168.64.11:42961", "host": host},
        "actor": {"name": "ci"},
        "source": {"addr": "registry-0:5000", "instanceID": "a53db899"},
    }


GITLAB = registry_events(
    manifest_push("group/project/app", "1.4.0", "registry.gitlab.com"),
    {**manifest_push("group/project/app", None, "registry.gitlab.com"), "action": "push"},
    {**manifest_push("group/project/app", "1.3.0", "registry.gitlab.com"), "action": "pull"},
)


# --- GitHub ----------------------------------------------------------------------------


def test_github_package_event_with_valid_signature_is_accepted(hooks: Hooks) -> None:
    body = json.dumps(github_package()).encode()
    response = hooks.post(
        "github",
        body,
        headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(body)},
    )
    assert response.status_code == 202
    assert hooks.events == [HookEvent("ghcr.io/codertocat/hello-world", "v1.2.0", "github")]


def test_github_registry_package_event_is_accepted(hooks: Hooks) -> None:
    body = json.dumps(github_package("2.0.0", "registry_package")).encode()
    response = hooks.post(
        "github",
        body,
        headers={"X-GitHub-Event": "registry_package", "X-Hub-Signature-256": sign(body)},
    )
    assert response.status_code == 202
    assert hooks.events == [HookEvent("ghcr.io/codertocat/hello-world", "2.0.0", "github")]


def test_github_without_signature_is_401_and_triggers_nothing(hooks: Hooks) -> None:
    response = hooks.post("github", github_package(), headers={"X-GitHub-Event": "package"})
    assert response.status_code == 401
    assert hooks.events == []


def test_github_with_signature_from_another_secret_is_403(hooks: Hooks) -> None:
    body = json.dumps(github_package()).encode()
    response = hooks.post(
        "github",
        body,
        headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(body, "other")},
    )
    assert response.status_code == 403
    assert hooks.events == []


def test_github_signature_of_a_different_body_is_403(hooks: Hooks) -> None:
    signed = json.dumps(github_package("v1")).encode()
    sent = json.dumps(github_package("v9")).encode()
    response = hooks.post(
        "github", sent, headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(signed)}
    )
    assert response.status_code == 403
    assert hooks.events == []


def test_github_sha1_signature_is_refused(hooks: Hooks) -> None:
    body = json.dumps(github_package()).encode()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = hooks.post(
        "github", body, headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sha1}
    )
    assert response.status_code == 403


def test_github_ping_is_acknowledged_without_events(hooks: Hooks) -> None:
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    response = hooks.post(
        "github", body, headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(body)}
    )
    assert response.status_code == 200
    assert response.json() == {"ignored": "ping"}
    assert hooks.events == []


def test_github_untagged_container_version_is_ignored(hooks: Hooks) -> None:
    payload = github_package("")
    payload["package"]["package_version"]["package_url"] = "ghcr.io/Codertocat/hello-world:"
    body = json.dumps(payload).encode()
    response = hooks.post(
        "github", body, headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(body)}
    )
    assert response.status_code == 200
    assert hooks.events == []


def test_github_npm_package_is_ignored(hooks: Hooks) -> None:
    payload = github_package()
    package = payload["package"]
    package["package_type"] = package["ecosystem"] = "npm"
    package["registry"]["type"] = "npm"
    body = json.dumps(payload).encode()
    response = hooks.post(
        "github", body, headers={"X-GitHub-Event": "package", "X-Hub-Signature-256": sign(body)}
    )
    assert response.status_code == 200
    assert hooks.events == []


# --- generic ---------------------------------------------------------------------------


def test_generic_signed_event_is_accepted(hooks: Hooks) -> None:
    body = b'{"image": "nginx", "tag": "1.27.1"}'
    response = hooks.post("generic", body, headers={"X-Imagebot-Signature": sign(body)})
    assert response.status_code == 202
    assert hooks.events == [HookEvent("docker.io/library/nginx", "1.27.1", "generic")]


def test_generic_accepts_the_secret_as_bearer_token(hooks: Hooks) -> None:
    response = hooks.post(
        "generic",
        [{"image": "ghcr.io/o/app:2.0"}, {"image": "localhost:5000/team/api", "tag": "v3"}],
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 202
    assert hooks.events == [
        HookEvent("ghcr.io/o/app", "2.0", "generic"),
        HookEvent("localhost:5000/team/api", "v3", "generic"),
    ]


def test_generic_accepts_the_secret_as_query_token(hooks: Hooks) -> None:
    response = hooks.post("generic", {"image": "nginx"}, params={"token": SECRET})
    assert response.status_code == 202
    assert hooks.events == [HookEvent("docker.io/library/nginx", None, "generic")]


def test_generic_wrong_signature_is_403_even_with_a_good_token(hooks: Hooks) -> None:
    body = b'{"image": "nginx", "tag": "1"}'
    response = hooks.post(
        "generic",
        body,
        headers={"X-Imagebot-Signature": sign(body, "nope"), "X-Imagebot-Token": SECRET},
    )
    assert response.status_code == 403
    assert hooks.events == []


def test_generic_without_credentials_is_401(hooks: Hooks) -> None:
    assert hooks.post("generic", {"image": "nginx", "tag": "1"}).status_code == 401
    assert hooks.events == []


def test_generic_with_wrong_token_is_403(hooks: Hooks) -> None:
    response = hooks.post(
        "generic", {"image": "nginx", "tag": "1"}, headers={"X-Imagebot-Token": "guess"}
    )
    assert response.status_code == 403
    assert hooks.events == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"tag": "1.0"}', '"image"'),
        (b'{"image": "Bad Name", "tag": "1.0"}', "bad image"),
        (b'{"image": "nginx", "tag": "-bad"}', "bad tag"),
        (b"[]", "empty"),
    ],
)
def test_generic_malformed_payload_is_400(hooks: Hooks, body: bytes, problem: str) -> None:
    response = hooks.post("generic", body, headers={"X-Imagebot-Signature": sign(body)})
    assert response.status_code == 400
    assert problem in response.json()["error"]
    assert hooks.events == []


def test_malformed_payload_is_only_judged_after_authentication(hooks: Hooks) -> None:
    assert hooks.post("generic", b"not json").status_code == 401


# --- GitLab and CNCF Distribution registry notifications ------------------------------


def test_gitlab_registry_notification_with_gitlab_token(hooks: Hooks) -> None:
    response = hooks.post("gitlab", GITLAB, headers={"X-Gitlab-Token": SECRET})
    assert response.status_code == 202
    assert hooks.events == [HookEvent("registry.gitlab.com/group/project/app", "1.4.0", "gitlab")]


def test_gitlab_accepts_the_authorization_header_the_registry_is_configured_with(
    hooks: Hooks,
) -> None:
    response = hooks.post("gitlab", GITLAB, headers={"Authorization": SECRET})
    assert response.status_code == 202


def test_gitlab_wrong_token_is_403(hooks: Hooks) -> None:
    response = hooks.post("gitlab", GITLAB, headers={"X-Gitlab-Token": "x" + SECRET})
    assert response.status_code == 403
    assert hooks.events == []


def test_gitlab_missing_token_is_401(hooks: Hooks) -> None:
    assert hooks.post("gitlab", GITLAB).status_code == 401


def test_distribution_blob_pushes_and_pulls_are_ignored(hooks: Hooks) -> None:
    blob = manifest_push("team/app", None, "127.0.0.1:5000")
    blob["target"]["mediaType"] = "application/octet-stream"
    pull = {**manifest_push("team/app", "1.0", "127.0.0.1:5000"), "action": "pull"}
    response = hooks.post(
        "distribution",
        registry_events(blob, pull),
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 200
    assert hooks.events == []


def test_distribution_manifest_push_names_the_host_the_pusher_used(hooks: Hooks) -> None:
    response = hooks.post(
        "distribution",
        registry_events(manifest_push("team/app", "1.0", "127.0.0.1:5000")),
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 202
    assert hooks.events == [HookEvent("127.0.0.1:5000/team/app", "1.0", "distribution")]


# --- Harbor ----------------------------------------------------------------------------


def test_harbor_push_artifact_with_auth_header(hooks: Hooks) -> None:
    response = hooks.post("harbor", HARBOR, headers={"Authorization": SECRET})
    assert response.status_code == 202
    assert hooks.events == [HookEvent("harbor.example.com/library/rumput", "v1", "harbor")]


def test_harbor_pull_artifact_is_ignored(hooks: Hooks) -> None:
    response = hooks.post(
        "harbor", {**HARBOR, "type": "PULL_ARTIFACT"}, headers={"Authorization": SECRET}
    )
    assert response.status_code == 200
    assert hooks.events == []


def test_harbor_wrong_auth_header_is_403(hooks: Hooks) -> None:
    response = hooks.post("harbor", HARBOR, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 403
    assert hooks.events == []


# --- Docker Hub and Quay: token in the URL ---------------------------------------------


def test_dockerhub_push_with_query_token(hooks: Hooks) -> None:
    response = hooks.post("dockerhub", DOCKERHUB, params={"token": SECRET})
    assert response.status_code == 202
    assert hooks.events == [HookEvent("docker.io/svendowideit/testhook", "latest", "dockerhub")]


def test_dockerhub_without_token_is_401(hooks: Hooks) -> None:
    assert hooks.post("dockerhub", DOCKERHUB).status_code == 401
    assert hooks.events == []


def test_dockerhub_ignores_a_token_sent_as_header(hooks: Hooks) -> None:
    """Docker Hub cannot send headers, so only the URL token counts."""
    response = hooks.post("dockerhub", DOCKERHUB, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 401


def test_quay_push_lists_every_updated_tag(hooks: Hooks) -> None:
    response = hooks.post("quay", QUAY, params={"token": SECRET})
    assert response.status_code == 202
    assert hooks.events == [
        HookEvent("quay.io/dgangaia/test", "latest", "quay"),
        HookEvent("quay.io/dgangaia/test", "1.0", "quay"),
    ]


def test_quay_wrong_token_is_403(hooks: Hooks) -> None:
    assert hooks.post("quay", QUAY, params={"token": "nope"}).status_code == 403
    assert hooks.events == []


# --- configuration ---------------------------------------------------------------------


def test_receiver_without_a_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"service\.webhooks\.hub: .*needs secret"):
        build_receivers({"hub": WebhookReceiverConfig(type="dockerhub")})


def test_receiver_secret_from_file_and_environment(tmp_path: Any) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file-secret\n")
    receivers = build_receivers(
        {
            "a": WebhookReceiverConfig(type="generic", secret_file=str(secret_file)),
            "b": WebhookReceiverConfig(type="generic", secret_env="HOOK_SECRET"),
        },
        environ={"HOOK_SECRET": "from-env-secret"},
    )
    body = b'{"image": "nginx"}'
    for name, secret in (("a", "from-file-secret"), ("b", "from-env-secret")):
        request = HookRequest(body, {"X-Imagebot-Signature": sign(body, secret)})
        assert receivers[name].handle(request).events


def test_receiver_secret_env_unset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HOOK_SECRET is not set"):
        build_receivers(
            {"b": WebhookReceiverConfig(type="generic", secret_env="HOOK_SECRET")}, environ={}
        )


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_any_change_to_a_signed_body_is_refused(body: bytes, flip: int) -> None:
    receiver = GenericReceiver("g", SECRET)
    signature = sign(body)
    receiver.authenticate(HookRequest(body, {"X-Imagebot-Signature": signature}))
    tampered = body + b" " if not body else bytes([body[0] ^ (flip or 1)]) + body[1:]
    with pytest.raises(HookRejected) as refused:
        receiver.authenticate(HookRequest(tampered, {"X-Imagebot-Signature": signature}))
    assert refused.value.status == 403


# --- Harbor's CloudEvents format and GitLab project webhooks -----------------------------
# As the vendors document them (Harbor: "Configure Webhook Notifications"; GitLab: "Webhook
# events", which lists no container registry event for project webhooks).

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


CLOUDEVENTS = {"Content-Type": "application/cloudevents+json", "Authorization": SECRET}


# --- Harbor, CloudEvents format ---------------------------------------------------------


def test_harbor_cloudevents_artifact_pushed_names_image_and_tag(hooks: Hooks) -> None:
    response = hooks.post("harbor", harbor_cloudevent("v1.4.2"), headers=CLOUDEVENTS)

    assert response.status_code == 202
    assert hooks.events == [HookEvent("harbor.example.com/harbor/alpine", "v1.4.2", "harbor")]


def test_harbor_cloudevents_push_by_digest_is_an_event_without_a_tag(hooks: Hooks) -> None:
    response = hooks.post("harbor", by_digest(), headers=CLOUDEVENTS)

    assert response.status_code == 202
    assert hooks.events == [HookEvent("localhost/harbor/alpine", None, "harbor")]


def test_harbor_cloudevents_bearer_auth_header_is_accepted(hooks: Hooks) -> None:
    headers = {**CLOUDEVENTS, "Authorization": f"Bearer {SECRET}"}
    assert hooks.post("harbor", harbor_cloudevent(), headers=headers).status_code == 202


@pytest.mark.parametrize("kind", ["harbor.artifact.pulled", "harbor.artifact.deleted"])
def test_harbor_cloudevents_other_event_types_are_ignored(hooks: Hooks, kind: str) -> None:
    response = hooks.post("harbor", harbor_cloudevent(kind=kind), headers=CLOUDEVENTS)

    assert response.status_code == 200
    assert hooks.events == []


def test_harbor_cloudevents_wrong_auth_header_is_403(hooks: Hooks) -> None:
    headers = {**CLOUDEVENTS, "Authorization": "Bearer guess"}
    assert hooks.post("harbor", harbor_cloudevent(), headers=headers).status_code == 403
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
    hooks: Hooks, change: Any, problem: str
) -> None:
    event = harbor_cloudevent()
    change(event)

    response = hooks.post("harbor", event, headers=CLOUDEVENTS)

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


def test_a_gitlab_project_webhook_is_answered_200_and_ignored(hooks: Hooks) -> None:
    headers = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"}

    response = hooks.post("gitlab", GITLAB_PUSH_HOOK, headers=headers)

    assert response.status_code == 200
    assert "container registry" in response.text
    assert hooks.events == []


def test_a_gitlab_project_webhook_with_a_wrong_token_is_403(hooks: Hooks) -> None:
    headers = {"X-Gitlab-Token": "guess", "X-Gitlab-Event": "Push Hook"}
    assert hooks.post("gitlab", GITLAB_PUSH_HOOK, headers=headers).status_code == 403


def test_a_gitlab_body_that_is_neither_envelope_nor_project_hook_is_400(hooks: Hooks) -> None:
    response = hooks.post("gitlab", {"hello": "world"}, headers={"X-Gitlab-Token": SECRET})

    assert response.status_code == 400
    assert '"events" list' in response.json()["error"]
