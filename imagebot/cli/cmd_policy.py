"""``imagebot policy``: try tag policies without a registry or a repository.

``imagebot policy test POLICY TAG...`` runs the policy engine on the tags given and prints
the tag it selects, so a policy can be checked before it goes into a manifest::

    $ imagebot policy test 'semver:~1.2' 1.2.3 1.2.4 1.3.0
    1.2.4
    $ imagebot policy test --current 1.25.3-alpine 'semver:~1.25' 1.25.4 1.25.4-alpine
    1.25.4-alpine

Exit status: 0 a tag was selected (stdout carries it alone), 1 no tag qualifies (the reason
is one line on stderr), 2 the policy, filter, extract template or an argument is invalid.

``imagebot policy set WORKLOAD POLICY [--container C | --all-containers]`` and ``imagebot
policy unset WORKLOAD ...`` write a workload's tag policy annotations, like ``fluxctl policy
--tag``, and commit (see :mod:`imagebot.cli.manual`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from imagebot.cli import manual
from imagebot.cli.common import ImagebotGroup, complete_container, output_option, print_json
from imagebot.errors import PolicyError
from imagebot.manifests import ImageSite
from imagebot.manifests.annotate import set_policy, unset_policy
from imagebot.manifests.annotations import DEFAULT_POLICY, IMAGEBOT
from imagebot.manifests.policycheck import check_policy
from imagebot.policy import Candidate, Decision, decide, parse_policy
from imagebot.reference import is_valid_tag, validate_tag_message

F = TypeVar("F", bound=Callable[..., Any])


@click.group(name="policy", cls=ImagebotGroup)
def command() -> None:
    """Work with tag policies (semver, glob, regex, alphabetical, numerical, newest-build)."""


def parse_tag_argument(text: str) -> Candidate:
    """``TAG`` or ``TAG@2024-05-01T12:00:00Z`` (the image's build time, UTC when no zone)."""
    tag, at, when = text.partition("@")
    created = None
    if at:
        try:
            created = datetime.fromisoformat(when)
        except ValueError:
            raise click.BadParameter(
                f"{text!r}: cannot read build time {when!r} (expected e.g. 2024-05-01T12:00:00Z)"
            ) from None
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
    return Candidate(tag, created)


@command.command(name="test")
@click.option("--filter", "filter_", metavar="RE", help="Flux v2 filter: a regex (searched).")
@click.option("--extract", metavar="TPL", help="Flux v2 extract template ($1, $name, ${name}).")
@click.option(
    "--current",
    metavar="TAG",
    help="The tag the workload runs now: sets its family, forbids downgrades, and counts "
    "as a candidate.",
)
@click.option(
    "--no-family",
    is_flag=True,
    help="Let the policy leave the current tag's family (prefix, suffix, precision).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="List every tag on stderr with why it was kept or rejected.",
)
@output_option
@click.argument("policy")
@click.argument("tags", nargs=-1, metavar="TAG[@BUILD_TIME]...")
def test_command(
    filter_: str | None,
    extract: str | None,
    current: str | None,
    no_family: bool,
    explain: bool,
    output: str,
    policy: str,
    tags: tuple[str, ...],
) -> None:
    """Print the tag POLICY selects among the TAGs.

    A TAG may carry its image's build time, as TAG@2024-05-01T12:00:00Z; glob, regex and
    newest-build rank by it. Tags that are not valid OCI tags are ignored with a warning.
    """
    parsed = parse_policy(policy, filter=filter_, extract=extract, same_family=not no_family)
    candidates: list[Candidate] = []
    for text in tags:
        candidate = parse_tag_argument(text)
        if not is_valid_tag(candidate.tag):
            reason = validate_tag_message(candidate.tag)
            click.echo(f"imagebot: warning: ignoring {candidate.tag!r}: {reason}", err=True)
            continue
        candidates.append(candidate)
    current_tag = None
    if current is not None:
        current_candidate = parse_tag_argument(current)
        current_tag = current_candidate.tag
        if not is_valid_tag(current_tag):
            raise click.BadParameter(validate_tag_message(current_tag), param_hint="--current")
        if all(c.tag != current_tag for c in candidates) or current_candidate.created:
            candidates.append(current_candidate)
    decision = decide(parsed, candidates, current_tag, explain=explain or output == "json")
    if explain:
        _explain(parsed.describe(), decision)
    if output == "json":
        print_json({"policy": parsed.text, **decision.to_dict()})
    elif decision.tag is not None:
        click.echo(decision.tag)
    if decision.tag is None:
        if output != "json":
            click.echo(f"imagebot: {decision.reason}", err=True)
        raise SystemExit(1)


def _explain(policy: str, decision: Decision) -> None:
    width = max((len(v.tag) for v in decision.verdicts), default=0)
    click.echo(f"policy: {policy}", err=True)
    if decision.current is not None:
        click.echo(f"current: {decision.current}", err=True)
    for verdict in decision.verdicts:
        state = "kept" if verdict.kept else "rejected"
        click.echo(
            f"  {state:<8} {verdict.tag:<{width}}  {verdict.category}: {verdict.reason}", err=True
        )
    click.echo(f"decision: {decision.reason}", err=True)


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


@command.command(name="set")
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


@command.command(name="unset")
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
