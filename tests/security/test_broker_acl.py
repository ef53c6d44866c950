"""The shipped mosquitto config and ACL, on a real mosquitto: each role may do its job only.

An observer account (test only, appended to the ACL copy) sees everything, so a publish the
broker refused is one that never arrives; the same publish by the right role does arrive, so
the check can tell the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from tests.security.conftest import secured_broker

ROOT = "streetlight/v1/cabinet-0417"
CLI_ID = "streetlight-cli-t1"
USERS = [
    "cabinet-0417", "art-001", "art-002", "art-radar-east", "streetlight-cli", "homeassistant",
    "observer",
]  # fmt: skip


@contextlib.asynccontextmanager
async def _client(port: int, user: str | None, password: str | None, client_id: str | None = None
                  ) -> AsyncIterator[aiomqtt.Client]:  # fmt: skip
    async with aiomqtt.Client(
        "127.0.0.1", port, username=user, password=password, identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5, timeout=5,
    ) as client:  # fmt: skip
        yield client


async def _arrived(seen: list[tuple[str, bytes]], topic: str, body: bytes, wait_s: float) -> bool:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            while (topic, body) not in seen:
                await asyncio.sleep(0.02)
            return True
    return False


@pytest.mark.timeout(120)
async def test_each_role_may_publish_and_subscribe_only_what_its_job_needs(tmp_path: Path) -> None:
    passwords = {u: secrets.token_urlsafe(12) for u in USERS}
    broker, _ = secured_broker(tmp_path, passwords, acl_extra="\nuser observer\ntopic read #\n")
    broker.start()
    port = broker.port
    seen: list[tuple[str, bytes]] = []
    try:
        # No anonymous access, no wrong password.
        for user, pw in ((None, None), ("art-001", "wrong"), ("nobody", "x")):
            with pytest.raises(aiomqtt.MqttError):
                async with _client(port, user, pw):
                    pass

        async with (
            _client(port, "observer", passwords["observer"]) as observer,
            _client(port, "cabinet-0417", passwords["cabinet-0417"]) as gateway,
            _client(port, "art-001", passwords["art-001"]) as lamp,
            _client(port, "art-radar-east", passwords["art-radar-east"]) as sensor,
            _client(port, "streetlight-cli", passwords["streetlight-cli"], CLI_ID) as cli,
            _client(port, "homeassistant", passwords["homeassistant"]) as ha,
        ):  # fmt: skip
            await observer.subscribe("#", qos=1)

            async def read() -> None:
                async for m in observer.messages:
                    seen.append((m.topic.value, bytes(m.payload)))  # type: ignore[arg-type]

            reader = asyncio.create_task(read())
            allowed = [
                (gateway, f"{ROOT}/lamp/art-001/set"),
                (gateway, f"{ROOT}/telemetry/energy"),
                (gateway, f"{ROOT}/reply/streetlight-cli/t1"),
                (lamp, f"{ROOT}/lamp/art-001/state"),
                (sensor, f"{ROOT}/sensor/art-radar-east/counts"),
                (cli, f"{ROOT}/cmd/status"),
                (gateway, "homeassistant/light/cabinet-0417/cluster-arterial/config"),
                (ha, "homeassistant/status"),
                (ha, f"{ROOT}/ha/cluster/arterial/set"),
            ]
            refused = [
                (lamp, f"{ROOT}/lamp/art-002/state"),  # another lamp's state
                (lamp, f"{ROOT}/lamp/art-001/set"),  # its own setpoint
                (lamp, f"{ROOT}/lamp/art-002/set"),
                (lamp, f"{ROOT}/sensor/art-radar-east/counts"),
                (lamp, f"{ROOT}/cmd/override"),
                (lamp, f"{ROOT}/status"),
                (sensor, f"{ROOT}/sensor/art-radar-west/counts"),  # another sensor
                (sensor, f"{ROOT}/lamp/art-001/set"),
                (sensor, f"{ROOT}/telemetry/energy"),
                (cli, f"{ROOT}/lamp/art-001/set"),  # the CLI goes through the daemon
                (cli, f"{ROOT}/telemetry/energy"),
                (cli, f"{ROOT}/status"),
                (gateway, "streetlight/v1/cabinet-0999/lamp/x-001/set"),  # another cabinet
                (gateway, "homeassistant/light/cabinet-0999/cluster-x/config"),
                (ha, f"{ROOT}/lamp/art-001/set"),  # Home Assistant goes through the daemon
                (ha, f"{ROOT}/cmd/override"),
                (ha, f"{ROOT}/ha/cluster/arterial/state"),  # states are the daemon's
                (ha, "homeassistant/light/cabinet-0417/cluster-arterial/config"),
            ]
            sent = []
            for who, topic in allowed + refused:
                body = secrets.token_hex(8).encode()
                sent.append((topic, body))
                await who.publish(topic, body, qos=1)
            for topic, body in sent[: len(allowed)]:
                assert await _arrived(seen, topic, body, 3.0), topic
            await asyncio.sleep(1.0)
            leaked = [topic for topic, body in sent[len(allowed) :] if (topic, body) in seen]
            assert leaked == []

            # Subscriptions: mosquitto 2.0 grants every SUBACK and checks the read ACL on each
            # message, so a forbidden subscription is one that never delivers.
            await lamp.subscribe(f"{ROOT}/lamp/+/set", qos=1)  # asks for every lamp's
            await cli.subscribe(f"{ROOT}/lamp/+/state", qos=1)
            await sensor.subscribe(f"{ROOT}/cmd/#", qos=1)
            await gateway.publish(f"{ROOT}/lamp/art-002/set", b"for art-002", qos=1)
            await gateway.publish(f"{ROOT}/lamp/art-001/set", b"for art-001", qos=1)
            await lamp.publish(f"{ROOT}/lamp/art-001/state", b"state", qos=1)
            await cli.publish(f"{ROOT}/cmd/ping", b"{}", qos=1)
            heard = {}
            for name, who in (("lamp", lamp), ("cli", cli), ("sensor", sensor)):
                got: list[tuple[str, bytes]] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        async for m in who.messages:
                            got.append((m.topic.value, bytes(m.payload)))  # type: ignore[arg-type]
                heard[name] = got
            assert heard == {
                "lamp": [(f"{ROOT}/lamp/art-001/set", b"for art-001")],  # its own only
                "cli": [],
                "sensor": [],
            }
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        broker.stop()
