"""User errors end in ``imagebot: error: ...`` and a hint, never in a traceback.

Each case runs the real ``imagebot`` executable, as a user or a CI job would.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.ux_support import IMAGEBOT, clean_env, run, write_tree
from tests.update.helpers import deployment

FAST_FAIL = 'registries:\n  "127.0.0.1:9":\n    retries: 0\n'


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """Files the cases refer to: configs good and bad, a plain directory, a checkout."""
    write_tree(
        tmp_path,
        {
            "bad-yaml.yaml": "registries: [\n",
            "unknown-key.yaml": "regsitries: {}\n",
            "fast-fail.yaml": FAST_FAIL,
            "plain/app.yaml": deployment("web", "nginx:1.25"),
        },
    )
    (tmp_path / "latin1.yaml").write_bytes(b"state_dir: caf\xe9\n")
    (tmp_path / "a-file").write_text("x")
    return tmp_path


# (arguments with {tmp} for the fixture directory, exit status, text on stderr)
CASES = [
    (
        ["tags", "UPPER:x"],
        2,
        "invalid image reference 'UPPER:x': repository name must be lowercase",
    ),
    (["tags", "alpine@sha256:abc"], 2, "bad digest 'sha256:abc'"),
    (
        ["tags", "--config", "{tmp}/fast-fail.yaml", "127.0.0.1:9/x/y"],
        1,
        "127.0.0.1:9/x/y: cannot connect",
    ),
    (["list-images", "--config", "{tmp}/missing.yaml"], 2, "{tmp}/missing.yaml: no such file"),
    (["history", "--config", "{tmp}/bad-yaml.yaml"], 2, "bad-yaml.yaml:2: not valid YAML"),
    (["history", "--config", "{tmp}/unknown-key.yaml"], 2, "regsitries: unknown key"),
    (["history", "--config", "{tmp}/latin1.yaml"], 2, "latin1.yaml: not UTF-8 text"),
    (["history", "--limit", "0"], 2, "Invalid value for '--limit'"),
    (["scan", "--repo", "{tmp}/plain", "--dry-run"], 1, "not inside a Git checkout"),
    (["scan", "--repo", "{tmp}/missing", "--dry-run"], 1, "missing: no such directory"),
    (["scan"], 2, "no repository to scan"),
    (["explain", "web", "--repo", "{tmp}/missing"], 2, "missing: no such directory"),
    (["explain", "nope", "--repo", "{tmp}/plain"], 2, "no workload 'nope' in the manifests"),
    (["explain", "apps:web", "--repo", "{tmp}/plain"], 2, "cannot read workload 'apps:web'"),
    (["check", "--repo", "{tmp}/a-file"], 2, "a-file: not a directory"),
    (["check", "--config", "{tmp}/missing.yaml"], 2, "no such config file"),
    (["policy", "test", "semver:>>1", "1.0.0"], 2, "invalid semver constraint '>>1'"),
    (["policy", "test", "regex:(", "1.0.0"], 2, "invalid policy regex '('"),
    (["completion", "tcsh"], 2, "'tcsh' is not one of"),
    (["explian"], 2, "No such command 'explian'"),
]


@pytest.mark.parametrize(("args", "status", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_user_errors_end_with_a_message_and_a_hint(
    place: Path, args: list[str], status: int, message: str
):
    result = run(*(a.format(tmp=place) for a in args), state=place / "state", cwd=place)

    assert "Traceback" not in result.stderr
    assert result.returncode == status, result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("imagebot: error: ")]
    assert message.format(tmp=place) in error
    assert "\nhint: " in result.stderr


def test_an_unusable_state_directory_is_an_error_with_a_hint(place: Path):
    result = run("history", state=place / "a-file")

    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "cannot open the state store" in result.stderr
    assert "hint: point state_dir in the config file" in result.stderr


def test_a_full_disk_is_an_error_not_a_traceback(place: Path):
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [IMAGEBOT, "completion", "bash"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(place / "state"),
            check=False,
        )

    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "imagebot: error: No space left on device" in result.stderr


def test_ctrl_c_ends_quietly_with_status_130(place: Path):
    process = subprocess.Popen(
        [IMAGEBOT, "tags", "127.0.0.1:9/x/y"],
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(place / "state"),
    )
    assert process.stderr is not None
    assert "retrying" in process.stderr.readline()  # busy with a registry that is down

    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()

    assert process.wait(timeout=30) == 130
    assert "Traceback" not in rest
    assert rest.endswith("imagebot: interrupted\n")


def test_a_reader_closing_the_pipe_is_no_error(place: Path):
    many = [f"1.0.{i}" for i in range(3000)]
    producer = subprocess.Popen(
        [IMAGEBOT, "policy", "test", "--output", "json", "glob:*", *many],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(place / "state"),
    )
    assert producer.stdout is not None
    assert producer.stderr is not None
    producer.stdout.readline()
    producer.stdout.close()  # like `| head -1`

    errors = producer.stderr.read().decode()
    producer.wait(timeout=30)

    assert "Traceback" not in errors
    assert "Exception ignored" not in errors
