"""For the fluxctl-style command tests: run the CLI in-process against real Git remotes.

(Plain functions rather than a conftest: tests/cli is shared with other command tests.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from imagebot.cli import cli
from tests.gitops.helpers import Remote, git, use_isolated_git

GET_STARTED = Path(__file__).resolve().parents[1] / "corpus" / "fluxcd__flux-get-started"
PERSON = "Test Person <person@example.test>"  # the isolated git config's user


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No git config, imagebot config or state from the machine; cwd is the test's."""
    use_isolated_git(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("IMAGEBOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def seed_fleet(tmp_path: Path) -> Remote:
    """A bare remote whose main holds Flux v1's getting-started repository, unchanged."""
    seed = tmp_path / "seed"
    shutil.copytree(GET_STARTED, seed)
    bare = tmp_path / "fleet.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "flux-get-started")
    git(seed, "push", "-q", str(bare), "main")
    return Remote(bare)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def original(path: str) -> bytes:
    return (GET_STARTED / path).read_bytes()


def message(remote: Remote, ref: str = "main") -> str:
    return git(remote.path, "log", "-1", "--format=%B", ref)


def changed_files(remote: Remote, ref: str = "main") -> list[str]:
    return git(remote.path, "diff", "--name-only", f"{ref}~1", ref).splitlines()
