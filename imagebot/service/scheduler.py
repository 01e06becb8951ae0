"""When to scan which image and when to run which repository's update cycle.

* One APScheduler interval job per image repository, at its interval (``images[repo]``,
  else ``registries[host]``, else ``service.interval``) with ``service.jitter``.
* One interval job per Git repository (``repositories[].interval``, else
  ``service.cycle_interval``), and a cycle as soon as a scan saw a new tag of an image the
  repository uses.
* A webhook event scans the named images at once, bypassing the tag cache, then runs a cycle
  of every repository that uses them.

APScheduler only *decides when*: its jobs just trigger a :class:`Coalescer`, and the work
runs on the service's own bounded daemon pools. With a shared job queue (a PostgreSQL store:
:mod:`imagebot.service.queue`) a trigger queues a job instead, timers first claim their
interval fleet-wide, and this replica's worker runs whichever jobs it takes. Scans run
on one small pool per registry host, so a slow or rate-limited registry never delays the
others; cycles run on a pool shared by all repositories, with at most one cycle in flight
per repository and any triggers that arrive meanwhile folded into exactly one more cycle.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from datetime import UTC
from typing import TYPE_CHECKING, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from imagebot.config import MIN_INTERVAL, Config, RepositoryConfig
from imagebot.errors import ConfigError, InvalidReference
from imagebot.reference import ImageReference
from imagebot.service.hooks import HookEvent
from imagebot.service.metrics import Metrics, registry_host
from imagebot.service.types import (
    CycleIntervalFor,
    CycleOutcome,
    Failure,
    ImagesFor,
    IntervalsFor,
    ReposFor,
    RunCycle,
    ScanImages,
    ScanOutcome,
    failure_kind,
)
from imagebot.service.workers import Coalescer, WorkerPool

if TYPE_CHECKING:
    from imagebot.service.queue import JobQueue

log = logging.getLogger(__name__)

FRESH = "fresh"
WEBHOOK = "webhook"


def normalise_image(image: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx``; already-normal names pass through."""
    return ImageReference.parse(image).repository


def scan_interval(config: Config, image: str, asked: float | None = None) -> float:
    """Polling interval of *image*: per image, else per registry (imagebot's config wins),
    else what its manifests *asked* for (Keel's ``pollSchedule``), else the service's."""
    for key, settings in config.images.items():
        try:
            same = normalise_image(key) == image
        except InvalidReference:
            same = False
        if same and settings.interval is not None:
            return float(settings.interval)
    registry = config.registry(registry_host(image))
    if registry.interval is not None:
        return float(registry.interval)
    if asked is not None:
        return max(float(asked), MIN_INTERVAL)
    return float(config.service.interval)


def cycle_interval(config: Config, repo: RepositoryConfig, asked: float | None = None) -> float:
    """A repository's cycle interval: its own setting, else what the repository asks for
    (a Flux ``ImageUpdateAutomation``'s ``spec.interval``), else the service's."""
    if repo.interval is not None:
        return float(repo.interval)
    if asked is not None:
        return max(float(asked), MIN_INTERVAL)
    return float(config.service.cycle_interval)


CycleDone = Callable[[RepositoryConfig, CycleOutcome, float], None]


class Runs(Protocol):
    """Where triggers go: a local :class:`Coalescer`, or :class:`QueuedRuns`."""

    def trigger(self, key: str, *flags: str) -> bool: ...
    def running(self) -> list[str]: ...
    def close(self) -> None: ...
    def wait_idle(self, timeout: float | None = None) -> bool: ...


class QueuedRuns:
    """Triggers of one kind (``scan`` or ``cycle``) as jobs of the shared queue."""

    def __init__(self, queue: JobQueue, kind: str) -> None:
        self._queue = queue
        self._kind = kind
        self._closed = False

    def trigger(self, key: str, *flags: str) -> bool:
        """Queue a run of *key* (one waiting already will do); False when closed."""
        if self._closed:
            return False
        try:
            self._queue.defer(self._kind, key, flags)
        except Exception as exc:
            log.warning("could not queue the %s of %s: %s", self._kind, key, exc)
            return False
        return True

    def running(self) -> list[str]:
        return self._queue.running(self._kind)

    def close(self) -> None:
        self._closed = True

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._queue.wait_idle(timeout)


class Scheduler:
    """Owns the APScheduler instance, the worker pools and the coalescers."""

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
        metrics: Metrics,
        on_cycle_done: CycleDone | None = None,
        scan_workers_per_host: int = 2,
        cycle_workers: int = 4,
        queue: JobQueue | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self._scan_images = scan_images
        self._run_cycle = run_cycle
        self._images_for = images_for
        self._repos_for_override = repos_for
        self._intervals_for = intervals_for
        self._cycle_interval_for = cycle_interval_for
        #: repository -> the interval its cycle job was scheduled at.
        self._cycle_intervals: dict[str, float] = {}
        self._metrics = metrics
        self._on_cycle_done = on_cycle_done
        self._scan_workers = scan_workers_per_host
        self.cancel = threading.Event()
        self.repos: dict[str, RepositoryConfig] = {}
        for repo in config.repositories:
            name = repo.display_name
            if name in self.repos:
                raise ConfigError(
                    f"two repositories are named {name!r}",
                    file=config.source,
                    key="repositories",
                    hint="set a distinct name on one of them",
                )
            self.repos[name] = repo
        self._lock = threading.Lock()
        self._scan_pools: dict[str, WorkerPool] = {}
        self._cycle_pool = WorkerPool("imagebot-cycle", max(1, min(cycle_workers, len(self.repos))))
        self.scans: Runs
        self.cycles: Runs
        if queue is None:
            self.scans = Coalescer(self._scan, self._scan_pool)
            self.cycles = Coalescer(self._cycle, lambda _key: self._cycle_pool)
        else:
            self.scans = QueuedRuns(queue, "scan")
            self.cycles = QueuedRuns(queue, "cycle")
            queue.bind(scan=self._scan, cycle=self._cycle)
        self._images_by_repo: dict[str, frozenset[str]] = {}
        self._scan_jobs: set[str] = set()
        #: image -> the interval its scan job was scheduled at.
        self._scan_intervals: dict[str, float] = {}
        self._finished_once: set[str] = set()
        self._sync_failures: dict[str, str] = {}
        self._started = False
        self._aps = BackgroundScheduler(
            executors={"default": APThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start timers and run every repository's first cycle now (the first sync)."""
        jitter = float(self.config.service.jitter) or None
        for name, repo in self.repos.items():
            interval = cycle_interval(self.config, repo)
            self._cycle_intervals[name] = interval
            self._aps.add_job(
                self._due,
                IntervalTrigger(seconds=interval, jitter=jitter, timezone=UTC),
                args=[self.cycles, "cycle", name, interval],
                id=f"cycle:{name}",
                name=f"cycle {name}",
            )
        if self.queue is not None:
            # Another replica's cycle finds the images: scan what the fleet knows of.
            shortest = min(
                (cycle_interval(self.config, r) for r in self.repos.values()), default=60
            )
            self._aps.add_job(
                self._refresh_all_images,
                IntervalTrigger(seconds=min(30.0, shortest), timezone=UTC),
                id="refresh-images",
                name="images the fleet's cycles found",
            )
        self._aps.start()
        self._started = True
        if self.queue is not None:
            self._refresh_all_images()
        for name, repo in self.repos.items():
            self._due(self.cycles, "cycle", name, cycle_interval(self.config, repo))

    def _due(self, runs: Runs, kind: str, key: str, interval: float) -> None:
        """A timer fired: run *key* (with a shared queue: if this replica claims it)."""
        if self.queue is not None:
            try:
                if not self.queue.claim(f"{kind}:{key}", interval):
                    return
            except Exception as exc:
                log.warning("could not claim the %s of %s: %s", kind, key, exc)
                return
        runs.trigger(key)

    def _refresh_all_images(self) -> None:
        for repo in self.repos.values():
            self.refresh_images(repo)

    def every(self, seconds: float, func: Callable[[], None], name: str) -> None:
        """Run *func* every *seconds* on APScheduler's own threads (light work only: a store
        query, a notification handed to a pool), from :meth:`start` until the stop."""
        self._aps.add_job(
            func,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=name,
            name=name,
            replace_existing=True,
        )

    def stop_taking_work(self) -> None:
        """No more timers, triggers or queued runs; runs in progress continue."""
        if self._started:
            self._aps.shutdown(wait=False)
            self._started = False
        self.scans.close()
        self.cycles.close()
        if self.queue is not None:
            self.queue.pause()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        cycles_done = self.cycles.wait_idle(timeout)
        scans_done = self.scans.wait_idle(max(0.0, deadline - time.monotonic()))
        return cycles_done and scans_done

    def close_pools(self) -> None:
        self._cycle_pool.close()
        with self._lock:
            for pool in self._scan_pools.values():
                pool.close()

    @property
    def first_sync_done(self) -> bool:
        """Every repository synced once here; with a shared queue any replica may run a
        repository's cycle, so a replica is ready as soon as it takes jobs."""
        if self.queue is not None:
            return self._started
        with self._lock:
            return len(self._finished_once) == len(self.repos)

    def pending_first_sync(self) -> list[str]:
        if self.queue is not None:
            return []
        with self._lock:
            return sorted(set(self.repos) - self._finished_once - set(self._sync_failures))

    def first_sync_failures(self) -> dict[str, str]:
        """Repositories whose first sync failed (retried at their interval): the reason."""
        with self._lock:
            return dict(sorted(self._sync_failures.items()))

    # --- mappings -------------------------------------------------------------------

    def images(self) -> set[str]:
        """All image repositories any repository uses, as of the last cycles."""
        with self._lock:
            return set().union(*self._images_by_repo.values()) if self._images_by_repo else set()

    def repos_for(self, image: str) -> list[RepositoryConfig]:
        if self._repos_for_override is not None:
            return list(self._repos_for_override(image))
        with self._lock:
            return [self.repos[n] for n, imgs in self._images_by_repo.items() if image in imgs]

    def refresh_images(self, repo: RepositoryConfig) -> None:
        """Re-read *repo*'s images and add or remove scan jobs to match."""
        try:
            found = self._images_for(repo)
        except Exception:
            log.exception("%s: could not list its images", repo.display_name)
            return
        images = frozenset(self._normalise_all(found, repo.display_name))
        with self._lock:
            self._images_by_repo[repo.display_name] = images
            wanted = set().union(*self._images_by_repo.values())
            added = wanted - self._scan_jobs
            removed = self._scan_jobs - wanted
            self._scan_jobs = set(wanted)
        if not self._started:
            return
        jitter = float(self.config.service.jitter) or None
        asked = self._intervals_for() if self._intervals_for is not None else {}
        retimed = {
            image
            for image in wanted - added
            if scan_interval(self.config, image, asked.get(image))
            != self._scan_intervals.get(image)
        }
        for image in sorted(added | retimed):
            interval = scan_interval(self.config, image, asked.get(image))
            self._scan_intervals[image] = interval
            self._aps.add_job(
                self._due,
                IntervalTrigger(seconds=interval, jitter=jitter, timezone=UTC),
                args=[self.scans, "scan", image, interval],
                id=f"scan:{image}",
                name=f"scan {image}",
                replace_existing=True,
            )
            log.debug("scanning %s every %ss", image, interval)
        for image in sorted(removed):
            self._scan_intervals.pop(image, None)
            with contextlib.suppress(JobLookupError):
                self._aps.remove_job(f"scan:{image}")

    def _retime_cycle(self, repo: RepositoryConfig) -> None:
        """Reschedule *repo*'s cycle when the interval its manifests ask for changed."""
        if self._cycle_interval_for is None or not self._started:
            return
        name = repo.display_name
        interval = cycle_interval(self.config, repo, self._cycle_interval_for(repo))
        if self._cycle_intervals.get(name) == interval:
            return
        self._cycle_intervals[name] = interval
        jitter = float(self.config.service.jitter) or None
        with contextlib.suppress(JobLookupError):
            self._aps.reschedule_job(
                f"cycle:{name}",
                trigger=IntervalTrigger(seconds=interval, jitter=jitter, timezone=UTC),
            )
        log.info("%s: cycle every %ss, as its ImageUpdateAutomation asks", name, interval)

    def cycle_jobs(self) -> dict[str, float]:
        """repository -> interval of each scheduled cycle job (for tests and status)."""
        return {
            job.id[6:]: job.trigger.interval_length
            for job in self._aps.get_jobs()
            if job.id.startswith("cycle:")
        }

    def scan_jobs(self) -> dict[str, float]:
        """image -> interval of each scheduled scan job (for tests and status)."""
        out = {}
        for job in self._aps.get_jobs():
            if job.id.startswith("scan:"):
                out[job.id[5:]] = job.trigger.interval_length
        return out

    @staticmethod
    def _normalise_all(images: Iterable[str], where: str) -> set[str]:
        out = set()
        for image in images:
            try:
                out.add(normalise_image(image))
            except InvalidReference as exc:
                log.warning("%s: ignoring image %r: %s", where, image, exc)
        return out

    # --- triggers -------------------------------------------------------------------

    def webhook(self, events: list[HookEvent]) -> list[str]:
        """Scan the images the events name (fresh), then cycle their repositories.
        Returns the images that some repository uses; others are ignored."""
        matched = []
        for image in dict.fromkeys(e.image for e in events):
            if not self.repos_for(image):
                log.info("webhook for %s: no repository uses it", image)
                continue
            if self.scans.trigger(image, FRESH, WEBHOOK):
                matched.append(image)
        return matched

    def trigger_cycle(self, name: str) -> bool:
        return self.cycles.trigger(name)

    # --- work -----------------------------------------------------------------------

    def _scan_pool(self, image: str) -> WorkerPool:
        host = registry_host(image)
        with self._lock:
            pool = self._scan_pools.get(host)
            if pool is None:
                pool = WorkerPool(f"imagebot-scan-{host}", self._scan_workers)
                self._scan_pools[host] = pool
            return pool

    def _scan(self, image: str, flags: frozenset[str]) -> None:
        outcome: ScanOutcome | None = None
        try:
            outcome = self._scan_images([image], fresh=FRESH in flags).get(image)
        except Exception as exc:
            kind = failure_kind(exc)
            self._metrics.failure(kind)
            if kind == "internal":
                log.exception("scan of %s failed", image)
            else:
                log.warning("scan of %s failed: %s", image, exc, extra={"image": image})
        new_tags: Collection[str] = ()
        if outcome is None:
            self._metrics.scan(image, ok=False)
        elif outcome.error is None:
            new_tags = outcome.new_tags
            self._metrics.scan(image, ok=True)
            self._metrics.tags_seen(image, outcome.tag_count, new=len(new_tags))
        else:
            self._metrics.scan(image, ok=False)
            self._metrics.failure(outcome.error.kind)
            log.warning(
                "scan of %s failed: %s",
                image,
                outcome.error.message,
                extra={"image": image, "kind": outcome.error.kind},
            )
        if new_tags:
            log.info(
                "%s: new tags %s",
                image,
                ", ".join(sorted(new_tags)[:10]) + (" ..." if len(new_tags) > 10 else ""),
                extra={"image": image, "new_tags": sorted(new_tags)},
            )
        if new_tags or WEBHOOK in flags:
            for repo in self.repos_for(image):
                self.cycles.trigger(repo.display_name)

    def _cycle(self, name: str, flags: frozenset[str]) -> None:
        repo = self.repos[name]
        started = time.monotonic()
        try:
            outcome = self._run_cycle(repo, self.cancel)
        except Exception as exc:
            if failure_kind(exc) == "internal":
                log.exception("%s: update cycle crashed", name, extra={"repo": name})
            outcome = CycleOutcome(
                repository=name,
                failures=(Failure.from_exception(exc, "cycle"),),
                completed=not self.cancel.is_set(),
                synced=False,
            )
        duration = time.monotonic() - started
        if outcome.completed:
            self.refresh_images(repo)
            self._retime_cycle(repo)
        if self._on_cycle_done is not None:
            try:
                self._on_cycle_done(repo, outcome, duration)
            except Exception:
                log.exception("%s: error while reporting the cycle", name)
        with self._lock:  # after the report: once ready, /metrics shows the first sync
            if outcome.synced:
                self._finished_once.add(name)
                self._sync_failures.pop(name, None)
            elif outcome.completed and name not in self._finished_once:
                failure = outcome.failures[0] if outcome.failures else None
                self._sync_failures[name] = failure.message if failure else "failed"
