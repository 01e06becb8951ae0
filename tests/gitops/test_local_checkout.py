"""A user's checkout used in place: their work is never touched nor lost."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imagebot.errors import GitError, LocalChanges
from imagebot.gitops import Change, Workspace
from tests.gitops.helpers import BOT, FILES, Remote, Writer, bump, git


@pytest.fixture
def checkout(remote: Remote, tmp_path: Path) -> Path:
    path = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", remote.url, str(path))
    return path


def test_commits_on_the_current_branch_and_pushes_upstream(remote: Remote, checkout: Path) -> None:
    with Workspace.local(checkout) as ws:
        assert ws.branch == "main"
        assert ws.remote_name == "origin"
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert published.pushed
    assert remote.tip() == published.sha == git(checkout, "rev-parse", "HEAD")
    assert git(checkout, "status", "--porcelain") == ""


def test_a_subdirectory_opens_the_whole_checkout(checkout: Path) -> None:
    with Workspace.local(checkout / "apps") as ws:
        assert ws.root == checkout.resolve()


def test_user_changes_elsewhere_are_kept(remote: Remote, checkout: Path) -> None:
    (checkout / "README.md").write_bytes(b"unsaved edit\n")
    (checkout / "notes.txt").write_bytes(b"untracked\n")
    (checkout / "staged.txt").write_bytes(b"staged\n")
    git(checkout, "add", "staged.txt")
    with Workspace.local(checkout) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert published.changed
    status = sorted(git(checkout, "status", "--porcelain").splitlines())
    assert status == [" M README.md", "?? notes.txt", "A  staged.txt"]
    assert (checkout / "README.md").read_bytes() == b"unsaved edit\n"
    assert "staged.txt" not in git(remote.path, "ls-tree", "--name-only", "main")
    assert remote.read("README.md") == FILES["README.md"]


def test_a_user_modified_file_the_bot_needs_is_refused_by_name(
    remote: Remote, checkout: Path
) -> None:
    edited = FILES["apps/web.yaml"] + b"# work in progress\n"
    (checkout / "apps/web.yaml").write_bytes(edited)
    with Workspace.local(checkout) as ws:
        with pytest.raises(LocalChanges, match=r"apps/web\.yaml") as caught:
            ws.publish(lambda base: bump(ws.root), BOT)
        assert caught.value.paths == ["apps/web.yaml"]
        assert ws.modified(["apps/web.yaml", "apps/api.yaml"]) == ["apps/web.yaml"]
    assert (checkout / "apps/web.yaml").read_bytes() == edited
    assert git(checkout, "log", "--format=%s") == "initial"
    assert remote.count() == 1  # the user's edit was not pushed either


def test_a_user_modified_file_never_reaches_the_bot_branch(remote: Remote, checkout: Path) -> None:
    (checkout / "apps/api.yaml").write_bytes(FILES["apps/api.yaml"] + b"# mine\n")
    with Workspace.local(checkout) as ws, pytest.raises(LocalChanges, match=r"apps/api\.yaml"):
        ws.publish(lambda base: bump(ws.root), BOT, mode="pull-request")
    assert remote.tip("imagebot/main") is None


def test_a_staged_change_to_a_file_the_bot_needs_is_refused(checkout: Path) -> None:
    (checkout / "apps/api.yaml").write_bytes(b"image: api:7\n")
    git(checkout, "add", "apps/api.yaml")
    (checkout / "apps/api.yaml").write_bytes(FILES["apps/api.yaml"])
    with Workspace.local(checkout) as ws, pytest.raises(LocalChanges, match=r"api\.yaml"):
        ws.commit({"apps/api.yaml": b"image: api:2\n"}, "bump", BOT)
    assert git(checkout, "diff", "--cached", "--name-only") == "apps/api.yaml"


def test_checkout_without_a_remote_commits_only(tmp_path: Path) -> None:
    path = tmp_path / "alone"
    git(tmp_path, "init", "-q", "-b", "main", str(path))
    (path / "app.yaml").write_bytes(b"image: app:1.0\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    with Workspace.local(path) as ws:
        assert ws.remote_name is None
        published = ws.publish(lambda base: bump(ws.root, paths=("app.yaml",)), BOT)
    assert published.changed
    assert not published.pushed
    assert (path / "app.yaml").read_bytes() == b"image: app:2.0\n"
    assert git(path, "log", "-1", "--format=%an") == "imagebot"
    assert git(path, "status", "--porcelain") == ""


def _alone(tmp_path: Path, branch: str = "main") -> Path:
    path = tmp_path / "alone"
    git(tmp_path, "init", "-q", "-b", branch, str(path))
    (path / "app.yaml").write_bytes(b"image: app:1.0\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def test_a_branch_tracking_another_remote_branch_pushes_there(tmp_path: Path) -> None:
    path = _alone(tmp_path, "release.v1.2")
    git(path, "config", "remote.upstream.url", "https://git.example.com/fleet.git")
    git(path, "config", "branch.release.v1.2.remote", "upstream")
    git(path, "config", "branch.release.v1.2.merge", "refs/heads/stable")
    git(path, "config", "branch.release.v1x2.remote", "elsewhere")  # a dot is no wildcard
    with Workspace.local(path) as ws:
        assert (ws.branch, ws.remote_name, ws.remote_branch) == (
            "release.v1.2",
            "upstream",
            "stable",
        )
        assert ws.url == "https://git.example.com/fleet.git"
        assert ws.git_dir == (path / ".git").resolve()


def test_an_untracked_branch_pushes_to_origin_only_when_there_is_one(tmp_path: Path) -> None:
    path = _alone(tmp_path)
    git(path, "config", "remote.origin.x.url", "https://git.example.com/other.git")
    with Workspace.local(path) as ws:  # a remote named "origin.x" is not origin
        assert ws.remote_name is None
    git(path, "config", "remote.origin.url", "https://git.example.com/fleet.git")
    with Workspace.local(path) as ws:
        assert (ws.remote_name, ws.remote_branch) == ("origin", "main")


def test_a_bare_repository_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "bare.git"))
    with pytest.raises(GitError, match="not inside a Git checkout"):
        Workspace.local(tmp_path / "bare.git")


def test_behind_checkout_is_fast_forwarded_before_computing(
    remote: Remote, checkout: Path, writer: Writer
) -> None:
    theirs = writer.commit_and_push("README.md", b"newer\n")
    seen: list[bytes] = []

    def compute(base: str) -> Change | None:
        seen.append((checkout / "README.md").read_bytes())
        return bump(checkout)

    with Workspace.local(checkout) as ws:
        published = ws.publish(compute, BOT)
    assert seen == [b"newer\n"]
    assert published.base == theirs
    assert remote.is_ancestor(theirs, published.sha)


def test_race_with_another_writer_is_retried_in_a_checkout(
    remote: Remote, checkout: Path, writer: Writer
) -> None:
    calls = 0

    def compute(base: str) -> Change | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            writer.commit_and_push("README.md", b"racing\n")
        return bump(checkout)

    with Workspace.local(checkout) as ws:
        published = ws.publish(compute, BOT)
    assert published.attempts == 2
    assert remote.tip() == published.sha == git(checkout, "rev-parse", "HEAD")
    assert (checkout / "README.md").read_bytes() == b"racing\n"
    assert git(checkout, "log", "--format=%s").splitlines() == [
        "Update images",
        "human change",
        "initial",
    ]


def test_unpushed_commits_of_the_user_are_not_pushed_by_the_bot(
    remote: Remote, checkout: Path
) -> None:
    (checkout / "mine.txt").write_bytes(b"mine\n")
    git(checkout, "add", "mine.txt")
    git(checkout, "commit", "-q", "-m", "my local commit")
    with Workspace.local(checkout) as ws, pytest.raises(GitError, match="1 commit"):
        ws.publish(lambda base: bump(ws.root), BOT)
    assert remote.count() == 1


def test_detached_head_needs_a_branch(checkout: Path) -> None:
    git(checkout, "checkout", "-q", "--detach")
    with pytest.raises(GitError, match="detached"):
        Workspace.local(checkout)


def test_branch_option_switches_the_checkout(remote: Remote, checkout: Path) -> None:
    git(remote.path, "branch", "staging", "main")
    with Workspace.local(checkout, branch="staging") as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
    assert git(checkout, "symbolic-ref", "--short", "HEAD") == "staging"
    assert remote.tip("staging") == published.sha
    assert remote.count() == 1


def test_a_directory_that_is_no_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not inside a Git checkout"):
        Workspace.local(tmp_path)


def test_modified_given_this_cycles_blobs_answers_as_git_status_does(
    remote: Remote, checkout: Path
) -> None:
    """``unchanged`` (``blobs()`` of this cycle) spares status the clean paths, never an edit:
    a staged, an unstaged and an untracked file are named; clean tracked files are not."""
    (checkout / "apps/web.yaml").write_bytes(FILES["apps/web.yaml"] + b"# unstaged\n")
    (checkout / "apps/new.yaml").write_bytes(b"kind: Pod\n")
    (checkout / "README.md").write_bytes(b"staged edit\n")
    git(checkout, "add", "README.md")
    paths = ["README.md", "apps/api.yaml", "apps/new.yaml", "apps/web.yaml"]
    with Workspace.local(checkout) as ws:
        blobs = ws.blobs()
        assert "apps/api.yaml" in blobs
        assert "README.md" in blobs
        assert "apps/web.yaml" not in blobs

        told = ws.modified(paths, unchanged=blobs)

        assert told == ws.modified(paths) == ["README.md", "apps/new.yaml", "apps/web.yaml"]


def test_blobs_keeps_a_file_rewritten_with_the_same_bytes_and_leaves_out_changed_ones(
    checkout: Path,
) -> None:
    """A file whose stat data changed (rewritten identically) still has its blob id, so the
    caches keyed by it hold; an edited or deleted file has none and is read from disk."""
    later = time.time() + 100
    for path, data in FILES.items():
        (checkout / path).write_bytes(data)  # same bytes, new mtime: stat-dirty for Git
        os.utime(checkout / path, (later, later))
    (checkout / "apps/web.yaml").write_bytes(FILES["apps/web.yaml"] + b"# edit\n")
    (checkout / "README.md").unlink()
    with Workspace.local(checkout) as ws:
        dirty = git(checkout, "diff-files", "--name-only").split()
        assert "apps/api.yaml" in dirty  # Git has not refreshed its index

        found = ws.blobs()

    assert found == {"apps/api.yaml": git(checkout, "rev-parse", "HEAD:apps/api.yaml")}
