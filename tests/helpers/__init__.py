"""Test helpers: a private mosquitto, pty pairs, CLI runner."""
