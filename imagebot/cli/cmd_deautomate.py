"""``imagebot deautomate WORKLOAD``: stop updating a workload's images (``fluxctl deautomate``).

Removes the ``automated`` annotation under every prefix it is written with, as Flux v1 did.
Where that is not enough (images carrying a Flux v2 ``$imagepolicy`` marker are updated
unless the workload says ``automated: "false"``), the annotation is set to ``"false"``
instead. Commits "Deautomated: <workload>".
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import set_policy, unset_policy
from imagebot.manifests.annotations import ARGO


def not_automated(sites: list[ImageSite]) -> str | None:
    """None when no container reads as automated, else which do and why."""
    on = [s for s in sites if s.automated]
    if not on:
        return None
    names = ", ".join(s.container for s in on)
    if any(s.source == "annotation:" + ARGO.rstrip("/") for s in on):
        return (
            f"container(s) {names} still read as automated: Argo CD Image Updater annotations "
            f"always automate; remove {ARGO}image-list to stop"
        )
    return f"container(s) {names} still read as automated ({on[0].source})"


@click.command("deautomate")
@manual.workload_argument
@manual.workload_options()
def command(request: manual.Request) -> None:
    """Deautomate WORKLOAD (namespace:kind/name): the bot leaves its images alone.

    Exit status: 0 committed (or not automated), 1 refused or failed, 2 usage errors.
    """

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        annotations = chosen.annotations
        return manual.edit_annotations(
            chosen,
            content,
            unset_policy(annotations, "automated"),
            not_automated,
            unchanged="not automated",
            fallback=set_policy(annotations, "automated", "false"),
        )

    request.run(action_name="deautomate", subject="Deautomated: {workload}", action=action)
