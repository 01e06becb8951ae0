"""A kill at any point of a cycle leaves checkout and remote consistent; the next run
finishes the job with exactly one commit, and never loses a user's change."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from imagebot.errors import GitError
from imagebot.gitops import Workspace
from tests.gitops.crash_child import cycle, run_killed
from tests.gitops.helpers import FILES, Remote, git

OLD = {p: FILES[p] for p in ("apps/web.yaml", "apps/api.yaml")}
NEW = {p: d.replace(b":1.0", b":2.0") for p, d in OLD.items()}

pytestmark = pytest.mark.slow  # about 3 s in all


def crash(spec: dict[str, object]) -> None:
    assert run_killed(spec) == -signal.SIGKILL, "the injected kill did not fire"


def rerun(spec: dict[str, object]) -> None:
    """The next run, in this process, with nothing injected."""
    cycle({**spec, "point": None})


def assert_remote_consistent(remote: Remote) -> None:
    """Either untouched, or one complete commit: never a partial one."""
    contents = {p: remote.read(p) for p in OLD}
    assert contents in (OLD, NEW)
    assert remote.count() == (1 if contents == OLD else 2)


def assert_finished(remote: Remote | None, checkout: Path) -> None:
    for path, data in NEW.items():
        assert (checkout / path).read_bytes() == data
    leftovers = [p.name for p in checkout.rglob("*") if ".imagebot-tmp-" in p.name]
    assert leftovers == []
    git_dir = Path(git(checkout, "rev-parse", "--absolute-git-dir"))
    assert not (git_dir / "imagebot" / "advance.json").exists()
    assert git(checkout, "log", "--format=%s").splitlines() == ["Update images", "initial"]
    if remote is not None:
        assert remote.count() == 2
        assert {p: remote.read(p) for p in NEW} == NEW
        assert git(checkout, "rev-parse", "HEAD") == remote.tip()


CLONE_POINTS = [
    ("git:hash-object", 1, "after"),
    ("git:commit-tree", 1, "after"),
    ("git:push", 1, "before"),
    ("git:push", 1, "after"),
    ("git:update-ref", 2, "after"),  # the branch moved, the files not yet
    ("write", 1, "after"),  # one file replaced, the other not
    ("git:update-index", 2, "before"),
]


@pytest.mark.parametrize(("point", "nth", "when"), CLONE_POINTS)
def test_killed_cycle_in_a_clone_is_finished_by_the_next_run(
    remote: Remote, state_dir: Path, point: str, nth: int, when: str
) -> None:
    spec = {"kind": "clone", "target": remote.url, "state": str(state_dir)}
    crash({**spec, "point": point, "nth": nth, "when": when})
    assert_remote_consistent(remote)
    rerun(spec)
    (clone,) = (state_dir / "repos").glob("*-*[!k]")  # the clone, not its .lock
    assert_finished(remote, clone)
    assert git(clone, "status", "--porcelain") == ""


@pytest.fixture
def checkout(remote: Remote, tmp_path: Path) -> Path:
    """A user's clone with their own work in progress that must survive everything."""
    path = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", remote.url, str(path))
    (path / "README.md").write_bytes(b"the user's unsaved edit\n")
    (path / "notes.txt").write_bytes(b"untracked notes\n")
    return path


def assert_user_work_kept(checkout: Path) -> None:
    assert (checkout / "README.md").read_bytes() == b"the user's unsaved edit\n"
    assert (checkout / "notes.txt").read_bytes() == b"untracked notes\n"
    status = git(checkout, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M README.md", "?? notes.txt"]


LOCAL_POINTS = [
    ("git:push", 1, "after"),  # pushed, not committed locally: the next sync fast-forwards
    ("git:update-ref", 2, "after"),  # pushed and branch moved; files and index still old
    ("write", 1, "after"),
    ("replace", 1, "before"),  # the new bytes sit in a temporary file
    ("replace", 2, "before"),
    ("git:update-index", 2, "before"),
]


@pytest.mark.parametrize(("point", "nth", "when"), LOCAL_POINTS)
def test_killed_cycle_in_a_users_checkout_is_finished_without_touching_their_work(
    remote: Remote, checkout: Path, point: str, nth: int, when: str
) -> None:
    spec = {"kind": "local", "target": str(checkout), "point": point, "nth": nth, "when": when}
    crash(spec)
    assert_remote_consistent(remote)
    for path in OLD:  # every file whole: old or new, never half
        assert (checkout / path).read_bytes() in (OLD[path], NEW[path])
    rerun(spec)
    assert_finished(remote, checkout)
    assert_user_work_kept(checkout)


@pytest.mark.parametrize(
    ("point", "nth", "when"),
    [("git:update-ref", 1, "after"), ("write", 1, "after"), ("git:update-index", 2, "before")],
)
def test_killed_commit_in_a_checkout_without_remote_is_finished(
    tmp_path: Path, point: str, nth: int, when: str
) -> None:
    path = tmp_path / "alone"
    git(tmp_path, "init", "-q", "-b", "main", str(path))
    for name, data in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    (path / "README.md").write_bytes(b"the user's unsaved edit\n")
    (path / "notes.txt").write_bytes(b"untracked notes\n")
    spec = {"kind": "local", "target": str(path), "point": point, "nth": nth, "when": when}
    crash(spec)
    rerun(spec)
    assert_finished(None, path)
    assert_user_work_kept(path)


def _lock_then_hang(url: str, state: str) -> None:
    ws = Workspace.remote(url, state)
    ws.git.run("-c", "alias.hang=!sleep 1.5", "hang")  # killed while git still runs


def test_a_git_orphaned_by_a_killed_bot_keeps_the_workspace_locked(
    remote: Remote, state_dir: Path
) -> None:
    Workspace.remote(remote.url, state_dir).close()  # clone first: the child only locks
    child = multiprocessing.get_context("fork").Process(
        target=_lock_then_hang, args=(remote.url, str(state_dir))
    )
    child.start()
    time.sleep(0.5)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    with pytest.raises(GitError, match="another imagebot process"):
        Workspace.remote(remote.url, state_dir, lock_timeout=0.2)  # the orphan git holds it
    with Workspace.remote(remote.url, state_dir, lock_timeout=10) as ws:  # free once it exits
        assert ws.sync() == remote.tip()
