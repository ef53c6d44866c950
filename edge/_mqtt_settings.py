"""How to reach the broker, from a config's ``mqtt`` section: TLS context, credentials, the
``MqttSession`` keyword arguments (the daemon and the CLI connect the same way).

No aiomqtt here: ``edge.mqtt`` is the one module that touches it, and re-exports these.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, ConfigIssue

__all__ = ["broker_settings", "read_password", "tls_context"]


def tls_context(
    *, ca_file: Path | None, cert_file: Path | None, key_file: Path | None, verify_hostname: bool
) -> ssl.SSLContext:
    """A client TLS context (TLS 1.2+): the CA (or the system store), an optional client
    certificate. Unreadable or invalid files are a ConfigError naming them."""
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if cert_file is not None:
            ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(str(f) for f in (ca_file, cert_file, key_file) if f is not None)
        issue = ConfigIssue("mqtt.tls", f"cannot load {files}: {exc}")
        raise ConfigError("mqtt.tls", [issue]) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = verify_hostname
    return ctx


def broker_settings(mqtt: Any) -> dict[str, Any]:
    """``MqttSession`` keyword arguments for a config's ``mqtt`` section: broker, credentials,
    TLS, keepalive, queue and backoff (the daemon and the CLI connect the same way)."""
    tls = None
    if mqtt.tls is not None:
        tls = tls_context(
            ca_file=mqtt.tls.ca_file,
            cert_file=mqtt.tls.cert_file,
            key_file=mqtt.tls.key_file,
            verify_hostname=mqtt.tls.verify_hostname,
        )
    return {
        "host": mqtt.host,
        "port": mqtt.port,
        "username": mqtt.username,
        "password": read_password(mqtt.password, mqtt.password_file),
        "tls": tls,
        "keepalive_s": mqtt.keepalive_s,
        "queue_size": mqtt.queue_size,
        "reconnect_min_s": mqtt.reconnect_min_s,
        "reconnect_max_s": mqtt.reconnect_max_s,
    }


def read_password(password: Any, password_file: Path | None) -> str | None:
    """The broker password from config (a SecretStr) or from a file (its first line)."""
    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(
                "mqtt.password_file", [ConfigIssue("mqtt.password_file", f"cannot read: {exc}")]
            ) from None
        return lines[0] if lines else ""
    if password is None:
        return None
    return str(password.get_secret_value())
