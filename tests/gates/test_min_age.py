"""Minimum age: a candidate is written only once its digest has been known long enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from imagebot.policy.gates import show_time
from imagebot.registry.models import MANIFEST_ACCEPT
from tests.gates.helpers import NOW, gated, resolve_at, sites
from tests.gitops.helpers import Remote, git
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_new_tag_waits_for_its_minimum_age_and_says_until_when(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", min_age="3d"), NOW)

    assert res.status == "up-to-date"
    assert res.new_tag is None
    assert res.held is not None
    assert res.held.tag == "1.0.1"
    assert res.eligible_at == NOW + 3 * DAY
    assert f"waits until {show_time(NOW + 3 * DAY)}" in res.reason
    assert res.reason.startswith("1.0.1 held: min age 3d: first seen 2026-12-03 14:00 UTC")


def test_the_tag_is_written_once_its_digest_has_been_known_for_the_minimum_age(
    bot: Bot, repo_name: str
):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    site = gated(bot, repo_name, "1.0.0", min_age="3d")
    resolve_at(bot, site, NOW)

    res = resolve_at(bot, site, NOW + 3 * DAY)

    assert res.status == "update"
    assert res.new_tag == "1.0.1"
    assert res.held is None
    assert res.gate_reports["1.0.1"].passed


def test_a_tag_re_pushed_with_another_digest_starts_its_wait_again(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    site = gated(bot, repo_name, "1.0.0", min_age="3d")
    resolve_at(bot, site, NOW)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + 2 * DAY)  # same tag, new digest

    res = resolve_at(bot, site, NOW + 4 * DAY)

    assert res.status == "up-to-date"
    assert res.eligible_at == NOW + 7 * DAY


def test_an_older_tag_old_enough_is_chosen_while_the_newest_waits(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    site = gated(bot, repo_name, "1.0.0", min_age="3d")
    resolve_at(bot, site, NOW)  # 1.0.1 first seen now
    bot.registry.push(repo_name, ["1.0.2"], created=T0 + 2 * DAY)

    res = resolve_at(bot, site, NOW + 3 * DAY)

    assert res.new_tag == "1.0.1"
    assert not res.gate_reports["1.0.2"].passed
    assert res.gate_reports["1.0.1"].passed
    assert res.decision is not None
    verdict = next(v for v in res.decision.verdicts if v.tag == "1.0.2")
    assert verdict.category == "gate"
    assert "waits until" in verdict.reason


def test_the_image_created_time_counts_only_with_age_source_created(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=NOW - 10 * DAY)
    bot.registry.push(repo_name, ["1.0.1"], created=NOW - 5 * DAY)

    seen = resolve_at(bot, gated(bot, repo_name, "1.0.0", min_age="3d"), NOW)
    created = resolve_at(
        bot, gated(bot, repo_name, "1.0.0", min_age="3d", age_source="created"), NOW
    )

    assert seen.status == "up-to-date"  # imagebot never saw it before: it waits
    assert created.new_tag == "1.0.1"  # built five days ago, and the policy trusts that


def test_an_image_without_a_created_time_is_held_under_age_source_created(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"])
    bot.registry.push(repo_name, ["1.0.1"])

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", min_age="1h", age_source="created"), NOW)

    assert res.status == "up-to-date"
    assert "cannot decide (the image has no created time)" in res.reason
    assert res.eligible_at is None


def test_the_config_default_applies_and_an_annotation_can_turn_it_off(bot: Bot, repo_name: str):
    bot.reconfigure("gates:\n  min_age: 2d\n")
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)

    default = resolve_at(bot, gated(bot, repo_name, "1.0.0"), NOW)
    off = resolve_at(bot, gated(bot, repo_name, "1.0.0", min_age="0s"), NOW)

    assert default.status == "up-to-date"
    assert default.eligible_at == NOW + 2 * DAY
    assert off.new_tag == "1.0.1"


def test_a_policy_file_min_age_holds_the_sites_whose_marker_names_it(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    image = bot.image(repo_name, "1.0.0")
    policy = (
        "apiVersion: imagebot.io/v1\nkind: ImagePolicy\n"
        "metadata: {name: app, namespace: apps}\n"
        "spec: {policy: 'semver:^1.0', minAge: 12h}\n"
    )
    marked = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n"
        f'        image: {image} # {{"$imagepolicy": "apps:app"}}\n'
    )

    res = resolve_at(bot, sites(policy, marked), NOW)

    assert res.site.min_age == "12h"
    assert res.eligible_at == NOW + timedelta(hours=12)


def test_a_moved_digest_of_a_pinned_tag_waits_too(bot: Bot, repo_name: str):
    old = bot.registry.push(repo_name, ["1.0.0"], created=T0).digest
    new = bot.registry.push(repo_name, ["1.0.0"], created=T0 + DAY).digest
    notes = {**automated("semver:^1.0"), "imagebot.io/min-age.app": "1d"}
    site = sites(deployment("web", f"{bot.image(repo_name, '1.0.0')}@{old}", annotations=notes))

    held = resolve_at(bot, site, NOW)
    later = resolve_at(bot, site, NOW + DAY)

    assert held.status == "up-to-date"
    assert "the move is held: min age 1d" in held.reason
    assert later.status == "update"
    assert later.new_digest == new


def test_an_update_cycle_commits_nothing_while_the_tag_waits(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    remote, written = aging_remote(bot, repo_name, "3d")

    report = bot.run(remote)

    assert report.applied == []
    assert remote.read("web.yaml") == written


def test_the_commit_says_which_newer_tag_waits_and_until_when(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    bot.registry.push(repo_name, ["1.0.1"], created=T0 + DAY)
    remote, _ = aging_remote(bot, repo_name, "1h")
    repository = f"{bot.registry.host}/{repo_name}"
    bot.store.first_seen(repository, "1.0.1", _digest(bot, repo_name, "1.0.1"), T0)
    bot.registry.push(repo_name, ["1.0.2"], created=T0 + 2 * DAY)

    report = bot.run(remote)

    assert [r.new_tag for r in report.applied] == ["1.0.1"]
    body = remote.subjects()[0]
    assert body == f"Update {repository} to 1.0.1"
    message = git_message(remote)
    assert "1.0.0 -> 1.0.1 (1.0.2 held: min age 1h: first seen " in message
    assert "waits until" in message


def _digest(bot: Bot, repo: str, tag: str) -> str:
    response = httpx.head(
        f"{bot.registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
    )
    return response.headers["docker-content-digest"]


def git_message(remote: Remote) -> str:
    return git(remote.path, "log", "-1", "--format=%B", "main")


def aging_remote(bot: Bot, repo: str, min_age: str) -> tuple[Remote, bytes]:
    """A Git remote with one automated Deployment on 1.0.0 under *min_age*; its bytes."""
    notes = {**automated("semver:^1.0"), "imagebot.io/min-age.app": min_age}
    written = deployment("web", bot.image(repo, "1.0.0"), annotations=notes)
    return bot.remote({"web.yaml": written}), written
