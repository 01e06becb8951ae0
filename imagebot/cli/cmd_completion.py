"""``imagebot completion bash|zsh|fish``: print the shell completion script.

Uses click's completion support: the script calls ``imagebot`` back with
``_IMAGEBOT_COMPLETE`` set whenever Tab is pressed, so commands, options and choices are
always those of the installed version. WORKLOAD arguments complete from the manifests of the
checkout in the current directory (or ``--repo``).
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

PROG = "imagebot"
COMPLETE_VAR = "_IMAGEBOT_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def command(shell: str) -> None:
    """Print the completion script for SHELL (bash 4.4+, zsh or fish).

    \b
    Enable it with:
      bash:  eval "$(imagebot completion bash)"   # in ~/.bashrc
      zsh:   eval "$(imagebot completion zsh)"    # in ~/.zshrc, after compinit
      fish:  imagebot completion fish > ~/.config/fish/completions/imagebot.fish
    """
    from imagebot.cli import cli

    completion = get_completion_class(shell)
    if completion is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"click has no completion support for {shell}")
    script = completion(cli, ctx_args={}, prog_name=PROG, complete_var=COMPLETE_VAR).source()
    click.echo(script, nl=not script.endswith("\n"))
