"""The work behind ``streetlight serial probe|monitor``: the serial link opened, DISCOVER and
PING answered, frames decoded live. Loaded with the command (asyncio, pyserial, the codec)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import asdict
from typing import Any

import typer

from edge.cli._console import console
from edge.errors import StreetlightError
from firmware_bridge.frames import Discover, Frame, Hello, Ping, Pong
from firmware_bridge.link import SerialLink

__all__ = ["PortUnavailableError", "monitor_line", "probe_line"]


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


async def probe_line(
    port: str, baud: int, timeout: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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


async def monitor_line(
    port: str, baud: int, as_json: bool, passive: bool, count: int | None, duration: float | None
) -> SerialLink:
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
