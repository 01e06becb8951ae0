"""``imagebot unlock WORKLOAD``: let a locked workload's images move again (``fluxctl unlock``).

Removes ``locked``, ``locked_msg`` and ``locked_user`` under every prefix they are written
with (and ``annotations:`` itself when nothing else is left, as Flux v1 did). Commits
"Unlocked: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.operations import actions


@click.command("unlock")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Unlock WORKLOAD (namespace:kind/name).

    Exit status: 0 committed (or not locked), 1 refused or failed, 2 usage errors.
    """
    request.perform(actions.unlock())
