"""Disk full: the state directory on a 4 MiB tmpfs, filled up with a ballast file.

Pass: lamp control unaffected (ticks on time, leases flowing, no lamp in failsafe), every
refused record counted, integrity_check ok, telemetry resumes (after one gap marker) when
space returns.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.harness.upstream import Upstream
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import running_gateway, write_site
from tests.reliability.conftest import Figures, mounted_tmpfs

ROOT = "streetlight/v1/cabinet-0417"
STEADY = "telemetry: {energy_s: 1, traffic_s: 1}"


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (tmpfs); mounting needs root, as on the CI machine."""
    with mounted_tmpfs(tmp_path / "tiny", "size=4m") as mnt:
        yield mnt


def _fill(path: Path) -> int:
    """Write a ballast file until the filesystem refuses (ENOSPC); its size."""
    written = 0
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                written += f.write(b"\0" * 4096)
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return written


@pytest.mark.timeout(120)
async def test_a_full_disk_drops_counted_telemetry_and_never_touches_lamp_control(
    broker: MosquittoBroker, tmp_path: Path, tiny_fs: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    text = config.read_text().replace("telemetry: {energy_s: 5, traffic_s: 10}", STEADY)
    config.write_text(text.replace(f"state_dir: {tmp_path / 'state'}", f"state_dir: {tiny_fs}"))
    async with (
        Upstream(broker.host, broker.port, ROOT, client_id="up-disk") as up,
        running_gateway(config) as gw,
    ):
        d = gw.daemon
        await gw.until(lambda: d.mqtt.is_connected and d.stats.ticks > 5, 10)
        # The same machine, the same moment, before the disk fills: what "on time" is here.
        ticks, overruns = d.stats.ticks, d.stats.overruns
        await asyncio.sleep(3.0)
        free_ticks, free_overruns = d.stats.ticks - ticks, d.stats.overruns - overruns
        ballast = tiny_fs / "ballast"
        ballast_bytes = await asyncio.to_thread(_fill, ballast)
        ticks, leases, overruns = d.stats.ticks, gw.fleet.leases, d.stats.overruns
        await gw.until(lambda: d.outbox.dropped > 20, 30, "records refused by the full disk")
        await asyncio.sleep(3.0)  # ~30 control ticks on a full disk
        assert not gw.fleet.in_failsafe().any()
        full_ticks, full_leases = d.stats.ticks - ticks, gw.fleet.leases - leases
        dropped = d.outbox.dropped
        state_errors = d.state.write_errors
        dbs = {"outbox": d.outbox._db, "state": d.state._db}
        checks = {k: db.execute("PRAGMA integrity_check").fetchone()[0] for k, db in dbs.items()}

        ballast.unlink()
        resumed_from = len(up.records)
        await gw.until(lambda: len(up.records) > resumed_from + 20, 15, "telemetry resumes")
        await gw.until(lambda: any(r.get("kind") == "outbox_gap" for r in up.records.values()), 10)
        gaps = [r["data"] for r in up.records.values() if r.get("kind") == "outbox_gap"]
        refused_in_all = d.outbox.dropped
        full_overruns = d.stats.overruns - overruns
    figures(
        ballast_mib=round(ballast_bytes / 2**20, 2),
        ticks_before_full=free_ticks,
        overruns_before_full=free_overruns,
        overruns_while_full=full_overruns,
        records_refused=dropped,
        state_write_errors=state_errors,
        ticks_while_full=full_ticks,
        leases_while_full=full_leases,
        integrity=",".join(f"{k}={v}" for k, v in checks.items()),
    )
    # A control loop blocked by the disk would tick far less often and overrun tick after
    # tick; measured against the same loop before the disk filled, not against the clock, so
    # a loaded machine slows both alike.
    assert full_ticks >= 0.7 * free_ticks
    assert full_overruns <= free_overruns + 3
    assert full_leases > 0
    assert checks == {"outbox": "ok", "state": "ok"}
    # Upstream is told how many records the disk refused, and which seqs they had.
    assert sum(g["dropped"] for g in gaps) == refused_in_all
    assert all(g["reasons"] == ["disk refused"] for g in gaps)
