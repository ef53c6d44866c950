"""``streetlight run``: the gateway daemon in the foreground (systemd runs it this way)."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edge.cli._console import DEFAULT_CONFIG
from edge.errors import ArgumentError

if TYPE_CHECKING:  # the config's models load with the command
    from edge.config import SiteConfig

#: this module's commands, registered on the root app by ``edge.cli._app``
cli = typer.Typer()


def setup_logging(level: str) -> None:
    """Structured lines on stderr; no timestamps under journald (it stamps them itself)."""
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    logging.basicConfig(
        level=getattr(logging, level),
        format=f"{stamp}%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("streetlight.mqtt.paho").setLevel(logging.WARNING)


def parse_start(value: str | None, site: SiteConfig, caller: str = "--virtual-start"
                ) -> float | None:  # fmt: skip
    """``--virtual-start``: an ISO time in the site's zone (a naive one is local to the site)."""
    if value is None:
        return None

    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ArgumentError(
            "--virtual-start" if "virtual" in caller else "--start",
            f"{value!r} is not an ISO date-time",
            "use e.g. 2026-11-28T21:30 (the site's time zone) or 2026-11-28T20:30Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=site.site.zone)
    return when.timestamp()


@cli.command("run")
def run(
    config: Path = typer.Option(
        DEFAULT_CONFIG, "--config", "-c", help="Site YAML.", envvar="STREETLIGHT_CONFIG"
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Override metrics.port (0 picks a free port)."
    ),
    virtual_start: str | None = typer.Option(
        None, "--virtual-start", hidden=True, help="Run a virtual clock from this local time."
    ),
    speed: float = typer.Option(1.0, "--speed", hidden=True, help="Virtual clock speed."),
) -> None:
    """Run the gateway daemon in the foreground until SIGTERM (SIGHUP reloads the config)."""
    import asyncio

    from edge.clock import Clock
    from edge.config import load_config
    from edge.daemon import Daemon

    site = load_config(config)
    if metrics_port is not None:
        site = site.model_copy(
            update={"metrics": site.metrics.model_copy(update={"port": metrics_port})}
        )
    setup_logging(site.log_level)
    if os.geteuid() == 0:
        logging.getLogger("streetlight.daemon").warning(
            "running as root: the daemon needs no privileges; run it as its own user "
            "(config/systemd/streetlight-edge.service)"
        )
    start = parse_start(virtual_start, site)
    clock = Clock(speed=speed, start=start) if (start is not None or speed != 1.0) else None

    async def main() -> None:
        daemon = Daemon(site, config_path=config, clock=clock)
        await daemon.run()

    asyncio.run(main())
