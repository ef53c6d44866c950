"""The gateway commands' arguments: durations, times shown with their zone, and shell
completion of only the values a command takes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

import typer

from edge.cli._console import DEFAULT_CONFIG
from edge.errors import ArgumentError

if TYPE_CHECKING:
    from edge.config import SiteConfig

__all__ = [
    "complete_clusters",
    "complete_lamps",
    "complete_targets",
    "format_duration",
    "format_time",
    "parse_duration",
]

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_DURATIONS = "a duration such as 1d, 2h30m, 90m, 45s or plain seconds"


def parse_duration(text: str, *, argument: str = "--for") -> float:
    """``1d``, ``2h30m``, ``90m``, ``45s``, ``1d12h`` or plain seconds; more than zero."""
    compact = text.strip().replace(" ", "")
    try:
        seconds = float(compact)
    except ValueError:
        parts = _DURATION.findall(compact)
        units = [u for _, u in parts]
        if (
            not parts
            or "".join(n + u for n, u in parts) != compact
            or len(set(units)) != len(units)
        ):
            raise ArgumentError(argument, f"{text!r} is not {_DURATIONS}") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise ArgumentError(argument, f"{text!r} is no time at all", f"use {_DURATIONS}")
    return seconds


def format_duration(seconds: float) -> str:
    """``2h30m``, ``1d``, ``45s``: the way ``--for`` takes it."""
    left = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, left = divmod(left, size)
        if n:
            out += f"{n}{unit}"
    return out or "0s"


def format_time(t: float, zone: tzinfo | None) -> str:
    """A moment as the site's wall clock with its zone (``2026-11-29 00:30:20 CET``), or in
    UTC with ``Z`` when the site has no zone: never a bare local time."""
    when = datetime.fromtimestamp(t, zone or UTC)
    name = when.tzname() or ""
    if name in ("UTC", "") or when.utcoffset() is None:
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{when:%Y-%m-%d %H:%M:%S} {name}"


def _site_of(ctx: typer.Context) -> SiteConfig | None:
    from edge.config import load_config

    try:
        return load_config(ctx.params.get("config") or DEFAULT_CONFIG)
    except Exception:  # completion must never print an error into the shell
        return None


def _matching(ids: list[str], incomplete: str) -> list[str]:
    return [i for i in ids if i.startswith(incomplete)]


def complete_lamps(ctx: typer.Context, incomplete: str) -> list[str]:
    """Lamp ids of the config (``explain`` takes a lamp, nothing else)."""
    site = _site_of(ctx)
    return [] if site is None else _matching([x.id for x in site.all_lamps()], incomplete)


def complete_clusters(ctx: typer.Context, incomplete: str) -> list[str]:
    """Cluster ids of the config (``lamps --cluster``)."""
    site = _site_of(ctx)
    return [] if site is None else _matching([c.id for c in site.clusters], incomplete)


def complete_targets(ctx: typer.Context, incomplete: str) -> list[str]:
    """What an override applies to: ``all``, a cluster id or a lamp id."""
    site = _site_of(ctx)
    if site is None:
        return []
    ids = ["all", *(c.id for c in site.clusters), *(x.id for x in site.all_lamps())]
    return _matching(ids, incomplete)
