"""One imagebot at a time per workspace: an advisory ``flock`` that dies with its process.

Git's own ``*.lock`` files are left behind by a killed git; an flock is not (the kernel drops
it with the process), so holding ours is what lets a later run know that any git lock file in
the bot's own clone is stale.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from imagebot.errors import GitError


class WorkspaceLock:
    def __init__(self, path: Path, *, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int | None:
        return self._fd

    def acquire(self, timeout: float) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise GitError(
                        f"{self.what}: another imagebot process is working on it "
                        f"(waited {timeout:.0f}s for {self.path})"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
