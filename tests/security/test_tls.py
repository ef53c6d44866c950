"""TLS to the broker: the daemon's own connection code against mosquitto's TLS listener, with a
throwaway CA made at test time (openssl). Hostname verification is on."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path

import pytest

from edge.config import MqttConfig, TlsConfig
from edge.errors import ConfigError
from edge.mqtt import MqttSession, broker_settings, tls_context
from tests.security.conftest import Certs, make_certs, secured_broker

USER = "cabinet-0417"
ROOT = f"streetlight/v1/{USER}"


async def _connects(settings: dict[str, object], wait_s: float = 4.0) -> tuple[bool, str]:
    session = MqttSession(**settings, client_id=f"tls-{secrets.token_hex(4)}")  # type: ignore[arg-type]
    task = asyncio.create_task(session.run())
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await session.connected.wait()
                await session.publish("streetlight/v1/cabinet-0417/status", b"{}", qos=1)
        return session.is_connected, session.stats.last_error
    finally:
        await session.disconnect()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _mqtt(
    host: str, port: int, password: str, certs: Certs | None, **tls: object
) -> dict[str, object]:
    tls_cfg = None
    if certs is not None:
        tls_cfg = TlsConfig(
            ca_file=certs.ca, cert_file=certs.client_cert, key_file=certs.client_key, **tls
        )  # type: ignore[arg-type]
    cfg = MqttConfig(host=host, port=port, username=USER, password=password, tls=tls_cfg,
                     reconnect_min_s=0.2, reconnect_max_s=0.5)  # fmt: skip
    return {**broker_settings(cfg), "timeout_s": 2.0}


@pytest.mark.timeout(120)
async def test_tls_connects_with_verified_hostname_and_plain_or_wrong_names_fail(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path / "pki", server_name="localhost")
    password = secrets.token_urlsafe(12)
    broker, tls_port = secured_broker(tmp_path / "mq", {USER: password}, certs=certs)
    assert tls_port is not None
    broker.start()
    try:
        ok, err = await _connects(_mqtt("localhost", tls_port, password, certs))
        assert ok, err
        # Plain MQTT to the TLS listener: no connection.
        ok, _ = await _connects(_mqtt("127.0.0.1", tls_port, password, None))
        assert not ok
        # A client certificate is required on the open listener.
        no_client = {**_mqtt("localhost", tls_port, password, certs)}
        no_client["tls"] = tls_context(
            ca_file=certs.ca, cert_file=None, key_file=None, verify_hostname=True
        )
        ok, _ = await _connects(no_client)
        assert not ok
        # The right CA but the wrong password: refused.
        ok, _ = await _connects(_mqtt("localhost", tls_port, "wrong", certs))
        assert not ok
    finally:
        broker.stop()

    # A server whose certificate names another host: hostname verification refuses it.
    other = make_certs(tmp_path / "pki2", server_name="wrong.example")
    broker, tls_port = secured_broker(tmp_path / "mq2", {USER: password}, certs=other)
    assert tls_port is not None
    broker.start()
    try:
        ok, err = await _connects(_mqtt("localhost", tls_port, password, other))
        assert not ok
        assert "certificate" in err.lower() or "hostname" in err.lower(), err
    finally:
        broker.stop()


def test_unreadable_tls_files_are_a_config_error_naming_them(tmp_path: Path) -> None:
    cfg = MqttConfig(tls=TlsConfig(ca_file=tmp_path / "missing-ca.crt"))
    with pytest.raises(ConfigError, match=r"missing-ca\.crt"):
        broker_settings(cfg)


@pytest.mark.timeout(120)
async def test_a_node_account_cannot_take_over_the_daemons_broker_session(tmp_path: Path) -> None:
    """MQTT lets a second connection with a client id in use disconnect the first. On the open
    listener the shipped config makes a client's username its client id, so a lamp node's
    stolen account asking for the daemon's id gets its own; the daemon stays connected. The
    CLI's replies still reach it there (the ACL grants them by username)."""
    import aiomqtt

    certs = make_certs(tmp_path / "pki", server_name="localhost")
    users = {u: secrets.token_urlsafe(12) for u in (USER, "art-001", "streetlight-cli")}
    broker, tls_port = secured_broker(tmp_path / "mq", users, certs=certs)
    assert tls_port is not None
    broker.start()
    daemon_id = f"streetlight-{USER}"
    cfg = MqttConfig(host="127.0.0.1", port=broker.port, username=USER, password=users[USER],
                     reconnect_min_s=0.2, reconnect_max_s=0.5)  # fmt: skip
    daemon = MqttSession(**broker_settings(cfg), client_id=daemon_id)
    task = asyncio.create_task(daemon.run())
    tls = tls_context(ca_file=certs.ca, cert_file=certs.client_cert, key_file=certs.client_key,
                      verify_hostname=True)  # fmt: skip
    try:
        async with asyncio.timeout(10):
            await daemon.connected.wait()
        async with aiomqtt.Client(
            "localhost", tls_port, identifier=daemon_id, username="art-001",
            password=users["art-001"], tls_context=tls, protocol=aiomqtt.ProtocolVersion.V5,
            timeout=5,
        ) as attacker:  # fmt: skip
            await attacker.publish(f"{ROOT}/lamp/art-001/state", b"{}", qos=1)  # it is on
            await asyncio.sleep(1.0)
            assert daemon.is_connected
            assert (daemon.stats.connects, daemon.stats.disconnects) == (1, 0)

            # The CLI on the open listener: its client id is its username, its replies
            # are under reply/<username>/ and reach it.
            async with aiomqtt.Client(
                "localhost", tls_port, identifier="streetlight-cli-ab12",
                username="streetlight-cli", password=users["streetlight-cli"], tls_context=tls,
                protocol=aiomqtt.ProtocolVersion.V5, timeout=5,
            ) as cli:  # fmt: skip
                await cli.subscribe(f"{ROOT}/reply/#", qos=1)
                await daemon.publish(f"{ROOT}/reply/art-001/x", b"not yours", qos=1)
                await daemon.publish(f"{ROOT}/reply/streetlight-cli/ab12", b"yours", qos=1)
                got = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.5):
                        async for m in cli.messages:
                            got.append((m.topic.value, bytes(m.payload)))  # type: ignore[arg-type]
                assert got == [(f"{ROOT}/reply/streetlight-cli/ab12", b"yours")]
        assert (daemon.stats.connects, daemon.stats.disconnects) == (1, 0)
    finally:
        await daemon.disconnect()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        broker.stop()
