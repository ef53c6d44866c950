"""Opening the daemon's SQLite files so that a damaged file or an unusable directory never
stops lamp control: a damaged file is moved aside and a fresh one made, a directory that
cannot be written gives an in-memory database (the daemon runs without persistence)."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Opened", "open_store"]

log = logging.getLogger("streetlight.state")


@dataclass(frozen=True, slots=True)
class Opened:
    """A connection and what it took to get it: ``problem`` is "" when the file opened as
    it was, else ``damaged`` (moved aside to ``moved_to``) or ``unavailable``."""

    db: sqlite3.Connection
    problem: str = ""
    detail: str = ""
    moved_to: Path | None = None

    @property
    def persistent(self) -> bool:
        return self.problem != "unavailable"


def _connect(path: Path | str, setup: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
        db.executescript(setup)
    except BaseException:
        db.close()
        raise
    return db


def open_store(path: Path, setup: str, *, what: str) -> Opened:
    """Open (or create) ``path`` and run ``setup`` (pragmas, schema) on it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Opened(_connect(path, setup))
    except sqlite3.OperationalError as exc:  # cannot open or write: not the file's fault
        return _in_memory(path, setup, what, f"{type(exc).__name__}: {exc}")
    except sqlite3.DatabaseError as exc:  # not a database, malformed, torn
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        moved = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            path.rename(moved)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.rename(moved.with_name(moved.name + suffix))
            db = _connect(path, setup)
        except (OSError, sqlite3.Error) as again:
            return _in_memory(path, setup, what, f"damaged ({exc}) and {again}")
        log.error("%s %s was damaged (%s): moved aside to %s, started afresh",
                  what, path, exc, moved)  # fmt: skip
        return Opened(db, "damaged", str(exc), moved)
    except OSError as exc:
        return _in_memory(path, setup, what, f"{type(exc).__name__}: {exc}")


def _in_memory(path: Path, setup: str, what: str, why: str) -> Opened:
    log.error("%s %s cannot be used (%s): running without persistence, in memory",
              what, path, why)  # fmt: skip
    return Opened(_connect(":memory:", setup), "unavailable", why)
