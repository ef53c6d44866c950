"""``streetlight sim`` on a terminal: a progress bar with the share done, the time so far and
the time left (rich), for one night and for many (``--dates``, ``--year``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edge.cli._console import err_console

__all__ = ["night_progress", "nights_progress"]


def _bar(*extra: TextColumn | MofNCompleteColumn) -> Progress:
    return Progress(
        TextColumn("simulating {task.description}"), BarColumn(), TaskProgressColumn(), *extra,
        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        console=err_console, transient=True,
    )  # fmt: skip


@contextmanager
def night_progress(what: str) -> Iterator[Callable[[float], None]]:
    """One night: the callback takes the share of it simulated (0 to 1)."""
    with _bar() as bar:
        task = bar.add_task(what, total=1.0)
        yield lambda share: bar.update(task, completed=share)


@contextmanager
def nights_progress(what: str, nights: int) -> Iterator[Callable[[int], None]]:
    """Several nights or a year: the callback takes how many nights are done."""
    with _bar(MofNCompleteColumn()) as bar:
        task = bar.add_task(what, total=nights)
        yield lambda done: bar.update(task, completed=done)
