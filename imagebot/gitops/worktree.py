"""Moving a branch to a new commit and bringing the checkout along, crash-safely.

Order: write a journal, move the branch with ``update-ref <new> <old>`` (atomic, and only if
nobody moved it), replace each changed file by writing a temporary file and renaming it over
the old one (a reader sees the old or the new bytes, never half), then refresh those paths in
the index and delete the journal. A process killed anywhere in between leaves a journal that
the next run reads to finish the job (or to see that the branch never moved). Files are only
ever replaced when they still hold the old content: a user's edit is never overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from imagebot.errors import GitError, LocalChanges
from imagebot.gitops.commits import EXECUTABLE, REGULAR
from imagebot.gitops.runner import Git, nul_split

log = logging.getLogger(__name__)

TMP_MARKER = ".imagebot-tmp-"


@dataclass(frozen=True)
class FileChange:
    path: str
    old: str | None  # blob before (None: the file is new)
    new: str
    mode: str


@dataclass(frozen=True)
class Journal:
    branch: str
    old: str
    new: str
    files: list[FileChange]

    @classmethod
    def load(cls, path: Path) -> Journal | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                data["branch"], data["old"], data["new"], [FileChange(**f) for f in data["files"]]
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable journal %s", path)
            return None

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self)).encode(), 0o644)


def diff(git: Git, old: str, new: str) -> list[FileChange]:
    """What the bot's commit *new* changed on top of *old*: added or modified regular files."""
    out = git.run("diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", old, new).stdout
    fields = list(nul_split(out))
    changes = []
    for meta, path in zip(fields[::2], fields[1::2], strict=True):
        _, new_mode, old_sha, new_sha, status = meta.lstrip(":").split()
        if status not in ("A", "M") or new_mode not in (REGULAR, EXECUTABLE):
            raise GitError(f"{git.where}: commit {new[:12]} does more than edit {path} ({status})")
        changes.append(FileChange(path, None if status == "A" else old_sha, new_sha, new_mode))
    return changes


def modified(
    git: Git, paths: list[str], *, unchanged: Mapping[str, str] | None = None
) -> list[str]:
    """Those of *paths* with uncommitted changes (staged, unstaged or untracked).

    *unchanged* (what :func:`blobs` returned this cycle: files whose checkout copy matches
    the index) spares ``git status`` the paths it names that are also staged as in HEAD
    (one ``git diff-index --cached``, not a pathspec per file); the rest are asked as ever."""
    if unchanged is not None and paths:
        staged = git.run("diff-index", "--cached", "--name-only", "-z", "HEAD", check=False)
        if staged.returncode == 0:
            differ = set(nul_split(staged.stdout))
            paths = [p for p in paths if p not in unchanged or p in differ]
    if not paths:
        return []
    out = git.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *paths
    ).stdout
    return sorted({record[3:] for record in nul_split(out)})


def blobs(git: Git) -> dict[str, str]:
    """Git blob id of every tracked regular file whose checkout copy matches the index.

    A file ``git diff-files`` lists as changed is left out, so whatever is left out is read
    from disk; the ids are exactly what the files hold. One it lists only because its stat
    data changed (rewritten with the same bytes, touched) is hashed by ``git hash-object
    --no-filters`` and kept when the bytes are the index's, so that it does not count as
    changed until something refreshes the index."""
    staged: dict[str, str] = {}
    for record in nul_split(git.run("ls-files", "--stage", "-z").stdout):
        meta, _, path = record.partition("\t")
        mode, blob, stage = meta.split(" ")
        if mode in ("100644", "100755") and stage == "0":
            staged[path] = blob
    raw = list(nul_split(git.run("diff-files", "-z").stdout))
    dirty = set(raw[1::2])
    out = {path: blob for path, blob in staged.items() if path not in dirty}
    touched = [
        path
        for meta, path in zip(raw[::2], raw[1::2], strict=True)
        if path in staged and "\n" not in path and _stat_only(meta)
    ]
    if touched:
        hashed = git.run(  # the bytes as they are, as discovery hashes them: no filters run
            "hash-object",
            "--no-filters",
            "--stdin-paths",
            input="\n".join(touched).encode(),
            check=False,
        )
        ids = hashed.text.split() if hashed.returncode == 0 else []
        if len(ids) == len(touched):
            out.update((p, i) for p, i in zip(touched, ids, strict=True) if staged[p] == i)
    return out


def _stat_only(meta: str) -> bool:
    """A ``diff-files`` record of a file whose content Git did not look at (``0{40}`` on the
    worktree side, same mode, modified): its bytes may well be the index's."""
    fields = meta.lstrip(":").split(" ")
    return (
        len(fields) == 5 and fields[0] == fields[1] and fields[4] == "M" and set(fields[3]) == {"0"}
    )


def advance(git: Git, root: Path, journal_path: Path, branch: str, new: str, old: str) -> None:
    """Move *branch* (checked out at *root*) from *old* to its child *new*, tree included."""
    changes = diff(git, old, new)
    dirty = modified(git, [c.path for c in changes])
    if dirty:
        raise LocalChanges(
            f"{git.where}: uncommitted changes in {', '.join(dirty)}, which the bot needs to "
            "update",
            paths=dirty,
            hint="commit or stash them, then run again",
        )
    journal = Journal(branch, old, new, changes)
    journal.save(journal_path)
    subject = git.out("log", "-1", "--format=%s", new)
    git.run("update-ref", "-m", f"imagebot: {subject}", f"refs/heads/{branch}", new, old)
    finish(git, root, journal)
    journal_path.unlink()


def recover(git: Git, root: Path, journal_path: Path) -> None:
    """Finish (or drop) what a killed run left in the journal."""
    journal = Journal.load(journal_path)
    if journal is None:
        journal_path.unlink(missing_ok=True)
        return
    tip = git.rev(f"refs/heads/{journal.branch}")
    if tip == journal.new:
        log.warning("%s: finishing commit %s interrupted last run", git.where, journal.new[:12])
        finish(git, root, journal)
    elif tip != journal.old:
        log.warning(
            "%s: an interrupted commit %s was superseded (branch %s is at %s); leaving the "
            "checkout as it is",
            git.where,
            journal.new[:12],
            journal.branch,
            (tip or "nothing")[:12],
        )
    remove_temporaries(root, [c.path for c in journal.files])
    journal_path.unlink()


def finish(git: Git, root: Path, journal: Journal) -> None:
    """Bring files and index entries still at the old content to the new content."""
    paths = [c.path for c in journal.files]
    current = worktree_blobs(git, root, paths)
    indexed = index_blobs(git, paths)
    refresh = []
    for change in journal.files:
        have = current.get(change.path)
        if have not in (change.old, change.new):
            log.warning("%s: left %s alone: it was changed meanwhile", git.where, change.path)
            continue
        if have != change.new:
            data = git.run("cat-file", "--filters", f"--path={change.path}", change.new).stdout
            write_atomic(root / change.path, data, file_mode(root / change.path, change.mode))
        if indexed.get(change.path) in (change.old, change.new):
            refresh.append(change.path)
    if refresh:
        data = b"".join(p.encode() + b"\0" for p in refresh)
        git.run("update-index", "--add", "-z", "--stdin", input=data)


def worktree_blobs(git: Git, root: Path, paths: list[str]) -> dict[str, str | None]:
    """The blob each file would hash to (None: no file), through its clean filters."""
    present = [p for p in paths if (root / p).is_file() and not (root / p).is_symlink()]
    blobs: dict[str, str | None] = dict.fromkeys(paths)
    if present:
        data = b"".join(p.encode() + b"\n" for p in present)
        out = git.out("hash-object", "--stdin-paths", input=data).split()
        blobs.update(zip(present, out, strict=True))
    return blobs


def index_blobs(git: Git, paths: list[str]) -> dict[str, str]:
    out = git.run("ls-files", "-s", "-z", "--", *paths).stdout
    blobs = {}
    for record in nul_split(out):
        meta, _, path = record.partition("\t")
        blobs[path] = meta.split()[1]
    return blobs


def file_mode(path: Path, mode: str) -> int:
    try:
        perms = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        perms = 0o666 & ~umask
    if mode == EXECUTABLE:
        return perms | ((perms & 0o444) >> 2)
    return perms & ~0o111


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace *path* by *data* with a rename: readers see the old or new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(3)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_temporaries(root: Path, paths: list[str]) -> None:
    for directory in {(root / p).parent for p in paths}:
        if directory.is_dir():
            for leftover in directory.glob(f".*{TMP_MARKER}*"):
                leftover.unlink(missing_ok=True)
