"""``imagebot history``: every image change imagebot applied, newest first."""

from __future__ import annotations

import click

from imagebot.cli.common import config_option, output_option, print_json
from imagebot.config import load_config
from imagebot.store import Store, store_path
from imagebot.update import history


@click.command("history")
@config_option
@click.option("--repository", help="Only this repository (its name in the config or URL).")
@click.option("--workload", help="Only this workload (namespace:kind/name).")
@click.option("--limit", type=int, default=None, help="At most this many entries.")
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
    for row in rows:
        when = row.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        commit = (row.commit or "-")[:12]
        click.echo(
            f"{when}  {row.repository}  {row.file}  {row.workload}  {row.container}  "
            f"{row.old_tag} -> {row.new_tag}  {row.mode}  {commit}"
        )
