"""People's rollbacks are respected: an image a person set back is locked, not re-applied.

When a cycle is about to update a container, it first asks the history what imagebot last
wrote there. If the manifest now holds an earlier tag than that (a tag the container had
before, or one that sorts lower), and the commit that put it there since imagebot's commit
was made by someone else (a ``git revert`` of imagebot's commit, a manual edit, a merged
pull request's commit: merges themselves are skipped to find the commit inside), the
person meant it. The update is not applied; instead the workload is locked in the same
commit (``locked: "true"``, ``locked_msg: "rolled back by AUTHOR in SHA: SUBJECT"``,
``locked_user: AUTHOR``), edited byte for byte by :func:`imagebot.manifests.annotate.
annotate` and read back. A site that cannot carry annotations (a kustomization's
``images:``, a values file) is left alone with a note, cycle after cycle, for the same
reason. ``repositories[].on_rollback: ignore`` turns this off.

Detection reads only Git and the history, so it works in every write mode: a direct push, a
branch someone merged, a pull request merged with a merge commit, or squashed (imagebot's
commit is then not on the branch: the commit looked for is one that took the tag from what
imagebot wrote to what it is now).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imagebot.errors import GitError, ImagebotError
from imagebot.gitops.ancestry import contains
from imagebot.gitops.runner import Git
from imagebot.manifests import scan_bytes
from imagebot.manifests.annotate import annotate, find_workloads, lock_edits
from imagebot.safetext import printable
from imagebot.store import Store
from imagebot.tag import natural_key
from imagebot.update.changes import ChangeSet
from imagebot.update.resolve import Resolution
from imagebot.update.tagcommits import commits_setting

log = logging.getLogger(__name__)

#: History rows read per repository to know what imagebot last wrote per container.
MAX_ROWS = 2000


@dataclass(frozen=True)
class RolledBack:
    """A container a person set back from the tag imagebot wrote."""

    workload: str
    container: str
    image: str
    file: str
    written: str  # what imagebot last wrote
    current: str  # what the person set
    commit: str  # the person's commit
    author: str
    subject: str
    #: The lock annotation was added in this cycle's commit (False: the site cannot carry
    #: annotations, or the edit would not read back; the update is skipped all the same).
    locked: bool = False
    #: metadata.namespace as written (which document to annotate).
    namespace: str | None = None

    @property
    def message(self) -> str:
        """``rolled back by AUTHOR in SHA: SUBJECT``: the lock message."""
        return f"rolled back by {self.author} in {self.commit[:12]}: {self.subject}"

    def to_dict(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "container": self.container,
            "image": self.image,
            "file": self.file,
            "written": self.written,
            "current": self.current,
            "commit": self.commit,
            "author": self.author,
            "subject": self.subject,
            "locked": self.locked,
            "message": self.message,
        }


@dataclass(frozen=True)
class _Written:
    tag: str
    commit: str
    earlier: frozenset[str]  # tags the container had before imagebot's changes


def detect(
    git: Git,
    store: Store,
    repository: str,
    base: str,
    resolutions: Sequence[Resolution],
    *,
    bot_email: str,
) -> list[tuple[Resolution, RolledBack]]:
    """The updates about to be applied whose container a person rolled back since
    imagebot wrote it; nothing is changed here."""
    pending = [r for r in resolutions if r.status == "update" and r.site.tag is not None]
    if not pending:
        return []
    written = _last_written(store, repository)
    found = []
    for res in pending:
        site = res.site
        last = written.get((site.workload, site.container))
        if last is None or site.tag is None or site.tag == last.tag:
            continue
        if not (site.tag in last.earlier or natural_key(site.tag) < natural_key(last.tag)):
            continue  # set to something newer by hand: not a rollback
        try:
            # imagebot's commit is on the branch (pushed, or merged with a merge commit):
            # look after it. Not (a squash-merged pull request, or one closed): look back
            # for a commit that took the tag from what imagebot wrote to what it is now.
            landed = contains(git, last.commit, base) is True
            since = last.commit if landed else None
            commit = next(
                commits_setting(
                    git, since, base, site.file, site.workload, site.container, site.tag,
                    default_namespace=site.default_namespace,
                    from_tag=None if landed else last.tag,
                ),
                None,
            )  # fmt: skip
        except (GitError, ValueError) as exc:
            log.debug("%s: cannot tell who set %s back: %s", repository, site.workload, exc)
            continue
        if commit is None or commit.email.lower() == bot_email.lower():
            continue
        found.append(
            (
                res,
                RolledBack(
                    workload=site.workload,
                    container=site.container,
                    image=site.repository or site.reference_text,
                    file=site.file,
                    written=last.tag,
                    current=site.tag,
                    commit=commit.sha,
                    author=printable(commit.author or commit.email, limit=100),
                    subject=printable(commit.subject, limit=200),
                    namespace=site.namespace,
                ),
            )
        )
    return found


def _last_written(store: Store, repository: str) -> dict[tuple[str, str], _Written]:
    rows = store.query(
        "SELECT workload, container, old_tag, new_tag, commit_sha FROM history "
        "WHERE repository = ? AND commit_sha IS NOT NULL AND pushed = 1 "
        "ORDER BY time DESC, id DESC LIMIT ?",
        (repository, MAX_ROWS),
    )
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    earlier: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        key = (row["workload"], row["container"])
        if key not in latest:
            if row["new_tag"]:
                latest[key] = (row["new_tag"], row["commit_sha"])
        elif row["new_tag"]:
            earlier.setdefault(key, set()).add(row["new_tag"])
        if row["old_tag"]:
            earlier.setdefault(key, set()).add(row["old_tag"])
    return {
        key: _Written(tag, commit, frozenset(earlier.get(key, set()) - {tag}))
        for key, (tag, commit) in latest.items()
    }


def lock(root: Path, changeset: ChangeSet, rolled: Sequence[RolledBack]) -> list[RolledBack]:
    """Add the lock of each rolled-back workload to *changeset* (on top of the cycle's own
    edits of the same file); returns *rolled* with ``locked`` set where it was written."""
    out = []
    for item in rolled:
        locked = _lock_one(root, changeset, item)
        if not locked:
            changeset.notes.append(
                f"{item.file}: {item.workload}: {item.message}; not locked (no annotations "
                f"to write), and not updated to {item.written} again"
            )
        out.append(RolledBack(**{**item.__dict__, "locked": locked}))
    return out


def _lock_one(root: Path, changeset: ChangeSet, item: RolledBack) -> bool:
    path = item.file
    try:
        original = changeset.old.get(path) or (root / path).read_bytes()
    except OSError:
        return False
    content = changeset.files.get(path, original)
    kind, _, name = item.workload.partition(":")[2].partition("/")
    for doc in find_workloads(content, path):
        if doc.kind.lower() != kind or doc.name != name or doc.namespace != item.namespace:
            continue
        edits = lock_edits(doc.annotations, item.message, item.author)
        try:
            result = annotate(content, doc, edits, file=path)
            after = scan_bytes(result.content, path)
        except ImagebotError as exc:
            log.warning("%s: cannot lock %s after its rollback: %s", path, item.workload, exc)
            return False
        sites = [
            s
            for s in after.sites
            if (s.kind.lower(), s.name, s.namespace) == (kind, name, item.namespace)
        ]
        if not sites or not all(s.locked and s.lock_message == item.message for s in sites):
            return False
        if result.changed:
            changeset.old.setdefault(path, original)
            changeset.files[path] = result.content
        return True
    return False
