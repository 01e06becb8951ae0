"""Running the git binary: one place for environment, timeouts, errors and redaction.

The writer drives git's plumbing (temporary index files, ``commit-tree``, ``update-ref`` with
an expected old value, ``push --porcelain``), which needs exact control over each process:
its environment (``GIT_INDEX_FILE``, credential variables, and no ``GIT_DIR`` leaking in
from a hook), stdin bytes, exit status and stderr. GitPython's ``Git.execute`` is a thin
wrapper of the same ``Popen`` that can only add environment variables, so this module calls
``subprocess`` directly.

Every git runs in a new session (no controlling terminal) with ``GIT_TERMINAL_PROMPT=0``,
so neither git, ssh nor a credential helper can ever stop and wait for a password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from imagebot.errors import GitError
from imagebot.gitops.credentials import GitAuth, redact
from imagebot.safetext import printable

log = logging.getLogger(__name__)

# Variables that would point git at another repository, index or identity than ours.
_SCRUBBED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
)
_FIXED_ENV = {
    "LC_ALL": "C",
    "LANGUAGE": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_MERGE_AUTOEDIT": "no",
}
NETWORK_TIMEOUT = 300.0
LOCAL_TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape").strip()


class RunOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`Git.run` that :meth:`Git.out` and :meth:`Git.ok` pass on
    (they set *check* themselves)."""

    input: bytes | None
    env: Mapping[str, str] | None
    config: Sequence[str]
    network: bool
    timeout: float | None
    cwd: Path | None


class Git:
    """git, run in one directory, optionally authenticated to one remote."""

    def __init__(self, cwd: Path, *, auth: GitAuth | None = None, where: str | None = None):
        self.cwd = cwd
        self.auth = auth
        self.where = where or str(cwd)
        self.secrets: tuple[str, ...] = auth.secrets if auth else ()
        #: File descriptors every git child inherits: the workspace lock, so that a git
        #: orphaned by a killed imagebot keeps the workspace locked until it exits.
        self.inherit_fds: tuple[int, ...] = ()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
        network: bool = False,
        check: bool = True,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> Result:
        """Run ``git [config] args``; raise GitError naming the command when *check* fails.

        *network* adds the remote's credentials (only to commands that talk to it) and the
        longer timeout.
        """
        argv = ["git", *config]
        full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        full_env.update(_FIXED_ENV)
        if network and self.auth is not None:
            argv += self.auth.config()
            full_env.update(self.auth.env())
        if env:
            full_env.update(env)
        argv += args
        limit = timeout or (NETWORK_TIMEOUT if network else LOCAL_TIMEOUT)
        log.debug("git %s (in %s)", self.redact(" ".join(args)), self.where)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd or self.cwd,
                env=full_env,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=self.inherit_fds,
            )
        except FileNotFoundError:
            raise GitError("git is not installed (no `git` on PATH)") from None
        try:
            out, err = proc.communicate(input, timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GitError(
                f"{self.where}: git {args[0]} took longer than {limit:.0f}s and was stopped"
            ) from None
        except BaseException:
            _kill_group(proc)
            raise
        result = Result(proc.returncode, out, err.decode("utf-8", "replace"))
        if check and result.returncode != 0:
            raise self.error(args, result)
        return result

    def out(self, *args: str, **options: Unpack[RunOptions]) -> str:
        """stdout of a successful git command, stripped."""
        return self.run(*args, **options).text

    def error(self, args: Sequence[str], result: Result) -> GitError:
        message = _summarise(result.stderr) or f"exit status {result.returncode}"
        return GitError(self.redact(f"{self.where}: git {args[0]} failed: {message}"))

    def ok(self, *args: str, **options: Unpack[RunOptions]) -> bool:
        """True when the command exits 0 (for predicates like ``merge-base --is-ancestor``)."""
        return self.run(*args, check=False, **options).returncode == 0

    def rev(self, ref: str) -> str | None:
        """The object a ref or revision names, or None when it does not exist."""
        result = self.run("rev-parse", "-q", "--verify", "--end-of-options", ref, check=False)
        return result.text if result.returncode == 0 else None


def _summarise(stderr: str, keep: int = 6) -> str:
    """git's last *keep* meaningful stderr lines on one line, control characters escaped:
    ``remote:`` lines are whatever the server's hooks print (colours, ``\r``, fake lines)."""
    lines = [
        printable(line.strip(), limit=300)
        for line in stderr.splitlines()
        if line.strip() and not line.startswith(("hint:", "remote: Counting", "remote: Total"))
    ]
    return "; ".join(lines[-keep:])


def remote_lines(stderr: str, keep: int = 6) -> str:
    """What the server's hooks said (git's ``remote:`` lines), as :func:`_summarise` does."""
    said = [line for line in stderr.splitlines() if line.startswith("remote:")]
    return _summarise("\n".join(said), keep)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def nul_split(data: bytes) -> Iterable[str]:
    return (part.decode("utf-8", "surrogateescape") for part in data.split(b"\0") if part)
