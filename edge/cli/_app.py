"""The root typer app: every command module's commands registered on it."""

from __future__ import annotations

import typer

from edge._version import __version__
from edge.cli import (
    _config_cmds,
    _demo_cmds,
    _export_cmds,
    _gateway_cmds,
    _run_cmds,
    _serial_cmds,
    _sim_cmds,
)

__all__ = ["app"]

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


for commands in (_run_cmds.cli, _sim_cmds.cli, _demo_cmds.cli, _gateway_cmds.cli):
    app.add_typer(commands)
_config_cmds.config_app.command("export")(_export_cmds.export)
app.add_typer(_config_cmds.config_app, name="config")
app.add_typer(_serial_cmds.serial_app, name="serial")
