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
--tag``, and commit: they live in :mod:`imagebot.cli.policy_edit`, imported only when used,
so ``policy test`` loads the policy engine and nothing else of imagebot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from imagebot.cli.common import output_option, print_json
from imagebot.cli.lazy import LazyGroup
from imagebot.policy import Candidate, Decision, decide, parse_policy
from imagebot.reference import is_valid_tag, validate_tag_message


@click.group(
    name="policy",
    cls=LazyGroup,
    lazy={
        "set": "imagebot.cli.policy_edit:set_command",
        "unset": "imagebot.cli.policy_edit:unset_command",
    },
)
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
