"""Reconciler reports matched with imagebot's commits, in process: a real registry, a bare
remote, the service's wiring, and Git history made by the bot and by people."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from imagebot.operations.events import timeline
from imagebot.service.reconcilers import ReconcilerReport
from imagebot.service.wiring import Wiring
from imagebot.update import history
from tests.gitops.helpers import Writer

from .conftest import Loop


def report(revision: str, outcome: str = "applied", message: str = "") -> ReconcilerReport:
    return ReconcilerReport(
        receiver="flux",
        source="flux",
        object="Kustomization flux-system/apps",
        revision=revision,
        outcome=outcome,  # type: ignore[arg-type]
        message=message,
        reason="ReconciliationSucceeded" if outcome == "applied" else "HealthCheckFailed",
    )


def bot_commit(loop: Loop) -> str:
    outcome = loop.wiring.run_cycle(loop.repo, threading.Event())
    assert outcome.commit is not None, outcome
    return outcome.commit


def states(loop: Loop) -> dict[str, str]:
    return {e.workload: e.state for e in history.entries(loop.bot.store)}


def test_a_report_of_the_bots_own_commit_moves_its_updates_from_pushed_to_applied(loop: Loop):
    commit = bot_commit(loop)
    assert set(states(loop).values()) == {"pushed"}

    (result,) = loop.wiring.reconcile([report(commit)])

    assert result.outcome == "applied"
    assert result.commits == (commit,)
    assert sorted((u.workload, u.old_tag, u.new_tag) for u in result.updates) == [
        ("apps:deployment/api", "1.0.0", "1.0.1"),
        ("apps:deployment/web", "1.0.0", "1.0.1"),
    ]
    assert states(loop) == {"apps:deployment/web": "applied", "apps:deployment/api": "applied"}
    (entry, _) = history.entries(loop.bot.store)
    assert entry.applied_by == "Kustomization flux-system/apps"


def test_the_timeline_records_a_sync_to_cluster_per_workload_the_commit_changed(loop: Loop):
    commit = bot_commit(loop)

    loop.wiring.reconcile([report(commit)])

    syncs = [e for e in timeline(loop.bot.store) if e.kind == "sync"]
    assert sorted(e.summary for e in syncs) == [
        f"Sync to cluster: apps:deployment/api ({commit[:12]})",
        f"Sync to cluster: apps:deployment/web ({commit[:12]})",
    ]
    assert {e.user for e in syncs} == {"flux: Kustomization flux-system/apps"}
    # The automated updates themselves are still listed, beside the syncs.
    assert len([e for e in timeline(loop.bot.store) if e.kind == "automated update"]) == 2


def test_a_descendant_revision_made_by_a_person_counts_as_applied(loop: Loop, tmp_path: Path):
    commit = bot_commit(loop)
    person = Writer(loop.remote, tmp_path / "person")
    later = person.commit_and_push("README.md", b"notes\n", "docs: a person's change")
    loop.wiring.run_cycle(loop.repo, threading.Event())  # fetches the person's commit

    (result,) = loop.wiring.reconcile([report(later)])

    assert result.commits == (commit,)
    assert set(states(loop).values()) == {"applied"}


def test_an_abbreviated_revision_is_matched_like_the_full_one(loop: Loop):
    commit = bot_commit(loop)

    (result,) = loop.wiring.reconcile([report(commit[:12])])

    assert result.commits == (commit,)


def test_a_revision_older_than_the_commit_applies_nothing(loop: Loop):
    before = loop.remote.tip() or ""
    bot_commit(loop)

    (result,) = loop.wiring.reconcile([report(before)])

    assert result.updates == ()
    assert set(states(loop).values()) == {"pushed"}


def test_a_revision_the_checkout_has_not_fetched_waits_for_the_next_cycle(
    loop: Loop, tmp_path: Path
):
    commit = bot_commit(loop)
    person = Writer(loop.remote, tmp_path / "person")
    later = person.commit_and_push("README.md", b"notes\n")

    assert loop.wiring.reconcile([report(later)]) == []
    assert set(states(loop).values()) == {"pushed"}

    outcome = loop.wiring.run_cycle(loop.repo, threading.Event())

    (result,) = outcome.reconciled
    assert (result.outcome, result.commits, result.revision) == ("applied", (commit,), later)
    assert set(states(loop).values()) == {"applied"}


def test_a_repeated_report_changes_nothing_more(loop: Loop):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit)])

    (again,) = loop.wiring.reconcile([report(commit)])

    assert again.updates == ()
    assert len([e for e in timeline(loop.bot.store) if e.kind == "sync"]) == 2


def test_a_failure_links_the_updates_and_suggests_rolling_each_back(loop: Loop):
    commit = bot_commit(loop)

    (result,) = loop.wiring.reconcile(
        [report(commit, "failed", "Health check failed after 5m: Deployment apps/web not ready")]
    )

    assert result.outcome == "failed"
    assert result.message == "Health check failed after 5m: Deployment apps/web not ready"
    assert sorted(result.rollbacks) == [
        "imagebot release apps:deployment/api --container app --tag 1.0.0",
        "imagebot release apps:deployment/web --container app --tag 1.0.0",
    ]
    assert set(states(loop).values()) == {"failed"}
    (entry, _) = history.entries(loop.bot.store)
    assert entry.failure is not None
    assert "not ready" in entry.failure
    assert {e.kind for e in timeline(loop.bot.store)} >= {"sync-failed"}


def test_the_same_failure_reported_again_is_linked_once(loop: Loop):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit, "failed", "not ready")])

    (again,) = loop.wiring.reconcile([report(commit, "failed", "not ready")])

    assert again.updates == ()
    assert again.rollbacks == ()


def test_an_applied_report_after_a_failure_clears_it(loop: Loop):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit, "failed", "not ready")])

    loop.wiring.reconcile([report(commit)])

    entries = history.entries(loop.bot.store)
    assert {(e.state, e.failure) for e in entries} == {("applied", None)}


def test_a_health_failure_after_the_sync_of_the_same_revision_is_linked(loop: Loop):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit)])

    (result,) = loop.wiring.reconcile([report(commit, "failed", "health Degraded")])

    assert len(result.updates) == 2


def test_a_failure_of_a_later_revision_does_not_blame_changes_applied_before(
    loop: Loop, tmp_path: Path
):
    commit = bot_commit(loop)
    loop.wiring.reconcile([report(commit)])
    person = Writer(loop.remote, tmp_path / "person")
    broken = person.commit_and_push("apps/extra.yaml", b"kind: ConfigMap\n", "a person's change")
    loop.wiring.run_cycle(loop.repo, threading.Event())

    (result,) = loop.wiring.reconcile([report(broken, "failed", "ConfigMap invalid")])

    assert result.updates == ()
    assert set(states(loop).values()) == {"applied"}


def test_two_entries_sharing_one_history_are_both_asked(loop: Loop):
    commit = bot_commit(loop)
    copy = dataclasses.replace(loop.repo, name="copy")  # same remote, listed first
    config = dataclasses.replace(loop.bot.config, repositories=[copy, loop.repo])
    wiring = Wiring(config, loop.bot.runner, loop.bot.store)

    results = wiring.reconcile([report(commit)])

    assert [(r.repository, len(r.updates)) for r in results] == [("copy", 0), ("fleet", 2)]


def test_only_the_newest_reports_are_kept(loop: Loop, monkeypatch: pytest.MonkeyPatch):
    from imagebot.update import reconcile

    monkeypatch.setattr(reconcile, "KEEP_REPORTS", 3)
    for number in range(5):
        reconcile.record(
            loop.bot.store, reconcile.Report("flux", "flux", f"Kustomization a/{number}", "a" * 40,
                                             "applied")
        )  # fmt: skip

    kept = [row[0] for row in loop.bot.store.query("SELECT object FROM reconciler_reports")]
    assert kept == ["Kustomization a/2", "Kustomization a/3", "Kustomization a/4"]
