"""The ``imagebot`` command line.

Each command lives in its own module ``imagebot/cli/cmd_<name>.py`` exporting ``command`` (a
click command or group); this module finds them, so adding a command touches nothing here.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from imagebot import __version__, termination
from imagebot.cli.common import ImagebotGroup, setup_logging


@click.group(cls=ImagebotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="imagebot")
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    envvar="IMAGEBOT_LOG_FORMAT",
    help="Log lines on stderr as text or as JSON objects.",
)
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, log_format: str, verbose: int, quiet: bool) -> None:
    """Keep the container images in a GitOps repository up to date.

    The options above are accepted after the command too: `imagebot run --log-format json`.
    """
    setup_logging(log_format, verbose=verbose, quiet=quiet)
    if ctx.invoked_subcommand != "run":
        termination.release()  # only the service takes SIGTERM as "stop cleanly"


def _register_commands() -> None:
    import imagebot.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            cli.add_command(module.command)


_register_commands()


def main() -> None:
    cli(prog_name="imagebot")
