"""``imagebot config validate`` applies every check ``imagebot run`` applies, user values
reach git only as what they are, and messages say what is really wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagebot.cli import cli
from imagebot.config import parse_config
from imagebot.errors import InvalidInput
from imagebot.gitops import validate_branch_name
from imagebot.manifests import discover
from imagebot.preflight import preflight
from imagebot.store import Store

SECRET = "s3cr3t-value-8d1c"

BASE = "state_dir: {state}\nrepositories:\n  - url: https://git.example.com/o/fleet.git\n"

PROBLEMS = {
    "secret and secret_env": (
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n"
        f"      secret: {SECRET}\n      secret_env: HOOK_TOKEN\n",
        "give only one of secret, secret_env",
    ),
    "unset webhook secret_env": (
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n      secret_env: NO_SUCH_VAR_1\n",
        "NO_SUCH_VAR_1 is not set",
    ),
    "unset token_env": (
        "    pull_request:\n      token_env: NO_SUCH_VAR_2\n",
        "NO_SUCH_VAR_2 is not set",
    ),
    "missing token file": (
        "    pull_request:\n      token_file: /nonexistent/token\n",
        "cannot read /nonexistent/token",
    ),
    "unreadable key file": (
        "    credentials:\n      ssh_key_file: {tmp}\n",
        "is a directory",
    ),
    "unset registry password_env": (
        "registries:\n  ghcr.io:\n    username: me\n    password_env: NO_SUCH_VAR_3\n",
        "NO_SUCH_VAR_3 is not set",
    ),
    "unknown commit template field": (
        "    commit:\n      message: '{{subjekt}}'\n",
        "unknown field {subjekt}",
    ),
    "branch starting with a dash": ("    branch: --upload-pack=evil\n", "invalid branch name"),
    "branch git refuses": ("    branch: 'a..b'\n", "invalid branch name"),
}


def write(tmp_path: Path, extra: str) -> Path:
    text = BASE.format(state=tmp_path / "state") + extra.format(tmp=tmp_path)
    path = tmp_path / "imagebot.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(PROBLEMS))
def test_config_validate_refuses_what_run_refuses(tmp_path: Path, case: str) -> None:
    extra, expected = PROBLEMS[case]
    config = write(tmp_path, extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NO_SUCH_VAR")}
    validate = CliRunner(env=env).invoke(cli, ["config", "validate", "--config", str(config)])
    run = CliRunner(env=env).invoke(cli, ["run", "--config", str(config)])
    assert validate.exit_code == 2, validate.output
    assert run.exit_code == 2, run.output
    assert expected in validate.output
    assert expected in run.output
    assert SECRET not in validate.output + run.output


def test_config_validate_lists_every_problem_at_once(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "    pull_request:\n      token_env: NO_SUCH_VAR_4\n"
        "    commit:\n      message: '{{subjekt}}'\n",
    )
    result = CliRunner().invoke(cli, ["config", "validate", "--config", str(config)])
    assert result.exit_code == 2
    assert "NO_SUCH_VAR_4" in result.output
    assert "{subjekt}" in result.output


def test_a_config_that_validates_has_no_preflight_problem(tmp_path: Path) -> None:
    config = write(tmp_path, "    commit:\n      message: '{{subject}} ({{count}})'\n")
    result = CliRunner().invoke(cli, ["config", "validate", "--config", str(config)])
    assert result.exit_code == 0, result.output


def test_an_optional_webhook_receiver_without_its_secret_is_no_problem(tmp_path: Path) -> None:
    config = parse_config(
        "service:\n  webhooks:\n    hub:\n      type: dockerhub\n"
        "      secret_env: NO_SUCH_VAR_5\n      optional: true\n"
    )
    assert preflight(config, environ={}) == []


# --- values given to git ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["-b", "--upload-pack=x", "a..b", "a b", "refs/../x", "x.lock", ""]
)
def test_a_branch_name_git_would_misread_or_refuse_is_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid branch name"):
        validate_branch_name(name)


@pytest.mark.parametrize("name", ["main", "release/1.2", "imagebot/main", "feature_x-1"])
def test_an_ordinary_branch_name_is_taken(name: str) -> None:
    assert validate_branch_name(name) == name


def test_scan_with_a_branch_that_looks_like_an_option_is_refused(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    result = CliRunner().invoke(
        cli, ["scan", "--repo", str(tmp_path / "repo"), "--branch", "--orphan=x", "--dry-run"]
    )
    assert result.exit_code == 2, result.output
    assert "invalid branch name" in result.output


def test_a_credential_in_the_repo_url_is_accepted_but_warned_about(tmp_path: Path) -> None:
    from imagebot.config import Config
    from imagebot.update import repository_for_target

    url = f"https://bot:{SECRET}@git.example.com/o/fleet.git"
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("imagebot").addHandler(handler)
    try:
        (repo,) = repository_for_target(Config(), url)
    finally:
        logging.getLogger("imagebot").removeHandler(handler)
    assert repo.url == url
    (warning,) = [r.getMessage() for r in records if r.levelname == "WARNING"]
    assert "process list" in warning
    assert "password_env" in warning
    assert SECRET not in warning


# --- messages that said the wrong thing ------------------------------------------------


def test_a_corrupt_database_says_it_is_corrupt(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Store.open(state / "imagebot.sqlite3").close()
    data = bytearray((state / "imagebot.sqlite3").read_bytes())
    data[200:] = b"A" * (len(data) - 200)
    (state / "imagebot.sqlite3").write_bytes(bytes(data))
    config = tmp_path / "imagebot.yaml"
    config.write_text(f"state_dir: {state}\n")
    result = CliRunner().invoke(cli, ["history", "--config", str(config)])
    assert result.exit_code == 1
    assert "corrupt" in result.output
    assert "writable directory" not in result.output
    assert "move it aside" in result.output


def test_history_reads_a_read_only_database() -> None:
    # A directory every user can enter: the test reads as an ordinary user when it is root.
    base = Path(tempfile.mkdtemp(prefix="imagebot-ro-"))
    try:
        base.chmod(0o755)
        state = base / "state"
        Store.open(state / "imagebot.sqlite3").close()  # a real store: WAL, schema current
        config = base / "imagebot.yaml"
        config.write_text(f"state_dir: {state}\n")
        for path in [*state.iterdir(), state]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        before = {p.name: p.read_bytes() for p in state.iterdir()}
        imagebot = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "imagebot")
        command = [imagebot, "history", "--config", str(config), "--output", "json"]
        if os.geteuid() == 0:  # root writes anyway: read as a user for whom it is read-only
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {"PATH": os.environ["PATH"], "HOME": str(base), "LANG": "C.UTF-8"}
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=base, env=env
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"
        assert {p.name: p.read_bytes() for p in state.iterdir()} == before
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base)


def test_a_policy_directory_outside_the_repository_says_so(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared").mkdir()
    found = discover(tmp_path / "repo", policy_dirs=("../shared",))
    (issue,) = [i for i in found.skipped if i.file == "../shared"]
    assert "outside the repository" in issue.message
    assert "symlink" not in issue.message


def test_a_policy_directory_symlinked_out_of_the_repository_says_so(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "repo" / "policies").symlink_to(tmp_path / "shared")
    found = discover(tmp_path / "repo", policy_dirs=("policies",))
    messages = [i.message for i in found.skipped if i.file == "policies"]
    assert any("policy directory is a symlink out of the repository" in m for m in messages)
