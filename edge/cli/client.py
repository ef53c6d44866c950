"""The CLI's side of ``<root>/cmd/<verb>``: one MQTT v5 request, one reply, or exit code 3.

A broker that refuses the connection (nothing listening, credentials refused, no such host)
ends the command at once; only silence (a host that does not answer, a daemon that does not
reply) is waited out, up to the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

from edge._config_gateway import GatewayConfig
from edge.auth import read_key, sign
from edge.errors import CommandRejectedError, GatewayUnreachableError
from edge.mqtt import Inbound, MqttSession, NotConnectedError, broker_settings, read_password

__all__ = ["call", "request", "tail"]


def _session(site: GatewayConfig, client_id: str, reply_topic: str, handler: Any) -> MqttSession:
    settings = {**broker_settings(site.mqtt), "reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
    sec = site.security
    if sec.cli_username is not None:  # the CLI's own account, not the daemon's
        settings["username"] = sec.cli_username
        settings["password"] = read_password(None, sec.cli_password_file)
    return MqttSession(
        **settings, client_id=client_id, subscriptions=[(reply_topic, 1)], handler=handler,
        log_connect_failures=False,  # the command's own error says why
    )  # fmt: skip


async def request(site: GatewayConfig, verb: str, args: dict[str, Any], timeout_s: float) -> Any:
    key_file = site.security.command_key_file
    key = read_key(key_file) if key_file is not None else None  # before any network
    token = secrets.token_hex(6)
    client_id = f"streetlight-cli-{token}"
    account = site.security.cli_username or site.mqtt.username or "cli"
    reply_topic = f"{site.topic_root}/reply/{account}/{token}"
    correlation = secrets.token_bytes(8)
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_reply(msg: Inbound) -> None:
        if msg.correlation == correlation and not answer.done():
            with contextlib.suppress(ValueError):
                answer.set_result(json.loads(msg.payload))

    session = _session(site, client_id, reply_topic, on_reply)
    runner = asyncio.create_task(session.run(), name="cli-mqtt")
    try:
        async with asyncio.timeout(timeout_s):
            await session.first_connection()  # a refusal ends the wait at once (exit 3)
            topic = f"{site.topic_root}/cmd/{verb}"
            request: dict[str, Any] = {"v": 1, "args": args}
            if key is not None:
                request = sign(key, topic, request, ttl_s=site.security.command_ttl_s)
            body = json.dumps(request).encode()
            await session.publish(
                topic, body, qos=1,
                response_topic=reply_topic, correlation=correlation,
            )  # fmt: skip
            reply = await answer
    except TimeoutError:
        what = (
            f"no answer from gateway {site.gateway_id}"
            if session.is_connected
            else f"cannot reach the broker at {site.mqtt.host}:{site.mqtt.port}"
        )
        raise GatewayUnreachableError(what, timeout_s) from None
    except NotConnectedError:
        raise GatewayUnreachableError(
            f"lost the broker at {site.mqtt.host}:{site.mqtt.port}", timeout_s
        ) from None
    finally:
        await session.disconnect()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    if not reply.get("ok"):
        err = reply.get("error") or {}
        raise CommandRejectedError(
            str(err.get("code", "failed")), str(err.get("message", "refused")),
            list(err.get("suggestions", [])),
        )  # fmt: skip
    return reply.get("result")


def call(site: GatewayConfig, verb: str, args: dict[str, Any] | None = None, *,
         timeout_s: float = 5.0) -> Any:  # fmt: skip
    """Send ``verb`` to the site's gateway and return its result (raises with exit codes)."""
    return asyncio.run(request(site, verb, args or {}, timeout_s))


async def _tail(
    site: GatewayConfig, topics: list[str], *, connect_timeout_s: float, count: int | None,
    duration_s: float | None, emit: Any,
) -> int:  # fmt: skip
    seen = 0
    done = asyncio.Event()

    def on_message(msg: Inbound) -> None:
        nonlocal seen
        if done.is_set():
            return
        emit(msg.topic, msg.payload)
        seen += 1
        if count is not None and seen >= count:
            done.set()

    session = _session(site, f"streetlight-tail-{secrets.token_hex(6)}", topics[0], on_message)
    session.subscriptions = [(t, 1) for t in topics]
    runner = asyncio.create_task(session.run(), name="cli-tail")
    try:
        try:
            async with asyncio.timeout(connect_timeout_s):
                await session.first_connection()
        except TimeoutError:
            raise GatewayUnreachableError(
                f"cannot reach the broker at {site.mqtt.host}:{site.mqtt.port}", connect_timeout_s
            ) from None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration_s):
                await done.wait()
    finally:
        await session.disconnect()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    return seen


def tail(site: GatewayConfig, topics: list[str], *, connect_timeout_s: float = 5.0,
         count: int | None = None, duration_s: float | None = None, emit: Any) -> int:  # fmt: skip
    """Print messages of ``topics`` as they arrive; returns how many were seen."""
    return asyncio.run(_tail(site, topics, connect_timeout_s=connect_timeout_s, count=count,
                             duration_s=duration_s, emit=emit))  # fmt: skip
