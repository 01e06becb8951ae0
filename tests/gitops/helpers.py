"""Real Git for the writer's tests: bare remotes on disk, a second writer, a fake updater."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagebot.config import CommitConfig
from imagebot.gitops import Change

FILES = {
    "apps/web.yaml": b"kind: Deployment\nspec:\n  image: registry.local/web:1.0  # keep\n",
    "apps/api.yaml": b"kind: Deployment\nspec:\n  image: registry.local/api:1.0\n",
    "README.md": b"demo\n",
}
BOT = CommitConfig(author_name="imagebot", author_email="bot@example.test")


def git(cwd: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    """Run git as a person would (the tests' identity comes from the isolated global config)."""
    result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout.decode().rstrip("\n")


@dataclass
class Remote:
    """A bare repository standing in for the forge's copy."""

    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def tip(self, branch: str = "main") -> str | None:
        out = git(self.path, "rev-parse", "-q", "--verify", f"refs/heads/{branch}", check=False)
        return out or None

    def read(self, path: str, branch: str = "main") -> bytes:
        return subprocess.run(
            ["git", "show", f"{branch}:{path}"], cwd=self.path, capture_output=True, check=True
        ).stdout

    def count(self, branch: str = "main") -> int:
        return int(git(self.path, "rev-list", "--count", f"refs/heads/{branch}"))

    def subjects(self, branch: str = "main") -> list[str]:
        return git(self.path, "log", "--format=%s", f"refs/heads/{branch}").splitlines()

    def ref_updates(self, branch: str = "main") -> list[tuple[str, str]]:
        """(old, new) of every update of the branch, from the remote's reflog."""
        log = self.path / "logs" / "refs" / "heads" / branch
        return [tuple(line.split()[:2]) for line in log.read_text().splitlines()]

    def is_ancestor(self, a: str, b: str) -> bool:
        return (
            subprocess.run(
                ["git", "merge-base", "--is-ancestor", a, b], cwd=self.path, check=False
            ).returncode
            == 0
        )


_TEMPLATES: dict[tuple[tuple[str, bytes], ...], Path] = {}


def make_remote(where: Path, files: dict[str, bytes] = FILES) -> Remote:
    """*where*/remote.git, a bare repo whose main holds *files* (with its reflog on, to check
    that every update was a fast-forward), and *where*/seed, the checkout that made it.

    Built once per set of files and copied afterwards: a copy is much cheaper than the git
    processes that build it.
    """
    key = tuple(sorted(files.items()))
    if key not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="imagebot-remote-"))
        bare = template / "remote.git"
        git(template, "init", "-q", "--bare", "-b", "main", str(bare))
        git(bare, "config", "core.logAllRefUpdates", "always")
        seed = template / "seed"
        git(template, "init", "-q", "-b", "main", str(seed))
        for path, data in files.items():
            (seed / path).parent.mkdir(parents=True, exist_ok=True)
            (seed / path).write_bytes(data)
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "initial")
        git(seed, "push", "-q", str(bare), "main")
        atexit.register(shutil.rmtree, template, True)
        _TEMPLATES[key] = template
    for name in ("remote.git", "seed"):
        shutil.copytree(_TEMPLATES[key] / name, where / name, symlinks=True)
    return Remote(where / "remote.git")


class Writer:
    """Someone else pushing to the same remote."""

    def __init__(self, remote: Remote, where: Path) -> None:
        self.dir = where
        git(where.parent, "clone", "-q", remote.url, str(where))

    def commit_and_push(self, path: str, data: bytes, message: str = "human change") -> str:
        git(self.dir, "pull", "-q", "--ff-only")
        (self.dir / path).parent.mkdir(parents=True, exist_ok=True)
        (self.dir / path).write_bytes(data)
        git(self.dir, "add", path)
        git(self.dir, "commit", "-q", "-m", message)
        git(self.dir, "push", "-q", "origin", "HEAD:main")
        return git(self.dir, "rev-parse", "HEAD")


def bump(
    root: Path, old: str = ":1.0", new: str = ":2.0", paths: tuple[str, ...] = ()
) -> Change | None:
    """A stand-in for the updater: rewrite tags in the YAML files found under *root*."""
    files = {}
    for path in paths or ("apps/web.yaml", "apps/api.yaml"):
        file = root / path
        if not file.exists():
            continue
        data = file.read_bytes()
        if old.encode() in data:
            files[path] = data.replace(old.encode(), new.encode())
    if not files:
        return None
    lines = [f"{p}: {old.lstrip(':')} -> {new.lstrip(':')}" for p in sorted(files)]
    return Change(files, "Update images\n\n" + "\n".join(lines))


#: Variables that would point git at another repository, index or SSH command.
GIT_POINTERS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_SSH_COMMAND")


def use_isolated_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """This process's git (and imagebot) as :func:`isolate_git` sets it up under *home*:
    nothing of the machine's config, no variable pointing git elsewhere, no IMAGEBOT_CONFIG."""
    for key, value in isolate_git(home).items():
        monkeypatch.setenv(key, value)
    for key in (*GIT_POINTERS, "IMAGEBOT_CONFIG"):
        monkeypatch.delenv(key, raising=False)


def isolate_git(home: Path) -> dict[str, str]:
    """Environment that keeps the machine's git config out of the tests."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Test Person\n\temail = person@example.test\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    return {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GNUPGHOME": str(home / ".gnupg-unused"),
        "PATH": os.environ["PATH"],
    }
