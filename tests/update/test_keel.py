"""Keel-annotated workloads in an update cycle: the tag Keel would deploy, and Keel's
``force`` policy following new builds of the same tag through a pinned digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.update.helpers import Bot, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_force_with_match_tag_follows_a_rebuilt_tag_through_its_digest(bot: Bot, repo_name: str):
    first = bot.registry.push(repo_name, ["stable"], created=T0).digest
    image = f"{bot.registry.host}/{repo_name}"
    keel = {"keel.sh/policy": "force", "keel.sh/match-tag": "true"}
    remote = bot.remote(
        {"app.yaml": deployment("app", f"{image}:stable@{first}", annotations=keel)}
    )
    rebuilt = bot.registry.push(repo_name, ["stable"], created=T0 + timedelta(days=1)).digest
    assert rebuilt != first

    report = bot.run(remote)

    assert [r.new_digest for r in report.applied] == [rebuilt]
    assert f"{image}:stable@{rebuilt}".encode() in remote.read("app.yaml")


def test_a_minor_policy_moves_within_the_major_version(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.4.2", "1.5.0", "1.5.1-rc.1", "2.0.0"], created=T0)
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {"app.yaml": deployment("app", f"{image}:1.4.2", annotations={"keel.sh/policy": "minor"})}
    )

    report = bot.run(remote)

    assert [r.new_tag for r in report.applied] == ["1.5.0"]


def test_a_workload_held_for_keel_approvals_waits(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.4.2", "1.4.3"], created=T0)
    image = f"{bot.registry.host}/{repo_name}"
    keel = {"keel.sh/policy": "patch", "keel.sh/approvals": "1"}
    remote = bot.remote({"app.yaml": deployment("app", f"{image}:1.4.2", annotations=keel)})
    tip = remote.tip()

    report = bot.run(remote)

    assert report.applied == []
    assert [r.status for r in report.resolutions] == ["awaiting-approval"]
    assert remote.tip() == tip
