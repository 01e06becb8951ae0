"""Credentials reach git without ever being written down, printed or logged."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagebot.config import GitCredentials
from imagebot.errors import ConfigError, GitError
from imagebot.gitops import GitAuth, Workspace, parse_remote_url, redact
from tests.gitops.git_http import GitHTTPServer
from tests.gitops.helpers import BOT, Remote, bump, git

TOKEN = "s3cr3t-T0KEN-value-42"


@pytest.fixture
def server(remote: Remote) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(remote.path.parent, "bot", TOKEN) as srv:
        yield srv


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def no_token_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


def test_https_token_from_a_file_clones_and_pushes(
    server: GitHTTPServer, remote: Remote, state_dir: Path, token_file: Path
) -> None:
    creds = GitCredentials(username="bot", password_file=str(token_file))
    url = f"{server.base_url}/remote.git"
    with Workspace.remote(url, state_dir, credentials=creds) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.tip() == published.sha
    assert any(authorised for _, path, authorised in server.requests if "receive-pack" in path)


def test_token_is_never_written_to_disk_or_logged(
    server: GitHTTPServer,
    remote: Remote,
    state_dir: Path,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = GitCredentials(username="bot", password_file=str(token_file))
    with Workspace.remote(f"{server.base_url}/remote.git", state_dir, credentials=creds) as ws:
        ws.publish(lambda base: bump(ws.root), BOT)
        config = (ws.git_dir / "config").read_text()
    assert "credential" not in config
    assert no_token_under(state_dir) == []
    assert TOKEN not in caplog.text
    assert caplog.records  # the commands were logged, without the token


def test_token_in_the_url_is_split_out(
    server: GitHTTPServer, remote: Remote, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://bot:{TOKEN}@{server.base_url.removeprefix('http://')}/remote.git"
    with Workspace.remote(url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
        assert git(ws.root, "remote", "get-url", "origin") == f"{server.base_url}/remote.git"
        assert TOKEN not in ws.url
        assert TOKEN not in repr(ws)
    assert remote.tip() == published.sha
    assert no_token_under(state_dir) == []
    assert all(TOKEN not in p.name for p in state_dir.rglob("*"))
    assert TOKEN not in caplog.text


def test_wrong_token_is_a_git_error_that_does_not_show_it(
    server: GitHTTPServer, state_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-value-9"
    url = f"http://bot:{wrong}@{server.base_url.removeprefix('http://')}/remote.git"
    with pytest.raises(GitError) as caught:
        Workspace.remote(url, state_dir)
    message = str(caught.value)
    assert wrong not in message
    assert "Authentication failed" in message or "401" in message
    assert wrong not in caplog.text
    assert no_token_under(state_dir) == []


def test_missing_credentials_fail_fast_instead_of_prompting(
    server: GitHTTPServer, state_dir: Path
) -> None:
    with pytest.raises(GitError, match="clone failed"):
        Workspace.remote(f"{server.base_url}/remote.git", state_dir)


def test_token_from_an_environment_variable(
    server: GitHTTPServer, remote: Remote, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_TOKEN_FOR_TEST", TOKEN)
    creds = GitCredentials(username="bot", password_env="GIT_TOKEN_FOR_TEST")
    with Workspace.remote(f"{server.base_url}/remote.git", state_dir, credentials=creds) as ws:
        assert ws.sync() == remote.tip()


def test_unset_token_variable_is_a_config_error(tmp_path: Path) -> None:
    creds = GitCredentials(password_env="IMAGEBOT_NO_SUCH_VARIABLE")
    with pytest.raises(ConfigError, match="IMAGEBOT_NO_SUCH_VARIABLE"):
        GitAuth.resolve(parse_remote_url("https://example.test/r.git"), creds)


def test_credential_helper_is_scoped_to_the_remote() -> None:
    auth = GitAuth(parse_remote_url("https://git.example.test:8443/org/r.git"), "bot", TOKEN)
    config = " ".join(auth.config())
    assert "credential.helper= " in config  # any other helper is switched off
    assert "credential.https://git.example.test:8443.helper=" in config
    assert TOKEN not in config  # the secret travels in the environment only
    assert auth.env()["IMAGEBOT_GIT_PASSWORD"] == TOKEN
    assert TOKEN not in repr(auth)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://bot:tok3n-abc@github.com/o/r.git", "https://bot:***@github.com/o/r.git"),
        (
            "fatal: unable to access 'https://ghp_abcdef@h/r/'",
            "fatal: unable to access 'https://***@h/r/'",
        ),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("http://u:p%40ss@host/x", "http://u:***@host/x"),
    ],
)
def test_redact_hides_passwords_in_urls(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_redact_hides_known_secrets_anywhere() -> None:
    assert redact(f"token {TOKEN} leaked", [TOKEN]) == "token *** leaked"


@pytest.mark.parametrize(
    ("url", "scheme", "host", "path", "clean"),
    [
        (
            "https://u:t@github.com/o/r.git",
            "https",
            "github.com",
            "o/r.git",
            "https://github.com/o/r.git",
        ),
        (
            "git@gitlab.com:group/sub/r.git",
            "ssh",
            "gitlab.com",
            "group/sub/r.git",
            "git@gitlab.com:group/sub/r.git",
        ),
        ("ssh://git@h:2222/o/r", "ssh", "h", "o/r", "ssh://git@h:2222/o/r"),
        ("file:///srv/r.git", "file", None, "srv/r.git", "file:///srv/r.git"),
        ("/srv/r.git", "file", None, "/srv/r.git", "/srv/r.git"),
    ],
)
def test_remote_urls_are_parsed(
    url: str, scheme: str, host: str | None, path: str, clean: str
) -> None:
    parsed = parse_remote_url(url)
    assert (parsed.scheme, parsed.host, parsed.path, parsed.url) == (scheme, host, path, clean)


def test_unsupported_url_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported URL scheme"):
        parse_remote_url("ftp://example.test/r.git")


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `ssh` that records its arguments and runs the remote command locally."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh-args"
    script = bin_dir / "ssh"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\nfor last; do :; done\nexec sh -c "$last"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_ssh_uses_only_the_configured_key_and_checks_the_host(
    remote: Remote, state_dir: Path, tmp_path: Path, fake_ssh: Path
) -> None:
    key = tmp_path / "id_deploy"
    key.write_text("not a real key: the fake ssh never reads it\n")
    known = tmp_path / "known_hosts"
    known.write_text("git.example.test ssh-ed25519 AAAA\n")
    creds = GitCredentials(ssh_key_file=str(key), known_hosts_file=str(known))
    url = f"git@git.example.test:{remote.path}"
    with Workspace.remote(url, state_dir, credentials=creds) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.tip() == published.sha
    args = fake_ssh.read_text().splitlines()
    for expected in (
        "BatchMode=yes",
        str(key),
        "IdentitiesOnly=yes",
        f"UserKnownHostsFile={known}",
        "StrictHostKeyChecking=yes",
        "git@git.example.test",
    ):
        assert expected in args
    assert args[args.index("-i") + 1] == str(key)


def test_missing_ssh_key_file_is_a_config_error(tmp_path: Path) -> None:
    creds = GitCredentials(ssh_key_file=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="ssh_key_file"):
        GitAuth.resolve(parse_remote_url("git@h:o/r.git"), creds)


def test_local_checkout_pushes_over_https_with_the_configured_token(
    server: GitHTTPServer, remote: Remote, tmp_path: Path, token_file: Path
) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", remote.url, str(checkout))
    git(checkout, "remote", "set-url", "origin", f"{server.base_url}/remote.git")
    creds = GitCredentials(username="bot", password_file=str(token_file))
    with Workspace.local(checkout, credentials=creds) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.tip() == published.sha
    assert no_token_under(checkout) == []


_URL_PART = st.text(
    alphabet=st.characters(codec="ascii", exclude_characters="@:/ \t\r\n'\"", min_codepoint=33),
    min_size=1,
    max_size=20,
)


@given(user=_URL_PART, password=_URL_PART)
def test_redact_always_hides_the_password_of_a_url(user: str, password: str) -> None:
    shown = redact(f"fatal: could not read https://{user}:{password}@git.example.test/o/r.git")
    assert shown == f"fatal: could not read https://{user}:***@git.example.test/o/r.git"
