"""The root typer app and the shared consoles; sub-commands register themselves here."""

from __future__ import annotations

import typer
from rich.console import Console

from edge._version import __version__

__all__ = ["app", "console", "err_console"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="streetlight",
    help="streetlight-edge: adaptive street lighting controller, simulator and field tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streetlight-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """streetlight-edge: adaptive street lighting controller, simulator and field tools."""


# Register sub-commands (imported for their side effect on `app`).
from edge.cli import (  # noqa: E402, F401
    _config_cmds,
    _demo_cmds,
    _gateway_cmds,
    _run_cmds,
    _serial_cmds,
    _sim_cmds,
)
