"""A TCP fault proxy between the daemon and its broker: pass, delay, blackhole, half-open, reset.

The network faults a street cabinet's backhaul has, made on purpose:

- ``pass``: bytes flow both ways.
- ``delay``: every chunk is held ``delay_s`` before it is forwarded (order kept).
- ``blackhole``: bytes are read and thrown away both ways; no FIN, no RST. New connections are
  accepted and then hear nothing (a dead cellular link looks like this).
- ``half_open``: the broker's side is closed (the broker sees the client leave and publishes
  its Will) while the client's side stays open and silent, as after a NAT or modem reset.
- ``reset``: every connection is closed with RST now, and new ones are refused the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

MODES = ("pass", "delay", "blackhole", "half_open", "reset")


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class FaultProxy:
    """Listen on a free loopback port and forward to ``target``; change ``mode`` at any time."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.delay_s = 0.0
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            self._close(conn, rst=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def set_mode(self, mode: str, *, delay_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(MODES)}")
        self.mode, self.delay_s = mode, delay_s
        if mode == "reset":
            for conn in list(self._conns):
                self._close(conn, rst=True)
        elif mode == "half_open":
            for conn in self._conns:
                if conn.upstream is not None:
                    conn.upstream.close()  # the broker sees a clean close; the client nothing
                    conn.upstream = None

    @property
    def connections(self) -> int:
        return len(self._conns)

    def _close(self, conn: _Conn, *, rst: bool) -> None:
        for task in conn.tasks:
            task.cancel()
        for writer in (conn.client, conn.upstream):
            if writer is not None:
                _rst(writer) if rst else writer.close()
        self._conns.discard(conn)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            _rst(writer)
            return
        conn = _Conn(client=writer, upstream=None)
        self._conns.add(conn)
        if self.mode in ("pass", "delay"):
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                self._close(conn, rst=True)
                return
            conn.tasks.append(asyncio.create_task(self._pump(up_reader, conn, to_client=True)))
        conn.tasks.append(asyncio.create_task(self._pump(reader, conn, to_client=False)))

    async def _pump(self, reader: asyncio.StreamReader, conn: _Conn, *, to_client: bool) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, conn, to_client=to_client))
        conn.tasks.append(sender)
        try:
            while data := await reader.read(65536):
                if self.mode not in ("blackhole", "half_open"):  # else swallowed
                    queue.put_nowait((loop.time(), data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        # One side closed (outside a fault): close the other, as a real network path would.
        await queue.join()
        if self.mode in ("pass", "delay") and conn in self._conns:
            self._close(conn, rst=False)

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], conn: _Conn, *, to_client: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            arrived, data = await queue.get()
            try:
                if self.mode == "delay":
                    await asyncio.sleep(arrived + self.delay_s - loop.time())
                writer = conn.client if to_client else conn.upstream
                if writer is not None and self.mode in ("pass", "delay"):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                queue.task_done()
