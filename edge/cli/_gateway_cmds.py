"""Field-engineer commands against a running daemon: status, lamps, override, explain...

Each sends one request on ``<root>/cmd/<verb>`` with the broker settings of the config file.
``--json`` prints the daemon's result as plain JSON on stdout and nothing else. Exit codes:
0 ok, 1 failure, 2 usage or validation error, 3 gateway unreachable.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from edge.cli._args import (
    complete_clusters,
    complete_lamps,
    complete_targets,
    format_duration,
    format_time,
    parse_duration,
)
from edge.cli._console import DEFAULT_CONFIG, console
from edge.cli._tables import Column, print_table
from edge.lighting import layer_problem

if TYPE_CHECKING:  # the config's models and the MQTT client load with a command that uses them
    from edge._config_gateway import GatewayConfig

#: this module's commands, registered on the root app by ``edge.cli._app``
cli = typer.Typer()


_CONFIG = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Site YAML (broker settings).",
                       envvar="STREETLIGHT_CONFIG")  # fmt: skip
_TIMEOUT = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for the gateway.")
_JSON = typer.Option(False, "--json", help="Plain JSON on stdout, nothing else.")


def _site(config: Path) -> GatewayConfig:
    """What the commands need of the site's file: how to reach its daemon (its street is
    the daemon's to check, and a typo in it does not keep the engineer from asking)."""
    from edge._config_gateway import load_gateway

    return load_gateway(config)


def _ask(site: GatewayConfig, verb: str, args: dict[str, Any] | None = None, *, timeout_s: float
         ) -> Any:  # fmt: skip
    """Send ``verb`` to the daemon of ``site`` (its broker settings); its result."""
    from edge.cli.client import call

    return call(site, verb, args, timeout_s=timeout_s)


def _print_json(result: Any) -> None:
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


@cli.command("ping")
def ping(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Is the gateway daemon answering?"""
    import time

    started = time.monotonic()
    site = _site(config)
    result = _ask(site, "ping", timeout_s=timeout)
    result["round_trip_ms"] = round((time.monotonic() - started) * 1000, 1)
    if as_json:
        _print_json(result)
        return
    console.print(f"pong from boot {result['boot_id'][:8]} (v{result['version']}) "
                  f"in {result['round_trip_ms']:.0f} ms, gateway clock "
                  f"{format_time(result['t'], site.site.zone)}")  # fmt: skip


@cli.command("status")
def status(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Gateway, broker, serial links, clusters and outbox at a glance; for a cluster in
    fail-safe or a lamp whose lease lapsed: why, since when and what to do."""
    from edge.cli._status_view import print_status
    from edge.replies import StatusResult

    site = _site(config)
    result = _ask(site, "status", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    print_status(StatusResult.model_validate(result), site)


@cli.command("clusters")
def clusters(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Flow, class, level and power per cluster."""
    from edge.cli._status_view import print_clusters
    from edge.replies import ClustersResult

    result = _ask(_site(config), "clusters", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    print_clusters(ClustersResult.model_validate(result).clusters)


@cli.command("lamps")
def lamps(
    cluster: str | None = typer.Option(
        None, "--cluster", help="Only this cluster's lamps.", autocompletion=complete_clusters
    ),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Level, target, lease age, power (as the lamp reports it) and faults per lamp."""
    from edge.cli._status_view import print_lamps
    from edge.replies import LampsResult

    args = {"cluster": cluster} if cluster else {}
    result = _ask(_site(config), "lamps", args, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    print_lamps(LampsResult.model_validate(result).lamps)


@cli.command("energy")
def energy(
    since: str = typer.Option(
        "",
        "--since",
        help="7d, 24h, a date (2026-11-01, local midnight) or an ISO time; default: first boot.",
    ),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Energy used against both baselines, with CO2 and cost saved."""
    r = _ask(_site(config), "energy", {"since": since} if since else {}, timeout_s=timeout)
    if as_json:
        _print_json(r)
        return
    columns = [
        Column("cluster"), Column("kWh", 0, "right"),
        Column("full-power kWh", 1, "right"), Column("schedule kWh", 1, "right"),
    ]  # fmt: skip
    print_table(columns, [[cid, f"{c['kwh']:.3f}", f"{c['baseline_full_kwh']:.3f}",
                           f"{c['baseline_schedule_kwh']:.3f}"]
                          for cid, c in r["clusters"].items()])  # fmt: skip
    if r.get("history_starts_later"):
        console.print(f"[yellow]history starts at {r['since']}, after {r['requested_since']}")
    console.print(
        f"total {r['kwh']:.3f} kWh since {r['since']}: saved {r['saved_vs_full']:.1%} vs full "
        f"power, {r['saved_vs_schedule']:.1%} vs the fixed schedule; "
        f"{r['co2_saved_kg']:.2f} kg CO2, {r['cost_saved']:.2f} {r['currency']}"
    )


@cli.command("explain")
def explain_cmd(
    lamp: str = typer.Argument(..., help="Lamp id.", autocompletion=complete_lamps),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Why is this lamp at its level right now?"""
    result = _ask(_site(config), "explain", {"lamp": lamp}, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    for line in result["lines"]:
        console.print(line)


@cli.command("override")
def override(
    target: str = typer.Argument(
        ..., help="Lamp id, cluster id or 'all'.", autocompletion=complete_targets
    ),
    level: float = typer.Option(..., "--level", min=0.0, max=1.0, help="Level 0..1."),
    op: Literal["set", "min", "max"] = typer.Option(
        "set", "--op", help="set, min (at most) or max (at least)."
    ),
    for_: str = typer.Option(
        ..., "--for", help="How long: 1d, 2h30m, 90m, 45s or seconds (it always expires)."
    ),
    reason: str = typer.Option("", "--reason", help="Why (kept with the override and event)."),
    allow_dark: bool = typer.Option(
        False, "--allow-dark", help="Allow a level below the night floor."
    ),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Set, cap (min) or raise (max) the level of a lamp, a cluster or everything, for a while."""
    problem = layer_problem(op, level)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="'--level'")
    for_s = parse_duration(for_)
    site = _site(config)
    args = {"target": target, "level": level, "op": op, "for_s": for_s,
            "reason": reason, "allow_dark": allow_dark}  # fmt: skip
    result = _ask(site, "override", args, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    o = result["override"]
    console.print(f"override {o['id']}: {o['op']} {o['level']:.0%} on {o['target']} "
                  f"for {format_duration(for_s)}, until "
                  f"{format_time(o['expires_at'], site.site.zone)}")  # fmt: skip


@cli.command("overrides")
def overrides(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """The manual overrides in force."""
    site = _site(config)
    result = _ask(site, "overrides", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    if not result["overrides"]:
        console.print("no overrides")
        return
    zone = site.site.zone
    columns = [Column("id"), Column("target"), Column("op", 0), Column("level", 0, "right"),
               Column("expires at", 0), Column("allow dark", 2), Column("reason", 1)]  # fmt: skip
    print_table(columns, [
        [o["id"], o["target"], o["op"], _pct(o["level"]), format_time(o["expires_at"], zone),
         "yes" if o["allow_dark"] else "no", o["reason"] or "-"]
        for o in result["overrides"]
    ])  # fmt: skip


@cli.command("clear")
def clear(
    key: str = typer.Argument(
        ...,
        help="Override id, or a target to clear all its overrides.",
        autocompletion=complete_targets,
    ),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Remove an override (by id) or every override on a target."""
    result = _ask(_site(config), "clear", {"key": key}, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    console.print("cleared " + ", ".join(result["cleared"]))


@cli.command("tail")
def tail_cmd(
    topic: list[str] = typer.Option(
        [], "--topic", help="Under the gateway root, e.g. event or telemetry/energy (repeatable)."
    ),
    count: int | None = typer.Option(None, "--count", min=1, help="Stop after N messages."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after S s."),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Live telemetry and events (Ctrl-C to stop); --json: one JSON object per line."""
    from edge.cli.client import tail

    site = _site(config)
    root = site.topic_root
    topics = [f"{root}/{t.strip('/')}" for t in topic] or [f"{root}/telemetry/#", f"{root}/event"]

    def emit(name: str, payload: bytes) -> None:
        try:
            body: Any = json.loads(payload)
        except ValueError:
            body = payload.decode(errors="replace")
        if as_json:
            typer.echo(json.dumps({"topic": name, "payload": body}, separators=(",", ":")))
        else:
            short = name[len(root) + 1 :] if name.startswith(root) else name
            text = body.get("message") if isinstance(body, dict) and "message" in body else body
            console.print(
                f"[bold]{short}[/] {json.dumps(text) if not isinstance(text, str) else text}"
            )

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a field engineer stops it
        tail(site, topics, connect_timeout_s=timeout, count=count, duration_s=duration, emit=emit)
