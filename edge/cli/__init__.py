"""The ``streetlight`` command line: one typer app, sub-apps per area."""

from __future__ import annotations

import sys

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
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
