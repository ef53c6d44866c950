"""Tables that fit the terminal without cutting an id: less important columns are left out
(and named), the rest wraps, and ids never shrink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edge.cli._console import console, err_console

__all__ = ["Column", "print_table"]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column; ``drop`` 0 is never left out (ids), higher ones go first."""

    name: str
    drop: int = 0
    justify: Literal["left", "right"] = "left"


def _cell_width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def _word_width(cell: str) -> int:
    """The narrowest a wrapping column can get: its longest word."""
    return max((_cell_width(word) for word in Text.from_markup(cell).plain.split()), default=0)


def _width(widths: Sequence[int]) -> int:
    """A rich table's width with the default box: padding 1 and a rule around each column."""
    return sum(w + 3 for w in widths) + 1


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> list[str]:
    """Print ``rows`` in as many ``columns`` as fit the console; the names of those left out
    (the caller's ``--json`` has them all)."""
    widths = [
        max(_cell_width(col.name), *(_cell_width(row[i]) for row in rows))
        for i, col in enumerate(columns)
    ]
    keep = list(range(len(columns)))
    # the most droppable first; among equals, the rightmost
    order = sorted((i for i in keep if columns[i].drop > 0), key=lambda i: (-columns[i].drop, -i))
    for i in order:
        if _width([widths[k] for k in keep]) <= console.width:
            break
        keep.remove(i)
    table = Table(title=title)
    for k in keep:
        col = columns[k]
        if col.drop == 0:  # an id: whole, on one line
            table.add_column(col.name, justify=col.justify, no_wrap=True, min_width=widths[k])
        else:
            table.add_column(col.name, justify=col.justify, overflow="fold")
    for row in rows:
        table.add_row(*(row[k] for k in keep))
    narrowest = [
        widths[k] if columns[k].drop == 0
        else max(_word_width(columns[k].name), *(_word_width(row[k]) for row in rows))
        for k in keep
    ]  # fmt: skip
    needed = _width(narrowest)
    out = console
    if needed > console.width:  # ids alone are wider than the terminal: lines wrap, ids stay
        out = Console(width=needed, highlight=False, file=console.file)
    out.print(table)
    dropped = [columns[i].name for i in range(len(columns)) if i not in keep]
    if dropped:
        err_console.print(
            f"[dim]left out to fit {console.width} columns: {', '.join(dropped)} "
            "(--json has every field)[/]"
        )
    return dropped
