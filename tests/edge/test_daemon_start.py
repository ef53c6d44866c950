"""`streetlight run` at start: the metrics endpoint's address, and the leases of the first ticks
(before the broker is connected), through the real entry point and a real broker."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.conftest import run_cli
from tests.helpers.broker import MosquittoBroker
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
