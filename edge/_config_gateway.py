"""The gateway's own sections of the site config: how it reaches the broker and its serial
lines, where it keeps its state, what it publishes, and how it is secured and observed.
(The street itself, its lamps, sensors and policy, is ``edge.config``.)

``load_gateway(path)`` reads from a site's file only what a command needs to reach its
daemon (``GatewayConfig``), without building the street's models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from edge._config_load import read_yaml, validate_document

__all__ = [
    "ID_PATTERN",
    "GatewayConfig",
    "HomeAssistantConfig",
    "MetricsConfig",
    "MqttConfig",
    "SecurityConfig",
    "SerialPortConfig",
    "SiteLocation",
    "StorageConfig",
    "Strict",
    "TelemetryConfig",
    "TlsConfig",
    "load_gateway",
]

#: An id of a lamp, sensor, cluster, port or profile.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


#: One set of field names for all the models given the same fields (see ``Strict``).
_FIELDS_SET: dict[frozenset[str], set[str]] = {}


class Strict(BaseModel):
    """Unknown keys are errors; a loaded config does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        # Each model keeps the names of the fields its input gave, as a set of its own: at
        # 10,000 sensors ~10 MB of equal sets. Models given the same fields share one. Safe
        # while frozen: pydantic changes the set in place only on assignment, which a frozen
        # model refuses (model_copy copies it first).
        given = self.__pydantic_fields_set__
        object.__setattr__(
            self, "__pydantic_fields_set__", _FIELDS_SET.setdefault(frozenset(given), given)
        )


class TlsConfig(Strict):
    """TLS to the broker; hostname verification stays on unless a test turns it off."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    verify_hostname: bool = True


class MqttConfig(Strict):
    """Broker connection and topic root."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    root: str = "streetlight/v1"
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    max_payload_bytes: int = Field(default=65536, ge=256)
    queue_size: int = Field(default=10000, ge=10)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    # After a reconnect the outbox drains in order at no more than this many records a second.
    drain_per_s: float = Field(default=500.0, gt=0)
    # Behind a bridge (config/mosquitto/bridge.conf): the bridge's notification topic. The
    # outbox drains only while it says "1"; when the bridge goes down or reconnects, records
    # the cabinet broker took in the last upstream_replay_s are sent again (it may have lost
    # them). Longer than the longest silent outage to ride out (docs/scaling.md).
    upstream_state_topic: str | None = None
    upstream_replay_s: float = Field(default=3600.0, gt=0)
    # lamp: each lamp's lease on <root>/lamp/<id>/set; cluster: a step's leases for a
    # cluster's lamps in one message on <root>/cluster/<id>/set (for gateways driving many
    # lamps, whose nodes subscribe to their cluster's topic; docs/mqtt.md)
    lease_topic: Literal["lamp", "cluster"] = "lamp"

    @field_validator("upstream_state_topic")
    @classmethod
    def _plain_topic(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "#+")):
            raise ValueError(f"upstream_state_topic {value!r} must be a topic without wildcards")
        return value

    @field_validator("root")
    @classmethod
    def _clean_root(cls, value: str) -> str:
        if (
            not value
            or any(c in value for c in "#+")
            or value.startswith("/")
            or value.endswith("/")
        ):
            raise ValueError(
                f"topic root {value!r} must be non-empty, without wildcards or edge slashes"
            )
        return value


class SerialPortConfig(Strict):
    """One serial line to sensor/lamp node firmware (device path or pyserial URL)."""

    name: str = Field(pattern=ID_PATTERN)
    url: str
    baudrate: int = Field(default=115200, gt=0)
    heartbeat_s: float = Field(default=5.0, gt=0)


class StorageConfig(Strict):
    """Where state lives (outbox, checkpoints, overrides)."""

    state_dir: Path = Path("/var/lib/streetlight")
    outbox_max_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024)
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


class TelemetryConfig(Strict):
    """How often the outbox gets an energy and a traffic record."""

    energy_s: float = Field(default=60.0, gt=0)
    traffic_s: float = Field(default=60.0, gt=0)


class SecurityConfig(Strict):
    """Command authentication and rate limit (docs/security.md)."""

    # A file (mode 0600) holding the shared HMAC key; when set, every command must be signed.
    command_key_file: Path | None = None
    # A signed command is valid this long after it was signed (and no longer).
    command_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    # Token bucket over every command received (signed or not): rate and burst.
    commands_per_s: float = Field(default=2.0, gt=0)
    command_burst: int = Field(default=10, ge=1)
    # The field-engineer CLI's own broker account (its ACL allows commands, not setpoints);
    # unset, the CLI logs in with mqtt.username like the daemon.
    cli_username: str | None = None
    cli_password_file: Path | None = None


class HomeAssistantConfig(Strict):
    """MQTT discovery for Home Assistant (off by default; docs/operations.md)."""

    enabled: bool = False
    discovery_prefix: str = "homeassistant"
    lamps: bool = False  # every lamp as a light too, besides each cluster
    # A brightness set from Home Assistant is an override for this long (never below the floor).
    override_for_s: float = Field(default=3600.0, gt=0, le=7 * 86400)
    state_s: float = Field(default=60.0, gt=0)  # republish states at least this often


class MetricsConfig(Strict):
    """The Prometheus endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9478, ge=0, le=65535)


class SiteLocation(Strict):
    """Where the cabinet is: the sun times and the local clock come from here."""

    name: str = ""
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = "UTC"
    elevation_m: float = 0.0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Amsterdam)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The local time zone: what wall-clock times in the config (profiles, quiet hours,
        schedules) and the local dates in reports mean."""
        return ZoneInfo(self.timezone)


class GatewayConfig(Strict):
    """Who the gateway is, where, and how to reach it: what the field engineer's commands
    to its daemon need of a site's file. The rest of the file (the street, which the daemon
    checks itself) is not read here; ``SiteConfig`` is this and the street."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_id: str = Field(pattern=ID_PATTERN)
    site: SiteLocation
    mqtt: MqttConfig = MqttConfig()
    serial: list[SerialPortConfig] = Field(default_factory=list)
    security: SecurityConfig = SecurityConfig()

    @property
    def topic_root(self) -> str:
        """``<mqtt.root>/<gateway_id>``: every topic of this gateway starts here."""
        return f"{self.mqtt.root}/{self.gateway_id}"


def load_gateway(path: str | os.PathLike[str]) -> GatewayConfig:
    """The gateway's sections of one site file (and their env overrides); ConfigError naming
    every problem in them."""
    return validate_document(GatewayConfig, read_yaml(Path(path), str(path)), source=str(path))
