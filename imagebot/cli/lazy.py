"""Groups whose commands are imported when they are used, not when the group is.

A command module imports what it needs (the registry client, ruamel, Git, rich), so a group
that imported all of them would make ``imagebot --help``, ``imagebot policy test`` and every
shell-completion keystroke pay for the whole package. :class:`LazyGroup` lists its commands by
name and imports one only when it is run, or when its own help or arguments are asked for;
the one-line help it shows beside each name comes from *summaries* when given there (else the
command is imported to read it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import click

from imagebot.cli.common import ImagebotGroup


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name; a lazy one (``"module:attribute"``) is imported the first
    time it is looked up. Listing the names imports nothing."""

    def __init__(self, lazy: Mapping[str, str], loaded: Mapping[str, click.Command]) -> None:
        self.lazy = dict(lazy)
        self.loaded = dict(loaded)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            if name not in self.lazy:
                raise KeyError(name)
            module, _, attribute = self.lazy[name].partition(":")
            self.loaded[name] = getattr(importlib.import_module(module), attribute)
        return self.loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.loaded.pop(name, None)
        self.lazy.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self.loaded or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self.lazy, *self.loaded}))

    def __len__(self) -> int:
        return len({*self.lazy, *self.loaded})


class LazyGroup(ImagebotGroup):
    """*lazy* maps a command name to ``"module:attribute"``; *summaries* a name to the first
    paragraph of that command's help."""

    commands: LazyCommands

    def __init__(
        self,
        *args: Any,
        lazy: Mapping[str, str] | None = None,
        summaries: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(lazy or {}, dict(self.commands))
        self.summaries = dict(summaries or {})

    def summary(self, ctx: click.Context, name: str, limit: int) -> str | None:
        """*name*'s one-line help, shortened as click shortens it; None for a hidden command."""
        if name in self.summaries and name not in self.commands.loaded:
            return click.Command(name, help=self.summaries[name]).get_short_help_str(limit)
        command = self.get_command(ctx, name)
        if command is None or command.hidden:
            return None
        return command.get_short_help_str(limit)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self.summary(ctx, name, limit)) for name in names]
        shown = [(name, text) for name, text in rows if text is not None]
        if shown:
            with formatter.section("Commands"):
                formatter.write_dl(shown)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        items: list[Any] = []
        for name in self.list_commands(ctx):
            if name.startswith(incomplete):
                text = self.summary(ctx, name, 45)
                if text is not None:
                    items.append(CompletionItem(name, help=text))
        # then the group's own options, as click.Command completes them
        return items + click.Command.shell_complete(self, ctx, incomplete)
