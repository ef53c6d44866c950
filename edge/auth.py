"""Signed commands and the command rate limit.

A command on ``<root>/cmd/<verb>`` carries ``"auth": {"ctr", "exp_ms", "mac"}`` where ``mac`` is
HMAC-SHA256, under a key shared by the daemon and the field engineers' CLI (a 0600 file), over
the topic, the canonical JSON of the rest of the request, the counter and the expiry:

    topic \\n canonical-json(request without "auth") \\n ctr \\n exp_ms

The daemon accepts a command only if the MAC matches, it has not expired (and its expiry is not
further ahead than ``command_ttl_s``), and its counter (the signer's clock in microseconds) is
within the window a live command can have, ``command_ttl_s`` + 5 s back to 5 s ahead of the
daemon's clock, and not one it has accepted in that window (it persists those, so a replay
is refused across restarts too). A counter beyond the window is refused (``ahead``): it
cannot lock later commands out. A token bucket caps the commands that passed, per key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, ConfigIssue, StreetlightError

__all__ = ["AuthError", "TokenBucket", "Verifier", "read_key", "sign"]

KEY_MIN_BYTES = 16
_FIELD = "security.command_key_file"


class AuthError(StreetlightError):
    """A command refused by authentication; ``code`` goes back in the reply."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


def _key_error(message: str) -> ConfigError:
    return ConfigError(_FIELD, [ConfigIssue(_FIELD, message)])


def read_key(path: Path) -> bytes:
    """The shared key: a file only its owner can read, 16+ bytes (hex text, or raw)."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise _key_error(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise _key_error(f"{path} is open to group or others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        key = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < KEY_MIN_BYTES:
        raise _key_error(f"the key in {path} is {len(key)} bytes; {KEY_MIN_BYTES} at least")
    return key


def _message(topic: str, request: dict[str, Any], ctr: int, exp_ms: int) -> bytes:
    body = json.dumps(request, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return f"{topic}\n{body}\n{ctr}\n{exp_ms}".encode()


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(
    key: bytes,
    topic: str,
    request: dict[str, Any],
    *,
    ttl_s: float = 30.0,
    now: float | None = None,
    ctr: int | None = None,
) -> dict[str, Any]:
    """``request`` with its ``auth`` block (the CLI's side)."""
    now = time.time() if now is None else now
    ctr = time.time_ns() // 1000 if ctr is None else ctr
    exp_ms = int((now + ttl_s) * 1000)
    mac = _mac(key, _message(topic, request, ctr, exp_ms))
    return {**request, "auth": {"ctr": ctr, "exp_ms": exp_ms, "mac": mac}}


#: Seconds the signer's and the daemon's clocks may differ.
SKEW_S = 5.0


class Verifier:
    """The daemon's side: MAC, then expiry, then the counter's window."""

    def __init__(self, key: bytes, *, ttl_s: float, seen: Iterable[int] = ()) -> None:
        self._key, self.ttl_s = key, ttl_s
        self._seen = set(seen)  # counters accepted within the window

    @property
    def seen(self) -> list[int]:
        """The counters accepted that a replay could still carry (to persist)."""
        return sorted(self._seen)

    def check(self, topic: str, request: dict[str, Any], now: float) -> int:
        """The accepted counter; AuthError (with a reply code) otherwise."""
        auth = request.get("auth")
        if not isinstance(auth, dict):
            raise AuthError("unauthenticated", "commands to this gateway must be signed")
        ctr, exp_ms, mac = auth.get("ctr"), auth.get("exp_ms"), auth.get("mac")
        if (
            not isinstance(ctr, int)
            or not isinstance(exp_ms, int)
            or isinstance(ctr, bool)
            or isinstance(exp_ms, bool)
            or not isinstance(mac, str)
        ):
            raise AuthError("bad_signature", "malformed auth block (ctr, exp_ms, mac)")
        body = {k: v for k, v in request.items() if k != "auth"}
        try:
            expected = _mac(self._key, _message(topic, body, ctr, exp_ms))
        except ValueError:  # NaN or infinity in the request: not canonical JSON
            raise AuthError("bad_signature", "the request is not canonical JSON") from None
        if not hmac.compare_digest(expected, mac):
            raise AuthError("bad_signature", "signature does not match (wrong key or altered)")
        left = exp_ms / 1000 - now
        if left <= 0:
            raise AuthError("expired", f"the command expired {-left:.1f} s ago")
        if left > self.ttl_s + 5:  # 5 s of clock skew allowed
            raise AuthError("expired", f"expiry {left:.0f} s ahead exceeds {self.ttl_s:g} s")
        low = int((now - self.ttl_s - SKEW_S) * 1e6)
        high = int((now + SKEW_S) * 1e6)
        if ctr > high:
            raise AuthError("ahead", f"counter {ctr} is ahead of this gateway's clock")
        if ctr < low or ctr in self._seen:
            raise AuthError("replayed", f"counter {ctr} was used or is too old")
        self._seen = {c for c in self._seen if c >= low}
        self._seen.add(ctr)
        return ctr


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0 and math.isfinite(self._tokens):
            self._tokens -= 1.0
            return True
        return False
