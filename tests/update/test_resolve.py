"""Resolution asks the registry as little as it can and contains every failure."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest

from imagebot.manifests.discovery import scan_bytes
from imagebot.policy import decide
from imagebot.update import resolve
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sites(*docs: bytes):
    discovery = scan_bytes(b"---\n".join(docs))
    assert not discovery.errors
    return discovery.sites


def requests(bot: Bot) -> int:
    return bot.runner.client.requests[bot.registry.host]


@pytest.fixture
def nightly(bot: Bot, repo_name: str) -> str:
    image = f"{repo_name}/nightly"
    for day in range(5):
        bot.registry.push(image, [f"build-{day}"], created=T0 + timedelta(days=day))
    return image


def test_each_repository_is_listed_once_however_many_sites_use_it(bot: Bot, repo_name: str):
    image = f"{repo_name}/shared"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    many = sites(
        *(
            deployment(f"w{i}", bot.image(image, "1.0.0"), annotations=automated("semver:~1.0"))
            for i in range(5)
        )
    )
    before = requests(bot)

    resolved = bot.runner.run(resolve(many, bot.runner.scanner))

    assert [r.new_tag for r in resolved.resolutions] == ["1.0.1"] * 5
    assert requests(bot) - before == 1


def test_semver_policies_fetch_no_build_times(bot: Bot, repo_name: str):
    image = f"{repo_name}/semver"
    bot.registry.push(image, [f"1.0.{i}" for i in range(10)], created=T0)
    before = requests(bot)

    bot.runner.run(
        resolve(
            sites(deployment("a", bot.image(image, "1.0.0"), annotations=automated("semver:*"))),
            bot.runner.scanner,
        )
    )

    assert requests(bot) - before == 1  # the tag list, nothing per tag


def test_build_times_are_fetched_for_the_tags_the_policy_admits_only(bot: Bot, nightly: str):
    site = sites(
        deployment("a", bot.image(nightly, "build-0"), annotations=automated("glob:build-[34]"))
    )
    before = requests(bot)

    resolved = bot.runner.run(resolve(site, bot.runner.scanner))

    assert resolved.resolutions[0].new_tag == "build-4"
    # tag list + (HEAD + manifest + config blob) for build-3, build-4 and the current tag
    assert requests(bot) - before == 1 + 3 * 3


def test_known_tag_digests_are_not_asked_again_within_the_ttl(bot: Bot, nightly: str):
    site = sites(deployment("a", bot.image(nightly, "build-0"), annotations=automated("glob:*")))
    bot.runner.run(resolve(site, bot.runner.scanner))
    before = requests(bot)

    again = bot.runner.run(resolve(site, bot.runner.scanner))

    assert again.resolutions[0].new_tag == "build-4"
    assert requests(bot) - before == 0  # tag list from the cache, digests and builds too


def test_fresh_asks_the_registry_again(bot: Bot, nightly: str):
    site = sites(deployment("a", bot.image(nightly, "build-0"), annotations=automated("glob:*")))
    bot.runner.run(resolve(site, bot.runner.scanner))
    bot.registry.push(nightly, ["build-9"], created=T0 + timedelta(days=9))

    again = bot.runner.run(resolve(site, bot.runner.scanner, fresh=True))

    assert again.resolutions[0].new_tag == "build-9"


def test_a_failing_registry_fails_only_the_sites_that_use_it(bot: Bot, repo_name: str):
    image = f"{repo_name}/ok"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    both = sites(
        deployment("ok", bot.image(image, "1.0.0"), annotations=automated("semver:~1.0")),
        deployment("down", "127.0.0.1:9/x/y:1.0.0", annotations=automated("semver:~1.0")),
    )

    resolved = bot.runner.run(resolve(both, bot.runner.scanner))

    assert {r.site.name: r.status for r in resolved.resolutions} == {
        "ok": "update",
        "down": "error",
    }
    assert list(resolved.registry_errors) == ["127.0.0.1:9/x/y"]
    assert [p.kind for p in resolved.problems] == ["registry"]


def test_locked_and_manual_sites_are_not_looked_up(bot: Bot, repo_name: str):
    image = f"{repo_name}/quiet"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    quiet = sites(
        deployment(
            "locked",
            bot.image(image, "1.0.0"),
            annotations={**automated("semver:~1.0"), "imagebot.io/locked": "true"},
        ),
        deployment("manual", bot.image(image, "1.0.0")),
    )
    before = requests(bot)

    resolved = bot.runner.run(resolve(quiet, bot.runner.scanner))

    assert [r.status for r in resolved.resolutions] == ["locked", "not-automated"]
    assert requests(bot) == before


def test_manual_resolution_says_what_a_locked_policy_would_pick(bot: Bot, repo_name: str):
    image = f"{repo_name}/peek"
    bot.registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    locked = sites(
        deployment(
            "locked",
            bot.image(image, "1.0.0"),
            annotations={**automated("semver:~1.0"), "imagebot.io/locked": "true"},
        )
    )

    resolved = bot.runner.run(resolve(locked, bot.runner.scanner, manual=True))

    (res,) = resolved.resolutions
    assert (res.status, res.available, res.new_tag) == ("locked", "1.0.1", None)


def test_a_policy_that_matches_nothing_leaves_the_image_alone(bot: Bot, repo_name: str):
    image = f"{repo_name}/none"
    bot.registry.push(image, ["1.0.0"], created=T0)

    resolved = bot.runner.run(
        resolve(
            sites(deployment("a", bot.image(image, "1.0.0"), annotations=automated("semver:>=5"))),
            bot.runner.scanner,
        )
    )

    (res,) = resolved.resolutions
    assert res.status in ("no-match", "up-to-date")
    assert res.new_tag is None
    assert res.reason


def test_lines_sharing_image_policy_and_current_tag_share_one_decision(
    bot: Bot, repo_name: str, monkeypatch: pytest.MonkeyPatch
):
    image = f"{repo_name}/fleet"
    bot.registry.push(image, ["1.0.0", "1.0.1", "1.0.2"], created=T0)
    module = importlib.import_module("imagebot.update.resolve")
    calls: list[str | None] = []

    def counting(policy, candidates, current, **kw):
        calls.append(current)
        return decide(policy, candidates, current, **kw)

    monkeypatch.setattr(module, "decide", counting)
    fleet = sites(
        *(
            deployment(
                f"on-100-{i}", bot.image(image, "1.0.0"), annotations=automated("semver:~1.0")
            )
            for i in range(4)
        ),
        *(
            deployment(
                f"on-101-{i}", bot.image(image, "1.0.1"), annotations=automated("semver:~1.0")
            )
            for i in range(3)
        ),
        deployment("other-policy", bot.image(image, "1.0.0"), annotations=automated("glob:1.0.*")),
    )

    resolved = bot.runner.run(resolve(fleet, bot.runner.scanner))

    assert sorted(calls, key=str) == ["1.0.0", "1.0.0", "1.0.1"]
    # the glob ranks by build time: one image carries all three tags, so nothing is newer
    assert [r.new_tag for r in resolved.resolutions] == ["1.0.2"] * 7 + [None]


def test_a_cycle_decision_carries_verdicts_only_for_the_tags_it_is_about(bot: Bot, repo_name: str):
    image = f"{repo_name}/brief"
    bot.registry.push(image, [f"1.0.{i}" for i in range(6)], created=T0)
    one = sites(deployment("a", bot.image(image, "1.0.1"), annotations=automated("semver:~1.0")))

    brief = bot.runner.run(resolve(one, bot.runner.scanner)).resolutions[0].decision
    full = bot.runner.run(resolve(one, bot.runner.scanner, explain=True)).resolutions[0].decision

    assert brief is not None
    assert full is not None
    assert [v.tag for v in brief.verdicts] == ["1.0.5", "1.0.1"]
    assert len(full.verdicts) == 6
    assert (brief.tag, brief.reason) == (full.tag, full.reason)
