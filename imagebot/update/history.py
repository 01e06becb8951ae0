"""The record of every image change imagebot made: what, where, when, in which commit.

Kept in the state store so ``imagebot history`` can answer "when did this workload move to
6.5.1, and why" after the fact. Only what a user wrote in a manifest and Git metadata are
stored: never a credential (URLs are stored redacted).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from imagebot.gitops import redact
from imagebot.store import Store
from imagebot.update.resolve import Resolution


@dataclass(frozen=True)
class HistoryEntry:
    time: datetime
    repository: str
    url: str | None
    branch: str
    target: str
    mode: str
    file: str
    workload: str
    container: str
    image: str
    old_tag: str | None
    new_tag: str | None
    old_digest: str | None
    new_digest: str | None
    policy: str | None
    commit: str | None
    pull_request: str | None
    pushed: bool
    #: When a reconciler reported a revision containing the commit (and which object).
    applied_at: datetime | None = None
    applied_by: str | None = None
    #: A reconciler's failure on a revision containing the commit, not applied since.
    failure: str | None = None

    @property
    def state(self) -> str:
        """committed (not pushed), pushed, applied (a reconciler reported it) or failed."""
        if self.applied_at is not None:
            return "applied"
        if self.failure:
            return "failed"
        return "pushed" if self.pushed else "committed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["applied_at"] = self.applied_at.isoformat() if self.applied_at else None
        data["state"] = self.state
        return data


_COLUMNS = (
    "time, repository, url, branch, target, mode, file, workload, container, image, old_tag, "
    "new_tag, old_digest, new_digest, policy, commit_sha, pull_request, pushed"
)


def record(
    store: Store,
    applied: Iterable[Resolution],
    *,
    repository: str,
    url: str | None,
    branch: str,
    target: str,
    mode: str,
    commit: str | None,
    pushed: bool,
    pull_request: str | None = None,
    when: float | None = None,
) -> int:
    """Record each applied change in one transaction; returns how many rows were written."""
    moment = time.time() if when is None else when
    rows = [
        (
            moment,
            repository,
            redact(url) if url else None,
            branch,
            target,
            mode,
            res.site.file,
            res.site.workload,
            res.site.container,
            res.site.repository or res.site.reference_text,
            res.site.tag,
            res.new_tag,
            res.site.digest,
            res.new_digest,
            res.policy,
            commit,
            pull_request,
            int(pushed),
        )
        for res in applied
    ]
    if not rows:
        return 0
    placeholders = ", ".join("?" * len(rows[0]))
    with store.transaction() as db:
        db.executemany(f"INSERT INTO history ({_COLUMNS}) VALUES ({placeholders})", rows)
    return len(rows)


def _like(text: str) -> str:
    """*text* as a literal in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def entries(
    store: Store,
    *,
    repository: str | None = None,
    workload: str | None = None,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """Newest first; optionally for one repository or workload."""
    where, params = [], []
    if repository:
        where.append("repository = ?")
        params.append(repository)
    if workload:
        # Entries recorded before workloads were named by the namespace they land in say
        # <cluster>:kind/name; either spelling finds both.
        namespace, colon, rest = workload.rpartition(":")
        if colon and namespace == "<cluster>":
            where.append("(workload = ? OR workload LIKE ? ESCAPE '\\')")
            params += [workload, "%:" + _like(rest)]
        elif colon:
            where.append("workload IN (?, ?)")
            params += [workload, f"<cluster>:{rest}"]
        else:
            where.append("workload LIKE ? ESCAPE '\\'")
            params.append("%:" + _like(workload))
    sql = f"SELECT {_COLUMNS}, applied_at, applied_by, failure FROM history"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY time DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [
        HistoryEntry(
            time=datetime.fromtimestamp(row["time"], UTC),
            repository=row["repository"],
            url=row["url"],
            branch=row["branch"],
            target=row["target"],
            mode=row["mode"],
            file=row["file"],
            workload=row["workload"],
            container=row["container"],
            image=row["image"],
            old_tag=row["old_tag"],
            new_tag=row["new_tag"],
            old_digest=row["old_digest"],
            new_digest=row["new_digest"],
            policy=row["policy"],
            commit=row["commit_sha"],
            pull_request=row["pull_request"],
            pushed=bool(row["pushed"]),
            applied_at=(
                datetime.fromtimestamp(row["applied_at"], UTC) if row["applied_at"] else None
            ),
            applied_by=row["applied_by"],
            failure=row["failure"],
        )
        for row in store.query(sql, params)
    ]
