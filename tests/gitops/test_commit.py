"""Commits are built from the given contents: exact bytes, one commit, nothing when unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagebot.config import CommitConfig
from imagebot.errors import GitError
from imagebot.gitops import Change, Workspace
from tests.gitops.helpers import BOT, FILES, Remote, bump, git, make_remote


@pytest.fixture
def ws(remote: Remote, state_dir: Path) -> Workspace:
    with Workspace.remote(remote.url, state_dir) as workspace:
        workspace.sync()
        yield workspace


def test_commit_carries_exactly_the_given_bytes(ws: Workspace, remote: Remote) -> None:
    data = b"kind: Deployment\r\nspec:\n  image: registry.local/web:2.0  # keep \t\n\n"
    published = ws.publish(lambda base: Change({"apps/web.yaml": data}, "Update web"), BOT)
    assert published.sha == remote.tip()
    assert remote.read("apps/web.yaml") == data
    assert (ws.root / "apps/web.yaml").read_bytes() == data
    changed = git(remote.path, "diff-tree", "-r", "--name-only", "--no-commit-id", "main")
    assert changed == "apps/web.yaml"


def test_one_commit_for_all_files(ws: Workspace, remote: Remote) -> None:
    ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.count() == 2
    assert remote.read("apps/web.yaml").count(b":2.0") == 1
    assert remote.read("apps/api.yaml").count(b":2.0") == 1


def test_second_run_with_nothing_new_makes_no_commit(ws: Workspace, remote: Remote) -> None:
    first = ws.publish(lambda base: bump(ws.root), BOT)
    second = ws.publish(lambda base: bump(ws.root), BOT)
    assert first.changed
    assert not second.changed
    assert not second.pushed
    assert remote.count() == 2


def test_contents_equal_to_the_tip_make_no_commit(ws: Workspace, remote: Remote) -> None:
    same = Change({"apps/web.yaml": FILES["apps/web.yaml"]}, "no-op")
    assert ws.publish(lambda base: same, BOT).sha is None
    assert ws.create_commit(same.files, same.message, BOT, parent=ws.head()) is None
    assert remote.count() == 1


def test_author_and_committer_are_configurable(ws: Workspace, remote: Remote) -> None:
    config = CommitConfig(
        author_name="Bot Author",
        author_email="author@example.test",
        committer_name="Bot Committer",
        committer_email="committer@example.test",
    )
    ws.publish(lambda base: bump(ws.root), config)
    who = git(remote.path, "log", "-1", "--format=%an <%ae>|%cn <%ce>")
    assert who == "Bot Author <author@example.test>|Bot Committer <committer@example.test>"


def test_committer_defaults_to_the_author(ws: Workspace, remote: Remote) -> None:
    ws.publish(lambda base: bump(ws.root), BOT)
    assert git(remote.path, "log", "-1", "--format=%cn <%ce>") == "imagebot <bot@example.test>"


def test_message_is_kept_verbatim(ws: Workspace, remote: Remote) -> None:
    message = "Update 2 images\n\napps/web.yaml: Deployment/default/web web 1.0 -> 2.0\n  # note"
    ws.publish(lambda base: Change({"apps/web.yaml": b"x\n"}, message), BOT)
    raw = git(remote.path, "cat-file", "commit", "main")
    assert raw.split("\n\n", 1)[1] == message


def test_executable_bit_is_kept(tmp_path: Path, state_dir: Path) -> None:
    remote = make_remote(tmp_path, {"run.sh": b"echo 1\n"})
    seed = tmp_path / "seed"
    (seed / "run.sh").chmod(0o755)
    git(seed, "add", "run.sh")
    git(seed, "commit", "-q", "-m", "exec")
    git(seed, "push", "-q", str(remote.path), "main")
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.publish(lambda base: Change({"run.sh": b"echo 2\n"}, "bump"), BOT)
        assert git(remote.path, "ls-tree", "main", "run.sh").split()[0] == "100755"
        assert os.access(ws.root / "run.sh", os.X_OK)


def test_new_file_is_added(ws: Workspace, remote: Remote) -> None:
    ws.publish(lambda base: Change({"apps/new/app.yaml": b"image: new:1\n"}, "add"), BOT)
    assert remote.read("apps/new/app.yaml") == b"image: new:1\n"
    assert (ws.root / "apps/new/app.yaml").read_bytes() == b"image: new:1\n"


@pytest.mark.parametrize("path", ["../x.yaml", "/etc/passwd", ".git/config", "a/./b", "a//b", ""])
def test_paths_outside_the_tree_are_refused(ws: Workspace, remote: Remote, path: str) -> None:
    with pytest.raises(ValueError):
        ws.create_commit({path: b"x"}, "bad", BOT, parent=ws.head())
    assert remote.count() == 1


def test_symbolic_links_are_not_rewritten(tmp_path: Path, state_dir: Path) -> None:
    remote = make_remote(tmp_path)
    seed = tmp_path / "seed"
    (seed / "link.yaml").symlink_to("apps/web.yaml")
    git(seed, "add", "link.yaml")
    git(seed, "commit", "-q", "-m", "link")
    git(seed, "push", "-q", str(remote.path), "main")
    with (
        Workspace.remote(remote.url, state_dir) as ws,
        pytest.raises(GitError, match=r"link\.yaml is a symbolic link"),
    ):
        ws.publish(lambda base: Change({"link.yaml": b"x\n"}, "bad"), BOT)


def test_line_ending_attributes_are_honoured(tmp_path: Path, state_dir: Path) -> None:
    remote = make_remote(
        tmp_path, {".gitattributes": b"*.yaml text eol=crlf\n", "a.yaml": b"image: a:1\n"}
    )
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.sync()
        assert (ws.root / "a.yaml").read_bytes() == b"image: a:1\r\n"  # as checked out
        ws.publish(lambda base: Change({"a.yaml": b"image: a:2\r\n"}, "bump"), BOT)
        assert remote.read("a.yaml") == b"image: a:2\n"  # stored normalised
        assert (ws.root / "a.yaml").read_bytes() == b"image: a:2\r\n"
        assert git(ws.root, "status", "--porcelain") == ""


def test_users_gpgsign_setting_does_not_break_unsigned_commits(
    ws: Workspace, remote: Remote
) -> None:
    git(ws.root, "config", "--global", "commit.gpgSign", "true")
    ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.count() == 2
    assert git(remote.path, "cat-file", "commit", "main").count("gpgsig") == 0


def test_commit_in_place_without_push(ws: Workspace, remote: Remote) -> None:
    sha = ws.commit({"README.md": b"changed\n"}, "local only", BOT)
    assert sha == ws.head()
    assert remote.count() == 1
    ws.push()
    assert remote.tip() == sha
