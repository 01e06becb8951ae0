"""What happened, newest first: image changes (the ``history`` table: automated updates,
releases, rollbacks, approvals) and manual changes (the ``events`` table: every manual
commit with who asked, and decisions that commit nothing, such as a rejection), as one
timeline. An event whose commit is also in the history names the user of that history row
instead of appearing twice, except what a reconciler said about the commit ("Sync to
cluster: WORKLOAD (sha)", :mod:`imagebot.update.reconcile`), which is an event of its own.

:func:`record` is called after every manual commit (:mod:`imagebot.operations.change`) and
for decisions that commit nothing (a rejected approval); it never fails the change it
records: a store that cannot be written only earns a log line.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.config import Config
    from imagebot.store import Store

log = logging.getLogger(__name__)

#: history.mode -> what the timeline calls it.
_MODES = {
    "direct": "automated update",
    "branch": "automated update",
    "pull-request": "automated update",
    "release": "manual release",
    "rollback": "rollback",
    "approval": "approved update",
}


#: Events about a commit that stand beside its history rows instead of naming their user:
#: what reconcilers reported (:mod:`imagebot.update.reconcile`) and rollbacks people made.
_OWN = "('sync', 'sync-failed', 'rolled-back')"


@dataclass(frozen=True)
class Event:
    time: datetime
    repository: str
    workload: str
    kind: str  # "automated update", "manual release", "lock", "unlock", ...
    summary: str  # "podinfod 3.1.0 -> 3.1.5", "Locked: demo:deployment/podinfo"
    user: str | None = None
    message: str | None = None
    commit: str | None = None
    commit_url: str | None = None
    pull_request: str | None = None
    container: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "repository": self.repository,
            "workload": self.workload,
            "kind": self.kind,
            "summary": self.summary,
            "user": self.user,
            "message": self.message,
            "commit": self.commit,
            "commit_url": self.commit_url,
            "pull_request": self.pull_request,
            "container": self.container,
        }


def record(
    store: Store,
    *,
    repository: str,
    workload: str,
    action: str,
    subject: str,
    user: str | None = None,
    message: str | None = None,
    commit: str | None = None,
    pull_request: str | None = None,
    when: float | None = None,
) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT INTO events (time, repository, workload, action, user, subject, message, "
            "commit_sha, pull_request) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time() if when is None else when,
                repository,
                workload,
                action,
                user,
                subject,
                message,
                commit,
                pull_request,
            ),
        )


def record_quietly(config: Config, **fields: Any) -> None:
    """:func:`record` in the config's store; a failure is logged, never raised."""
    from imagebot.store import open_store

    try:
        with open_store(config) as store:
            record(store, **fields)
    except Exception as exc:  # the change itself is done: never fail it here
        log.debug("could not record the %s event: %s", fields.get("action"), exc)


def commit_url(remote: str | None, sha: str | None) -> str | None:
    """A browser link to a commit on GitHub, GitLab or Gitea-style hosts (https remotes)."""
    if not remote or not sha or not remote.startswith("https://"):
        return None
    base = re.sub(r"\.git$", "", remote.rstrip("/"))
    if "gitlab" in base:
        return f"{base}/-/commit/{sha}"
    return f"{base}/commit/{sha}"


def timeline(
    store: Store,
    *,
    repository: str | None = None,
    workload: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Event]:
    """Every event newest first, optionally for one repository and/or workload."""
    where, params = [], []
    if repository:
        where.append("repository = ?")
        params.append(repository)
    if workload:
        where.append("workload = ?")
        params.append(workload)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = store.query(
        "SELECT time, repository, workload, kind, container, a, b, user, message, commit_sha, "
        "pull_request, url FROM ("
        "  SELECT time, repository, workload, mode AS kind, container, old_tag || "
        "   COALESCE('@' || substr(old_digest, 1, 19), '') AS a, new_tag || "
        "   COALESCE('@' || substr(new_digest, 1, 19), '') AS b, (SELECT e.user FROM events e "
        f"   WHERE e.commit_sha = h.commit_sha AND e.action NOT IN {_OWN} LIMIT 1) AS user, "
        "   policy AS message, commit_sha, pull_request, url, id FROM history h"
        "  UNION ALL"
        "  SELECT time, repository, workload, 'event:' || action, NULL, subject, NULL, user, "
        "   message, commit_sha, pull_request, NULL, id FROM events e WHERE e.commit_sha IS "
        f"   NULL OR e.action IN {_OWN} OR NOT EXISTS (SELECT 1 FROM history h WHERE "
        "   h.commit_sha = e.commit_sha)"
        f") AS merged{clause} ORDER BY time DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    out = []
    for row in rows:
        when = datetime.fromtimestamp(row[0], UTC)
        kind: str = row[3]
        if kind.startswith("event:"):
            out.append(
                Event(
                    when,
                    row[1],
                    row[2],
                    kind[len("event:") :],
                    row[5],
                    user=row[7],
                    message=row[8],
                    commit=row[9],
                    pull_request=row[10],
                )
            )
        else:
            summary = f"{row[4]}: {row[5] or '-'} -> {row[6] or '-'}"
            out.append(
                Event(
                    when,
                    row[1],
                    row[2],
                    _MODES.get(kind, kind),
                    summary,
                    user=row[7],
                    message=f"policy {row[8]}" if row[8] else None,
                    commit=row[9],
                    commit_url=commit_url(row[11], row[9]),
                    pull_request=row[10],
                    container=row[4],
                )
            )
    return out
