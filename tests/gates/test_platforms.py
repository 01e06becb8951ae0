"""Platforms: a candidate must offer every platform asked for, and never lose one."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.gates.helpers import NOW, gated, resolve_at, sites
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BOTH = ["linux/amd64", "linux/arm64"]


def test_a_candidate_whose_index_lacks_a_platform_is_rejected_for_one_that_has_it(
    bot: Bot, repo_name: str
):
    bot.registry.push(repo_name, ["1.0.0"], created=T0, platforms=BOTH)
    bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=BOTH, oci=True)
    bot.registry.push(repo_name, ["1.0.2"], created=T0, platforms=["linux/amd64"])

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0", platforms="linux/amd64, linux/arm64"), NOW)

    assert res.new_tag == "1.0.1"
    assert res.gate_reports["1.0.2"].reason == "platforms: lacks linux/arm64"
    assert res.gate_reports["1.0.1"].passed


def test_a_single_platform_manifest_counts_as_its_config_platform(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"], created=T0)  # one linux/amd64 manifest

    amd = resolve_at(bot, gated(bot, repo_name, "1.0.0", platforms="linux/amd64"), NOW)
    arm = resolve_at(bot, gated(bot, repo_name, "1.0.0", platforms="linux/arm64"), NOW)

    assert amd.new_tag == "1.0.1"
    assert arm.status == "up-to-date"
    assert arm.reason.startswith("1.0.1 held: platforms: lacks linux/arm64")


def test_a_digest_pin_is_written_with_the_index_digest(bot: Bot, repo_name: str):
    old = bot.registry.push(repo_name, ["1.0.0"], created=T0, platforms=BOTH)
    new = bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=BOTH)
    image = f"{bot.image(repo_name, '1.0.0')}@{old.digest}"

    res = resolve_at(bot, sites(deployment("web", image, annotations=automated("semver:^1"))), NOW)

    assert res.new_digest == new.digest
    assert res.new_digest not in new.platform_digests.values()


def test_a_pinned_candidate_that_lost_a_platform_the_current_image_had_is_rejected(
    bot: Bot, repo_name: str
):
    old = bot.registry.push(repo_name, ["1.0.0"], created=T0, platforms=BOTH)
    bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=["linux/amd64"])
    image = f"{bot.image(repo_name, '1.0.0')}@{old.digest}"

    res = resolve_at(bot, sites(deployment("web", image, annotations=automated("semver:^1"))), NOW)

    assert res.status == "up-to-date"
    assert "platforms: loses linux/arm64 (the current image 1.0.0 offers it)" in res.reason


def test_an_unpinned_reference_without_platform_gates_may_lose_a_platform(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"], created=T0, platforms=BOTH)
    bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=["linux/amd64"])

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0"), NOW)

    assert res.new_tag == "1.0.1"
    assert res.gates is None


def test_the_config_default_platforms_apply_to_every_site(bot: Bot, repo_name: str):
    bot.reconfigure("gates:\n  platforms: [linux/amd64, linux/arm/v7]\n")
    bot.registry.push(repo_name, ["1.0.0"], created=T0, platforms=["linux/amd64", "linux/arm/v7"])
    bot.registry.push(repo_name, ["1.0.1"], created=T0, platforms=["linux/amd64", "linux/arm64"])

    res = resolve_at(bot, gated(bot, repo_name, "1.0.0"), NOW)

    assert res.status == "up-to-date"
    assert "lacks linux/arm/v7" in res.reason


def test_a_bad_platform_annotation_is_an_error_of_the_workload(bot: Bot, repo_name: str):
    from imagebot.manifests.discovery import scan_bytes

    notes = {**automated("semver:^1"), "imagebot.io/platforms.app": "amd64"}
    found = scan_bytes(deployment("web", bot.image(repo_name, "1.0.0"), annotations=notes))

    assert found.sites[0].error is not None
    assert "imagebot.io/platforms.app: platform 'amd64' is not os/arch" in found.sites[0].error
