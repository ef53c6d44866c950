"""End to end on a secured broker: the daemon (a child process) with a broker password and a
command key, the real CLI with its own account. Signed commands work, unsigned ones are refused
with the reason, and no secret appears in any output: daemon log (DEBUG), `config show`, the
metrics page, CLI output and errors, events."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import urllib.request
from pathlib import Path

import aiomqtt
import pytest

from simulator.harness.broker import free_port
from simulator.harness.daemonproc import DaemonProcess
from simulator.harness.upstream import Upstream
from tests.conftest import run_cli
from tests.helpers.gateway import write_site
from tests.security.conftest import secured_broker

ROOT = "streetlight/v1/cabinet-0417"


async def _cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(run_cli, *args, timeout=30)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.timeout(180)
async def test_signed_commands_work_unsigned_are_refused_and_no_secret_leaks(
    tmp_path: Path,
) -> None:
    pw = {
        u: "pw-" + secrets.token_urlsafe(16)
        for u in ("cabinet-0417", "streetlight-cli", "observer")
    }
    broker, _ = secured_broker(tmp_path / "mq", pw, acl_extra="\nuser observer\ntopic read #\n")
    broker.start()
    key = secrets.token_hex(32)
    key_file = tmp_path / "command.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    cli_pw = tmp_path / "cli.pw"
    cli_pw.write_text(pw["streetlight-cli"] + "\n")
    cli_pw.chmod(0o600)
    metrics_port = free_port()
    config = write_site(tmp_path, port=broker.port)
    text = config.read_text().replace(
        "  reconnect_max_s: 5",
        f"  reconnect_max_s: 5\n  username: cabinet-0417\n  password: {pw['cabinet-0417']}",
    )
    text = re.sub(r"(metrics:\n(?:  .*\n)*?  port: )\d+", rf"\g<1>{metrics_port}", text)
    security = (
        f"security:\n  command_key_file: {key_file}\n  cli_username: streetlight-cli\n"
        f"  cli_password_file: {cli_pw}\n"
    )
    config.write_text(text + security + "log_level: DEBUG\n")
    unsigned = tmp_path / "unsigned.yaml"
    unsigned.write_text(text + security.replace(f"  command_key_file: {key_file}\n", ""))
    wrong_pw = tmp_path / "wrong.pw"
    wrong_pw.write_text("not-the-password\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text + security.replace(str(cli_pw), str(wrong_pw)))
    c = str(config)

    daemon = DaemonProcess(config, log_path=tmp_path / "daemon.log",
                           virtual_start="2026-11-28T23:30", speed=10)  # fmt: skip
    outputs: list[str] = []
    try:
        async with _observer(broker.port, pw["observer"]) as up:
            await daemon.start()
            for _ in range(100):
                rc, out, err = await _cli("ping", "-c", c, "--timeout", "2")
                if rc == 0:
                    break
            assert rc == 0, err
            rc, out, err = await _cli("override", "residential", "--level", "0.9", "--for", "1h",
                                      "--reason", "signed", "-c", c, "--json")  # fmt: skip
            assert rc == 0, err
            outputs += [out, err]
            rc, out, err = await _cli("overrides", "-c", c, "--json")
            assert "signed" in out
            outputs += [out, err]
            # The same commands without the key: refused, with the reason, exit 1.
            rc, out, err = await _cli("override", "all", "--level", "1", "--for", "1h",
                                      "-c", str(unsigned))  # fmt: skip
            assert rc == 1
            assert "must be signed" in err
            outputs += [out, err]
            rc, out, err = await _cli("clear", "all", "-c", str(unsigned))
            assert rc == 1
            outputs += [out, err]
            # A wrong CLI password: the broker refuses it (exit 3), and says nothing secret.
            rc, out, err = await _cli("status", "-c", str(wrong), "--timeout", "2")
            assert rc == 3
            outputs += [out, err]
            for args in (["config", "show", c], ["config", "show", c, "--json"]):
                rc, out, err = await _cli(*args)
                assert rc == 0, err
                assert "**********" in out
                outputs += [out, err]
            # Unsigned junk does not use up the signed commands' rate (it used to), and a
            # signed counter from the far future is refused without locking anyone out.
            code = await _junk_then_far_counter(broker.port, pw["streetlight-cli"], key)
            assert code == "ahead"
            rc, out, err = await _cli("ping", "-c", c, "--timeout", "5")
            assert rc == 0, err
            page = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
            assert 'result="unauthenticated"' in page  # the refusals are counted by reason
            outputs.append(page)
            await asyncio.sleep(1.0)
            events = [r for r in up.records.values() if r.get("kind") == "command_refused"]
            assert events, "refused commands are reported as events"
            outputs.append(json.dumps(list(up.records.values())))
        assert await daemon.stop() == 0
    finally:
        await daemon.kill()
        broker.stop()
    log = daemon.log_text()
    assert "connected as" in log  # the log is real, and at DEBUG
    outputs.append(log)
    outputs.append(await asyncio.to_thread(broker.log.read_text, errors="replace"))
    secrets_ = [*pw.values(), key]
    leaks = [(s[:6] + "...", i) for s in secrets_ for i, text in enumerate(outputs) if s in text]
    assert leaks == []


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def _observer(port: int, password: str) -> Upstream:
    """The upstream recorder, logged in as the test-only observer."""
    return Upstream("127.0.0.1", port, ROOT, client_id=f"obs-{os.getpid()}",
                    username="observer", password=password)  # fmt: skip


async def _junk_then_far_counter(port: int, password: str, key_hex: str) -> str:
    """As the CLI account through the shipped ACL: 200 unsigned pings, then a validly signed
    ping whose counter is 10^23; the reply's error code."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.auth import sign

    reply_topic = f"{ROOT}/reply/streetlight-cli/probe-1"
    async with aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier="probe-1",
        username="streetlight-cli",
        password=password,
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        await client.subscribe(reply_topic, qos=1)
        for _ in range(200):
            await client.publish(f"{ROOT}/cmd/ping", b'{"v": 1}', qos=0)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = reply_topic
        props.CorrelationData = b"far"
        topic = f"{ROOT}/cmd/ping"
        request = sign(bytes.fromhex(key_hex), topic, {"v": 1, "args": {}}, ctr=10**23)
        await client.publish(topic, json.dumps(request).encode(), qos=1, properties=props)
        async with asyncio.timeout(10):
            async for m in client.messages:
                body = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                return str(body["error"]["code"])
    return ""
