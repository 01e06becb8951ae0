"""Scheduling with fake scan and cycle functions and sub-second intervals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imagebot.config import Config, Duration, ImageConfig, RegistryConfig, RepositoryConfig
from imagebot.errors import ConfigError, Unreachable
from imagebot.service.hooks import HookEvent
from imagebot.service.metrics import Metrics
from imagebot.service.scheduler import Scheduler, scan_interval
from imagebot.service.types import CycleOutcome, ScanOutcome

from .conftest import FakeWork, make_config, wait_for
from .test_metrics import value

NGINX = "docker.io/library/nginx"
REDIS = "docker.io/library/redis"


@pytest.fixture
def scheduler(work: FakeWork) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(config: Config, **overrides: Any) -> Scheduler:
        kwargs: dict[str, Any] = {
            "scan_images": work.scan_images,
            "run_cycle": work.run_cycle,
            "images_for": work.images_for,
            "metrics": Metrics(),
        }
        kwargs.update(overrides)
        s = Scheduler(config, **kwargs)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.stop_taking_work()
        s.cancel.set()
        s.wait_idle(5)
        s.close_pools()


def test_first_sync_runs_every_repository_once_at_start(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    s = scheduler(make_config("one", "two"))
    assert wait_for(lambda: s.first_sync_done)
    assert work.cycle_count("one") == 1
    assert work.cycle_count("two") == 1


def test_scan_jobs_follow_the_images_the_repositories_use(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"one": ["nginx", "ghcr.io/o/app"], "two": ["nginx:1.25", "redis"]}
    s = scheduler(make_config("one", "two", interval=30))
    assert wait_for(lambda: len(s.scan_jobs()) == 3)
    assert s.scan_jobs() == {NGINX: 30, "ghcr.io/o/app": 30, REDIS: 30}
    assert {r.display_name for r in s.repos_for(NGINX)} == {"one", "two"}
    work.images = {"one": ["nginx"], "two": ["redis"]}
    s.trigger_cycle("one")
    assert wait_for(lambda: "ghcr.io/o/app" not in s.scan_jobs())
    assert set(s.scan_jobs()) == {NGINX, REDIS}


def test_images_are_scanned_at_their_interval(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"one": ["nginx"]}
    scheduler(make_config("one", interval=0.1))
    assert wait_for(lambda: len(work.scans_of(NGINX)) >= 3, timeout=3)
    assert not any(fresh for _, fresh, _ in work.scans_of(NGINX))


def test_a_new_tag_triggers_a_cycle_of_the_repositories_using_the_image(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"web": ["nginx"], "cache": ["redis"]}
    work.new_tags = {NGINX: [(), ("1.27.2",)]}
    scheduler(make_config("web", "cache", interval=0.1))
    assert wait_for(lambda: work.cycle_count("web") == 2, timeout=3)
    assert wait_for(lambda: len(work.scans_of(NGINX)) >= 4, timeout=3)
    assert work.cycle_count("web") == 2
    assert work.cycle_count("cache") == 1


def test_scans_without_new_tags_trigger_no_cycle(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"web": ["nginx"]}
    scheduler(make_config("web", interval=0.1))
    assert wait_for(lambda: len(work.scans_of(NGINX)) >= 3, timeout=3)
    assert work.cycle_count("web") == 1


def test_a_repository_cycles_at_its_own_interval_without_news(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    config = make_config("web", "slowpoke", cycle_interval=60)
    fast = RepositoryConfig(url="file:///tmp/web.git", name="web", interval=Duration(0.1))
    config = Config(repositories=[fast, config.repositories[1]], service=config.service)
    scheduler(config)
    assert wait_for(lambda: work.cycle_count("web") >= 4, timeout=3)
    assert work.cycle_count("slowpoke") == 1


def test_interval_per_image_overrides_per_registry_overrides_default() -> None:
    config = Config(
        registries={"ghcr.io": RegistryConfig(interval=Duration(120))},
        images={"nginx": ImageConfig(interval=Duration(30))},
        service=make_config(interval=300).service,
    )
    assert scan_interval(config, NGINX) == 30
    assert scan_interval(config, "ghcr.io/o/app") == 120
    assert scan_interval(config, "quay.io/o/app") == 300


def test_an_interval_the_manifests_ask_for_comes_after_imagebots_own_settings() -> None:
    config = Config(
        registries={"ghcr.io": RegistryConfig(interval=Duration(120))},
        images={"nginx": ImageConfig(interval=Duration(30))},
        service=make_config(interval=300).service,
    )
    assert scan_interval(config, NGINX, 45) == 30
    assert scan_interval(config, "ghcr.io/o/app", 45) == 120
    assert scan_interval(config, "quay.io/o/app", 45) == 45
    assert scan_interval(config, "quay.io/o/app", None) == 300


def test_scan_jobs_follow_the_intervals_the_manifests_ask_for(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"one": ["nginx", "redis"]}
    asked = {NGINX: 45.0}
    s = scheduler(make_config("one", interval=30), intervals_for=lambda: dict(asked))
    assert wait_for(lambda: len(s.scan_jobs()) == 2)
    assert s.scan_jobs() == {NGINX: 45, REDIS: 30}
    asked[NGINX] = 90.0
    s.trigger_cycle("one")
    assert wait_for(lambda: s.scan_jobs().get(NGINX) == 90)
    assert s.scan_jobs()[REDIS] == 30


def test_a_cycle_interval_the_repository_asks_for_reschedules_its_cycles(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    asked: dict[str, float] = {"web": 45.0}
    config = make_config("web", "own", cycle_interval=60)
    own = RepositoryConfig(url="file:///tmp/own.git", name="own", interval=Duration(30))
    config = Config(repositories=[config.repositories[0], own], service=config.service)
    s = scheduler(config, cycle_interval_for=lambda repo: asked.get(repo.display_name, 90.0))
    assert wait_for(lambda: s.cycle_jobs().get("web") == 45)
    assert s.cycle_jobs()["own"] == 30  # imagebot's own setting wins
    asked["web"] = 120.0
    s.trigger_cycle("web")
    assert wait_for(lambda: s.cycle_jobs().get("web") == 120)


def test_two_triggers_while_a_cycle_runs_give_exactly_one_more_cycle(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.cycle_steps, work.step_seconds = 6, 0.05
    s = scheduler(make_config("web"))
    assert wait_for(lambda: work.in_flight.get("web") == 1)
    s.trigger_cycle("web")
    s.trigger_cycle("web")
    assert wait_for(lambda: work.cycle_count("web") == 2, timeout=3)
    assert wait_for(lambda: not s.cycles.busy("web"), timeout=3)
    time.sleep(0.1)
    assert work.cycle_count("web") == 2
    assert work.max_in_flight["web"] == 1


def test_a_storm_of_triggers_never_runs_two_cycles_of_one_repository_at_once(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.cycle_steps, work.step_seconds = 2, 0.01
    s = scheduler(make_config("web", "api"), cycle_workers=4)
    threads = [
        threading.Thread(target=lambda: [s.trigger_cycle(n) for n in ["web", "api"] * 50])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(lambda: not s.cycles.busy("web") and not s.cycles.busy("api"), timeout=5)
    assert work.max_in_flight == {"web": 1, "api": 1}
    assert work.cycle_count("web") < 20  # 200 triggers, coalesced into a few cycles


def test_different_repositories_cycle_in_parallel(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.cycle_steps, work.step_seconds = 10, 0.03
    scheduler(make_config("web", "api"), cycle_workers=2)
    assert wait_for(lambda: work.in_flight.get("web") == 1 and work.in_flight.get("api") == 1)


def test_a_slow_registry_does_not_hold_up_the_others(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    gate = threading.Event()
    work.images = {"web": ["slow.example.com/team/app", "slow.example.com/team/db", "nginx"]}
    work.scan_delay = {
        "slow.example.com/team/app": gate,
        "slow.example.com/team/db": gate,
    }
    try:
        scheduler(make_config("web", interval=0.1))
        assert wait_for(lambda: len(work.scans_of(NGINX)) >= 4, timeout=3)
        assert work.scans_of("slow.example.com/team/app") == []
    finally:
        gate.set()
    assert wait_for(lambda: work.scans_of("slow.example.com/team/app"), timeout=3)


def test_a_webhook_scans_fresh_at_once_then_runs_the_cycle(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"web": ["nginx"], "cache": ["redis"]}
    s = scheduler(make_config("web", "cache", interval=3600, cycle_interval=3600))
    assert wait_for(lambda: s.first_sync_done)
    matched = s.webhook([HookEvent(NGINX, "1.27.2", "hub"), HookEvent(NGINX, "1.27.3", "hub")])
    assert matched == [NGINX]
    assert wait_for(lambda: work.cycle_count("web") == 2, timeout=2)
    assert [(image, fresh) for image, fresh, _ in work.scans] == [(NGINX, True)]
    assert work.cycle_count("cache") == 1


def test_a_webhook_for_an_image_nobody_uses_does_nothing(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    work.images = {"web": ["nginx"]}
    s = scheduler(make_config("web", interval=3600, cycle_interval=3600))
    assert wait_for(lambda: s.first_sync_done)
    assert s.webhook([HookEvent("ghcr.io/other/app", "1.0", "gh")]) == []
    time.sleep(0.1)
    assert work.scans == []
    assert work.cycle_count("web") == 1


def test_a_failed_scan_is_counted_and_triggers_no_cycle(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    metrics = Metrics()

    def failing_scan(repositories: list[str], *, fresh: bool = False) -> dict[str, ScanOutcome]:
        raise Unreachable("connection refused", registry="docker.io")

    work.images = {"web": ["nginx"]}
    scheduler(make_config("web", interval=0.1), scan_images=failing_scan, metrics=metrics)
    scans = 'imagebot_scans_total{host="docker.io",result="failed"}'
    assert wait_for(lambda: scans in metrics.render().decode(), timeout=3)
    text = metrics.render().decode()
    assert value(text, "imagebot_failures_total", kind="unreachable") >= 1
    assert work.cycle_count("web") == 1


def test_a_crashing_cycle_is_reported_as_a_failure_and_the_next_one_runs(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    calls: list[int] = []
    reported: list[CycleOutcome] = []

    def crashing(repo: RepositoryConfig, cancel: threading.Event) -> CycleOutcome:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("bug")
        return CycleOutcome(repo.display_name)

    s = scheduler(
        make_config("web"),
        run_cycle=crashing,
        on_cycle_done=lambda repo, outcome, duration: reported.append(outcome),
    )
    assert wait_for(lambda: len(reported) == 1)
    assert reported[0].failures[0].kind == "internal"
    assert reported[0].completed
    s.trigger_cycle("web")
    assert wait_for(lambda: len(reported) == 2)
    assert reported[1].ok


def test_two_repositories_with_one_name_are_a_config_error(work: FakeWork) -> None:
    config = make_config("same", "same")
    with pytest.raises(ConfigError, match="two repositories are named 'same'"):
        Scheduler(
            config,
            scan_images=work.scan_images,
            run_cycle=work.run_cycle,
            images_for=work.images_for,
            metrics=Metrics(),
        )


def test_after_stop_taking_work_triggers_are_refused(
    scheduler: Callable[..., Scheduler], work: FakeWork
) -> None:
    s = scheduler(make_config("web"))
    assert wait_for(lambda: s.first_sync_done)
    s.stop_taking_work()
    assert s.trigger_cycle("web") is False
    time.sleep(0.05)
    assert work.cycle_count("web") == 1
