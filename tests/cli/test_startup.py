"""Commands load only what they use: offline commands never import the registry client,
YAML, metrics or the terminal UI, and the command list needs no command imported."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from imagebot.cli import SUMMARIES, command_modules
from imagebot.cli.lazy import LazyGroup

HEAVY = ("httpx", "ruamel", "prometheus_client", "rich", "apscheduler", "sqlite3")

#: Runs the CLI as the console script does, then writes the modules it imported.
DRIVER = """
import atexit, json, os, sys
atexit.register(
    lambda: open(os.environ["MODULES_OUT"], "w").write(json.dumps(sorted(sys.modules)))
)
from imagebot.cli import main
sys.argv[0] = "imagebot"
main()
"""


def imported_by(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    out = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        env={**os.environ, **(env or {}), "MODULES_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return {name.partition(".")[0] for name in json.loads(out.read_text())}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("policy", "test", "semver:~1.2", "1.2.3", "1.2.4", "1.3.0"),
        ("policy", "test", "--explain", "--current", "1.2.3", "glob:1.*", "1.2.4"),
        ("completion", "bash"),
    ],
    ids=" ".join,
)
def test_offline_commands_import_no_registry_yaml_metrics_or_terminal_ui(
    tmp_path: Path, args: tuple[str, ...]
):
    loaded = imported_by(tmp_path, *args)

    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_completing_a_command_name_imports_no_command(tmp_path: Path):
    env = {"_IMAGEBOT_COMPLETE": "bash_complete", "COMP_WORDS": "imagebot po", "COMP_CWORD": "1"}

    loaded = imported_by(tmp_path, env=env)

    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_still_runs_everything_it_needs(tmp_path: Path):
    loaded = imported_by(tmp_path, "tags", "--help")

    assert "httpx" in loaded  # the check above can see a heavy import when there is one


def test_every_command_module_is_a_command_named_after_its_file():
    for name, module in command_modules().items():
        command = importlib.import_module(module).command
        assert isinstance(command, click.Command)
        assert command.name == name, module


def test_the_command_summaries_are_the_commands_own_help():
    modules = command_modules()
    for name, module in modules.items():
        command = importlib.import_module(module).command
        first = (command.short_help or command.help or "").split("\n\n")[0]
        assert name in SUMMARIES, f'add to imagebot/cli/__init__.py SUMMARIES: "{name}": "{first}"'
        assert SUMMARIES[name] == " ".join(first.split()), f"SUMMARIES[{name!r}] is stale"
    assert set(SUMMARIES) <= set(modules)


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_the_command_list_reads_as_click_prints_it_for_the_commands_themselves(width: int):
    modules = command_modules()
    lazy = LazyGroup(
        "imagebot",
        lazy={name: f"{module}:command" for name, module in modules.items()},
        summaries=SUMMARIES,
    )
    eager = click.Group("imagebot")
    for name, module in modules.items():
        eager.add_command(importlib.import_module(module).command, name)

    def listing(group: click.Group) -> str:
        formatter = click.HelpFormatter(width=width)
        with click.Context(group, info_name="imagebot") as ctx:
            group.format_commands(ctx, formatter)
        return formatter.getvalue()

    assert listing(lazy) == listing(eager)
    assert lazy.commands.loaded == {}  # and it imported none of them
