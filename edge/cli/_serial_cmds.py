"""``streetlight serial probe|monitor PORT``: commissioning tools for a serial line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from edge.cli._console import console, err_console
from edge.errors import StreetlightError

if TYPE_CHECKING:  # pyserial and the codec load with the command that uses them
    from firmware_bridge.frames import Frame
    from firmware_bridge.link import SerialLink

serial_app = typer.Typer(
    help="Commission and diagnose serial lines to node firmware.", no_args_is_help=True
)


class PortUnavailableError(StreetlightError):
    """The port could not be opened within the timeout."""

    def __init__(self, port: str, detail: str) -> None:
        self.port = port
        super().__init__(f"cannot open {port}: {detail or 'timed out'}")


async def _opened(link: SerialLink, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await link.connected.wait()
    except TimeoutError:
        raise PortUnavailableError(link.url, link.stats.last_error) from None


def _describe(frame: Frame) -> dict[str, Any]:
    body = asdict(frame.message)  # type: ignore[call-overload]
    return {"type": frame.type_name, "seq": frame.seq, **body}


def _link_stats(link: SerialLink) -> dict[str, Any]:
    """What the link saw while it was open: frames by result, retries, nodes heard."""
    return {
        "frames_ok": link.deframer.frames_ok,
        "rejected": dict(sorted(link.deframer.rejected.items())),
        "retransmissions": link.stats.retries,
        "lost": link.stats.lost,
        "duplicates": link.stats.duplicates,
        "nodes_heard": sorted(link.nodes),
    }


async def _probe(
    port: str, baud: int, timeout: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from firmware_bridge.frames import Discover, Hello, Ping, Pong
    from firmware_bridge.link import SerialLink

    link = SerialLink(url=port, baudrate=baud, discover_on_open=False, backoff_max_s=0.5)
    nodes: dict[int, dict[str, Any]] = {}
    task = asyncio.create_task(link.run(), name=f"probe {port}")
    try:
        await _opened(link, timeout)
        sent = time.monotonic()
        link.post(Discover())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    frame = await link.frames.get()
                    if isinstance(frame.message, Hello):
                        h = frame.message
                        nodes[h.node] = {
                            "node": h.node,
                            "version": frame.version,
                            "firmware": h.firmware_version,
                            "model": h.model,
                            "capabilities": h.capabilities,
                            "hello_ms": round((time.monotonic() - sent) * 1000, 1),
                        }
        for node, info in nodes.items():
            token = random.randrange(1 << 32)
            began = time.monotonic()
            link.post(Ping(node=node, token=token))
            info["rtt_ms"] = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while True:
                        frame = await link.frames.get()
                        if isinstance(frame.message, Pong) and frame.message.token == token:
                            info["rtt_ms"] = round((time.monotonic() - began) * 1000, 2)
                            break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return sorted(nodes.values(), key=lambda n: n["node"]), _link_stats(link)


@serial_app.command("probe")
def probe(
    port: str = typer.Argument(..., help="Device path or pyserial URL (socket://host:port)."),
    baud: int = typer.Option(115200, "--baud"),
    timeout: float = typer.Option(2.0, "--timeout", help="Seconds to wait for answers."),
    as_json: bool = typer.Option(False, "--json", help="Plain JSON on stdout."),
) -> None:
    """Send DISCOVER, list the nodes that answer (firmware, model) and their round-trip time."""
    nodes, stats = asyncio.run(_probe(port, baud, timeout))
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


async def _monitor(
    port: str, baud: int, as_json: bool, passive: bool, count: int | None, duration: float | None
) -> SerialLink:
    from firmware_bridge.link import SerialLink

    link = SerialLink(
        url=port,
        baudrate=baud,
        discover_on_open=False,
        auto_ack=not passive,
        heartbeat_s=3600.0 if passive else 5.0,
    )
    task = asyncio.create_task(link.run(), name=f"monitor {port}")
    seen = 0
    try:
        await _opened(link, 5.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                while count is None or seen < count:
                    frame = await link.frames.get()
                    seen += 1
                    info = _describe(frame)
                    if as_json:
                        typer.echo(json.dumps({"t": round(time.time(), 3), **info}))
                    else:
                        fields = " ".join(
                            f"{k}={v}" for k, v in info.items() if k not in ("type", "seq")
                        )
                        stamp = time.strftime("%H:%M:%S")
                        console.print(f"{stamp} {info['type']:<12} seq={info['seq']:<5} {fields}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return link


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
    try:
        link = asyncio.run(_monitor(port, baud, as_json, passive, count, duration))
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
