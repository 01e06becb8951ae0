"""'Behind since': a row with a newer tag waiting keeps the time it started waiting from one
save of the Deploy view's rows to the next, so a forgotten lock shows its age."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from imagebot.operations import fleet
from imagebot.operations.fleet import FleetRow
from imagebot.store import Store


def row(*, behind: int, status: str = "held", latest: str = "1.0.1") -> FleetRow:
    return FleetRow(
        repository="fleet", workload="apps:deployment/web", namespace="apps",
        kind="Deployment", name="web", container="app", file="apps/web.yaml", line=9,
        image="ghcr.io/o/web:1.0.0", image_repository="ghcr.io/o/web", current="1.0.0",
        latest=latest, behind=behind, status=status, held_by="locked" if behind else None,
        reason="locked", policy="semver:~1.0", source="annotation:imagebot.io",
        automated=True, locked=True,
    )  # fmt: skip


def saved(store: Store) -> FleetRow:
    (found,) = fleet.query(store).rows
    return found


def test_a_held_row_keeps_the_time_it_fell_behind_across_saves(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        fleet.save(store, "fleet", [row(behind=1)])
        first = saved(store).behind_since
        fleet.save(store, "fleet", [row(behind=2, latest="1.0.2")])

        assert first is not None
        assert saved(store).behind_since == first


def test_a_row_that_caught_up_is_no_longer_behind(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        fleet.save(store, "fleet", [row(behind=1)])
        fleet.save(store, "fleet", [row(behind=0, status="up-to-date", latest="1.0.0")])
        caught_up = saved(store).behind_since
        fleet.save(store, "fleet", [row(behind=1)])

        assert caught_up is None
        assert saved(store).behind_since is not None


def test_behind_since_is_in_the_rows_json(tmp_path: Path):
    with Store.open(tmp_path / "s.db") as store:
        fleet.save(store, "fleet", [row(behind=1)])

        data = saved(store).to_dict()

    assert isinstance(data["behind_since"], str)
    assert data["diverged_since"] is None


def test_the_deploy_view_marks_a_diverged_workload_as_of_now(tmp_path: Path):
    from starlette.testclient import TestClient

    from imagebot.config import parse_config
    from imagebot.web import create_app

    config = parse_config(
        f"state_dir: {tmp_path / 'state'}\n"
        "repositories: [{url: 'file:///srv/fleet.git', name: fleet, divergence_after: 15m}]\n"
        "service: {webhooks: {flux: {type: flux, secret: s3cret}}}\n"
        "web: {anonymous_read: true}\n"
    )
    landed = time.time() - 1200  # 20 minutes ago, never applied
    with Store.open(tmp_path / "s.db") as store:
        fleet.save(store, "fleet", [row(behind=0, status="up-to-date", latest="1.0.0")])
        with store.transaction() as db:
            db.execute(
                "INSERT INTO history (time, repository, branch, target, mode, file, workload, "
                "container, image, old_tag, new_tag, commit_sha, pushed, landed_at) VALUES "
                "(?, 'fleet', 'main', 'main', 'direct', 'apps/web.yaml', 'apps:deployment/web', "
                "'app', 'ghcr.io/o/web', '0.9.0', '1.0.0', ?, 1, ?)",
                (landed, "c" * 40, landed),
            )
        with TestClient(create_app(config, store)) as client:
            api = client.get("/api/v1/workloads").json()
            page = client.get("/").text

    (found,) = api["rows"]
    assert datetime.fromisoformat(found["diverged_since"]).timestamp() == pytest.approx(landed)
    assert 'class="status s-diverged"' in page
