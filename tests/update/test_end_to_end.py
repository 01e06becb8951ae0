"""End to end through the CLI: Flux v1's getting-started repository, unchanged, with a real
registry standing in for Docker Hub as its mirror and a bare Git remote."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.workload_support import seed_fleet
from tests.gitops.helpers import Remote, git
from tests.harness import RegistryServer, start_registry
from tests.update.helpers import IMAGEBOT

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[RegistryServer]:
    """A registry holding the Docker Hub images the repository uses, plus newer tags."""
    with start_registry(tmp_path / "hub", auth="none") as server:
        day = timedelta(days=1)
        server.push("library/alpine", ["3.10.1"], created=T0)
        server.push("library/alpine", ["3.10.2"], created=T0 + day)
        server.push("library/alpine", ["3.10.3"], created=T0 + 2 * day)
        server.push("library/alpine", ["3.11.0"], created=T0 + 3 * day)
        server.push(
            "stefanprodan/podinfo", ["3.1.0", "3.1.1", "3.1.2", "3.2.0", "4.0.0"], created=T0
        )
        server.push("bitnami/ghost", ["3.1.1-debian-9-r0", "3.1.1-debian-9-r1"], created=T0)
        server.push("bitnami/mongodb", ["4.0.13", "4.0.14"], created=T0)
        server.push("bitnami/redis", ["5.0.7", "5.0.8"], created=T0)
        yield server


@pytest.fixture
def fleet(tmp_path: Path) -> Remote:
    return seed_fleet(tmp_path)


def scan(tmp_path: Path, hub: RegistryServer, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\nregistries:\n  docker.io:\n    mirror: {hub.url}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    return subprocess.run(
        [IMAGEBOT, "scan", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def changed_lines(remote: Remote, path: str) -> list[str]:
    diff = git(remote.path, "diff", "-U0", "main~1", "main", "--", path)
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.slow
def test_flux_get_started_moves_exactly_as_its_annotations_say(
    tmp_path: Path, hub: RegistryServer, fleet: Remote
):
    before = fleet.tip()

    result = scan(tmp_path, hub, "--repo", fleet.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert fleet.count() == 2
    assert git(fleet.path, "diff", "--name-only", before, "main").splitlines() == [
        "workloads/podinfo-dep.yaml"
    ]
    assert changed_lines(fleet, "workloads/podinfo-dep.yaml") == [
        "-        image: alpine:3.10.1",
        "+        image: alpine:3.10.3",
        "-        image: stefanprodan/podinfo:3.1.0",
        "+        image: stefanprodan/podinfo:3.1.2",
    ]
    message = git(fleet.path, "log", "-1", "--format=%B")
    assert "workloads/podinfo-dep.yaml: Deployment/demo/podinfo init 3.10.1 -> 3.10.3" in message
    assert "workloads/podinfo-dep.yaml: Deployment/demo/podinfo podinfod 3.1.0 -> 3.1.2" in message
    # The Helm chart's templates are listed as skipped, not failures.
    assert "charts/ghost/templates/deployment.yaml" in result.stdout


@pytest.mark.slow
def test_flux_get_started_plan_in_json_names_every_workload_status(
    tmp_path: Path, hub: RegistryServer, fleet: Remote
):
    result = scan(tmp_path, hub, "--repo", fleet.url, "--dry-run", "--output", "json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = {(i["file"], i["container"]): i["status"] for i in report["images"]}
    assert statuses == {
        ("workloads/podinfo-dep.yaml", "init"): "update",
        ("workloads/podinfo-dep.yaml", "podinfod"): "update",
        ("releases/ghost.yaml", "chart-image"): "not-automated",
        ("releases/mongodb.yaml", "chart-image"): "not-automated",
        ("releases/redis.yaml", "chart-image"): "locked",
        ("charts/ghost/values.yaml", "chart-image"): "not-automated",
        ("charts/ghost/values.yaml", "volumePermissions"): "not-automated",
    }
    assert fleet.count() == 1
    assert "+        image: stefanprodan/podinfo:3.1.2" in report["diff"]


def test_scan_exits_2_for_a_bad_config(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("registries:\n  docker.io:\n    rate_limt: 1\n")

    result = subprocess.run(
        [IMAGEBOT, "scan", "--config", str(config), "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert "bad.yaml:3: registries.docker.io.rate_limt: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_exits_1_when_a_registry_cannot_be_read(tmp_path: Path, hub: RegistryServer):
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "a.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n"
        "  annotations:\n    fluxcd.io/automated: 'true'\n"
        "spec:\n  template:\n    spec:\n      containers:\n"
        "      - name: a\n        image: 127.0.0.1:9/x/y:1.0.0\n"
    )
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "init")

    result = scan(tmp_path, hub, "--repo", str(work))

    assert result.returncode == 1
    assert "127.0.0.1:9" in result.stdout
    assert "Traceback" not in result.stderr
