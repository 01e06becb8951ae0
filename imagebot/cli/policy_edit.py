"""``imagebot policy set`` and ``imagebot policy unset``: a workload's tag policy annotations.

Like ``fluxctl policy --tag``: the annotations are edited byte for byte and committed (see
:mod:`imagebot.cli.manual`). The ``policy`` group (:mod:`imagebot.cli.cmd_policy`) imports
this module only when one of these commands is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from imagebot.cli import manual
from imagebot.cli.common import complete_container
from imagebot.errors import PolicyError
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import set_policy, unset_policy
from imagebot.manifests.annotations import DEFAULT_POLICY, IMAGEBOT
from imagebot.manifests.policycheck import check_policy

F = TypeVar("F", bound=Callable[..., Any])

# --- fluxctl policy: writing a workload's tag policy -----------------------------------------

#: Policy kinds Flux v1 understands; others work for imagebot only.
_FLUX_V1_KINDS = ("glob", "semver", "regex", "regexp")
_SUBJECT = "Updated policies: {workload}"


def _written_policy(text: str) -> tuple[str, str]:
    """(text to write, normalised policy): a bare pattern gets ``glob:``, as fluxctl wrote it."""
    normalised, problem = check_policy(text)
    if problem:
        raise PolicyError(f"policy {text.strip()!r}: {problem}")
    written = text.strip()
    if normalised.startswith("glob:") and not written.startswith("glob:"):
        written = "glob:" + written
    return written, normalised


def _not_from_marker(target: manual.Target, containers: list[str]) -> None:
    for name in containers:
        site = target.site(name)
        if site.source.startswith("marker:"):
            raise manual.refuse(
                target,
                f"container {name}'s policy comes from its {site.source} comment",
                hint="change that image policy instead; annotations do not govern marked values",
            )


def _policy_check(
    target: manual.Target, wanted: dict[str, str | None]
) -> Callable[[list[ImageSite]], str | None]:
    """Each container reads its wanted policy (None: the default) and nothing else moved."""
    before = {s.container: (s.automated, s.locked) for s in target.sites}

    def check(sites: list[ImageSite]) -> str | None:
        for site in sites:
            if (site.automated, site.locked) != before.get(site.container, (None, None)):
                return (
                    f"container {site.container} would no longer read as "
                    f"{'automated' if before[site.container][0] else 'not automated'} "
                    f"({site.source})"
                )
            if site.container not in wanted:
                continue
            want = wanted[site.container]
            if want is None:
                want = DEFAULT_POLICY if site.automated else None
                if site.policy != want:
                    return (
                        f"container {site.container} still reads policy {site.policy!r} "
                        "(a tag_all annotation applies to every container: use --all-containers)"
                    )
            elif site.policy != want:
                return f"container {site.container} reads policy {site.policy!r}, not {want!r}"
        return None

    return check


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
    written, normalised = _written_policy(policy)

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        names = manual.pick_containers(chosen, containers, all_containers)
        _not_from_marker(chosen, names)
        edits = []
        for name in names:
            edits += set_policy(chosen.annotations, f"tag.{name}", written)
        check = _policy_check(chosen, {name: normalised for name in names})
        edited = manual.edit_annotations(
            chosen, content, edits, check, unchanged=f"already has policy {written}"
        )
        kind = normalised.partition(":")[0]
        if kind not in _FLUX_V1_KINDS and any(not e.key.startswith(IMAGEBOT) for e in edits):
            edited.notes.append(
                f"{normalised} is an imagebot policy: Flux v1 does not understand it, so "
                "only imagebot should automate this workload"
            )
        return edited

    request.run(action_name="policy", subject=_SUBJECT, action=action)


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

    def action(chosen: manual.Target, content: bytes) -> manual.Edited:
        names = manual.pick_containers(chosen, containers, all_containers)
        _not_from_marker(chosen, names)
        edits = []
        for name in names:
            edits += unset_policy(chosen.annotations, f"tag.{name}")
        if all_containers:
            edits += unset_policy(chosen.annotations, "tag_all")
        check = _policy_check(chosen, dict.fromkeys(names))
        return manual.edit_annotations(
            chosen, content, edits, check, unchanged="has no tag policy annotation to remove"
        )

    request.run(action_name="policy", subject=_SUBJECT, action=action)
