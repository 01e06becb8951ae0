"""Updates held for approval, as the Deploy view lists and counts them (``approvals.pending``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagebot.operations import approvals, fleet
from imagebot.operations.fleet import FleetRow
from imagebot.store import Store


def held(name: str, by: str, **fields: Any) -> FleetRow:
    values: dict[str, Any] = {
        "repository": "fleet",
        "workload": f"shop:deployment/{name}",
        "namespace": "shop",
        "kind": "Deployment",
        "name": name,
        "container": "app",
        "file": f"apps/{name}.yaml",
        "line": 9,
        "image": "registry.example/app:1.0.0",
        "image_repository": "registry.example/app",
        "current": "1.0.0",
        "latest": "1.5.0",
        "behind": 1,
        "status": "held",
        "held_by": by,
        "reason": f"held: {by}",
        "policy": "semver:~1",
        "source": "annotation:imagebot.io",
        "automated": True,
        "locked": by == "locked",
    }
    return FleetRow(**{**values, **fields})


def test_pending_lists_the_rows_held_for_approval_and_not_those_held_otherwise_or_rejected(
    tmp_path: Path,
):
    waiting = held("web", "approval")
    rejected = held("api", "approval")
    locked = held("db", "locked", reason="approval is not needed")
    family = held("cache", "family", lock_message="approval")
    store = Store.open(tmp_path / "imagebot.db")
    try:
        for row in (waiting, rejected, locked, family):
            fleet.save_workload(store, row.repository, row.workload, [row])
        approvals.decide(store, rejected, "rejected", user="bob")

        found = approvals.pending(store)
    finally:
        store.close()

    assert [(r.workload, r.held_by) for r in found] == [(waiting.workload, "approval")]
