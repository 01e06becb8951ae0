"""How the demo talks: numbered steps, the commands it runs, their output, and diffs.

Colour only on a terminal (rich decides, and honours ``NO_COLOR``); piped output is plain
text that is never re-wrapped, so a long ``imagebot scan`` line stays one line.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

INDENT = "  "


class Show:
    """The demo's output channel (stdout)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)

    def title(self, text: str) -> None:
        self.console.print(Text(text, style="bold"))

    def step(self, number: int, title: str) -> None:
        self.console.print()
        self.console.print(Text(f"{number}. {title}", style="bold cyan"))

    def say(self, text: str = "", style: str | None = None) -> None:
        self.console.print(Text(INDENT + text if text else "", style=style or ""))

    def note(self, text: str) -> None:
        self.say(text, style="dim")

    def command(self, argv: Sequence[str]) -> None:
        """A command line exactly as a user could paste it."""
        self.console.print(Text(INDENT + "$ " + shlex.join(argv), style="bold"))

    def output(self, text: str, *, diff: bool = False) -> None:
        """A command's output, indented; diff lines coloured (on a terminal)."""
        for line in text.rstrip("\n").splitlines():
            self.console.print(Text(INDENT * 2 + line, style=_diff_style(line) if diff else ""))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Aligned columns, header in bold; never wrapped, whatever the terminal width."""
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        self.console.print(Text(INDENT * 2 + line(headers), style="bold"))
        for row in rows:
            self.console.print(Text(INDENT * 2 + line(row)))

    def item(self, mark: str, text: str, style: str, detail: Sequence[str] = ()) -> None:
        line = Text(INDENT)
        line.append(f"{mark} ", style=style)
        line.append(text)
        self.console.print(line)
        for extra in detail:
            self.console.print(Text(INDENT * 3 + extra, style="dim"))

    def error(self, text: str) -> None:
        self.console.print(Text(text, style="bold red"))


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---", "diff --git", "index ")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("commit "):
        return "yellow"
    return ""
