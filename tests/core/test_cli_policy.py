"""``imagebot policy test``: the policy engine from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner, Result

from imagebot.cli import cli
from imagebot.cli.cmd_policy import command


def run(*args: str) -> Result:
    return CliRunner().invoke(command, ["test", *args])


def test_policy_is_a_group_with_a_test_subcommand() -> None:
    assert isinstance(command, click.Group)
    assert command.name == "policy"
    assert "test" in command.commands


def test_policy_group_is_registered_on_the_imagebot_command() -> None:
    assert cli.commands["policy"] is command


def test_prints_the_selected_tag_alone_and_exits_0() -> None:
    result = run("semver:~1.2", "1.2.3", "1.2.4", "1.3.0")
    assert result.exit_code == 0
    assert result.stdout == "1.2.4\n"
    assert result.stderr == ""


def test_no_qualifying_tag_exits_1_with_a_one_line_reason_on_stderr() -> None:
    result = run("semver:~1.2", "2.0.0", "1.3.0")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "no tag qualifies under semver:~1.2" in result.stderr


def test_current_tag_counts_as_a_candidate() -> None:
    result = run("--current", "1.2.5", "semver:~1.2", "1.2.3", "1.2.4")
    assert (result.exit_code, result.stdout) == (0, "1.2.5\n")


def test_current_tag_outside_the_policy_stays_when_nothing_ranks_above() -> None:
    result = run("--current", "2.0.0", "semver:~1.2", "1.2.3")
    assert (result.exit_code, result.stdout) == (0, "2.0.0\n")


def test_current_tag_sets_the_family() -> None:
    tags = ("1.25.4", "1.25.4-alpine", "1.25.5-bookworm")
    result = run("--current", "1.25.3-alpine", "semver:~1.25", *tags)
    assert result.stdout == "1.25.4-alpine\n"


def test_no_family_lets_the_policy_leave_the_family() -> None:
    result = run("--current", "1.25.3-alpine", "--no-family", "semver:~1.25", "1.25.4")
    assert result.stdout == "1.25.4\n"


def test_invalid_policy_exits_2_with_a_clear_error() -> None:
    result = run("semvr:~1.2", "1.2.3")
    assert result.exit_code == 2
    assert "unknown policy kind 'semvr'" in result.stderr


def test_invalid_constraint_exits_2() -> None:
    result = run("semver:>=1.0,", "1.2.3")
    assert result.exit_code == 2
    assert "invalid semver constraint" in result.stderr


def test_invalid_filter_regex_exits_2() -> None:
    result = run("--filter", "main-(", "glob:*", "main-1")
    assert result.exit_code == 2
    assert "invalid filter regex 'main-('" in result.stderr


def test_filter_and_extract_compare_extracted_values() -> None:
    tags = ("main-3f2a9c1-1700000000", "main-0b1c2d3-1700000100", "dev-1-1800000000")
    result = run(
        "--filter", "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "--extract", "$ts", "numerical:asc", *tags
    )
    assert result.stdout == "main-0b1c2d3-1700000100\n"


def test_tag_with_a_build_time_ranks_by_it() -> None:
    result = run("glob:*", "a@2024-05-01T12:00:00Z", "b@2024-04-01T12:00:00Z", "c")
    assert result.stdout == "a\n"


def test_build_time_with_an_offset_is_an_instant() -> None:
    result = run("glob:*", "a@2024-05-01T13:00:00+02:00", "b@2024-05-01T12:00:00Z")
    assert result.stdout == "b\n"


def test_unreadable_build_time_exits_2() -> None:
    result = run("glob:*", "a@yesterday")
    assert result.exit_code == 2
    assert "cannot read build time 'yesterday'" in result.stderr


def test_invalid_oci_tag_is_ignored_with_a_warning() -> None:
    result = run("glob:*", "Not_A:Tag", "ok")
    assert (result.exit_code, result.stdout) == (0, "ok\n")
    assert "warning: ignoring 'Not_A:Tag'" in result.stderr


def test_invalid_current_tag_exits_2() -> None:
    result = run("--current", "bad tag", "glob:*", "ok")
    assert result.exit_code == 2


def test_explain_lists_every_tag_with_why_on_stderr() -> None:
    result = run("--explain", "semver:~1.2", "1.2.3", "1.2.4", "1.3.0", "latest")
    assert result.stdout == "1.2.4\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "policy: semver:~1.2"
    body = "\n".join(lines)
    assert "kept     1.2.4   selected: the highest qualifying version" in body
    assert "kept     1.2.3   older: ranks below 1.2.4" in body
    assert "rejected 1.3.0   policy: 1.3.0 does not satisfy ~1.2" in body
    assert "rejected latest  latest:" in body
    assert lines[-1].startswith("decision: 1.2.4 is the highest qualifying version")


def test_json_output_carries_the_decision() -> None:
    result = run("-o", "json", "--current", "1.2.3", "semver:~1.2", "1.2.4")
    data = json.loads(result.stdout)
    assert (data["policy"], data["tag"], data["current"], data["changed"]) == (
        "semver:~1.2",
        "1.2.4",
        "1.2.3",
        True,
    )
    assert {v["tag"] for v in data["verdicts"]} == {"1.2.3", "1.2.4"}


def test_installed_command_runs_as_a_program() -> None:
    program = Path(sys.executable).with_name("imagebot")
    assert program.exists(), f"{program} is missing: run ./dev setup"
    ok = subprocess.run(
        [
            str(program),
            "policy",
            "test",
            "--current",
            "1.25.3-alpine",
            "semver:~1.25",
            "1.25.4",
            "1.25.4-alpine",
            "bad!",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ok.returncode, ok.stdout) == (0, "1.25.4-alpine\n")
    assert "warning: ignoring 'bad!'" in ok.stderr
    none = subprocess.run(
        [str(program), "policy", "test", "semver:~9", "1.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (none.returncode, none.stdout) == (1, "")
    assert "no tag qualifies" in none.stderr
    bad = subprocess.run(
        [str(program), "policy", "test", "regex:(", "1.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "imagebot: error: invalid policy regex '('" in bad.stderr
