"""The ``streetlight`` command line: one typer app, sub-apps per area."""

from __future__ import annotations

import sys

from rich.markup import escape

from edge.cli._app import app
from edge.cli._console import err_console
from edge.errors import StreetlightError
from firmware_bridge.errors import SerialError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry: run the app, turning project errors into one clear line."""
    try:
        app()
    except (StreetlightError, SerialError) as exc:
        # the message is text, not markup: "[code:135]" in a broker's reason must show
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
