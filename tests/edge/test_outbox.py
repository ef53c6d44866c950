"""The SQLite outbox and the state store, on real files."""

from __future__ import annotations

import json
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.daemon import SystemdNotifier
from edge.daemon._command_args import CommandError, parse_since
from edge.outbox import PRIORITY, Outbox
from edge.state import StateStore


def _box(tmp_path: Path, **kw: object) -> Outbox:
    return Outbox(tmp_path / "outbox.db", gateway_id="gw-1", boot_id="boot-a", **kw)  # type: ignore[arg-type]


def test_records_keep_commit_order_and_survive_a_reopen(tmp_path: Path) -> None:
    box = _box(tmp_path)
    seqs = [box.put("t/energy", {"v": 1, "n": i}, priority=2) for i in range(5)]
    assert seqs == [0, 1, 2, 3, 4]
    box.ack([r.id for r in box.peek(2)])
    box.close()
    again = Outbox(tmp_path / "outbox.db", gateway_id="gw-1", boot_id="boot-b")
    left = [json.loads(r.payload) for r in again.peek()]
    assert [b["n"] for b in left] == [2, 3, 4]
    assert {b["boot_id"] for b in left} == {"boot-a"}
    assert again.depth == 3
    assert again.put("t/energy", {"v": 1}) == 0  # a new boot counts from 0 again


def test_behind_a_bridge_acknowledged_records_are_kept_and_replayed_in_order(
    tmp_path: Path,
) -> None:
    box = _box(tmp_path, keep_acked_s=60.0)
    for i in range(6):
        box.put("t/energy", {"v": 1, "n": i})
    box.ack([r.id for r in box.peek(2)], now=1000.0)  # n 0, 1: an older PUBACK
    box.ack([r.id for r in box.peek(3)], now=1050.0)  # n 2, 3, 4
    assert (box.depth, box.kept, box.delivered) == (1, 5, 5)
    assert [json.loads(r.payload)["n"] for r in box.peek()] == [5]
    # The bridge reports down at 1080: what the cabinet broker took in the last 60 s goes again.
    assert box.replay(now=1080.0) == 3
    assert [json.loads(r.payload)["n"] for r in box.peek()] == [2, 3, 4, 5]
    assert (box.depth, box.kept, box.replayed) == (4, 0, 3)  # n 0, 1 purged: past the window
    box.ack([r.id for r in box.peek()], now=1100.0)
    box.close()
    again = Outbox(tmp_path / "outbox.db", gateway_id="gw-1", boot_id="boot-b", keep_acked_s=60)
    assert (again.depth, again.kept) == (0, 4)  # kept across a restart, for a replay then
    assert again.peek() == []


def test_pubacks_for_a_batch_begun_before_a_replay_do_not_count(tmp_path: Path) -> None:
    box = _box(tmp_path, keep_acked_s=60.0)
    for i in range(3):
        box.put("t/energy", {"v": 1, "n": i})
    batch, epoch = box.peek(), box.epoch  # handed to the broker; the bridge goes down meanwhile
    box.replay()
    box.ack([r.id for r in batch], epoch=epoch)  # the cabinet broker took them: not enough
    assert (box.depth, box.kept, box.delivered) == (3, 0, 0)
    box.ack([r.id for r in box.peek()], epoch=box.epoch)
    assert (box.depth, box.kept, box.delivered) == (0, 3, 3)


def test_without_a_bridge_an_acknowledged_record_is_deleted(tmp_path: Path) -> None:
    box = _box(tmp_path)
    box.put("t/energy", {"v": 1})
    box.ack([r.id for r in box.peek()])
    assert (box.depth, box.kept, box.replay()) == (0, 0, 0)
    assert box._db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_a_full_outbox_forgets_kept_records_before_dropping_pending_ones(tmp_path: Path) -> None:
    box = _box(tmp_path, max_bytes=64 * 1024, keep_acked_s=3600.0)
    body = {"v": 1, "pad": "x" * 400}
    while box.kept_bytes < 40 * 1024:
        box.put("t/traffic", body)
        box.ack([r.id for r in box.peek()])
    for _ in range(50):  # about 26 KiB pending: fits only once the kept ones are gone
        box.put("t/traffic", body)
    assert (box.dropped, box.kept) == (0, 0)
    assert box.depth == 50


def test_an_outbox_file_from_before_bridges_gets_the_new_column(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "outbox.db")
    db.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
        "payload BLOB NOT NULL, priority INTEGER NOT NULL, boot_id TEXT NOT NULL, "
        "seq INTEGER NOT NULL, size INTEGER NOT NULL);"
        "INSERT INTO outbox (topic, payload, priority, boot_id, seq, size) "
        "VALUES ('t/energy', X'7B7D', 2, 'old', 7, 100);"
    )
    db.commit()
    db.close()
    box = _box(tmp_path, keep_acked_s=60.0)
    (old,) = box.peek()
    assert (old.topic, box.depth) == ("t/energy", 1)
    box.ack([old.id])
    assert (box.depth, box.kept) == (0, 1)


def test_full_outbox_drops_lowest_priority_then_oldest_and_leaves_one_gap_marker(
    tmp_path: Path,
) -> None:
    box = _box(tmp_path, max_bytes=64 * 1024, event_topic="gw/event")
    pad = "x" * 900
    for i in range(40):
        box.put("gw/telemetry/traffic", {"n": i, "pad": pad}, priority=PRIORITY["traffic"])
    for i in range(40):
        box.put("gw/telemetry/energy", {"n": i, "pad": pad}, priority=PRIORITY["energy"])
    for i in range(40):
        box.put("gw/event", {"n": i, "kind": "x", "pad": pad}, priority=PRIORITY["critical"])
    assert box.bytes <= box.max_bytes
    assert box.dropped > 0
    rows = [(r.topic, json.loads(r.payload)) for r in box.peek(1000)]
    gaps = [b for t, b in rows if b.get("kind") == "outbox_gap"]
    assert len(gaps) == 1
    assert gaps[0]["data"]["dropped"] == box.dropped
    topics = [t for t, b in rows if b.get("kind") != "outbox_gap"]
    # Every critical event survived; traffic went first.
    assert topics.count("gw/event") == 40
    assert "gw/telemetry/traffic" not in topics
    # Survivors of one kind are the newest ones.
    energy = [b["n"] for t, b in rows if t == "gw/telemetry/energy"]
    assert energy == sorted(energy)
    assert not energy or energy[-1] == 39
    # Seqs stay unique: the dropped ones are named by the marker.
    seqs = [b["seq"] for _, b in rows]
    assert len(seqs) == len(set(seqs))
    assert gaps[0]["data"]["first_seq"] == 0


def test_a_disk_that_refuses_writes_drops_and_counts_and_never_raises(tmp_path: Path) -> None:
    box = _box(tmp_path)
    box.put("t", {"v": 1})
    # SQLite's own limit stands in for a full filesystem.
    box._db.execute("PRAGMA max_page_count = 1")
    for i in range(50):
        box.put("t", {"v": 1, "pad": "y" * 5000, "i": i})
    assert box.dropped == 50
    assert box.write_errors == 50
    assert box.integrity_ok()
    box._db.execute("PRAGMA max_page_count = 1073741823")  # space returns
    assert box.put("t", {"v": 1}) == 52  # the dropped records' seqs were spent; 51: the marker
    gap = json.loads(box.peek(10)[1].payload)
    assert gap["kind"] == "outbox_gap"
    assert gap["data"] == {
        "dropped": 50,
        "first_seq": 1,
        "last_seq": 50,
        "reasons": ["disk refused"],
    }
    assert box.depth == 3  # the first record, the marker, the new record


def test_many_records_are_committed_together_or_refused_together(tmp_path: Path) -> None:
    box = _box(tmp_path)
    items = [("t/event", {"v": 1, "i": i}, 3) for i in range(3)]
    assert box.put_many(items) == [0, 1, 2]
    assert [json.loads(r.payload)["i"] for r in box.peek()] == [0, 1, 2]
    box._db.execute("PRAGMA max_page_count = 1")  # a full filesystem, as above
    big = [("t/event", {"v": 1, "pad": "y" * 5000, "i": i}, 3) for i in range(4)]
    assert box.put_many(big) == [None] * 4
    assert (box.dropped, box.depth) == (4, 3)  # none of the four half-stored
    box._db.execute("PRAGMA max_page_count = 1073741823")
    assert box.put_many(items[:1]) == [8]  # 3-6 spent on the refused, 7 on the marker
    gap = json.loads(box.peek(10)[3].payload)
    assert gap["data"]["first_seq"] == 3
    assert gap["data"]["last_seq"] == 6
    assert gap["data"]["dropped"] == 4


def test_state_store_keeps_json_values_across_reopen(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    assert store.get("energy", {}) == {}
    assert store.put(energy={"a": [1.0, 2.0, 3.0]}, lease_seq_next=7)
    store.close()
    again = StateStore(tmp_path / "state.db")
    assert again.get("energy") == {"a": [1.0, 2.0, 3.0]}
    assert again.get("lease_seq_next") == 7


def test_energy_history_answers_the_snapshot_at_or_before_a_time_and_prunes_old_ones(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db")
    assert store.energy_at(1000.0) is None
    for hour in range(5):
        store.record_energy(hour * 3600.0, {"a": [hour, 2.0 * hour, 3.0 * hour]}, keep_s=3 * 3600)
    # hours 0 is older than 3 h before the last (hour 4) and was pruned
    assert store.energy_at(0.0) == (3600.0, {"a": [1, 2.0, 3.0]})  # history starts later
    assert store.energy_at(2 * 3600 + 59) == (7200.0, {"a": [2, 4.0, 6.0]})
    assert store.energy_at(1e9) == (4 * 3600.0, {"a": [4, 8.0, 12.0]})
    assert store.last_energy_time() == 4 * 3600.0


def test_parse_since_reads_durations_dates_and_iso_times_in_the_site_zone() -> None:
    tz = ZoneInfo("Europe/Amsterdam")
    now = datetime(2026, 11, 28, 12, 0, tzinfo=tz).timestamp()
    assert parse_since("7d", now, tz) == now - 7 * 86400
    assert parse_since("1d12h", now, tz) == now - 36 * 3600
    midnight = datetime(2026, 11, 1, tzinfo=tz).timestamp()
    assert parse_since("2026-11-01", now, tz) == midnight
    assert parse_since("2026-11-01T00:00", now, tz) == midnight  # naive: the site's zone
    assert parse_since("2026-10-31T23:00:00+00:00", now, tz) == midnight
    for bad in ("yesterday", "7x", "", "2026-13-01"):
        with pytest.raises(CommandError, match="is not a duration"):
            parse_since(bad, now, tz)
    with pytest.raises(CommandError, match="future"):
        parse_since("2026-12-01", now, tz)


def test_sd_notify_sends_datagrams_to_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        notifier = SystemdNotifier(str(path))
        assert notifier.ready()
        assert notifier.watchdog()
        assert sock.recv(64) == b"READY=1"
        assert sock.recv(64) == b"WATCHDOG=1"
    assert not SystemdNotifier("").ready()  # not under systemd: a no-op


def test_outbox_uses_wal_and_full_sync_by_default(tmp_path: Path) -> None:
    box = _box(tmp_path)
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert isinstance(box._db, sqlite3.Connection)
