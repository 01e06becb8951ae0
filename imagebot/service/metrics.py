"""Prometheus metrics: what the bot did, what it asked registries, and what it could not do.

Everything lives in one :class:`Metrics` object with its own ``CollectorRegistry`` (never the
process-global one), so two services in one process (tests) do not share counters. The
scanner, the update cycle and the service call its methods; ``GET /metrics`` renders it.

Metric names (all prefixed ``imagebot_``):

=========================================== ===================== ==============================
name                                        labels                meaning
=========================================== ===================== ==============================
scans_total                                 host, result          image scans run (ok, failed)
registry_requests_total                     host, status          HTTP requests to registries
rate_limit_waits_total                      host                  times a request waited for its
                                                                  rate limit (or a 429)
rate_limit_wait_seconds_total               host                  time spent waiting
image_tags                                  image                 tags in the last scan
new_tags_total                              image                 tags seen for the first time
updates_applied_total                       repository            image values changed
failures_total                              kind                  failures by kind
cycles_total                                repository, result    cycles (ok, failed, abandoned)
cycle_duration_seconds                      repository            histogram of cycle durations
last_successful_cycle_timestamp_seconds     repository            Unix time of last clean cycle
workloads_blocked                           repository, reason    update available, not applied
workloads_behind                            repository, reason    ... for longer than
                                                                  service.behind_alert_after
webhook_requests_total                      receiver, code        webhook requests by response
webhook_rejected_total                      receiver, reason      refused: unauthenticated,
                                                                  forbidden, malformed, replay,
                                                                  too_large
http_connections_closed_total               reason                closed by the port's limits:
                                                                  deadline (request too slow),
                                                                  evicted, over_capacity
notifications_total                         repository, result    notifications sent / failed
oldest_unapplied_change_seconds             repository            age of the oldest change on the
                                                                  branch no reconciler applied
                                                                  (0: none); with a reconciler
                                                                  receiver only
workloads_diverged                          repository            workloads whose change waits
                                                                  longer than divergence_after
reconciler_reports_total                    receiver, outcome     reports received from Flux and
                                                                  Argo CD (applied, failed)
updates_reconciled_total                    repository, outcome   changes a report moved to
                                                                  applied, or linked to a failure
=========================================== ===================== ==============================
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from imagebot.reference import split_domain
from imagebot.service.types import BlockedWorkload, BlockReason

CYCLE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
REASONS: tuple[BlockReason, ...] = ("locked", "no_match", "failing", "held")


def registry_host(image: str) -> str:
    """``docker.io/library/nginx`` -> ``docker.io``; bare names count as Docker Hub."""
    return split_domain(image)[0]


class Metrics:
    """The service's metrics. Every method is thread-safe and cheap; call freely."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self,
        *,
        behind_alert_after: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        self._scans = Counter(
            "imagebot_scans", "Image repository scans, by registry host and result.",
            ["host", "result"], registry=reg,
        )  # fmt: skip
        self._requests = Counter(
            "imagebot_registry_requests",
            "HTTP requests to registries, by host and response status (or 'error').",
            ["host", "status"], registry=reg,
        )  # fmt: skip
        self._waits = Counter(
            "imagebot_rate_limit_waits",
            "Requests that waited for the host's rate limit or a 429 Retry-After.",
            ["host"], registry=reg,
        )  # fmt: skip
        self._wait_seconds = Counter(
            "imagebot_rate_limit_wait_seconds", "Seconds spent waiting for rate limits.",
            ["host"], registry=reg,
        )  # fmt: skip
        self._tags = Gauge(
            "imagebot_image_tags", "Tags in the last successful scan of the image repository.",
            ["image"], registry=reg,
        )  # fmt: skip
        self._new_tags = Counter(
            "imagebot_new_tags", "Tags seen for the first time.", ["image"], registry=reg
        )
        self._updates = Counter(
            "imagebot_updates_applied", "Image values changed in Git (committed or proposed).",
            ["repository"], registry=reg,
        )  # fmt: skip
        self._failures = Counter(
            "imagebot_failures", "Failures by kind (rate_limited, not_found, push_rejected, ...).",
            ["kind"], registry=reg,
        )  # fmt: skip
        self._cycles = Counter(
            "imagebot_cycles", "Update cycles by result (ok, failed, abandoned).",
            ["repository", "result"], registry=reg,
        )  # fmt: skip
        self._cycle_duration = Histogram(
            "imagebot_cycle_duration_seconds", "Duration of update cycles.",
            ["repository"], buckets=CYCLE_BUCKETS, registry=reg,
        )  # fmt: skip
        self._cycle_registry = Counter(
            "imagebot_cycle_registry_seconds",
            "Seconds update cycles waited for registries (tag lists, build times, digests).",
            ["repository"], registry=reg,
        )  # fmt: skip
        self._cycle_cpu = Counter(
            "imagebot_cycle_cpu_seconds",
            "CPU seconds update cycles used in their own thread (discovery, policies, rewrites).",
            ["repository"], registry=reg,
        )  # fmt: skip
        self._last_success = Gauge(
            "imagebot_last_successful_cycle_timestamp_seconds",
            "Unix time the repository's last cycle finished without failures.",
            ["repository"], registry=reg,
        )  # fmt: skip
        self._webhooks = Counter(
            "imagebot_webhook_requests", "Webhook requests by receiver and response code.",
            ["receiver", "code"], registry=reg,
        )  # fmt: skip
        self._webhook_rejected = Counter(
            "imagebot_webhook_rejected",
            "Webhook requests refused, by receiver and reason (unauthenticated, forbidden, "
            "malformed, replay, too_large).",
            ["receiver", "reason"], registry=reg,
        )  # fmt: skip
        self._http_closed = Counter(
            "imagebot_http_connections_closed",
            "HTTP connections the port's limits closed: deadline (headers and body not in "
            "time), evicted (a slow client, at the connection cap), over_capacity.",
            ["reason"], registry=reg,
        )  # fmt: skip
        self._notifications = Counter(
            "imagebot_notifications", "Notifications by repository and result (sent, failed).",
            ["repository", "result"], registry=reg,
        )  # fmt: skip
        self._reports = Counter(
            "imagebot_reconciler_reports",
            "Reports from reconcilers (Flux, Argo CD) by receiver and outcome (applied, failed).",
            ["receiver", "outcome"], registry=reg,
        )  # fmt: skip
        self._reconciled = Counter(
            "imagebot_updates_reconciled",
            "Image changes a reconciler report moved to applied, or linked to its failure.",
            ["repository", "outcome"], registry=reg,
        )  # fmt: skip
        self.blocked = BlockedTracker(behind_alert_after, clock=clock)
        reg.register(self.blocked)
        self.unapplied = UnappliedTracker(clock=clock)
        reg.register(self.unapplied)
        self._clock = clock

    # --- scanner --------------------------------------------------------------------

    def scan(self, image: str, *, ok: bool) -> None:
        """One scan of *image* (``host/path``) finished."""
        self._scans.labels(registry_host(image), "ok" if ok else "failed").inc()

    def registry_request(self, host: str, status: int | str) -> None:
        """One HTTP request to *host* got *status* (an HTTP code, or ``"error"`` when no
        response came: connection refused, TLS, timeout)."""
        self._requests.labels(host, str(status)).inc()

    def rate_limit_wait(self, host: str, seconds: float) -> None:
        """A request to *host* waited *seconds* for its rate limit or a 429's Retry-After."""
        self._waits.labels(host).inc()
        if seconds > 0:
            self._wait_seconds.labels(host).inc(seconds)

    def tags_seen(self, image: str, count: int, *, new: int = 0) -> None:
        """A scan of *image* listed *count* tags, *new* of them not seen before."""
        self._tags.labels(image).set(count)
        if new:
            self._new_tags.labels(image).inc(new)

    # --- cycle ----------------------------------------------------------------------

    def updates_applied(self, repository: str, count: int = 1) -> None:
        if count:
            self._updates.labels(repository).inc(count)

    def failure(self, kind: str, count: int = 1) -> None:
        """Count a failure; *kind* from :func:`imagebot.service.types.failure_kind`."""
        if count:
            self._failures.labels(kind).inc(count)

    def cycle_finished(
        self,
        repository: str,
        duration: float,
        *,
        result: str,
        at: float | None = None,
        registry_seconds: float = 0.0,
        cpu_seconds: float = 0.0,
    ) -> None:
        """A cycle ended: *result* is ``ok``, ``failed`` or ``abandoned``; of its *duration*,
        *registry_seconds* went to waiting for registries and *cpu_seconds* to its own work."""
        self._cycles.labels(repository, result).inc()
        self._cycle_registry.labels(repository).inc(max(registry_seconds, 0.0))
        self._cycle_cpu.labels(repository).inc(max(cpu_seconds, 0.0))
        if result != "abandoned":
            self._cycle_duration.labels(repository).observe(duration)
        if result == "ok":
            self._last_success.labels(repository).set(self._clock() if at is None else at)

    def blocked_workloads(self, repository: str, workloads: Iterable[BlockedWorkload]) -> None:
        """The complete set of *repository*'s blocked workloads after a cycle."""
        self.blocked.update(repository, workloads)

    # --- service --------------------------------------------------------------------

    def webhook(self, receiver: str, code: int) -> None:
        self._webhooks.labels(receiver, str(code)).inc()

    def webhook_rejected(self, receiver: str, reason: str) -> None:
        self._webhook_rejected.labels(receiver, reason).inc()

    def connection_closed(self, reason: str) -> None:
        self._http_closed.labels(reason).inc()

    def notification(self, repository: str, *, ok: bool) -> None:
        self._notifications.labels(repository, "sent" if ok else "failed").inc()

    def watch_queue(self, stats: Callable[[], Any]) -> None:
        """Show the shared job queue (``imagebot_queue_*``): *stats* returns a
        :class:`imagebot.service.queue.QueueStats`, called at each scrape."""
        self.registry.register(QueueCollector(stats))

    def reconciler_report(self, receiver: str, outcome: str) -> None:
        self._reports.labels(receiver, outcome).inc()

    def updates_reconciled(self, repository: str, outcome: str, count: int) -> None:
        if count:
            self._reconciled.labels(repository, outcome).inc(count)

    def render(self) -> bytes:
        """The exposition text ``GET /metrics`` serves."""
        return generate_latest(self.registry)


class QueueCollector(Collector):
    """The shared job queue's depth and age, read from the database at scrape time (the
    whole fleet's queue, so every replica shows the same figures)."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            stats = self._stats()
        except Exception as exc:  # the database is away: /readyz says so, /metrics stays up
            logging.getLogger(__name__).warning("could not read the job queue: %s", exc)
            return
        jobs = GaugeMetricFamily(
            "imagebot_queue_jobs",
            "Jobs in the shared queue (PostgreSQL store), by kind (scan, cycle) and state "
            "(waiting, running).",
            labels=["kind", "state"],
        )
        for state, counts in (("waiting", stats.waiting), ("running", stats.running)):
            for kind in ("scan", "cycle"):
                jobs.add_metric([kind, state], counts.get(kind, 0))
        yield jobs
        yield GaugeMetricFamily(
            "imagebot_queue_oldest_waiting_seconds",
            "How long the oldest waiting job of the shared queue has waited.",
            value=stats.oldest_wait,
        )


@dataclass
class _Blocked:
    since: float
    reason: BlockReason


class BlockedTracker(Collector):
    """Remembers since when each workload has been blocked; computed at scrape time so the
    'behind' gauge rises when the threshold passes, not only when a cycle runs. (Behind: Git
    lags the registry on purpose or by failure; diverged, in :class:`Divergence`, is the
    cluster lagging Git.)"""

    def __init__(self, alert_after: float, *, clock: Callable[[], float] = time.time) -> None:
        self.alert_after = alert_after
        self._clock = clock
        self._lock = threading.Lock()
        self._by_repo: dict[str, dict[tuple[str, str], _Blocked]] = {}

    def update(self, repository: str, workloads: Iterable[BlockedWorkload]) -> None:
        now = self._clock()
        with self._lock:
            before = self._by_repo.get(repository, {})
            after: dict[tuple[str, str], _Blocked] = {}
            for item in workloads:
                previous = before.get(item.key)
                since = previous.since if previous else now
                after[item.key] = _Blocked(since, item.reason)
            self._by_repo[repository] = after

    def counts(self) -> dict[str, dict[BlockReason, tuple[int, int]]]:
        """repository -> reason -> (blocked, behind)."""
        now = self._clock()
        out: dict[str, dict[BlockReason, tuple[int, int]]] = {}
        with self._lock:
            for repo, items in self._by_repo.items():
                per: dict[BlockReason, tuple[int, int]] = {r: (0, 0) for r in REASONS}
                for entry in items.values():
                    blocked, behind = per.get(entry.reason, (0, 0))
                    late = now - entry.since >= self.alert_after
                    per[entry.reason] = (blocked + 1, behind + int(late))
                out[repo] = per
        return out

    def collect(self) -> Iterator[GaugeMetricFamily]:
        blocked = GaugeMetricFamily(
            "imagebot_workloads_blocked",
            "Workloads with a newer tag available that was not applied (locked, no_match, "
            "failing, held by a supply-chain gate).",
            labels=["repository", "reason"],
        )
        behind = GaugeMetricFamily(
            "imagebot_workloads_behind",
            "Workloads blocked for longer than service.behind_alert_after (locked, no_match, "
            "failing).",
            labels=["repository", "reason"],
        )
        for repo, per in sorted(self.counts().items()):
            for reason, (count, late) in per.items():
                blocked.add_metric([repo, reason], count)
                behind.add_metric([repo, reason], late)
        yield blocked
        yield behind


class UnappliedTracker(Collector):
    """Per repository: when its oldest unapplied change landed, and how many workloads are
    diverged; the age is computed at scrape time, so it grows between checks."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_repo: dict[str, tuple[float | None, int]] = {}

    def update(self, repository: str, oldest: float | None, diverged: int) -> None:
        with self._lock:
            self._by_repo[repository] = (oldest, diverged)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "imagebot_oldest_unapplied_change_seconds",
            "Age of the oldest change on the branch that no reconciler has reported applied "
            "(0 when every change is applied).",
            labels=["repository"],
        )
        diverged = GaugeMetricFamily(
            "imagebot_workloads_diverged",
            "Workloads with a change on the branch no reconciler applied within "
            "divergence_after (Git ahead of the cluster).",
            labels=["repository"],
        )
        now = self._clock()
        with self._lock:
            items = sorted(self._by_repo.items())
        for repo, (oldest, count) in items:
            age.add_metric([repo], max(0.0, now - oldest) if oldest is not None else 0.0)
            diverged.add_metric([repo], count)
        yield age
        yield diverged
