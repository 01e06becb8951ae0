"""``imagebot unlock WORKLOAD``: let a locked workload's images move again (``fluxctl unlock``).

Removes ``locked``, ``locked_msg`` and ``locked_user`` under every prefix they are written
with (and ``annotations:`` itself when nothing else is left, as Flux v1 did). Commits
"Unlocked: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import unset_policy


def unlocked(sites: list[ImageSite]) -> str | None:
    still = [s.container for s in sites if s.locked or s.lock_message or s.lock_user]
    return f"container(s) {', '.join(still)} still read as locked" if still else None


@click.command("unlock")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Unlock WORKLOAD (namespace:kind/name).

    Exit status: 0 committed (or not locked), 1 refused or failed, 2 usage errors.
    """

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        annotations = chosen.annotations
        edits = [
            edit
            for name in ("locked", "locked_msg", "locked_user")
            for edit in unset_policy(annotations, name)
        ]
        return manual.edit_annotations(chosen, content, edits, unlocked, unchanged="not locked")

    request.run(action_name="unlock", subject="Unlocked: {workload}", action=action)
