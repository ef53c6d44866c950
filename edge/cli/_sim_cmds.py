"""``streetlight sim``: score the policy on a simulated night, with no hardware."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from edge.cli._console import console, err_console
from edge.errors import ArgumentError

#: this module's commands, registered on the root app by ``edge.cli._app``
cli = typer.Typer()

if TYPE_CHECKING:
    from edge.config import SiteConfig
    from simulator.scenario import Scenario


def _complete_scenarios(incomplete: str) -> list[str]:
    """The bundled scenarios' names (a path to a scenario file works too)."""
    from simulator.scenario import bundled_scenarios

    return [name for name in bundled_scenarios() if name.startswith(incomplete)]


# extra words are allowed only to answer them better than "unexpected extra argument"
@cli.command("sim", context_settings={"allow_extra_args": True})
def sim(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="Site YAML (default: the example)."),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="Scenario YAML, or the name of a bundled one (see --list).",
        autocompletion=_complete_scenarios,
    ),
    trace: Path | None = typer.Option(
        None, "--trace", help="CSV t_s,cluster,kind,direction,speed_mps."
    ),
    day: str | None = typer.Option(
        None, "--date", help="YYYY-MM-DD: the night that starts at its sunset (default: tonight)."
    ),
    dates: str | None = typer.Option(
        None, "--dates", help="Several nights, YYYY-MM-DD,YYYY-MM-DD,...: each, then the total."
    ),
    year: bool = typer.Option(
        False,
        "--year",
        help="Every night of the 365 days from --date (default: today): months, the year's "
        "energy, cost and safety.",
    ),
    every: int | None = typer.Option(
        None,
        "--every",
        min=1,
        max=365,
        help="With --year: only every N-th night, scaled up to the year (a quick estimate; "
        "default 1: every night).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed (default: the scenario's, else 1)."
    ),
    sensors: Literal["realistic", "ideal"] | None = typer.Option(
        None, "--sensors", help="realistic (default) or ideal: overrides the scenario's sensors."
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        min=1,
        help="Processes the nights are dealt out to, each stepping its nights side by side "
        "(default: one per core).",
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
    if ctx.args:
        _refuse_extra(ctx.args, year)
    from simulator.engine import SimResult, simulate
    from simulator.nights import year_dates
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
        if scenario not in bundled and not path.exists():
            raise ArgumentError(
                "--scenario", f"{scenario!r} is neither a bundled scenario nor a file",
                f"bundled: {', '.join(bundled)} (sim --list)",
            )  # fmt: skip
        scen = load_scenario(path)
    if sensors is not None:
        scen = scen.model_copy(update={"sensors": sensors})
    from edge.config import example_config_path, load_config

    site_path = config or (Path(scen.config) if scen.config else example_config_path())
    site = load_config(site_path)
    tz = site.site.zone
    if day is not None:
        try:
            night = date.fromisoformat(day)
        except ValueError:
            raise ArgumentError("--date", f"{day!r} is not a date", "use YYYY-MM-DD") from None
    else:
        night = scen.date or datetime.now(tz).date()
    run_seed = seed if seed is not None else (scen.seed if scen.seed is not None else 1)
    if every is not None and not year:
        raise ArgumentError("--every", "--every goes with --year", "add --year, or leave it out")
    if dates is not None or year:
        if trace is not None or record is not None or report is not None:
            raise ArgumentError(
                "--dates" if dates is not None else "--year",
                "--trace, --record and --report take one night",
                "leave them out, or simulate one night with --date",
            )
        if dates is not None and (year or day is not None):
            raise ArgumentError("--dates", "--dates names its nights: no --date or --year with it")
        step = (every or 1) if year else None
        days = _dates(dates) if dates is not None else year_dates(night, every or 1)
        _many(site, scen, days, run_seed, not no_presence, jobs, step, as_json)
        return
    arrivals = read_trace(trace, site) if trace is not None else None

    def run(progress: Callable[[float], None] | None) -> SimResult:
        keep = record is not None
        return simulate(site, scenario=scen, day=night, seed=run_seed, arrivals=arrivals,
                        record=keep, presence=not no_presence, progress=progress)  # fmt: skip

    if not as_json and err_console.is_terminal:
        from edge.cli._sim_progress import night_progress  # rich.progress: with a night only

        with night_progress(f"{site.gateway_id} {night}") as advance:
            result = run(advance)
    else:
        result = run(None)
    if record is not None and result.record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        import numpy as np

        np.savez_compressed(record, **result.record)
    if report is not None:
        write_report(result, report)
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
    Console(width=max(console.width, 110), highlight=False, file=console.file).print(table)
    if report is not None:
        console.print(f"report: {report / 'report.md'}")
    if record is not None:
        console.print(f"recorded: {record}")


def _refuse_extra(extra: list[str], year: bool) -> None:
    """A word after the options: most often a year or a date given to --year or --every."""
    word = extra[0]
    if year and len(word) == 4 and word.isdigit():
        raise ArgumentError(
            "--year", f"takes no value (got {word!r})",
            f"the year runs 365 nights from --date: --year --date {word}-01-01",
        )  # fmt: skip
    if len(word) == 10 and word[4:5] == "-":
        raise ArgumentError("sim", f"unexpected argument {word!r}", f"a night is --date {word}")
    raise ArgumentError("sim", f"unexpected argument {word!r}", "see streetlight sim --help")


def _dates(dates: str) -> list[date]:
    days = []
    for i, text in enumerate(dates.split(",")):
        try:
            days.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise ArgumentError(
                "--dates", f"{text.strip()!r} (night {i + 1}) is not a date",
                "use YYYY-MM-DD,YYYY-MM-DD,...",
            ) from None  # fmt: skip
    return days


def _pct(d: dict[str, float]) -> str:
    return f"{d['pct']:.1f} %"


def _many(
    site: SiteConfig,
    scen: Scenario,
    days: list[date],
    seed: int,
    presence: bool,
    jobs: int | None,
    every: int | None,
    as_json: bool,
) -> None:
    """Several nights: one row each and the total; a year (``every``): a row a month, the
    total and the year's energy, cost and CO2."""
    from simulator.heap import keep_freed_memory
    from simulator.nights import simulate_nights

    keep_freed_memory()  # this process steps many nights at once now (with --jobs 1)

    def run(progress: Callable[[float], None] | None) -> dict[str, Any]:
        return simulate_nights(site, scenario=scen, days=days, seed=seed, presence=presence,
                               jobs=jobs, every=every, progress=progress)  # fmt: skip

    if not as_json and err_console.is_terminal:
        from edge.cli._sim_progress import night_progress

        with night_progress(f"{site.gateway_id}: {len(days)} nights") as share:
            out = run(share)
    else:
        out = run(None)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    sensors = scen.sensors if isinstance(scen.sensors, str) else "custom"
    what = f"({scen.name}, seed {seed}, {sensors} sensors)"
    if every is None:
        title = f"{site.gateway_id}: {len(days)} nights {what}"
        rows = [(k["date"], k) for k in out["nights"]]
    else:
        a = out["annual"]
        some = f", 1 night in {every}" if every > 1 else ""
        title = f"{site.gateway_id}: the year {a['from']} to {a['to']}{some} {what}"
        rows = [(_month(m["month"]), m) for m in out["months"]]
    # never cut a figure to fit a narrow terminal or a pipe's 80 columns
    Console(width=max(console.width, 120), highlight=False, file=console.file).print(
        _table(title, [*rows, ("total", out["total"])], every is not None)
    )
    if every is not None:
        console.print(_annual_line(out["annual"]))
    console.print(
        "vs: energy saved against full power, the config's fixed schedule and the reference "
        "schedule. under-lit: share of road-user-seconds below the requirement "
        "(docs/policy.md); counted: of the time after a sensor counted them; p99: count -> "
        "requirement met."
    )


def _month(month: str) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%b %Y")


def _table(title: str, rows: list[tuple[str, dict[str, Any]]], months: bool) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    cost = f"cost {rows[-1][1]['currency']}"
    names = ("month", "nights", "dark h", "kWh", cost) if months else ("night", "dark h", "kWh")
    for name in (*names, "vs full", "vs sched", "vs ref", "under-lit", "counted", "p99 s"):
        table.add_column(name, justify="left" if name in ("night", "month") else "right",
                         no_wrap=True)  # fmt: skip
    for label, k in rows:
        s = k["safety"]
        dark = k["night"]["dark_hours"] if "night" in k else k["dark_hours"]
        p99 = s["detection_to_requirement_p99_s"]
        head = [label, f"{k['nights']}"] if months else [label]
        energy = [f"{dark:,.1f}", f"{k['energy_kwh']:,.2f}"]
        if months:
            energy.append(f"{k['cost']:,.2f}")
        table.add_row(
            *head, *energy, _pct(k["saved_vs_full"]), _pct(k["saved_vs_schedule"]),
            _pct(k["saved_vs_reference"]), f"{100 * s['underlit_share']:.2f} %",
            f"{100 * s['detected_underlit_share']:.2f} %", "-" if p99 is None else f"{p99:.1f}",
        )  # fmt: skip
    return table


def _annual_line(a: dict[str, Any]) -> str:
    cur = a["currency"]
    if a["every"] > 1:
        basis = (
            f"estimated from {a['nights_simulated']} nights, 1 in {a['every']}, each standing "
            f"for {a['scaled_by']:.2f} nights; the rows above are the nights simulated"
        )
    else:
        basis = f"all {a['nights_simulated']} nights"
    saved = "; ".join(
        f"{name} {a[key]['kwh']:,.0f} kWh ({a[key]['pct']:.1f} %, {a[key]['cost']:,.0f} {cur}, "
        f"{a[key]['co2_kg']:,.0f} kg CO2)"
        for name, key in (("vs full power", "saved_vs_full"),
                          ("vs the fixed schedule", "saved_vs_schedule"),
                          ("vs the reference schedule", "saved_vs_reference"))
    )  # fmt: skip
    return (
        f"The year {a['from']} to {a['to']} ({basis}): {a['energy_kwh']:,.0f} kWh, "
        f"{a['cost']:,.0f} {cur}, {a['co2_kg']:,.0f} kg CO2.\nSaved {saved}."
    )
