"""Metrics, read back from the exposition text ``GET /metrics`` serves."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from imagebot.errors import PushRejected, RateLimited
from imagebot.service.http import Endpoint
from imagebot.service.metrics import Metrics
from imagebot.service.types import BlockedWorkload, Readiness, failure_kind


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample *name* with exactly *labels* in exposition *text* (None when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def scrape(metrics: Metrics) -> str:
    endpoint = Endpoint(
        "127.0.0.1:0",
        receivers={},
        on_event=lambda events: None,
        metrics=metrics,
        readiness=Readiness,
    )
    endpoint.start()
    try:
        return httpx.get(f"{endpoint.url}/metrics", timeout=5).text
    finally:
        endpoint.stop()


def test_registry_requests_are_counted_by_host_and_status() -> None:
    metrics = Metrics()
    metrics.registry_request("ghcr.io", 200)
    metrics.registry_request("ghcr.io", 200)
    metrics.registry_request("ghcr.io", 429)
    metrics.registry_request("docker.io", "error")
    text = scrape(metrics)
    assert value(text, "imagebot_registry_requests_total", host="ghcr.io", status="200") == 2
    assert value(text, "imagebot_registry_requests_total", host="ghcr.io", status="429") == 1
    assert value(text, "imagebot_registry_requests_total", host="docker.io", status="error") == 1


def test_scans_tags_and_rate_limit_waits() -> None:
    metrics = Metrics()
    metrics.scan("docker.io/library/nginx", ok=True)
    metrics.scan("ghcr.io/o/app", ok=False)
    metrics.tags_seen("docker.io/library/nginx", 120, new=3)
    metrics.tags_seen("docker.io/library/nginx", 121, new=1)
    metrics.rate_limit_wait("docker.io", 1.5)
    metrics.rate_limit_wait("docker.io", 0.5)
    text = scrape(metrics)
    assert value(text, "imagebot_scans_total", host="docker.io", result="ok") == 1
    assert value(text, "imagebot_scans_total", host="ghcr.io", result="failed") == 1
    assert value(text, "imagebot_image_tags", image="docker.io/library/nginx") == 121
    assert value(text, "imagebot_new_tags_total", image="docker.io/library/nginx") == 4
    assert value(text, "imagebot_rate_limit_waits_total", host="docker.io") == 2
    assert value(text, "imagebot_rate_limit_wait_seconds_total", host="docker.io") == 2.0


def test_cycles_updates_and_failures() -> None:
    metrics = Metrics(clock=lambda: 1_700_000_000.0)
    metrics.cycle_finished("gitops", 2.0, result="ok")
    metrics.cycle_finished("gitops", 40.0, result="failed")
    metrics.cycle_finished("gitops", 1.0, result="abandoned")
    metrics.updates_applied("gitops", 3)
    metrics.failure(failure_kind(PushRejected("rejected")))
    metrics.failure(failure_kind(RateLimited("429", registry="docker.io")))
    metrics.failure(failure_kind(KeyError("bug")))
    text = scrape(metrics)
    assert value(text, "imagebot_cycles_total", repository="gitops", result="ok") == 1
    assert value(text, "imagebot_cycles_total", repository="gitops", result="failed") == 1
    assert value(text, "imagebot_cycles_total", repository="gitops", result="abandoned") == 1
    assert (
        value(text, "imagebot_last_successful_cycle_timestamp_seconds", repository="gitops")
        == 1_700_000_000.0
    )
    assert value(text, "imagebot_cycle_duration_seconds_count", repository="gitops") == 2
    assert value(text, "imagebot_cycle_duration_seconds_bucket", repository="gitops", le="5.0") == 1
    assert value(text, "imagebot_updates_applied_total", repository="gitops") == 3
    assert value(text, "imagebot_failures_total", kind="push_rejected") == 1
    assert value(text, "imagebot_failures_total", kind="rate_limited") == 1
    assert value(text, "imagebot_failures_total", kind="internal") == 1


def test_a_failed_cycle_does_not_move_the_last_success_time() -> None:
    now = [100.0]
    metrics = Metrics(clock=lambda: now[0])
    metrics.cycle_finished("gitops", 1.0, result="ok")
    now[0] = 200.0
    metrics.cycle_finished("gitops", 1.0, result="failed")
    text = scrape(metrics)
    assert (
        value(text, "imagebot_last_successful_cycle_timestamp_seconds", repository="gitops") == 100
    )


def blocked(workload: str, reason: str = "locked") -> BlockedWorkload:
    return BlockedWorkload(workload, "app", "docker.io/library/nginx", reason)  # type: ignore[arg-type]


def test_blocked_workloads_count_as_behind_only_after_the_threshold() -> None:
    now = [0.0]
    metrics = Metrics(behind_alert_after=3600, clock=lambda: now[0])
    metrics.blocked_workloads("gitops", [blocked("web"), blocked("api", "no_match")])
    now[0] = 1800.0
    metrics.blocked_workloads("gitops", [blocked("web"), blocked("api", "no_match")])
    text = scrape(metrics)
    assert value(text, "imagebot_workloads_blocked", repository="gitops", reason="locked") == 1
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="locked") == 0
    now[0] = 3600.0  # no new cycle needed: the gauge is computed when scraped
    text = scrape(metrics)
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="locked") == 1
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="no_match") == 1
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="failing") == 0


def test_a_workload_that_unblocks_starts_over() -> None:
    now = [0.0]
    metrics = Metrics(behind_alert_after=100, clock=lambda: now[0])
    metrics.blocked_workloads("gitops", [blocked("web")])
    now[0] = 50.0
    metrics.blocked_workloads("gitops", [])
    now[0] = 60.0
    metrics.blocked_workloads("gitops", [blocked("web", "failing")])
    now[0] = 150.0
    text = scrape(metrics)
    assert value(text, "imagebot_workloads_blocked", repository="gitops", reason="failing") == 1
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="failing") == 0


def test_a_changed_block_reason_keeps_the_blocked_since_time() -> None:
    now = [0.0]
    metrics = Metrics(behind_alert_after=100, clock=lambda: now[0])
    metrics.blocked_workloads("gitops", [blocked("web", "no_match")])
    now[0] = 120.0
    metrics.blocked_workloads("gitops", [blocked("web", "failing")])
    text = scrape(metrics)
    assert value(text, "imagebot_workloads_behind", repository="gitops", reason="failing") == 1


def test_metrics_stay_out_of_the_global_registry() -> None:
    Metrics().registry_request("example.org", 200)
    names = {metric.name for metric in REGISTRY.collect()}
    assert not any(name.startswith("imagebot_") for name in names)


def test_two_metrics_objects_do_not_share_counters() -> None:
    first, second = Metrics(), Metrics()
    first.updates_applied("gitops", 2)
    assert value(scrape(second), "imagebot_updates_applied_total", repository="gitops") is None


def test_cycles_count_registry_seconds_and_cpu_seconds_apart() -> None:
    metrics = Metrics()
    metrics.cycle_finished("gitops", 3.0, result="ok", registry_seconds=2.5, cpu_seconds=0.25)
    metrics.cycle_finished("gitops", 1.0, result="failed", registry_seconds=0.5, cpu_seconds=0.5)
    text = scrape(metrics)
    assert value(text, "imagebot_cycle_registry_seconds_total", repository="gitops") == 3.0
    assert value(text, "imagebot_cycle_cpu_seconds_total", repository="gitops") == 0.75
