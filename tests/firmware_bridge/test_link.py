"""The serial link over a real pty (and a TCP socket) against the fake node firmware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firmware_bridge.frames import (
    Counts,
    Frame,
    Heartbeat,
    Hello,
    Message,
    SetLevel,
    encode_frame,
)
from firmware_bridge.link import NODE_GONE_S, AckTimeoutError, NackError, SerialLink
from simulator.harness.firmware import FakeBus, FakeNode
from tests.helpers.clock import ManualClock
from tests.helpers.pty_pair import PtyPair


async def next_of(link: SerialLink, kind: type[Message], timeout: float = 5.0) -> Frame:
    """The next frame of ``kind`` from the link (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await link.frames.get()
            if isinstance(frame.message, kind):
                return frame


def _point(link_path: Path, device: str) -> None:
    """Re-point the stable device name (what udev does on replug), atomically."""
    tmp = link_path.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(device)
    os.replace(tmp, link_path)


async def test_counts_arrive_set_level_is_acked_and_the_lease_lapses(tmp_path: Path) -> None:
    pair = PtyPair.open()
    dev = tmp_path / "ttyNODE"
    _point(dev, pair.device)
    node = FakeNode(node=17, lamp=True, model="RD-24", firmware=(1, 4, 2))
    link = SerialLink(url=str(dev), heartbeat_s=0.5)
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(link.run(), name="link"),
                     tg.create_task(node.serve_pty(pair.node_fd), name="node")]  # fmt: skip
            hello = await next_of(link, Hello)  # answer to the DISCOVER sent on open
            assert hello.message == node.hello()

            seq = node.send_counts((2, 1, 0), (0, 0, 1), speed_cms=1250)
            counts = await next_of(link, Counts)
            assert counts.seq == seq
            assert counts.message.forward == (2, 1, 0)
            async with asyncio.timeout(2):
                while seq not in node.acked:
                    await asyncio.sleep(0.01)

            await link.send(SetLevel(node=17, level=0.4, lease_ms=400, lease_seq=1))
            assert node.lamp is not None
            assert node.lamp.level_at(time.monotonic()) == 0.4
            await asyncio.sleep(0.5)
            assert node.lamp.level_at(time.monotonic()) == 1.0  # lease lapsed: failsafe
            assert node.status().flags & 4

            node.lamp = None
            with pytest.raises(NackError):  # a sensor-only node refuses SET_LEVEL
                await link.send(SetLevel(node=17, level=0.4, lease_ms=400, lease_seq=2))
            with pytest.raises(AckTimeoutError):  # nobody at node 99: retried, then lost
                await link.send(SetLevel(node=99, level=0.4, lease_ms=400, lease_seq=3))
            assert link.stats.retries >= 3
            assert link.stats.lost == 1
            for task in tasks:
                task.cancel()
    finally:
        pair.close()


async def test_duplicate_counts_are_acked_but_delivered_once(tmp_path: Path) -> None:
    pair = PtyPair.open()
    link = SerialLink(url=pair.device, discover_on_open=False)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(link.run(), name="link")
            async with asyncio.timeout(5):
                await link.connected.wait()
            wire = encode_frame(Counts(node=5, sensor=0, interval_ms=1000, forward=(1, 0, 0),
                                       backward=(0, 0, 0)), 77)  # fmt: skip
            os.write(pair.node_fd, wire + wire + b"\x00garbage\x00" + wire)
            await next_of(link, Counts)
            await asyncio.sleep(0.2)
            assert link.frames.empty()
            assert link.stats.duplicates == 2
            assert link.deframer.rejected_total == 1
            os.set_blocking(pair.node_fd, False)
            acks = os.read(pair.node_fd, 4096).count(b"\x00")
            assert acks == 3  # every copy ACKed
            task.cancel()
    finally:
        pair.close()


class _Lossy:
    """Loses each write (one or more whole frames) with probability ``p``."""

    def __init__(self, p: float, seed: int) -> None:
        self.p, self.rng, self.lost = p, random.Random(seed), 0

    def __call__(self, data: bytes) -> bytes:
        if self.rng.random() < self.p:
            self.lost += 1
            return b""
        return data


class _DeafNode(FakeNode):
    """A node that misses each frame the gateway sends (its ACKs) with probability ``p``."""

    def __init__(self, p: float, seed: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.ears = _Lossy(p, seed)

    def feed(self, data: bytes) -> None:
        heard = b"".join(self.ears(part + b"\x00") for part in data.split(b"\x00")[:-1])
        if heard:
            super().feed(heard)


async def _ingest_counts(link: SerialLink, into: list[Counts]) -> None:
    while True:
        frame = await link.frames.get()
        if isinstance(frame.message, Counts):
            into.append(frame.message)


@contextlib.asynccontextmanager
async def _on_one_line(
    *nodes: FakeNode, discover_on_open: bool = True
) -> AsyncIterator[tuple[SerialLink, list[Counts]]]:
    """A link on a pty with ``nodes`` on its far end; the COUNTS it ingests, in order."""
    pair = PtyPair.open()
    link = SerialLink(url=pair.device, discover_on_open=discover_on_open)
    got: list[Counts] = []
    tasks = [asyncio.create_task(link.run(), name="link"),
             asyncio.create_task(FakeBus(*nodes).serve_pty(pair.node_fd), name="bus"),
             asyncio.create_task(_ingest_counts(link, got), name="ingest")]  # fmt: skip
    try:
        yield link, got
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pair.close()


async def _all_acked(*nodes: FakeNode, timeout_s: float, poll_s: float, settle_s: float) -> None:
    """Until every node's frames are ACKed or given up on, then ``settle_s`` more."""
    async with asyncio.timeout(timeout_s):
        while any(node._unacked for node in nodes):
            await asyncio.sleep(poll_s)
    await asyncio.sleep(settle_s)


async def test_a_lossy_line_with_retransmissions_ingests_exactly_what_was_sent() -> None:
    """1 % of the node's frames and 1 % of the gateway's ACKs lost: the node retransmits while it
    goes on sending newer COUNTS, so retransmissions arrive after newer frames. Every one is
    ingested once."""
    node = _DeafNode(0.01, seed=2, node=9, line=_Lossy(0.01, seed=1))
    sent = 1500
    async with _on_one_line(node, discover_on_open=False) as (link, got):
        async with asyncio.timeout(5):
            await link.connected.wait()
        for k in range(sent):
            node.send_counts((1, 0, 0), (0, 0, 0))
            if k % 10 == 9:
                await asyncio.sleep(0.01)
        await _all_acked(node, timeout_s=20, poll_s=0.05, settle_s=0.3)
    assert isinstance(node.line, _Lossy)
    assert node.line.lost > 0
    assert node.ears.lost > 0
    assert link.stats.duplicates > 0  # retransmissions did arrive, and were not applied
    assert sum(c.forward[0] for c in got) == sent


async def test_a_rebooted_nodes_first_counts_are_not_lost() -> None:
    """A node that reboots numbers its frames from 1 again; after its HELLO those seqs are
    new frames, not retransmissions of the ones it sent before."""
    node = FakeNode(node=9)
    async with _on_one_line(node, discover_on_open=False) as (link, got):
        async with asyncio.timeout(5):
            await link.connected.wait()
        node.send_counts((1, 0, 0), (0, 0, 0))  # seq 1
        node.send_counts((1, 0, 0), (0, 0, 0))  # seq 2
        async with asyncio.timeout(5):
            while len(got) < 2:
                await asyncio.sleep(0.02)
        node.reboot()  # HELLO (seq 1), then COUNTS from seq 2 again
        for _ in range(10):
            node.send_counts((1, 0, 0), (0, 0, 0))
        await _all_acked(node, timeout_s=5, poll_s=0.02, settle_s=0.2)
    assert len(got) == 12
    assert link.stats.duplicates == 0


class _LoseWrite:
    """The wire loses the ``n``-th write (1-based) and passes the rest."""

    def __init__(self, n: int) -> None:
        self.n, self.writes = n, 0

    def __call__(self, data: bytes) -> bytes:
        self.writes += 1
        return b"" if self.writes == self.n else data


@pytest.mark.parametrize("version", [1, 2])
async def test_two_nodes_on_one_bus_with_the_same_seq_get_their_own_acks(version: int) -> None:
    """Nodes 11 and 12 share a bus and both send COUNTS with seq 2 (after their HELLOs, seq
    1). Node 12's frame is lost on the wire. In version 2 the gateway's ACK names node 11, so
    node 12 does not take it for its own, retransmits, and both counts arrive. In version 1 the
    ACK names no node: node 12 takes node 11's ACK and its counts are lost, which is why
    version 2 exists."""
    a = FakeNode(node=11, version=version)
    b = FakeNode(node=12, version=version, line=_LoseWrite(2))  # HELLO passes, COUNTS lost
    async with _on_one_line(a, b) as (link, got):
        async with asyncio.timeout(5):
            while len(link.versions) < 2:  # both HELLOs in: the gateway knows their versions
                await asyncio.sleep(0.02)
        assert link.versions == {11: version, 12: version}
        seq_a = a.send_counts((1, 0, 0), (0, 0, 0))
        seq_b = b.send_counts((0, 1, 0), (0, 0, 0))
        assert seq_a == seq_b == 2
        await _all_acked(a, b, timeout_s=5, poll_s=0.02, settle_s=0.3)
    assert a.acked == b.acked == {2}  # each believes its COUNTS arrived
    if version == 2:
        assert sorted(c.node for c in got) == [11, 12]  # and both did
        assert link.stats.duplicates == 0
    else:
        assert [c.node for c in got] == [11]  # node 12 took node 11's ACK: its counts lost


async def test_unplug_and_replug_twenty_times(tmp_path: Path) -> None:
    dev = tmp_path / "ttyUSB-stable"
    pair = PtyPair.open()
    _point(dev, pair.device)
    link = SerialLink(url=str(dev), heartbeat_s=0.2, backoff_min_s=0.02, backoff_max_s=0.2)
    try:
        async with asyncio.TaskGroup() as tg:
            link_task = tg.create_task(link.run(), name="link")
            for cycle in range(20):
                node = FakeNode(node=100 + cycle)
                serve = tg.create_task(node.serve_pty(pair.node_fd), name=f"node-{cycle}")
                hello = await next_of(link, Hello, timeout=5)
                assert hello.message.node == 100 + cycle
                assert link.stats.opens == cycle + 1
                serve.cancel()
                await asyncio.gather(serve, return_exceptions=True)
                pair.close()  # unplug: the gateway's fd now reads EIO
                async with asyncio.timeout(5):
                    while link.connected.is_set():
                        await asyncio.sleep(0.01)
                pair = PtyPair.open()  # replug: a new device behind the same stable name
                _point(dev, pair.device)
            assert link.stats.disconnects == 20
            link_task.cancel()
    finally:
        pair.close()


async def test_socket_url_is_accepted() -> None:
    node = FakeNode(node=42)
    server = await asyncio.start_server(node.serve_tcp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = SerialLink(url=f"socket://127.0.0.1:{port}")
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(link.run(), name="link")
            hello = await next_of(link, Hello)
            assert hello.message.node == 42
            task.cancel()
    finally:
        server.close()
        await server.wait_closed()


async def test_missing_device_backs_off_without_spinning(tmp_path: Path) -> None:
    clock = ManualClock()
    link = SerialLink(url=str(tmp_path / "absent"), backoff_min_s=0.05, backoff_max_s=0.4,
                      clock=clock)  # fmt: skip
    cpu0 = time.process_time()
    task = asyncio.create_task(link.run(), name="link")
    await clock.asleep()
    await clock.advance(10.0)  # ten seconds of the link's time, without the wait
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # Each failed open sleeps twice the last, with +-20 % jitter, up to the cap.
    assert link.stats.open_failures == len(clock.slept) > 20
    for k, slept in enumerate(clock.slept):
        step = min(0.05 * 2**k, 0.4)
        assert 0.8 * step <= slept <= 1.2 * step, (k, slept)
    assert time.process_time() - cpu0 < 1.0  # slept between tries, no spinning
    assert "open" in link.stats.last_error


async def test_a_silent_node_is_gone_and_back_when_heard_and_bad_frames_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pair = PtyPair.open()
    clock = ManualClock()  # the link and the node keep one time, which the test moves on
    link = SerialLink(url=pair.device, heartbeat_s=5.0, clock=clock)
    node = FakeNode(node=31, heartbeat_s=1.0, clock=clock.monotonic)
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(link.run(), name="link")]
            serve = tg.create_task(node.serve_pty(pair.node_fd), name="node")
            await next_of(link, Hello)
            heard = link.nodes[31]
            await clock.asleep()  # the link's heartbeat
            await clock.advance(2.0)
            await next_of(link, Heartbeat)  # the node's, after a second of silence
            assert link.nodes[31] > heard  # its heartbeats keep it heard
            assert link.check_nodes() == ([], [])
            serve.cancel()
            await asyncio.gather(serve, return_exceptions=True)
            await clock.advance(NODE_GONE_S + 1)  # 16 s of silence, without the wait
            assert link.check_nodes() == ([31], [])
            assert link.check_nodes() == ([], [])  # gone once, not every time
            assert link.stats.nodes_gone == 1
            # Heard again: back. A corrupted frame on the way is logged with its first bytes.
            with caplog.at_level(logging.WARNING, logger="streetlight.serial"):
                os.write(pair.node_fd, b"\x05\xde\xad\xbe\xef\x00")
                serve = tg.create_task(node.serve_pty(pair.node_fd), name="node-again")
                await asyncio.sleep(0)  # it serves (the node writes to the line again)
                node.send_counts((1, 0, 0), (0, 0, 0))
                await next_of(link, Counts)
            assert link.check_nodes() == ([], [31])
            line = next(r.getMessage() for r in caplog.records if "rejected" in r.getMessage())
            assert pair.device in line
            assert "too short" in line  # the reason
            assert "05 de ad be ef" in line
            serve.cancel()
            for task in tasks:
                task.cancel()
    finally:
        pair.close()
