"""Reading Flux events and Argo CD notifications into reports (pure)."""

from __future__ import annotations

import pytest

from imagebot.service.reconcilers import (
    MAX_MESSAGE,
    Ignored,
    ReconcilerReport,
    ReportError,
    argocd_report,
    commit_id,
    flux_report,
)

from .conftest import argo_body, flux_event

SHA = "4df4d0d8b5a7c3b1e2f00a11b22c33d44e55f667"


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (SHA.upper(), SHA),
        (f"refs/heads/release@sha1:{SHA}", SHA),
        ("6.0.0+4df4d0d8b5a7", "4df4d0d8b5a7"),
        ("6.0.0", None),
        ("1234567", None),
        ("main@sha256:" + "ab" * 32, "ab" * 32),
    ],
)
def test_the_commit_is_read_from_every_spelling_flux_uses(revision: str, expected: str | None):
    assert commit_id(revision) == expected


def test_a_failed_kustomization_is_a_failed_report_with_the_controllers_message():
    event = flux_event(
        SHA,
        severity="error",
        reason="HealthCheckFailed",
        message="Health check failed after 5m0s: timeout waiting for: [Deployment/apps/web]",
    )

    found = flux_report(event, "flux")

    assert isinstance(found, ReconcilerReport)
    assert found.outcome == "failed"
    assert found.reason == "HealthCheckFailed"
    assert "Deployment/apps/web" in found.message


def test_a_helm_release_is_matched_by_the_git_revision_its_chart_came_from():
    event = flux_event(
        SHA,
        kind="HelmRelease",
        reason="UpgradeSucceeded",
        metadata={"revision": "6.0.0", "originRevision": f"main@sha1:{SHA}"},
    )

    found = flux_report(event, "flux")

    assert isinstance(found, ReconcilerReport)
    assert (found.object, found.revision) == ("HelmRelease flux-system/apps", SHA)


def test_a_revision_under_the_controllers_prefixed_key_is_read_too():
    event = flux_event(SHA, metadata={"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}"})

    found = flux_report(event, "flux")

    assert isinstance(found, ReconcilerReport)
    assert found.revision == SHA


def test_a_very_long_message_is_kept_on_one_bounded_line():
    event = flux_event(SHA, severity="error", reason="ReconciliationFailed", message="a\nb " * 5000)

    found = flux_report(event, "flux")

    assert isinstance(found, ReconcilerReport)
    assert "\n" not in found.message
    assert len(found.message) <= MAX_MESSAGE + len("...")


def test_terminal_escapes_in_a_reconcilers_text_are_shown_not_obeyed():
    event = flux_event(
        SHA, severity="error", reason="ReconciliationFailed", message="bad\x1b[2J manifest"
    )
    event["involvedObject"]["name"] = "apps\u202e"

    found = flux_report(event, "flux")

    assert isinstance(found, ReconcilerReport)
    assert found.message == "bad\\x1b[2J manifest"
    assert found.object == "Kustomization flux-system/apps\\u202e"


def test_a_flux_payload_that_is_not_an_object_is_an_error():
    with pytest.raises(ReportError, match="the body must be an object"):
        flux_report(["not", "an", "event"], "flux")


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({}, "applied"),
        ({"phase": "Failed", "message": "one or more objects failed to apply"}, "failed"),
        ({"health": "Degraded"}, "failed"),
    ],
)
def test_argocd_notifications_read_as_applied_or_failed(fields: dict[str, str], outcome: str):
    found = argocd_report(argo_body(SHA, **fields), "argocd")

    assert isinstance(found, ReconcilerReport)
    assert found.outcome == outcome


def test_an_argocd_notification_without_a_revision_is_ignored():
    assert isinstance(argocd_report(argo_body(""), "argocd"), Ignored)


def test_an_argocd_notification_without_the_app_is_an_error():
    body = argo_body(SHA)
    del body["app"]

    with pytest.raises(ReportError, match='missing "app"'):
        argocd_report(body, "argocd")


def test_an_argocd_app_never_synced_reports_degraded_health_without_phase_or_message():
    body = argo_body(SHA, health="Degraded", sync="OutOfSync")
    del body["phase"], body["message"]

    found = argocd_report(body, "argocd")

    assert isinstance(found, ReconcilerReport)
    assert (found.outcome, found.message) == ("failed", "health is Degraded")
