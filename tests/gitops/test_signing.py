"""Signed commits, for real: a GPG key in a throwaway GNUPGHOME, and an SSH key."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagebot.config import CommitConfig
from imagebot.errors import GitError
from imagebot.gitops import Workspace
from tests.gitops.helpers import Remote, bump

GPG_GEN = ("gpg", "--batch", "--passphrase", "", "--quick-gen-key")


@pytest.fixture
def gpg_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    home = Path(tempfile.mkdtemp(prefix="gpg-"))  # short: gpg-agent's socket path is limited
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        subprocess.run(
            [*GPG_GEN, "imagebot <bot@example.test>", "ed25519", "sign", "never"],
            check=True,
            capture_output=True,
        )
        listing = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        yield next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def verify(remote: Remote, sha: str, *config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *config, "verify-commit", "-v", sha],
        cwd=remote.path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_gpg_signed_commit_verifies(remote: Remote, state_dir: Path, gpg_key: str) -> None:
    signed = CommitConfig(author_email="bot@example.test", signing_key=gpg_key)
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), signed)
    result = verify(remote, published.sha)
    assert result.returncode == 0, result.stderr
    assert "Good signature" in result.stderr


def test_ssh_signed_commit_verifies(remote: Remote, state_dir: Path, tmp_path: Path) -> None:
    key = tmp_path / "signing_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", str(key)], check=True
    )
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"bot@example.test {key.with_suffix('.pub').read_text()}")
    signed = CommitConfig(
        author_email="bot@example.test", signing_key=str(key), signing_format="ssh"
    )
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), signed)
    result = verify(remote, published.sha, "-c", f"gpg.ssh.allowedSignersFile={allowed}")
    assert result.returncode == 0, result.stderr
    assert 'Good "git" signature for bot@example.test' in result.stderr


def test_unsigned_commit_does_not_verify(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), CommitConfig())
    assert verify(remote, published.sha).returncode != 0


def test_missing_signing_key_fails_before_anything_is_pushed(
    remote: Remote, state_dir: Path, gpg_key: str
) -> None:
    signed = CommitConfig(signing_key="0000000000000000DEADBEEF00000000DEADBEEF")
    with (
        Workspace.remote(remote.url, state_dir) as ws,
        pytest.raises(GitError, match="commit-tree failed") as caught,
    ):
        ws.publish(lambda base: bump(ws.root), signed)
    assert "needs no passphrase" in (caught.value.hint or "")
    assert remote.count() == 1
