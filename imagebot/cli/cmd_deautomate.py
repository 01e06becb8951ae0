"""``imagebot deautomate WORKLOAD``: stop updating a workload's images (``fluxctl deautomate``).

Removes the ``automated`` annotation under every prefix it is written with, as Flux v1 did.
Where that is not enough (images carrying a Flux v2 ``$imagepolicy`` marker are updated
unless the workload says ``automated: "false"``), the annotation is set to ``"false"``
instead. Commits "Deautomated: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.operations import actions


@click.command("deautomate")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Deautomate WORKLOAD (namespace:kind/name): the bot leaves its images alone.

    Exit status: 0 committed (or not automated), 1 refused or failed, 2 usage errors.
    """
    request.perform(actions.deautomate())
