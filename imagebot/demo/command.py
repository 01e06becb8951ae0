"""``imagebot demo [--workdir DIR] [--keep] [--serve]`` (also ``python -m imagebot.demo``,
``./dev demo``). ``--serve`` then keeps the registry and ``imagebot run`` going with the
Deploy view and pushes a new tag every minute (:meth:`Demo.serve`).

Exit status: 0 when the bot did exactly what the demo expects, 1 when it did not or a step
failed, 2 when something the demo needs is missing (docker-registry, git, the example
manifests), 130 when interrupted. The registry is stopped and the work directory removed
(unless --keep) in every case.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from imagebot.demo.registry import find_registry_binary
from imagebot.demo.run import Demo
from imagebot.demo.show import Show
from imagebot.errors import ImagebotError


def run_demo(
    workdir: Path | None, keep: bool, *, serve: bool = False, push_every: float = 60.0
) -> int:
    """The whole demo; returns its exit status (see the module docstring)."""
    show = Show()
    _check_prerequisites(show)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = _make_workdir(show, workdir)
    demo: Demo | None = None
    status = 1
    try:
        show.title("imagebot demo: new image tags in a registry become one commit in Git")
        show.note(
            f"Working in {workdir}; nothing outside it is touched, no network beyond 127.0.0.1."
        )
        demo = Demo(workdir, show)
        status = 0 if demo.run() else 1
        if serve:
            demo.serve(every=push_every)
    except KeyboardInterrupt:
        show.error("\nInterrupted.")
        status = 130
    except ImagebotError as exc:
        show.error(f"demo failed: {exc}")
        if exc.hint:
            show.say(f"hint: {exc.hint}")
        status = exc.exit_code
    finally:
        if demo is not None:
            demo.stop()
        if keep:
            show.note(f"Kept {workdir}; the registry is stopped (its tags lived in memory).")
            show.note(f"Look around: cd {workdir / 'checkout'} && git log -p")
        else:
            _remove(workdir)
            show.note(f"Registry stopped, {workdir} removed (--keep keeps it).")
    return status


def _check_prerequisites(show: Show) -> None:
    problem = None
    try:
        find_registry_binary()
    except ImagebotError as exc:
        problem = f"the demo runs a local registry, but {exc}"
    if problem is None and shutil.which("git") is None:
        problem = "git is not installed: sudo apt-get install git (./dev demo installs it for you)"
    if problem is not None:
        show.error(f"imagebot demo: {problem}")
        sys.exit(2)


def _make_workdir(show: Show, workdir: Path | None) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="imagebot-demo-")).resolve()
    if workdir.exists() and any(workdir.iterdir()):
        show.error(f"imagebot demo: --workdir {workdir} is not empty")
        sys.exit(2)
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir.resolve()


def _remove(workdir: Path) -> None:
    """Remove *workdir*, again while a process the demo killed (Ctrl-C during `git push`)
    leaves a child behind that still writes there for a moment."""
    for _ in range(50):
        shutil.rmtree(workdir, ignore_errors=True)
        if not workdir.exists():
            return
        time.sleep(0.1)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
