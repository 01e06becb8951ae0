"""Running ``imagebot`` as a user would, for the CLI experience tests (explain, check,
completion, errors, history, progress): in a subprocess, or in-process with click's runner,
always with a private state directory and no configuration from the environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner, Result

from imagebot.cli import cli

IMAGEBOT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "imagebot")


def clean_env(state: Path, **extra: str) -> dict[str, str]:
    """The environment without any ``IMAGEBOT_*`` setting, with *state* as state directory,
    and without the terminal size some test runners export (pytest-xdist: ``COLUMNS=80``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEBOT_", "_IMAGEBOT")) and k not in ("COLUMNS", "LINES")
    }
    env["IMAGEBOT_STATE_DIR"] = str(state)
    env.update(extra)
    return env


def run(
    *args: str, state: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``imagebot ARGS`` in a subprocess (what a shell or a CI job sees)."""
    return subprocess.run(
        [IMAGEBOT, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(state, **(env or {})),
        timeout=120,
        check=False,
    )


def invoke(*args: str, state: Path) -> Result:
    """``imagebot ARGS`` in this process (faster; stdout and stderr kept apart)."""
    env = {"IMAGEBOT_CONFIG": "", "IMAGEBOT_STATE_DIR": str(state)}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
    return root
