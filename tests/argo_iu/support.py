"""Running ``imagebot scan`` on an Argo CD Image Updater user's repository.

The repository is built from a tree of files (its Applications' ``repoURL`` and
``git-repository`` spelled as :data:`PLACEHOLDER_URL`, replaced by the bare remote's URL, as
they name the repository Argo CD reads); the registries the manifests name are answered by one
local registry configured as their mirror.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.gitops.helpers import Remote, git, make_remote
from tests.harness import RegistryServer
from tests.update.helpers import IMAGEBOT

#: What the checked-in trees write where their own repository's URL goes.
PLACEHOLDER_URL = "https://git.example.com/platform/gitops.git"
#: Build time of every pushed image: fixed, so that digests are the same in every run.
CREATED = datetime(2024, 1, 1, tzinfo=UTC)


def tree_files(top: Path, *, url: str | None = None) -> dict[str, bytes]:
    """Every file under *top* by repository path (the placeholder URL replaced by *url*)."""
    files = {}
    for path in sorted(top.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if url is not None:
                data = data.replace(PLACEHOLDER_URL.encode(), url.encode())
            files[path.relative_to(top).as_posix()] = data
    return files


def remote_from(where: Path, files: dict[str, bytes], placeholder: str = PLACEHOLDER_URL) -> Remote:
    """A bare remote holding *files*, with *placeholder* replaced by the remote's own URL."""
    url = (where / "remote.git").as_uri()
    return make_remote(
        where, {k: v.replace(placeholder.encode(), url.encode()) for k, v in files.items()}
    )


def scan(
    tmp_path: Path, registry: RegistryServer, hosts: list[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``imagebot scan`` with *hosts* answered by *registry* (their mirror)."""
    config = tmp_path / "imagebot.yaml"
    mirrors = "".join(f'  "{host}":\n    mirror: {registry.url}\n' for host in hosts)
    config.write_text(f"state_dir: {tmp_path / 'state'}\nregistries:\n{mirrors}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOT_")}
    return subprocess.run(
        [IMAGEBOT, "scan", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def assert_wrote_exactly(
    remote: Remote, before: str | None, expected: Path, branch: str = "main"
) -> None:
    """The commits on *branch* since *before* changed exactly the files under *expected*, to
    those bytes."""
    changed = git(remote.path, "diff", "--name-only", str(before), branch).splitlines()
    wanted = sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file())
    assert sorted(changed) == wanted, (sorted(changed), wanted)
    for path in wanted:
        assert remote.read(path, branch) == (expected / path).read_bytes(), path
