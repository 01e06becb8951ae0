"""Shell completion: ``imagebot completion SHELL`` and WORKLOAD names from the checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.ux_support import IMAGEBOT, clean_env, invoke, run, write_tree
from tests.update.helpers import deployment

SCRIPT_MARKS = {
    "bash": "complete -o nosort -F _imagebot_completion imagebot",
    "zsh": "#compdef imagebot",
    "fish": "complete --no-files --command imagebot",
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    files = {
        "web.yaml": deployment("web", "nginx:1.25", namespace="apps"),
        "api.yaml": deployment("api", "ghcr.io/org/api:1.0", namespace="apps", container="server"),
        "api-staging.yaml": deployment("api", "ghcr.io/org/api:1.0", namespace="staging"),
    }
    return write_tree(tmp_path / "repo", files)


def complete(shell: str, words: str, cwd: Path, state: Path) -> list[str]:
    """What ``imagebot`` answers its completion script when Tab is pressed after *words*
    (click's protocol: bash and zsh pass the word index, fish the word being typed)."""
    current = words.split(" ")[-1]
    cword = current if shell == "fish" else str(len(words.split(" ")) - 1)
    env = {"COMP_WORDS": words, "COMP_CWORD": cword, "_IMAGEBOT_COMPLETE": f"{shell}_complete"}
    result = run(state=state, cwd=cwd, env=env)
    assert result.returncode == 0
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize("shell", sorted(SCRIPT_MARKS))
def test_completion_prints_the_script_for_each_shell(shell: str, tmp_path: Path):
    result = invoke("completion", shell, state=tmp_path)

    assert result.exit_code == 0
    assert SCRIPT_MARKS[shell] in result.stdout
    assert "_IMAGEBOT_COMPLETE" in result.stdout


def test_an_unknown_shell_is_a_usage_error(tmp_path: Path):
    result = invoke("completion", "tcsh", state=tmp_path)

    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def test_the_bash_script_completes_commands_in_bash(tmp_path: Path):
    script = tmp_path / "imagebot.bash"
    script.write_text(invoke("completion", "bash", state=tmp_path).stdout)
    env = clean_env(tmp_path / "state")
    env["PATH"] = f"{Path(IMAGEBOT).parent}{os.pathsep}{env['PATH']}"
    program = (
        f"source {script}; COMP_WORDS=(imagebot ex); COMP_CWORD=1; "
        '_imagebot_completion imagebot; printf "%s\\n" "${COMPREPLY[@]}"'
    )

    result = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, env=env, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["explain"]


def test_workloads_complete_from_the_checkout_in_the_current_directory(
    checkout: Path, tmp_path: Path
):
    answer = complete("zsh", "imagebot explain ", checkout, tmp_path / "state")

    values = answer[1::3]  # zsh: type, value, help
    assert values == ["apps\\:deployment/api", "apps\\:deployment/web", "staging\\:deployment/api"]
    assert answer[2] == "api.yaml:12"


def test_bash_gets_kind_and_name_where_unambiguous_since_it_splits_at_colons(
    checkout: Path, tmp_path: Path
):
    answer = complete("bash", "imagebot explain ", checkout, tmp_path / "state")

    assert answer == [
        "plain,apps:deployment/api",
        "plain,deployment/web",
        "plain,staging:deployment/api",
    ]


def test_only_workloads_starting_with_what_is_typed_are_offered(checkout: Path, tmp_path: Path):
    answer = complete("fish", "imagebot explain staging:", checkout, tmp_path / "state")

    assert answer == ["plain,staging:deployment/api\tapi-staging.yaml:12"]


def test_container_names_complete_from_the_checkout(checkout: Path, tmp_path: Path):
    answer = complete(
        "bash", "imagebot explain apps:deployment/api --container ", checkout, tmp_path / "state"
    )

    assert answer == ["plain,app", "plain,server"]


def test_a_directory_that_cannot_be_read_completes_nothing_silently(tmp_path: Path):
    answer = complete("bash", "imagebot explain --repo nope ", tmp_path, tmp_path / "state")

    assert answer == []
