"""Which commit set a container's tag: asked of Git's history, file by file.

Two questions need it. A person's rollback (:mod:`imagebot.update.rollbacks`): which commit
set the tag a container has now, and who made it. A pull request merged by squash or rebase
(:func:`imagebot.update.reconcile.mark_landed`): imagebot's commit is then not on the branch,
so which commit on the branch carries its change (took the container to the tag imagebot
wrote). Both read a file at a commit and at its first parent, and compare the tag of one
(workload, container) in each; merges are skipped (the commit inside is what changed it).
"""

from __future__ import annotations

from collections.abc import Iterator

from imagebot.errors import ImagebotError
from imagebot.gitops.ancestry import CommitInfo, commits_touching, file_at
from imagebot.gitops.runner import Git
from imagebot.manifests import scan_bytes

#: Commits looked at per container and question (the newest that change its file).
MAX_COMMITS = 50


def commits_setting(
    git: Git,
    since: str | None,
    until: str,
    file: str,
    workload: str,
    container: str,
    tag: str,
    *,
    default_namespace: str | None = None,
    from_tag: str | None = None,
    limit: int = MAX_COMMITS,
) -> Iterator[CommitInfo]:
    """The commits reachable from *until* (and not from *since*, when given), newest first,
    among the newest *limit* changing *file*, that set *workload*'s *container* to *tag*:
    from *from_tag* when given, else from any other tag (or from no such container)."""
    for commit in commits_touching(git, since, until, file, limit=limit):
        if commit.parent is None:
            continue
        if tag_at(git, commit.sha, file, workload, container, default_namespace) != tag:
            continue
        before = tag_at(git, commit.parent, file, workload, container, default_namespace)
        if before != tag and (from_tag is None or before == from_tag):
            yield commit


def tag_at(
    git: Git,
    revision: str,
    file: str,
    workload: str,
    container: str,
    default_namespace: str | None = None,
) -> str | None:
    """The tag of *workload*'s *container* in *file* at commit *revision* (None: no such
    file, container, or tag; or the file does not parse there)."""
    content = file_at(git, revision, file)
    if content is None:
        return None
    try:
        found = scan_bytes(content, file, default_namespace=default_namespace)
    except ImagebotError:
        return None
    for other in found.sites:
        if (other.workload, other.container) == (workload, container):
            return other.tag
    return None
