"""``streetlight demo``: see the whole system work in one minute, with no hardware."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from edge.cli._console import console, err_console
from edge.cli._run_cmds import parse_start

if TYPE_CHECKING:  # the config's models load with the command
    from edge.config import SiteConfig

#: this module's commands, registered on the root app by ``edge.cli._app``
cli = typer.Typer()

_BARS = " ▁▂▃▄▅▆▇█"


def _default_start(site: SiteConfig) -> float:
    """21:30 tonight at the site: the evening traffic thins out as the demo runs."""
    tz = site.site.zone
    today = datetime.now(tz).date()
    return datetime(today.year, today.month, today.day, 21, 30, tzinfo=tz).timestamp()


def _render(view: object) -> Group:
    from simulator.harness.demo import DemoView

    assert isinstance(view, DemoView)
    d, fleet, street = view.daemon, view.fleet, view.street
    ctrl = d.controller
    tz = d.site.site.zone
    now = datetime.fromtimestamp(view.clock.time(), tz)
    head = Text(
        f"{d.site.site.name}  {now:%a %H:%M:%S %Z}  "
        f"{'night' if ctrl.night else 'day'}  x{view.clock.speed:g}  "
        f"mqtt {'up' if d.mqtt.is_connected else 'DOWN'}  outbox {d.outbox.depth}",
        style="bold",
    )
    table = Table(box=None, pad_edge=False)
    for col in (
        "cluster",
        "flow/h",
        "class",
        "level",
        "power",
        "lamps (west to east), ^ road user",
    ):
        table.add_column(col)
    users = street.positions()
    lamps = ctrl.site.lamps
    for k, cl in enumerate(ctrl.site.clusters):
        sl = ctrl.cluster_slice(k)
        order = sl.start + lamps.position_m[sl].argsort()
        bars = "".join(_BARS[min(8, round(float(fleet.output[j]) * 8))] for j in order)
        marks = [" "] * len(order)
        pos = lamps.position_m[order]
        for c, p, _ in users:
            if c == k and len(pos):
                marks[int(abs(pos - p).argmin())] = "^"
        cls = cl.ladder[min(int(ctrl.cluster_step[k]), len(cl.ladder) - 1)]
        state = " FAIL-SAFE" if ctrl.cluster_failsafe[k] else ""
        table.add_row(
            cl.id,
            f"{ctrl.cluster_flow[k]:.0f}",
            cls + state,
            f"{float(ctrl.cluster_mean(ctrl.level)[k]):.0%}",
            f"{float(ctrl.energy.cluster_power[k]):.0f} W",
            Text(bars + "\n" + "".join(marks)),
        )
    return Group(head, table)


@cli.command("demo")
def demo(
    config: Path | None = typer.Option(None, "--config", help="Site YAML (default: the example)."),
    duration: float = typer.Option(60.0, "--duration", min=1, help="Real seconds to run."),
    speed: float = typer.Option(60.0, "--speed", min=1, help="Virtual seconds per real second."),
    start: str | None = typer.Option(
        None, "--start", help="Virtual start, ISO local time (default 21:30 tonight)."
    ),
    seed: int = typer.Option(1, "--seed", help="Traffic seed."),
    as_json: bool = typer.Option(
        False, "--json", help="No live view: the summary as JSON on stdout, nothing else."
    ),
) -> None:
    """Private broker + the real daemon + a simulated street, in fast time, live."""
    import asyncio

    from edge.config import example_config_path, load_config
    from simulator.harness.demo import DEMO_FLOW_WINDOW_S, run_demo

    site = load_config(config or example_config_path())
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    begin = parse_start(start, site, "--start") or _default_start(site)
    live = console.is_terminal and not as_json
    (err_console if as_json else console).print(
        f"demo: {site.site.name}, {sum(len(c.resolved_lamps()) for c in site.clusters)} lamps, "
        f"from {datetime.fromtimestamp(begin, site.site.zone):%H:%M %Z} for "
        f"{timedelta(seconds=round(duration * speed))} of street time at x{speed:g} "
        f"(flow window shortened to {DEMO_FLOW_WINDOW_S / 60:.0f} min so it settles quickly)"
    )

    async def main() -> object:
        if not live:
            return await run_demo(site, start=begin, speed=speed, duration_s=duration, seed=seed)
        from rich.live import Live  # the live view's machinery loads with the demo only

        with Live(console=console, refresh_per_second=4, transient=False) as screen:
            return await run_demo(
                site, start=begin, speed=speed, duration_s=duration, seed=seed,
                on_view=lambda v: screen.update(_render(v)),
            )  # fmt: skip

    summary = asyncio.run(main())
    from simulator.harness.demo import DemoSummary

    assert isinstance(summary, DemoSummary)
    s = summary
    if as_json:
        import dataclasses
        import json

        data = {**dataclasses.asdict(s), "saved_vs_full": round(s.saved_vs_full, 4),
                "saved_vs_schedule": round(s.saved_vs_schedule, 4)}  # fmt: skip
        typer.echo(json.dumps(data, indent=2))
        return
    under = s.underlit_samples / s.user_samples if s.user_samples else 0.0
    table = Table(title="demo summary", show_header=False, box=None)
    rows = [
        ("street time", str(timedelta(seconds=round(s.virtual_s)))),
        ("road users", f"{s.users} ({s.sensor_reports} sensor reports)"),
        ("leases applied by lamp nodes", f"{s.leases}"),
        ("energy", f"{s.energy_wh / 1000:.3f} kWh"),
        (
            "saved vs full power",
            f"{s.saved_vs_full:.1%} (baseline {s.baseline_full_wh / 1000:.3f} kWh)",
        ),
        ("saved vs fixed schedule", f"{s.saved_vs_schedule:.1%}"),
        ("lamp-seconds below floor", f"{s.below_floor_lamp_s:.0f} (must be 0)"),
        ("lamp-seconds in failsafe", f"{s.failsafe_lamp_s:.0f}"),
        (
            "road users under a lamp below the requirement",
            f"{under:.1%} of {s.user_samples} samples",
        ),
        ("events and telemetry records", f"{s.events}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
