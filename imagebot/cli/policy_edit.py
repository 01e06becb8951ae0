"""``imagebot policy set`` and ``imagebot policy unset``: a workload's tag policy annotations.

Like ``fluxctl policy --tag``: the annotations are edited byte for byte and committed (see
:mod:`imagebot.cli.manual` and :mod:`imagebot.operations.actions`). The ``policy`` group
(:mod:`imagebot.cli.cmd_policy`) imports this module only when one of these commands is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from imagebot.cli import manual
from imagebot.cli.common import complete_container
from imagebot.operations import actions

F = TypeVar("F", bound=Callable[..., Any])


def _containers_option(all_help: str) -> Callable[[F], F]:
    """``--container`` (repeatable) and ``--all-containers``, as policy set and unset take them."""

    def decorate(func: F) -> F:
        func = click.option("--all-containers", is_flag=True, help=all_help)(func)
        return click.option(
            "-c",
            "--container",
            "containers",
            multiple=True,
            metavar="NAME",
            shell_complete=complete_container,
            help="The container (repeatable); not needed when the workload has only one.",
        )(func)

    return decorate


@click.command(name="set")
@manual.workload_argument
@click.argument("policy")
@_containers_option("Every container of the workload.")
@manual.workload_options()
def set_command(
    request: manual.Request, policy: str, containers: tuple[str, ...], all_containers: bool
) -> None:
    """Set the tag POLICY of WORKLOAD's containers (like fluxctl policy --tag).

    Writes the tag.<container> annotation under the workload's own prefix (fluxcd.io/ stays
    fluxcd.io/, else imagebot.io/), byte for byte, and commits "Updated policies: <workload>".
    A bare pattern such as '1.*' is written as glob:1.*.
    """
    if all_containers and containers:
        raise click.UsageError("give --container or --all-containers, not both")
    request.perform(actions.policy_set(policy, containers, every=all_containers))


@click.command(name="unset")
@manual.workload_argument
@_containers_option("Every container, and Flux v1's tag_all annotation too.")
@manual.workload_options()
def unset_command(
    request: manual.Request, containers: tuple[str, ...], all_containers: bool
) -> None:
    """Remove the tag policy of WORKLOAD's containers (like fluxctl policy --tag c='*').

    An automated container without a policy follows glob:* (Flux v1's default).
    """
    if all_containers and containers:
        raise click.UsageError("give --container or --all-containers, not both")
    request.perform(actions.policy_unset(containers, every=all_containers))
