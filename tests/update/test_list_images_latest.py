"""`imagebot list-images --latest`: the tag each policy picks, from the real registry."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.harness import RegistryServer
from tests.update.helpers import IMAGEBOT, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def list_images(root: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    env["IMAGEBOT_STATE_DIR"] = str(state)
    return subprocess.run(
        [IMAGEBOT, "list-images", "--repo", str(root), "--latest", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_latest_adds_the_picked_tag_and_a_status_per_image(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1", "2.0.0"], created=T0)
    image = f"{registry.host}/{repo_name}/app"
    root = tmp_path / "repo"
    root.mkdir()
    (root / "auto.yaml").write_bytes(
        deployment("auto", f"{image}:1.0.0", annotations=automated("semver:~1.0"))
    )
    (root / "current.yaml").write_bytes(
        deployment("current", f"{image}:1.0.1", annotations=automated("semver:~1.0"))
    )
    (root / "locked.yaml").write_bytes(
        deployment(
            "locked",
            f"{image}:1.0.0",
            annotations={**automated("semver:*"), "imagebot.io/locked": "true"},
        )
    )
    (root / "down.yaml").write_bytes(
        deployment("down", "127.0.0.1:9/x/y:1.0.0", annotations=automated("semver:*"))
    )

    result = list_images(root, tmp_path / "state", "--output", "json")

    assert result.returncode == 1, result.stderr  # the unreachable registry
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert (rows["auto"]["latest"], rows["auto"]["status"]) == ("1.0.1", "update available")
    assert (rows["current"]["latest"], rows["current"]["status"]) == ("1.0.1", "up to date")
    assert (rows["locked"]["latest"], rows["locked"]["status"]) == ("2.0.0", "locked")
    assert rows["down"]["status"] == "error"
    assert "127.0.0.1:9" in rows["down"]["error"]


def test_latest_table_has_latest_and_status_columns(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1"], created=T0)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.yaml").write_bytes(
        deployment(
            "a", f"{registry.host}/{repo_name}/app:1.0.0", annotations=automated("semver:~1.0")
        )
    )

    result = list_images(root, tmp_path / "state")

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[-2:] == ["LATEST", "STATUS"]
    assert row.split()[-3:] == ["1.0.1", "update", "available"]
