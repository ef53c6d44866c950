"""The shipped Prometheus config, alert rules and Grafana dashboard against a real daemon.

A real Prometheus server (Debian's `prometheus`) scrapes a real daemon on loopback with the
shipped config (only the target, the intervals and the paths changed); every series the daemon
exposes must arrive, every alert rule must evaluate, and every dashboard query must run and
return data. Grafana itself is not packaged for Debian: the dashboard's structure is checked
here, its queries by Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.clock import Clock
from edge.config import load_config
from simulator.harness.broker import free_port
from simulator.harness.daemonproc import DaemonProcess, scrape_metrics
from simulator.harness.live import LampFleet
from tests.conftest import REPO
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, write_site
from tests.helpers.prometheus import INSTALL_HINT, PrometheusServer, find_prometheus

PROM_DIR = REPO / "config" / "prometheus"
DASHBOARD = REPO / "config" / "grafana" / "streetlight.json"

#: What the dashboard must show, as the metric each needs.
MUST_SHOW = {
    "level": "streetlight_dim_level_ratio",
    "flow": "streetlight_traffic_flow_per_hour",
    "class": "streetlight_class_step",
    "power": "streetlight_power_watts",
    "energy saved": "streetlight_energy_joules_total",
    "fail-safe": "streetlight_failsafe",
    "outbox depth": "streetlight_outbox_depth",
    "tick time": "streetlight_tick_duration_seconds_bucket",
}
#: Queries that are empty on a healthy gateway (no frame refused yet); Prometheus still parses them.
MAY_BE_EMPTY = ('result!="ok"',)


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]


def _as_promql(expr: str, *, rate_interval: str = "15s", range_: str = "1m") -> str:
    """What Grafana sends: variables expanded (All = .*), its interval macros filled in."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    return re.sub(r"\$(gateway|cluster)\b", ".*", expr)


def test_the_dashboard_is_well_formed_and_shows_what_operators_need() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = list(_panels(dash))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] < g["x"] + g["w"] <= 24, f"panel {p['title']!r} leaves the grid"
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] == "row":
            continue
        assert p["targets"], f"panel {p['title']!r} has no query"
        for t in [p, *p["targets"]]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
    exprs = _exprs(dash)
    for what, name in MUST_SHOW.items():
        assert any(name in e for e in exprs), f"the dashboard does not show {what} ({name})"
    for e in exprs:
        for window in re.findall(r"\[([^\]]+)\]", e):
            assert window in ("$__rate_interval", "$__range"), f"hard-coded window in {e}"
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "gateway", "cluster"} <= names


def test_the_shipped_prometheus_config_and_rules_pass_promtool() -> None:
    if find_prometheus() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    done = subprocess.run(
        ["promtool", "check", "config", str(PROM_DIR / "prometheus.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 rules found" in done.stdout + done.stderr


def _prometheus_config(metrics_port: int) -> dict[str, Any]:
    """The shipped config with the test daemon as its target and 1 s intervals."""
    config: dict[str, Any] = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(PROM_DIR / f) for f in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "1s"
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{metrics_port}"]
    return config


@pytest.mark.timeout(120)
async def test_prometheus_scrapes_every_series_and_the_dashboard_queries_return_data(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    if find_prometheus() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    config = write_site(tmp_path, port=broker.port)
    data = yaml.safe_load(config.read_text())
    metrics_port = free_port()
    data["metrics"]["port"] = metrics_port
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    site = load_config(config)
    clusters = {c.id for c in site.clusters}

    daemon = DaemonProcess(
        config, log_path=tmp_path / "daemon.log", virtual_start="2026-11-28T23:30", speed=10
    )
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    prom = PrometheusServer(prom_dir, _prometheus_config(metrics_port))
    dash = json.loads(DASHBOARD.read_text())
    # The lamp nodes: leases out, state reports in (so the ingest series exist).
    fleet = LampFleet(site, host=broker.host, port=broker.port, clock=Clock(speed=10, start=NIGHT))
    fleet_task = asyncio.create_task(fleet.run(tick_s=0.1))
    try:
        await daemon.start()
        prom.start()
        # Every dashboard query returns data once a few scrapes have landed (rates need two).
        pending = [e for e in _exprs(dash) if not any(m in e for m in MAY_BE_EMPTY)]
        for _ in range(60):
            await asyncio.sleep(1.0)
            pending = [e for e in pending if not prom.query(_as_promql(e))]
            if not pending:
                break
        assert pending == [], "dashboard queries with no data after 60 s"
        for e in _exprs(dash):  # the ones allowed to be empty must still be valid PromQL
            prom.query(_as_promql(e))

        # Every series the daemon exposes now is in Prometheus within a few scrapes (one may
        # be new since the last scrape: the first event of a kind, say).
        exposed = {name for name in scrape_metrics(metrics_port) if name.startswith("streetlight_")}
        for _ in range(20):
            missing = exposed - set(prom.api("label/__name__/values"))
            if not missing:
                break
            await asyncio.sleep(0.5)
        assert missing == set(), "series the daemon exposes but Prometheus lacks"

        (up,) = prom.query('up{job="streetlight"}')
        assert up["value"][1] == "1"
        assert up["metric"]["gateway"] == "gw-example-01"
        level = prom.query("streetlight_dim_level_ratio")
        assert {s["metric"]["cluster"] for s in level} == clusters
        assert all(0.0 <= float(s["value"][1]) <= 1.0 for s in level)
        energy = prom.query("streetlight_energy_joules_total")
        assert {(s["metric"]["cluster"], s["metric"]["basis"]) for s in energy} == {
            (c, b)
            for c in clusters
            for b in ("actual", "modelled", "metered", "metered_model", "full", "schedule")
        }
        metered = prom.query("streetlight_lamps_metered")  # the simulated lamps have meters
        assert {s["metric"]["cluster"] for s in metered} == clusters
        # The dashboard's variables resolve to this gateway and its clusters.
        assert "gw-example-01" in prom.api("label/gateway/values")
        series = prom.api("series", **{"match[]": 'streetlight_lamps{gateway=~".*"}'})
        assert {s["cluster"] for s in series} == clusters

        # Every alert rule loaded and evaluates without error.
        async with asyncio.timeout(20):
            while True:
                rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
                if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
                    break
                await asyncio.sleep(0.5)
        assert len(rules) == 7
        assert [r["name"] for r in rules if r["health"] != "ok"] == []
        firing = {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]}
        assert "StreetlightGatewayDown" not in firing
        assert "StreetlightBrokerDisconnected" not in firing

        # The daemon stops: Prometheus sees the target go down (what GatewayDown alerts on).
        assert await daemon.stop() == 0
        async with asyncio.timeout(20):
            while prom.query('up{job="streetlight"} == 0') == []:
                await asyncio.sleep(0.5)
    finally:
        fleet_task.cancel()
        await asyncio.gather(fleet_task, return_exceptions=True)
        prom.stop()
        await daemon.kill()
