"""The private broker the tests start: the same one `streetlight demo` uses."""

from simulator.harness.broker import INSTALL_HINT, MosquittoBroker, find_mosquitto, free_port

__all__ = ["INSTALL_HINT", "MosquittoBroker", "find_mosquitto", "free_port"]
