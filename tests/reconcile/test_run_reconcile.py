"""``imagebot run`` as a real process closes the loop: it commits an update, a Flux
notification-controller posts signed events about that commit, and the history, the
notifications and the metrics say what reached the cluster."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.gitops.helpers import Remote, make_remote, use_isolated_git
from tests.harness import RegistryServer, free_port
from tests.service.e2e import (
    IMAGEBOT,
    BotProcess,
    Launcher,
    metric,
    recording_sink,
    wait_until,
    write_config,
)
from tests.update.helpers import automated, deployment

from .conftest import FLUX_SECRET, flux_event, flux_signed

pytestmark = pytest.mark.slow

NOTIFY_PATH = "/notify/reconcile"
WEB = "apps:deployment/web"


@pytest.fixture(scope="module", autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        use_isolated_git(patch, tmp_path_factory.mktemp("git-home"))
        yield


@dataclass
class Closed:
    bot: BotProcess
    remote: Remote
    config: Path
    commit: str
    image: str
    failure_status: int = 0
    failure_answer: dict[str, Any] = field(default_factory=dict)
    repeated_status: int = 0
    applied_status: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[tuple[str, Any]] = field(default_factory=list)
    metrics: str = ""
    diverged_metrics: str = ""


def events(sink: Any) -> set[str]:
    return {note["event"] for _, note in sink.received}


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Iterator[Closed]:
    """The bot updates web to 1.0.1 at start; no reconciler applies it for longer than
    divergence_after (1s); Flux reports a health failure of that commit (twice: Flux repeats
    itself), then, once fixed, a successful reconciliation."""
    tmp = tmp_path_factory.mktemp("closed")
    image = f"{registry.host}/reconcile-e2e/web"
    registry.push("reconcile-e2e/web", ["1.0.0", "1.0.1"])
    where = tmp / "git"
    where.mkdir()
    remote = make_remote(
        where,
        {
            "apps/web.yaml": deployment(
                "web", f"{image}:1.0.0", annotations=automated("semver:~1.0")
            )
        },
    )
    before = remote.tip()
    launcher = Launcher(tmp / "home")
    with recording_sink() as sink:
        port = free_port()
        config = write_config(
            tmp / "imagebot.yaml",
            state=tmp / "state",
            port=port,
            repositories=[
                {
                    "url": remote.url,
                    "name": "fleet",
                    "branch": "main",
                    "divergence_after": "1s",
                    "notify": [{"type": "webhook", "url": sink.url + NOTIFY_PATH}],
                }
            ],
            webhooks={"flux": {"type": "flux", "secret": FLUX_SECRET}},
        )
        try:
            bot = launcher.start(config, port, log_format="json")
            bot.wait_ready()
            assert wait_until(lambda: remote.tip() != before, 15), bot.logs()
            state = Closed(bot, remote, config, remote.tip() or "", image)
            assert wait_until(lambda: len(sink.received) >= 1, 10), bot.logs()  # the update
            assert wait_until(lambda: events(sink) >= {"diverged"}, 10), bot.logs()
            state.diverged_metrics = bot.metrics()

            failed = flux_event(
                state.commit,
                severity="error",
                reason="HealthCheckFailed",
                message="Health check failed after 5m0s: timeout waiting for: "
                "[Deployment/apps/web status: 'InProgress']",
                timestamp=now_stamp(),
            )
            response = bot.post("/hooks/flux", *flux_signed(failed))
            state.failure_status, state.failure_answer = response.status_code, response.json()
            failed["timestamp"] = now_stamp()  # Flux tells again at its next interval
            state.repeated_status = bot.post("/hooks/flux", *flux_signed(failed)).status_code
            applied = flux_event(state.commit, timestamp=now_stamp())
            state.applied_status = bot.post("/hooks/flux", *flux_signed(applied)).status_code

            assert wait_until(lambda: events(sink) >= {"reconcile-failed", "converged"}, 10), (
                bot.logs()
            )
            result = subprocess.run(
                [IMAGEBOT, "history", "--config", str(config), "--output", "json"],
                capture_output=True,
                text=True,
                env=launcher.env,
                check=True,
            )
            state.history = json.loads(result.stdout)
            state.metrics = bot.metrics()
            bot.terminate()
            state.notifications = list(sink.received)
            yield state
        finally:
            launcher.close()


def test_a_flux_failure_of_the_bots_commit_is_accepted_and_linked_to_it(closed: Closed):
    assert closed.failure_status == 202
    (linked,) = closed.failure_answer["linked"]
    assert linked == {
        "repository": "fleet",
        "outcome": "failed",
        "commits": [closed.commit],
        "workloads": [WEB],
    }


def test_the_failure_is_notified_once_with_the_tags_message_and_rollback(closed: Closed):
    failures = [note for _, note in closed.notifications if note["event"] == "reconcile-failed"]
    (note,) = failures
    assert closed.repeated_status == 202
    assert note["reconciler"] == "Kustomization flux-system/apps"
    assert note["commit"] == closed.commit
    assert "timeout waiting for" in note["message"]
    (update,) = note["updates"]
    assert (update["workload"], update["old_tag"], update["new_tag"]) == (WEB, "1.0.0", "1.0.1")
    assert note["rollback"] == [f"imagebot release {WEB} --container app --tag 1.0.0"]


def test_a_successful_reconciliation_moves_the_update_to_applied(closed: Closed):
    assert closed.applied_status == 202
    (entry,) = closed.history
    assert entry["commit"] == closed.commit
    assert entry["state"] == "applied"
    assert entry["applied_by"] == "Kustomization flux-system/apps"
    assert entry["failure"] is None


def test_reports_and_reconciled_updates_are_counted_in_the_metrics(closed: Closed):
    text = closed.metrics
    assert metric(text, "imagebot_reconciler_reports_total", receiver="flux", outcome="failed") == 2
    assert (
        metric(text, "imagebot_reconciler_reports_total", receiver="flux", outcome="applied") == 1
    )
    assert (
        metric(text, "imagebot_updates_reconciled_total", repository="fleet", outcome="failed") == 1
    )
    assert (
        metric(text, "imagebot_updates_reconciled_total", repository="fleet", outcome="applied")
        == 1
    )


def test_an_update_no_reconciler_applied_in_time_is_notified_as_diverged(closed: Closed):
    (note,) = [note for _, note in closed.notifications if note["event"] == "diverged"]
    assert note["workloads"] == [WEB]
    assert note["divergence_after"] == 1
    text = closed.diverged_metrics
    assert metric(text, "imagebot_workloads_diverged", repository="fleet") == 1
    assert (metric(text, "imagebot_oldest_unapplied_change_seconds", repository="fleet") or 0) >= 1


def test_the_divergence_clears_once_the_update_is_applied(closed: Closed):
    (note,) = [note for _, note in closed.notifications if note["event"] == "converged"]
    assert note["workloads"] == [WEB]
    text = closed.metrics
    assert metric(text, "imagebot_workloads_diverged", repository="fleet") == 0
    assert metric(text, "imagebot_oldest_unapplied_change_seconds", repository="fleet") == 0
