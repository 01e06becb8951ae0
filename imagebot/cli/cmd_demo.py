"""``imagebot demo``: imagebot end to end on this machine, from any installation.

The demo's manifests ship inside the package (``imagebot/demo/examples/``), so a plain
``pip install`` and the container image run the same story as ``./dev demo`` in a checkout.
The demo itself is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Work in DIR (created; it must be empty) instead of a temporary directory.",
)
@click.option("--keep", is_flag=True, help="Keep the work directory to look around afterwards.")
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards keep the registry and `imagebot run` going, print the dashboard URL, and "
    "push a new tag every minute (Ctrl-C ends it).",
)
@click.option(
    "--push-every",
    type=click.FloatRange(min=0.5),
    default=60.0,
    hidden=True,
    help="Seconds between two pushed tags with --serve.",
)
def command(workdir: Path | None, keep: bool, serve: bool, push_every: float) -> None:
    """Run imagebot end to end on this machine, in under a minute, without the network.

    Starts a local registry (Debian's docker-registry), builds a GitOps repository from the
    sock-shop and podinfo manifests shipped with imagebot, pushes new image tags, runs
    `imagebot scan` and shows its commit.

    With --serve it then keeps the registry and `imagebot run` going with the Deploy view on
    127.0.0.1 (the URL and a sign-in token are printed) and pushes a new tag every minute.

    Exit status: 0 when the bot did what the demo expects, 1 when it did not, 2 when
    docker-registry or git is missing, 130 when interrupted.
    """
    from imagebot.demo.command import run_demo

    raise SystemExit(run_demo(workdir, keep, serve=serve, push_every=push_every))
