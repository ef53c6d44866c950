"""`streetlight serial probe|monitor` against the fake node firmware on a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from simulator.harness.firmware import FakeBus, FakeNode
from tests.helpers.pty_pair import PtyPair

CLI = str(Path(sys.executable).with_name("streetlight"))


async def _cli(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _garble(data: bytes) -> bytes:
    """A wire that flips the 4th byte of everything: the CRC (or COBS) fails."""
    return data[:3] + bytes([data[3] ^ 0xFF]) + data[4:] if len(data) > 4 else data


async def test_probe_lists_the_nodes_with_version_firmware_rtt_and_the_links_statistics() -> None:
    pair = PtyPair.open()
    node = FakeNode(node=23, firmware=(2, 1, 0), model="RD-24", lamp=True)
    newer = FakeNode(node=24, firmware=(1, 5, 0), model="LN-1", lamp=True, counts=False,
                     version=2)  # fmt: skip
    garbled = FakeNode(node=25, line=_garble)  # its HELLO never arrives whole
    try:
        async with asyncio.TaskGroup() as tg:
            serve = tg.create_task(FakeBus(node, newer, garbled).serve_pty(pair.node_fd))
            code, out, err = await _cli(
                "serial", "probe", pair.device, "--timeout", "0.5", "--json"
            )
            assert code == 0, err
            probed = json.loads(out)
            nodes = probed["nodes"]
            assert [(n["node"], n["version"], n["firmware"], n["model"]) for n in nodes] == [
                (23, 1, "2.1.0", "RD-24"),
                (24, 2, "1.5.0", "LN-1"),
            ]
            assert all(n["rtt_ms"] is not None and n["rtt_ms"] < 500 for n in nodes)
            link = probed["link"]
            assert sum(link["rejected"].values()) >= 1  # node 25's HELLO
            assert link["frames_ok"] >= 4  # two HELLOs, two PONGs (and lamp statuses)
            assert link["nodes_heard"] == [23, 24]

            code, out, err = await _cli("serial", "probe", pair.device, "--timeout", "0.5")
            assert code == 0, err
            assert "RD-24" in out
            assert "2.1.0" in out
            assert "rejected:" in out
            serve.cancel()
    finally:
        pair.close()


async def _opened_by(pid: int, device: str, timeout: float = 30) -> None:
    """Wait until process ``pid`` has ``device`` open (a CLI may take seconds to start on a
    loaded machine; bytes sent before it opens the port are flushed by the open)."""
    fds = f"/proc/{pid}/fd"  # Linux: the links to what the process has open
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(OSError):
                if any(os.readlink(f"{fds}/{fd}") == device for fd in os.listdir(fds)):
                    return
            await asyncio.sleep(0.05)


async def test_monitor_prints_decoded_frames_and_counts_rejections() -> None:
    pair = PtyPair.open()
    node = FakeNode(node=5)
    try:
        async with asyncio.TaskGroup() as tg:
            serve = tg.create_task(node.serve_pty(pair.node_fd), name="node")
            proc = await asyncio.create_subprocess_exec(
                CLI, "serial", "monitor", pair.device, "--json", "--count", "2",
                "--duration", "30", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            await _opened_by(proc.pid, pair.device)
            node.send_counts((1, 0, 0), (0, 2, 0), speed_cms=900)  # retransmitted until ACKed
            async with asyncio.timeout(20):
                while not node.acked:  # the monitor is reading: what follows reaches it
                    await asyncio.sleep(0.02)
            node.inject(b"\x05garbage\x00")
            node.send_counts((0, 0, 1), (0, 0, 0))
            async with asyncio.timeout(40):
                raw_out, raw_err = await proc.communicate()
            out, err = raw_out.decode(), raw_err.decode()
            assert proc.returncode == 0, err
            lines = [json.loads(line) for line in out.splitlines()]
            assert [ln["type"] for ln in lines] == ["COUNTS", "COUNTS"]
            assert lines[0]["backward"] == [0, 2, 0]
            assert lines[0]["mean_speed_cms"] == 900
            summary = json.loads(err.strip().splitlines()[-1])
            assert sum(summary["rejected"].values()) == 1
            assert len(node.acked) == 2  # the monitor ACKs like the gateway does
            serve.cancel()
    finally:
        pair.close()


async def test_probe_of_a_missing_port_fails_clearly(tmp_path: Path) -> None:
    code, _, err = await _cli("serial", "probe", str(tmp_path / "nope"), "--timeout", "0.5")
    assert code == 1
    assert "cannot open" in err
    assert "Traceback" not in err
