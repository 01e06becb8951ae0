"""The update cycle against a real registry and real Git remotes."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import imagebot.update.cycle as cycle_module
from imagebot.update import history
from tests.gitops.helpers import Writer, git
from tests.update.helpers import Bot, automated, checkout, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def app(bot: Bot, repo_name: str) -> str:
    """An image with 1.0.0 (current), 1.0.1, 1.1.0 and 2.0.0 in the registry."""
    bot.registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1", "1.1.0", "2.0.0"], created=T0)
    return f"{repo_name}/app"


def test_a_cycle_commits_and_pushes_one_commit_listing_every_change(bot: Bot, app: str):
    remote = bot.remote(
        {
            "apps/web.yaml": deployment(
                "web", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
            ),
            "apps/api.yaml": deployment(
                "api", bot.image(app, "1.0.0"), annotations=automated("semver:^1")
            ),
        }
    )
    before = remote.count()

    report = bot.run(remote)

    assert report.exit_code == 0
    assert report.pushed
    assert report.commit == remote.tip()
    assert remote.count() == before + 1
    message = git(remote.path, "log", "-1", "--format=%B")
    assert "apps/api.yaml: Deployment/apps/api app 1.0.0 -> 1.1.0" in message
    assert "apps/web.yaml: Deployment/apps/web app 1.0.0 -> 1.0.1" in message
    assert b"image: " + bot.image(app, "1.0.1").encode() + b"   # the app" in remote.read(
        "apps/web.yaml"
    )


def test_only_the_image_value_changes_in_the_committed_file(bot: Bot, app: str):
    old = deployment("web", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))
    remote = bot.remote({"apps/web.yaml": old})

    bot.run(remote)

    new = remote.read("apps/web.yaml")
    changed = [
        line
        for line in difflib.unified_diff(old.decode().splitlines(), new.decode().splitlines(), n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        f"-          image: {bot.image(app, '1.0.0')}   # the app",
        f"+          image: {bot.image(app, '1.0.1')}   # the app",
    ]


def test_a_second_run_with_nothing_new_makes_no_commit(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    bot.run(remote)
    tip = remote.tip()

    again = bot.run(remote)

    assert again.commit is None
    assert not again.pushed
    assert remote.tip() == tip
    assert again.exit_code == 0


def test_dry_run_changes_nothing_but_shows_the_diff(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    tip = remote.tip()

    report = bot.run(remote, dry_run=True)

    assert remote.tip() == tip
    assert report.commit is None
    assert f"-          image: {bot.image(app, '1.0.0')}" in report.diff
    assert f"+          image: {bot.image(app, '1.0.1')}" in report.diff
    assert history.entries(bot.store) == []


def test_dry_run_on_a_local_checkout_leaves_it_untouched(bot: Bot, app: str, tmp_path: Path):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    work = checkout(remote, tmp_path / "work")
    status_before = git(work, "status", "--porcelain")
    head_before = git(work, "rev-parse", "HEAD")

    report = bot.run(work, dry_run=True)

    assert report.diff
    assert git(work, "status", "--porcelain") == status_before
    assert git(work, "rev-parse", "HEAD") == head_before
    assert remote.count() == 1


def test_a_local_checkout_is_updated_in_place_and_pushed_upstream(
    bot: Bot, app: str, tmp_path: Path
):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    work = checkout(remote, tmp_path / "work")

    report = bot.run(work)

    assert report.pushed
    assert git(work, "rev-parse", "HEAD") == remote.tip() == report.commit
    assert bot.image(app, "1.0.1") in (work / "a.yaml").read_text()
    assert git(work, "status", "--porcelain") == ""


def test_a_local_repository_without_remote_gets_a_commit(bot: Bot, app: str, tmp_path: Path):
    work = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "a.yaml").write_bytes(
        deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))
    )
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "init")

    report = bot.run(work)

    assert report.commit == git(work, "rev-parse", "HEAD")
    assert not report.pushed


def test_locked_and_manual_workloads_do_not_move(bot: Bot, app: str):
    remote = bot.remote(
        {
            "locked.yaml": deployment(
                "locked",
                bot.image(app, "1.0.0"),
                annotations={**automated("semver:~1.0"), "imagebot.io/locked": "true"},
            ),
            "manual.yaml": deployment(
                "manual",
                bot.image(app, "1.0.0"),
                annotations={"imagebot.io/tag.app": "semver:~1.0"},
            ),
        }
    )

    report = bot.run(remote)

    assert report.commit is None
    assert {r.site.name: r.status for r in report.resolutions} == {
        "locked": "locked",
        "manual": "not-automated",
    }


def test_an_automated_container_without_policy_follows_the_newest_build(bot: Bot, repo_name: str):
    image = f"{repo_name}/nightly"
    bot.registry.push(image, ["build-1"], created=T0)
    bot.registry.push(image, ["build-2"], created=T0 + timedelta(days=1))
    bot.registry.push(image, ["build-0"], created=T0 - timedelta(days=1))
    remote = bot.remote(
        {
            "n.yaml": deployment(
                "n", bot.image(image, "build-1"), annotations={"imagebot.io/automated": "true"}
            )
        }
    )

    report = bot.run(remote)

    assert [(r.site.tag, r.new_tag, r.policy) for r in report.applied] == [
        ("build-1", "build-2", "glob:*")
    ]


def test_an_unreachable_registry_fails_its_images_while_the_rest_is_committed(bot: Bot, app: str):
    remote = bot.remote(
        {
            "good.yaml": deployment(
                "good", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
            ),
            "bad.yaml": deployment(
                "bad", "127.0.0.1:9/nobody/app:1.0.0", annotations=automated("semver:~1.0")
            ),
        }
    )

    report = bot.run(remote)

    assert report.exit_code == 1
    assert [r.site.name for r in report.applied] == ["good"]
    assert report.pushed
    (problem,) = report.problems
    assert problem.kind == "registry"
    assert "127.0.0.1:9" in problem.message


def test_a_broken_manifest_is_reported_and_the_rest_is_updated(bot: Bot, app: str):
    remote = bot.remote(
        {
            "good.yaml": deployment(
                "good", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
            ),
            "broken.yaml": b"kind: Deployment\nmetadata: {name: x\n",
            "chart/templates/dep.yaml": b"image: {{ .Values.image }}\n",
            "chart/Chart.yaml": b"name: chart\nversion: 1.0.0\n",
        }
    )

    report = bot.run(remote)

    assert [r.site.name for r in report.applied] == ["good"]
    assert [p.subject for p in report.problems] == ["broken.yaml"]
    assert [s.file for s in report.skipped] == ["chart/templates/dep.yaml"]
    assert report.exit_code == 1


def test_an_invalid_policy_fails_only_its_workload(bot: Bot, app: str):
    remote = bot.remote(
        {
            "good.yaml": deployment(
                "good", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0")
            ),
            "bad.yaml": deployment(
                "bad", bot.image(app, "1.0.0"), annotations=automated("semver:~>>1")
            ),
        }
    )

    report = bot.run(remote)

    assert [r.site.name for r in report.applied] == ["good"]
    assert [p.kind for p in report.problems] == ["policy"]
    assert "bad.yaml" in report.problems[0].message


def race_once(monkeypatch: pytest.MonkeyPatch, push: Callable[[], str]) -> list[str]:
    """Make another writer *push* once, after the bot computed its change and before it
    pushes; returns (in a list, filled then) the commit the other writer made."""
    real = cycle_module.build_changes
    raced: list[str] = []

    def racing(root, resolutions):
        result = real(root, resolutions)
        if not raced:
            raced.append(push())
        return result

    monkeypatch.setattr(cycle_module, "build_changes", racing)
    return raced


def test_a_push_race_recomputes_on_the_new_tip(bot: Bot, app: str, tmp_path: Path, monkeypatch):
    """Another writer pushes after the bot synced: the push is rejected, the bot fetches,
    recomputes on the new tip (keeping the other change) and pushes again; no force push."""
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    writer = Writer(remote, tmp_path / "writer")
    raced = race_once(monkeypatch, lambda: writer.commit_and_push("notes.txt", b"human change\n"))

    report = bot.run(remote)

    assert report.attempts == 2
    assert report.pushed
    assert remote.is_ancestor(raced[0], remote.tip())
    assert remote.read("notes.txt") == b"human change\n"
    updates = remote.ref_updates()
    assert all(remote.is_ancestor(old, new) for old, new in updates if set(old) != {"0"})


def test_a_push_race_where_the_human_already_updated_makes_no_commit(
    bot: Bot, app: str, tmp_path: Path, monkeypatch
):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    writer = Writer(remote, tmp_path / "writer")

    def human_update() -> str:
        text = (writer.dir / "a.yaml").read_bytes().replace(b":1.0.0", b":1.0.1")
        return writer.commit_and_push("a.yaml", text)

    raced = race_once(monkeypatch, human_update)

    report = bot.run(remote)

    assert report.commit is None
    assert remote.tip() == raced[0]


def test_branch_mode_pushes_to_the_bot_branch_only(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    main_before = remote.tip()

    report = bot.run(remote, write_mode="branch")

    assert remote.tip() == main_before
    assert report.target == "imagebot/main"
    assert remote.tip("imagebot/main") == report.commit
    assert bot.image(app, "1.0.1").encode() in remote.read("a.yaml", "imagebot/main")
    again = bot.run(remote, write_mode="branch")
    assert not again.pushed
    assert remote.tip("imagebot/main") == report.commit


def test_history_records_every_applied_update(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )

    report = bot.run(remote)

    (entry,) = history.entries(bot.store)
    assert (entry.file, entry.workload, entry.container) == ("a.yaml", "apps:deployment/a", "app")
    assert (entry.old_tag, entry.new_tag, entry.commit, entry.mode) == (
        "1.0.0",
        "1.0.1",
        report.commit,
        "direct",
    )
    assert entry.pushed


def test_a_digest_pinned_reference_gets_the_new_tag_and_its_digest(bot: Bot, repo_name: str):
    image = f"{repo_name}/pinned"
    old = bot.registry.push(image, ["1.0.0"], created=T0)
    new = bot.registry.push(image, ["1.0.1"], created=T0 + timedelta(hours=1))
    remote = bot.remote(
        {
            "p.yaml": deployment(
                "p",
                f"{bot.image(image, '1.0.0')}@{old.digest}",
                annotations=automated("semver:~1.0"),
            )
        }
    )

    report = bot.run(remote)

    assert report.applied[0].new_digest == new.digest
    assert f"{bot.image(image, '1.0.1')}@{new.digest}".encode() in remote.read("p.yaml")


def test_a_cancelled_cycle_stops_before_committing(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    cancel = threading.Event()
    cancel.set()

    report = bot.run(remote, cancel=cancel)

    assert not report.completed
    assert remote.count() == 1


def test_the_commit_message_template_is_configurable(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )
    from imagebot.config import CommitConfig

    commit = CommitConfig(
        message="chore(images): {count} update(s) on {branch}\n\n{changes}",
        author_name="Image Bot",
        author_email="bot@example.test",
    )

    bot.run(remote, commit=commit)

    assert git(remote.path, "log", "-1", "--format=%an <%ae>%n%B").splitlines()[:3] == [
        "Image Bot <bot@example.test>",
        "chore(images): 1 update(s) on main",
        "",
    ]


def test_a_cycle_reports_registry_time_and_its_own_cpu_time_apart(bot: Bot, app: str):
    remote = bot.remote(
        {"a.yaml": deployment("a", bot.image(app, "1.0.0"), annotations=automated("semver:~1.0"))}
    )

    report = bot.run(remote, dry_run=True)

    assert 0 < report.registry_seconds <= report.duration
    assert report.cpu_seconds > 0
    data = report.to_dict()
    assert data["registry_seconds"] == round(report.registry_seconds, 3)
    assert data["cpu_seconds"] == round(report.cpu_seconds, 3)


def test_a_cycle_that_asks_no_registry_reports_no_registry_time(bot: Bot, app: str):
    remote = bot.remote({"a.yaml": deployment("a", bot.image(app, "1.0.0"))})

    report = bot.run(remote, dry_run=True)

    assert report.registry_seconds == 0
