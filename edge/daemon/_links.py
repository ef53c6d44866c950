"""What the daemon reports about its serial links: metrics snapshots and node liveness events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from edge.metrics import LinkSnapshot
from firmware_bridge.link import NODE_GONE_S, SerialLink

__all__ = ["link_snapshots", "node_events"]


def link_snapshots(links: Mapping[str, SerialLink]) -> tuple[LinkSnapshot, ...]:
    return tuple(
        LinkSnapshot(
            port=name,
            up=link.connected.is_set(),
            frames_ok=link.deframer.frames_ok,
            rejected=dict(link.deframer.rejected),
            reopens=max(0, link.stats.opens - 1),
            retransmissions=link.stats.retries,
            lost=link.stats.lost,
            duplicates=link.stats.duplicates,
            nodes_heard=len(link.nodes) - len(link.gone),
            nodes_gone=len(link.gone),
        )
        for name, link in links.items()
    )


def node_events(links: Mapping[str, SerialLink]) -> Iterator[dict[str, Any]]:
    """An event's fields for each node that fell silent for NODE_GONE_S since the last call
    (gone), or was heard again after it had gone (back)."""
    for name, link in links.items():
        gone, back = link.check_nodes()
        for node in gone:
            yield {
                "kind": "serial_node_gone", "subject": f"{name}/{node}", "severity": "warning",
                "message": f"serial node {node} on {name} silent for {NODE_GONE_S:g} s: gone "
                "(its sensors count as silent, its lamp holds its lease, then fails safe)",
                "data": {"port": name, "node": node},
            }  # fmt: skip
        for node in back:
            yield {
                "kind": "serial_node_back", "subject": f"{name}/{node}", "severity": "info",
                "message": f"serial node {node} on {name} heard again",
                "data": {"port": name, "node": node},
            }  # fmt: skip
