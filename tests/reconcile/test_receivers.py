"""The flux and argocd receivers over real HTTP: authentication (a real HMAC in
``X-Signature``, shared tokens), replays, limits, and which events become reports."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from imagebot.config import WebhookReceiverConfig
from imagebot.service.hooks import build_receivers
from imagebot.service.http import Endpoint
from imagebot.service.metrics import Metrics
from imagebot.service.reconcilers import ReconcilerReport
from imagebot.service.types import Readiness

from .conftest import ARGO_TOKEN, FLUX_SECRET, argo_body, flux_event, flux_signed

SHA = "4df4d0d8b5a7c3b1e2f00a11b22c33d44e55f667"


@dataclass
class Served:
    endpoint: Endpoint
    client: httpx.Client
    reports: list[ReconcilerReport]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.client.post(self.endpoint.url + path, content=body, headers=headers)


@pytest.fixture
def served() -> Iterator[Served]:
    reports: list[ReconcilerReport] = []

    def on_report(batch: list[ReconcilerReport]) -> list[dict[str, str]]:
        reports.extend(batch)
        return []

    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers=build_receivers(
            {
                "flux": WebhookReceiverConfig(type="flux", secret=FLUX_SECRET),
                "argocd": WebhookReceiverConfig(type="argocd", secret=ARGO_TOKEN),
            }
        ),
        on_event=lambda events: None,
        on_report=on_report,
        metrics=Metrics(),
        readiness=Readiness,
        max_body_bytes=4096,
    )
    endpoint.start()
    with httpx.Client(timeout=5) as client:
        yield Served(endpoint, client, reports)
    endpoint.stop()


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_signed_flux_event_is_accepted_as_a_report_of_its_revision(served: Served):
    body, headers = flux_signed(flux_event(SHA, timestamp=now_stamp()))

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 202, response.text
    (report,) = served.reports
    assert (report.source, report.object, report.revision, report.outcome) == (
        "flux",
        "Kustomization flux-system/apps",
        SHA,
        "applied",
    )
    assert response.json()["accepted"][0]["revision"] == SHA


def test_a_flux_event_with_a_wrong_signature_is_403_and_reports_nothing(served: Served):
    body, headers = flux_signed(flux_event(SHA, timestamp=now_stamp()), secret="not-the-key")

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 403
    assert served.reports == []


def test_a_flux_event_without_credentials_is_401(served: Served):
    body = json.dumps(flux_event(SHA, timestamp=now_stamp())).encode()

    response = served.post("/hooks/flux", body, {"Content-Type": "application/json"})

    assert response.status_code == 401
    assert served.reports == []


def test_a_generic_flux_provider_may_carry_the_secret_as_a_token(served: Served):
    body = json.dumps(flux_event(SHA, timestamp=now_stamp())).encode()

    in_query = served.post(f"/hooks/flux?token={FLUX_SECRET}", body, {})
    in_header = served.post(
        "/hooks/flux",
        json.dumps(flux_event(SHA, timestamp=now_stamp(), name="infra")).encode(),
        {"Authorization": f"Bearer {FLUX_SECRET}"},
    )

    assert (in_query.status_code, in_header.status_code) == (202, 202)
    assert len(served.reports) == 2


def test_the_same_flux_event_twice_is_refused_as_a_replay(served: Served):
    body, headers = flux_signed(flux_event(SHA, timestamp=now_stamp()))
    first = served.post("/hooks/flux", body, headers)

    again = served.post("/hooks/flux", body, headers)

    assert (first.status_code, again.status_code) == (202, 409)
    assert len(served.reports) == 1


def test_a_flux_event_dated_outside_the_replay_window_is_refused(served: Served):
    old = datetime.fromtimestamp(time.time() - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body, headers = flux_signed(flux_event(SHA, timestamp=old))

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 409
    assert served.reports == []


def test_a_flux_body_over_the_limit_is_413_before_it_is_read(served: Served):
    event = flux_event(SHA, timestamp=now_stamp(), message="x" * 5000)
    body, headers = flux_signed(event)

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 413
    assert served.reports == []


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"reason": "Progressing"}, "Progressing"),
        ({"kind": "GitRepository"}, "only Kustomization and HelmRelease"),
        ({"metadata": {}}, "names no Git commit"),
    ],
)
def test_flux_events_that_say_nothing_applied_are_answered_200_and_ignored(
    served: Served, changes: dict[str, object], why: str
):
    body, headers = flux_signed(flux_event(SHA, timestamp=now_stamp(), **changes))  # type: ignore[arg-type]

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 200
    assert why in response.json()["ignored"]
    assert served.reports == []


def test_a_flux_event_with_a_field_of_the_wrong_type_is_400_naming_it(served: Served):
    event = flux_event(SHA, timestamp=now_stamp())
    event["involvedObject"]["name"] = ["apps"]
    body, headers = flux_signed(event)

    response = served.post("/hooks/flux", body, headers)

    assert response.status_code == 400
    assert "involvedObject.name" in response.json()["error"]


def test_an_argocd_notification_with_the_shared_token_is_a_report(served: Served):
    body = json.dumps(argo_body(SHA)).encode()

    response = served.post("/hooks/argocd", body, {"X-Imagebot-Token": ARGO_TOKEN})

    assert response.status_code == 202, response.text
    (report,) = served.reports
    assert (report.object, report.revision, report.outcome) == (
        "Application argocd/fleet-apps",
        SHA,
        "applied",
    )


def test_an_argocd_notification_with_a_wrong_token_is_403(served: Served):
    body = json.dumps(argo_body(SHA)).encode()

    response = served.post("/hooks/argocd", body, {"X-Imagebot-Token": "guess"})

    assert response.status_code == 403
    assert served.reports == []


def test_an_argocd_sync_still_running_is_ignored(served: Served):
    body = json.dumps(argo_body(SHA, phase="Running", sync="OutOfSync")).encode()

    response = served.post("/hooks/argocd", body, {"Authorization": f"Bearer {ARGO_TOKEN}"})

    assert response.status_code == 200
    assert served.reports == []
