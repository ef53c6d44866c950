"""Serial: the daemon's sensor line unplugged and replugged 50 times, then a noisy wire.

Pass: the link reopens each time; the process stays near idle while the device is gone; at a
bit error rate of 1e-4 plus bursts of garbage every corrupted frame is rejected and counted
(no frame the daemon accepts differs from one the node sent), and nothing crashes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.frames import Counts, Frame, encode_frame
from simulator.harness.firmware import BitErrors, FakeNode
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import Gateway, running_gateway, write_site
from tests.helpers.pty_pair import PtyPair
from tests.reliability.conftest import Figures

PORT = "radar-bus"


def _point(link: Path, target: str) -> None:
    tmp = link.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


async def _counts_arrive(gw: Gateway, accepted: list[Frame], node: FakeNode, n: int) -> None:
    before = sum(isinstance(f.message, Counts) for f in accepted)
    for _ in range(n):
        node.send_counts((1, 0, 0), (0, 0, 0), sensor=0)
    await gw.until(lambda: sum(isinstance(f.message, Counts) for f in accepted) >= before + n, 10)


@pytest.mark.parametrize("cycles", [50])
@pytest.mark.timeout(240)
async def test_replugs_and_a_noisy_wire_are_survived_and_every_bad_frame_counted(
    broker: MosquittoBroker, tmp_path: Path, cycles: int, figures: Figures
) -> None:
    dev = tmp_path / "ttyUSB-radar"
    pair = PtyPair.open()
    _point(dev, pair.device)
    config = write_site(tmp_path, port=broker.port, device=str(dev))
    try:
        async with running_gateway(config) as gw:
            d = gw.daemon
            link = d.links[PORT]
            accepted: list[Frame] = []
            take = d.ingest.on_frame

            def spy(port: str, frame: Frame) -> None:  # records what the daemon ingests
                accepted.append(frame)
                take(port, frame)

            d.ingest.on_frame = spy  # type: ignore[method-assign]
            await gw.until(lambda: link.connected.is_set(), 10)

            # Unplug and replug; counts flow after every replug.
            reopen_s: list[float] = []
            for cycle in range(cycles):
                node = FakeNode(node=1)
                serve = asyncio.create_task(node.serve_pty(pair.node_fd), name="node")
                await _counts_arrive(gw, accepted, node, 2)
                serve.cancel()
                await asyncio.gather(serve, return_exceptions=True)
                pair.close()
                await gw.until(lambda: not link.connected.is_set(), 5, "unplug noticed")
                if cycle == cycles // 2:  # a long absence: no busy loop meanwhile
                    dev.unlink()
                    cpu0, wall0, fails0 = (
                        time.process_time(),
                        time.monotonic(),
                        link.stats.open_failures,
                    )
                    await asyncio.sleep(3.0)
                    gone_cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
                    gone_attempts = link.stats.open_failures - fails0
                pair = PtyPair.open()
                _point(dev, pair.device)
                replugged = time.monotonic()
                await gw.until(lambda: link.connected.is_set(), 10, "reopened")
                reopen_s.append(time.monotonic() - replugged)
            assert link.stats.opens == cycles + 1

            # A noisy wire: bit errors at 1e-4 on everything the node sends, garbage bursts.
            wire = BitErrors(1e-4, seed=3)
            node = FakeNode(node=1, line=wire)
            serve = asyncio.create_task(node.serve_pty(pair.node_fd), name="noisy-node")
            rng = np.random.default_rng(5)
            rejected0, first_noisy = link.deframer.rejected_total, len(accepted)
            sent = 0
            for burst in range(40):
                for _ in range(50):
                    node.send_counts((1, 0, 0), (0, 1, 0), sensor=0)
                    sent += 1
                if burst % 4 == 0:
                    node.inject(
                        rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
                    )
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.0)  # retransmissions of what was corrupted
            serve.cancel()
            await asyncio.gather(serve, return_exceptions=True)
            rejected = link.deframer.rejected_total - rejected0
            reasons = dict(link.deframer.rejected)
            assert link.connected.is_set()  # the link and the daemon are still up
    finally:
        pair.close()
    noisy = [f for f in accepted[first_noisy:] if isinstance(f.message, Counts)]
    forged = [f for f in noisy if encode_frame(f.message, f.seq) not in wire.intact]
    figures(
        replugs=cycles,
        reopen_s_max=round(max(reopen_s), 3),
        cpu_share_device_gone=round(gone_cpu, 3),
        open_attempts_in_3s_gone=gone_attempts,
        frames_sent=sent,
        bit_flips=wire.flips,
        frames_corrupted=wire.corrupted,
        frames_rejected=rejected,
        rejected_by_reason=reasons,
        frames_accepted=len(noisy),
        corrupted_frames_accepted=len(forged),
    )
    assert max(reopen_s) < 5.0
    assert gone_cpu < 0.25  # the whole test process (daemon ticking, lamps), not a busy loop
    assert gone_attempts <= 10
    assert wire.corrupted > 0
    assert rejected >= wire.corrupted // 2  # a flip in a delimiter can merge two into one
    assert forged == []
