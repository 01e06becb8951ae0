"""Another writer pushes while the bot works: the bot recomputes on the new tip and retries,
and never force-pushes the user's branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagebot.errors import GitError, PushRejected
from imagebot.gitops import Change, Workspace
from tests.gitops.helpers import BOT, FILES, Remote, Writer, bump, git


def only_fast_forwards(remote: Remote, branch: str = "main") -> bool:
    updates = remote.ref_updates(branch)
    return all(remote.is_ancestor(old, new) for old, new in updates if set(old) != {"0"})


def test_push_to_a_branch_that_moved_is_rejected(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        base = ws.sync()
        change = bump(ws.root)
        sha = ws.create_commit(change.files, change.message, BOT, parent=base)
        theirs = writer.commit_and_push("README.md", b"someone else\n")
        with pytest.raises(PushRejected, match="rejected"):
            ws.push(sha)
    assert remote.tip() == theirs


def test_publish_recomputes_on_the_new_tip_and_succeeds(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    bases: list[str] = []
    theirs: list[str] = []

    def compute(base: str) -> Change | None:
        bases.append(base)
        change = bump(ws.root)
        if len(bases) == 1:  # the race: someone pushes between our sync and our push
            theirs.append(writer.commit_and_push("apps/api.yaml", b"image: api:1.5\n"))
        return change

    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(compute, BOT)
    assert published.attempts == 2
    assert bases[1] == theirs[0]  # the second computation saw the other writer's commit
    assert published.base == theirs[0]
    assert remote.tip() == published.sha
    assert remote.is_ancestor(theirs[0], published.sha)
    assert remote.read("apps/api.yaml") == b"image: api:1.5\n"  # theirs kept, not rebased over
    assert b":2.0" in remote.read("apps/web.yaml")
    assert only_fast_forwards(remote)


def test_publish_gives_up_after_a_bounded_number_of_attempts(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    calls = 0

    def compute(base: str) -> Change | None:
        nonlocal calls
        calls += 1
        writer.commit_and_push("README.md", f"busy {calls}\n".encode())
        return bump(ws.root)

    with (
        Workspace.remote(remote.url, state_dir) as ws,
        pytest.raises(PushRejected, match="rejected 3 times"),
    ):
        ws.publish(compute, BOT, attempts=3)
    assert calls == 3
    assert remote.read("README.md") == b"busy 3\n"
    assert remote.subjects()[0] == "human change"
    assert only_fast_forwards(remote)


def test_nothing_left_to_do_after_the_race_makes_no_commit(
    remote: Remote, state_dir: Path, writer: Writer
) -> None:
    calls = 0

    def compute(base: str) -> Change | None:
        nonlocal calls
        calls += 1
        change = bump(ws.root)
        if calls == 1:  # a human made the same update meanwhile
            for path, data in change.files.items():
                writer.commit_and_push(path, data)
        return change

    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(compute, BOT)
    assert published.sha is None
    assert published.attempts == 2
    assert "Update images" not in remote.subjects()


def test_a_refusal_by_the_remote_is_not_a_race(remote: Remote, state_dir: Path) -> None:
    hook = remote.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    with Workspace.remote(remote.url, state_dir) as ws, pytest.raises(GitError) as caught:
        ws.publish(lambda base: bump(ws.root), BOT)
    assert not isinstance(caught.value, PushRejected)
    assert "refused" in str(caught.value)
    assert remote.count() == 1


def test_the_checkout_follows_the_pushed_commit(remote: Remote, state_dir: Path) -> None:
    with Workspace.remote(remote.url, state_dir) as ws:
        published = ws.publish(lambda base: bump(ws.root), BOT)
        assert ws.head() == published.sha
        assert git(ws.root, "status", "--porcelain") == ""
        assert (ws.root / "README.md").read_bytes() == FILES["README.md"]
