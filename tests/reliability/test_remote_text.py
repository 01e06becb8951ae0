"""Text from remote servers (registry and forge errors, git stderr) is printed and logged with
control characters escaped: it cannot forge output lines or send terminal escapes."""

from __future__ import annotations

import json
import logging
import unicodedata
from pathlib import Path

import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from imagebot.errors import NotFound
from imagebot.gitops.forge import GitHub
from imagebot.safetext import printable
from tests.cli.ux_support import run as run_cli
from tests.gitops.forge_fixtures import TOKEN, github_pr, no_sleep
from tests.gitops.forge_fixtures import run as run_async
from tests.gitops.helpers import make_remote
from tests.reliability.hostile import Conn, HostileServer
from tests.reliability.registry_support import config, scan
from tests.update.helpers import automated, deployment

#: Clears the screen, overwrites the line, then prints a line that looks like imagebot's.
HOSTILE = "denied\x1b[2J\x1b]0;owned\x07\r\nimagebot: error: all images up to date\u202e"
UNSAFE = ("\x1b", "\r", "\x07", "\u202e")


def assert_safe(text: str) -> None:
    assert not any(char in text for char in UNSAFE), repr(text)
    assert not any(line.startswith("imagebot: error: all") for line in text.splitlines())


def refusing_registry(conn: Conn) -> None:
    errors = {"errors": [{"code": "NAME_UNKNOWN", "message": HOSTILE}]}
    conn.reply(404, json.dumps(errors).encode())


# --- the helper ---------------------------------------------------------------------------


def test_control_characters_are_escaped_and_everything_else_kept():
    assert printable("a\x1b[31mb\r\nc\td\x9be\u202ef café ✓") == (
        "a\\x1b[31mb\\r\\nc\\td\\x9be\\u202ef café ✓"
    )


def test_long_remote_text_is_cut():
    assert printable("x" * 5000, limit=10) == "x" * 10 + "..."


@given(st.text())
def test_the_result_has_no_control_characters_and_escaping_twice_changes_nothing(text: str):
    once = printable(text, limit=None)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in once)
    assert printable(once, limit=None) == once
    assert len(once.splitlines()) <= 1


# --- registry errors ------------------------------------------------------------------------


def test_a_registry_error_message_is_escaped_in_the_cli_error(tmp_path: Path):
    with HostileServer(refusing_registry) as server:
        result = run_cli("tags", f"{server.host}/team/app", state=tmp_path / "state")
    assert result.returncode == 1
    assert_safe(result.stderr)
    assert "NAME_UNKNOWN denied\\x1b[2J\\x1b]0;owned\\x07\\r\\nimagebot: error:" in result.stderr


@pytest.mark.slow
def test_a_registry_error_message_is_escaped_in_the_scan_report(tmp_path: Path, isolated_git):
    with HostileServer(refusing_registry) as server:
        image = f"{server.host}/team/app:1.0.0"
        manifest = deployment("web", image, annotations=automated("semver:^1"))
        remote = make_remote(tmp_path / "fleet", {"apps/web.yaml": manifest})
        result = run_cli("scan", "--repo", remote.url, "--dry-run", state=tmp_path / "state")
    assert result.returncode == 1
    assert_safe(result.stdout)
    failed = [line for line in result.stdout.splitlines() if line.startswith("  FAILED")]
    assert len(failed) == 1
    assert "denied\\x1b[2J" in failed[0]


def test_a_registry_error_message_is_escaped_in_the_logs(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING)
    with HostileServer(refusing_registry) as server:
        results = scan(config({server.host: {}}), f"{server.host}/team/app")
    assert isinstance(results[f"{server.host}/team/app"], NotFound)
    logged = [r.getMessage() for r in caplog.records if "NAME_UNKNOWN" in r.getMessage()]
    assert logged
    for message in logged:
        assert_safe(message)


# --- git stderr -----------------------------------------------------------------------------


@pytest.mark.slow
def test_what_a_git_servers_hook_prints_is_escaped_in_the_scan_report(
    tmp_path: Path, registry, repo_name: str, isolated_git
):
    registry.push(f"{repo_name}/app", ["1.0.0", "1.1.0"])
    image = f"{registry.host}/{repo_name}/app:1.0.0"
    remote = make_remote(
        tmp_path / "fleet",
        {"apps/web.yaml": deployment("web", image, annotations=automated("semver:^1"))},
    )
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nprintf '%s\\n' '{HOSTILE}' >&2\nexit 1\n")
    hook.chmod(0o755)

    result = run_cli("scan", "--repo", remote.url, state=tmp_path / "state")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert_safe(result.stdout)
    assert_safe(result.stderr)
    assert "remote: denied\\x1b[2J" in result.stdout + result.stderr


# --- forge errors ---------------------------------------------------------------------------


@respx.mock(base_url="https://api.github.com")
def test_a_forge_error_message_is_escaped_in_the_warning_and_the_log(
    respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING)
    respx_mock.get("/repos/octo/app/pulls").respond(200, json=[])
    respx_mock.post("/repos/octo/app/pulls").respond(201, json=github_pr(labels=[]))
    respx_mock.post("/repos/octo/app/issues/1347/labels").respond(422, json={"message": HOSTILE})
    forge = GitHub(
        api_url="https://api.github.com", project="octo/app", token=TOKEN, sleep=no_sleep
    )

    result = run_async(
        forge.ensure(head="imagebot/main", base="main", title="t", body="b", labels=["x"])
    )

    (warning,) = result.warnings
    assert_safe(warning)
    assert "denied\\x1b[2J" in warning
    logged = [r.getMessage() for r in caplog.records if "could not" in r.getMessage()]
    assert logged
    for message in logged:
        assert_safe(message)


@pytest.mark.parametrize(
    "platform",
    [
        {"os": "linux", "architecture": HOSTILE},
        {"os": "linux\x1b[2J", "architecture": "amd64"},
        {"os": "linux", "architecture": "amd64", "variant": "v8\r\nimagebot: error: x"},
        {"os": "linux", "architecture": "a" * 1000},
        {"os": "linux/arm64", "architecture": "amd64"},
    ],
)
def test_a_platform_that_is_not_plain_words_counts_as_missing(platform: dict[str, str]) -> None:
    from imagebot.registry.metadata import describe_manifest

    index = {
        "manifests": [
            {"digest": "sha256:" + "a" * 64, "platform": platform},
            {"digest": "sha256:" + "b" * 64, "platform": {"os": "linux", "architecture": "arm64"}},
        ]
    }
    described = describe_manifest("application/vnd.oci.image.index.v1+json", index)
    assert described.platforms == ["linux/arm64"]


def test_plain_platforms_with_a_variant_are_read() -> None:
    from imagebot.registry.metadata import format_platform

    assert format_platform({"os": "linux", "architecture": "arm", "variant": "v7"}) == (
        "linux/arm/v7"
    )
    assert format_platform({"os": "windows", "architecture": "amd64", "os.version": "10"}) == (
        "windows/amd64"
    )
