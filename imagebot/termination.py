"""SIGTERM from the first moment ``imagebot`` runs: held, then handed to whoever takes it.

Kubernetes may stop a pod at any moment, including the second it spends starting. The entry
point (:mod:`imagebot.__main__`) calls :func:`hold` before importing anything else, so a
SIGTERM that arrives while imagebot loads is recorded instead of killing the process with 143.
Then either the service takes it over (``Service.run_forever`` checks :func:`received` after
installing its own handler, and stops at once: exit 0), or any other command calls
:func:`release`: SIGTERM gets its default action back, and one that was held meanwhile ends the
process now, as it would have.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

_received: list[int] = []


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def hold() -> None:
    """Record SIGTERM instead of dying of it (the entry point's first act)."""
    signal.signal(signal.SIGTERM, _record)


def holding() -> bool:
    return signal.getsignal(signal.SIGTERM) is _record


def received() -> bool:
    """Whether a SIGTERM arrived while it was held."""
    return bool(_received)


def release() -> None:
    """Give SIGTERM its default action back; a SIGTERM held meanwhile ends the process now."""
    if not holding():
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _received:
        os.kill(os.getpid(), signal.SIGTERM)
