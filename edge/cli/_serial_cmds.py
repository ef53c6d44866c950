"""``streetlight serial probe|monitor PORT``: commissioning tools for a serial line."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from edge.cli._console import console, err_console

serial_app = typer.Typer(
    help="Commission and diagnose serial lines to node firmware.", no_args_is_help=True
)


@serial_app.command("probe")
def probe(
    port: str = typer.Argument(..., help="Device path or pyserial URL (socket://host:port)."),
    baud: int = typer.Option(115200, "--baud"),
    timeout: float = typer.Option(2.0, "--timeout", help="Seconds to wait for answers."),
    as_json: bool = typer.Option(False, "--json", help="Plain JSON on stdout."),
) -> None:
    """Send DISCOVER, list the nodes that answer (firmware, model) and their round-trip time."""
    import asyncio

    from edge.cli._serial_work import probe_line  # asyncio, pyserial and the codec

    nodes, stats = asyncio.run(probe_line(port, baud, timeout))
    if as_json:
        typer.echo(json.dumps({"port": port, "nodes": nodes, "link": stats}, indent=2))
        return
    if not nodes:
        err_console.print(f"{port}: open, but no node answered DISCOVER within {timeout:g} s")
        raise typer.Exit(1)
    table = Table(title=f"nodes on {port}")
    for col in ("node", "version", "firmware", "model", "capabilities", "hello ms", "rtt ms"):
        table.add_column(col)
    for n in nodes:
        table.add_row(
            str(n["node"]),
            str(n["version"]),
            n["firmware"],
            n["model"],
            f"0x{n['capabilities']:04x}",
            str(n["hello_ms"]),
            str(n["rtt_ms"] if n["rtt_ms"] is not None else "-"),
        )
    console.print(table)
    rejected = ", ".join(f"{k} {v}" for k, v in stats["rejected"].items()) or "none"
    console.print(
        f"link: {stats['frames_ok']} frames ok, rejected: {rejected}; "
        f"{stats['retransmissions']} retransmitted, {stats['lost']} lost, "
        f"{stats['duplicates']} duplicates received"
    )


@serial_app.command("monitor")
def monitor(
    port: str = typer.Argument(..., help="Device path or pyserial URL (socket://host:port)."),
    baud: int = typer.Option(115200, "--baud"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per frame on stdout."),
    passive: bool = typer.Option(False, "--passive", help="Do not ACK (nodes will retransmit)."),
    count: int | None = typer.Option(None, "--count", help="Stop after N frames."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
) -> None:
    """Print decoded frames live (commissioning); rejected frames are counted at the end."""
    import asyncio

    from edge.cli._serial_work import monitor_line

    try:
        link = asyncio.run(monitor_line(port, baud, as_json, passive, count, duration))
    except KeyboardInterrupt:
        return
    summary = {
        "frames": link.stats.frames_in,
        "rejected": dict(link.deframer.rejected),
        "duplicates": link.stats.duplicates,
    }
    if as_json:
        err_console.print(json.dumps(summary))
    else:
        err_console.print(
            f"{summary['frames']} frames, rejected {summary['rejected'] or 0}, "
            f"{summary['duplicates']} duplicates"
        )


__all__ = ["serial_app"]
