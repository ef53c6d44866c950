"""`streetlight run` at start: the metrics endpoint's address, and the leases of the first ticks
(before the broker is connected), through the real entry point and a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

from simulator.harness.daemonproc import DaemonProcess, Scrape, metric, scrape_metrics
from tests.conftest import run_cli
from tests.helpers.broker import MosquittoBroker, free_port
from tests.helpers.gateway import write_site


async def _run(config: Path, *args: str) -> tuple[int, str]:
    """The daemon as systemd starts it, until it exits by itself (30 s at most)."""
    result = await asyncio.to_thread(run_cli, "run", "--config", str(config), *args, timeout=30)
    return result.returncode, result.stderr


async def test_a_metrics_port_in_use_is_named_with_its_setting_and_exits_4(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = write_site(tmp_path, port=broker.port)
    with socket.socket() as holder:  # another program listening on the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        rc, err = await _run(config, "--metrics-port", str(port))
        assert rc == 4, err
        assert f"cannot serve metrics on 127.0.0.1:{port}: the port is in use" in err
        assert "metrics.port" in err
        assert "--metrics-port" in err
        assert "Traceback" not in err
        # The same from the config file (no flag).
        config.write_text(config.read_text().replace("port: 0", f"port: {port}"))
        rc, err = await _run(config)
        assert rc == 4, err
        assert f"127.0.0.1:{port}" in err
        assert "Traceback" not in err


async def test_a_metrics_host_not_of_this_machine_is_named_and_exits_2(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = write_site(tmp_path, port=broker.port)
    text = config.read_text()
    assert "host: 127.0.0.1\n  port: 0" in text
    config.write_text(text.replace("host: 127.0.0.1\n  port: 0", "host: 192.0.2.1\n  port: 0"))
    rc, err = await _run(config)
    assert rc == 2, err
    assert "cannot serve metrics on 192.0.2.1:0" in err
    assert "set metrics.host to an address of this machine" in err
    assert "Traceback" not in err


async def _scrape_until(port: int, check: Callable[[Scrape], bool], what: str) -> Scrape:
    """Scrape the daemon's metrics until ``check`` holds (30 real seconds at most)."""
    try:
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError):  # the endpoint is not up yet
                    scrape = await asyncio.to_thread(scrape_metrics, port)
                    if check(scrape):
                        return scrape
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"not within 30 s: {what}") from None


async def test_leases_due_before_the_broker_is_up_wait_for_it_and_are_no_failures(
    private_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """The first ticks run before the broker connection (here: before the broker itself): their
    leases were never offered, so they wait (a gauge), and none is counted as a failure."""
    private_broker.stop()
    config = write_site(tmp_path, port=private_broker.port)
    port = free_port()
    config.write_text(config.read_text().replace("port: 0", f"port: {port}"))
    daemon = DaemonProcess(
        config, log_path=tmp_path / "daemon.log", virtual_start="2026-11-28T23:30", speed=10
    )
    await daemon.start()
    try:

        def waiting(s: Scrape) -> float:
            return metric(s, "streetlight_leases_waiting", via="broker")

        before = await _scrape_until(
            port, lambda s: metric(s, "streetlight_lamps") > 0 and waiting(s) > 0, "a tick"
        )
        lamps = metric(before, "streetlight_lamps")
        assert waiting(before) == lamps  # every lamp's first lease, waiting
        assert metric(before, "streetlight_leases_waiting", via="serial") == 0
        assert metric(before, "streetlight_leases_sent_total") == 0
        assert metric(before, "streetlight_lease_send_failures_total") == 0

        private_broker.start()
        after = await _scrape_until(
            port,
            lambda s: (
                metric(s, "streetlight_mqtt_connected") == 1
                and waiting(s) == 0
                and metric(s, "streetlight_leases_sent_total") >= lamps
            ),
            "every lease sent once the broker is up",
        )
        assert metric(after, "streetlight_lease_send_failures_total") == 0
    finally:
        assert await daemon.stop() == 0, (tmp_path / "daemon.log").read_text()[-2000:]
