"""``imagebot scan``: one update cycle, now, for a checkout, a Git URL or the configured repos.

The one-shot form of what ``imagebot run`` does on a schedule: read the manifests, ask the
registries, apply the policies, and commit and push (or open a pull request) with one commit
listing every change. ``--dry-run`` prints the plan and a unified diff and changes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from imagebot.cli.common import config_option, output_option, print_json, registry_progress
from imagebot.config import load_config
from imagebot.errors import ConfigError, GitError
from imagebot.store import open_store
from imagebot.update import CycleReport, Runner, UpdateCycle, repository_for_target
from imagebot.update.changes import change_line, change_text

log = logging.getLogger(__name__)

_MARK = {
    "update": "UPDATE",
    "up-to-date": "ok",
    "locked": "locked",
    "not-automated": "manual",
    "ignored": "ignored",
    "no-match": "NO MATCH",
    "error": "ERROR",
}


@click.command("scan")
@click.option(
    "--repo",
    "target",
    metavar="PATH|URL",
    help="A local checkout (used in place) or a Git URL (cloned into the state directory). "
    "Default: every repository in the config file.",
)
@click.option("--branch", help="Branch to update (default: the checkout's, or the remote HEAD).")
@config_option
@click.option("--dry-run", is_flag=True, help="Print the plan and a diff; change nothing.")
@click.option("--fresh", is_flag=True, help="Ignore cached tag lists and ask the registries.")
@output_option
def command(
    target: str | None,
    branch: str | None,
    config_path: str | None,
    dry_run: bool,
    fresh: bool,
    output: str,
) -> None:
    """Update the images in a GitOps repository once, now.

    Exit status: 0 when every image was resolved (whether or not anything changed), 1 when a
    registry, file or workload failed (the rest was committed), 2 for usage or configuration
    errors.
    """
    config = load_config(config_path)
    repos = repository_for_target(config, target, branch=branch)
    if not repos:
        raise ConfigError(
            "no repository to scan",
            hint="pass --repo PATH|URL, or list repositories in the config file",
        )
    reports: list[CycleReport] = []
    with (
        open_store(config) as store,
        Runner(config, store) as runner,
        registry_progress(output != "json") as progress,
    ):
        cycle = UpdateCycle(config, runner, store=store, progress=progress)
        for repo in repos:
            try:
                reports.append(cycle.run(repo, dry_run=dry_run, fresh=fresh))
            except GitError as exc:
                if exc.hint is None and repo.path and not _in_git_checkout(Path(repo.path)):
                    exc.hint = (
                        "imagebot scan commits its changes, so --repo must be a Git checkout "
                        "(or a Git URL); `imagebot list-images --latest --repo PATH` only reads"
                    )
                raise
    if output == "json":
        print_json([r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict())
    else:
        for report in reports:
            _print_text(report)
    raise SystemExit(max(r.exit_code for r in reports))


def _in_git_checkout(path: Path) -> bool:
    path = path.expanduser().resolve()
    return any((p / ".git").exists() for p in (path, *path.parents))


def _print_text(report: CycleReport) -> None:
    where = report.url or report.repository
    click.echo(f"{report.repository} ({where}, branch {report.branch})")
    for res in report.resolutions:
        site = res.site
        mark = _MARK.get(res.status, res.status)
        tag = site.tag or "-"
        if res.status == "update":
            tag = change_text(res)
        image = site.image.familiar_name if site.image is not None else site.reference_text
        click.echo(
            f"  {mark:<8} {site.file}:{site.line}  {site.workload}  {site.container}  "
            f"{image}  {tag}  ({res.policy or 'no policy'}): {res.reason}"
        )
    for issue in report.skipped:
        click.echo(f"  skipped  {issue}")
    for note in report.notes:
        click.echo(f"  note     {note}")
    for problem in report.problems:
        click.echo(f"  FAILED   {problem.message}", err=False)
    if report.dry_run:
        if report.diff:
            click.echo("")
            click.echo(report.diff, nl=False)
        else:
            click.echo("Nothing to change.")
    elif not report.completed:
        click.echo("Cancelled before committing; nothing was changed.")
    elif report.commit:
        verb = "pushed to" if report.pushed else "committed on"
        click.echo(f"Commit {report.commit[:12]} {verb} {report.target}:")
        for res in report.applied:
            click.echo(f"  {change_line(res)}")
        for item in report.rolled_back:
            if item.locked:
                click.echo(f"  locked {item.workload}: {item.message}")
        if report.pull_request:
            click.echo(f"Pull request: {report.pull_request}")
    else:
        click.echo("Nothing to change.")
