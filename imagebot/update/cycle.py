"""One update cycle: read the repository, ask the registries, decide, rewrite, commit.

The stages meet here and only here:

1. the Git writer syncs the checkout to the remote tip (:mod:`imagebot.gitops`);
2. discovery reads every manifest (:mod:`imagebot.manifests`);
3. resolution lists tags and applies policies (:mod:`imagebot.update.resolve`);
4. the rewriter computes new file contents in memory (:mod:`imagebot.update.changes`); an
   update of a container a person rolled back since imagebot wrote it is not applied: the
   workload is locked instead (:mod:`imagebot.update.rollbacks`, ``on_rollback``);
5. the writer commits them atomically and pushes; a push rejected because the branch moved
   starts over at 1 on the new tip (steps 2–4 again, with the registry answers cached);
6. in pull-request mode the forge's pull request is opened, updated or closed;
7. the history records every applied change.

A failure on one manifest, workload or registry is a :class:`Problem` in the report and the
rest goes on. A cancelled cycle (service shutdown) stops before committing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from imagebot.config import Config, RepositoryConfig
from imagebot.errors import ForgeError, GitError, ImagebotError
from imagebot.gitops import Change, Published, Workspace
from imagebot.gitops.forge import forge_for
from imagebot.manifests import Discovery, DiscoveryCache, FileIssue, discover
from imagebot.store import Store
from imagebot.update import history, rollbacks
from imagebot.update.changes import (
    ChangeSet,
    RewriteCache,
    build_changes,
    commit_message,
    pull_request_text,
    reusing_rewrites,
)
from imagebot.update.cyclecache import KeptCaches
from imagebot.update.fluxsettings import (
    FluxSettings,
    argo_branch_name,
    flux_message,
    flux_settings,
)
from imagebot.update.resolve import Problem, Progress, Resolution, Resolved, resolve
from imagebot.update.runner import Runner

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 3


class Cancelled(Exception):
    """The cycle was asked to stop; raised only at points where nothing is half done."""


class _Reconfigure(Exception):
    """The repository's Flux ``ImageUpdateAutomation`` objects (or its Argo CD applications'
    ``git-branch``) change how it is checked out or written (branch, write mode, author): the
    cycle starts again with *repo*, before anything is committed."""

    def __init__(self, repo: RepositoryConfig) -> None:
        super().__init__(repo.display_name)
        self.repo = repo


@dataclass(frozen=True)
class CycleChange(Change):
    """What one attempt computed: the files to commit plus everything behind them."""

    discovery: Discovery = field(default_factory=Discovery)
    resolved: Resolved = field(default_factory=Resolved)
    changeset: ChangeSet = field(default_factory=ChangeSet)
    rolled_back: list[rollbacks.RolledBack] = field(default_factory=list)


@dataclass
class CycleReport:
    """What a cycle did, for the CLI, the service, metrics and notifications."""

    repository: str
    url: str | None
    branch: str | None
    mode: str
    dry_run: bool
    base: str | None = None
    commit: str | None = None
    target: str | None = None
    pushed: bool = False
    pull_request: str | None = None
    attempts: int = 0
    completed: bool = True
    resolutions: list[Resolution] = field(default_factory=list)
    applied: list[Resolution] = field(default_factory=list)
    #: Containers a person rolled back: not updated, their workload locked (when it can be).
    rolled_back: list[rollbacks.RolledBack] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[FileIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diff: str = ""
    duration: float = 0.0
    #: Seconds waiting for registries, and CPU seconds of the cycle's own thread (discovery,
    #: policies, rewriting; not Git, nor the registry client's thread): which one dominates.
    registry_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.completed and not self.problems

    @property
    def exit_code(self) -> int:
        """0 when every image was resolved, 1 when something failed (the rest was done)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "url": self.url,
            "branch": self.branch,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "base": self.base,
            "commit": self.commit,
            "target": self.target,
            "pushed": self.pushed,
            "pull_request": self.pull_request,
            "attempts": self.attempts,
            "completed": self.completed,
            "updates": [r.to_dict() for r in self.applied],
            "rolled_back": [r.to_dict() for r in self.rolled_back],
            "images": [r.to_dict() for r in self.resolutions],
            "problems": [p.to_dict() for p in self.problems],
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": list(self.notes),
            "diff": self.diff,
            "duration": round(self.duration, 3),
            "registry_seconds": round(self.registry_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
        }


def _checkout_settings(repo: RepositoryConfig) -> tuple[object, ...]:
    """What a workspace and its commits are made with (what a reconfigure must change)."""
    return (repo.branch, repo.write_mode, repo.push_branch, repo.commit)


class UpdateCycle:
    """Runs cycles for configured repositories, sharing one registry client and store."""

    def __init__(
        self,
        config: Config,
        runner: Runner,
        *,
        store: Store | None = None,
        forge_client: httpx.AsyncClient | None = None,
        push_attempts: int = PUSH_ATTEMPTS,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.runner = runner
        self.store = store
        #: Told how far registry work has got (``imagebot scan``'s progress bar).
        self.progress = progress
        self._forge_client = forge_client
        self._push_attempts = push_attempts
        #: Per checkout: files read by the last cycle, by Git blob id, so that a cycle over an
        #: unchanged repository reads no manifest again (``imagebot run``).
        self.discovery_caches: dict[str, DiscoveryCache] = {}
        #: Per checkout: the last cycle's rewrites, reused while file bytes and edits repeat.
        self.rewrite_caches: dict[str, RewriteCache] = {}
        #: Both kept in the store between processes (SQLite), so that a new process (the next
        #: ``imagebot scan``) starts with them: loaded when a checkout has none in memory,
        #: saved after a cycle that changed them (:mod:`imagebot.update.cyclecache`).
        self.kept = KeptCaches(store) if store is not None else None
        #: Per repository: (its config, the settings its Flux automations gave last time), so
        #: that a cycle starts on the branch and in the mode they ask for.
        self.flux_repos: dict[str, tuple[RepositoryConfig, RepositoryConfig]] = {}
        #: Per repository: what its Flux automations gave in the latest discovery.
        self.flux_settings: dict[str, FluxSettings] = {}

    def run(
        self,
        repo: RepositoryConfig,
        *,
        dry_run: bool = False,
        fresh: bool = False,
        cancel: threading.Event | None = None,
    ) -> CycleReport:
        """One cycle for *repo*. Raises only for configuration errors and unusable
        repositories (clone, checkout); everything else is reported.

        Flux ``ImageUpdateAutomation`` objects in the repository set what *repo* leaves at
        imagebot's defaults (:mod:`imagebot.update.fluxsettings`); when they change the
        branch, the write mode or the author, the cycle starts over with those, once."""
        configured = repo
        known = self.flux_repos.get(repo.display_name)
        if known is not None and known[0] == repo:
            repo = known[1]
        for _ in range(2):
            try:
                return self._run(configured, repo, dry_run=dry_run, fresh=fresh, cancel=cancel)
            except _Reconfigure as again:
                log.info(
                    "%s: settings from its ImageUpdateAutomation or Argo CD git-branch",
                    repo.display_name,
                )
                self.flux_repos[configured.display_name] = (configured, again.repo)
                repo = again.repo
        raise ImagebotError(
            f"{configured.display_name}: its ImageUpdateAutomation settings keep changing"
        )  # pragma: no cover - the second pass computes the same settings

    def _run(
        self,
        configured: RepositoryConfig,
        repo: RepositoryConfig,
        *,
        dry_run: bool,
        fresh: bool,
        cancel: threading.Event | None,
    ) -> CycleReport:
        started, cpu_started = time.monotonic(), time.thread_time()
        cancel = cancel or threading.Event()
        report = CycleReport(
            repository=repo.display_name,
            url=repo.url or repo.path,
            branch=repo.branch,
            mode="dry-run" if dry_run else repo.write_mode,
            dry_run=dry_run,
        )
        with Workspace.open(repo, self.config.resolved_state_dir()) as ws:
            report.url = ws.url or str(ws.root)
            report.branch = ws.branch

            computed: list[tuple[str, CycleChange]] = []

            def compute(base: str) -> CycleChange:
                change = self._compute(ws, configured, repo, base, fresh=fresh, cancel=cancel)
                computed[:] = [(base, change)]
                report.registry_seconds += change.resolved.registry_seconds
                return change

            try:
                if dry_run:
                    base = ws.sync() if ws.kind == "clone" else ws.head()
                    change = compute(base)
                    report.base = base
                    self._fill(report, change)
                else:
                    published = ws.publish(
                        compute, repo.commit, mode=repo.write_mode, attempts=self._push_attempts
                    )
                    self._publish_report(report, ws, published)
                    if repo.write_mode == "pull-request":
                        self._pull_request(report, ws, repo, published)
                    self._record(report, ws)
            except Cancelled:
                report.completed = False
                log.info("%s: cycle cancelled before committing", report.repository)
            except (GitError, ForgeError) as exc:
                if report.base is None and computed:
                    # The plan was made but could not be published (a push rejected every
                    # attempt, a hook refusing it): report the plan, with nothing applied.
                    report.base, planned = computed[-1]
                    self._fill(report, planned)
                    report.applied = []
                if isinstance(exc, GitError) and report.base is None and not report.resolutions:
                    raise
                report.problems.append(Problem(_kind(exc), _subject(exc), str(exc)))
            if computed:
                self._keep(str(ws.root), repo)
        report.duration = time.monotonic() - started
        report.cpu_seconds = time.thread_time() - cpu_started
        return report

    # ------------------------------------------------------------------ steps

    def _compute(
        self,
        ws: Workspace,
        configured: RepositoryConfig,
        repo: RepositoryConfig,
        base: str,
        *,
        fresh: bool,
        cancel: threading.Event,
    ) -> CycleChange:
        if cancel.is_set():
            raise Cancelled
        try:
            blobs: dict[str, str] | None = ws.blobs()
        except GitError as exc:
            log.debug("%s: no blob ids, every file is read: %s", repo.display_name, exc)
            blobs = None
        checkout = str(ws.root)
        if checkout not in self.discovery_caches and self.kept is not None:
            loaded = self.kept.load(checkout, repo)
            if loaded is not None:
                self.discovery_caches[checkout], self.rewrite_caches[checkout] = loaded
        discovery = discover(
            ws.root,
            include=repo.include,
            exclude=repo.exclude,
            policy_dirs=repo.policy_dirs,
            blobs=blobs,
            cache=self.discovery_caches.setdefault(checkout, DiscoveryCache()),
            max_file_bytes=repo.max_file_bytes,
            default_namespace=repo.default_namespace,
            repo_urls=[u for u in (repo.url, ws.url) if u],
        )
        flux = flux_settings(configured, discovery.automations, discovery.argo_branches)
        self.flux_settings[configured.display_name] = flux
        if _checkout_settings(flux.repo) != _checkout_settings(repo):
            raise _Reconfigure(flux.repo)
        resolved = self.runner.run(
            resolve(discovery.sites, self.runner.scanner, fresh=fresh, progress=self.progress)
        )
        if cancel.is_set():
            raise Cancelled
        rolled = self._rollbacks(ws, repo, base, resolved.resolutions)
        with reusing_rewrites(self.rewrite_caches.setdefault(checkout, {}), blobs):
            changeset = build_changes(ws.root, resolved.resolutions)
        rolled_back = rollbacks.lock(ws.root, changeset, rolled) if rolled else []
        if ws.kind == "local" and changeset.files:
            modified = ws.modified(sorted(changeset.files), unchanged=blobs)
            _leave_user_changes(changeset, modified)
        message = ""
        notes: list[str] = []
        if changeset.applied:
            flux_text, notes = flux_message(changeset.applied, flux)
            message = flux_text or commit_message(
                changeset.applied,
                template=repo.commit.message,
                repository=repo.display_name,
                branch=ws.branch,
            )
        branch = None
        if flux.branch_template is not None and changeset.applied and repo.write_mode == "branch":
            branch, branch_notes = argo_branch_name(flux.branch_template, changeset.applied)
            notes = notes + branch_notes
        locks = [r for r in rolled_back if r.locked and r.file in changeset.files]
        if locks:
            message = _lock_message(message, locks)
        changeset.notes.extend(flux.notes + notes)
        if cancel.is_set():
            raise Cancelled
        return CycleChange(
            files=changeset.files,
            message=message,
            branch=branch,
            discovery=discovery,
            resolved=resolved,
            changeset=changeset,
            rolled_back=rolled_back,
        )

    def _keep(self, checkout: str, repo: RepositoryConfig) -> None:
        """Keep the checkout's caches in the store for the next process, if they changed."""
        found = self.discovery_caches.get(checkout)
        if self.kept is not None and found is not None:
            self.kept.save(checkout, repo, found, self.rewrite_caches.get(checkout, {}))

    def _rollbacks(
        self, ws: Workspace, repo: RepositoryConfig, base: str, resolutions: list[Resolution]
    ) -> list[rollbacks.RolledBack]:
        """Updates of containers a person rolled back: turned into locks (the resolution
        reads locked, with the rollback as its reason), unless ``on_rollback: ignore``."""
        if self.store is None or repo.on_rollback != "lock":
            return []
        found = rollbacks.detect(
            ws.git,
            self.store,
            repo.display_name,
            base,
            resolutions,
            bot_email=repo.commit.author_email,
        )
        for res, item in found:
            res.status = "locked"
            res.reason = item.message
            log.info(
                "%s: %s %s was rolled back to %s (%s): locking it rather than updating to %s",
                repo.display_name,
                item.workload,
                item.container,
                item.current,
                item.message,
                res.new_tag,
                extra={"repo": repo.display_name, "workload": item.workload},
            )
        return [item for _, item in found]

    def _fill(self, report: CycleReport, change: CycleChange) -> None:
        report.resolutions = change.resolved.resolutions
        report.applied = list(change.changeset.applied)
        report.rolled_back = list(change.rolled_back)
        report.skipped = list(change.discovery.skipped)
        report.notes = [
            f"{site.file}:{site.line}: warning: {site.warning}"
            for site in change.discovery.sites
            if site.warning
        ] + list(change.changeset.notes)
        report.diff = change.changeset.diff()
        problems: dict[tuple[str, str], Problem] = {}
        for issue in change.discovery.errors:
            problem = Problem("manifest", issue.file, str(issue))
            problems.setdefault((problem.kind, problem.subject), problem)
        for problem in change.resolved.problems + change.changeset.problems:
            problems.setdefault((problem.kind, problem.subject), problem)
        report.problems = list(problems.values())

    def _publish_report(
        self, report: CycleReport, ws: Workspace, published: Published[CycleChange]
    ) -> None:
        report.base = published.base
        report.target = published.branch
        report.attempts = published.attempts
        if published.change is not None:
            self._fill(report, published.change)
        report.commit = published.sha
        report.pushed = published.pushed
        if published.sha is None:
            report.applied = []
        for res in report.applied:  # the service logs its own line per update, with the image
            log.debug(
                "%s: %s %s %s -> %s (%s)",
                report.repository,
                res.site.workload,
                res.site.container,
                res.site.tag,
                res.new_tag,
                res.site.file,
                extra={
                    "repo": report.repository,
                    "workload": res.site.workload,
                    "container": res.site.container,
                    "old_tag": res.site.tag,
                    "new_tag": res.new_tag,
                    "commit": published.sha,
                },
            )

    def _pull_request(
        self,
        report: CycleReport,
        ws: Workspace,
        repo: RepositoryConfig,
        published: Published[CycleChange],
    ) -> None:
        url = repo.url or ws.url
        if not url:
            raise ForgeError(f"{report.repository}: pull-request mode needs a remote URL")
        wanted = published.change is not None and bool(published.change.changeset.applied)

        async def talk() -> str | None:
            async with forge_for(
                url, repo.pull_request, credentials=repo.credentials, client=self._forge_client
            ) as forge:
                if not wanted:
                    closed = await forge.close_for(
                        ws.bot_branch,
                        ws.branch,
                        comment="imagebot: these updates are no longer needed; closing.",
                    )
                    return closed.url if closed else None
                assert published.change is not None
                title, body = pull_request_text(
                    published.change.changeset.applied,
                    title_template=repo.pull_request.title,
                    repository=repo.display_name,
                    branch=ws.branch,
                )
                result = await forge.ensure(
                    head=ws.bot_branch,
                    base=ws.branch,
                    title=title,
                    body=body,
                    labels=repo.pull_request.labels,
                    reviewers=repo.pull_request.reviewers,
                )
                for warning in result.warnings:
                    report.notes.append(f"pull request: {warning}")
                return result.pull_request.url

        pr_url = self.runner.run(talk())
        if wanted:
            report.pull_request = pr_url
        elif pr_url:
            report.notes.append(f"closed {pr_url}: its changes are no longer wanted")
            if ws.remote_tip(ws.bot_branch) is not None:
                ws.delete_bot_branch()

    def _record(self, report: CycleReport, ws: Workspace) -> None:
        if self.store is None or report.commit is None:
            return
        _record_rollbacks(self.store, report)
        if not report.applied:
            return
        history.record(
            self.store,
            report.applied,
            repository=report.repository,
            url=ws.url,
            branch=ws.branch,
            target=report.target or ws.branch,
            mode=report.mode,
            commit=report.commit,
            pushed=report.pushed,
            pull_request=report.pull_request,
        )


def _lock_message(message: str, locks: list[rollbacks.RolledBack]) -> str:
    """The commit message with the locks it makes after people's rollbacks."""
    lines = [f"- {item.workload}: {item.message}" for item in locks]
    if not message:
        head = (
            f"Lock {locks[0].workload}: rolled back by {locks[0].author}"
            if len(locks) == 1
            else f"Lock {len(locks)} workloads rolled back by people"
        )
        return (
            f"{head}\n\nLocked after a rollback (imagebot does not apply the newer tag again):\n"
            + ("\n".join(lines) + "\n")
        )
    return message.rstrip("\n") + "\n\nLocked after a rollback:\n" + "\n".join(lines) + "\n"


def _record_rollbacks(store: Store, report: CycleReport) -> None:
    """One timeline event per workload locked after a person's rollback."""
    locked = [r for r in report.rolled_back if r.locked]
    if not locked:
        return
    with store.transaction() as db:
        for item in locked:
            db.execute(
                "INSERT INTO events (time, repository, workload, action, user, subject, "
                "message, commit_sha, pull_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    report.repository,
                    item.workload,
                    "rolled-back",
                    item.author,
                    f"Locked: {item.workload} ({item.container} stays on {item.current})",
                    item.message,
                    report.commit,
                    report.pull_request,
                ),
            )


def _leave_user_changes(changeset: ChangeSet, modified: list[str]) -> None:
    """Files with uncommitted changes in a user's checkout are theirs: skip and report them."""
    for path in modified:
        changeset.files.pop(path, None)
        changeset.old.pop(path, None)
        message = f"{path}: has uncommitted changes in the checkout; not updated"
        for res in [r for r in changeset.applied if r.site.file == path]:
            changeset.applied.remove(res)
            res.status = "error"
            res.reason = message
            res.problem = Problem("manifest", path, message)
        changeset.problems.append(Problem("manifest", path, message))


def _kind(exc: ImagebotError) -> str:
    return "forge" if isinstance(exc, ForgeError) else "git"


def _subject(exc: ImagebotError) -> str:
    return "pull-request" if isinstance(exc, ForgeError) else "push"


def repository_for_target(
    config: Config, target: str | None, *, branch: str | None = None
) -> list[RepositoryConfig]:
    """The repositories a ``--repo`` argument (path or URL) or the config file names."""
    if target is None:
        repos = list(config.repositories)
    else:
        from imagebot.gitops import is_remote_url, parse_remote_url, redact

        if is_remote_url(target) and parse_remote_url(target).password:
            log.warning(
                "the --repo URL %s carries a credential, which other users of this machine "
                "can read in the process list; give the URL without it and the password or "
                "token in the config file (repositories[].credentials.password_env or "
                "password_file) or a Git credential helper",
                redact(target),
            )

        matching = [r for r in config.repositories if target in (r.url, r.path)]
        if matching:
            repos = matching
        elif is_remote_url(target):
            repos = [RepositoryConfig(url=target)]
        else:
            repos = [RepositoryConfig(path=str(Path(target)))]
    if branch is not None:
        repos = [replace(r, branch=branch) for r in repos]
    return repos
