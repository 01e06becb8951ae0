"""``imagebot history``: every image change imagebot applied, newest first.

A table like ``list-images`` (colour on a terminal, plain aligned columns on a pipe), or
``--output json`` with every recorded field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from imagebot.cli.common import (
    ago,
    config_option,
    output_option,
    plain_table,
    print_json,
    print_table,
    stdout_console,
)
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
def command(
    config_path: str | None,
    repository: str | None,
    workload: str | None,
    limit: int | None,
    output: str,
) -> None:
    """Show the image updates imagebot applied (from the state store)."""
    config = load_config(config_path)
    with Store.open(store_path(config)) as store:
        rows = history.entries(store, repository=repository, workload=workload, limit=limit)
    if output == "json":
        print_json([row.to_dict() for row in rows])
        return
    if not rows:
        click.echo("No updates recorded yet.", err=True)
        return
    _print_table(rows)


def _print_table(rows: list[HistoryEntry]) -> None:
    from rich.text import Text

    console = stdout_console()
    now = datetime.now(UTC)
    table = plain_table(*COLUMNS)
    for row in rows:
        when = row.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if console.is_terminal:
            when += f" ({ago(row.time, now)})"
        table.add_row(
            Text(when),
            Text(row.repository),
            Text(row.workload),
            Text(row.container),
            _change(row),
            Text(row.mode),
            Text(_commit(row)),
            Text(row.file),
        )
    print_table(console, table)


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
    commit = (row.commit or "-")[:12]
    if row.pull_request:
        return f"{commit} {row.pull_request}"
    if row.commit and not row.pushed:
        return f"{commit} (not pushed)"
    return commit
