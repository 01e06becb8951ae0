"""``imagebot config``: the configuration file's reference, from the schema itself."""

from __future__ import annotations

import click

from imagebot.cli.common import ImagebotGroup, config_option
from imagebot.config import Config, iter_fields, load_config


@click.group("config", cls=ImagebotGroup)
def command() -> None:
    """The configuration file: its reference, and a check of one file."""


@command.command("reference")
def reference() -> None:
    """Print every configuration key with its type and meaning (Markdown)."""
    click.echo(reference_markdown(), nl=False)


@command.command("validate")
@config_option
def validate(config_path: str | None) -> None:
    """Validate a config file (exit 2 naming file, line and key when it is wrong)."""
    config = load_config(config_path)
    repos = len(config.repositories)
    hosts = len(config.registries)
    click.echo(f"{config.source or 'defaults'}: valid ({repos} repositories, {hosts} registries)")


def reference_markdown() -> str:
    lines = [
        "| key | type | meaning |",
        "|---|---|---|",
    ]
    for path, kind, text in iter_fields(Config):
        meaning = " ".join(text.split()).replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | {meaning} |")
    return "\n".join(lines) + "\n"
