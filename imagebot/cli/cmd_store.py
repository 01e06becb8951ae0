"""``imagebot store``: the state store itself (SQLite file or PostgreSQL database)."""

from __future__ import annotations

import click

from imagebot.cli.common import ImagebotGroup, config_option
from imagebot.config import load_config


@click.group("store", cls=ImagebotGroup)
def command() -> None:
    """The state store: bring its schema up to date."""


@command.command("migrate")
@config_option
def migrate(config_path: str | None) -> None:
    """Apply the schema migrations the store lacks (every command does on opening it; run
    this once before starting replicas of a new version). Fails when the store is newer
    than this imagebot."""
    from imagebot.store import migrate as run_migrations
    from imagebot.store import store_path
    from imagebot.store_pg import redact

    config = load_config(config_path)
    before, after = run_migrations(config)
    where = redact(str(store_path(config)))
    if before == after:
        click.echo(f"{where}: up to date (schema version {after})")
    else:
        click.echo(f"{where}: schema version {before} -> {after}")
