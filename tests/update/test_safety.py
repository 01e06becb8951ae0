"""Safety of the whole cycle: kills at any moment, and credentials that never leak."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.gitops.helpers import git
from tests.harness import ADMIN_PASSWORD, ADMIN_USER, RegistryServer
from tests.update.helpers import IMAGEBOT, Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def scan_command(config: Path, remote_url: str, *extra: str) -> list[str]:
    return [IMAGEBOT, "-v", "scan", "--config", str(config), "--repo", remote_url, *extra]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}


@pytest.mark.slow
def test_a_scan_killed_at_any_moment_leaves_everything_consistent_and_the_next_run_finishes(
    tmp_path: Path, registry: RegistryServer, repo_name: str
):
    image = f"{repo_name}/app"
    registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    files = {
        f"apps/w{i}.yaml": deployment(
            f"w{i}", f"{registry.host}/{image}:1.0.0", annotations=automated("semver:~1.0")
        )
        for i in range(6)
    }
    bot = Bot(tmp_path, registry)
    remote = bot.remote(files)
    bot.close()
    config = tmp_path / "imagebot.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    command = scan_command(config, remote.url)
    initial = remote.tip()

    started = time.monotonic()
    subprocess.run(command, capture_output=True, env=clean_env(), check=True)
    full = time.monotonic() - started
    git(remote.path, "update-ref", "refs/heads/main", initial)  # undo: start over

    # Kill runs at moments spread over a whole run, then check the invariants each time.
    for step in range(8):
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env()
        )
        time.sleep(full * step / 8)
        process.send_signal(signal.SIGKILL)
        process.wait()
        tip = remote.tip()
        if tip != initial:
            # A commit made it: one whole commit on top, every file updated.
            assert git(remote.path, "rev-parse", f"{tip}^") == initial
            for path in files:
                assert b":1.0.1" in remote.read(path)
            git(remote.path, "update-ref", "refs/heads/main", initial)
        git(remote.path, "fsck", "--no-dangling")

    final = subprocess.run(command, capture_output=True, text=True, env=clean_env(), check=False)

    assert final.returncode == 0, final.stdout + final.stderr
    assert remote.count() == 2
    for path in files:
        assert remote.read(path).count(b":1.0.1") == 1


def test_registry_credentials_never_appear_in_output_commits_or_the_store(
    tmp_path: Path, basic_registry: RegistryServer, repo_name: str
):
    image = f"{repo_name}/private"
    basic_registry.push(image, ["1.0.0", "1.0.1"], created=T0)
    bot = Bot(tmp_path, basic_registry)
    remote = bot.remote(
        {
            "a.yaml": deployment(
                "a", f"{basic_registry.host}/{image}:1.0.0", annotations=automated("semver:~1.0")
            )
        }
    )
    bot.close()
    config = tmp_path / "imagebot.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"registries:\n  {basic_registry.host}:\n"
        f"    username: {ADMIN_USER}\n    password: {ADMIN_PASSWORD}\n"
    )

    result = subprocess.run(
        [IMAGEBOT, "-v", "-v", "scan", "--config", str(config), "--repo", remote.url],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    history = subprocess.run(
        [IMAGEBOT, "history", "--config", str(config), "--output", "json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )

    assert result.returncode == 0, result.stderr
    message = git(remote.path, "log", "-1", "--format=%B")
    assert "1.0.0 -> 1.0.1" in message
    for text in (result.stdout, result.stderr, message, history.stdout):
        assert ADMIN_PASSWORD not in text
    for file in (tmp_path / "state").rglob("*"):
        if file.is_file():
            assert ADMIN_PASSWORD.encode() not in file.read_bytes(), file
