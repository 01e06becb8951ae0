"""The README's promises are checked: its first two commands, CI running the same, docs current."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from imagebot.cli.cmd_config import reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_opens_with_the_demo_and_test_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    assert README.index("```sh") < README.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec \./dev test$", ci, re.M)


def test_the_dev_script_knows_both_commands():
    result = subprocess.run(
        ["sh", str(ROOT / "dev"), "nonsense"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "demo" in result.stderr
    assert "test" in result.stderr


def test_the_configuration_reference_is_up_to_date():
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert reference_markdown() in text, "run: imagebot config reference > docs/configuration.md"


def test_every_command_the_readme_lists_exists():
    from imagebot.cli import cli

    listed = set(re.findall(r"^\| `imagebot ([a-z-]+)", README, re.M))
    assert listed, "the README lists its commands in a table"
    assert listed <= set(cli.commands), listed - set(cli.commands)


def test_every_command_is_in_the_readme():
    from imagebot.cli import cli

    documented = set(re.findall(r"`imagebot ([a-z-]+)", README))
    missing = set(cli.commands) - documented
    assert not missing, f"commands missing from the README: {sorted(missing)}"


def test_the_configuration_reference_lists_the_allowed_notification_events():
    text = (ROOT / "docs" / "configuration.md").read_text()
    (row,) = [
        line for line in text.splitlines() if line.startswith("| `repositories[].notify[].on`")
    ]
    assert "'update', 'failure'" in row
