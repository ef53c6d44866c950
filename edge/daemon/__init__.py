"""The gateway daemon (``streetlight run``): the control core wired to MQTT, serial and disk."""

from edge.daemon._daemon import Daemon, DaemonStats
from edge.daemon._sdnotify import SystemdNotifier

__all__ = ["Daemon", "DaemonStats", "SystemdNotifier"]
