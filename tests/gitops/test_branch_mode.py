"""branch and pull-request modes: the bot's own branch, rebuilt from the base every cycle,
force-pushed with a lease; a user's branch never is."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from imagebot.errors import ConfigError, GitError, PushRejected
from imagebot.gitops import Change, Workspace, bot_branch_name
from tests.gitops.helpers import BOT, FILES, Remote, Writer, bump, git

BOT_BRANCH = "imagebot/main"


@pytest.mark.parametrize("mode", ["branch", "pull-request"])
def test_change_goes_to_the_bot_branch_and_main_is_untouched(
    remote: Remote, state_dir: Path, mode: str
) -> None:
    main = remote.tip()
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT, mode=mode)
        assert (ws.root / "apps/web.yaml").read_bytes() == FILES["apps/web.yaml"]  # on base
    assert published.branch == BOT_BRANCH
    assert published.pushed
    assert remote.tip() == main
    assert remote.tip(BOT_BRANCH) == published.sha
    assert git(remote.path, "rev-parse", f"{published.sha}^") == main
    assert b":2.0" in remote.read("apps/web.yaml", BOT_BRANCH)


def test_bot_branch_is_rebuilt_from_the_new_base(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        first = ws.publish(lambda base: bump(ws.root), BOT, mode="branch")
        new_main = writer.commit_and_push("README.md", b"moved on\n")
        second = ws.publish(lambda base: bump(ws.root), BOT, mode="branch")
    assert second.sha != first.sha
    assert git(remote.path, "rev-parse", f"{second.sha}^") == new_main
    assert not remote.is_ancestor(first.sha, second.sha)  # rebuilt, not stacked
    assert remote.count(BOT_BRANCH) == remote.count() + 1


def test_unchanged_bot_branch_is_not_pushed_again(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        first = ws.publish(lambda base: bump(ws.root), BOT, mode="pull-request")
        again = ws.publish(lambda base: bump(ws.root), BOT, mode="pull-request")
    assert again.sha == first.sha
    assert not again.pushed
    assert len(remote.ref_updates(BOT_BRANCH)) == 1


def test_new_content_replaces_the_bot_branch(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.publish(lambda base: bump(ws.root), BOT, mode="branch")
        newer = ws.publish(lambda base: bump(ws.root, ":1.0", ":3.0"), BOT, mode="branch")
    assert newer.pushed
    assert remote.tip(BOT_BRANCH) == newer.sha
    assert b":3.0" in remote.read("apps/web.yaml", BOT_BRANCH)
    assert remote.count(BOT_BRANCH) == 2


def test_lease_stops_overwriting_a_bot_branch_that_moved_since_the_fetch(
    remote: Remote, state_dir: Path, tmp_path: Path
) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.publish(lambda base: bump(ws.root), BOT, mode="branch")
        base = ws.sync()
        other = Writer(remote, tmp_path / "other-bot")
        git(other.dir, "fetch", "-q", "origin", BOT_BRANCH)
        git(other.dir, "checkout", "-q", "-b", "b", "FETCH_HEAD")
        git(other.dir, "commit", "-q", "--allow-empty", "-m", "pushed meanwhile")
        git(other.dir, "push", "-q", "origin", f"HEAD:{BOT_BRANCH}")
        theirs = git(other.dir, "rev-parse", "HEAD")
        change = bump(ws.root, ":1.0", ":4.0")
        sha = ws.create_commit(change.files, change.message, BOT, parent=base)
        with pytest.raises(PushRejected, match="stale info"):
            ws.push(sha, branch=BOT_BRANCH, force_with_lease=True)
    assert remote.tip(BOT_BRANCH) == theirs


def test_publish_retries_when_the_lease_fails(
    remote: Remote, state_dir: Path, tmp_path: Path
) -> None:
    other = Writer(remote, tmp_path / "other-bot")
    calls = 0

    def compute(base: str):
        nonlocal calls
        calls += 1
        if calls == 1:
            git(other.dir, "commit", "-q", "--allow-empty", "-m", "racing bot")
            git(other.dir, "push", "-q", "-f", "origin", f"HEAD:{BOT_BRANCH}")
        return bump(ws.root)

    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(compute, BOT, mode="branch")
    assert published.attempts == 2
    assert remote.tip(BOT_BRANCH) == published.sha


def test_force_push_to_the_users_branch_is_refused(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        base = ws.sync()
        sha = ws.create_commit({"README.md": b"x\n"}, "x", BOT, parent=base)
        for branch in ("main", "some-feature"):
            with pytest.raises(GitError, match="refusing to force-push"):
                ws.push(sha, branch=branch, force_with_lease=True)
    assert remote.tip() == base
    assert remote.tip("some-feature") is None


def test_the_remotes_default_branch_is_never_a_bot_branch(remote: Remote, state_dir: Path) -> None:
    git(remote.path, "branch", "release", "main")
    misconfigured = {"branch": "release", "push_branch": "main"}  # would overwrite main
    with (
        Workspace.remote(remote.url, state_dir, **misconfigured) as ws,
        pytest.raises(GitError, match="refusing to force-push main"),
    ):
        ws.publish(lambda base: bump(ws.root), BOT, mode="branch")
    assert remote.count() == 1


def named(change: Change | None, branch: str) -> Change | None:
    return None if change is None else replace(change, branch=branch)


def test_a_change_naming_its_branch_goes_there_in_branch_mode(
    remote: Remote, state_dir: Path
) -> None:
    main = remote.tip()
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: named(bump(ws.root), "updates-2.0"), BOT, mode="branch")
    assert (published.branch, published.pushed) == ("updates-2.0", True)
    assert remote.tip("updates-2.0") == published.sha
    assert remote.tip(BOT_BRANCH) is None
    assert remote.tip() == main


def test_a_change_naming_the_base_branch_is_refused(remote: Remote, state_dir: Path) -> None:
    with (
        Workspace.remote(remote.url, state_dir) as ws,
        pytest.raises(GitError, match="refusing to force-push main"),
    ):
        ws.publish(lambda base: named(bump(ws.root), "main"), BOT, mode="branch")
    assert remote.count() == 1


def test_push_branch_template() -> None:
    assert bot_branch_name("imagebot/{branch}", "main") == "imagebot/main"
    assert bot_branch_name("bot-updates", "main") == "bot-updates"
    with pytest.raises(ConfigError, match="names the branch being updated"):
        bot_branch_name("{branch}", "main")
    with pytest.raises(ConfigError, match="invalid"):
        bot_branch_name("imagebot/{brnach}", "main")
    with pytest.raises(ConfigError, match="invalid branch name"):
        bot_branch_name("bot..{branch}", "main")


def test_bot_branch_is_deleted_when_no_longer_wanted(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        ws.publish(lambda base: bump(ws.root), BOT, mode="pull-request")
        nothing = ws.publish(lambda base: None, BOT, mode="pull-request")
        assert nothing.sha is None
        assert ws.delete_bot_branch() is True
        assert ws.delete_bot_branch() is False
    assert remote.tip(BOT_BRANCH) is None
    assert remote.count() == 1
