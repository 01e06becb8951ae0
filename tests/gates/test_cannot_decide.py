"""A gate that cannot decide rejects: a registry that fails while the facts are gathered
holds the candidate; nothing is let through by default."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.gates.helpers import NOW, resolve_at, sites
from tests.harness.proxies import Fault, FaultProxy
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_registry_error_on_the_candidate_holds_it(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"], created=T0)
    with FaultProxy(bot.registry.host) as proxy:
        proxy.always(r"/manifests/1\.0\.1$", Fault(status=404))
        notes = {**automated("semver:^1.0"), "imagebot.io/platforms.app": "linux/amd64"}
        site = sites(deployment("web", f"{proxy.host}/{repo_name}:1.0.0", annotations=notes))

        res = resolve_at(bot, site, NOW)

    assert res.status == "up-to-date"
    assert res.new_tag is None
    assert "1.0.1 held: platforms: cannot decide (1.0.1 is no longer in the registry)" in (
        res.reason
    )


def test_an_unreadable_candidate_manifest_holds_it(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0)
    digest = bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=["linux/amd64"]).digest
    with FaultProxy(bot.registry.host) as proxy:
        proxy.always(rf"/manifests/{digest}$", Fault(status=400))
        notes = {**automated("semver:^1.0"), "imagebot.io/platforms.app": "linux/amd64"}
        site = sites(deployment("web", f"{proxy.host}/{repo_name}:1.0.0", annotations=notes))

        res = resolve_at(bot, site, NOW)

    assert res.new_tag is None
    assert "1.0.1 held: platforms: cannot decide (manifest sha256:" in res.reason
    assert "unexpected HTTP 400" in res.reason


def test_an_unreadable_current_image_holds_every_candidate(bot: Bot, repo_name: str):
    old = bot.registry.push(repo_name, ["1.0.0"], created=T0).digest
    bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=["linux/amd64"])
    with FaultProxy(bot.registry.host) as proxy:
        proxy.always(rf"/manifests/{old}$", Fault(status=400))
        image = f"{proxy.host}/{repo_name}:1.0.0@{old}"
        site = sites(deployment("web", image, annotations=automated("semver:^1.0")))

        res = resolve_at(bot, site, NOW)

    assert res.new_tag is None
    assert "platforms: cannot decide (the current image cannot be read: manifest " in res.reason
