"""``imagebot run``: the scheduler, the HTTP endpoint and notifications, assembled.

The scanning and the update cycle are injected (see :mod:`imagebot.service.types`), so this
module knows nothing of registries or Git: it decides when work runs, reports what happened
(metrics, logs, notifications) and stops cleanly.

Shutdown (SIGTERM, SIGINT, or :meth:`Service.stop`): the endpoint answers webhooks with 503
and ``/readyz`` with 503, timers stop, queued work is dropped, and the cancel event handed to
every cycle is set, so a cycle in flight stops at its next safe point (it finishes a commit
or push it has begun, and starts no new one). The service waits up to
``service.shutdown_timeout`` for that; a cycle still running after it is abandoned on its
daemon thread, which is safe because the cycle only writes the remote in one atomic push.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING

import httpx
from starlette.routing import BaseRoute

from imagebot import termination
from imagebot.config import Config, RepositoryConfig
from imagebot.service.hooks import HookEvent, build_receivers
from imagebot.service.http import Endpoint, Limits
from imagebot.service.logs import install_redaction, log_update
from imagebot.service.metrics import Metrics
from imagebot.service.notify import Notifier, summary
from imagebot.service.reconcilers import ReconcilerReport
from imagebot.service.scheduler import Scheduler
from imagebot.service.types import (
    CycleIntervalFor,
    CycleOutcome,
    DivergenceOf,
    DivergenceTold,
    ImagesFor,
    IntervalsFor,
    Readiness,
    Reconcile,
    Reconciled,
    ReposFor,
    RunCycle,
    ScanImages,
)
from imagebot.service.workers import WorkerPool

if TYPE_CHECKING:
    from imagebot.service.queue import JobQueue

log = logging.getLogger(__name__)


def divergence_check_interval(config: Config) -> float:
    """How often divergence is looked at: a third of the shortest ``divergence_after``,
    between 1 and 30 seconds (a query of the store; the notification is then at most that
    late)."""
    shortest = min((float(repo.divergence_after) for repo in config.repositories), default=900.0)
    return min(30.0, max(1.0, shortest / 3))


class Service:
    """One running bot. ``start()``/``stop()`` for embedding and tests, ``run_forever()``
    for the command line. *routes* are served on the service's port after the built-in
    ones (the mount point: see :mod:`imagebot.service.http`)."""

    def __init__(
        self,
        config: Config,
        *,
        scan_images: ScanImages,
        run_cycle: RunCycle,
        images_for: ImagesFor,
        repos_for: ReposFor | None = None,
        intervals_for: IntervalsFor | None = None,
        cycle_interval_for: CycleIntervalFor | None = None,
        store_ready: Callable[[], bool] = lambda: True,
        reconcile: Reconcile | None = None,
        divergence: DivergenceOf | None = None,
        divergence_told: DivergenceTold | None = None,
        metrics: Metrics | None = None,
        environ: Mapping[str, str] = os.environ,
        scan_workers_per_host: int = 2,
        cycle_workers: int = 4,
        routes: Sequence[BaseRoute] = (),
        queue: JobQueue | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        settings = config.service
        self.metrics = metrics or Metrics(behind_alert_after=float(settings.behind_alert_after))
        self._store_ready = store_ready
        self._reconcile = reconcile
        self._divergence = divergence
        self._divergence_told = divergence_told
        self._stopping = threading.Event()
        self._stopped = False
        self._http_client = httpx.Client(timeout=httpx.Timeout(10.0), follow_redirects=False)
        self.notifiers: dict[str, Notifier] = {}
        for index, repo in enumerate(config.repositories):
            self.notifiers[repo.display_name] = Notifier(
                repo,
                failure_cycles=settings.failure_cycles,
                metrics=self.metrics,
                client=self._http_client,
                file=config.source,
                index=index,
            )
        receivers = build_receivers(settings.webhooks, environ=environ, file=config.source)
        self.scheduler = Scheduler(
            config,
            scan_images=scan_images,
            run_cycle=run_cycle,
            images_for=images_for,
            repos_for=repos_for,
            intervals_for=intervals_for,
            cycle_interval_for=cycle_interval_for,
            metrics=self.metrics,
            on_cycle_done=self._cycle_done,
            scan_workers_per_host=scan_workers_per_host,
            cycle_workers=cycle_workers,
            queue=queue,
        )
        if queue is not None:
            self.metrics.watch_queue(queue.stats)
        self.endpoint = Endpoint(
            settings.listen,
            receivers=receivers,
            on_event=self._on_hook,
            on_report=self._on_report if reconcile is not None else None,
            metrics=self.metrics,
            readiness=self.readiness,
            max_body_bytes=settings.max_body_bytes,
            accepting=lambda: not self._stopping.is_set(),
            limits=Limits(
                max_connections=settings.max_connections,
                request_timeout=float(settings.request_timeout),
            ),
            replay_window=float(settings.webhook_replay_window),
            routes=routes,
        )
        self._notify_pool = WorkerPool("imagebot-notify", 1)
        if divergence is not None:
            self.scheduler.every(
                divergence_check_interval(config), self.check_divergence, "divergence"
            )

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Listen, start the timers and the first sync; returns at once."""
        install_redaction()
        if self.queue is not None:
            self.queue.start()
        self.endpoint.start()
        self.scheduler.start()
        log.info(
            "service started: %d repositories, %d webhook receivers",
            len(self.scheduler.repos),
            len(self.endpoint.receivers),
        )

    def stop(self, timeout: float | None = None) -> bool:
        """Stop taking work, let cycles in flight reach a safe point, close. True when
        nothing had to be abandoned. Idempotent."""
        if self._stopped:
            return True
        self._stopped = True
        timeout = float(self.config.service.shutdown_timeout) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self.scheduler.stop_taking_work()
        running = self.scheduler.cycles.running()
        if running:
            log.info(
                "stopping: waiting up to %.0fs for cycles in flight: %s",
                timeout,
                ", ".join(running),
            )
        self.scheduler.cancel.set()
        clean = self.scheduler.wait_idle(max(0.0, deadline - time.monotonic()))
        if not clean:
            log.warning(
                "stopping: abandoning work still running after %.0fs: %s",
                timeout,
                ", ".join(self.scheduler.cycles.running() or self.scheduler.scans.running()),
            )
        else:
            drained = threading.Event()
            self._notify_pool.submit(drained.set)
            drained.wait(max(0.0, deadline - time.monotonic()))
        if self.queue is not None:
            self.queue.stop(max(1.0, deadline - time.monotonic()))
        self.endpoint.stop()
        self.scheduler.close_pools()
        self._notify_pool.close()
        self._http_client.close()
        log.info("service stopped")
        return clean

    def run_forever(self) -> int:
        """Run until SIGTERM or SIGINT, then stop within ``service.shutdown_timeout``;
        returns the exit status (0). Must be called from the main thread.

        The signal handler only records the signal: logging from it (or taking a lock) could
        re-enter a write to stderr or a lock the main thread holds at that moment, and lose
        the signal. The main thread wakes at once (the signal module's wakeup fd) and logs."""
        signals: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals.append(signum)

        wake, wakeup = socket.socketpair()
        wake.setblocking(False)
        wakeup.setblocking(False)
        previous_fd = signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        if termination.received():  # held since the entry point: stop before starting
            signals.append(signal.SIGTERM)
        try:
            if not signals:
                self.start()
            while not signals:
                select.select([wake], [], [], 1.0)
                with contextlib.suppress(OSError):
                    wake.recv(64)
            log.info("received %s, shutting down", signal.Signals(signals[0]).name)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            wake.close()
            wakeup.close()
        return 0

    @property
    def url(self) -> str:
        """Base URL of the HTTP endpoint (after :meth:`start`)."""
        return self.endpoint.url

    # --- state ----------------------------------------------------------------------

    def readiness(self) -> Readiness:
        try:
            store_open = bool(self._store_ready())
        except Exception:
            log.exception("store readiness check failed")
            store_open = False
        state = Readiness(
            config_loaded=True,
            store_open=store_open,
            first_sync_done=self.scheduler.first_sync_done,
            stopping=self._stopping.is_set(),
        )
        pending = self.scheduler.pending_first_sync()
        if pending:
            state.details["first_sync_pending"] = ", ".join(pending)
        failed = self.scheduler.first_sync_failures()
        if failed:
            state.details["first_sync_failed"] = "; ".join(
                f"{name}: {reason}" for name, reason in failed.items()
            )
        return state

    # --- callbacks ------------------------------------------------------------------

    def _on_hook(self, events: list[HookEvent]) -> list[str]:
        return self.scheduler.webhook(events)

    def _on_report(self, reports: list[ReconcilerReport]) -> list[dict[str, object]]:
        """A reconciler's reports: matched with imagebot's commits, told to people when a
        change failed in the cluster. Returns what they were linked to (the HTTP answer)."""
        assert self._reconcile is not None
        for report in reports:
            self.metrics.reconciler_report(report.receiver, report.outcome)
        results = list(self._reconcile(reports))
        self._reconciled(results)
        return [result.to_dict() for result in results]

    def _reconciled(self, results: Iterable[Reconciled]) -> None:
        for result in results:
            self.metrics.updates_reconciled(result.repository, result.outcome, len(result.updates))
            for update in result.updates:
                log.log(
                    logging.INFO if result.outcome == "applied" else logging.WARNING,
                    "%s: %s %s %s %s -> %s (%s at %s)%s",
                    result.repository,
                    "applied" if result.outcome == "applied" else "FAILED in the cluster:",
                    update.workload,
                    update.container,
                    update.old_tag,
                    update.new_tag,
                    result.object,
                    result.revision[:12],
                    f": {result.message}" if result.outcome == "failed" else "",
                    extra={
                        "repo": result.repository,
                        "workload": update.workload,
                        "container": update.container,
                        "old_tag": update.old_tag,
                        "new_tag": update.new_tag,
                        "revision": result.revision,
                        "outcome": result.outcome,
                    },
                )
            notifier = self.notifiers.get(result.repository)
            if notifier is None:
                continue
            notes = notifier.reconciled(result)
            if notes and notifier.targets:
                self._notify_pool.submit(functools.partial(notifier.deliver, notes))

    def check_divergence(self) -> None:
        """Each repository's unapplied changes into the metrics; a notification when one
        starts diverging and when it stops (run every :func:`divergence_check_interval`)."""
        if self._divergence is None or self._stopping.is_set():
            return
        for repo in self.config.repositories:
            name = repo.display_name
            told = self._divergence_told
            try:
                state = self._divergence(repo)
                before = told.told(name) if told is not None else None
                if told is not None and frozenset(state.diverged) != before:
                    told.remember(name, frozenset(state.diverged))
            except Exception:
                log.exception("%s: could not tell what reached the cluster", name)
                continue
            self.metrics.unapplied.update(name, state.oldest, len(state.diverged))
            notifier = self.notifiers.get(name)
            if notifier is None:
                continue
            notes = notifier.divergence(state, after=float(repo.divergence_after), before=before)
            for note in notes:
                log.log(
                    logging.WARNING if note.event == "diverged" else logging.INFO,
                    "%s",
                    summary(note),
                    extra={"repo": name, "workloads": sorted(note.workloads)},
                )
            if notes and notifier.targets:
                self._notify_pool.submit(functools.partial(notifier.deliver, notes))

    def _cycle_done(self, repo: RepositoryConfig, outcome: CycleOutcome, duration: float) -> None:
        name = repo.display_name
        if not outcome.completed:
            result = "abandoned"
        else:
            result = "ok" if outcome.ok else "failed"
        self.metrics.cycle_finished(
            name,
            duration,
            result=result,
            registry_seconds=outcome.registry_seconds,
            cpu_seconds=outcome.cpu_seconds,
        )
        for failure in outcome.failures:
            self.metrics.failure(failure.kind)
            log.warning(
                "%s: %s failure for %s: %s",
                name,
                failure.kind,
                failure.subject,
                failure.message,
                extra={"repo": name, "kind": failure.kind, "subject": failure.subject},
            )
        if outcome.completed:
            self.metrics.updates_applied(name, len(outcome.applied))
            self.metrics.blocked_workloads(name, outcome.blocked)
            for update in outcome.applied:
                log_update(
                    log, name, update, commit=outcome.commit, pull_request=outcome.pull_request
                )
        log.info(
            "%s: cycle %s in %.1fs: %d updated, %d failed, %d blocked",
            name,
            result,
            duration,
            len(outcome.applied),
            len(outcome.failures),
            len(outcome.blocked),
            extra={"repo": name, "result": result, "duration": round(duration, 3)},
        )
        self._reconciled(outcome.reconciled)
        notifier = self.notifiers.get(name)
        if notifier is None:
            return
        notes = notifier.cycle_finished(outcome)
        if notes and notifier.targets:
            self._notify_pool.submit(functools.partial(notifier.deliver, notes))
