"""The adapter between the service and the real scanner and update cycle, in process:
a real registry, a bare Git remote, and the callables the service would be handed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebot.config import RepositoryConfig
from imagebot.service.metrics import Metrics
from imagebot.service.types import AppliedUpdate, BlockedWorkload
from imagebot.service.wiring import RegistryObserver, Wiring
from tests.gitops.helpers import Remote
from tests.harness import RegistryServer
from tests.update.helpers import Bot, automated, deployment

from .test_metrics import value


@pytest.fixture(autouse=True)
def _isolated_git(isolated_git: Path) -> None:
    """Every test here runs git in isolation."""


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer) -> Iterator[Bot]:
    # Scans in these tests must look again each time: no reuse of a cached list.
    with Bot(tmp_path, registry, "tag_cache_ttl: 0s\n") as b:
        yield b


def wiring_for(bot: Bot, remote: Remote) -> tuple[Wiring, RepositoryConfig]:
    repo = RepositoryConfig(url=remote.url, name="fleet")
    config = type(bot.config)(**{**bot.config.__dict__, "repositories": [repo]})
    return Wiring(config, bot.runner, bot.store), repo


def test_a_cycle_reports_what_it_applied_and_which_images_to_watch(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {
            "web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0")),
            "manual.yaml": deployment("manual", f"{bot.registry.host}/other/thing:1.0"),
        }
    )
    wiring, repo = wiring_for(bot, remote)

    outcome = wiring.run_cycle(repo, threading.Event())

    assert outcome.completed
    assert outcome.failures == ()
    assert outcome.commit == remote.tip()
    assert outcome.applied == (
        AppliedUpdate("apps:deployment/web", "app", image, "1.0.0", "1.0.1", "web.yaml"),
    )
    assert list(wiring.images_for(repo)) == [image]  # not the manual workload's image
    assert wiring.repos_for(image) == [repo]


def test_scans_report_only_tags_not_seen_before_even_after_a_restart(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0"])
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {"web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))}
    )
    wiring, repo = wiring_for(bot, remote)
    wiring.run_cycle(repo, threading.Event())

    assert wiring.scan_images([image])[image].new_tags == ()
    bot.registry.push(repo_name, ["1.0.1", "1.1.0"])
    first = wiring.scan_images([image])[image]
    restarted, _ = wiring_for(bot, remote)
    again = restarted.scan_images([image])[image]

    assert sorted(first.new_tags) == ["1.0.1", "1.1.0"]
    assert first.tag_count == 3
    assert again.new_tags == ()
    assert restarted.repos_for(image) == [repo]  # known before its first cycle


def test_a_scan_of_an_unknown_repository_reports_a_stable_failure(bot: Bot):
    image = f"{bot.registry.host}/nobody/here"
    remote = bot.remote({"a.yaml": b"kind: ConfigMap\n"})
    wiring, _ = wiring_for(bot, remote)

    outcome = wiring.scan_images([image])[image]

    assert outcome.error is not None
    assert (outcome.error.kind, outcome.error.subject) == ("not_found", image)


def test_blocked_workloads_say_why_and_what_is_available(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1", "1.1.0"])
    image = f"{bot.registry.host}/{repo_name}"
    locked = {**automated("semver:~1.0"), "imagebot.io/locked": "true"}
    remote = bot.remote(
        {
            "locked.yaml": deployment("locked", f"{image}:1.0.0", annotations=locked),
            "nomatch.yaml": deployment(
                "nomatch", f"{image}:1.0.0", annotations=automated("semver:~2.0")
            ),
            "current.yaml": deployment(
                "current", f"{image}:1.1.0", annotations=automated("semver:^1")
            ),
        }
    )
    wiring, repo = wiring_for(bot, remote)

    outcome = wiring.run_cycle(repo, threading.Event())

    assert sorted(outcome.blocked, key=lambda b: b.workload) == [
        BlockedWorkload("apps:deployment/locked", "app", image, "locked", "1.0.0", "1.0.1"),
        BlockedWorkload("apps:deployment/nomatch", "app", image, "no_match", "1.0.0", "1.1.0"),
    ]
    assert outcome.applied == ()


def test_a_refused_push_is_a_failure_and_its_update_is_blocked_as_failing(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {"web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))}
    )
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    tip = remote.tip()
    wiring, repo = wiring_for(bot, remote)

    outcome = wiring.run_cycle(repo, threading.Event())

    assert remote.tip() == tip
    assert outcome.completed
    assert outcome.applied == ()
    assert outcome.commit is None
    assert [(f.kind, f.subject) for f in outcome.failures] == [("git", "push")]
    assert outcome.blocked == (
        BlockedWorkload("apps:deployment/web", "app", image, "failing", "1.0.0", "1.0.1"),
    )
    assert list(wiring.images_for(repo)) == [image]


def test_a_repository_that_cannot_be_cloned_fails_with_a_stable_subject(bot: Bot, tmp_path: Path):
    remote = Remote(tmp_path / "missing.git")
    wiring, repo = wiring_for(bot, remote)

    first = wiring.run_cycle(repo, threading.Event())
    second = wiring.run_cycle(repo, threading.Event())

    assert first.completed
    assert [(f.kind, f.subject) for f in first.failures] == [("git_error", "git")]
    assert [f.key for f in second.failures] == [f.key for f in first.failures]


def test_a_cancelled_cycle_is_not_completed_and_changes_nothing(bot: Bot, repo_name: str):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    remote = bot.remote(
        {"web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0"))}
    )
    tip = remote.tip()
    wiring, repo = wiring_for(bot, remote)
    cancel = threading.Event()
    cancel.set()

    outcome = wiring.run_cycle(repo, cancel)

    assert not outcome.completed
    assert outcome.applied == ()
    assert remote.tip() == tip


def test_rate_limit_waits_and_requests_reach_the_metrics():
    # Which requests count as a wait is the limiter's call (tests/registry/test_ratelimit.py).
    metrics = Metrics()
    observer = RegistryObserver(metrics)

    observer.rate_limit_wait("ghcr.io", 0.5)
    observer.registry_request("ghcr.io", 200)

    text = metrics.render().decode()
    assert value(text, "imagebot_rate_limit_waits_total", host="ghcr.io") == 1
    assert value(text, "imagebot_rate_limit_wait_seconds_total", host="ghcr.io") == 0.5
    assert value(text, "imagebot_registry_requests_total", host="ghcr.io", status="200") == 1


def test_a_keel_poll_schedule_becomes_the_interval_its_image_is_scanned_at(
    bot: Bot, repo_name: str
):
    bot.registry.push(repo_name, ["1.0.0", "1.0.1"])
    image = f"{bot.registry.host}/{repo_name}"
    keel = {"keel.sh/policy": "patch", "keel.sh/pollSchedule": "@every 5m"}
    faster = {"keel.sh/policy": "patch", "keel.sh/pollSchedule": "@every 2m"}
    remote = bot.remote(
        {
            "web.yaml": deployment("web", f"{image}:1.0.0", annotations=keel),
            "api.yaml": deployment("api", f"{image}:1.0.0", annotations=faster),
        }
    )
    wiring, repo = wiring_for(bot, remote)

    outcome = wiring.run_cycle(repo, threading.Event())

    assert {u.workload for u in outcome.applied} == {"apps:deployment/web", "apps:deployment/api"}
    assert wiring.intervals_for() == {image: 120.0}


def test_an_image_update_automation_interval_is_the_repositorys_cycle_interval(
    bot: Bot, repo_name: str
):
    bot.registry.push(repo_name, ["1.0.0"])
    image = f"{bot.registry.host}/{repo_name}"
    automation = (
        b"apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\n"
        b"metadata: {name: apps, namespace: flux-system}\nspec: {interval: 7m}\n"
    )
    remote = bot.remote(
        {
            "web.yaml": deployment("web", f"{image}:1.0.0", annotations=automated("semver:~1.0")),
            "flux/automation.yaml": automation,
        }
    )
    wiring, repo = wiring_for(bot, remote)
    assert wiring.cycle_interval_for(repo) is None  # nothing read yet

    wiring.run_cycle(repo, threading.Event())

    assert wiring.cycle_interval_for(repo) == 420.0
