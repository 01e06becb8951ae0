"""The demo's Git side: a bare repository playing the forge, and the user's clone of it.

Git runs with the user's global and system configuration switched off, so a
``commit.gpgsign`` or hook template on the machine cannot change what the demo does, and
with a fixed author so the demo needs no ``git config`` first.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from imagebot.errors import ImagebotError

USER = ("Demo User", "demo@example.com")


class GitFailed(ImagebotError):
    """A git command of the demo's own failed: the command and git's message."""


def isolated_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """*base* (default: this process's) without user/system git config or imagebot settings."""
    env = {k: v for k, v in (base or os.environ).items() if not k.startswith("IMAGEBOT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=USER[0],
        GIT_AUTHOR_EMAIL=USER[1],
        GIT_COMMITTER_NAME=USER[0],
        GIT_COMMITTER_EMAIL=USER[1],
    )
    return env


def git(cwd: Path, *args: str) -> str:
    """Run git in *cwd*; its stdout, or :class:`GitFailed` with its stderr."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=isolated_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GitFailed(f"git {' '.join(args)} (in {cwd}) failed: {result.stderr.strip()}")
    return result.stdout


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def create_forge(bare: Path, clone: Path, commits: list[tuple[str, Mapping[str, bytes]]]) -> str:
    """A bare repository at *bare* and a clone at *clone* that made *commits* and pushed them.

    Each commit is (message, the whole tree's files). Returns the forge's ``file://`` URL.
    """
    bare.parent.mkdir(parents=True, exist_ok=True)
    git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    git(clone.parent, "init", "-q", "-b", "main", str(clone))
    for message, files in commits:
        write_files(clone, files)
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", message)
    url = bare.resolve().as_uri()
    git(clone, "remote", "add", "origin", url)
    git(clone, "push", "-q", "-u", "origin", "main")
    return url
