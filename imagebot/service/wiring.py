"""The real work behind the service: the scanner, the update cycle and discovery, adapted.

:class:`~imagebot.service.app.Service` is handed callables and knows only the dataclasses of
:mod:`imagebot.service.types`. :class:`Wiring` is the one place in ``service/`` that imports
the registry and update stages and translates their results:

* ``scan_images``: one scan through the shared :class:`~imagebot.update.Runner`, and which
  tags are new since the service last looked. What it has seen is kept in the store, so a
  restart does not take every tag for new (and trigger a cycle per image).
* ``run_cycle``: :class:`~imagebot.update.UpdateCycle` for one repository, its report turned
  into a :class:`~imagebot.service.types.CycleOutcome` (applied updates, failures with stable
  subjects, workloads blocked with an update available).
* ``images_for`` / ``repos_for``: which image repositories each Git repository uses, from its
  last cycle's discovery, kept in the store so webhooks match before the first cycle after a
  restart has finished.
* ``reconcile``: reconciler reports recorded and matched with the history
  (:mod:`imagebot.update.reconcile`); after each cycle's fetch, the reports still pending.

Scheduled scans ask the registry unless someone (a webhook, a cycle) fetched the list within
half the image's polling interval; the tag cache TTL still serves the cycles that follow a
scan and a restart shortly after a stop, which then re-fetches nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

from starlette.routing import BaseRoute

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import ConfigError, GitError, ImagebotError, InvalidReference, LocalChanges
from imagebot.reference import ImageReference
from imagebot.registry import TagList
from imagebot.service.app import Service
from imagebot.service.hooks import RECONCILER_TYPES
from imagebot.service.metrics import Metrics
from imagebot.service.reconcilers import ReconcilerReport
from imagebot.service.scheduler import scan_interval
from imagebot.service.types import (
    AppliedUpdate,
    BlockedWorkload,
    BlockReason,
    CycleOutcome,
    Divergence,
    Failure,
    PersonRollback,
    Reconciled,
    ScanOutcome,
    failure_kind,
)
from imagebot.store import Store, is_database_url, open_store
from imagebot.update import CycleReport, Resolution, Runner, UpdateCycle, resolve
from imagebot.update import reconcile as reconciling

log = logging.getLogger(__name__)

#: Resolution statuses whose image the service keeps scanning (automated workloads).
_SCANNED = frozenset({"update", "up-to-date", "locked", "no-match"})
#: Verdict categories never offered as "available" for a workload whose policy matches nothing.
_NOT_AVAILABLE = frozenset({"current", "latest", "invalid"})


class RegistryObserver:
    """Counts the registry client's requests and rate-limit waits in the metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def registry_request(self, host: str, status: int | str) -> None:
        self.metrics.registry_request(host, status)

    def rate_limit_wait(self, host: str, seconds: float) -> None:
        self.metrics.rate_limit_wait(host, seconds)


class ServiceState:
    """What the service remembers across restarts, in the store's service tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def exchange_tags(self, image: str, tags: Sequence[str]) -> tuple[str, ...] | None:
        """Remember *tags* as seen for *image*; return those not seen before, or None when
        the image was never seen (nothing to compare with)."""
        with self.store.transaction() as db:
            db.lock("service_seen_tags", image)  # replicas scanning at once: one sees news
            row = db.execute(
                "SELECT tags FROM service_seen_tags WHERE image = ?", (image,)
            ).fetchone()
            db.execute(
                "INSERT INTO service_seen_tags (image, tags, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (image) DO UPDATE SET tags = excluded.tags, "
                "seen_at = excluded.seen_at",
                (image, json.dumps(list(tags)), time.time()),
            )
        if row is None:
            return None
        before = set(json.loads(row[0]))
        return tuple(tag for tag in tags if tag not in before)

    def adopt_tags(self, image: str, tags: Sequence[str]) -> bool:
        """Take *tags* as seen for *image* unless it has a record already; True if taken."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO service_seen_tags (image, tags, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (image) DO NOTHING",
                (image, json.dumps(list(tags)), time.time()),
            )
            return cursor.rowcount > 0

    def repository_images(self) -> dict[str, list[str]]:
        rows = self.store.query("SELECT repository, images FROM service_repository_images")
        return {str(name): list(json.loads(images)) for name, images in rows}

    def set_repository_images(self, repository: str, images: Collection[str]) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO service_repository_images (repository, images, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (repository) DO UPDATE SET "
                "images = excluded.images, updated_at = excluded.updated_at",
                (repository, json.dumps(sorted(images)), time.time()),
            )


class Wiring:
    """The service's callables, backed by a started :class:`Runner` and an open store."""

    def __init__(
        self,
        config: Config,
        runner: Runner,
        store: Store,
        *,
        cycle: UpdateCycle | None = None,
        shared: bool = False,
    ) -> None:
        self.config = config
        self.runner = runner
        self.store = store
        self.shared = shared  # replicas share the store: another one's cycle finds images
        self.state = ServiceState(store)
        self.cycle = cycle or UpdateCycle(config, runner, store=store)
        self._lock = threading.Lock()
        #: Held while reports are matched (webhook threads and cycles after their fetch).
        self._reconciling = threading.Lock()
        self._repos = {repo.display_name: repo for repo in config.repositories}
        if self.reconcilers:
            reconciling.reconcilers_since(store)  # changes from before never count
        known = self.state.repository_images()
        self._images: dict[str, frozenset[str]] = {
            name: frozenset(images) for name, images in known.items() if name in self._repos
        }
        #: Git repository -> image -> polling interval its manifests ask for (last cycle).
        self._asked: dict[str, dict[str, float]] = {}

    # --- scans ----------------------------------------------------------------------

    def scan_images(
        self, repositories: list[str], *, fresh: bool = False
    ) -> dict[str, ScanOutcome]:
        """Tag lists of *repositories* and the tags new since the last look; ``fresh`` (a
        webhook) always asks the registry."""
        out: dict[str, ScanOutcome] = {}
        refs: dict[str, ImageReference] = {}
        for image in repositories:
            try:
                refs[image] = ImageReference.parse(image)
            except InvalidReference as exc:
                out[image] = ScanOutcome(image, error=Failure.from_exception(exc, image))
        stale = [ref for image, ref in refs.items() if fresh or self._stale(image, ref)]
        cached = [ref for ref in refs.values() if ref not in stale]
        results: dict[str, TagList | Exception] = {}
        if stale:
            results.update(self.runner.run(self.runner.scanner.scan(stale, fresh=True)))
        if cached:
            results.update(self.runner.run(self.runner.scanner.scan(cached)))
        for image, ref in refs.items():
            result = results.get(ref.repository)
            if isinstance(result, TagList):
                out[image] = self._seen(image, result)
            else:
                error = result or ImagebotError(f"{image}: the scan returned nothing")
                out[image] = ScanOutcome(
                    image, error=Failure(failure_kind(error), image, str(error))
                )
        return out

    def _stale(self, image: str, ref: ImageReference) -> bool:
        """Whether a scheduled scan must ask the registry: the cached list is older than
        the TTL or than half the polling interval (the scan exists to look again)."""
        asked = self.intervals_for().get(image)
        window = min(float(self.config.tag_cache_ttl), scan_interval(self.config, image, asked) / 2)
        if window <= 0:
            return True
        return self.store.get_tags(ref.repository, max_age=window) is None

    def _seen(self, image: str, tags: TagList) -> ScanOutcome:
        with self._lock:
            new = self.state.exchange_tags(image, tags.tags)
        if new is None:
            # Never seen although a repository uses it: its cycle could not list it either,
            # so every tag is news worth a cycle.
            new = tuple(tags.tags)
        return ScanOutcome(image, tag_count=len(tags.tags), new_tags=new)

    # --- cycles ---------------------------------------------------------------------

    def run_cycle(self, repo: RepositoryConfig, cancel: threading.Event) -> CycleOutcome:
        name = repo.display_name
        try:
            report = self.cycle.run(repo, cancel=cancel)
        except ImagebotError as exc:
            # A repository that cannot be cloned or checked out, or a bad setting.
            return CycleOutcome(
                name,
                failures=(Failure(failure_kind(exc), _subject(exc), str(exc)),),
                completed=not cancel.is_set(),
                synced=False,
            )
        if report.completed and (report.resolutions or report.base is not None):
            self._remember(name, report.resolutions)
            if not cancel.is_set():  # stopping: the rows can wait for the next start
                self._refresh_fleet(repo)
        reconciled: tuple[Reconciled, ...] = ()
        if self.reconcilers and report.completed:
            with self._reconciling:
                # Landed first: a report waiting for a squash-merged change's commit on the
                # branch matches it in the same pass (and one that came since the fetch).
                landed = reconciling.mark_landed(self.store, self.config, repo)
                settled = reconciling.settle_pending(
                    self.store, self.config, repo, again_since=landed.carried_since
                )
            reconciled = tuple(self._reconciled(s) for s in settled)
        return CycleOutcome(
            repository=name,
            applied=tuple(applied_update(res) for res in report.applied),
            failures=tuple(
                Failure(p.kind, p.subject, p.message)
                for p in {(p.kind, p.subject): p for p in report.problems}.values()
            ),
            blocked=tuple(self._blocked(report)) if report.completed else (),
            commit=report.commit if report.applied or _locked(report) else None,
            pull_request=report.pull_request,
            completed=report.completed,
            registry_seconds=report.registry_seconds,
            cpu_seconds=report.cpu_seconds,
            reconciled=reconciled,
            rolled_back=tuple(
                PersonRollback(
                    r.workload,
                    r.container,
                    r.image,
                    r.written,
                    r.current,
                    r.commit,
                    r.author,
                    r.message,
                    r.locked and report.commit is not None,
                )
                for r in report.rolled_back
            )
            if report.completed
            else (),
        )

    # --- reconcilers ----------------------------------------------------------------

    @property
    def reconcilers(self) -> bool:
        """Whether a reconciler receiver (flux, argocd) is configured."""
        return any(hook.type in RECONCILER_TYPES for hook in self.config.service.webhooks.values())

    def reconcile(self, reports: Sequence[ReconcilerReport]) -> list[Reconciled]:
        """Record each report and match it with the changes of the repository whose
        checkout has its revision (else it waits for a later cycle's fetch)."""
        with self._reconciling:  # one matcher at a time: a report is settled once
            return self._record_and_settle(reports)

    def _record_and_settle(self, reports: Sequence[ReconcilerReport]) -> list[Reconciled]:
        out: list[Reconciled] = []
        for report in reports:
            stored = reconciling.record(
                self.store,
                reconciling.Report(
                    receiver=report.receiver,
                    source=report.source,
                    object=report.object,
                    revision=report.revision,
                    outcome=report.outcome,
                    message=report.message,
                    reason=report.reason,
                ),
            )
            for settled in reconciling.settle(self.store, self.config, stored):
                out.append(self._reconciled(settled))
        return out

    def divergence(self, repo: RepositoryConfig) -> Divergence:
        """*repo*'s changes on its branch that no reconciler has applied yet."""
        found = reconciling.divergence(self.store, repo.display_name, float(repo.divergence_after))
        return Divergence(repo.display_name, found.oldest, found.diverged)

    def _reconciled(self, settled: reconciling.Settlement) -> Reconciled:
        report = settled.report
        several = len(self.config.repositories) > 1
        repo = self._repos.get(settled.repository)
        where = (repo.url or repo.path) if several and repo is not None else None
        return Reconciled(
            repository=settled.repository,
            source=report.source,
            object=report.object,
            revision=report.revision,
            outcome=report.outcome,
            message=report.message or report.reason,
            updates=tuple(
                AppliedUpdate(
                    c.workload,
                    c.container,
                    c.image,
                    c.old_tag or "(none)",
                    c.new_tag or "(none)",
                    c.file,
                )
                for c in settled.changes
            ),
            commits=tuple(settled.commits),
            rollbacks=tuple(
                dict.fromkeys(
                    reconciling.rollback_command(c, repo=where)
                    for c in settled.changes
                    if report.outcome == "failed" and c.old_tag
                )
            ),
        )

    def _refresh_fleet(self, repo: RepositoryConfig) -> None:
        """The Deploy view's rows for *repo*, read again after its cycle (never fails it)."""
        if not self.config.web.enabled:
            return
        from imagebot.operations import fleet

        try:
            fleet.refresh(self.config, repo, self.runner, self.store)
        except ImagebotError as exc:
            log.warning("could not refresh the Deploy view for %s: %s", repo.display_name, exc)

    def _remember(self, name: str, resolutions: Sequence[Resolution]) -> None:
        """Keep the images the cycle found, and start their 'seen' record from the tag
        lists the cycle decided on (so the first scan finds nothing new)."""
        images = frozenset(
            res.site.repository  # a Flux marker's: its policy's image, the one scanned
            for res in resolutions
            if res.site.repository is not None
            and (
                res.status in _SCANNED
                or (res.problem is not None and res.problem.kind == "registry")
            )
        )
        asked: dict[str, float] = {}
        for res in resolutions:
            image, every = res.site.repository, res.site.interval
            if image in images and every is not None:
                asked[image] = min(every, asked.get(image, every))
        with self._lock:
            changed = self._images.get(name) != images
            self._images[name] = images
            self._asked[name] = asked
        if changed:
            self.state.set_repository_images(name, images)
        for image in sorted(images):
            cached = self.store.get_tags(image)
            if cached is not None:
                with self._lock:
                    self.state.adopt_tags(image, cached.tags)

    def _blocked(self, report: CycleReport) -> Iterator[BlockedWorkload]:
        applied = {id(res) for res in report.applied}
        locked: list[Resolution] = []
        for res in report.resolutions:
            site = res.site
            if site.image is None:
                continue
            if res.status == "locked":
                locked.append(res)
            elif res.status == "no-match":
                available = _newest_rejected(res)
                if available is not None and available != site.tag:
                    yield _blocked(res, "no_match", available)
            elif res.status == "up-to-date" and res.held is not None:
                yield _blocked(res, "held", res.held.tag)  # waits at a supply-chain gate
            elif res.status == "update" and id(res) not in applied:
                # Decided, but the commit or push did not happen (the report says why).
                yield _blocked(res, "failing", res.new_tag)
            elif res.status == "error" and site.automated and not site.ignored:
                yield _blocked(res, "failing", res.new_tag)
        if locked:
            yield from self._locked_with_updates(locked)

    def _locked_with_updates(self, locked: list[Resolution]) -> Iterator[BlockedWorkload]:
        """Locked workloads whose policy would pick another tag (asked of the tag cache the
        cycle just filled; a registry failure here only leaves them out)."""
        try:
            resolved = self.runner.run(
                resolve([res.site for res in locked], self.runner.scanner, manual=True)
            )
        except ImagebotError as exc:
            log.debug("could not tell what locked workloads would get: %s", exc)
            return
        for res in resolved.resolutions:
            available = res.available
            if res.status == "locked" and available and available != res.site.tag:
                yield _blocked(res, "locked", available)

    # --- mappings -------------------------------------------------------------------

    def images_for(self, repo: RepositoryConfig) -> Collection[str]:
        self._reload()
        with self._lock:
            return sorted(self._images.get(repo.display_name, ()))

    def intervals_for(self) -> Mapping[str, float]:
        """Image -> the shortest polling interval any repository's manifests ask for."""
        out: dict[str, float] = {}
        with self._lock:
            for asked in self._asked.values():
                for image, every in asked.items():
                    out[image] = min(every, out.get(image, every))
        return out

    def cycle_interval_for(self, repo: RepositoryConfig) -> float | None:
        """The interval *repo*'s Flux ImageUpdateAutomation gives, from its last cycle."""
        settings = self.cycle.flux_settings.get(repo.display_name)
        if settings is None or settings.repo.interval is None or repo.interval is not None:
            return None
        return float(settings.repo.interval)

    def repos_for(self, image: str) -> Collection[RepositoryConfig]:
        self._reload()
        with self._lock:
            names = sorted(n for n, images in self._images.items() if image in images)
        return [self._repos[name] for name in names]

    def _reload(self) -> None:
        """With a shared store: the images every replica's cycles found."""
        if not self.shared:
            return
        known = self.state.repository_images()
        with self._lock:
            self._images = {
                name: frozenset(images) for name, images in known.items() if name in self._repos
            }

    def store_ready(self) -> bool:
        return self.store.ping()


def applied_update(res: Resolution) -> AppliedUpdate:
    site = res.site
    return AppliedUpdate(
        workload=site.workload,
        container=site.container,
        image=site.image.repository if site.image is not None else site.reference_text,
        old_tag=_version(site.tag, site.digest if res.new_digest else None),
        new_tag=_version(res.new_tag, res.new_digest),
        file=site.file,
    )


def _locked(report: CycleReport) -> bool:
    """Whether the cycle's commit locks a workload a person rolled back."""
    return any(item.locked for item in report.rolled_back)


def _version(tag: str | None, digest: str | None) -> str:
    text = tag or "(none)"
    return f"{text}@{digest[:19]}" if digest else text


def _blocked(res: Resolution, reason: BlockReason, available: str | None) -> BlockedWorkload:
    site = res.site
    return BlockedWorkload(
        workload=site.workload,
        container=site.container,
        image=site.image.repository if site.image is not None else site.reference_text,
        reason=reason,
        current=site.tag,
        available=available,
    )


def _newest_rejected(res: Resolution) -> str | None:
    """For a policy nothing qualifies under: the newest tag there is (verdicts of rejected
    tags come newest first)."""
    if res.decision is None:
        return None
    for verdict in res.decision.verdicts:
        if verdict.category not in _NOT_AVAILABLE:
            return verdict.tag
    return None


def _subject(exc: ImagebotError) -> str:
    """A subject stable from cycle to cycle, so a persistent failure is recognised."""
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, LocalChanges):
        return "checkout"
    if isinstance(exc, GitError):
        return "git"
    return "cycle"


@contextlib.contextmanager
def open_service(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    routes: Sequence[BaseRoute] | Callable[[Store, Runner], Sequence[BaseRoute]] = (),
) -> Iterator[Service]:
    """The whole bot for *config*: store, metrics, registry runner and service, closed in
    the right order. Use ``service.run_forever()`` (or ``start``/``stop``) inside.

    *routes* (or a function of the open store and the registry runner returning them) are
    served on the service's port after the built-in routes: the mount point for the web
    pages."""
    store = open_store(config)
    runner: Runner | None = None
    service: Service | None = None
    try:
        metrics = Metrics(behind_alert_after=float(config.service.behind_alert_after))
        runner = Runner(config, store, observer=RegistryObserver(metrics))
        runner.start()
        queue = None
        if is_database_url(store.path):
            from imagebot.service.queue import JobQueue

            queue = JobQueue(
                str(store.path),
                store,
                concurrency=4,
                stalled_after=float(config.state.stalled_after),
                poll_interval=float(config.state.poll_interval),
            )
        wiring = Wiring(config, runner, store, shared=queue is not None)
        service = Service(
            config,
            scan_images=wiring.scan_images,
            run_cycle=wiring.run_cycle,
            images_for=wiring.images_for,
            repos_for=wiring.repos_for,
            intervals_for=wiring.intervals_for,
            cycle_interval_for=wiring.cycle_interval_for,
            store_ready=wiring.store_ready,
            reconcile=wiring.reconcile if wiring.reconcilers else None,
            divergence=wiring.divergence if wiring.reconcilers else None,
            divergence_told=reconciling.StoredDivergence(store) if wiring.reconcilers else None,
            metrics=metrics,
            environ=os.environ if environ is None else environ,
            routes=routes(store, runner) if callable(routes) else routes,
            queue=queue,
        )
        yield service
    finally:
        busy = False
        if service is not None:
            service.stop()
            scheduler = service.scheduler
            busy = bool(scheduler.cycles.running() or scheduler.scans.running())
        if busy:
            # Work abandoned at the shutdown timeout still holds the registry client and the
            # store; the process is about to end, which releases both safely.
            log.warning("leaving the registry client and the store to the process exit")
        else:
            if runner is not None:
                runner.close()
            store.close()
