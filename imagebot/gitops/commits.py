"""Building a commit from file contents with git's plumbing, never from the working tree.

The commit's tree is the parent's tree with the given blobs swapped in, assembled in a
temporary index file (``GIT_INDEX_FILE``): the checkout's own index and files are not read or
written, so a crash here leaves only unreferenced objects behind, which git ignores.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagebot.config import CommitConfig
from imagebot.errors import GitError
from imagebot.gitops.runner import Git, nul_split

REGULAR = "100644"
EXECUTABLE = "100755"


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str


def normalise_path(path: str) -> str:
    """A repository-relative path in git's form; ValueError for anything that escapes it."""
    if not isinstance(path, str) or not path or "\0" in path or "\n" in path or "\\" in path:
        raise ValueError(f"invalid repository path {path!r}")
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"repository path {path!r} must be relative, without . or ..")
    if parts[0].lower() == ".git":
        raise ValueError(f"repository path {path!r} is inside .git")
    return path  # relative, no empty, "." or ".." part: already as git writes it


def tree_entries(git: Git, rev: str, paths: list[str]) -> dict[str, TreeEntry]:
    """The entries *paths* have in *rev*'s tree (missing paths are absent)."""
    if not paths:
        return {}
    out = git.run("ls-tree", "-z", "--full-tree", rev, "--", *paths).stdout
    entries: dict[str, TreeEntry] = {}
    for record in nul_split(out):
        meta, _, path = record.partition("\t")
        mode, kind, sha = meta.split()
        entries[path] = TreeEntry(mode, kind, sha)
    return entries


def hash_blob(git: Git, path: str, data: bytes) -> str:
    """Store *data* as the blob for *path*, through the path's clean filters (eol, lfs...)."""
    return git.out("hash-object", "-w", "--stdin", f"--path={path}", input=data)


def identity_env(commit: CommitConfig) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": commit.author_name,
        "GIT_AUTHOR_EMAIL": commit.author_email,
        "GIT_COMMITTER_NAME": commit.committer_name or commit.author_name,
        "GIT_COMMITTER_EMAIL": commit.committer_email or commit.author_email,
    }


def signing_args(commit: CommitConfig) -> tuple[list[str], list[str]]:
    """(``-c`` config, commit-tree flags). Unsigned commits say so explicitly, so that a
    user's ``commit.gpgSign`` cannot make a bot commit fail for want of a key."""
    key = commit.signing_key
    if not key:
        return [], ["--no-gpg-sign"]
    if commit.signing_format == "ssh":
        if not key.startswith("key::"):
            key = str(Path(key).expanduser().resolve())
        config = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}"]
        if commit.signing_program:
            config += ["-c", f"gpg.ssh.program={commit.signing_program}"]
        return config, ["--gpg-sign"]
    config = ["-c", "gpg.format=openpgp"]
    if commit.signing_program:
        config += ["-c", f"gpg.program={commit.signing_program}"]
    return config, [f"--gpg-sign={key}"]


def normalise_message(message: str) -> str:
    text = message.strip("\n")
    if not text.strip():
        raise ValueError("empty commit message")
    return text + "\n"


def build_commit(
    git: Git,
    scratch: Path,
    files: Mapping[str, bytes],
    message: str,
    commit: CommitConfig,
    *,
    parent: str,
) -> str | None:
    """A commit of *parent*'s tree with *files* replaced; None when they change nothing."""
    wanted = {normalise_path(path): data for path, data in files.items()}
    text = normalise_message(message)
    existing = tree_entries(git, parent, sorted(wanted))
    changes: list[tuple[str, str, str]] = []
    for path, data in sorted(wanted.items()):
        entry = existing.get(path)
        if entry is not None and (entry.type != "blob" or entry.mode not in (REGULAR, EXECUTABLE)):
            what = {"120000": "a symbolic link", "160000": "a submodule"}.get(
                entry.mode, "a directory" if entry.type == "tree" else f"mode {entry.mode}"
            )
            raise GitError(f"{git.where}: {path} is {what}; the bot only rewrites regular files")
        blob = hash_blob(git, path, data)
        if entry is None or blob != entry.sha:
            changes.append((entry.mode if entry else REGULAR, blob, path))
    if not changes:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    index = scratch / f"index-{os.getpid()}-{secrets.token_hex(4)}"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git.run("read-tree", parent, env=env)
        info = b"".join(f"{mode} {sha}\t{path}".encode() + b"\0" for mode, sha, path in changes)
        git.run("update-index", "-z", "--index-info", input=info, env=env)
        tree = git.out("write-tree", env=env)
    finally:
        for leftover in (index, index.with_name(index.name + ".lock")):
            leftover.unlink(missing_ok=True)
    config, flags = signing_args(commit)
    result = git.run(
        "commit-tree",
        *flags,
        "-p",
        parent,
        "-F",
        "-",
        tree,
        config=config,
        input=text.encode(),
        env=identity_env(commit),
        check=False,
    )
    if result.returncode != 0:
        error = git.error(["commit-tree"], result)
        if commit.signing_key:
            error.hint = (
                f"check that the {commit.signing_format} key {commit.signing_key!r} exists and "
                "needs no passphrase"
            )
        raise error
    return result.text


def same_commit(git: Git, a: str, b: str) -> bool:
    """Same tree, parents and message: the same change, whatever the dates or signature."""
    if a == b:
        return True
    fmt = "--format=%T%x00%P%x00%B"
    return git.out("log", "-1", fmt, a) == git.out("log", "-1", fmt, b)
