"""The SQLite outbox: telemetry and events are committed here before they are published.

At-least-once: a record is deleted only after the broker's PUBACK. Every record carries
(gateway_id, boot_id, seq), seq counting up from 0 each boot, so consumers deduplicate.
Behind a bridge (``keep_acked_s`` > 0) a PUBACK only means the cabinet's broker has it: the
record is kept that long after its PUBACK, and ``replay()`` makes the recent ones pending again
when the bridge reports it went down (it may have lost what it was forwarding).
The outbox has a byte cap: when a record would not fit, it drops the lowest priority, then
the oldest, counts the drops and leaves one gap marker (an ``outbox_gap`` event naming what
was lost) at the head of the queue. A failing disk never raises into the caller: the lamp
control loop carries on, and the drop is counted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge._sqlite import open_store

__all__ = ["PRIORITY", "Outbox", "OutboxRecord"]

log = logging.getLogger("streetlight.outbox")

#: Higher survives longer when the outbox is full.
PRIORITY = {"traffic": 1, "info": 1, "energy": 2, "warning": 2, "critical": 3, "gap": 4}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    priority INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    size INTEGER NOT NULL,
    acked_at REAL  -- NULL: pending; else kept after its PUBACK until keep_acked_s passes
);
CREATE INDEX IF NOT EXISTS outbox_drop ON outbox (priority, id);
"""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    topic: str
    payload: bytes


class Outbox:
    """One SQLite file (WAL). ``put`` from the control loop; ``peek``/``ack`` from the drain."""

    def __init__(
        self,
        path: Path,
        *,
        gateway_id: str,
        boot_id: str,
        max_bytes: int = 64 * 1024 * 1024,
        event_topic: str = "event",
        synchronous: str = "FULL",
        keep_acked_s: float = 0.0,
    ) -> None:
        self.path, self.gateway_id, self.boot_id = path, gateway_id, boot_id
        self.max_bytes, self.event_topic = max_bytes, event_topic
        self.keep_acked_s = keep_acked_s
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        setup = f"PRAGMA journal_mode=WAL;\nPRAGMA synchronous={synchronous};\n{_SCHEMA}"
        # damaged: moved aside, a fresh outbox; a directory that cannot be used: in memory
        self.opened = open_store(path, setup, what="outbox")
        self._db = self.opened.db
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "acked_at" not in columns:  # an outbox.db from before bridges were supported
            self._db.execute("ALTER TABLE outbox ADD COLUMN acked_at REAL")
        self.seq = 0
        self.dropped = 0  # records dropped for space or by a failing disk, since start
        self.write_errors = 0
        self.delivered = 0
        self.replayed = 0  # records sent again after the bridge went down
        self.epoch = 0  # one more each replay: PUBACKs for a publish begun before it are void
        self.depth = self.bytes = 0  # pending records
        self.kept = self.kept_bytes = 0  # acknowledged, kept for a replay
        self._last_purge = 0.0
        self._recount()
        self._last_error_log = 0.0
        # (count, first seq, last seq) the disk refused, not yet announced by a gap marker
        self._refused: tuple[int, int, int] | None = None

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ writing
    def put(self, topic: str, record: dict[str, Any], *, priority: int = 1) -> int | None:
        """Commit ``record`` (stamped with gateway_id, boot_id, seq) for ``topic``.

        Returns its seq, or None when it could not be stored (counted in ``dropped``)."""
        return self.put_many([(topic, record, priority)])[0]

    def put_many(self, items: Sequence[tuple[str, dict[str, Any], int]]) -> list[int | None]:
        """Commit records (topic, record, priority), each stamped like ``put``'s, in one
        transaction: one sync to disk for a step's many events. Their seqs; all None when the
        disk refused them (each counted in ``dropped``)."""
        if not items:
            return []
        seq_before, dropped_before, refused_before = self.seq, self.dropped, self._refused
        seqs: list[int | None] = []
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for topic, record, priority in items:
                    body = {**record, "gateway_id": self.gateway_id, "boot_id": self.boot_id}
                    guess = len(json.dumps(body, separators=(",", ":"))) + 20 + len(topic) + 64
                    self._make_room(guess)  # may spend a seq on a gap marker
                    if self._refused:  # the disk refused records earlier: say so now it takes one
                        count, first, last = self._refused
                        self._mark_gap([first, last], count, "disk refused")
                        self._refused = None
                    seq = self.seq
                    payload = json.dumps({**body, "seq": seq}, separators=(",", ":")).encode()
                    self._insert(topic, payload, priority, seq, len(payload) + len(topic) + 64)
                    self.seq = seq + 1
                    seqs.append(seq)
        except sqlite3.Error as exc:
            self._disk_trouble(exc)
            # Rolled back: whatever room-making or marker the transaction did is undone.
            self._recount()
            n = len(items)
            self.seq, self.dropped = seq_before + n, dropped_before + n  # the seqs are spent
            count, first, _ = refused_before or (0, seq_before, seq_before)
            self._refused = (count + n, first, seq_before + n - 1)
            return [None] * n
        return seqs

    def _recount(self) -> None:
        try:
            rows = self._db.execute(
                "SELECT acked_at IS NULL, count(*), coalesce(sum(size), 0) FROM outbox "
                "GROUP BY acked_at IS NULL"
            ).fetchall()
        except sqlite3.Error:
            return
        counts = {bool(r[0]): (int(r[1]), int(r[2])) for r in rows}
        self.depth, self.bytes = counts.get(True, (0, 0))
        self.kept, self.kept_bytes = counts.get(False, (0, 0))

    def _insert(self, topic: str, payload: bytes, priority: int, seq: int, size: int) -> None:
        self._db.execute(
            "INSERT INTO outbox (topic, payload, priority, boot_id, seq, size) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (topic, payload, priority, self.boot_id, seq, size),
        )
        self.depth += 1
        self.bytes += size

    def _make_room(self, size: int) -> None:
        if self.bytes + self.kept_bytes + size <= self.max_bytes:
            return
        if self.kept:  # delivered once already: the first to go
            self._db.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL")
            self.kept = self.kept_bytes = 0
            if self.bytes + size <= self.max_bytes:
                return
        lost: list[tuple[str, int, int, int]] = []  # boot_id, seq, size, id
        need = self.bytes + size + 512 - self.max_bytes  # 512: room for the gap marker
        rows = self._db.execute(
            "SELECT boot_id, seq, size, id FROM outbox WHERE priority < ? AND acked_at IS NULL "
            "ORDER BY priority, id",
            (PRIORITY["gap"],),
        )
        for row in rows:
            lost.append(row)
            need -= row[2]
            if need <= 0:
                break
        if not lost:
            return
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(r[3],) for r in lost])
        self.depth -= len(lost)
        self.bytes -= sum(r[2] for r in lost)
        self.dropped += len(lost)
        self._mark_gap([r[1] for r in lost if r[0] == self.boot_id], len(lost), "outbox full")

    def _mark_gap(self, seqs: list[int], count: int, why: str) -> None:
        """One undelivered gap marker at most: a new loss updates it.

        ``seqs`` are this boot's lost seqs (or just the first and last), ``count`` how many
        records were lost, ``why`` "outbox full" or "disk refused"."""
        row = self._db.execute(
            "SELECT id, payload FROM outbox WHERE priority = ? AND acked_at IS NULL "
            "ORDER BY id LIMIT 1",
            (PRIORITY["gap"],),
        ).fetchone()
        if row is not None:
            marker = json.loads(row[1])
            data = marker["data"]
            data["dropped"] += count
            data["reasons"] = sorted({*data.get("reasons", []), why})
            if seqs:
                known = [s for s in (data["first_seq"], data["last_seq"]) if s is not None]
                data["first_seq"], data["last_seq"] = min(known + seqs), max(known + seqs)
            marker["message"] = f"{data['dropped']} records dropped ({', '.join(data['reasons'])})"
            self._db.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?",
                (json.dumps(marker, separators=(",", ":")).encode(), row[0]),
            )
            return
        seq = self.seq
        self.seq += 1
        marker = {
            "v": 1,
            "t": time.time(),
            "kind": "outbox_gap",
            "subject": self.gateway_id,
            "severity": "warning",
            "message": f"{count} records dropped ({why})",
            "data": {
                "dropped": count,
                "first_seq": min(seqs) if seqs else None,
                "last_seq": max(seqs) if seqs else None,
                "reasons": [why],
            },
            "gateway_id": self.gateway_id,
            "boot_id": self.boot_id,
            "seq": seq,
        }
        payload = json.dumps(marker, separators=(",", ":")).encode()
        topic = self.event_topic
        self._insert(topic, payload, PRIORITY["gap"], seq, len(payload) + len(topic) + 64)

    def _disk_trouble(self, exc: sqlite3.Error) -> None:
        self.write_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            log.error("outbox %s: cannot store a record (%s); dropping it", self.path, exc)

    # ------------------------------------------------------------------ reading
    def peek(self, limit: int = 100) -> list[OutboxRecord]:
        """The oldest undelivered records, in commit order."""
        try:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE acked_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        except sqlite3.Error as exc:
            self._disk_trouble(exc)
            return []
        return [OutboxRecord(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def ack(self, ids: list[int], now: float | None = None, *, epoch: int | None = None) -> None:
        """Records the broker acknowledged: deleted, or kept ``keep_acked_s`` for a replay.

        ``epoch``: ``self.epoch`` when their publish began. A replay since then (the bridge went
        down meanwhile) voids the PUBACKs: the records stay pending and go again."""
        if not ids or (epoch is not None and epoch != self.epoch):
            return
        now = time.time() if now is None else now
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                marks = ",".join("?" * len(ids))
                row = self._db.execute(
                    "SELECT count(*), coalesce(sum(size), 0) FROM outbox "
                    f"WHERE acked_at IS NULL AND id IN ({marks})",
                    ids,
                ).fetchone()
                if self.keep_acked_s > 0:
                    self._db.execute(
                        "UPDATE outbox SET acked_at = ? "
                        f"WHERE acked_at IS NULL AND id IN ({marks})",
                        [now, *ids],
                    )
                else:
                    self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
        except sqlite3.Error as exc:
            self._disk_trouble(exc)  # delivered again later: at-least-once allows it
            return
        self.depth -= int(row[0])
        self.bytes -= int(row[1])
        self.delivered += int(row[0])
        if self.keep_acked_s > 0:
            self.kept += int(row[0])
            self.kept_bytes += int(row[1])
            if now - self._last_purge > min(10.0, self.keep_acked_s):
                self._purge(now)

    def _purge(self, now: float) -> None:
        """Forget records acknowledged more than ``keep_acked_s`` ago."""
        self._last_purge = now
        try:
            self._db.execute(
                "DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?",
                (now - self.keep_acked_s,),
            )
        except sqlite3.Error as exc:
            self._disk_trouble(exc)
        self._recount()

    def replay(self, now: float | None = None) -> int:
        """The bridge went down: records acknowledged in the last ``keep_acked_s`` are pending
        again (sent again, in seq order, when it is back). Returns how many."""
        if self.keep_acked_s <= 0:
            return 0
        now = time.time() if now is None else now
        try:
            cur = self._db.execute(
                "UPDATE outbox SET acked_at = NULL WHERE acked_at IS NOT NULL AND acked_at >= ?",
                (now - self.keep_acked_s,),
            )
        except sqlite3.Error as exc:
            self._disk_trouble(exc)
            return 0
        self.replayed += cur.rowcount
        self.epoch += 1
        self._purge(now)
        return int(cur.rowcount)

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
