"""Notifications: what is sent when, in which shape, to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagebot.config import NotifyConfig, RepositoryConfig
from imagebot.errors import ConfigError
from imagebot.service.logs import REDACTOR, RedactingFilter
from imagebot.service.metrics import Metrics
from imagebot.service.notify import FailureTracker, Notifier, render_slack
from imagebot.service.types import AppliedUpdate, CycleOutcome, Failure, Reconciled

from .conftest import Sink
from .test_metrics import value

UPDATE = AppliedUpdate(
    "Deployment default/web", "app", "docker.io/library/nginx", "1.25.1", "1.25.2", "web.yaml"
)
BROKEN = Failure("not_found", "ghcr.io/o/gone", "repository not found")


def repo(*targets: NotifyConfig) -> RepositoryConfig:
    return RepositoryConfig(url="file:///tmp/gitops.git", name="gitops", notify=list(targets))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def notifier(
    client: httpx.Client, *targets: NotifyConfig, metrics: Metrics | None = None, cycles: int = 2
) -> Notifier:
    return Notifier(
        repo(*targets), failure_cycles=cycles, client=client, metrics=metrics, retry_delay=0.01
    )


def run(n: Notifier, outcome: CycleOutcome) -> int:
    return n.deliver(n.cycle_finished(outcome))


def test_applied_updates_are_sent_to_a_slack_webhook(sink: Sink, client: httpx.Client) -> None:
    n = notifier(client, NotifyConfig(type="slack", url=f"{sink.url}/services/T1/B2/xyz"))
    assert run(n, CycleOutcome("gitops", applied=(UPDATE,), commit="0123456789abcdef")) == 1
    (message,) = sink.wait(1)
    assert message.path == "/services/T1/B2/xyz"
    assert message.headers["content-type"] == "application/json"
    payload = message.json()
    assert payload["text"] == "imagebot updated 1 image in gitops (commit 0123456789ab)"
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["section", "section", "context"]
    line = payload["blocks"][1]["text"]["text"]
    assert "Deployment default/web" in line
    assert "`1.25.1` → `1.25.2`" in line


def test_applied_updates_are_sent_as_generic_json(sink: Sink, client: httpx.Client) -> None:
    n = notifier(client, NotifyConfig(type="webhook", url=f"{sink.url}/hook"))
    run(n, CycleOutcome("gitops", applied=(UPDATE,), pull_request="https://forge/pr/7"))
    payload = sink.wait(1)[0].json()
    assert payload["event"] == "update"
    assert payload["repository"] == "gitops"
    assert payload["pull_request"] == "https://forge/pr/7"
    assert payload["updates"] == [
        {
            "workload": "Deployment default/web",
            "container": "app",
            "image": "docker.io/library/nginx",
            "old_tag": "1.25.1",
            "new_tag": "1.25.2",
            "file": "web.yaml",
        }
    ]


def test_a_cycle_without_updates_or_failures_sends_nothing(
    sink: Sink, client: httpx.Client
) -> None:
    n = notifier(client, NotifyConfig(type="webhook", url=sink.url))
    assert run(n, CycleOutcome("gitops")) == 0
    assert sink.received == []


def test_a_failure_is_notified_once_after_two_consecutive_cycles_then_recovery(
    sink: Sink, client: httpx.Client
) -> None:
    n = notifier(client, NotifyConfig(type="webhook", url=sink.url))
    failing = CycleOutcome("gitops", failures=(BROKEN,))
    assert run(n, failing) == 0  # once may be a blip
    assert run(n, failing) == 1  # twice in a row: tell
    assert run(n, failing) == 0  # already told
    assert run(n, CycleOutcome("gitops")) == 1  # cleared: close the alert
    first, second = (r.json() for r in sink.wait(2))
    assert first["event"] == "failure"
    assert first["cycles"] == 2
    assert first["failures"] == [
        {"kind": "not_found", "subject": "ghcr.io/o/gone", "message": "repository not found"}
    ]
    assert second["event"] == "recovered"
    assert second["failures"][0]["subject"] == "ghcr.io/o/gone"


def test_an_intermittent_failure_is_not_notified(sink: Sink, client: httpx.Client) -> None:
    n = notifier(client, NotifyConfig(type="webhook", url=sink.url))
    for outcome in [CycleOutcome("gitops", failures=(BROKEN,)), CycleOutcome("gitops")] * 3:
        run(n, outcome)
    assert sink.received == []


def test_failure_identity_ignores_the_message_text() -> None:
    tracker = FailureTracker(2)
    tracker.observe(CycleOutcome("r", failures=(Failure("unreachable", "ghcr.io", "timeout 1"),)))
    new, _ = tracker.observe(
        CycleOutcome("r", failures=(Failure("unreachable", "ghcr.io", "timeout 2"),))
    )
    assert [f.subject for f in new] == ["ghcr.io"]


def test_an_abandoned_cycle_neither_counts_nor_clears_failures() -> None:
    tracker = FailureTracker(2)
    tracker.observe(CycleOutcome("r", failures=(BROKEN,)))
    assert tracker.observe(CycleOutcome("r", completed=False)) == ([], [])
    new, _ = tracker.observe(CycleOutcome("r", failures=(BROKEN,)))
    assert new == [BROKEN]


def test_targets_only_get_the_events_they_subscribe_to(sink: Sink, client: httpx.Client) -> None:
    n = notifier(
        client,
        NotifyConfig(type="webhook", url=f"{sink.url}/updates", on=["update"]),
        NotifyConfig(type="webhook", url=f"{sink.url}/failures", on=["failure"]),
        cycles=1,
    )
    run(n, CycleOutcome("gitops", applied=(UPDATE,), failures=(BROKEN,)))
    run(n, CycleOutcome("gitops"))
    received = sorted((r.path, r.json()["event"]) for r in sink.wait(3))
    assert received == [
        ("/failures", "failure"),
        ("/failures", "recovered"),
        ("/updates", "update"),
    ]


def test_a_server_error_is_retried(sink: Sink, client: httpx.Client) -> None:
    sink.statuses[:] = [503]
    metrics = Metrics()
    n = notifier(client, NotifyConfig(type="slack", url=sink.url), metrics=metrics)
    assert run(n, CycleOutcome("gitops", applied=(UPDATE,))) == 1
    assert len(sink.wait(2)) == 2
    text = metrics.render().decode()
    assert value(text, "imagebot_notifications_total", repository="gitops", result="sent") == 1


def test_an_unreachable_target_is_logged_without_its_url(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    url = "http://127.0.0.1:9/services/T0001/B0002/SeCrEtPaTh"
    n = notifier(client, NotifyConfig(type="slack", url=url), metrics=metrics)
    with caplog.at_level(logging.WARNING, logger="imagebot.service.notify"):
        assert run(n, CycleOutcome("gitops", applied=(UPDATE,))) == 0
    assert "could not send update notification to slack webhook at 127.0.0.1" in caplog.text
    assert "SeCrEtPaTh" not in caplog.text
    text = metrics.render().decode()
    assert value(text, "imagebot_notifications_total", repository="gitops", result="failed") == 1


def test_the_url_is_redacted_even_if_something_else_logs_it(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    url = "https://hooks.example.com/services/T0001/B0002/AnotherSecret"
    notifier(client, NotifyConfig(type="slack", url=url))
    caplog.handler.addFilter(RedactingFilter())
    logging.getLogger("imagebot.test.notify").warning("posting to %s failed", url)
    assert "AnotherSecret" not in caplog.text
    assert REDACTOR.redact(url) == "***"


def test_url_file_is_read(tmp_path: Path, sink: Sink, client: httpx.Client) -> None:
    url_file = tmp_path / "slack-url"
    url_file.write_text(f"{sink.url}/from-file\n")
    n = notifier(client, NotifyConfig(type="webhook", url_file=str(url_file)))
    run(n, CycleOutcome("gitops", applied=(UPDATE,)))
    assert sink.wait(1)[0].path == "/from-file"


def test_missing_url_file_is_a_config_error(tmp_path: Path, client: httpx.Client) -> None:
    with pytest.raises(ConfigError, match=r"notify\[0\]\.url_file: cannot read url_file"):
        notifier(client, NotifyConfig(type="webhook", url_file=str(tmp_path / "none")))


def test_url_and_url_file_together_are_a_config_error(client: httpx.Client) -> None:
    with pytest.raises(ConfigError, match="exactly one of url and url_file"):
        notifier(client, NotifyConfig(type="webhook", url="http://a", url_file="/x"))


def test_a_non_http_url_is_a_config_error(client: httpx.Client) -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        notifier(client, NotifyConfig(type="webhook", url="ftp://example.org/hook"))


def test_slack_text_is_escaped_and_long_lists_are_split() -> None:
    from imagebot.service.notify import Notification

    updates = tuple(
        AppliedUpdate(f"Deployment <ns>/app-{i}", "c&c", "ghcr.io/o/app", "1.0", "1.1")
        for i in range(400)
    )
    payload = render_slack(Notification("update", "gitops", updates=updates))
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert len(payload["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in sections)
    assert "&lt;ns&gt;" in sections[1]
    assert "c&amp;c" in sections[1]
    assert "<ns>" not in "".join(sections)
    listed = sum(text.count("•") for text in sections)
    assert listed == 400 or "more" in sections[-1]


FAILED_IN_CLUSTER = Reconciled(
    repository="gitops",
    source="flux",
    object="Kustomization flux-system/apps",
    revision="0123456789abcdef0123456789abcdef01234567",
    outcome="failed",
    message="Health check failed: <Deployment/default/web> not ready",
    updates=(UPDATE,),
    commits=("0123456789abcdef0123456789abcdef01234567",),
    rollbacks=("imagebot release Deployment default/web --container app --tag 1.25.1",),
)


def test_a_failure_in_the_cluster_is_sent_to_slack_with_the_message_and_the_rollback(
    sink: Sink, client: httpx.Client
) -> None:
    n = notifier(client, NotifyConfig(type="slack", url=f"{sink.url}/hook", on=["failure"]))

    assert n.deliver(n.reconciled(FAILED_IN_CLUSTER)) == 1

    payload = sink.wait(1)[0].json()
    assert payload["text"] == (
        "imagebot: Kustomization flux-system/apps failed on 0123456789ab, which holds "
        "1 image update in gitops"
    )
    lines = payload["blocks"][1]["text"]["text"].splitlines()
    assert lines[1] == "> Health check failed: &lt;Deployment/default/web&gt; not ready"
    assert lines[2] == (
        "roll back: `imagebot release Deployment default/web --container app --tag 1.25.1`"
    )


def test_an_applied_report_or_a_failure_told_before_sends_nothing(client: httpx.Client) -> None:
    n = notifier(client)
    applied = Reconciled("gitops", "flux", "Kustomization flux-system/apps", "0" * 40, "applied",
                         updates=(UPDATE,))  # fmt: skip
    told = Reconciled("gitops", "flux", "Kustomization flux-system/apps", "0" * 40, "failed")

    assert n.reconciled(applied) == []
    assert n.reconciled(told) == []
