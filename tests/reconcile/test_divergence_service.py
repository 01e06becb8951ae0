"""The service tells divergence: a gauge of the oldest unapplied change's age, a count of
diverged workloads, and one notification when it starts and one when it clears (a real
HTTP sink), read back with the Prometheus text parser."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from imagebot.config import Duration, NotifyConfig, RepositoryConfig, WebhookReceiverConfig
from imagebot.service.app import Service, divergence_check_interval
from imagebot.service.metrics import Metrics
from imagebot.service.types import Divergence
from imagebot.store import Store
from imagebot.update.reconcile import StoredDivergence
from tests.service.conftest import FakeWork, make_config, wait_for
from tests.service.e2e import metric, recording_sink

from .conftest import FLUX_SECRET

T0 = 1_800_000_000.0


@pytest.fixture
def sink_url() -> Iterator[tuple[str, list[tuple[str, object]]]]:
    with recording_sink() as sink:
        yield sink.url, sink.received


def config_with(sink: str, after: str = "15m"):
    base = make_config("fleet")
    (repo,) = base.repositories
    repo = dataclasses.replace(
        repo,
        divergence_after=Duration.parse(after),
        notify=[NotifyConfig(type="webhook", url=f"{sink}/n", on=["failure"])],
    )
    service = dataclasses.replace(
        base.service,
        webhooks={"flux": WebhookReceiverConfig(type="flux", secret=FLUX_SECRET)},
    )
    return dataclasses.replace(base, repositories=[repo], service=service)


def started(
    config, states: list[Divergence], now: list[float], store: Store | None = None
) -> Service:
    """A service told *states[0]* as its divergence; with *store*, what it last saw is kept
    there, as ``imagebot run`` has it."""

    def divergence(repo: RepositoryConfig) -> Divergence:
        return states[0]

    work = FakeWork()
    service = Service(
        config,
        scan_images=work.scan_images,
        run_cycle=work.run_cycle,
        images_for=work.images_for,
        reconcile=lambda reports: [],
        divergence=divergence,
        divergence_told=StoredDivergence(store) if store is not None else None,
        metrics=Metrics(clock=lambda: now[0]),
    )
    service.start()
    return service


def test_the_gauges_say_how_old_the_oldest_unapplied_change_is(sink_url):
    url, _ = sink_url
    now = [T0]
    states = [Divergence("fleet", T0 - 1200, {"apps:deployment/web": T0 - 1200})]
    service = started(config_with(url), states, now)
    try:
        service.check_divergence()
        now[0] = T0 + 60
        text = httpx.get(f"{service.url}/metrics").text
    finally:
        service.stop(timeout=5)

    assert metric(text, "imagebot_oldest_unapplied_change_seconds", repository="fleet") == 1260
    assert metric(text, "imagebot_workloads_diverged", repository="fleet") == 1


def test_divergence_is_notified_once_when_it_starts_and_once_when_it_clears(sink_url):
    url, received = sink_url
    now = [T0]
    states = [Divergence("fleet", T0 - 1200, {"apps:deployment/web": T0 - 1200})]
    service = started(config_with(url), states, now)
    try:
        service.check_divergence()
        service.check_divergence()  # still diverged: nothing more
        states[0] = Divergence("fleet", T0 - 1300, {"apps:deployment/web": T0 - 1300,
                                                    "apps:deployment/api": T0 - 100})  # fmt: skip
        service.check_divergence()  # another workload joins: nothing more
        states[0] = Divergence("fleet")
        service.check_divergence()
        assert wait_for(lambda: len(received) >= 2)
        text = httpx.get(f"{service.url}/metrics").text
    finally:
        service.stop(timeout=5)

    assert [note["event"] for _, note in received] == ["diverged", "converged"]  # type: ignore[index]
    diverged, converged = (note for _, note in received)
    assert diverged["workloads"] == ["apps:deployment/web"]  # type: ignore[index]
    assert diverged["divergence_after"] == 900  # type: ignore[index]
    assert converged["workloads"] == ["apps:deployment/api", "apps:deployment/web"]  # type: ignore[index]
    assert metric(text, "imagebot_oldest_unapplied_change_seconds", repository="fleet") == 0
    assert metric(text, "imagebot_workloads_diverged", repository="fleet") == 0


def test_divergence_is_looked_at_every_third_of_the_shortest_threshold_within_bounds(sink_url):
    url, _ = sink_url

    assert divergence_check_interval(config_with(url, "15m")) == 30
    assert divergence_check_interval(config_with(url, "30s")) == 10
    assert divergence_check_interval(config_with(url, "1s")) == 1


def test_the_service_looks_on_its_own_schedule(sink_url):
    url, received = sink_url
    now = [T0]
    states = [Divergence("fleet", T0 - 10, {"apps:deployment/web": T0 - 10})]
    service = started(config_with(url, "1s"), states, now)
    try:
        assert wait_for(lambda: received, timeout=10)
    finally:
        service.stop(timeout=5)


def told_diverged_and_stopped(
    store: Store, config, states: list[Divergence], received: list[tuple[str, object]]
) -> None:
    """A first service looks once, tells ``diverged``, and stops."""
    first = started(config, states, [T0], store)
    try:
        first.check_divergence()
        assert wait_for(lambda: len(received) >= 1)
    finally:
        first.stop(timeout=5)


def test_a_restart_while_diverged_does_not_notify_again(sink_url, tmp_path):
    url, received = sink_url
    states = [Divergence("fleet", T0 - 1200, {"apps:deployment/web": T0 - 1200})]
    with Store.open(tmp_path / "state.db") as store:
        told_diverged_and_stopped(store, config_with(url), states, received)
        second = started(config_with(url), states, [T0], store)
        try:
            second.check_divergence()  # still diverged, as the first one left it
            states[0] = Divergence("fleet")
            second.check_divergence()
            assert wait_for(lambda: len(received) >= 2)
        finally:
            second.stop(timeout=5)

    assert [note["event"] for _, note in received] == ["diverged", "converged"]  # type: ignore[index]
    assert received[1][1]["workloads"] == ["apps:deployment/web"]  # type: ignore[index]


def test_a_divergence_that_cleared_while_stopped_is_told_converged_after_the_restart(
    sink_url, tmp_path
):
    url, received = sink_url
    states = [Divergence("fleet", T0 - 1200, {"apps:deployment/api": T0 - 1200})]
    with Store.open(tmp_path / "state.db") as store:
        told_diverged_and_stopped(store, config_with(url), states, received)
        states[0] = Divergence("fleet")  # applied while no service ran
        second = started(config_with(url), states, [T0], store)
        try:
            second.check_divergence()
            second.check_divergence()
            assert wait_for(lambda: len(received) >= 2)
        finally:
            second.stop(timeout=5)
        told = StoredDivergence(store).told("fleet")

    assert [note["event"] for _, note in received] == ["diverged", "converged"]  # type: ignore[index]
    assert received[1][1]["workloads"] == ["apps:deployment/api"]  # type: ignore[index]
    assert told == frozenset()
