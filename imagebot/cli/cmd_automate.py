"""``imagebot automate WORKLOAD``: let the bot update a workload's images (``fluxctl automate``).

Writes ``automated: "true"`` in the workload's annotations, byte for byte, under the prefix
the workload already uses (``fluxcd.io/`` stays ``fluxcd.io/``; a workload without policy
annotations gets ``imagebot.io/``), and commits "Automated: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.operations import actions


@click.command("automate")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Automate WORKLOAD (namespace:kind/name): the bot keeps its images up to date.

    Exit status: 0 committed (or already automated), 1 refused or failed, 2 usage errors.
    """
    request.perform(actions.automate())
