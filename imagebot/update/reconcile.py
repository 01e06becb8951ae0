"""What reached the cluster: reconciler reports matched with imagebot's commits.

A reconciler (Flux, Argo CD) reports a Git revision it applied, or failed to apply. Every
change imagebot made is a row of the history with the commit it is in; the revision
contains that commit when it is the commit itself or a descendant (``git merge-base
--is-ancestor``, asked of the checkout imagebot already has: :mod:`imagebot.gitops.ancestry`).

* **applied**: every pushed change whose commit the revision contains, and that no report
  had applied yet, moves from *pushed* to *applied* (``history.applied_at``), and the
  timeline gets one "Sync to cluster: WORKLOAD (sha)" event per workload and commit.
* **failed**: the changes the revision contains that are not applied yet, or that this
  very revision applied (a health check failing after the sync), are linked to the failure
  (``history.failed_at``, ``failure``), once per change and revision: a reconciler
  repeating its failure every interval is told to people once. A later applied report
  clears it.

A pull request merged by squash or rebase leaves imagebot's commit off the branch: the
commit on the branch that carries the change (:func:`carrier`, kept as
``history.landed_commit``) is matched too.

**Divergence**: once a change's commit is on the branch the reconcilers read (pushed there,
or its pull request merged), or a commit carrying it, :func:`mark_landed` dates it
(``history.landed_at``, only while a reconciler receiver is configured, so older changes
never count). A landed change no report has applied within the repository's
``divergence_after`` makes its workload *diverged* (:func:`divergence`): Git is ahead of
the cluster.

Every report is kept (``reconciler_reports``, the newest :data:`KEEP_REPORTS`). One whose
revision no checkout has yet (a person pushed after the last fetch) stays pending and is
matched again after the next cycle of each repository, for :data:`PENDING_FOR` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import GitError
from imagebot.gitops.ancestry import branch_tip, checkout_git, contains
from imagebot.gitops.runner import Git
from imagebot.store import Store
from imagebot.update.tagcommits import commits_setting

log = logging.getLogger(__name__)

#: How long a report whose revision no checkout has yet is matched again after cycles.
PENDING_FOR = 24 * 3600.0
#: Unapplied changes looked at per repository and report, newest first.
MAX_CHANGES = 500
#: Reports kept (the newest): what reconcilers said, for matching later and for people.
KEEP_REPORTS = 10_000
#: How far back a change not yet on the branch is looked for again (an open pull request).
LANDING_WINDOW = 7 * 24 * 3600.0
#: Timeline actions this module writes (they stand beside the history row they concern).
SYNC = "sync"
SYNC_FAILED = "sync-failed"


@dataclass(frozen=True)
class Report:
    """A reconciler's report as stored (:class:`imagebot.service.reconcilers.ReconcilerReport`
    carries the same fields)."""

    receiver: str
    source: str
    object: str
    revision: str
    outcome: str  # applied | failed
    message: str = ""
    reason: str = ""
    id: int | None = None
    time: float | None = None


@dataclass(frozen=True)
class Change:
    """One history row a report concerns."""

    id: int
    repository: str
    workload: str
    container: str
    image: str
    old_tag: str | None
    new_tag: str | None
    commit: str
    file: str


@dataclass
class Settlement:
    """What one report did to one repository's history."""

    report: Report
    repository: str
    #: Changes that moved to applied (outcome applied) or were newly linked to the failure.
    changes: list[Change] = field(default_factory=list)

    @property
    def commits(self) -> list[str]:
        return list(dict.fromkeys(change.commit for change in self.changes))


def record(store: Store, report: Report, *, when: float | None = None) -> Report:
    """Keep *report*; returns it with its id and time."""
    moment = time.time() if when is None else when
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO reconciler_reports (time, receiver, source, object, revision, outcome, "
            "reason, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                moment,
                report.receiver,
                report.source,
                report.object,
                report.revision,
                report.outcome,
                report.reason,
                report.message,
            ),
        )
        row = cursor.fetchone()  # RETURNING: SQLite 3.35+ and PostgreSQL alike
        ident = int(row[0]) if row is not None else None
        if ident is not None and ident > KEEP_REPORTS:  # by id: the primary key, no scan
            db.execute("DELETE FROM reconciler_reports WHERE id <= ?", (ident - KEEP_REPORTS,))
    return replace(report, id=ident, time=moment)


def settle(
    store: Store,
    config: Config,
    report: Report,
    *,
    repositories: Sequence[RepositoryConfig] | None = None,
) -> list[Settlement]:
    """Match *report* (recorded) with the changes of each of *repositories* (default: all
    configured) whose checkout has its revision; the report is then matched, else left
    pending."""
    state_dir = config.resolved_state_dir()
    settlements = []
    for repo in config.repositories if repositories is None else repositories:
        git = checkout_git(repo, state_dir)
        if git is None:
            continue
        try:
            settlement = _settle_in(store, git, repo.display_name, report)
        except GitError as exc:
            log.warning("%s: cannot match %s's report: %s", repo.display_name, report.object, exc)
            continue
        if settlement is not None:
            # Every checkout that has the revision: two repositories may share a history
            # (one remote configured for two branches); only contained commits count.
            settlements.append(settlement)
    return settlements


def settle_pending(
    store: Store, config: Config, repo: RepositoryConfig, *, again_since: float | None = None
) -> list[Settlement]:
    """After *repo*'s cycle fetched: match the reports still pending with its changes, and
    (*again_since*: :attr:`Landed.carried_since`) match again *repo*'s reports received
    since then: one that came after the fetch of a squash commit and before
    :func:`mark_landed` found it matched nothing then."""
    columns = "id, time, receiver, source, object, revision, outcome, reason, message"
    since = time.time() - PENDING_FOR
    rows = store.query(
        f"SELECT {columns} FROM reconciler_reports WHERE repository IS NULL AND time >= ? "
        "ORDER BY id DESC LIMIT 100",
        (since,),
    )
    if again_since is not None:
        rows += store.query(
            f"SELECT {columns} FROM reconciler_reports WHERE repository = ? AND time >= ? "
            "ORDER BY id DESC LIMIT 100",
            (repo.display_name, max(since, again_since)),
        )
    out: list[Settlement] = []
    for row in sorted(rows, key=lambda row: int(row["id"])):
        report = Report(
            receiver=row["receiver"],
            source=row["source"],
            object=row["object"],
            revision=row["revision"],
            outcome=row["outcome"],
            message=row["message"] or "",
            reason=row["reason"] or "",
            id=row["id"],
            time=row["time"],
        )
        out += settle(store, config, report, repositories=[repo])
    return out


def _settle_in(store: Store, git: Git, repository: str, report: Report) -> Settlement | None:
    """None when this checkout does not have the revision."""
    if not git.ok("cat-file", "-e", f"{report.revision}^{{commit}}"):
        return None
    rows = store.query(
        "SELECT id, workload, container, image, old_tag, new_tag, commit_sha, landed_commit, "
        "file, applied_at, applied_revision, failed_at, failure FROM history WHERE repository = ? "
        "AND commit_sha IS NOT NULL AND pushed = 1 AND (applied_at IS NULL OR "
        "applied_revision = ?) ORDER BY time DESC, id DESC LIMIT ?",
        (repository, report.revision, MAX_CHANGES),
    )
    inside: dict[str, bool] = {}
    linked: list[tuple[Change, bool]] = []  # (change, already linked to this failure)
    for row in rows:
        # imagebot's commit, else the commit that carries its change on the branch (its pull
        # request squashed or rebased): the first the revision contains
        for commit in filter(None, (row["commit_sha"], row["landed_commit"])):
            if commit not in inside:
                inside[commit] = contains(git, commit, report.revision) is True
            if inside[commit]:
                break
        else:
            continue
        change = Change(
            row["id"],
            repository,
            row["workload"],
            row["container"],
            row["image"],
            row["old_tag"],
            row["new_tag"],
            commit,
            row["file"],
        )
        if report.outcome == "applied" and row["applied_at"] is not None:
            continue  # applied by this revision already (a repeated report)
        repeated = row["failed_at"] is not None and row["failure"] == _failure_text(report)
        linked.append((change, repeated))
    settlement = Settlement(report, repository)
    now = time.time() if report.time is None else report.time
    with store.transaction() as db:
        db.execute(
            "UPDATE reconciler_reports SET repository = ? WHERE id = ?", (repository, report.id)
        )
        if report.outcome == "applied":
            for change, _ in linked:
                db.execute(
                    "UPDATE history SET applied_at = ?, applied_revision = ?, applied_by = ?, "
                    "failed_at = NULL, failure = NULL WHERE id = ?",
                    (now, report.revision, report.object, change.id),
                )
                settlement.changes.append(change)
        else:
            for change, repeated in linked:
                if repeated:
                    continue
                db.execute(
                    "UPDATE history SET failed_at = ?, failure = ? WHERE id = ?",
                    (now, _failure_text(report), change.id),
                )
                settlement.changes.append(change)
        for workload, commit in _workload_commits(settlement.changes):
            db.execute(
                "INSERT INTO events (time, repository, workload, action, user, subject, "
                "message, commit_sha) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    now,
                    repository,
                    workload,
                    SYNC if report.outcome == "applied" else SYNC_FAILED,
                    f"{report.source}: {report.object}",
                    sync_subject(workload, commit, failed=report.outcome != "applied"),
                    report.message or report.reason or None,
                    commit,
                ),
            )
    return settlement


@dataclass(frozen=True)
class Landed:
    """What one :func:`mark_landed` did: how many changes landed, and when the oldest of
    those found by a carrying commit was recorded (None: none was)."""

    count: int = 0
    carried_since: float | None = None


def mark_landed(
    store: Store, config: Config, repo: RepositoryConfig, *, now: float | None = None
) -> Landed:
    """Date the changes of *repo* whose change is now on its branch (after a cycle's fetch);
    returns how many. A change pushed to the branch itself landed when it was recorded; one
    on the bot's branch lands when the branch contains its commit (its pull request merged
    with a merge commit, or fast-forwarded), or a commit that carries it
    (:func:`carrier`: the pull request squashed or rebased), kept as ``landed_commit``."""
    moment = time.time() if now is None else now
    since = max(moment - LANDING_WINDOW, reconcilers_since(store, now=moment))
    rows = store.query(
        "SELECT id, time, mode, branch, target, commit_sha, file, workload, container, new_tag "
        "FROM history WHERE repository = ? AND commit_sha IS NOT NULL AND pushed = 1 AND "
        "applied_at IS NULL AND landed_at IS NULL AND time >= ? ORDER BY time LIMIT ?",
        (repo.display_name, since, MAX_CHANGES),
    )
    if not rows:
        return Landed()
    git = checkout_git(repo, config.resolved_state_dir())
    if git is None:
        return Landed()
    landed: list[tuple[float, str | None, int]] = []
    carried_since: float | None = None
    tips: dict[str, str | None] = {}
    inside: dict[tuple[str, str], bool] = {}
    for row in rows:
        branch = row["branch"]
        if row["target"] == branch:  # pushed straight to the branch
            landed.append((row["time"], None, row["id"]))
            continue
        if branch not in tips:
            tips[branch] = branch_tip(git, branch)
        tip = tips[branch]
        if tip is None:
            continue
        key = (row["commit_sha"], tip)
        if key not in inside:
            try:
                inside[key] = contains(git, row["commit_sha"], tip) is True
            except (GitError, ValueError):
                inside[key] = False
        if inside[key]:
            landed.append((moment, None, row["id"]))
            continue
        try:
            carried = carrier(
                git, row["commit_sha"], tip, row["file"], row["workload"], row["container"],
                row["new_tag"],
            )  # fmt: skip
        except (GitError, ValueError) as exc:
            log.debug("%s: cannot tell whether %s landed: %s", repo.display_name, row["id"], exc)
            continue
        if carried is not None:
            landed.append((moment, carried, row["id"]))
            if carried_since is None:  # rows are in time order
                carried_since = float(row["time"])
    if landed:
        with store.transaction() as db:
            db.executemany(
                "UPDATE history SET landed_at = ?, landed_commit = ? WHERE id = ?", landed
            )
    return Landed(len(landed), carried_since)


def carrier(
    git: Git, commit: str, tip: str, file: str, workload: str, container: str, new_tag: str | None
) -> str | None:
    """The oldest commit on the branch at *tip*, since imagebot's *commit* forked from it,
    that set *workload*'s *container* in *file* to *new_tag*, the tag imagebot wrote (the
    squashed or rebased copy of its change; :func:`imagebot.update.tagcommits.
    commits_setting`, the question a person's rollback is found by); None when there is
    none (not merged yet). Both must be commit ids."""
    if not new_tag:
        return None
    fork = git.run("merge-base", "--", commit, tip, check=False)
    if fork.returncode != 0:
        return None  # unrelated, or a commit the checkout no longer has
    found = list(
        commits_setting(
            git,
            fork.stdout.decode().strip(),
            tip,
            file,
            workload,
            container,
            new_tag,
            default_namespace=workload.partition(":")[0] or None,
        )
    )
    return found[-1].sha if found else None


def reconcilers_since(store: Store, *, now: float | None = None) -> float:
    """When the service first ran with a reconciler receiver (recorded now if never):
    changes recorded before that never land, so switching receivers on does not make every
    older change diverge at once."""
    moment = time.time() if now is None else now
    with store.transaction() as db:
        db.execute(
            "INSERT INTO service_markers (name, time) VALUES ('reconcilers', ?) "
            "ON CONFLICT (name) DO NOTHING",
            (moment,),
        )
        (since,) = db.execute(
            "SELECT time FROM service_markers WHERE name = 'reconcilers'"
        ).fetchone()
    return float(since)


@dataclass(frozen=True)
class Divergence:
    """Changes on the branch no reconciler has applied: the oldest one's landing time, and
    per workload since when (``diverged``: only those past ``divergence_after``)."""

    repository: str
    oldest: float | None = None
    unapplied: dict[str, float] = field(default_factory=dict)
    diverged: dict[str, float] = field(default_factory=dict)


def divergence(
    store: Store, repository: str, after: float, *, now: float | None = None
) -> Divergence:
    """*repository*'s landed changes not applied yet, and the workloads diverged since."""
    moment = time.time() if now is None else now
    rows = store.query(
        "SELECT workload, MIN(landed_at) FROM history WHERE repository = ? AND pushed = 1 "
        "AND applied_at IS NULL AND landed_at IS NOT NULL GROUP BY workload",
        (repository,),
    )
    unapplied = {str(row[0]): float(row[1]) for row in rows}
    return Divergence(
        repository,
        oldest=min(unapplied.values()) if unapplied else None,
        unapplied=unapplied,
        diverged={w: t for w, t in unapplied.items() if moment - t >= after},
    )


class StoredDivergence:
    """Which workloads of each repository the service last saw diverged, in the store
    (``diverged_workloads``): a restart while diverged does not notify again, and a
    divergence that cleared while the service was stopped is told as converged."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def told(self, repository: str) -> frozenset[str]:
        rows = self._store.query(
            "SELECT workload FROM diverged_workloads WHERE repository = ?", (repository,)
        )
        return frozenset(str(row[0]) for row in rows)

    def remember(self, repository: str, workloads: frozenset[str]) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM diverged_workloads WHERE repository = ?", (repository,))
            db.executemany(
                "INSERT INTO diverged_workloads (repository, workload) VALUES (?, ?)",
                [(repository, workload) for workload in sorted(workloads)],
            )


def sync_subject(workload: str, commit: str, *, failed: bool = False) -> str:
    """``Sync to cluster: apps:deployment/web (1a2b3c4d5e6f)``."""
    text = f"Sync to cluster: {workload} ({commit[:12]})"
    return text + " failed" if failed else text


def _failure_text(report: Report) -> str:
    what = report.message or report.reason or "failed"
    return f"{report.object} at {report.revision[:12]}: {what}"


def _workload_commits(changes: Iterable[Change]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((change.workload, change.commit) for change in changes))


def rollback_command(change: Change, *, repo: str | None = None) -> str:
    """The command that puts *change*'s container back on its old tag (``--repo`` when the
    config has several repositories)."""
    where = f" --repo {repo}" if repo else ""
    return (
        f"imagebot release {change.workload} --container {change.container} "
        f"--tag {change.old_tag or '?'}{where}"
    )
