"""Commands on ``<root>/cmd/<verb>``: MQTT v5 request/response for the field-engineer CLI.

A request is ``{"v": 1, "args": {...}}`` with a Response Topic and Correlation Data; the reply
is ``{"v": 1, "ok": true, "result": {...}}`` or ``{"v": 1, "ok": false, "error": {"code",
"message", "suggestions"}}``. Read commands touch nothing; override and clear change the
running policy and are persisted, so they outlive a restart (and always expire).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from edge._version import __version__
from edge.auth import AuthError, TokenBucket, Verifier, read_key
from edge.control import Override, explain, layer_problem
from edge.daemon._command_args import (
    MAX_OVERRIDE_S,
    CommandError,
    iso_time,
    number,
    parse_since,
)
from edge.daemon._command_reads import cluster_rows, lamps_result, status_result
from edge.daemon._publish import (
    ENERGY_COLUMNS,
    FULL,
    LEDGER,
    METERED,
    METERED_MODEL,
    MODELLED,
    SCHEDULE,
    energy_row,
)
from edge.daemon._seams import CommandHost
from edge.errors import UnknownIdError
from edge.mqtt import Inbound, NotConnectedError, PublishTimeoutError
from edge.replies import ClustersResult, dump

__all__ = ["Commands"]

log = logging.getLogger("streetlight.daemon")


class Commands:
    """The verbs a running daemon answers."""

    def __init__(self, daemon: CommandHost) -> None:
        self.d = daemon
        sec = daemon.site.security
        self.bucket = TokenBucket(sec.commands_per_s, sec.command_burst)
        self._refusal_window, self._refusals = -math.inf, 0
        self.verifier: Verifier | None = None
        if sec.command_key_file is not None:
            seen = [int(c) for c in daemon.state.get("command_ctrs", []) or []]
            key = read_key(sec.command_key_file)
            self.verifier = Verifier(key, ttl_s=sec.command_ttl_s, seen=seen)
        else:
            log.warning(
                "commands are not authenticated: set security.command_key_file (docs/security.md)"
            )
        self.table: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ping": self.ping,
            "status": self.status,
            "clusters": self.clusters,
            "lamps": self.lamps,
            "energy": self.energy,
            "explain": self.explain,
            "override": self.override,
            "overrides": self.overrides,
            "clear": self.clear,
        }

    async def answer(self, verb: str, msg: Inbound) -> None:
        """Run one request and publish its reply to the request's Response Topic."""
        d = self.d
        if msg.retain:
            # A retained command would replay at every subscribe: never act on one.
            d.count_ingest("mqtt", "command", "retained")
            return
        if not msg.payload:  # someone clearing a retained command: not a request
            d.count_ingest("mqtt", "command", "cleared")
            return
        reply: dict[str, Any]
        try:
            if len(msg.payload) > d.site.mqtt.max_payload_bytes:
                raise CommandError("oversized", f"{len(msg.payload)} bytes")
            try:
                request = json.loads(msg.payload)
            except ValueError:
                raise CommandError("not_json", "the request is not JSON") from None
            if not isinstance(request, dict):
                raise CommandError("invalid", 'expected {"v": 1, "args": {...}}')
            self._authenticate(msg.topic, request)
            if request.get("v") != 1:  # a request must say which schema it speaks
                raise CommandError("version", f"schema version {request.get('v')!r}, expected 1")
            # after authentication: junk and forgeries cost a counter, never a valid
            # command's turn (with a key, the bucket is that key's)
            if not self.bucket.take():
                raise CommandError("rate_limited", "too many commands; try again in a second")
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise CommandError("invalid", "args must be an object")
            reply = {"v": 1, "ok": True, "result": self.handle(verb, args)}
            d.count_ingest("mqtt", "command", "ok")
        except CommandError as err:
            d.count_ingest("mqtt", "command", err.code)
            error = {"code": err.code, "message": err.message, "suggestions": err.suggestions}
            reply = {"v": 1, "ok": False, "error": error}
        except Exception as exc:  # a bug in a command: answer, log, keep serving
            log.exception("command %s failed", verb)
            d.count_ingest("mqtt", "command", "internal")
            error = {"code": "internal", "message": f"{verb} failed: {exc!r}", "suggestions": []}
            reply = {"v": 1, "ok": False, "error": error}
        if msg.response_topic and self.reply_allowed(msg.response_topic):
            with contextlib.suppress(NotConnectedError, PublishTimeoutError):
                await d.mqtt.publish(msg.response_topic, json.dumps(reply).encode(), qos=1,
                                     correlation=msg.correlation)  # fmt: skip

    def reply_allowed(self, topic: str) -> bool:
        """Replies go under ``<root>/reply/`` only: a request must not make the daemon publish
        on a lamp's setpoint or any other topic it owns (a confused deputy)."""
        prefix = f"{self.d.root}/reply/"
        return topic.startswith(prefix) and len(topic) > len(prefix) and "+" not in topic

    def _authenticate(self, topic: str, request: dict[str, Any]) -> None:
        if self.verifier is None:
            return
        try:
            self.verifier.check(topic, request, time.time())  # wall time, not virtual
        except AuthError as err:
            if self._refusals_to_report():
                self.d.record_event(
                    kind="command_refused", subject=topic.rsplit("/", 1)[-1],
                    severity="warning", message=f"command refused: {err.code}",
                    data={"code": err.code},
                )  # fmt: skip
            raise CommandError(err.code, err.message) from None
        self.d.state.put(command_ctrs=self.verifier.seen)  # a replay fails after a restart too

    def _refusals_to_report(self) -> bool:
        """An event for the first refusals of a burst, not one per forged message."""
        now = time.monotonic()
        if now - self._refusal_window > 60:
            self._refusal_window, self._refusals = now, 0
        self._refusals += 1
        return self._refusals <= 3

    def handle(self, verb: str, args: dict[str, Any]) -> dict[str, Any]:
        command = self.table.get(verb)
        if command is None:
            raise CommandError("unknown_verb", f"unknown command {verb!r}", sorted(self.table))
        try:
            return command(args)
        except UnknownIdError as exc:
            raise CommandError("unknown_id", str(exc), exc.suggestions) from None
        except (ValueError, TypeError) as exc:
            raise CommandError("invalid", str(exc)) from None

    # -------------------------------------------------------------------- reads
    def ping(self, args: dict[str, Any]) -> dict[str, Any]:
        d = self.d
        return {"boot_id": d.boot_id, "version": __version__, "t": d.clock.time()}

    def clusters(self, args: dict[str, Any]) -> dict[str, Any]:
        return dump(ClustersResult(clusters=cluster_rows(self.d)))

    def status(self, args: dict[str, Any]) -> dict[str, Any]:
        return dump(status_result(self.d))

    def lamps(self, args: dict[str, Any]) -> dict[str, Any]:
        cluster = args.get("cluster")
        return dump(lamps_result(self.d, None if cluster is None else str(cluster)))

    def energy(self, args: dict[str, Any]) -> dict[str, Any]:
        """Totals since the first boot or, with ``since``, the difference from a snapshot."""
        d = self.d
        e = d.site.energy
        now = d.clock.time()
        tz = d.site.site.zone
        # Clusters removed from the config keep their history but are not reported.
        current = {c: v for c, v in d.energy.as_dict().items() if c in d.energy.clusters}
        since_label = "first boot"
        extra: dict[str, Any] = {}
        if args.get("since") not in (None, ""):
            asked = parse_since(str(args["since"]), now, tz)
            snap = d.state.energy_at(asked)
            if snap is None:  # nothing recorded yet: everything so far is "since"
                snap = (now, current)
            t0, before = snap
            since_label = iso_time(t0, tz)
            extra = {"requested_since": iso_time(asked, tz), "history_starts_later": t0 > asked}
            current = {
                c: [a - b for a, b in zip(v, energy_row(before.get(c)), strict=True)]
                for c, v in current.items()
            }

        def kwh(v: list[float]) -> dict[str, float]:
            return {
                "kwh": round(v[LEDGER] / 1000, 4),
                "modelled_kwh": round(v[MODELLED] / 1000, 4),
                "metered_kwh": round(v[METERED] / 1000, 4),
                "meter_difference_kwh": round((v[METERED] - v[METERED_MODEL]) / 1000, 4),
                "baseline_full_kwh": round(v[FULL] / 1000, 4),
                "baseline_schedule_kwh": round(v[SCHEDULE] / 1000, 4),
            }

        per = {cid: kwh(v) for cid, v in current.items()}
        sums = [sum(v[i] for v in current.values()) for i in range(ENERGY_COLUMNS)]
        total, full, sched = sums[LEDGER] / 1000, sums[FULL] / 1000, sums[SCHEDULE] / 1000
        return {
            "since": since_label,
            **extra,
            **kwh(sums),
            "saved_vs_full": round(1 - total / full, 4) if full else 0.0,
            "saved_vs_schedule": round(1 - total / sched, 4) if sched else 0.0,
            "co2_saved_kg": round((full - total) * e.co2_kg_per_kwh, 3),
            "cost_saved": round((full - total) * e.price_per_kwh, 2),
            "currency": e.currency,
            "clusters": per,
        }

    def explain(self, args: dict[str, Any]) -> dict[str, Any]:
        lamp = str(args.get("lamp", ""))
        why = explain(self.d.controller, lamp)
        data = dataclasses.asdict(why)
        zone = self.d.site.site.zone
        return {"explanation": _finite(data), "lines": why.lines(lambda t: iso_time(t, zone))}

    # ------------------------------------------------------------------- writes
    def override(self, args: dict[str, Any]) -> dict[str, Any]:
        d = self.d
        ctrl = d.controller
        target = str(args.get("target", ""))
        level = number(args, "level")
        op = str(args.get("op", "set"))
        for_s = number(args, "for_s")
        allow_dark = bool(args.get("allow_dark", False))
        problem = layer_problem(op, level)
        if problem is not None:
            raise CommandError("invalid", problem)
        if not 0 < for_s <= MAX_OVERRIDE_S:
            raise CommandError("invalid", f"for_s {for_s:g} must be in (0, {MAX_OVERRIDE_S:g}]")
        sel = ctrl.select(target)
        floor = ctrl.site.lamps.floor if sel is None else ctrl.site.lamps.floor[sel]
        if op in ("set", "min") and level < float(floor.max()) and not allow_dark:
            raise CommandError(
                "needs_allow_dark",
                f"level {level:.0%} is below the night floor ({float(floor.max()):.0%}) of "
                f"{target}; pass --allow-dark to dim below it (logged as an event)",
            )
        now = d.clock.time()
        oid = str(args.get("id") or f"ovr-{int(now)}-{target}")
        override = Override(
            id=oid, target=target, op=op, level=level, expires_at=now + for_s,  # type: ignore[arg-type]
            created_at=now, allow_dark=allow_dark, reason=str(args.get("reason", ""))[:200],
        )  # fmt: skip
        ctrl.add_override(override)
        d.overrides_changed()
        d.record_event(
            kind="override_set",
            subject=target,
            severity="warning" if allow_dark else "info",
            message=f"override {oid}: {op} {level:.0%} on {target} for {for_s:g} s"
            + (" (allow-dark)" if allow_dark else "")
            + (f": {override.reason}" if override.reason else ""),
            data={"override": dataclasses.asdict(override)},
        )
        return {"override": dataclasses.asdict(override)}

    def overrides(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"overrides": [dataclasses.asdict(o) for o in self.d.controller.overrides]}

    def clear(self, args: dict[str, Any]) -> dict[str, Any]:
        key = str(args.get("key", ""))
        gone = self.d.controller.clear_override(key)
        if not gone:
            ids = [o.id for o in self.d.controller.overrides]
            raise CommandError("unknown_id", f"no override with id or target {key!r}", ids)
        self.d.overrides_changed()
        for o in gone:
            self.d.record_event(
                kind="override_cleared", subject=o.target, severity="info",
                message=f"override {o.id} cleared", data={"id": o.id},
            )  # fmt: skip
        return {"cleared": [o.id for o in gone]}


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: an open-ended boost says null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()
    }
