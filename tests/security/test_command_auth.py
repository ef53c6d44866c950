"""Signed commands: forged, replayed, expired and altered commands are refused, each with its
reason counted; the rate limit holds under a flood; a replay is refused after a restart too."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from edge.auth import TokenBucket, Verifier, _message, read_key, sign
from edge.clock import Clock
from edge.config import SiteConfig, example_config_path, load_config
from edge.daemon import Daemon
from edge.errors import ConfigError
from edge.mqtt import Inbound
from tests.conftest import REPO
from tests.helpers.gateway import NIGHT

ROOT = "streetlight/v1/cabinet-0417"
TOPIC = f"{ROOT}/cmd/override"


def _key(path: Path, key: bytes) -> Path:
    path.write_text(key.hex() + "\n")
    path.chmod(0o600)
    return path


def _site(tmp: Path, key_file: Path, **security: object) -> SiteConfig:
    site = load_config(example_config_path())
    sec = site.security.model_copy(update={"command_key_file": key_file, **security})
    storage = site.storage.model_copy(update={"state_dir": tmp / "state"})
    return site.model_copy(update={"security": sec, "storage": storage})


class _Gateway:
    """A daemon that is not running: its command path, with every counted result kept."""

    def __init__(self, site: SiteConfig) -> None:
        self.daemon = Daemon(site, clock=Clock(speed=1.0, start=NIGHT))
        self.results: Counter[str] = Counter()
        self.daemon.count_ingest = lambda s, k, r: self.results.update([r])  # type: ignore[method-assign]

    def send(
        self, loop: asyncio.AbstractEventLoop, topic: str, body: dict[str, object] | bytes
    ) -> str:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        before = self.results.copy()
        verb = topic.rsplit("/", 1)[-1]
        loop.run_until_complete(
            self.daemon.commands.answer(verb, Inbound(topic=topic, payload=payload))
        )
        (code,) = list((self.results - before).elements())
        return code

    def close(self) -> None:
        self.daemon.outbox.close()
        self.daemon.state.close()


def _override(level: float = 0.9, target: str = "residential") -> dict[str, object]:
    return {"v": 1, "args": {"target": target, "level": level, "for_s": 600}}


def _replay_refused_after_restart(site: SiteConfig, key: bytes, replay: dict[str, object]) -> None:
    """A new daemon on the same state: ``replay`` is refused, a fresh command accepted."""
    again = _Gateway(site)
    loop = asyncio.new_event_loop()
    try:
        assert again.send(loop, TOPIC, replay) == "replayed"
        assert again.send(loop, TOPIC, sign(key, TOPIC, _override())) == "ok"
    finally:
        loop.close()
        again.close()


def test_ten_thousand_forged_replayed_and_expired_commands_are_all_refused(tmp_path: Path) -> None:
    key = os.urandom(32)
    site = _site(tmp_path, _key(tmp_path / "cmd.key", key), commands_per_s=1e9, command_burst=10**9)
    gw = _Gateway(site)
    loop = asyncio.new_event_loop()
    try:
        genuine = sign(key, TOPIC, _override())
        assert gw.send(loop, TOPIC, genuine) == "ok"
        accepted_overrides = len(gw.daemon.controller.overrides)
        assert accepted_overrides == 1
        wrong_key = os.urandom(32)
        now = time.time()
        makers = {
            "unauthenticated": lambda i: _override(),
            "bad_signature/wrong key": lambda i: sign(wrong_key, TOPIC, _override()),
            "bad_signature/altered": lambda i: {
                **sign(key, TOPIC, _override(0.5)),
                "args": _override(0.0)["args"],
            },
            "bad_signature/other verb": lambda i: sign(key, f"{ROOT}/cmd/clear", _override()),
            "bad_signature/malformed": lambda i: {
                **_override(),
                "auth": {"ctr": "1", "exp_ms": 2, "mac": 3},
            },
            "expired/past": lambda i: sign(key, TOPIC, _override(), now=now - 120),
            "expired/far future": lambda i: sign(key, TOPIC, _override(), ttl_s=3600),
            "replayed": lambda i: genuine,
            "replayed/old counter": lambda i: sign(key, TOPIC, _override(), ctr=i),
        }
        codes: Counter[str] = Counter()
        expected = {name: name.split("/")[0] for name in makers}
        n = 0
        while n < 10_000:
            for name, make in makers.items():
                code = gw.send(loop, TOPIC, make(n))
                assert code == expected[name], (name, code)
                codes[code] += 1
                n += 1
        assert len(gw.daemon.controller.overrides) == accepted_overrides  # 0 accepted
        assert sum(codes.values()) >= 10_000
        # Well-signed but out of range or unknown: refused by validation, not by auth.
        assert gw.send(loop, TOPIC, sign(key, TOPIC, _override(level=1.5))) == "invalid"
        assert gw.send(loop, TOPIC, sign(key, TOPIC, _override(target="nowhere"))) == "unknown_id"
        assert gw.send(loop, TOPIC, b"{" + b" " * 70_000 + b"}") == "oversized"
        # A few events, not ten thousand: refusals are reported at most 3 a minute.
        assert gw.daemon.metrics.events.labels("command_refused", "warning")._value.get() == 3
    finally:
        loop.close()
        gw.close()
    # The accepted counter is durable: the same command is a replay after a restart.
    _replay_refused_after_restart(site, key, genuine)


def test_replies_go_only_under_the_reply_prefix(tmp_path: Path) -> None:
    site = _site(tmp_path, _key(tmp_path / "cmd.key", os.urandom(32)))
    gw = _Gateway(site)
    try:
        allowed = gw.daemon.commands.reply_allowed
        assert allowed(f"{ROOT}/reply/streetlight-cli-1a2b")
        assert not allowed(f"{ROOT}/lamp/art-001/set")  # never onto a setpoint
        assert not allowed(f"{ROOT}/reply/")
        assert not allowed("elsewhere/reply/x")
    finally:
        gw.close()


def test_a_flood_of_valid_commands_never_acts_faster_than_the_bucket(tmp_path: Path) -> None:
    key = os.urandom(32)
    site = _site(tmp_path, _key(tmp_path / "cmd.key", key), commands_per_s=2.0, command_burst=10)
    gw = _Gateway(site)
    loop = asyncio.new_event_loop()
    try:
        started = time.monotonic()
        codes = Counter(gw.send(loop, TOPIC, sign(key, TOPIC, _override())) for _ in range(500))
        elapsed = time.monotonic() - started
    finally:
        loop.close()
        gw.close()
    assert codes["ok"] <= 10 + 2.0 * elapsed + 1
    assert codes["ok"] >= 10
    assert codes["rate_limited"] == 500 - codes["ok"]


def test_token_bucket_refills_at_its_rate() -> None:
    t = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: t[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    t[0] = 0.5
    assert [bucket.take() for _ in range(2)] == [True, False]
    t[0] = 100.0
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst


@pytest.mark.parametrize(
    ("mode", "content", "phrase"),
    [(0o644, "ab" * 32, "chmod 600"), (0o600, "abcd", "16 at least"), (None, "", "cannot read")],
)
def test_key_file_problems_are_config_errors(
    tmp_path: Path, mode: int | None, content: str, phrase: str
) -> None:
    path = tmp_path / "cmd.key"
    if mode is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(ConfigError, match=phrase):
        read_key(path)


def test_a_counter_from_the_far_future_is_refused_and_locks_nothing_out(tmp_path: Path) -> None:
    """A validly signed command with a counter of 10^23 once became the highest accepted
    and refused every later command, across restarts too. Counters are the signer's clock
    in microseconds: one beyond the window a live command can have is refused (ahead);
    within it, commands may come in any order, each once."""
    key = os.urandom(32)
    site = _site(tmp_path, _key(tmp_path / "cmd.key", key))
    gw = _Gateway(site)
    loop = asyncio.new_event_loop()
    try:
        assert gw.send(loop, TOPIC, sign(key, TOPIC, _override(), ctr=10**23)) == "ahead"
        now_us = time.time_ns() // 1000
        first, second = (sign(key, TOPIC, _override(), ctr=now_us + d) for d in (0, 1))
        assert gw.send(loop, TOPIC, second) == "ok"
        assert gw.send(loop, TOPIC, first) == "ok"  # the earlier one, delivered later
        assert gw.send(loop, TOPIC, first) == "replayed"
    finally:
        loop.close()
        gw.close()
    _replay_refused_after_restart(site, key, second)


def test_unsigned_junk_never_takes_a_signed_commands_turn(tmp_path: Path) -> None:
    """The rate limit counted every message before checking it, so a flood of unsigned
    pings used up the bucket and signed commands were refused as rate limited."""
    key = os.urandom(32)
    site = _site(tmp_path, _key(tmp_path / "cmd.key", key), commands_per_s=1.0, command_burst=3)
    gw = _Gateway(site)
    loop = asyncio.new_event_loop()
    try:
        junk = Counter(gw.send(loop, f"{ROOT}/cmd/ping", {"v": 1}) for _ in range(200))
        assert junk == {"unauthenticated": 200}
        assert gw.send(loop, TOPIC, sign(key, TOPIC, _override())) == "ok"
    finally:
        loop.close()
        gw.close()


def test_the_signing_example_in_the_docs_is_what_the_code_signs() -> None:
    """docs/security.md's worked example (key, request, bytes signed, MAC) must be what
    edge.auth computes: a node or tool author implements signing from it."""
    doc = (REPO / "docs" / "security.md").read_text()
    block = doc.split("<!-- signing-example:start -->")[1].split("<!-- signing-example:end -->")[0]
    rows = dict(re.findall(r"^(\w+(?: \(hex\))?)\s+(.+)$", block, re.M))
    key = bytes.fromhex(rows["key (hex)"])
    request = json.loads(rows["request"])
    ctr, exp_ms = int(rows["ctr"]), int(rows["exp_ms"])
    signed = sign(key, rows["topic"], request, ctr=ctr, now=exp_ms / 1000 - 30, ttl_s=30)
    assert signed["auth"] == {"ctr": ctr, "exp_ms": exp_ms, "mac": rows["mac"]}
    assert _message(rows["topic"], request, ctr, exp_ms).decode() == rows["signed"].replace(
        "\\n", "\n"
    )
    now = exp_ms / 1000 - 10
    assert Verifier(key, ttl_s=30).check(rows["topic"], signed, now) == ctr
