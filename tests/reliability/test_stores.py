"""Damaged or unusable state files: a power cut on an SD card tears ``state.db`` and
``outbox.db``; a directory mounted read-only cannot hold them at all.

Pass: the daemon starts and leases every lamp within seconds, says what it found (an event
and a metric), moves a damaged file aside (``*.corrupt-<time>``) and resumes its energy
totals and lease seqs from the state mirror; with no usable directory it runs in memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.harness.upstream import Upstream
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import running_gateway, write_site
from tests.reliability.conftest import Figures, mounted_tmpfs

ROOT = "streetlight/v1/cabinet-0417"


def _events(up: Upstream, kind: str) -> list[dict[str, object]]:
    return [r for r in up.records.values() if r.get("kind") == kind]


@pytest.mark.timeout(120)
async def test_torn_state_and_outbox_files_are_moved_aside_and_lamps_are_leased_at_once(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    state = tmp_path / "state"
    async with running_gateway(config) as gw:  # a first run leaves totals and a mirror
        await gw.until(lambda: gw.daemon.mqtt.is_connected and gw.fleet.leases > 0, 15)
        await gw.until(lambda: gw.daemon.energy.wh[:, 0].sum() > 0, 15, "energy")
        gw.daemon._checkpoint()
    saved = json.loads((state / "state.json").read_text())
    before = sum(row[0] for row in saved["energy"].values())
    assert before > 0
    # a power cut: garbage over the state file's first pages, the outbox cut short
    (state / "state.db").write_bytes(b"\x5a" * 8192)
    outbox = (state / "outbox.db").read_bytes()
    (state / "outbox.db").write_bytes(outbox[:100])
    async with Upstream(broker.host, broker.port, ROOT, client_id="up-stores") as up:
        began = time.monotonic()
        async with running_gateway(config) as gw:
            d = gw.daemon
            await gw.until(lambda: bool((gw.fleet.lease_seq >= 0).all()), 15, "every lamp leased")
            to_leases = time.monotonic() - began
            assert not gw.fleet.in_failsafe().any()
            await gw.until(lambda: len(_events(up, "store_damaged")) == 2, 15, "two events")
            resumed = float(d.energy.wh[:, 0].sum())
            assert resumed >= before  # energy never goes backwards
            assert d.controller.seq_base >= saved["lease_seq_next"]
            problems = d.metrics.store_problems
            assert problems.labels("state", "damaged")._value.get() == 1
            assert problems.labels("outbox", "damaged")._value.get() == 1
    moved = sorted(p.name for p in state.iterdir() if ".corrupt-" in p.name)
    assert [m for m in moved if m.startswith("state.db.corrupt-")]
    assert [m for m in moved if m.startswith("outbox.db.corrupt-")]
    messages = {e["subject"]: e["message"] for e in _events(up, "store_damaged")}
    assert "values restored from" in str(messages["state"])
    figures(seconds_to_every_lamp_leased=round(to_leases, 2), energy_wh_before=round(before, 2),
            energy_wh_resumed=round(resumed, 2), moved_aside=moved)  # fmt: skip


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only filesystem (tmpfs mounted ro: even root cannot write there)."""
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as mnt:
        yield mnt


@pytest.mark.timeout(120)
async def test_a_state_directory_that_cannot_be_written_leaves_lamp_control_running(
    broker: MosquittoBroker, tmp_path: Path, read_only_dir: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    where = read_only_dir / "streetlight"
    config.write_text(config.read_text().replace(f"state_dir: {tmp_path / 'state'}",
                                                 f"state_dir: {where}"))  # fmt: skip
    async with (
        Upstream(broker.host, broker.port, ROOT, client_id="up-ro") as up,
        running_gateway(config) as gw,
    ):
        d = gw.daemon
        await gw.until(lambda: bool((gw.fleet.lease_seq >= 0).all()), 15, "every lamp leased")
        await gw.until(lambda: _events(up, "store_unavailable"), 15, "the event")
        await gw.until(lambda: len(up.records) > 5, 15, "telemetry from memory")
        assert not gw.fleet.in_failsafe().any()
        assert d.metrics.store_persistent.labels("state")._value.get() == 0
        assert d.metrics.store_persistent.labels("outbox")._value.get() == 0
        event = _events(up, "store_unavailable")[0]
        assert str(where) in str(event["message"])
        assert event["severity"] == "critical"
    assert not where.exists()
    figures(events=len(_events(up, "store_unavailable")), records=len(up.records))
