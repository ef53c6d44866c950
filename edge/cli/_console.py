"""The CLI's consoles (results on stdout, problems on stderr) and the config file it reads
unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

__all__ = ["DEFAULT_CONFIG", "console", "err_console"]

#: where a gateway's site config lives (``--config`` or ``STREETLIGHT_CONFIG`` for another)
DEFAULT_CONFIG = Path("/etc/streetlight/config.yaml")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
