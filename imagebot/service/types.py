"""The values the service exchanges with the work it schedules.

The service does not scan registries or rewrite Git repositories itself: it is handed two
callables (:class:`ScanImages`, :class:`RunCycle`) and two mappings between Git repositories
and image repositories. These dataclasses are what those callables return, so the scheduler,
metrics and notifications can be tested with plain Python fakes, and the real scanner and
update cycle are wired in by an adapter that translates their results.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from imagebot.config import RepositoryConfig
from imagebot.errors import ImagebotError
from imagebot.service.reconcilers import ReconcilerReport


@dataclass(frozen=True)
class Failure:
    """Something that went wrong for one subject during a scan or cycle.

    ``kind`` groups failures in metrics (see :func:`failure_kind`); ``subject`` names what
    failed (an image repository, a manifest path, ``push``) and must be stable from one cycle
    to the next, because a failure is only notified once the same (kind, subject) repeats.
    """

    kind: str
    subject: str
    message: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)

    @classmethod
    def from_exception(cls, exc: BaseException, subject: str) -> Failure:
        return cls(failure_kind(exc), subject, str(exc) or type(exc).__name__)


@dataclass(frozen=True)
class AppliedUpdate:
    """One image value the cycle changed (committed, pushed or proposed)."""

    workload: str
    container: str
    image: str
    old_tag: str
    new_tag: str
    file: str | None = None


@dataclass(frozen=True)
class PersonRollback:
    """A container a person set back from the tag imagebot wrote: not updated again, its
    workload locked (``locked``) with ``message`` ("rolled back by AUTHOR in SHA: SUBJECT")."""

    workload: str
    container: str
    image: str
    written: str
    current: str
    commit: str
    author: str
    message: str
    locked: bool


BlockReason = Literal["locked", "no_match", "failing", "held"]


@dataclass(frozen=True)
class BlockedWorkload:
    """A workload with a newer tag available that the bot did not (could not) apply.

    ``locked``: the user pinned it; ``no_match``: the newest tag does not fit its policy or
    constraint; ``failing``: the update fails (manifest error, rejected push, ...);
    ``held``: a supply-chain gate holds the policy's pick (too young, unsigned, a platform).
    """

    workload: str
    container: str
    image: str
    reason: BlockReason
    current: str | None = None
    available: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.workload, self.container)


@dataclass(frozen=True)
class ScanOutcome:
    """What one scan of an image repository saw."""

    image: str
    tag_count: int = 0
    new_tags: tuple[str, ...] = ()
    error: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Reconciled:
    """What one reconciler report did to one repository's changes.

    ``outcome`` applied: ``updates`` moved from pushed to applied; failed: ``updates`` were
    newly linked to the failure (empty when the failure was told before), and ``rollbacks``
    are the commands that put them back on their old tags."""

    repository: str
    source: str
    object: str
    revision: str
    outcome: str
    message: str = ""
    updates: tuple[AppliedUpdate, ...] = ()
    commits: tuple[str, ...] = ()
    rollbacks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "outcome": self.outcome,
            "commits": list(self.commits),
            "workloads": sorted({u.workload for u in self.updates}),
        }


@dataclass(frozen=True)
class CycleOutcome:
    """The result of one update cycle of one Git repository.

    ``completed`` is False when the cycle stopped at a safe point because it was cancelled
    (shutdown): it changed nothing on the remote, and its partial results are not judged.
    ``synced`` is False when the cycle could not even read the repository (clone, fetch or
    checkout failed, or it crashed): until one cycle syncs, the service is not ready.
    """

    repository: str
    applied: tuple[AppliedUpdate, ...] = ()
    failures: tuple[Failure, ...] = ()
    blocked: tuple[BlockedWorkload, ...] = ()
    commit: str | None = None
    pull_request: str | None = None
    completed: bool = True
    #: Seconds the cycle waited for registries, and CPU seconds it used itself.
    registry_seconds: float = 0.0
    cpu_seconds: float = 0.0
    synced: bool = True
    #: Reconciler reports left pending (their revision was not fetched yet) that the cycle's
    #: fetch let match.
    reconciled: tuple[Reconciled, ...] = ()
    #: Containers people rolled back, found (and locked) by this cycle.
    rolled_back: tuple[PersonRollback, ...] = ()

    @property
    def ok(self) -> bool:
        return self.completed and not self.failures


class ScanImages(Protocol):
    """Scan image repositories (``docker.io/library/nginx``) and say what is new.

    ``fresh`` asks to bypass the tag cache: a webhook said a tag was just pushed. A failure
    for one image is reported in its :class:`ScanOutcome`, never raised.
    """

    def __call__(
        self, repositories: list[str], *, fresh: bool = False
    ) -> Mapping[str, ScanOutcome]: ...


class RunCycle(Protocol):
    """Run one update cycle for *repo*.

    *cancel* is set when the service shuts down: the cycle checks it between steps (never in
    the middle of writing a commit or pushing) and, when set, stops at the next safe point and
    returns an outcome with ``completed=False``.
    """

    def __call__(self, repo: RepositoryConfig, cancel: threading.Event, /) -> CycleOutcome: ...


class Reconcile(Protocol):
    """Record reconciler reports and match them with imagebot's commits (never raises for
    one report: a report nothing matches yet is kept for later)."""

    def __call__(self, reports: Sequence[ReconcilerReport], /) -> Sequence[Reconciled]: ...


@dataclass(frozen=True)
class Divergence:
    """Git ahead of the cluster in one repository: when its oldest unapplied change landed
    (None: none), and the workloads diverged (unapplied past ``divergence_after``) since."""

    repository: str
    oldest: float | None = None
    diverged: Mapping[str, float] = field(default_factory=dict)


class DivergenceOf(Protocol):
    """*repo*'s divergence now (read from the store; never raises for a missing checkout)."""

    def __call__(self, repo: RepositoryConfig, /) -> Divergence: ...


class DivergenceTold(Protocol):
    """Which workloads of a repository were diverged when the service last looked, kept
    across restarts (:class:`imagebot.update.reconcile.StoredDivergence`)."""

    def told(self, repository: str, /) -> frozenset[str]: ...

    def remember(self, repository: str, workloads: frozenset[str], /) -> None: ...


class ImagesFor(Protocol):
    """The image repositories a Git repository uses, as last discovered."""

    def __call__(self, repo: RepositoryConfig, /) -> Collection[str]: ...


class IntervalsFor(Protocol):
    """Image repository -> the polling interval its manifests ask for (Keel's
    ``pollSchedule``; the shortest when several do), as last discovered."""

    def __call__(self) -> Mapping[str, float]: ...


class CycleIntervalFor(Protocol):
    """The cycle interval a Git repository asks for (a Flux ``ImageUpdateAutomation``'s
    ``spec.interval``), as last read; None when it asks for none."""

    def __call__(self, repo: RepositoryConfig, /) -> float | None: ...


class ReposFor(Protocol):
    """The Git repositories that use an image repository."""

    def __call__(self, image: str, /) -> Collection[RepositoryConfig]: ...


def failure_kind(exc: BaseException) -> str:
    """Metric label for an exception: ``RateLimited`` -> ``rate_limited``.

    Any :class:`ImagebotError` subclass (including ones added later) gets its own kind;
    anything else is a bug and is counted as ``internal``.
    """
    if not isinstance(exc, ImagebotError):
        return "internal"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


@dataclass
class Readiness:
    """The three conditions /readyz reports; all must hold."""

    config_loaded: bool = False
    store_open: bool = False
    first_sync_done: bool = False
    stopping: bool = False
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.config_loaded and self.store_open and self.first_sync_done and not self.stopping
