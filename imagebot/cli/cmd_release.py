"""``imagebot release WORKLOAD --tag T``: deploy a tag by hand (``fluxctl release``).

The same byte-exact edit an automated update makes (:func:`imagebot.manifests.rewrite`), for
one container of one workload, committed as "Release <image>:<tag> to <workload>" and
recorded in the history with mode ``release``. A locked (or ignored) workload is refused
unless ``--force``: the lock is someone's decision.

Before committing, the registry is asked whether the tag exists (one ``HEAD`` request for its
manifest, which Docker Hub does not count as a pull). A tag the registry does not have is
refused; a registry that cannot be asked (offline, no credentials) only earns a note, unless
the reference is pinned by digest, whose new digest then has to come from ``--digest``.
``--no-check-tag`` skips the question.
"""

from __future__ import annotations

import click

from imagebot.cli import manual
from imagebot.cli.common import complete_container
from imagebot.config import load_config
from imagebot.operations import actions
from imagebot.reference import validate_digest, validate_tag


@click.command("release")
@manual.workload_argument
@click.option("-t", "--tag", required=True, help="The tag to deploy.")
@click.option(
    "-c",
    "--container",
    metavar="NAME",
    shell_complete=complete_container,
    help="The container to change; not needed when the workload has only one.",
)
@click.option(
    "--digest",
    metavar="sha256:...",
    help="The tag's digest, for references pinned by digest (default: asked from the registry).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Release even if the workload is locked or ignored, or the supply-chain gates hold "
    "the tag (recorded in the history as release-forced).",
)
@click.option(
    "--check-tag/--no-check-tag",
    default=True,
    show_default=True,
    help="Ask the registry that the tag exists before committing.",
)
@manual.workload_options()
def command(
    request: manual.Request,
    tag: str,
    container: str | None,
    digest: str | None,
    force: bool,
    check_tag: bool,
) -> None:
    """Deploy TAG to a container of WORKLOAD (namespace:kind/name) by hand.

    Exit status: 0 committed (or already at the tag), 1 refused (locked, unknown tag) or
    failed, 2 usage errors.
    """
    tag = validate_tag(tag)
    if digest is not None:
        digest = validate_digest(digest)
    action = actions.release(
        load_config(request.config_path),
        tag,
        container=container,
        digest=digest,
        force=force,
        check_tag=check_tag,
        body=request.message,
    )
    request.perform(action)
