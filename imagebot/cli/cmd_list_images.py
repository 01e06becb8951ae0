"""``imagebot list-images``: every container image in a checkout and the policy for it.

Like ``fluxctl list-images``, but read from the manifests in Git rather than a cluster: one
row per image occurrence with its file, workload, container, current tag, policy, and whether
it is automated or locked. Rows whose annotations, policy or marker could not be understood
are still shown, with the error; the command then exits 1. Files that are not YAML (Helm
templates) are reported on stderr as skipped and are not errors. The table fits the terminal
(100 columns on a pipe), long values shortened in the middle; ``--wide`` shows everything
(who locked a workload and why, too).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imagebot.cli.common import (
    ago,
    config_option,
    local_checkout,
    output_option,
    print_json,
    print_table,
    read_checkout,
    registry_progress,
    stdout_console,
)
from imagebot.cli.tables import fitted_table, wide_option
from imagebot.config import Config, RepositoryConfig, load_config
from imagebot.manifests import Discovery, ImageSite

if TYPE_CHECKING:
    from imagebot.store import Store

log = logging.getLogger(__name__)

#: Table columns: (header, row key). ``--latest`` adds ``latest`` and ``status`` to rows.
COLUMNS: list[tuple[str, str]] = [
    ("FILE", "where"),
    ("WORKLOAD", "workload"),
    ("CONTAINER", "container"),
    ("IMAGE", "image_name"),
    ("TAG", "tag_shown"),
    ("POLICY", "policy"),
    ("AUTOMATED", "automated_shown"),
    ("LOCKED", "locked_shown"),
]
LATEST_COLUMNS: list[tuple[str, str]] = [("LATEST", "latest"), ("STATUS", "status")]


@click.command("list-images")
@click.option(
    "--repo",
    "repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Checkout to read (default: the one repository with a `path` in the config, else "
    "the current directory).",
)
@config_option
@output_option
@click.option(
    "--latest",
    is_flag=True,
    help="Also ask the registries which tag each policy picks, with a status per image.",
)
@wide_option
def command(
    repo: Path | None, config_path: str | None, output: str, latest: bool, wide: bool
) -> None:
    """List every container image in a GitOps checkout with its tag and policy.

    Exits 0 when everything was read, 1 when some manifest or policy had errors (the rows
    are still printed), 2 for usage or configuration errors.
    """
    config = load_config(config_path)
    root, settings = local_checkout(config, repo)
    log.debug("reading %s", root)
    found = read_checkout(root, settings)
    _report_files(found)
    rows = [_row(site) for site in found.sites]
    columns = list(COLUMNS)
    failed = False
    if latest:
        failed = _add_latest(config, found, rows, settings, progress=output != "json")
        if not wide:  # like kubectl get: STATUS says locked, not automated or ignored
            columns = [c for c in columns if c[0] not in ("AUTOMATED", "LOCKED")]
        columns += LATEST_COLUMNS
    if output == "json":
        print_json([_public(row) for row in rows])
    else:
        _print_table(rows, columns, wide)
    with_errors = sum(1 for site in found.sites if site.error)
    log.info(
        "%d image(s) in %d file(s) read; %d with errors; %d file(s) skipped, %d unreadable",
        len(found.sites),
        found.files_read,
        with_errors,
        len(found.skipped),
        len(found.errors),
    )
    if found.has_errors or failed:
        sys.exit(1)


_STATUS = {
    "update": "update available",
    "up-to-date": "up to date",
    "locked": "locked",
    "not-automated": "not automated",
    "ignored": "ignored",
    "no-match": "no match",
    "error": "error",
}


def _add_latest(
    config: Config,
    found: Discovery,
    rows: list[dict[str, Any]],
    settings: RepositoryConfig | None,
    *,
    progress: bool = False,
) -> bool:
    """Resolve every site as an update cycle would (without writing); True if any failed.
    A container the service saw behind (a newer tag held back) says since when; with a
    reconciler receiver configured, a workload whose change on the branch no reconciler
    applied within ``divergence_after`` says since when it is diverged."""
    from imagebot.operations.explain import held_text
    from imagebot.store import open_store
    from imagebot.update import Runner, resolve
    from imagebot.update.reconcile import divergence

    with (
        open_store(config) as store,
        Runner(config, store) as runner,
        registry_progress(progress) as report,
    ):
        resolved = runner.run(resolve(found.sites, runner.scanner, manual=True, progress=report))
        diverged: dict[str, float] = {}
        behind: dict[tuple[str, str, str | None], datetime] = {}
        if settings is not None and _reconcilers(config):
            diverged = divergence(
                store, settings.display_name, float(settings.divergence_after)
            ).diverged
        if settings is not None:
            behind = _behind_since(store, settings.display_name)
    for row, res in zip(rows, resolved.resolutions, strict=True):
        if res.status == "update":
            row["latest"] = res.new_tag
        elif res.status in ("up-to-date", "locked", "not-automated") and res.decision:
            row["latest"] = res.available or res.site.tag
        else:
            row["latest"] = None
        row["status"] = _STATUS[res.status]
        row["reason"] = res.reason
        held = res.held if res.status != "update" else None
        row["held"] = held.tag if held is not None else None
        row["eligible_at"] = res.eligible_at.isoformat() if held and res.eligible_at else None
        if held is not None:
            row["status"] = f"{row['status']}; {held_text(held)}"
        waiting = behind.get((row["workload"], row["container"], row["tag"]))
        row["behind_since"] = waiting.isoformat() if waiting else None
        if waiting is not None:
            row["status"] += f", behind since {ago(waiting)}"
        since = diverged.get(row["workload"])
        row["diverged_since"] = datetime.fromtimestamp(since, UTC).isoformat() if since else None
        if since is not None:
            row["status"] += f", diverged since {ago(datetime.fromtimestamp(since, UTC))}"
        if res.problem is not None and not row["error"]:
            row["error"] = res.problem.message
    return bool(resolved.registry_errors)


def _behind_since(store: Store, repository: str) -> dict[tuple[str, str, str | None], datetime]:
    """(workload, container, current tag) -> since when a newer tag has waited, as the
    service's Deploy view last saw it (nothing when it never ran on this state directory)."""
    from imagebot.operations import fleet

    total = fleet.query(store, repository=repository, per_page=1).total
    rows = fleet.query(store, repository=repository, per_page=max(total, 1)).rows
    return {(r.workload, r.container, r.current): r.behind_since for r in rows if r.behind_since}


def _reconcilers(config: Config) -> bool:
    return any(hook.type in ("flux", "argocd") for hook in config.service.webhooks.values())


def _report_files(found: Discovery) -> None:
    for issue in found.skipped:
        log.info("skipped %s", issue)
    for issue in found.errors:
        log.error("%s", issue)
    for site in found.sites:
        if site.warning:  # left alone, as Flux leaves a marker naming no policy
            log.warning("%s:%s: %s", site.file, site.line, site.warning)


def _row(site: ImageSite) -> dict[str, Any]:
    data = site.to_dict()
    data.pop("parts", None)
    data["workload"] = site.workload
    return data


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.endswith("_shown")}


def _shown(row: dict[str, Any], *, wide: bool = True) -> dict[str, str]:
    digest = row["digest"]
    tag = row["tag"] or ""
    if digest:
        tag += f"@{digest[:19]}…" if len(digest) > 20 else f"@{digest}"
    image = row["image"]
    if row["repository"] is not None:
        name, _, _ = image.partition("@")
        colon = name.rfind(":")
        image = name[:colon] if colon > name.rfind("/") else name
    automated = "yes" if row["automated"] and not row.get("warning") else ""
    if row["ignored"]:
        automated = "ignored"
    locked = "locked" if row["locked"] else ""
    if wide and row["locked"] and (row["lock_message"] or row["lock_user"]):
        who = f" by {row['lock_user']}" if row["lock_user"] else ""
        locked += f"{who}: {row['lock_message'] or ''}".rstrip(": ")
    return {
        "where": f"{row['file']}:{row['line']}",
        "image_name": image,
        "tag_shown": tag or "-",
        "automated_shown": automated,
        "locked_shown": locked,
    }


def _print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], wide: bool) -> None:
    from rich.text import Text

    console = stdout_console()
    if not rows:
        console.print("no container images found")
        return
    errors = any(row["error"] for row in rows)
    headers = [header for header, _ in columns] + (["ERROR"] if errors else [])
    cells = []
    for row in rows:
        shown = {**row, **_shown(row, wide=wide)}
        line = [Text(str(shown.get(key) or "")) for _, key in columns]
        if errors:
            line.append(Text(row["error"] or ""))
        cells.append(line)
    table = fitted_table(
        console,
        headers,
        cells,
        wide=wide,
        keep=["TAG", "LATEST", "STATUS", "AUTOMATED", "LOCKED"],
        first=["FILE"],
        fold=["ERROR"],
        styles={"ERROR": "red"},
    )
    print_table(console, table)
