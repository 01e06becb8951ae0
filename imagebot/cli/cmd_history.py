"""``imagebot history``: every image change imagebot applied, newest first.

A table like ``list-images`` (colour on a terminal, plain aligned columns on a pipe) that fits
the terminal (100 columns on a pipe); ``--wide`` adds the mode, file and repository columns
and prints every value in full; ``--output json`` has every recorded field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from imagebot.cli.common import (
    ago,
    config_option,
    output_option,
    print_json,
    print_table,
    stdout_console,
)
from imagebot.cli.tables import fitted_table, wide_option
from imagebot.config import load_config
from imagebot.store import Store, store_path
from imagebot.update import history
from imagebot.update.history import HistoryEntry

if TYPE_CHECKING:
    from rich.text import Text

COLUMNS = ("TIME", "REPOSITORY", "WORKLOAD", "CONTAINER", "CHANGE", "MODE", "COMMIT", "FILE")


@click.command("history")
@config_option
@click.option("--repository", help="Only this repository (its name in the config or URL).")
@click.option("--workload", help="Only this workload (namespace:kind/name).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many entries."
)
@output_option
@wide_option
def command(
    config_path: str | None,
    repository: str | None,
    workload: str | None,
    limit: int | None,
    output: str,
    wide: bool,
) -> None:
    """Show the image updates imagebot applied (from the state store)."""
    config = load_config(config_path)
    with Store.open_for_reading(store_path(config)) as store:
        rows = history.entries(store, repository=repository, workload=workload, limit=limit)
    if output == "json":
        print_json([row.to_dict() for row in rows])
        return
    if not rows:
        click.echo("No updates recorded yet.", err=True)
        return
    _print_table(rows, wide)


def _print_table(rows: list[HistoryEntry], wide: bool) -> None:
    from rich.text import Text

    console = stdout_console()
    now = datetime.now(UTC)
    headers = _columns(rows, wide)
    cells = []
    for row in rows:
        when = row.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if console.is_terminal:
            when += f" ({ago(row.time, now)})"
        every = {
            "TIME": Text(when),
            "REPOSITORY": Text(row.repository),
            "WORKLOAD": Text(row.workload),
            "CONTAINER": Text(row.container),
            "CHANGE": _change(row),
            "MODE": Text(row.mode),
            "COMMIT": Text(_commit(row)),
            "FILE": Text(row.file),
        }
        cells.append([every[header] for header in headers])
    table = fitted_table(console, headers, cells, wide=wide, keep=["TIME", "CHANGE"])
    print_table(console, table)


def _columns(rows: list[HistoryEntry], wide: bool) -> list[str]:
    """Like ``kubectl get``: the mode and file only with ``--wide`` (the commit column shows
    a pull request, an unpushed commit, or one a reconciler applied or failed on), the
    repository when there is more than one."""
    if wide:
        return list(COLUMNS)
    hidden = {"MODE", "FILE"}
    if len({row.repository for row in rows}) == 1:
        hidden.add("REPOSITORY")
    return [header for header in COLUMNS if header not in hidden]


def _change(row: HistoryEntry) -> Text:
    from rich.text import Text

    old = row.old_tag or (row.old_digest or "-")[:19]
    new = row.new_tag or (row.new_digest or "-")[:19]
    if row.new_digest and row.new_tag and row.old_tag == row.new_tag:
        new += f"@{row.new_digest[:19]}…"  # same tag, moved digest
    text = Text(old, style="red")
    text.append(" -> ")
    text.append(new, style="green")
    return text


def _commit(row: HistoryEntry) -> str:
    """The commit, its pull request, and how far it got: not pushed, or what a reconciler
    reported (applied to the cluster, failed there)."""
    commit = (row.commit or "-")[:12]
    if row.pull_request:
        commit = f"{commit} {row.pull_request}"
    if row.state in ("applied", "failed"):
        return f"{commit} ({row.state})"
    if row.commit and not row.pushed:
        return f"{commit} (not pushed)"
    return commit
