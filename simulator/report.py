"""The night's report: a Markdown page of KPIs and PNG plots (matplotlib, the `plots` extra)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator.engine import SimResult

__all__ = ["kpi_rows", "write_report"]


def _saved(k: dict[str, Any], key: str) -> str:
    d, cur = k[key], k["currency"]
    return f"{d['pct']:.1f} % ({d['kwh']:.2f} kWh, {d['co2_kg']:.2f} kg CO2, {d['cost']:.2f} {cur})"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds} s"


def kpi_rows(k: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) lines of the KPIs, for the terminal summary and the report."""
    s, night, fs = k["safety"], k["night"], k["failsafe"]
    p50 = s["detection_to_requirement_p50_s"]
    p99 = s["detection_to_requirement_p99_s"]
    latency = f"p50 {p50 if p50 is not None else '-'} s, p99 {p99 if p99 is not None else '-'} s"
    return [
        ("night", f"{night['start']} -> {night['end']} ({night['dark_hours']} h dark)"),
        ("lamps / ticks", f"{k['lamps']} lamps, {k['ticks']:,} ticks of {k['tick_s']:g} s"),
        ("energy", f"{k['energy_kwh']:.2f} kWh"),
        ("baseline: full power all night", f"{k['baseline_full_kwh']:.2f} kWh"),
        ("baseline: fixed schedule (config)", f"{k['baseline_schedule_kwh']:.2f} kWh"),
        ("baseline: reference schedule", f"{k['baseline_reference_kwh']:.2f} kWh"),
        ("saved vs full power", _saved(k, "saved_vs_full")),
        ("saved vs fixed schedule", _saved(k, "saved_vs_schedule")),
        ("saved vs reference schedule", _saved(k, "saved_vs_reference")),
        (
            "road users at night",
            f"{s['road_users']:,} ({s['road_user_seconds']:,.0f} road-user-seconds; "
            f"{s['detected']:,} counted by a sensor)",
        ),
        (
            "under-lit (requirement)",
            f"{100 * s['underlit_share']:.3f} % of road-user-seconds; "
            f"{s['underlit_road_users']:,} road users; worst shortfall {s['worst_shortfall']:.2f}",
        ),
        (
            "under-lit once counted",
            f"{100 * s['detected_underlit_share']:.3f} % (never counted: "
            f"{100 * s['undetected_underlit_share']:.2f} % of their time)",
        ),
        (
            "worst road user",
            f"{s['worst_road_user_underlit_s']:.0f} s under-lit "
            f"({'counted' if s['worst_road_user_detected'] else 'never counted'})",
        ),
        (
            "count -> requirement met",
            f"{latency}; of the {s['counted_while_underlit']:,} counted while under-lit: "
            f"p50 {_s(s['detection_to_requirement_p50_s_if_underlit'])}, "
            f"p99 {_s(s['detection_to_requirement_p99_s_if_underlit'])} "
            f"({s['never_met_after_detection']:,} never met after the count)",
        ),
        (
            "fail-safe",
            f"{fs['cluster_hours']:.2f} cluster-hours; "
            f"{fs['lamp_node_hours_without_lease']:.2f} lamp-hours without a lease",
        ),
        ("wall time", f"{k['wall_s']:.1f} s"),
    ]


def _plots(result: SimResult, out: Path, tz: ZoneInfo) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    times = [datetime.fromtimestamp(t, tz) for t in result.series_t]
    made = []
    n_c = len(result.cluster_ids)
    fig, axes = plt.subplots(n_c, 1, figsize=(10, 2.6 * n_c), sharex=True, squeeze=False)
    for k, cid in enumerate(result.cluster_ids):
        ax = axes[k][0]
        ax.bar(
            times,
            result.series_traffic[:, k],
            width=1 / 1440,
            color="#bbbbbb",
            label="road users / min",
        )
        ax.set_ylabel("road users / min")
        ax2 = ax.twinx()
        ax2.plot(times, 100 * result.series_level[:, k], color="#1f77b4", label="mean level %")
        peak = max(float(result.series_power[:, k].max()), 1.0)
        ax2.plot(times, 100 * result.series_power[:, k] / peak, color="#d62728", alpha=0.7,
                 label=f"power % of {peak:.0f} W")  # fmt: skip
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("%")
        ax.set_title(f"cluster {cid}: traffic, level and power")
        if k == 0:
            ax2.legend(loc="upper right", fontsize=8)
    axes[-1][0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    fig.tight_layout()
    fig.savefig(out / "clusters.png", dpi=90)
    plt.close(fig)
    made.append("clusters.png")

    fig, ax = plt.subplots(figsize=(10, 5))
    st = result.space_time.T
    st_start, st_end = result.space_time_t
    t0 = mdates.date2num(datetime.fromtimestamp(st_start, tz))
    t1 = mdates.date2num(datetime.fromtimestamp(st_end, tz))
    ax.imshow(st, aspect="auto", origin="lower", cmap="inferno", vmin=0, vmax=1,
              extent=(t0, t1, 0, st.shape[0]), interpolation="nearest")  # fmt: skip
    ax.set_ylabel(f"lamps of {result.space_time_cluster} (by position)")
    ax.set_title(f"space-time: lamp output on {result.space_time_cluster}, road users drawn on top")
    span = max(st.shape[0], 1)
    # road users as lines, positions scaled from metres to the lamp axis
    length_per_lamp = max(result.space_time_length_m, 1.0) / span
    for points in result.trajectories:
        xs = [mdates.date2num(datetime.fromtimestamp(t, tz)) for t in points[:, 0]]
        ax.plot(xs, points[:, 1] / length_per_lamp, color="#00e5ff", linewidth=0.4, alpha=0.6)
    ax.set_xlim(t0, t1)
    ax.set_ylim(0, span)
    ax.xaxis_date(tz)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    fig.tight_layout()
    fig.savefig(out / "space_time.png", dpi=90)
    plt.close(fig)
    made.append("space_time.png")
    return made


def write_report(result: SimResult, out: Path) -> Path:
    """Write report.md, kpis.json and the PNG plots into ``out``; returns report.md's path."""
    out.mkdir(parents=True, exist_ok=True)
    tz = result.window.zone
    k = result.kpis
    (out / "kpis.json").write_text(json.dumps(k, indent=2))
    plots = _plots(result, out, tz)
    lines = [
        f"# Night report: {k['site']}, {k['date']} ({k['scenario']})",
        "",
        "| KPI | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in kpi_rows(k)),
        "",
        "Energy is what the simulated lamp nodes drew (leases, their own fades, failsafe), through "
        "the driver curve. *Under-lit*: the share of road-user-seconds at night during which the "
        "lamp nearest the road user gave less light than the fixed requirement minus 0.05 "
        "(the class its road's traffic warrants; docs/policy.md).",
        "",
    ]
    if plots:
        lines += [f"![{p}]({p})" for p in plots]
    else:
        lines.append("(plots need matplotlib: `pip install 'streetlight-edge[plots]'`)")
    busiest = int(np.argmax(result.series_traffic.sum(axis=0))) if result.series_traffic.size else 0
    if result.cluster_ids:
        lines += ["", f"Busiest cluster: {result.cluster_ids[busiest]}."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
