"""The gateway daemon (``streetlight run``): the control core wired to MQTT, serial and disk."""

from edge.daemon._daemon import Daemon
from edge.daemon._sdnotify import SystemdNotifier
from edge.daemon._seams import DaemonStats

__all__ = ["Daemon", "DaemonStats", "SystemdNotifier"]
