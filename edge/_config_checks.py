"""Cross-field checks of a site config that pydantic cannot express per field."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from edge.errors import ConfigIssue
from edge.lighting import LIGHTING_CLASSES

if TYPE_CHECKING:
    from edge.config import SiteConfig

__all__ = ["hint", "semantic_issues"]


def semantic_issues(site: SiteConfig) -> Iterator[ConfigIssue]:
    """Cross-field checks pydantic cannot express per field, each with its path."""
    lamp_seen: dict[str, str] = {}
    cluster_seen: dict[str, str] = {}
    sensor_seen: dict[str, str] = {}
    ports = {p.name for p in site.serial}
    addresses: dict[tuple[str | None, int | None, int], str] = {}
    lamp_nodes: dict[tuple[str | None, int], str] = {}
    for ci, cluster in enumerate(site.clusters):
        cpath = f"clusters[{ci}]"
        if cluster.id in cluster_seen:
            yield ConfigIssue(
                f"{cpath}.id",
                f"duplicate cluster id {cluster.id!r} (also {cluster_seen[cluster.id]})",
            )
        cluster_seen.setdefault(cluster.id, cpath)
        if cluster.floor > cluster.ceiling:
            yield ConfigIssue(
                f"{cpath}.floor", f"floor {cluster.floor} is above ceiling {cluster.ceiling}"
            )
        family = cluster.rated_class[0]
        for ai, cls in enumerate(cluster.adapt_classes):
            apath = f"{cpath}.adapt_classes[{ai}]"
            if cls[0] != family:
                yield ConfigIssue(
                    apath, f"class {cls} is not in the rated class's family ({cluster.rated_class})"
                )
            elif LIGHTING_CLASSES[cls] >= LIGHTING_CLASSES[cluster.rated_class]:
                yield ConfigIssue(
                    apath, f"class {cls} is not below the rated class {cluster.rated_class}"
                )
        if not cluster.lamps and cluster.lamp_array is None:
            yield ConfigIssue(f"{cpath}.lamps", "a cluster needs lamps (a list, or lamp_array)")
        for li, lamp in enumerate(cluster.lamps):
            lpath = f"{cpath}.lamps[{li}]"
            floor = lamp.floor if lamp.floor is not None else cluster.floor
            ceiling = lamp.ceiling if lamp.ceiling is not None else cluster.ceiling
            if floor > ceiling:
                yield ConfigIssue(f"{lpath}.floor", f"floor {floor} is above ceiling {ceiling}")
            if lamp.position_m > cluster.length_m:
                yield ConfigIssue(
                    f"{lpath}.position_m",
                    f"lamp at {lamp.position_m} m is beyond the road's length {cluster.length_m} m",
                )
            if lamp.source == "serial":
                if lamp.port is None:
                    yield ConfigIssue(f"{lpath}.port", "a serial lamp needs the name of its port")
                elif lamp.port not in ports:
                    close = hint(lamp.port, ports)
                    yield ConfigIssue(f"{lpath}.port", f"no serial port named {lamp.port!r}{close}")
                if lamp.node is None:
                    yield ConfigIssue(f"{lpath}.node", "a serial lamp needs its node address")
                elif (lamp.port, lamp.node) in lamp_nodes:  # LAMP_STATUS names only the node
                    yield ConfigIssue(
                        f"{lpath}.node",
                        f"port {lamp.port} node {lamp.node} is already lamp "
                        f"{lamp_nodes[(lamp.port, lamp.node)]!r}: one lamp per lamp node",
                    )
                else:
                    lamp_nodes[(lamp.port, lamp.node)] = lamp.id
            elif lamp.port is not None or lamp.node is not None:
                yield ConfigIssue(
                    f"{lpath}.source", "port and node are for a serial lamp: set source: serial"
                )
        if cluster.lamp_array is not None:
            arr = cluster.lamp_array
            last = arr.start_m + (arr.count - 1) * arr.spacing_m
            if last > cluster.length_m:
                yield ConfigIssue(
                    f"{cpath}.lamp_array",
                    f"the last lamp would stand at {last:g} m, "
                    f"beyond the road's length {cluster.length_m} m",
                )
        explicit = len(cluster.lamps)
        array_path = f"{cpath}.lamp_array"  # one string for all of an array's lamps
        for li, resolved in enumerate(cluster.resolved_lamps()):
            lpath = f"{cpath}.lamps[{li}].id" if li < explicit else array_path
            if resolved.id in lamp_seen:
                yield ConfigIssue(
                    lpath, f"duplicate lamp id {resolved.id!r} (also {lamp_seen[resolved.id]})"
                )
            lamp_seen.setdefault(resolved.id, lpath)
        for si, sensor in enumerate(cluster.sensors):
            spath = f"{cpath}.sensors[{si}]"
            if sensor.id in sensor_seen:
                yield ConfigIssue(
                    f"{spath}.id",
                    f"duplicate sensor id {sensor.id!r} (also {sensor_seen[sensor.id]})",
                )
            sensor_seen.setdefault(sensor.id, spath)
            if not 0 <= sensor.position_m <= cluster.length_m:
                yield ConfigIssue(
                    f"{spath}.position_m",
                    f"sensor at {sensor.position_m} m is outside its road "
                    f"(0 to {cluster.length_m} m)",
                )
            if sensor.source == "serial":
                if sensor.port is None:
                    yield ConfigIssue(
                        f"{spath}.port", "a serial sensor needs the name of its serial port"
                    )
                elif sensor.port not in ports:
                    yield ConfigIssue(
                        f"{spath}.port",
                        f"no serial port named {sensor.port!r}{hint(sensor.port, ports)}",
                    )
                if sensor.node is None:
                    yield ConfigIssue(f"{spath}.node", "a serial sensor needs its node address")
                address = (sensor.port, sensor.node, sensor.channel)
                if address in addresses:
                    yield ConfigIssue(
                        f"{spath}.node",
                        f"port {sensor.port} node {sensor.node} channel {sensor.channel} "
                        f"is already sensor {addresses[address]!r}",
                    )
                addresses[address] = sensor.id
    targets = set(cluster_seen) | set(lamp_seen) | {"all"}
    profile_seen: set[str] = set()
    for pi, profile in enumerate(site.profiles):
        ppath = f"profiles[{pi}]"
        if profile.id in profile_seen:
            yield ConfigIssue(f"{ppath}.id", f"duplicate profile id {profile.id!r}")
        profile_seen.add(profile.id)
        if profile.target not in targets:
            yield ConfigIssue(
                f"{ppath}.target",
                f"unknown target {profile.target!r}{hint(profile.target, targets)}",
            )
    rated = {c.id: c.rated_class for c in site.clusters}
    for qi, quiet in enumerate(site.quiet_hours):
        qpath = f"quiet_hours[{qi}]"
        if quiet.id in profile_seen:
            yield ConfigIssue(f"{qpath}.id", f"duplicate profile or quiet-hours id {quiet.id!r}")
        profile_seen.add(quiet.id)
        if quiet.target != "all" and quiet.target not in rated:
            yield ConfigIssue(
                f"{qpath}.target",
                f"quiet hours apply to a cluster or all, not {quiet.target!r}"
                f"{hint(quiet.target, set(rated))}",
            )
            continue
        family = quiet.lighting_class[0]
        if quiet.target == "all" and not any(c[0] == family for c in rated.values()):
            yield ConfigIssue(f"{qpath}.class", f"no cluster is rated in class family {family}")
        for cid, cls in rated.items():
            if quiet.target == "all" and cls[0] != family:
                continue  # "all" means every cluster of the class's family
            if quiet.target not in ("all", cid):
                continue
            if cls[0] != family:
                yield ConfigIssue(
                    f"{qpath}.class",
                    f"class {quiet.lighting_class} is not in cluster {cid}'s family ({cls})",
                )
            elif LIGHTING_CLASSES[quiet.lighting_class] >= LIGHTING_CLASSES[cls]:
                yield ConfigIssue(
                    f"{qpath}.class",
                    f"class {quiet.lighting_class} is not below cluster {cid}'s rated {cls}",
                )
    daemon_id = site.mqtt.client_id or f"streetlight-{site.gateway_id}"
    node_ids = {**lamp_seen, **sensor_seen}
    if daemon_id in node_ids:  # a node's account would connect as the daemon (client id)
        yield ConfigIssue(
            node_ids[daemon_id],
            f"id {daemon_id!r} is the daemon's MQTT client id: a node of that name would take "
            "over the daemon's broker session",
        )
    port_seen: set[str] = set()
    for pi, port in enumerate(site.serial):
        if port.name in port_seen:
            yield ConfigIssue(f"serial[{pi}].name", f"duplicate serial port name {port.name!r}")
        port_seen.add(port.name)


def hint(word: str, choices: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""
