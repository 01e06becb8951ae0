"""Updates held for a person: ``imagebot.io/approve.<container>: "true"`` (or ``approve: true``
in an imagebot ImagePolicy file) makes the update cycle hold a container's updates
(status ``awaiting-approval``) instead of committing them.

:func:`pending` lists them from the fleet rows the last cycle saved, without those already
rejected; approving commits the update through :func:`imagebot.operations.actions.approve`
like any manual change (the repository's ``write_mode``: a commit, a branch or a pull
request); :func:`decide` records the decision (a rejected tag stays hidden until a newer one
is held).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from imagebot.operations.fleet import FleetRow

if TYPE_CHECKING:
    from imagebot.store import Store


def pending(store: Store, *, repository: str | None = None) -> list[FleetRow]:
    """Rows held for approval, minus the updates someone rejected."""
    sql = "SELECT data FROM fleet_status WHERE status = 'held'"
    params: list[str] = []
    if repository:
        sql += " AND repository = ?"
        params.append(repository)
    # Only a row held for approval holds the JSON string "approval": the others (locked,
    # family, not automated) are not decoded, which on a large fleet is most of the work.
    rows = [
        FleetRow.from_dict(json.loads(r[0]))
        for r in store.query(sql, params)
        if '"approval"' in r[0]
    ]
    rejected = {
        (r[0], r[1], r[2], r[3])
        for r in store.query(
            "SELECT repository, workload, container, tag FROM approvals WHERE decision = 'rejected'"
        )
    }
    return sorted(
        (
            row
            for row in rows
            if row.held_by == "approval"
            and (row.repository, row.workload, row.container, row.latest) not in rejected
        ),
        key=lambda r: (r.repository, r.workload, r.container),
    )


def decide(
    store: Store,
    row: FleetRow,
    decision: str,
    *,
    user: str | None,
    commit: str | None = None,
    pull_request: str | None = None,
) -> None:
    """Record *decision* (``approved`` or ``rejected``) for the row's held tag; a rejection
    is also an event of the workload's history (an approval's commit is in the history)."""
    from imagebot.operations import events

    assert decision in ("approved", "rejected")
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO approvals (repository, workload, container, tag, decision, "
            "user, time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row.repository,
                row.workload,
                row.container,
                row.latest or "",
                decision,
                user,
                time.time(),
            ),
        )
    if decision == "rejected":
        events.record(
            store,
            repository=row.repository,
            workload=row.workload,
            action="reject",
            subject=f"Rejected {row.container} {row.latest} for {row.workload}",
            user=user,
        )
