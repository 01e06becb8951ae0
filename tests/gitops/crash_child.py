"""Run one publish cycle in a forked child that SIGKILLs itself at an injected point.

    run_killed({"kind": "clone", "target": URL, "state": DIR,
                "point": "git:push", "nth": 1, "when": "after"}) -> exit code (-9 when killed)

Points: ``git:<subcommand>`` (around the nth such git call), ``write`` (after the nth file of
the checkout is replaced, the journal not counted), ``replace`` (the nth file's new content
is fully written to its temporary file, not yet renamed over the old one).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path
from typing import Any

from imagebot.gitops import Workspace, worktree
from imagebot.gitops.runner import Git
from tests.gitops.helpers import BOT, bump


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, nth: int, when: str) -> None:
    seen = 0

    def hit() -> bool:
        nonlocal seen
        seen += 1
        return seen == nth

    kind, _, name = point.partition(":")
    if kind == "git":
        original_run = Git.run

        def run(self: Git, *args: str, **kwargs: Any) -> Any:
            fire = bool(args) and args[0] == name and hit()
            if fire and when == "before":
                die()
            result = original_run(self, *args, **kwargs)
            if fire:
                die()
            return result

        Git.run = run  # type: ignore[method-assign]
    elif kind == "write":
        original_write = worktree.write_atomic

        def write_atomic(path: Path, data: bytes, mode: int) -> None:
            original_write(path, data, mode)
            if path.name != "advance.json" and hit():
                die()

        worktree.write_atomic = write_atomic
    elif kind == "replace":
        original_replace = os.replace

        def replace(src: Any, dst: Any) -> None:
            if Path(dst).name != "advance.json" and hit():
                die()
            original_replace(src, dst)

        os.replace = replace  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown point {point}")


def cycle(spec: dict[str, Any]) -> None:
    if spec.get("point"):
        arm(spec["point"], spec.get("nth", 1), spec.get("when", "after"))
    if spec["kind"] == "clone":
        ws = Workspace.remote(spec["target"], spec["state"])
    else:
        ws = Workspace.local(spec["target"])
    with ws:
        ws.publish(lambda base: bump(ws.root), BOT, mode=spec.get("mode", "direct"))


def run_killed(spec: dict[str, Any]) -> int | None:
    """Fork (cheap: no new interpreter), run the cycle in the child, return its exit code."""
    process = multiprocessing.get_context("fork").Process(target=cycle, args=(spec,))
    process.start()
    process.join(60)
    return process.exitcode
