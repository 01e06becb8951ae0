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
    """Validate a config file as `imagebot run` would: the schema, then every secret,
    file, template and branch name it points at (exit 2 listing each problem)."""
    from imagebot.preflight import preflight

    config = load_config(config_path)
    problems = preflight(config)
    for problem in problems[:-1]:
        click.echo(f"imagebot: error: {problem}", err=True)
    if problems:
        raise problems[-1]
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
