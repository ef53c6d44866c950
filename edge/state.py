"""Durable daemon state in one small SQLite file: energy checkpoints, lease seq marks, overrides.

Besides the key-value table, ``energy_history`` keeps a snapshot of the cumulative energy
totals every ``energy.history_s`` (hourly by default), so ``streetlight energy --since`` can
answer "how much since Monday" as the difference of two snapshots.

Values are JSON. Writes are single transactions with synchronous FULL, so a power cut leaves
the previous value or the new one, never a torn mix.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from edge._sqlite import open_store

__all__ = ["StateStore"]

log = logging.getLogger("streetlight.state")


_SETUP = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS energy_history (t REAL PRIMARY KEY, totals TEXT NOT NULL);
"""


class StateStore:
    """A key-value table of JSON values, mirrored after every write into ``<name>.json``
    beside it (written whole, then renamed over the old one): when the database is found
    damaged it is moved aside and the values come back from the mirror (the energy history
    does not); when the directory cannot be used the store lives in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mirror = path.with_suffix(".json")
        self.opened = open_store(path, _SETUP, what="state")
        self._db = self.opened.db
        self.write_errors = 0
        self._last_error_log = -math.inf
        self.restored = self._restore() if self.opened.problem or not self._keys() else 0

    def _keys(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM state").fetchone()[0])

    def _restore(self) -> int:
        """Values from the mirror into an empty store; how many."""
        try:
            values = json.loads(self.mirror.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.error("state mirror %s unreadable (%s): not restored", self.mirror, exc)
            return 0
        if not isinstance(values, dict) or not values:
            return 0
        if self.put(**values):
            log.warning("state restored from %s: %s", self.mirror, ", ".join(values))
            return len(values)
        return 0

    def _write_mirror(self) -> None:
        """Every value, as one JSON object, replacing the mirror in one rename."""
        if not self.opened.persistent:
            return
        rows = self._db.execute("SELECT key, value FROM state").fetchall()
        text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in rows) + "}"
        tmp = self.mirror.with_name(self.mirror.name + ".tmp")
        try:
            with tmp.open("w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.mirror)
        except OSError as exc:
            self.write_errors += 1
            self._refused("the mirror", sqlite3.OperationalError(str(exc)))

    def close(self) -> None:
        self._db.close()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.error("state %s: cannot read %s (%s)", self.path, key, exc)
            return default
        return default if row is None else json.loads(row[0])

    def put(self, **values: Any) -> bool:
        """Store every key=value in one transaction; False (logged, counted) if the disk refused."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [(k, json.dumps(v, separators=(",", ":"))) for k, v in values.items()],
                )
        except sqlite3.Error as exc:
            self._refused(", ".join(values), exc)
            return False
        self._write_mirror()
        return True

    def _refused(self, what: str, exc: sqlite3.Error) -> None:
        """Count every refused write; log at most one a minute (a full disk refuses each tick)."""
        self.write_errors += 1
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            log.error(
                "state %s: cannot write %s (%s); %d writes refused so far",
                self.path, what, exc, self.write_errors,
            )  # fmt: skip

    def record_energy(self, t: float, totals: dict[str, list[float]], *, keep_s: float) -> bool:
        """Append a snapshot of the cumulative totals at ``t``; drop those older than keep_s."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR REPLACE INTO energy_history (t, totals) VALUES (?, ?)",
                    (t, json.dumps(totals, separators=(",", ":"))),
                )
                self._db.execute("DELETE FROM energy_history WHERE t < ?", (t - keep_s,))
        except sqlite3.Error as exc:
            self._refused("energy history", exc)
            return False
        return True

    def energy_at(self, t: float) -> tuple[float, dict[str, list[float]]] | None:
        """The last snapshot taken at or before ``t`` or, when history starts later, the first."""
        row = self._db.execute(
            "SELECT t, totals FROM energy_history WHERE t <= ? ORDER BY t DESC LIMIT 1", (t,)
        ).fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT t, totals FROM energy_history ORDER BY t ASC LIMIT 1"
            ).fetchone()
        return None if row is None else (float(row[0]), json.loads(row[1]))

    def last_energy_time(self) -> float | None:
        row = self._db.execute("SELECT MAX(t) FROM energy_history").fetchone()
        return None if row is None or row[0] is None else float(row[0])
