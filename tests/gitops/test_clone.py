"""The bot's own clone: cloned once into the state directory, fetched and reset afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imagebot.config import RepositoryConfig
from imagebot.errors import ConfigError, GitError
from imagebot.gitops import Workspace, is_remote_url
from tests.gitops.helpers import FILES, Remote, Writer, git, make_remote


def test_first_use_clones_into_the_state_directory(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        assert ws.root.parent == (state_dir / "repos").resolve()
        assert ws.sync() == remote.tip()
        assert (ws.root / "apps/web.yaml").read_bytes() == FILES["apps/web.yaml"]


def test_later_runs_fetch_into_the_same_clone(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.sync()
        first_root = ws.root
        (ws.git_dir / "marker").write_text("kept across runs")
    new_tip = writer.commit_and_push("apps/web.yaml", b"image: web:9\n")
    with Workspace.remote(remote.url, state_dir) as ws:
        assert ws.root == first_root
        assert (ws.git_dir / "marker").exists()  # not cloned again
        assert ws.sync() == new_tip
        assert (ws.root / "apps/web.yaml").read_bytes() == b"image: web:9\n"


def test_default_branch_is_the_remotes_head(tmp_path: Path, state_dir: Path) -> None:
    remote = make_remote(tmp_path)
    git(remote.path, "branch", "-m", "main", "trunk")
    git(remote.path, "symbolic-ref", "HEAD", "refs/heads/trunk")
    with Workspace.remote(remote.url, state_dir) as ws:
        assert ws.branch == "trunk"
        assert ws.bot_branch == "imagebot/trunk"
        assert ws.sync() == remote.tip("trunk")


def test_branch_option_selects_another_branch(remote: Remote, state_dir: Path) -> None:
    git(remote.path, "branch", "staging", "main")
    with Workspace.remote(remote.url, state_dir, branch="staging") as ws:
        ws.sync()
        assert git(ws.root, "symbolic-ref", "--short", "HEAD") == "staging"


def test_missing_branch_is_a_git_error(remote: Remote, state_dir: Path) -> None:
    with (
        Workspace.remote(remote.url, state_dir, branch="nope") as ws,
        pytest.raises(GitError, match="no branch nope"),
    ):
        ws.sync()


def test_sync_repairs_whatever_a_killed_run_left(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.sync()
        (ws.root / "apps/web.yaml").write_bytes(b"half a fi")
        (ws.root / "stray.tmp").write_bytes(b"junk")
        (ws.git_dir / "index.lock").write_bytes(b"")
        (ws.git_dir / "refs/heads/main.lock").write_bytes(b"")
        ws.sync()
        assert (ws.root / "apps/web.yaml").read_bytes() == FILES["apps/web.yaml"]
        assert not (ws.root / "stray.tmp").exists()
        assert not (ws.git_dir / "index.lock").exists()
        assert git(ws.root, "status", "--porcelain") == ""


def test_an_interrupted_clone_is_cleaned_up_and_redone(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        root = ws.root
    half = root.parent / f".{root.name}.tmp-999999"
    half.mkdir()
    (half / "junk").write_text("left by a killed clone")
    shutil.rmtree(root)
    with Workspace.remote(remote.url, state_dir) as ws:
        assert ws.sync() == remote.tip()
    assert not half.exists()


def test_a_second_bot_waits_for_the_first(remote: Remote, state_dir: Path) -> None:
    with (
        Workspace.remote(remote.url, state_dir),
        pytest.raises(GitError, match="another imagebot process"),
    ):
        Workspace.remote(remote.url, state_dir, lock_timeout=0.2)
    with Workspace.remote(remote.url, state_dir, lock_timeout=0.2) as ws:  # free again
        ws.sync()


def test_unreachable_remote_is_a_git_error(tmp_path: Path, state_dir: Path) -> None:
    with pytest.raises(GitError, match="git clone failed"):
        Workspace.remote((tmp_path / "missing.git").as_uri(), state_dir)


def test_open_picks_the_kind_from_the_config(
    remote: Remote, state_dir: Path, tmp_path: Path
) -> None:
    with Workspace.open(RepositoryConfig(url=remote.url), state_dir) as ws:
        assert ws.kind == "clone"
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", remote.url, str(checkout))
    with Workspace.open(RepositoryConfig(path=str(checkout)), state_dir) as ws:
        assert ws.kind == "local"
        assert ws.root == checkout.resolve()
    with pytest.raises(ConfigError):
        Workspace.open(RepositoryConfig(), state_dir)


def test_repo_argument_is_a_url_or_a_path(tmp_path: Path) -> None:
    assert is_remote_url("https://example.com/org/repo.git")
    assert is_remote_url("git@github.com:org/repo.git")
    assert is_remote_url("file:///srv/repo.git")
    assert not is_remote_url(str(tmp_path))
    assert not is_remote_url("./some/dir")
