"""Everything that is state, on both backends (``store_location``: SQLite, PostgreSQL):
history, events, the Deploy view's rows and approvals, what the service saw, tag digests.
The same calls give the same answers on both."""

from __future__ import annotations

from dataclasses import replace

import pytest

from imagebot.manifests import scan_bytes
from imagebot.operations import approvals, events, fleet
from imagebot.operations.fleet import FleetRow
from imagebot.service.wiring import ServiceState
from imagebot.store import Store
from imagebot.update import Resolution, history
from tests.update.helpers import deployment

T0 = 1_700_000_000.25


@pytest.fixture
def store(store_location: str):
    with Store.open(store_location) as opened:
        yield opened


def update(name: str, old: str, new: str) -> Resolution:
    (site,) = scan_bytes(deployment(name, f"ghcr.io/org/{name}:{old}", namespace="apps")).sites
    return Resolution(site, "update", "newer", policy="semver:*", new_tag=new)


def record(store: Store, name: str, old: str, new: str, when: float, commit: str) -> None:
    history.record(
        store,
        [update(name, old, new)],
        repository="fleet",
        url="https://user:secret@git.example/fleet.git",
        branch="main",
        target="main",
        mode="direct",
        commit=commit,
        pushed=True,
        when=when,
    )


def row(workload: str, container: str = "app", **changes: object) -> FleetRow:
    base = FleetRow(
        repository="fleet",
        workload=workload,
        namespace="apps",
        kind="Deployment",
        name=workload.rpartition("/")[2],
        container=container,
        file="apps.yaml",
        line=1,
        image="ghcr.io/org/app:1.0.0",
        image_repository="ghcr.io/org/app",
        current="1.0.0",
        latest="1.1.0",
        behind=1,
        status="update",
        held_by=None,
        reason="newer",
        policy="semver:*",
        source="annotation:imagebot.io",
        automated=True,
        locked=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_history_comes_back_newest_first_with_exact_times_and_no_password(store: Store):
    record(store, "web", "1.0.0", "1.0.1", T0, "a" * 40)
    record(store, "api", "2.0.0", "2.1.0", T0 + 60, "b" * 40)

    found = history.entries(store)

    assert [(e.workload, e.old_tag, e.new_tag) for e in found] == [
        ("apps:deployment/api", "2.0.0", "2.1.0"),
        ("apps:deployment/web", "1.0.0", "1.0.1"),
    ]
    assert found[1].time.timestamp() == T0
    assert found[0].pushed is True
    assert "secret" not in (found[0].url or "")


def test_history_finds_a_workload_by_name_alone_ignoring_case(store: Store):
    record(store, "web", "1.0.0", "1.0.1", T0, "a" * 40)
    record(store, "api", "2.0.0", "2.1.0", T0 + 60, "b" * 40)

    assert [e.workload for e in history.entries(store, workload="Deployment/WEB")] == [
        "apps:deployment/web"
    ]
    assert [e.new_tag for e in history.entries(store, workload="apps:deployment/api")] == ["2.1.0"]
    assert history.entries(store, workload="deployment/w_b") == []


def test_the_timeline_merges_history_and_events_with_the_acting_user(store: Store):
    record(store, "web", "1.0.0", "1.0.1", T0, "a" * 40)
    events.record(
        store,
        repository="fleet",
        workload="apps:deployment/web",
        action="release",
        subject="1.0.1",
        user="alice",
        commit="a" * 40,
        when=T0,
    )
    events.record(
        store,
        repository="fleet",
        workload="apps:deployment/web",
        action="lock",
        subject="locked",
        user="bob",
        when=T0 + 30,
    )

    found = events.timeline(store, workload="apps:deployment/web")

    assert [(e.user, e.kind) for e in found] == [("bob", "lock"), ("alice", "automated update")]


def test_fleet_rows_filter_search_sort_and_count_the_same(store: Store):
    fleet.save(
        store,
        "fleet",
        [
            row("apps:deployment/web"),
            row("apps:deployment/api", behind=3),
            row("apps:deployment/db", status="up-to-date", behind=0, latest="1.0.0"),
        ],
    )

    page = fleet.query(store, sort="behind", descending=True)
    assert [r.workload for r in page.rows] == [
        "apps:deployment/api",
        "apps:deployment/web",
        "apps:deployment/db",
    ]
    assert page.counts == {"update": 2, "up-to-date": 1}
    assert page.repositories == ["fleet"]
    assert [r.workload for r in fleet.query(store, search="WEB").rows] == ["apps:deployment/web"]
    assert fleet.query(store, search="%").total == 0
    assert fleet.query(store, status="up-to-date").total == 1
    assert fleet.query(store, per_page=2, page=2).rows[0].workload == "apps:deployment/web"


def test_saving_a_repositorys_rows_again_replaces_them(store: Store):
    fleet.save(store, "fleet", [row("apps:deployment/web"), row("apps:deployment/api")])
    fleet.save(store, "fleet", [row("apps:deployment/web", current="1.1.0", behind=0)])

    (only,) = fleet.query(store).rows
    assert (only.workload, only.current) == ("apps:deployment/web", "1.1.0")


def test_a_rejected_update_leaves_the_approvals_and_a_new_decision_replaces_it(store: Store):
    held = row("apps:deployment/web", status="held", held_by="approval")
    fleet.save(store, "fleet", [held])

    approvals.decide(store, held, "rejected", user="carol")
    assert approvals.pending(store) == []
    approvals.decide(store, held, "approved", user="carol")

    assert [r.workload for r in approvals.pending(store)] == ["apps:deployment/web"]
    (decision,) = store.query("SELECT decision, user FROM approvals")
    assert (decision[0], decision["user"]) == ("approved", "carol")


def test_the_service_tells_new_tags_from_those_it_saw(store: Store):
    state = ServiceState(store)

    assert state.exchange_tags("ghcr.io/org/app", ["1.0.0"]) is None
    assert state.exchange_tags("ghcr.io/org/app", ["1.0.0", "1.1.0"]) == ("1.1.0",)
    assert state.adopt_tags("ghcr.io/org/app", ["9"]) is False
    assert state.adopt_tags("ghcr.io/org/other", ["1"]) is True
    state.set_repository_images("fleet", {"ghcr.io/org/b", "ghcr.io/org/a"})
    state.set_repository_images("fleet", {"ghcr.io/org/a"})
    assert state.repository_images() == {"fleet": ["ghcr.io/org/a"]}


def test_tag_digests_are_kept_with_when_they_were_seen(store: Store):
    store.put_tag_digest("ghcr.io/org/app", "1.0", "sha256:" + "a" * 64)
    store.put_tag_digest("ghcr.io/org/app", "1.0", "sha256:" + "b" * 64)

    assert store.get_tag_digest("ghcr.io/org/app", "1.0", max_age=60) == "sha256:" + "b" * 64
    assert store.get_tag_digest("ghcr.io/org/app", "1.0", max_age=float("inf")) is not None
    assert store.get_tag_digest("ghcr.io/org/app", "2.0", max_age=60) is None


def test_forgetting_and_pruning_tag_lists(store: Store):
    store.put_tags("ghcr.io/org/app", ["1"])
    store.put_tags("ghcr.io/org/old", ["1"])
    store.forget_tags("ghcr.io/org/app")

    assert store.get_tags("ghcr.io/org/app") is None
    assert store.prune_tags(older_than=-1) == 1
    assert store.get_tags("ghcr.io/org/old") is None


def test_a_failed_transaction_writes_nothing(store: Store):
    def write_then_fail() -> None:
        with store.transaction() as db:
            db.execute(
                "INSERT INTO tag_cache (repository, tags, dropped, fetched_at) VALUES (?, ?, ?, ?)",
                ("ghcr.io/org/app", "[]", "[]", T0),
            )
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert store.get_tags("ghcr.io/org/app") is None


def test_a_query_inside_a_transaction_sees_what_it_wrote(store: Store):
    with store.transaction() as db:
        db.execute(
            "INSERT INTO tag_cache (repository, tags, dropped, fetched_at) VALUES (?, ?, ?, ?)",
            ("ghcr.io/org/app", '["1"]', "[]", T0),
        )
        assert store.query("SELECT COUNT(*) FROM tag_cache")[0][0] == 1


def test_two_processes_share_a_registry_rate_with_one_burst(store_location: str):
    """Two stores on one location are two replicas: at 2 requests/s with bursts of 2, the
    first two requests go at once, then one every half second, whoever asks."""
    with Store.open(store_location) as one, Store.open(store_location) as other:
        waits = [
            store.reserve_request("ghcr.io", 2.0, 2.0, now=T0)
            for store in (one, other, one, other, one)
        ]
        later = other.reserve_request("ghcr.io", 2.0, 2.0, now=T0 + 10)
        elsewhere = one.reserve_request("quay.io", 2.0, 2.0, now=T0)

    assert waits == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert later == 0.0
    assert elsewhere == 0.0


def test_the_gates_state_first_sight_and_signature_verdicts(store: Store):
    from datetime import UTC, datetime

    first = datetime(2024, 1, 1, tzinfo=UTC)
    later = datetime(2024, 2, 1, tzinfo=UTC)
    digest = "sha256:" + "a" * 64

    assert store.first_seen("ghcr.io/org/app", "1.0", digest, first) == first
    assert store.first_seen("ghcr.io/org/app", "1.0", digest, later) == first
    assert store.first_seen("ghcr.io/org/app", "1.0", "sha256:" + "b" * 64, later) == later
    assert store.valid_signature("ghcr.io/org/app", digest, "k1") is None
    store.put_valid_signature("ghcr.io/org/app", digest, "k1", "key-a", "ok")
    store.put_valid_signature("ghcr.io/org/app", digest, "k1", "key-b", "again")
    assert store.valid_signature("ghcr.io/org/app", digest, "k1") == ("key-b", "again")


def test_reconciler_reports_get_increasing_ids_and_the_marker_is_kept(store: Store):
    from imagebot.update import reconcile

    report = reconcile.Report("flux", "flux", "Kustomization flux-system/apps", "abc", "applied")
    first = reconcile.record(store, report, when=T0)
    second = reconcile.record(store, report, when=T0 + 1)

    assert first.id is not None
    assert second.id == first.id + 1
    since = reconcile.reconcilers_since(store, now=T0)
    assert reconcile.reconcilers_since(store, now=T0 + 99) == since


def test_cycle_caches_are_kept_in_an_sqlite_store_and_not_in_a_shared_one(store: Store):
    store.put_cycle_cache("/srv/checkouts/fleet", "imagebot 1; format 1", b"\x80\x05cached")
    kept = store.get_cycle_cache("/srv/checkouts/fleet")
    store.forget_cycle_cache("/srv/checkouts/fleet")

    assert "cycle_caches" in store.tables()
    assert kept == (None if store.shared else ("imagebot 1; format 1", b"\x80\x05cached"))
    assert store.get_cycle_cache("/srv/checkouts/fleet") is None
