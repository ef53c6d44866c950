"""The fault-injection run: every fault in one go, one table (``scripts/faults``).

Each phase runs the real daemon against a private mosquitto with the simulated lamp fleet
(nodes with energy counters) and an upstream consumer, injects its fault, and measures:

- lamps without a valid lease: lamp-seconds (street time) the fleet's nodes spent in
  failsafe after every lamp had first been leased;
- records lost: outbox records committed (or produced) that never reached the broker;
- energy error: the ledger minus what the lamps' counters drew from their first reading (the
  lamps switch on at their first lease, and their counters are frozen before the end, so the
  ledger has their last reading); bounded by one tick's draw at full power;
- forged commands accepted: commands the daemon answered ``ok`` that no key holder signed.

Phases: ``stores`` (both SQLite files damaged between two runs), ``clock`` (a boot in 1970,
NTP setting the clock to now, then +1 h and -1 h), ``kills`` (20 SIGKILLs under telemetry
load), ``hostile`` (an account on the broker sends unsigned, wrong-key, altered, replayed and
far-ahead commands, a retained lease with seq 1e14 and retained counts).

The clock phase runs the daemon in-process on a clock whose wall time the test sets (a
process's own wall clock cannot be set here without root), and its lamps have no counters:
the ledger is the model's there, the case where time that did not pass could be drawn. Its
energy error is the ledger's growth minus the lamps' draw from the first lease to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.auth import sign
from edge.clock import Clock
from edge.config import load_config
from edge.daemon import Daemon
from edge.daemon._publish import LEDGER
from edge.state import StateStore
from simulator.harness.daemonproc import DaemonProcess
from simulator.harness.live import LampFleet
from simulator.harness.upstream import Upstream, missing_seqs
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, SteppedClock, write_site
from tests.reliability.conftest import Figures, outbox_rows

ROOT = "streetlight/v1/cabinet-0417"
SPEED = 10.0
FULL_W = 3340.0  # the example site's lamps at full power
TICK_WH = FULL_W * 1.0 / 3600.0  # one 1 s tick at full power


class Fleet:
    """The lamp fleet with its loop and its MQTT session run apart, so the lamps' counters can
    be frozen (the loop stopped) and read out one last time before the end."""

    def __init__(self, config: Path, port: int, clock: Clock, *, meters: bool = True) -> None:
        self.fleet = LampFleet(load_config(config), host="127.0.0.1", port=port, clock=clock,
                               report_s=5.0, meters=meters)  # fmt: skip
        self.session = asyncio.create_task(self.fleet.session.run())
        self.loop: asyncio.Task[None] | None = None
        self.unleased_from: float | None = None

    async def connect(self) -> None:
        f = self.fleet
        async with asyncio.timeout(10):
            await f.session.connected.wait()
        f._report(f.now())  # counters at 0, retained: the daemon's first reading

    async def power_on(self) -> None:
        """Wait for every lamp's first lease, then run the lamps: they draw from the daemon's
        first reading on (what they drew before a daemon with no state started, no ledger
        can know)."""
        await _until(self.all_leased, 20, "every lamp leased")
        self.loop = asyncio.create_task(self.fleet._loop(0.25))

    def all_leased(self) -> bool:
        f = self.fleet
        done = bool((f.lease_seq >= 0).all()) and not f.in_failsafe().any()
        if done and self.unleased_from is None:
            self.unleased_from = f.nodes.failsafe_lamp_s
        return done

    async def freeze(self) -> float:
        """Stop the lamps (their counters stay), report once more; the Wh they drew."""
        assert self.loop is not None
        self.loop.cancel()
        await asyncio.gather(self.loop, return_exceptions=True)
        f = self.fleet
        f._report(f.now())
        return float(f.meter_wh.sum())

    @property
    def unleased_s(self) -> float:
        start = self.unleased_from if self.unleased_from is not None else 0.0
        return self.fleet.nodes.failsafe_lamp_s - start

    async def close(self) -> None:
        for task in (self.loop, self.session):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self.loop, self.session) if t), return_exceptions=True)
        await self.fleet.session.disconnect()


async def _until(check: Any, timeout_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _ledger(state: Path) -> float:
    store = StateStore(state / "state.db")
    try:
        return float(sum(row[LEDGER] for row in store.get("energy", {}).values()))
    finally:
        store.close()


def _site(tmp: Path, port: int, extra: str = "") -> Path:
    config = write_site(tmp, port=port, extra=extra)
    text = config.read_text().replace("telemetry: {energy_s: 5, traffic_s: 10}",
                                      "telemetry: {energy_s: 1, traffic_s: 1}")  # fmt: skip
    config.write_text(text)
    return config


@contextlib.asynccontextmanager
async def _rig(broker: MosquittoBroker, tmp: Path, extra: str = "") -> AsyncIterator[
    tuple[DaemonProcess, Fleet, Upstream]
]:  # fmt: skip
    config = _site(tmp, broker.port, extra)
    daemon = DaemonProcess(
        config, log_path=tmp / "daemon.log", virtual_start="2026-11-28T23:30", speed=SPEED
    )
    fleet = Fleet(config, broker.port, Clock(speed=SPEED, start=NIGHT))
    try:
        async with Upstream(broker.host, broker.port, ROOT, client_id=f"up-{tmp.name}") as up:
            await fleet.connect()
            yield daemon, fleet, up
    finally:
        await daemon.stop()
        await fleet.close()


async def _start(daemon: DaemonProcess, fleet: Fleet) -> None:
    await daemon.start()
    await fleet.power_on()


async def _finish(daemon: DaemonProcess, fleet: Fleet, state: Path) -> tuple[float, float]:
    """Freeze the lamps, let the daemon take their last reading, stop it; (drawn, ledger)."""
    drawn = await fleet.freeze()
    await asyncio.sleep(1.5)  # 15 s of street time: the reading is in, a tick or more later
    assert await daemon.stop() == 0, daemon.log_text()[-2000:]
    return drawn, _ledger(state)


def _lost(up: Upstream, committed: dict[str, int]) -> int:
    return sum(len(v) for v in missing_seqs(up.boots(), committed).values())


async def _phase_stores(broker: MosquittoBroker, tmp: Path) -> dict[str, Any]:
    state = tmp / "state"
    async with _rig(broker, tmp) as (daemon, fleet, up):
        await _start(daemon, fleet)
        await asyncio.sleep(2.0)
        assert await daemon.stop() == 0
        committed, _ = outbox_rows(state)
        (state / "state.db").write_bytes(b"\x5a" * 8192)  # a power cut on an SD card
        (state / "outbox.db").write_bytes((state / "outbox.db").read_bytes()[:100])
        await daemon.start()
        await asyncio.sleep(3.0)
        assert not fleet.fleet.in_failsafe().any()
        drawn, ledger = await _finish(daemon, fleet, state)
        await asyncio.sleep(0.5)
        lost = _lost(up, committed)
    moved = [p.name for p in state.iterdir() if ".corrupt-" in p.name]
    assert len(moved) == 2, moved
    return _row("corrupt state.db and outbox.db", fleet, lost, ledger - drawn, 0)


async def _phase_clock(broker: MosquittoBroker, tmp: Path) -> dict[str, Any]:
    config = _site(tmp, broker.port)
    clock = SteppedClock(start=0.0, speed=SPEED)  # a Pi without an RTC: 1970-01-01, at night
    daemon = Daemon(load_config(config), config_path=config, clock=clock)
    fleet = Fleet(config, broker.port, clock, meters=False)
    grown: list[float] = []
    try:
        async with Upstream(broker.host, broker.port, ROOT, client_id=f"up-{tmp.name}") as up:
            await fleet.connect()
            run = asyncio.create_task(daemon.run())
            await fleet.power_on()
            ledger0 = float(daemon.energy.wh[:, LEDGER].sum())
            drawn0 = float(fleet.fleet.meter_wh.sum())
            for step in ("NTP", 3600.0, -3600.0):
                records = _energy_records(up)
                clock.offset += NIGHT - clock.time() if step == "NTP" else step
                await _until(lambda r=records: _energy_records(up) >= r + 3, 10,
                             f"telemetry after the step {step}")  # fmt: skip
            daemon.stop()  # the lamps' draw and the model's end together
            drawn = await fleet.freeze() - drawn0
            await run
            grown.append(float(daemon.energy.wh[:, LEDGER].sum()) - ledger0)
            await asyncio.sleep(0.5)
            lost = _lost(up, {})
    finally:
        await fleet.close()
    assert daemon.metrics.clock_steps._value.get() >= 3
    return _row("clock: 1970 boot, NTP, +1 h, -1 h", fleet, lost, grown[0] - drawn, 0)


def _energy_records(up: Upstream) -> int:
    return sum(1 for r in up.records.values() if "clusters" in r and "t" in r)


async def _phase_kills(broker: MosquittoBroker, tmp: Path, kills: int) -> dict[str, Any]:
    state = tmp / "state"
    rng = random.Random(11)
    committed: dict[str, int] = {}
    async with _rig(broker, tmp) as (daemon, fleet, up):
        for k in range(kills):
            if k == 0:
                await _start(daemon, fleet)
            else:
                await daemon.start()
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await daemon.kill()
            top, _ = outbox_rows(state)
            for boot, seq in top.items():
                committed[boot] = max(committed.get(boot, -1), seq)
            await asyncio.sleep(0.5)  # systemd's RestartSec
        await daemon.start()
        await _until(lambda: _lost(up, committed) == 0, 30, "the outbox delivered")
        drawn, ledger = await _finish(daemon, fleet, state)
        await asyncio.sleep(0.5)
        lost = _lost(up, committed)
    return _row(f"{kills} SIGKILLs under load", fleet, lost, ledger - drawn, 0)


async def _phase_hostile(broker: MosquittoBroker, tmp: Path) -> dict[str, Any]:
    state = tmp / "state"
    key = secrets.token_bytes(32)
    key_file = tmp / "command.key"
    key_file.write_text(key.hex())
    key_file.chmod(0o600)
    extra = f"security:\n  command_key_file: {key_file}\n"
    accepted = {"operator": 0, "hostile": 0}
    async with _rig(broker, tmp, extra=extra) as (daemon, fleet, up):
        await _start(daemon, fleet)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="hostile-node",
                                  protocol=aiomqtt.ProtocolVersion.V5) as hostile:  # fmt: skip
            replies: dict[bytes, bool] = {}
            await hostile.subscribe(f"{ROOT}/reply/#", qos=1)

            async def read() -> None:
                async for m in hostile.messages:
                    body = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                    cd = m.properties.CorrelationData if m.properties else b""  # type: ignore[attr-defined]
                    replies[cd] = bool(body.get("ok"))

            reader = asyncio.create_task(read())

            async def command(tag: bytes, body: dict[str, Any], verb: str = "override") -> None:
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.ResponseTopic = f"{ROOT}/reply/hostile/x"
                props.CorrelationData = tag
                await hostile.publish(f"{ROOT}/cmd/{verb}", json.dumps(body).encode(), qos=1,
                                      properties=props)  # fmt: skip

            topic = f"{ROOT}/cmd/override"
            args = {"target": "residential", "level": 0.9, "for_s": 600}
            legit = sign(key, topic, {"v": 1, "args": args})
            forged = {
                b"unsigned": {"v": 1, "args": args},
                b"wrong-key": sign(secrets.token_bytes(32), topic, {"v": 1, "args": args}),
                b"altered": {**legit, "args": {**args, "level": 1.0}},
                b"far-ahead": sign(key, topic, {"v": 1, "args": args}, ctr=10**23),
            }
            await command(b"operator", legit)  # the key holder's command: accepted
            await _until(lambda: b"operator" in replies, 10, "the operator's reply")
            accepted["operator"] = int(replies[b"operator"])
            for tag, body in forged.items():
                await command(tag, body)
                await asyncio.sleep(0.6)  # inside the rate limit: refusals are for the forgery
            await command(b"replay", legit)  # the operator's command, captured and sent again
            await _until(lambda: len(replies) == len(forged) + 2, 15, "every reply")
            accepted["hostile"] = sum(ok for tag, ok in replies.items() if tag != b"operator")
            # A retained lease that would outrank every later one, and retained counts.
            lease = {"v": 1, "level": 0.0, "valid_for_s": 86400, "seq": 10**14}
            await hostile.publish(f"{ROOT}/lamp/res-001/set", json.dumps(lease).encode(),
                                  qos=1, retain=True)  # fmt: skip
            counts = {"v": 1, "interval_s": 10, "forward": {"car": 500}}
            await hostile.publish(f"{ROOT}/sensor/res-radar-west/counts",
                                  json.dumps(counts).encode(), qos=1, retain=True)  # fmt: skip
            await asyncio.sleep(2.0)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        drawn, ledger = await _finish(daemon, fleet, state)
        await asyncio.sleep(0.5)
        lost = _lost(up, {})
    assert accepted["operator"] == 1  # the check can tell an accepted command from a refused one
    j = fleet.fleet.index["res-001"]
    assert fleet.fleet.lease_seq[j] < 10**14  # the injected lease did not take the lamp
    return _row("hostile account", fleet, lost, ledger - drawn, accepted["hostile"])


def _row(phase: str, fleet: Fleet, lost: int, error_wh: float, forged: int) -> dict[str, Any]:
    return {
        "phase": phase,
        "lamps_unleased_s": round(fleet.unleased_s, 1),
        "records_lost": lost,
        "energy_error_wh": round(error_wh, 3),
        "forged_accepted": forged,
    }


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_fault_injection_run(tmp_path: Path, figures: Figures) -> None:
    rows = []
    for name, phase in (
        ("stores", _phase_stores),
        ("clock", _phase_clock),
        ("kills", lambda b, p: _phase_kills(b, p, 20)),
        ("hostile", _phase_hostile),
    ):
        sub = tmp_path / name
        sub.mkdir()
        # a broker of the phase's own: no retained lamp state or session from another phase
        broker = MosquittoBroker(sub / "mosquitto")
        broker.start()
        try:
            rows.append(await phase(broker, sub))
        finally:
            broker.stop()
    for row in rows:
        figures(**row, energy_bound_wh=round(TICK_WH, 3))
    print()
    print(f"{'phase':34} {'unleased s':>10} {'lost':>5} {'energy error Wh':>16} {'forged':>6}")
    for r in rows:
        print(f"{r['phase']:34} {r['lamps_unleased_s']:>10} {r['records_lost']:>5} "
              f"{r['energy_error_wh']:>16} {r['forged_accepted']:>6}")  # fmt: skip
    print(f"(energy error bound: one tick at full power, {TICK_WH:.3f} Wh)")
    for r in rows:
        assert r["lamps_unleased_s"] == 0, r
        assert r["records_lost"] == 0, r
        assert r["forged_accepted"] == 0, r
        assert abs(r["energy_error_wh"]) <= TICK_WH, r
