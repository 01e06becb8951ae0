"""The ``imagebot`` command line.

Each command lives in its own module ``imagebot/cli/cmd_<name>.py`` exporting ``command`` (a
click command or group) named after the file (``cmd_list_images`` is ``list-images``). The
group finds the modules by file name and imports one only when it is run or its own help or
arguments are asked for (:class:`~imagebot.cli.lazy.LazyGroup`), so ``imagebot --help``,
``imagebot policy test`` and each shell-completion keystroke pay only for what they use.

:data:`SUMMARIES` holds each command's one-line help for ``imagebot --help`` and command-name
completion; ``tests/cli/test_startup.py`` checks it against the commands themselves. A command
missing from it still works: its help is then read by importing it.
"""

from __future__ import annotations

import os

import click

from imagebot import __version__, termination
from imagebot.cli.common import setup_logging
from imagebot.cli.lazy import LazyGroup

#: The first paragraph of each command's help (what ``imagebot --help`` shortens).
SUMMARIES: dict[str, str] = {
    "automate": "Automate WORKLOAD (namespace:kind/name): the bot keeps its images up to date.",
    "check": "Validate every image annotation, marker and policy file, offline.",
    "completion": "Print the completion script for SHELL (bash 4.4+, zsh or fish).",
    "config": "The configuration file: its reference, and a check of one file.",
    "demo": "Run imagebot end to end on this machine, in under a minute, without the network.",
    "deautomate": ("Deautomate WORKLOAD (namespace:kind/name): the bot leaves its images alone."),
    "explain": "Explain which tag each container of WORKLOAD gets, and why.",
    "history": "Show the image updates imagebot applied (from the state store).",
    "list-images": "List every container image in a GitOps checkout with its tag and policy.",
    "lock": ("Lock WORKLOAD (namespace:kind/name): no image of it changes until it is unlocked."),
    "policy": (
        "Work with tag policies (semver, glob, regex, alphabetical, numerical, newest-build)."
    ),
    "release": "Deploy TAG to a container of WORKLOAD (namespace:kind/name) by hand.",
    "run": "Run the bot until SIGTERM or SIGINT.",
    "scan": "Update the images in a GitOps repository once, now.",
    "store": "The state store: bring its schema up to date.",
    "tags": "List every tag of IMAGE's repository (e.g. alpine, ghcr.io/org/app).",
    "unlock": "Unlock WORKLOAD (namespace:kind/name).",
}


def command_modules() -> dict[str, str]:
    """Command name -> module name, for every ``cmd_*.py`` beside this file."""
    found: dict[str, str] = {}
    for directory in __path__:
        for entry in os.scandir(directory):
            stem, dot, ext = entry.name.partition(".")
            if stem.startswith("cmd_") and dot and ext == "py":
                found[stem[len("cmd_") :].replace("_", "-")] = f"{__name__}.{stem}"
    return found


@click.group(
    cls=LazyGroup,
    lazy={name: f"{module}:command" for name, module in command_modules().items()},
    summaries=SUMMARIES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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


def main() -> None:
    cli(prog_name="imagebot")
