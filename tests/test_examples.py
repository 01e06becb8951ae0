"""The migration examples (``examples/flux-v2``, ``examples/keel``): each repository, laid out
as that tool's users lay it out, is pushed to a bare remote unchanged; ``imagebot scan``
against a local registry holding the tags below must leave exactly the files the tool would
have written (``expected/``, checked in) and, for Flux, the commit Flux would have made."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.gitops.helpers import Remote, git, make_remote
from tests.harness import RegistryServer, start_registry
from tests.update.helpers import IMAGEBOT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: What the registries hold: repository -> tags, oldest build first.
TAGS = {
    "flux-v2": {
        "stefanprodan/podinfo": ["6.0.0", "6.0.1", "6.1.0", "6.2.0-rc.1", "7.0.0"],
        "library/redis": ["7.2.3-alpine", "7.2.4-alpine", "7.2.10-alpine", "7.4.0-alpine"],
    },
    "keel": {
        "keelhq/push-workflow-example": ["0.1.2", "0.1.3", "0.2.0", "1.0.0"],
        "library/redis": ["7.2.3", "7.2.4", "7.4.0", "8.0.0"],
        "library/busybox": ["1.36.0", "1.36.1"],
        "example/api": ["build-41", "build-42"],
        "example/frontend": ["v1.9.0", "v1.10.0", "v2.0.0"],
        "envoyproxy/envoy": ["v1.29.1", "v1.30.0"],
        "example/report": ["2024.01", "2024.02", "2025.01", "latest"],
    },
}


@pytest.fixture
def hub(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RegistryServer]:
    """One registry standing in for Docker Hub and ghcr.io (as their mirror)."""
    with start_registry(tmp_path / "hub", auth="none") as server:
        for repository, tags in TAGS[request.param].items():
            for age, tag in enumerate(tags):
                server.push(repository, [tag], created=T0 + timedelta(days=age))
        yield server


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def scan(tmp_path: Path, hub: RegistryServer, remote: Remote) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\nregistries:\n"
        f"  docker.io:\n    mirror: {hub.url}\n  ghcr.io:\n    mirror: {hub.url}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    return subprocess.run(
        [IMAGEBOT, "scan", "--config", str(config), "--repo", remote.url],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def run_example(name: str, tmp_path: Path, hub: RegistryServer) -> tuple[Remote, dict[str, bytes]]:
    example = EXAMPLES / name
    original = files_of(example / "repository")
    (tmp_path / "remote").mkdir()
    remote = make_remote(tmp_path / "remote", original)

    result = scan(tmp_path, hub, remote)

    assert result.returncode == 0, result.stdout + result.stderr
    expected = files_of(example / "expected")
    for path, data in original.items():
        assert remote.read(path) == expected.get(path, data), path
    assert set(expected) <= set(original)
    return remote, expected


@pytest.mark.slow
@pytest.mark.parametrize("hub", ["flux-v2"], indirect=True)
def test_a_flux_v2_repository_gets_the_files_and_the_commit_flux_would_write(
    tmp_path: Path, hub: RegistryServer
):
    remote, _ = run_example("flux-v2", tmp_path, hub)

    commit = git(remote.path, "log", "-1", "--format=%an <%ae>%n%B", "refs/heads/main")
    assert commit + "\n" == (EXAMPLES / "flux-v2" / "expected-commit.txt").read_text()
    assert remote.count() == 2  # one commit on top of the original


@pytest.mark.slow
@pytest.mark.parametrize("hub", ["keel"], indirect=True)
def test_a_keel_repository_gets_the_tags_keel_would_deploy(tmp_path: Path, hub: RegistryServer):
    remote, expected = run_example("keel", tmp_path, hub)

    assert sorted(expected) == [
        "deployments/frontend.yaml",
        "deployments/redis.yaml",
        "deployments/wd.yaml",
        "jobs/report.yaml",
    ]
    assert remote.count() == 2
