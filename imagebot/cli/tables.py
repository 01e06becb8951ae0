"""Tables that fit the terminal, like ``kubectl get``: long values shortened in the middle.

A table is fitted to the terminal's width, or to :data:`DEFAULT_WIDTH` columns when stdout is
not a terminal (``$COLUMNS`` overrides both). While it is too wide, the widest column loses
one character at a time, never below its header or :data:`MIN_WIDTH`; its long values become
``ghcr.io/org/ve…/service``, keeping both ends, where a name's registry and its last part are.
``--wide`` prints every value in full. Columns marked *keep* (a time, a tag change) are never
shortened; columns marked *fold* (an error message) are not shortened either: they get the
width that is left and wrap inside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

#: Width of a table printed to a pipe or a file (``$COLUMNS`` overrides it).
DEFAULT_WIDTH = 100
#: No column is shortened below this many characters (or its header's width).
MIN_WIDTH = 8
#: A folded column (an error message) keeps at least this many characters per line.
MIN_FOLD_WIDTH = 20
#: Space between two columns (rich's padding of one on each side, none at the edges).
GAP = 2
ELLIPSIS = "…"

wide_option = click.option(
    "--wide",
    is_flag=True,
    help="Print every value in full (default: the table fits the terminal, or 100 columns, "
    "with long values shortened in the middle).",
)


def target_width(console: Console) -> int:
    """The width to fit: ``$COLUMNS``, else the terminal's, else :data:`DEFAULT_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return console.width if console.is_terminal else DEFAULT_WIDTH


def shorten(text: Text, width: int) -> Text:
    """*text* in at most *width* cells: its start, ``…``, its end (a little more start)."""
    from rich.text import Text

    if text.cell_len <= width:
        return text
    if width <= 1:
        return Text(ELLIPSIS[:width])
    keep = width - 1
    head = (keep + 1) // 2
    tail = keep - head
    plain = text.plain
    # Characters, then trimmed to cells: wide characters count twice.
    left = text[:head]
    right = text[len(plain) - tail :] if tail else Text("")
    while left.cell_len + right.cell_len > keep:
        if left.cell_len >= right.cell_len and len(left):
            left = left[: len(left) - 1]
        else:
            right = right[1:]
    return Text.assemble(left, ELLIPSIS, right)


def fit_widths(
    natural: Sequence[int],
    minimum: Sequence[int],
    width: int,
    fold: Sequence[bool],
    first: Sequence[bool] = (),
) -> list[int]:
    """Column widths whose sum plus gaps is at most *width*, if the minimums allow it.

    *first* columns (a file path) shrink to their minimum before any other; then the widest
    shortenable column gives up one cell at a time (so equal columns shrink together). A fold
    column is set to what remains (at least :data:`MIN_FOLD_WIDTH`).
    """
    widths = list(natural)
    gaps = GAP * (len(widths) - 1)
    fixed = [i for i, f in enumerate(fold) if not f]
    folded = [i for i, f in enumerate(fold) if f]
    budget = width - gaps - sum(min(natural[i], MIN_FOLD_WIDTH) for i in folded)
    early = [i for i in fixed if i < len(first) and first[i]]
    while sum(widths[i] for i in fixed) > budget:
        shrinkable = [i for i in early if widths[i] > minimum[i]]
        shrinkable = shrinkable or [i for i in fixed if widths[i] > minimum[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: (widths[i], -i))
        widths[widest] -= 1
    if folded:
        left = width - gaps - sum(widths[i] for i in fixed)
        share = max(MIN_FOLD_WIDTH, left // len(folded))
        for i in folded:
            widths[i] = min(natural[i], share)
    return widths


def fitted_table(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[Text]],
    *,
    wide: bool = False,
    keep: Sequence[str] = (),
    first: Sequence[str] = (),
    fold: Sequence[str] = (),
    styles: dict[str, str] | None = None,
) -> Table:
    """A ``plain_table`` of *rows*, shortened to fit unless *wide*: *first* columns are
    shortened before the others, *keep* columns never, *fold* columns wrap."""
    from rich.table import Table

    styles = styles or {}
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold", style=styles.get(header))
    if wide or not rows:
        for row in rows:
            table.add_row(*row)
        return table
    folds = [header in fold for header in headers]
    natural = [
        max([len(header)] + [row[i].cell_len for row in rows]) for i, header in enumerate(headers)
    ]
    minimum = [
        natural[i] if header in keep else max(len(header), MIN_WIDTH)
        for i, header in enumerate(headers)
    ]
    early = [header in first for header in headers]
    widths = fit_widths(natural, minimum, target_width(console), folds, early)
    for column, width, folded in zip(table.columns, widths, folds, strict=True):
        column.width = width
        column.no_wrap = not folded
    for row in rows:
        table.add_row(
            *(
                cell if folded else shorten(cell, width)
                for cell, width, folded in zip(row, widths, folds, strict=True)
            )
        )
    return table
