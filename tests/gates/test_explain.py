"""``explain`` and ``list-images --latest`` show each gate's verdict per tag and when a held
update becomes eligible; ``--output json`` carries the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.cli.ux_support import invoke, write_tree
from tests.harness import RegistryServer
from tests.update.helpers import automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)
GATES = {
    "imagebot.io/min-age.app": "2d",
    "imagebot.io/platforms.app": "linux/amd64",
}


def tree(tmp_path: Path, registry: RegistryServer, repo: str) -> Path:
    registry.push(repo, ["1.0.0"], created=T0)
    registry.push(repo, ["1.0.1"], created=T0, platforms=["linux/arm64"])
    registry.push(repo, ["1.0.2"], created=T0)
    notes = {**automated("semver:^1.0"), **GATES}
    image = f"{registry.host}/{repo}:1.0.0"
    return write_tree(tmp_path / "repo", {"app.yaml": deployment("web", image, annotations=notes)})


def json_output(tmp_path: Path, command: str, *args: str) -> Any:
    """``imagebot COMMAND --repo <tmp_path>/repo ARGS --output json``, parsed."""
    root = tmp_path / "repo"
    result = invoke(
        command, "--repo", str(root), *args, "--output", "json", state=tmp_path / "state"
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_explain_shows_each_gate_verdict_per_tag_and_the_waiting_time(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    root = tree(tmp_path, registry, repo_name)

    result = invoke("explain", "--repo", str(root), "apps:deployment/web", state=tmp_path / "state")

    assert result.exit_code == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert any(line.startswith("status up to date; 1.0.2 held, waits until ") for line in lines)
    assert "gates min age 2d; platforms linux/amd64; no platform of the current image lost" in lines
    (held,) = [line for line in lines if line.startswith("gate 1.0.2 ")]
    assert held.startswith("gate 1.0.2 age no: min age 2d: first seen ")
    assert held.endswith("; platforms ok: offers linux/amd64")
    (lacking,) = [line for line in lines if line.startswith("gate 1.0.1 ")]
    assert lacking.endswith("; platforms no: platforms: lacks linux/amd64")
    (row,) = [line for line in lines if line.startswith("1.0.1 gate ")]
    assert "linux/arm64" in row  # the gated tags' platforms are shown too


def test_explain_json_carries_the_gate_reports(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    tree(tmp_path, registry, repo_name)

    (container,) = json_output(tmp_path, "explain", "apps:deployment/web")["containers"]
    assert container["held"] == "1.0.2"
    assert container["eligible_at"] is not None
    assert container["gates"] == {
        "min_age": "2d",
        "age_source": "seen",
        "platforms": ["linux/amd64"],
        "keep_platforms": True,
        "verify": None,
    }
    reports = {r["tag"]: r for r in container["gate_reports"]}
    assert reports["1.0.1"]["checks"][1] == {
        "gate": "platforms",
        "passed": False,
        "detail": "platforms: lacks linux/amd64",
        "until": None,
    }
    gated = {c["tag"]: c["category"] for c in container["candidates"]}
    assert gated["1.0.2"] == gated["1.0.1"] == "gate"


def test_list_images_latest_says_which_tag_waits_and_until_when(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    tree(tmp_path, registry, repo_name)

    (row,) = json_output(tmp_path, "list-images", "--latest")
    assert row["held"] == "1.0.2"
    assert row["eligible_at"] is not None
    assert row["status"].startswith("up to date; 1.0.2 held, waits until ")
