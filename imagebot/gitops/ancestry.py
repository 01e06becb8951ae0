"""Questions about a repository's history, asked of the checkout imagebot already has.

Used when a reconciler reports a revision (is imagebot's commit in it?) and when a cycle
looks for people's commits since the last one (did someone roll an image back?). Nothing
here takes the workspace lock, fetches or clones: these are reads of Git's object database,
safe beside a cycle that is fetching, and a revision the checkout does not have yet is
"unknown" (None), to be asked again after the next cycle's fetch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from imagebot.config import RepositoryConfig
from imagebot.gitops.credentials import parse_remote_url
from imagebot.gitops.runner import Git
from imagebot.gitops.workspace import clone_path

#: What a revision given by a reconciler may look like before git sees it.
_COMMIT_ID = re.compile(r"[0-9a-f]{7,64}")


def checkout_git(repo: RepositoryConfig, state_dir: Path | str) -> Git | None:
    """Git in the checkout of *repo* (its ``path``, or the bot's clone of its ``url``), or
    None when there is none yet (never cloned)."""
    if repo.path:
        root = Path(repo.path).expanduser()
    elif repo.url:
        root = clone_path(parse_remote_url(repo.url), state_dir)
    else:
        return None
    if not (root / ".git").exists():
        return None
    return Git(root)


def branch_tip(git: Git, branch: str) -> str | None:
    """Where *branch* is in the checkout: the remote's copy at the last fetch (a clone), else
    the local branch."""
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        sha = git.rev(ref)
        if sha is not None:
            return sha
    return None


def contains(git: Git, commit: str, revision: str) -> bool | None:
    """Whether *revision* is *commit* or one of its descendants; None when the checkout
    does not have *revision* (or *commit*). Both must be commit ids (hex)."""
    if not (_COMMIT_ID.fullmatch(commit) and _COMMIT_ID.fullmatch(revision)):
        raise ValueError("expected commit ids")
    if not git.ok("cat-file", "-e", f"{revision}^{{commit}}"):
        return None
    if not git.ok("cat-file", "-e", f"{commit}^{{commit}}"):
        return None
    return git.ok("merge-base", "--is-ancestor", commit, revision)


@dataclass(frozen=True)
class CommitInfo:
    """One commit as people see it: which, who, what it says, its first parent."""

    sha: str
    author: str
    email: str
    subject: str
    parent: str | None


def commits_touching(
    git: Git, since: str | None, until: str, path: str, *, limit: int = 50
) -> list[CommitInfo]:
    """Commits (merges left out) reachable from *until* (and not from *since*, when given)
    that change *path*, newest first, at most *limit*. Both must be commit ids the checkout
    has."""
    if not _COMMIT_ID.fullmatch(until) or (since is not None and not _COMMIT_ID.fullmatch(since)):
        raise ValueError("expected commit ids")
    span = f"{since}..{until}" if since is not None else until
    out = git.run(
        "log", "--no-merges", f"--max-count={limit}",
        "--format=%H%x00%P%x00%an%x00%ae%x00%s%x1e", span, "--", path,
    ).stdout.decode("utf-8", "replace")  # fmt: skip
    found = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x00")
        if len(fields) != 5:
            continue
        sha, parents, author, email, subject = fields
        parent = parents.split()[0] if parents.split() else None
        found.append(CommitInfo(sha, author, email, subject, parent))
    return found


def file_at(git: Git, revision: str, path: str) -> bytes | None:
    """The bytes of *path* at commit *revision*; None when it has no such file."""
    if not _COMMIT_ID.fullmatch(revision):
        raise ValueError("expected a commit id")
    result = git.run("cat-file", "blob", f"{revision}:{path}", check=False)
    return result.stdout if result.returncode == 0 else None
