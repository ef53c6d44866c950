"""``streetlight sim`` on a terminal: a progress bar with the share done, the time so far and
the time left (rich), for one night and for many (``--dates``, ``--year``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edge.cli._console import err_console

__all__ = ["night_progress"]


def _bar() -> Progress:
    return Progress(
        TextColumn("simulating {task.description}"), BarColumn(), TaskProgressColumn(),
        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        console=err_console, transient=True,
    )  # fmt: skip


@contextmanager
def night_progress(what: str) -> Iterator[Callable[[float], None]]:
    """One night, several, or a year: the callback takes the share simulated (0 to 1)."""
    with _bar() as bar:
        task = bar.add_task(what, total=1.0)
        yield lambda share: bar.update(task, completed=share)
