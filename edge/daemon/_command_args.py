"""Commands' arguments: the error a command answers with, numbers, and ``since`` times."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.errors import StreetlightError

__all__ = ["MAX_OVERRIDE_S", "CommandError", "iso_time", "number", "parse_since"]


#: Overrides always expire; a week is the longest a field engineer can ask for.
MAX_OVERRIDE_S = 7 * 24 * 3600.0


class CommandError(StreetlightError):
    """A command the daemon refused; ``code`` goes back in the reply."""

    def __init__(self, code: str, message: str, suggestions: list[str] | None = None) -> None:
        self.code, self.message, self.suggestions = code, message, suggestions or []
        super().__init__(message)


def number(args: dict[str, Any], key: str, *, default: float | None = None) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError("invalid", f"{key} must be a number, not {value!r}")
    return float(value)


_SINCE_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_since(text: str, now: float, tz: ZoneInfo) -> float:
    """``7d``/``24h``/``1d12h`` ago, a date (local midnight) or an ISO time (local if naive)."""
    text = text.strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)([wdhms])", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return now - sum(float(n) * _SINCE_UNITS[u] for n, u in parts)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            when = datetime.combine(date.fromisoformat(text), datetime.min.time(), tz)
        else:
            when = datetime.fromisoformat(text)
            when = when if when.tzinfo else when.replace(tzinfo=tz)
    except ValueError:
        raise CommandError(
            "invalid",
            f"since {text!r} is not a duration (7d, 24h), a date (2026-11-01) or an ISO time",
        ) from None
    t = when.timestamp()
    if t > now:
        raise CommandError("invalid", f"since {text!r} is in the future")
    return t


def iso_time(t: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")
