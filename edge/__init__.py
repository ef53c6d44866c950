"""streetlight-edge: the gateway daemon, control core, MQTT, outbox, metrics and CLI."""

from edge._version import __version__

__all__ = ["__version__"]
