"""``imagebot automate WORKLOAD``: let the bot update a workload's images (``fluxctl automate``).

Writes ``automated: "true"`` in the workload's annotations, byte for byte, under the prefix
the workload already uses (``fluxcd.io/`` stays ``fluxcd.io/``; a workload without policy
annotations gets ``imagebot.io/``), and commits "Automated: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import set_policy


def automated(sites: list[ImageSite]) -> str | None:
    """None when every container reads as automated, else what does not."""
    off = [s.container for s in sites if not s.automated]
    return f"container(s) {', '.join(off)} do not read as automated" if off else None


@click.command("automate")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Automate WORKLOAD (namespace:kind/name): the bot keeps its images up to date.

    Exit status: 0 committed (or already automated), 1 refused or failed, 2 usage errors.
    """

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        edits = set_policy(chosen.annotations, "automated", "true")
        return manual.edit_annotations(
            chosen, content, edits, automated, unchanged="already automated"
        )

    request.run(action_name="automate", subject="Automated: {workload}", action=action)
