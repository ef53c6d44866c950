"""``streetlight sim``: score the policy on a simulated night, with no hardware."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edge.cli._app import app, console, err_console
from edge.config import example_config_path, load_config
from edge.errors import ConfigError, ConfigIssue


@app.command("sim")
def sim(
    config: Path | None = typer.Option(None, "--config", help="Site YAML (default: the example)."),
    scenario: str | None = typer.Option(
        None, "--scenario", help="Scenario YAML, or the name of a bundled one (see --list)."
    ),
    trace: Path | None = typer.Option(
        None, "--trace", help="CSV t_s,cluster,kind,direction,speed_mps."
    ),
    day: str | None = typer.Option(
        None, "--date", help="YYYY-MM-DD: the night that starts at its sunset (default: tonight)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed (default: the scenario's, else 1)."
    ),
    record: Path | None = typer.Option(None, "--record", help="Write per-tick arrays to OUT.npz."),
    report: Path | None = typer.Option(
        None, "--report", help="Write report.md, kpis.json and plots to DIR."
    ),
    as_json: bool = typer.Option(False, "--json", help="KPIs as JSON on stdout, nothing else."),
    no_presence: bool = typer.Option(
        False, "--no-presence", help="Disable the presence boost (to compare)."
    ),
    list_scenarios: bool = typer.Option(
        False, "--list", help="List the bundled scenarios and exit."
    ),
) -> None:
    """Replay a night of a street through the real control core and score energy and safety."""
    from simulator.engine import SimResult, simulate
    from simulator.report import kpi_rows, write_report
    from simulator.scenario import Scenario, bundled_scenarios, load_scenario
    from simulator.traffic import read_trace

    bundled = bundled_scenarios()
    if list_scenarios:
        for name, path in bundled.items():
            sc = load_scenario(path)
            typer.echo(f"{name:<20} {sc.description}")
        return
    scen = Scenario()
    if scenario is not None:
        path = bundled.get(scenario) or Path(scenario)
        scen = load_scenario(path)
    site_path = config or (Path(scen.config) if scen.config else example_config_path())
    site = load_config(site_path)
    tz = ZoneInfo(site.site.timezone)
    if day is not None:
        try:
            night = date.fromisoformat(day)
        except ValueError:
            raise ConfigError("--date", [ConfigIssue("", f"{day!r} is not YYYY-MM-DD")]) from None
    else:
        night = scen.date or datetime.now(tz).date()
    run_seed = seed if seed is not None else (scen.seed if scen.seed is not None else 1)
    arrivals = read_trace(trace, site) if trace is not None else None

    def run(progress: Callable[[float], None] | None) -> SimResult:
        keep = record is not None
        return simulate(site, scenario=scen, day=night, seed=run_seed, arrivals=arrivals,
                        record=keep, presence=not no_presence, progress=progress)  # fmt: skip

    if not as_json and sys.stderr.isatty():
        columns = (TextColumn("simulating {task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task(f"{site.gateway_id} {night}", total=1.0)
            result = run(lambda f: bar.update(task, completed=f))
    else:
        result = run(None)
    if record is not None and result.record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(record, **result.record)
    if report is not None:
        write_report(result, report, timezone=site.site.timezone)
    if as_json:
        typer.echo(json.dumps(result.kpis, indent=2))
        return
    table = Table(
        title=f"{site.gateway_id}: night of {night} ({scen.name}, seed {run_seed})",
        show_header=False,
    )
    table.add_column("KPI", style="bold")
    table.add_column("value")
    for name, value in kpi_rows(result.kpis):
        table.add_row(name, value)
    console.print(table)
    if report is not None:
        console.print(f"report: {report / 'report.md'}")
    if record is not None:
        console.print(f"recorded: {record}")
