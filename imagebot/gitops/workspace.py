"""A Git repository the bot reads and writes: a user's checkout, or its own clone.

Two kinds, one API:

* ``Workspace.local(path)`` uses a user's checkout in place, on its current branch. The bot
  never touches a file the user has modified (it refuses, naming the files, when it would
  need to), keeps the user's index for every other path, and pushes to the branch's
  upstream when there is one.
* ``Workspace.remote(url, state_dir)`` keeps a clone under ``state_dir/repos/``: cloned on
  first use, fetched afterwards, and reset hard to the remote on every :meth:`sync`, which
  also repairs whatever a killed run left behind.

Writing goes through :meth:`Workspace.publish`: sync, let the caller compute the change on
the fresh tip, commit it with plumbing (never from the working tree), push, and on a
:class:`~imagebot.errors.PushRejected` start over from a new sync, a bounded number of
times. A change is never rebased blindly, and a user's branch is never force-pushed: only
the bot's own branch (``push_branch``, ``imagebot/{branch}`` by default) is, with a lease.

Only one imagebot works in a workspace at a time (an flock, held by every git it starts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypedDict, TypeVar

from imagebot.config import CommitConfig, GitCredentials, RepositoryConfig
from imagebot.errors import ConfigError, GitError, InvalidInput, LocalChanges, PushRejected
from imagebot.gitops import commits, worktree
from imagebot.gitops.credentials import GitAuth, RemoteURL, parse_remote_url, redact
from imagebot.gitops.locking import WorkspaceLock
from imagebot.gitops.runner import Git, nul_split, remote_lines
from imagebot.safetext import printable

log = logging.getLogger(__name__)

WriteMode = Literal["direct", "branch", "pull-request"]
DEFAULT_PUSH_BRANCH = "imagebot/{branch}"
LOCK_TIMEOUT = 300.0


@dataclass(frozen=True)
class Change:
    """What one cycle wants committed: new contents by repository path, and a message.

    Subclass it to carry more (the list of updates for the history and the PR body):
    :meth:`Workspace.publish` hands back the instance the last attempt computed.
    """

    files: Mapping[str, bytes]
    message: str
    #: In branch mode, the bot's branch for this change when it is named after the change
    #: (an Argo CD ``git-branch`` template) instead of ``push_branch``; never the base.
    branch: str | None = None


C = TypeVar("C", bound=Change)


@dataclass(frozen=True)
class Published(Generic[C]):
    """The outcome of :meth:`Workspace.publish`."""

    sha: str | None
    """The commit that now carries the change (None: nothing to change on ``base``)."""
    base: str
    """The tip the change was computed on."""
    branch: str
    """Where it went: the branch itself (direct) or the bot's branch."""
    change: C | None
    """What ``compute`` returned on the attempt that counted."""
    pushed: bool
    """A push happened (False: no remote, nothing to do, or the bot branch already had it)."""
    attempts: int

    @property
    def changed(self) -> bool:
        return self.sha is not None


def bot_branch_name(template: str, branch: str) -> str:
    """The bot's own branch for *branch*, from ``push_branch``; never *branch* itself."""
    try:
        name = template.format(branch=branch)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"invalid push_branch template {template!r}: {exc}",
            key="push_branch",
            hint="the only field is {branch}",
        ) from None
    if name == branch:
        raise ConfigError(
            f"push_branch {template!r} names the branch being updated ({branch}); the bot "
            "force-pushes its own branch, so it must be another one",
            key="push_branch",
        )
    if not valid_branch_name(name):
        raise ConfigError(f"push_branch gives an invalid branch name {name!r}", key="push_branch")
    return name


_BAD_REF = re.compile(r"^[-/.]|[/.]$|\.\.|//|@\{|[\x00-\x20~^:?*\[\\\x7f]|\.lock(/|$)|/\.")


def valid_branch_name(name: str) -> bool:
    """Whether *name* is a branch name by git's rules (no git process: a quick check)."""
    return bool(name) and name != "@" and _BAD_REF.search(name) is None


def validate_branch_name(name: str, *, what: str = "branch") -> str:
    """*name* when git takes it as a branch name (``git check-ref-format``), else
    :class:`InvalidInput`; a name starting with ``-`` (an option to git) never passes."""
    hint = "a branch name as `git check-ref-format` accepts it, such as main or release/1.2"
    if not valid_branch_name(name) or name.startswith("-"):
        raise InvalidInput(f"invalid {what} name {name!r}", hint=hint)
    checked = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if checked.returncode != 0:
        raise InvalidInput(f"invalid {what} name {name!r}", hint=hint)
    return name


def is_remote_url(target: str) -> bool:
    """True when a ``--repo`` argument is a URL rather than a local path."""
    if Path(target).expanduser().exists():
        return False
    return "://" in target or parse_remote_url(target).scheme == "ssh"


class _OpenOptions(TypedDict):
    """What :meth:`Workspace.open` passes from a config entry to ``local`` or ``remote``."""

    branch: str | None
    credentials: GitCredentials | None
    push_branch: str


class Workspace:
    """See the module documentation. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        *,
        root: Path,
        git: Git,
        kind: Literal["local", "clone"],
        branch: str,
        remote_name: str | None,
        remote_branch: str,
        url: str | None,
        lock: WorkspaceLock,
        push_branch: str,
        lock_timeout: float,
        default_branch: bool,
        git_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.git = git
        self.kind = kind
        self.branch = branch
        self.remote_name = remote_name
        self.remote_branch = remote_branch
        self.url = url
        self._push_branch = push_branch
        self._lock = lock
        self._lock_timeout = lock_timeout
        self._default_branch = default_branch
        self.git_dir = git_dir or Path(git.out("rev-parse", "--absolute-git-dir"))
        self._scratch = self.git_dir / "imagebot"

    # ---------------------------------------------------------------- opening

    @classmethod
    def local(
        cls,
        path: Path | str,
        *,
        branch: str | None = None,
        credentials: GitCredentials | None = None,
        push_branch: str = DEFAULT_PUSH_BRANCH,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Workspace:
        """A user's checkout at *path*, used in place (nothing is changed by opening it)."""
        if branch is not None:
            validate_branch_name(branch)
        start = Path(path).expanduser().resolve()
        if not start.is_dir():
            raise GitError(f"{start}: no such directory")
        probe = Git(start)
        # Both in one git (each costs a process): the top level, then the git directory.
        result = probe.run("rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
        if result.returncode != 0 or not result.text:
            raise GitError(f"{start}: not inside a Git checkout (or a bare repository)")
        found = result.text.split("\n")
        root = Path(found[0] if len(found) == 2 else probe.out("rev-parse", "--show-toplevel"))
        git = Git(root)
        current = git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).text
        if branch is None:
            if not current:
                raise GitError(
                    f"{root}: HEAD is detached, so there is no branch to update",
                    hint="check out a branch, or pass --branch",
                )
            branch = current
        remote, remote_branch = _upstream(git, branch)
        url = None
        if remote:
            url = git.out("remote", "get-url", "--push", remote)
            if credentials is not None and credentials != GitCredentials():
                git = Git(root, auth=GitAuth.resolve(parse_remote_url(url), credentials))
        # (a path with a line break in it: asked again, alone)
        git_dir = Path(found[1] if len(found) == 2 else git.out("rev-parse", "--absolute-git-dir"))
        lock = WorkspaceLock(git_dir / "imagebot" / "lock", what=str(root))
        return cls(
            root=root,
            git=git,
            kind="local",
            branch=branch,
            remote_name=remote,
            remote_branch=remote_branch,
            url=redact(url) if url else None,
            lock=lock,
            push_branch=push_branch,
            lock_timeout=lock_timeout,
            default_branch=False,
            git_dir=git_dir,
        )

    @classmethod
    def remote(
        cls,
        url: str,
        state_dir: Path | str,
        *,
        branch: str | None = None,
        credentials: GitCredentials | None = None,
        push_branch: str = DEFAULT_PUSH_BRANCH,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> Workspace:
        """The bot's clone of *url* under *state_dir*/repos (cloned now if missing).

        Without *branch*, the remote's default branch (its HEAD) is used.
        """
        if branch is not None:
            validate_branch_name(branch)
        remote = parse_remote_url(url)
        auth = GitAuth.resolve(remote, credentials)
        root = clone_path(remote, state_dir)
        repos, name = root.parent, root.name
        lock = WorkspaceLock(repos / f"{name}.lock", what=remote.display)
        lock.acquire(lock_timeout)
        try:
            git = Git(root, auth=auth, where=remote.display)
            git.inherit_fds = (lock.fd,) if lock.fd is not None else ()
            _ensure_clone(git, repos, name, remote)
            default = branch is None
            if branch is None:
                branch = _default_branch(git)
            ws = cls(
                root=root,
                git=git,
                kind="clone",
                branch=branch,
                remote_name="origin",
                remote_branch=branch,
                url=remote.display,
                lock=lock,
                push_branch=push_branch,
                lock_timeout=lock_timeout,
                default_branch=default,
            )
        except BaseException:
            lock.release()
            raise
        return ws

    @classmethod
    def open(cls, repo: RepositoryConfig, state_dir: Path | str) -> Workspace:
        """The workspace a config entry describes (``path`` or ``url``)."""
        if repo.path and repo.url:
            raise ConfigError("give either url or path, not both", key="repositories[].path")
        options = _OpenOptions(
            branch=repo.branch, credentials=repo.credentials, push_branch=repo.push_branch
        )
        if repo.path:
            return cls.local(repo.path, **options)
        if repo.url:
            return cls.remote(repo.url, state_dir, **options)
        raise ConfigError("a repository needs url or path", key="repositories[]")

    def close(self) -> None:
        self._lock.release()
        self.git.inherit_fds = ()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({self.kind}, {self.url or self.root}, branch={self.branch})"

    # ---------------------------------------------------------------- reading

    @property
    def bot_branch(self) -> str:
        """The bot's own branch (``push_branch`` rendered); ConfigError when it is unusable."""
        return bot_branch_name(self._push_branch, self.branch)

    def head(self) -> str:
        """The commit the workspace's branch points at."""
        sha = self.git.rev(f"refs/heads/{self.branch}")
        if sha is None:
            raise GitError(f"{self.git.where}: branch {self.branch} does not exist")
        return sha

    def remote_tip(self, branch: str | None = None) -> str | None:
        """Where *branch* (default: the upstream branch) was on the remote at the last fetch."""
        if not self.remote_name:
            return None
        return self.git.rev(f"refs/remotes/{self.remote_name}/{branch or self.remote_branch}")

    def blobs(self) -> dict[str, str]:
        """Path -> Git blob id of the tracked files unchanged in the checkout (a discovery
        cache key: a file not listed must be read)."""
        return worktree.blobs(self.git)

    def modified(
        self, paths: list[str], *, unchanged: Mapping[str, str] | None = None
    ) -> list[str]:
        """Those of *paths* with uncommitted changes in the checkout (*unchanged*: what
        :meth:`blobs` said this cycle, which saves asking ``git status`` about most paths)."""
        normalised = [commits.normalise_path(p) for p in paths]
        return worktree.modified(self.git, normalised, unchanged=unchanged)

    # ---------------------------------------------------------------- syncing

    def fetch(self) -> None:
        """Update the remote-tracking branches (all of the remote's branches, pruned)."""
        if not self.remote_name:
            return
        self._acquire()
        self.git.run(
            "fetch",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            self.remote_name,
            f"+refs/heads/*:refs/remotes/{self.remote_name}/*",
            network=True,
        )

    def sync(self) -> str:
        """Bring the checkout to the remote's tip and return the commit it is on.

        Clone: fetch, then reset hard and clean, which also repairs anything a killed run
        left. Local checkout: finish an interrupted commit, switch to the branch if needed,
        fetch, and fast-forward when behind (refusing, like git, if that would overwrite a
        local change); local commits are kept.
        """
        self._acquire()
        self._cleanup()
        if self.kind == "clone":
            return self._sync_clone()
        return self._sync_local()

    def _sync_clone(self) -> str:
        self.fetch()
        tip = self.remote_tip()
        if tip is None and self._default_branch:
            self.git.run("remote", "set-head", "origin", "--auto", network=True)
            self.branch = self.remote_branch = _default_branch(self.git)
            tip = self.remote_tip()
        if tip is None:
            raise GitError(f"{self.git.where}: the remote has no branch {self.branch}")
        self.git.run("checkout", "-q", "-f", "--no-track", "-B", self.branch, tip)
        self.git.run("clean", "-q", "-ffdx")
        return tip

    def _sync_local(self) -> str:
        if self.remote_name:
            self.fetch()
        current = self.git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).text
        if current != self.branch:
            # git refuses when this would overwrite a local change, and carries the others.
            self.git.run("switch", "-q", "--end-of-options", self.branch)
        if self.remote_name:
            tip = self.remote_tip()
            head = self.head()
            if tip is not None and tip != head:
                if self.git.ok("merge-base", "--is-ancestor", head, tip):
                    self.git.run("merge", "-q", "--ff-only", "--no-stat", tip)
                elif not self.git.ok("merge-base", "--is-ancestor", tip, head):
                    raise GitError(
                        f"{self.git.where}: branch {self.branch} and "
                        f"{self.remote_name}/{self.remote_branch} have diverged",
                        hint="merge or rebase, then run again",
                    )
        return self.head()

    # ---------------------------------------------------------------- writing

    def create_commit(
        self, files: Mapping[str, bytes], message: str, commit: CommitConfig, *, parent: str
    ) -> str | None:
        """A commit on top of *parent* with *files* (repository paths → new bytes, as they
        should be in the checkout); None when that changes nothing. No ref, index or file is
        touched: the commit exists only as an object until it is pushed or advanced to."""
        self._acquire()
        return commits.build_commit(self.git, self._scratch, files, message, commit, parent=parent)

    def advance(self, sha: str) -> None:
        """Move the branch from *sha*'s parent to *sha* and update the changed files.

        Raises LocalChanges (nothing done) when the checkout has uncommitted changes in
        them, and GitError when the branch is no longer at the parent.
        """
        self._acquire()
        head = self.head()
        parent = self.git.rev(f"{sha}^1")
        if parent != head:
            raise GitError(
                f"{self.git.where}: branch {self.branch} moved while committing "
                f"(now at {head[:12]})"
            )
        current = self.git.run("symbolic-ref", "-q", "HEAD", check=False).text
        if current != f"refs/heads/{self.branch}":
            raise GitError(f"{self.git.where}: {self.branch} is not checked out")
        worktree.advance(self.git, self.root, self._journal, self.branch, sha, head)
        log.info("%s: committed %s on %s", self.git.where, sha[:12], self.branch)

    def commit(self, files: Mapping[str, bytes], message: str, commit: CommitConfig) -> str | None:
        """Commit *files* on the checked-out branch (no push); None when nothing changed."""
        sha = self.create_commit(files, message, commit, parent=self.head())
        if sha is not None:
            self.advance(sha)
        return sha

    def push(
        self, sha: str | None = None, *, branch: str | None = None, force_with_lease: bool = False
    ) -> None:
        """Push *sha* (default: the branch's head) to *branch* (default: the upstream branch).

        Without *force_with_lease* only a fast-forward is accepted; a remote that moved gives
        PushRejected. *force_with_lease* is allowed only for the bot's own branch, leased on
        where it was at the last fetch. Other failures (auth, network, protected branch,
        hooks) are GitError.
        """
        if not self.remote_name:
            raise GitError(f"{self.git.where}: no remote to push to")
        target = branch or self.remote_branch
        lease = None
        if force_with_lease:
            self._require_bot_branch(target)
            lease = self.remote_tip(target) or ""
        self._push(sha or self.head(), target, lease)

    def delete_bot_branch(self) -> bool:
        """Delete the bot's branch (on the remote, or locally without one); False if absent."""
        self._acquire()
        if not self.remote_name:
            if self.git.rev(f"refs/heads/{self.bot_branch}") is None:
                return False
            self.git.run("update-ref", "-d", f"refs/heads/{self.bot_branch}")
            return True
        existing = self.remote_tip(self.bot_branch)
        if existing is None:
            return False
        self._push(None, self.bot_branch, existing)
        return True

    def publish(
        self,
        compute: Callable[[str], C | None],
        commit: CommitConfig,
        *,
        mode: WriteMode = "direct",
        attempts: int = 3,
    ) -> Published[C]:
        """Sync, ``compute(base_sha)`` on the fresh checkout, commit, push; on PushRejected
        start over (sync and compute again: never a blind rebase), up to *attempts* times.

        ``direct``: the commit goes on the branch itself (fast-forward push only), then the
        checkout moves to it. ``branch`` / ``pull-request``: the commit is built on the
        branch's tip and force-pushed with a lease to the bot's branch, which is thereby
        rebuilt from the base every cycle; when it already holds the same change nothing
        is pushed. The checkout is left on the base. Opening the pull request is the
        caller's (see :mod:`imagebot.gitops.forge`).

        ``compute`` returns None (or a Change without files) when there is nothing to do.
        It reads the checkout at ``self.root``; in a user's checkout, a file with uncommitted
        changes must not be part of the change (its edits would be published under the
        bot's name): publish raises LocalChanges naming such files before anything leaves
        the machine. Use :meth:`modified` to leave them out (and report them) up front.
        """
        if mode not in ("direct", "branch", "pull-request"):
            raise ValueError(f"unknown write mode {mode!r}")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        target = self.remote_branch if mode == "direct" else self.bot_branch
        for attempt in range(1, attempts + 1):
            base = self.sync()
            self._require_pushed(base)
            change = compute(base)
            if change is None or not change.files:
                return Published(None, base, target, change, False, attempt)
            named = change.branch if mode == "branch" else None
            target = named or target
            sha = self.create_commit(change.files, change.message, commit, parent=base)
            if sha is None:
                return Published(None, base, target, change, False, attempt)
            self._refuse_local_changes(base, sha)
            try:
                pushed = self._deliver(sha, mode, named)
            except PushRejected as exc:
                log.info("%s (attempt %d of %d)", exc, attempt, attempts)
                continue
            if pushed is None:  # the bot branch already carries this change
                existing = self.remote_tip(target) or self.git.rev(f"refs/heads/{target}")
                return Published(existing, base, target, change, False, attempt)
            return Published(sha, base, target, change, pushed, attempt)
        raise PushRejected(
            f"{self.git.where}: push to {target} rejected {attempts} times: the branch kept moving",
            hint="another writer is pushing often; the next run will try again",
        )

    def _deliver(self, sha: str, mode: WriteMode, named: str | None = None) -> bool | None:
        if mode == "direct":
            if self.remote_name:
                self._push(sha, self.remote_branch, None)
            self.advance(sha)
            return self.remote_name is not None
        target = named or self.bot_branch
        if self.remote_name:
            existing = self.remote_tip(target)
            if existing and commits.same_commit(self.git, existing, sha):
                return None
            self._require_bot_branch(target, named=named)
            self._push(sha, target, existing or "")
            return True
        existing = self.git.rev(f"refs/heads/{target}")
        if existing and commits.same_commit(self.git, existing, sha):
            return None
        self.git.run("update-ref", f"refs/heads/{target}", sha)
        return False

    # ---------------------------------------------------------------- internals

    @property
    def _journal(self) -> Path:
        return self._scratch / "advance.json"

    def _acquire(self) -> None:
        if not self._lock.held:
            self._lock.acquire(self._lock_timeout)
            self.git.inherit_fds = (self._lock.fd,) if self._lock.fd is not None else ()

    def _cleanup(self) -> None:
        """Undo what a killed run may have left (we hold the lock: nobody else is here)."""
        if self.kind == "clone":
            _remove_git_locks(self.git_dir)
            self._journal.unlink(missing_ok=True)
        else:
            worktree.recover(self.git, self.root, self._journal)
        if self._scratch.is_dir():
            for leftover in self._scratch.glob("index-*"):
                leftover.unlink(missing_ok=True)

    def _refuse_local_changes(self, base: str, sha: str) -> None:
        paths = [change.path for change in worktree.diff(self.git, base, sha)]
        dirty = worktree.modified(self.git, paths)
        if dirty:
            raise LocalChanges(
                f"{self.git.where}: uncommitted changes in {', '.join(dirty)}, which the bot "
                "needs to update",
                paths=dirty,
                hint="commit or stash them, then run again",
            )

    def _require_pushed(self, base: str) -> None:
        tip = self.remote_tip()
        if self.kind == "local" and tip is not None and tip != base:
            ahead = self.git.out("rev-list", "--count", f"{tip}..{base}")
            raise GitError(
                f"{self.git.where}: branch {self.branch} has {ahead} commit(s) not on "
                f"{self.remote_name}/{self.remote_branch}; the bot pushes only its own commits",
                hint="push or drop them, then run again",
            )

    def _require_bot_branch(self, target: str, *, named: str | None = None) -> None:
        """*target* is the bot's branch (``push_branch``, or *named*: the one a change names)
        and no branch people work on: the base, the remote's, the remote's default."""
        protected = {self.branch, self.remote_branch}
        if self.remote_name:
            head = self.git.run(
                "symbolic-ref", "-q", f"refs/remotes/{self.remote_name}/HEAD", check=False
            ).text
            if head:
                protected.add(head.removeprefix(f"refs/remotes/{self.remote_name}/"))
        if target not in (self.bot_branch, named) or target in protected:
            raise GitError(
                f"{self.git.where}: refusing to force-push {target}: only the bot's own "
                f"branch ({self.bot_branch}) is ever force-pushed"
            )

    def _push(self, sha: str | None, branch: str, lease: str | None) -> None:
        self._acquire()
        assert self.remote_name is not None
        ref = f"refs/heads/{branch}"
        args = ["push", "--porcelain", "--no-verify"]
        if lease is not None:
            args.append(f"--force-with-lease={ref}:{lease}")
        args += [self.remote_name, f"{sha or ''}:{ref}"]
        result = self.git.run(*args, network=True, check=False)
        status = _push_status(result.stdout.decode("utf-8", "replace"), ref)
        if result.returncode == 0 and status is not None and status[0] in " *+=-":
            tracking = f"refs/remotes/{self.remote_name}/{branch}"
            if sha:
                self.git.run("update-ref", tracking, sha)
            else:
                self.git.run("update-ref", "-d", tracking)
            what = "deleted" if sha is None else f"pushed {sha[:12]} to"
            log.info("%s: %s %s", self.git.where, what, branch)
            return
        if status is not None and status[0] == "!" and status[1].startswith("[rejected]"):
            raise PushRejected(
                f"{self.git.where}: push to {branch} rejected: {status[1]} (the branch moved)"
            )
        if status is not None and status[0] == "!":
            # The reason and the hooks' ``remote:`` lines are the server's words: escaped.
            refused = f"{self.git.where}: push to {branch} refused: {printable(status[1])}"
            said = remote_lines(result.stderr)
            raise GitError(self.git.redact(f"{refused} ({said})" if said else refused))
        raise self.git.error(["push"], result)


def _push_status(porcelain: str, ref: str) -> tuple[str, str] | None:
    """(flag, summary) from ``git push --porcelain`` for *ref*."""
    for line in porcelain.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{ref}") and parts[0]:
            return parts[0], parts[2]
    return None


def _upstream(git: Git, branch: str) -> tuple[str | None, str]:
    """(remote, its branch) that *branch* tracks; else origin's branch of the same name, when
    there is an origin. One ``git config`` for all of it (a process each would cost more
    than the rest of opening a checkout)."""
    listed = git.run("config", "-z", "--get-regexp", r"^(branch|remote)\.", check=False)
    found: dict[str, str] = {}
    for record in nul_split(listed.stdout):
        key, _, value = record.partition("\n")
        found[key] = value  # the last of a key given twice wins, as `git config --get`
    remote = found.get(f"branch.{branch}.remote", "")
    merge = found.get(f"branch.{branch}.merge", "")
    if remote and remote != "." and merge.startswith("refs/heads/"):
        return remote, merge.removeprefix("refs/heads/")
    # `git remote` lists the remotes that have any remote.<name>.* key ("origin.x" is another)
    origin = "remote.origin."
    if any(key.startswith(origin) and "." not in key[len(origin) :] for key in found):
        return "origin", branch
    return None, branch


def clone_path(remote: RemoteURL, state_dir: Path | str) -> Path:
    """Where the bot's clone of *remote* lives: ``state_dir/repos/<host-path>-<digest>``."""
    return Path(state_dir).expanduser().resolve() / "repos" / _clone_name(remote)


def _clone_name(remote: RemoteURL) -> str:
    tail = f"{remote.host or 'local'}-{remote.path}".removesuffix(".git")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-.")[-48:].lstrip("-.") or "repo"
    digest = hashlib.sha256(remote.url.encode()).hexdigest()[:12]
    return f"{safe}-{digest}"


def _ensure_clone(git: Git, repos: Path, name: str, remote: RemoteURL) -> None:
    root = repos / name
    for leftover in repos.glob(f".{name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if root.exists():
        probe = git.run("rev-parse", "--is-inside-work-tree", check=False, cwd=root)
        if probe.returncode == 0 and (root / ".git").is_dir():
            current = git.run("config", "--get", "remote.origin.url", check=False).text
            if current != remote.url:
                git.run("remote", "set-url", "--end-of-options", "origin", remote.url)
            return
        log.warning("%s: %s is not a usable clone; cloning again", remote.display, root)
        shutil.rmtree(root)
    tmp = repos / f".{name}.tmp-{os.getpid()}"
    log.info("%s: cloning into %s", remote.display, root)
    git.run(
        "clone",
        "--quiet",
        "--no-checkout",
        "--origin",
        "origin",
        "--",
        remote.url,
        str(tmp),
        network=True,
        cwd=repos,
    )
    Git(tmp).run("config", "gc.autoDetach", "false")
    tmp.rename(root)


def _default_branch(git: Git) -> str:
    ref = git.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False).text
    if not ref:
        git.run("remote", "set-head", "origin", "--auto", network=True, check=False)
        ref = git.run("symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False).text
    if not ref:
        raise GitError(
            f"{git.where}: cannot tell the remote's default branch (is the repository empty?)",
            hint="set the branch to update",
        )
    return ref.removeprefix("refs/remotes/origin/")


def _remove_git_locks(git_dir: Path) -> None:
    candidates = list(git_dir.glob("*.lock"))
    for sub in ("refs", "logs"):
        if (git_dir / sub).is_dir():
            candidates += (git_dir / sub).rglob("*.lock")
    for lock in candidates:
        log.warning("removing a stale git lock %s", lock)
        lock.unlink(missing_ok=True)
