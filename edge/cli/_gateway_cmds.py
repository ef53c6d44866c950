"""Field-engineer commands against a running daemon: status, lamps, override, explain...

Each sends one request on ``<root>/cmd/<verb>`` with the broker settings of the config file.
``--json`` prints the daemon's result as plain JSON on stdout and nothing else. Exit codes:
0 ok, 1 failure, 2 usage or validation error, 3 gateway unreachable.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from edge.cli._console import DEFAULT_CONFIG, console, err_console
from edge.errors import ConfigError, ConfigIssue
from edge.lighting import layer_problem

if TYPE_CHECKING:  # the config's models and the MQTT client load with a command that uses them
    from edge.config import SiteConfig

#: this module's commands, registered on the root app by ``edge.cli._app``
cli = typer.Typer()


_CONFIG = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Site YAML (broker settings).",
                       envvar="STREETLIGHT_CONFIG")  # fmt: skip
_TIMEOUT = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to wait for the gateway.")
_JSON = typer.Option(False, "--json", help="Plain JSON on stdout, nothing else.")


def _complete_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Lamp and cluster ids from the config, for shell completion."""
    from edge.config import load_config

    try:
        site = load_config(ctx.params.get("config") or DEFAULT_CONFIG)
    except Exception:  # completion must never print an error into the shell
        return []
    ids = ["all", *(c.id for c in site.clusters), *(lamp.id for lamp in site.all_lamps())]
    return [i for i in ids if i.startswith(incomplete)]


def parse_duration(text: str) -> float:
    """``2h``, ``30m``, ``90s``, ``1h30m`` or plain seconds."""
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or match is None or not any(match.groups()):
        raise ConfigError(
            "--for", [ConfigIssue("", f"{text!r} is not a duration such as 2h, 30m or 90s")]
        )
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


def _site(config: Path) -> SiteConfig:
    from edge.config import load_config

    return load_config(config)


def _ask(config: Path, verb: str, args: dict[str, Any] | None = None, *, timeout_s: float
         ) -> Any:  # fmt: skip
    """Send ``verb`` to the daemon of ``config`` (its broker settings); its result."""
    from edge.cli.client import call

    return call(_site(config), verb, args, timeout_s=timeout_s)


def _print_json(result: Any) -> None:
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


@cli.command("ping")
def ping(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Is the gateway daemon answering?"""
    import time

    started = time.monotonic()
    result = _ask(config, "ping", timeout_s=timeout)
    result["round_trip_ms"] = round((time.monotonic() - started) * 1000, 1)
    if as_json:
        _print_json(result)
        return
    console.print(f"pong from boot {result['boot_id'][:8]} (v{result['version']}) "
                  f"in {result['round_trip_ms']:.0f} ms")  # fmt: skip


def _cluster_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("cluster", "lamps", "flow/h", "class", "level", "power", "fail-safe")
    for c in rows:
        table.add_row(
            c["id"], str(c["lamps"]), f"{c['flow_per_h']:.0f}",
            f"{c['class']} (rated {c['rated_class']})", _pct(c["level"]),
            f"{c['power_w']:.0f} W", "[bold red]YES[/]" if c["failsafe"] else "no",
        )  # fmt: skip
    return table


@cli.command("status")
def status(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Gateway, broker, serial links, clusters and outbox at a glance."""
    result = _ask(config, "status", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    console.print(
        f"[bold]{result['gateway_id']}[/] online, v{result['version']}, up "
        f"{result['uptime_s'] / 3600:.1f} h, {'night' if result['night'] else 'day'}, "
        f"broker {result['broker']}, outbox {result['outbox_depth']}, "
        f"overrides {result['overrides']}, tick overruns {result['tick_overruns']}"
    )
    for link in result["serial"]:
        state = "up" if link["up"] else "[bold red]DOWN[/]"
        console.print(f"serial {link['port']}: {state}, {link['frames_ok']} frames, "
                      f"{link['rejected']} rejected")  # fmt: skip
    console.print(_cluster_table(result["clusters"]))


@cli.command("clusters")
def clusters(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """Flow, class, level and power per cluster."""
    result = _ask(config, "clusters", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    console.print(_cluster_table(result["clusters"]))


@cli.command("lamps")
def lamps(
    cluster: str | None = typer.Option(
        None, "--cluster", help="Only this cluster's lamps.", autocompletion=_complete_ids
    ),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Level, target, lease age, power and faults per lamp."""
    args = {"cluster": cluster} if cluster else {}
    result = _ask(config, "lamps", args, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    table = Table("lamp", "cluster", "level", "target", "lease age", "power", "reported", "faults")
    for lamp in result["lamps"]:
        age = lamp["lease_age_s"]
        table.add_row(
            lamp["id"], lamp["cluster"], _pct(lamp["level"]), _pct(lamp["target"]),
            "-" if age is None else f"{age:.0f} s", f"{lamp['power_w']:.1f} W",
            _pct(lamp["reported_level"]), ", ".join(lamp["faults"]) or "-",
        )  # fmt: skip
    console.print(table)


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
    r = _ask(config, "energy", {"since": since} if since else {}, timeout_s=timeout)
    if as_json:
        _print_json(r)
        return
    table = Table("cluster", "kWh", "full-power kWh", "schedule kWh")
    for cid, c in r["clusters"].items():
        table.add_row(cid, f"{c['kwh']:.3f}", f"{c['baseline_full_kwh']:.3f}",
                      f"{c['baseline_schedule_kwh']:.3f}")  # fmt: skip
    console.print(table)
    if r.get("history_starts_later"):
        console.print(f"[yellow]history starts at {r['since']}, after {r['requested_since']}")
    console.print(
        f"total {r['kwh']:.3f} kWh since {r['since']}: saved {r['saved_vs_full']:.1%} vs full "
        f"power, {r['saved_vs_schedule']:.1%} vs the fixed schedule; "
        f"{r['co2_saved_kg']:.2f} kg CO2, {r['cost_saved']:.2f} {r['currency']}"
    )


@cli.command("explain")
def explain_cmd(
    lamp: str = typer.Argument(..., help="Lamp id.", autocompletion=_complete_ids),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Why is this lamp at its level right now?"""
    result = _ask(config, "explain", {"lamp": lamp}, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    for line in result["lines"]:
        console.print(line)


@cli.command("override")
def override(
    target: str = typer.Argument(
        ..., help="Lamp id, cluster id or 'all'.", autocompletion=_complete_ids
    ),
    level: float = typer.Option(..., "--level", min=0.0, max=1.0, help="Level 0..1."),
    op: str = typer.Option("set", "--op", help="set, min (at most) or max (at least)."),
    for_: str = typer.Option(..., "--for", help="How long: 2h, 30m, 90s (it always expires)."),
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
        raise typer.BadParameter(problem)
    args = {"target": target, "level": level, "op": op, "for_s": parse_duration(for_),
            "reason": reason, "allow_dark": allow_dark}  # fmt: skip
    result = _ask(config, "override", args, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    o = result["override"]
    console.print(f"override {o['id']}: {o['op']} {o['level']:.0%} on {o['target']} "
                  f"for {args['for_s']:g} s")  # fmt: skip


@cli.command("overrides")
def overrides(config: Path = _CONFIG, timeout: float = _TIMEOUT, as_json: bool = _JSON) -> None:
    """The manual overrides in force."""
    result = _ask(config, "overrides", timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    if not result["overrides"]:
        console.print("no overrides")
        return
    table = Table("id", "target", "op", "level", "expires at", "allow dark", "reason")
    from datetime import datetime

    for o in result["overrides"]:
        table.add_row(o["id"], o["target"], o["op"], _pct(o["level"]),
                      datetime.fromtimestamp(o["expires_at"]).strftime("%Y-%m-%d %H:%M:%S"),
                      "yes" if o["allow_dark"] else "no", o["reason"] or "-")  # fmt: skip
    console.print(table)


@cli.command("clear")
def clear(
    key: str = typer.Argument(..., help="Override id, or a target to clear all its overrides."),
    config: Path = _CONFIG,
    timeout: float = _TIMEOUT,
    as_json: bool = _JSON,
) -> None:
    """Remove an override (by id) or every override on a target."""
    result = _ask(config, "clear", {"key": key}, timeout_s=timeout)
    if as_json:
        _print_json(result)
        return
    console.print("cleared " + ", ".join(result["cleared"]))


__all__ = ["err_console", "parse_duration"]


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
