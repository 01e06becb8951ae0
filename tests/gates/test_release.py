"""A manual ``release`` passes the supply-chain gates too, or goes past them only with
``--force``, which the history records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli.workload_support import invoke, isolate
from tests.gitops.helpers import Remote, make_remote
from tests.harness import RegistryServer
from tests.update.helpers import deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path, monkeypatch)


def app(image: str, gate: str, value: str) -> bytes:
    return deployment(
        "app", image, annotations={f"imagebot.io/{gate}.app": value}, namespace="team"
    )


def remote_with(tmp_path: Path, content: bytes) -> Remote:
    where = tmp_path / "apps"
    where.mkdir()
    return make_remote(where, {"app.yaml": content})


def history() -> list[dict]:
    result = invoke("history", "--output", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_release_of_a_tag_too_young_is_refused_without_force(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0", "1.1"], created=T0)
    content = app(f"{registry.host}/{repo_name}:1.0", "min-age", "2d")
    remote = remote_with(tmp_path, content)
    tip = remote.tip()

    result = invoke("release", "team:deployment/app", "-t", "1.1", "--repo", remote.url)

    assert result.exit_code == 1
    assert "is held by the supply-chain gates: min age 2d: first seen" in result.stderr
    assert "waits until" in result.stderr
    assert "--force" in result.stderr
    assert remote.tip() == tip
    assert history() == []


def test_a_forced_release_past_the_gates_is_recorded_as_forced(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0"], created=T0)
    registry.push(repo_name, ["1.1"], created=T0, platforms=["linux/arm64"])
    content = app(f"{registry.host}/{repo_name}:1.0", "platforms", "linux/amd64")
    remote = remote_with(tmp_path, content)

    result = invoke("release", "team:deployment/app", "-t", "1.1", "--force", "--repo", remote.url)

    assert result.exit_code == 0, result.output
    assert remote.read("app.yaml") == content.replace(b":1.0   #", b":1.1   #")
    assert "released with --force past the supply-chain gates: platforms: lacks linux/amd64" in (
        result.stdout
    )
    (entry,) = history()
    assert (entry["new_tag"], entry["mode"]) == ("1.1", "release-forced")


def test_a_release_the_gates_pass_is_an_ordinary_release(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(repo_name, ["1.0", "1.1"], created=T0, platforms=["linux/amd64"])
    content = app(f"{registry.host}/{repo_name}:1.0", "platforms", "linux/amd64")
    remote = remote_with(tmp_path, content)

    result = invoke("release", "team:deployment/app", "-t", "1.1", "--repo", remote.url)

    assert result.exit_code == 0, result.output
    (entry,) = history()
    assert entry["mode"] == "release"
