"""The CLI's way to the daemon's broker, through the real entry point: a connection refused (no
listener, a broker that refuses the client) ends the command at once with exit 3; silence (a
listener that never answers) is waited out up to ``--timeout``."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.helpers.broker import MosquittoBroker, free_port
from tests.helpers.gateway import write_site

#: far beyond any start-up of the CLI on a loaded machine: a refusal must not wait it out
LONG_TIMEOUT_S = 30.0


async def _cli(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = await asyncio.to_thread(run_cli, *args, timeout=2 * LONG_TIMEOUT_S)
    return result.returncode, result.stderr, time.monotonic() - started


@pytest.mark.parametrize("verb", [("status",), ("ping",), ("tail",)])
async def test_a_refused_connection_exits_3_at_once_naming_the_broker(
    tmp_path: Path, verb: tuple[str, ...]
) -> None:
    port = free_port()  # nothing listens there
    config = str(write_site(tmp_path, port=port))
    rc, err, took = await _cli(*verb, "-c", config, "--timeout", f"{LONG_TIMEOUT_S:g}")
    assert rc == 3, err
    assert f"cannot reach the broker at 127.0.0.1:{port}: connection refused" in err
    assert "retrying" not in err  # one line: the error, not the session's log
    assert took < LONG_TIMEOUT_S / 2


async def test_a_broker_refusing_the_client_exits_3_at_once_saying_so(tmp_path: Path) -> None:
    port = free_port()
    broker = MosquittoBroker(
        tmp_path / "mq", port=port, conf=f"listener {port} 127.0.0.1\nallow_anonymous false\n"
    )
    broker.start()
    try:
        config = str(write_site(tmp_path, port=port))
        rc, err, took = await _cli("status", "-c", config, "--timeout", f"{LONG_TIMEOUT_S:g}")
    finally:
        broker.stop()
    assert rc == 3, err
    assert f"cannot reach the broker at 127.0.0.1:{port}: the broker refused the client" in err
    assert "refused the client: not authori" in err.lower()
    assert took < LONG_TIMEOUT_S / 2


async def test_silence_is_waited_out_up_to_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never says a word of MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        config = str(write_site(tmp_path, port=port))
        rc, err, took = await _cli("status", "-c", config, "--timeout", "2")
    assert rc == 3, err
    assert f"cannot reach the broker at 127.0.0.1:{port} within 2 s" in err
    assert took >= 2.0  # it waited for an answer


async def test_a_typo_in_the_street_does_not_keep_a_command_from_the_daemon(
    tmp_path: Path,
) -> None:
    """The daemon-facing commands read the gateway's sections only: a half-edited street in
    the engineer's copy of the file still lets them ask; a typo in those sections is named."""
    port = free_port()  # nothing listens there: the command gets as far as the broker
    config = write_site(tmp_path, port=port)
    config.write_text(config.read_text().replace("length_m:", "lenght_m:", 1))
    rc, err, _ = await _cli("ping", "-c", str(config), "--timeout", "5")
    assert rc == 3, err
    assert f"cannot reach the broker at 127.0.0.1:{port}" in err
    checked = await asyncio.to_thread(run_cli, "config", "validate", str(config))
    assert checked.returncode == 2
    assert "lenght_m" in checked.stderr  # the whole file's check still finds it

    config.write_text(config.read_text().replace(f"  port: {port}", f"  prot: {port}", 1))
    rc, err, _ = await _cli("ping", "-c", str(config), "--timeout", "5")
    assert rc == 2, err
    assert "mqtt.prot" in err
    assert "Traceback" not in err
