"""Progress while registries are asked: ``resolve(progress=...)`` and the bar on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagebot.manifests import scan_bytes
from imagebot.update import resolve
from tests.cli.ux_support import IMAGEBOT, clean_env, write_tree
from tests.gitops.helpers import isolate_git
from tests.harness import RegistryServer
from tests.update.helpers import Bot, automated, deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def bot(tmp_path: Path, registry: RegistryServer):
    with Bot(tmp_path, registry) as b:
        yield b


def sites(bot: Bot, repo_name: str):
    """Three repositories: a semver one, a build-time one (glob), a digest-pinned one."""
    bot.registry.push(f"{repo_name}/semver", ["1.0.0", "1.0.1"], created=T0)
    for day in range(3):
        bot.registry.push(f"{repo_name}/nightly", f"build-{day}", created=T0 + timedelta(days=day))
    pushed = bot.registry.push(f"{repo_name}/pinned", "2.0.0", created=T0)
    pinned = f"{bot.image(f'{repo_name}/pinned', '2.0.0')}@{pushed.digest}"
    docs = [
        deployment(
            "a", bot.image(f"{repo_name}/semver", "1.0.0"), annotations=automated("semver:~1.0")
        ),
        deployment(
            "b", bot.image(f"{repo_name}/nightly", "build-0"), annotations=automated("glob:build-*")
        ),
        deployment("c", pinned, annotations=automated("semver:~2.0")),
    ]
    return scan_bytes(b"---\n".join(docs)).sites


def test_resolve_reports_each_stage_from_start_to_end(bot: Bot, repo_name: str):
    events: list[tuple[str, int, int]] = []

    bot.runner.run(
        resolve(sites(bot, repo_name), bot.runner.scanner, progress=lambda *e: events.append(e))
    )

    stages = list(dict.fromkeys(stage for stage, _, _ in events))
    assert stages == ["tags", "build-times", "digests"]
    for stage in stages:
        seen = [(done, total) for s, done, total in events if s == stage]
        total = seen[0][1]
        assert seen[0] == (0, total)
        assert seen[-1] == (total, total)
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    totals = {stage: total for stage, _, total in events}
    assert totals == {"tags": 3, "build-times": 3, "digests": 1}  # build-0..2 ranked by time


def test_a_failing_progress_callback_changes_nothing(bot: Bot, repo_name: str):
    def broken(stage: str, done: int, total: int) -> None:
        raise RuntimeError("terminal went away")

    resolved = bot.runner.run(resolve(sites(bot, repo_name), bot.runner.scanner, progress=broken))

    assert [r.new_tag for r in resolved.resolutions] == ["1.0.1", "build-2", None]
    assert [r.status for r in resolved.resolutions] == ["update", "update", "up-to-date"]


def imagebot(*args: str, state: Path, terminal: bool, **env: str) -> tuple[str, str]:
    """(stdout, stderr) of ``imagebot ARGS`` with stderr on a terminal or on a pipe."""
    environment = clean_env(state, TERM="xterm-256color", COLUMNS="100", **env)
    environment.pop("NO_COLOR", None)
    command = [IMAGEBOT, *args]
    if not terminal:
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, check=False
        )
        return result.stdout, result.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=environment)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out, _ = process.communicate(timeout=60)
    return out.decode(), seen.decode("utf-8", "replace")


def list_latest(root: Path, state: Path, *args: str, terminal: bool) -> tuple[str, str]:
    return imagebot(
        "list-images", "--repo", str(root), "--latest", *args, state=state, terminal=terminal
    )


@pytest.fixture
def checkout(tmp_path: Path, registry: RegistryServer, repo_name: str) -> Path:
    registry.push(f"{repo_name}/app", ["1.0.0", "1.0.1"], created=T0)
    image = f"{registry.host}/{repo_name}/app:1.0.0"
    return write_tree(
        tmp_path / "repo", {"a.yaml": deployment("a", image, annotations=automated("semver:~1.0"))}
    )


def test_a_terminal_gets_a_progress_bar_on_stderr_and_stdout_stays_clean(
    checkout: Path, tmp_path: Path
):
    out, err = list_latest(checkout, tmp_path / "state", terminal=True)

    assert "Listing tags" in err
    assert "1/1" in err
    assert "Listing tags" not in out
    assert "\x1b[" not in out
    assert "update available" in out


def test_no_bar_on_a_pipe(checkout: Path, tmp_path: Path):
    out, err = list_latest(checkout, tmp_path / "state", terminal=False)

    assert "Listing tags" not in err
    assert "\x1b[" not in err + out


def test_no_bar_with_json_output_even_on_a_terminal(checkout: Path, tmp_path: Path):
    out, err = list_latest(checkout, tmp_path / "state", "--output", "json", terminal=True)

    assert "Listing tags" not in err
    assert out.startswith("[")


def test_scan_shows_the_bar_while_it_asks_the_registries(checkout: Path, tmp_path: Path):
    git_env = isolate_git(tmp_path / "home")
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "app"]):
        subprocess.run(["git", *command], cwd=checkout, env=git_env, check=True)

    out, err = imagebot(
        "scan",
        "--repo",
        str(checkout),
        "--dry-run",
        state=tmp_path / "state",
        terminal=True,
        **git_env,
    )

    assert "Listing tags" in err
    assert "1.0.0 -> 1.0.1" in out
