"""Durable daemon state in one small SQLite file: energy checkpoints, lease seq marks, overrides.

Values are JSON. Writes are single transactions with synchronous FULL, so a power cut leaves
the previous value or the new one, never a torn mix.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["StateStore"]

log = logging.getLogger("streetlight.state")


class StateStore:
    """A key-value table of JSON values."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")
        self.write_errors = 0

    def close(self) -> None:
        self._db.close()

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
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
            self.write_errors += 1
            log.error("state %s: cannot write %s (%s)", self.path, ", ".join(values), exc)
            return False
        return True
