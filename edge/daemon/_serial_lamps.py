"""Lamps behind serial lamp nodes: their leases go out as SET_LEVEL on their port.

A lease is sent with the link's retries (PROTOCOL.md section 5) as a task of its own, one in
flight per lamp: a newer lease for the lamp cancels the one still waiting for its ACK. A lease
that is never ACKed, or that finds its link down, is counted and handed back to the controller,
which sends it again at the next step at the level then.

``lease_seq`` on the wire is a u32 of each node's own: from 1 after the node's HELLO (a
rebooted node, or one answering DISCOVER when a link opens), +1 per lease, 0 skipped when it
wraps. The daemon's own lease seqs (milliseconds) would not fit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from firmware_bridge.errors import AckTimeoutError, LinkDownError, NackError
from firmware_bridge.frames import SetLevel
from firmware_bridge.link import SerialLink

__all__ = ["SEQ_MAX", "SerialLampStats", "SerialLamps"]

log = logging.getLogger("streetlight.serial")

SEQ_MAX = 0xFFFFFFFF


@dataclass
class SerialLampStats:
    acked: int = 0
    lost: int = 0  # never ACKed after every retry, or the link was down
    refused: int = 0  # NACKed by the node
    superseded: int = 0  # a newer lease for the lamp went out before the ACK


class SerialLamps:
    """The serial lamps of ``site`` (indices into ``lamp_ids``), driven over ``links``."""

    def __init__(
        self,
        site: SiteConfig,
        lamp_ids: Sequence[str],
        links: Mapping[str, SerialLink],
        *,
        on_lost: Callable[[int], None],
    ) -> None:
        """``on_lost(j)``: lamp ``j``'s lease did not arrive (the caller sends it again)."""
        self.address: dict[int, tuple[str, int]] = {
            lamp_ids.index(lamp.id): (lamp.port, lamp.node)
            for c in site.clusters
            for lamp in c.lamps
            if lamp.source == "serial" and lamp.port is not None and lamp.node is not None
        }
        self.lamp_at = {address: j for j, address in self.address.items()}
        self.mask = np.zeros(len(lamp_ids), dtype=bool)
        self.mask[list(self.address)] = True
        self.stats = SerialLampStats()
        self._links = links
        self._on_lost = on_lost
        self._seq: dict[tuple[str, int], int] = {}
        self._inflight: dict[int, asyncio.Task[None]] = {}

    def __bool__(self) -> bool:
        return bool(self.address)

    def next_seq(self, port: str, node: int) -> int:
        seq = self._seq.get((port, node), 0) % SEQ_MAX + 1
        self._seq[(port, node)] = seq
        return seq

    def hello(self, port: str, node: int) -> int | None:
        """The node at ``port``/``node`` said HELLO: its lease seqs start again from 1. The lamp
        it drives (to be sent its lease at once), if it drives one."""
        self._seq.pop((port, node), None)
        return self.lamp_at.get((port, node))

    def send(
        self, lamps: npt.NDArray[np.intp], levels: npt.NDArray[np.float64], lease_s: float
    ) -> npt.NDArray[np.intp]:
        """Hand each lamp's lease to its link; the lamps whose link is down (not sent)."""
        down: list[int] = []
        lease_ms = min(round(lease_s * 1000), SEQ_MAX)
        for j, level in zip(lamps.tolist(), levels.tolist(), strict=True):
            port, node = self.address[j]
            link = self._links.get(port)
            if link is None or not link.connected.is_set():
                down.append(j)
                continue
            old = self._inflight.pop(j, None)
            if old is not None and not old.done():
                old.cancel()
                self.stats.superseded += 1
            msg = SetLevel(
                node=node,
                level=min(max(level, 0.0), 1.0),
                lease_ms=lease_ms,
                lease_seq=self.next_seq(port, node),
            )
            task = asyncio.get_running_loop().create_task(
                self._deliver(j, link, msg), name=f"lease {port}/{node}"
            )
            self._inflight[j] = task
            task.add_done_callback(functools.partial(self._done, j))
        if down:
            self.stats.lost += len(down)
        return np.array(down, dtype=np.intp)

    def _done(self, j: int, task: asyncio.Task[None]) -> None:
        if self._inflight.get(j) is task:
            del self._inflight[j]

    async def _deliver(self, j: int, link: SerialLink, msg: SetLevel) -> None:
        try:
            await link.send(msg)
        except (AckTimeoutError, LinkDownError) as exc:
            self.stats.lost += 1
            log.debug("serial lease to node %d lost: %s", msg.node, exc)
            self._on_lost(j)
            return
        except NackError as exc:
            self.stats.refused += 1
            if self.stats.refused in (1, 10, 100) or self.stats.refused % 1000 == 0:
                log.warning("serial lease to node %d refused: %s", msg.node, exc)
            return
        self.stats.acked += 1

    def close(self) -> None:
        """Stop waiting for ACKs (a reload built new serial lamps, or the daemon stops)."""
        for task in self._inflight.values():
            task.cancel()
        self._inflight.clear()
