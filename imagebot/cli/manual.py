"""The fluxctl-style commands' command line: WORKLOAD, the shared options, the report.

``imagebot automate|deautomate|lock|unlock|policy set|policy unset|release`` each change one
workload, named as fluxctl named it (``demo:deployment/podinfo``, or ``deployment/podinfo``
when that is unambiguous). The change itself is an :class:`~imagebot.operations.Action`
(:mod:`imagebot.operations.actions`) run by :func:`imagebot.operations.change.plan`
(``--dry-run``: the diff, nothing written) or :func:`~imagebot.operations.change.apply` (the
commit); this module parses the options and prints the :class:`Outcome`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from imagebot.cli.common import complete_workload, config_option, output_option, print_json
from imagebot.config import Config, load_config
from imagebot.gitops import Workspace
from imagebot.operations import change, workloads
from imagebot.operations.change import (
    Action,
    Edit,
    Edited,
    Message,
    Outcome,
    default_user,
    edit_annotations,
    refuse,
)
from imagebot.operations.workloads import Target, WorkloadId, find_target

__all__ = [
    "Edited",
    "Outcome",
    "Request",
    "Target",
    "default_user",
    "edit_annotations",
    "find_target",
    "pick_containers",
    "refuse",
    "run",
    "workload_argument",
    "workload_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def pick_containers(
    target: Target, containers: Iterable[str], every: bool, *, allow_all: bool = True
) -> list[str]:
    """``--container`` (repeatable) or ``--all-containers``; a lone container needs neither."""
    if every and list(containers):
        raise click.UsageError("give --container or --all-containers, not both")
    return workloads.pick_containers(target, containers, every, allow_all=allow_all)


# --- the command line ------------------------------------------------------------------------


@dataclass
class Request:
    """What every editing command is asked: WORKLOAD, ``--message`` and the
    :func:`workload_options`; :meth:`run` does the rest with the command's action."""

    workload: str
    message: str | None
    target: str | None
    branch: str | None
    file: str | None
    config_path: str | None
    dry_run: bool
    user: str | None
    output: str

    def run(
        self,
        *,
        action_name: str,
        subject: str,
        action: Edit,
        message: Message | None = None,
        after: Callable[[Config, Outcome, Workspace], None] | None = None,
    ) -> None:
        """:func:`run` with this request's options (``--message`` goes in the commit body)."""
        self.perform(Action(action_name, subject, action, message=message, after=after))

    def perform(self, action: Action) -> None:
        """Plan or apply *action* with this request's options, and print the outcome."""
        perform(
            action,
            workload=self.workload,
            config_path=self.config_path,
            target=self.target,
            branch=self.branch,
            file=self.file,
            dry_run=self.dry_run,
            user=self.user,
            output=self.output,
            body=self.message,
        )


_REQUEST_FIELDS = tuple(f.name for f in fields(Request))

#: WORKLOAD, the first argument of every editing command (with :func:`workload_options`).
workload_argument = click.argument("workload", shell_complete=complete_workload)


def workload_options(
    message_help: str = "A message for the commit body.",
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--message`` and the options every editing command takes, after its own; the
    command function gets them, and its :data:`workload_argument`, as one :class:`Request`
    first argument, then its own parameters.

    Goes last (next to the function) so that ``--help`` lists the command's own options
    first, while :data:`workload_argument` goes first to stay the first argument.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def command(**params: Any) -> None:
            request = Request(**{name: params.pop(name) for name in _REQUEST_FIELDS})
            func(request, **params)

        for option in reversed(_options(message_help)):
            command = option(command)
        return command

    return decorate


def _options(message_help: str) -> list[Callable[[F], F]]:
    return [
        click.option("-m", "--message", help=message_help),
        click.option(
            "--repo",
            "target",
            metavar="PATH|URL",
            help="A Git checkout (committed in place) or a Git URL (cloned into the state "
            "directory). Default: the one repository in the config, else the current directory.",
        ),
        click.option("--branch", help="Branch to change (default: the checkout's, or HEAD)."),
        click.option(
            "--file",
            "file",
            metavar="PATH",
            help="The file (relative to the repository) when the workload is in several.",
        ),
        config_option,
        click.option("--dry-run", is_flag=True, help="Print the diff; commit nothing."),
        click.option(
            "--user",
            metavar="'NAME <EMAIL>'",
            help="Who asks: named in the commit (lock: also locked_user). Default: git config "
            "user.name and user.email.",
        ),
        output_option,
    ]


# --- running ---------------------------------------------------------------------------------


def run(
    *,
    action_name: str,
    subject: str,
    workload: str,
    action: Edit,
    config_path: str | None,
    target: str | None,
    branch: str | None,
    file: str | None,
    dry_run: bool,
    user: str | None,
    output: str,
    body: str | None = None,
    message: Message | None = None,
    after: Callable[[Config, Outcome, Workspace], None] | None = None,
    close: Callable[[], None] | None = None,
) -> None:
    """Find *workload*, run *action* on its file, commit (or print the dry run), report."""
    perform(
        Action(action_name, subject, action, message=message, after=after, close=close),
        workload=workload,
        config_path=config_path,
        target=target,
        branch=branch,
        file=file,
        dry_run=dry_run,
        user=user,
        output=output,
        body=body,
    )


def perform(
    action: Action,
    *,
    workload: str,
    config_path: str | None,
    target: str | None,
    branch: str | None,
    file: str | None,
    dry_run: bool,
    user: str | None,
    output: str,
    body: str | None = None,
) -> None:
    """Plan (``--dry-run``) or apply *action* on *workload*, then print the outcome."""
    try:
        wanted = WorkloadId.parse(workload)
        config = load_config(config_path)
    except BaseException:
        if action.close is not None:
            action.close()
        raise
    if user is None:
        user = default_user()
    outcome = change.run(
        config,
        action,
        wanted,
        repo=target,
        branch=branch,
        file=file,
        user=user,
        body=body,
        dry_run=dry_run,
    )
    _report(outcome, output)


def _report(outcome: Outcome, output: str) -> None:
    if output == "json":
        print_json(outcome.to_dict())
        return
    target, edited = outcome.target, outcome.edited
    if target is None or edited is None:  # pragma: no cover - compute always fills them
        return
    if not outcome.changed:
        click.echo(f"{target.id}: {edited.unchanged}.")
        for note in edited.notes:
            click.echo(f"note: {note}")
        return
    click.echo(f"{outcome.subject} ({target.file})")
    for line in edited.lines:
        click.echo(f"  {line}")
    for note in edited.notes:
        click.echo(f"note: {note}")
    if outcome.dry_run:
        click.echo("Dry run: nothing committed.\n")
        click.echo(outcome.diff, nl=False)
        return
    if outcome.commit:
        where = outcome.pushed_to or outcome.branch
        verb = "pushed to" if outcome.pushed else "committed on"
        click.echo(f"Commit {outcome.commit[:12]} {verb} {where}.")
    if outcome.pull_request:
        click.echo(f"Pull request: {outcome.pull_request}")
