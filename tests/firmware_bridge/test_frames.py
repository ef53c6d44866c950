"""The codec: round trips for every type, the documented vectors, and the deframer."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import frames as fr
from firmware_bridge.errors import FrameError
from firmware_bridge.frames import (
    MAX_ENCODED,
    Counts,
    Deframer,
    Frame,
    SetLevel,
    crc16,
    decode_frame,
    encode_frame,
)
from tests.firmware_bridge.strategies import messages

PROTOCOL = Path(fr.__file__).with_name("PROTOCOL.md")


@settings(max_examples=300)
@given(message=messages, seq=st.integers(0, 0xFFFF))
def test_every_message_round_trips(message: fr.Message, seq: int) -> None:
    wire = encode_frame(message, seq)
    assert wire.endswith(b"\x00")
    assert b"\x00" not in wire[:-1]
    assert len(wire) - 1 <= MAX_ENCODED
    assert decode_frame(wire[:-1]) == Frame(seq, message)


def test_every_type_has_a_vector_and_the_vectors_match() -> None:
    text = PROTOCOL.read_text()
    blocks = re.findall(
        r"seq: (\d+)\n(?:version: (\d)\n)?message: (.+)\nframe: ([0-9a-f ]+)\n", text
    )
    namespace = {name: getattr(fr, name) for name in fr.__all__}
    seen = set()
    for seq, version, literal, hexbytes in blocks:
        v = int(version or 1)
        message = eval(literal, {"__builtins__": {}}, namespace)  # the doc's own literals
        wire = bytes.fromhex(hexbytes)
        assert encode_frame(message, int(seq), v) == wire, literal
        assert decode_frame(wire[:-1]) == Frame(int(seq), message, v)
        seen.add((type(message), v))
    assert {t for t, _ in seen} == set(fr.MESSAGE_TYPES.values())
    assert {(fr.Ack, 2), (fr.Nack, 2)} <= seen  # version 2's own layouts
    assert "`0x29B1`" in text
    assert crc16(b"123456789") == 0x29B1


@settings(max_examples=100)
@given(seq=st.integers(0, 0xFFFF), acked=st.integers(0, 0xFFFF), node=st.integers(0, 0xFFFF),
       reason=st.integers(0, 255))  # fmt: skip
def test_version_2_acks_and_nacks_round_trip_with_their_node(
    seq: int, acked: int, node: int, reason: int
) -> None:
    for message in (
        fr.Ack(acked_seq=acked, acked_type=0x10, node=node),
        fr.Nack(acked_seq=acked, acked_type=0x20, reason=reason, node=node),
    ):
        wire = encode_frame(message, seq, 2)
        assert decode_frame(wire[:-1]) == Frame(seq, message, 2)
        with pytest.raises(ValueError, match="version 2 and only there"):
            encode_frame(message, seq, 1)


def _stream(n: int, seed: int = 0) -> tuple[bytes, list[Frame]]:
    rng = random.Random(seed)
    out, frames = bytearray(), []
    for seq in range(n):
        msg = Counts(
            node=rng.randrange(1, 500),
            sensor=0,
            interval_ms=10_000,
            forward=(rng.randrange(9), 0, 1),
            backward=(0, rng.randrange(9), 0),
            mean_speed_cms=rng.choice([None, 1250]),
        )
        frames.append(Frame(seq, msg))
        out += encode_frame(msg, seq)
    return bytes(out), frames


def test_deframer_whole_and_byte_by_byte() -> None:
    data, frames = _stream(200)
    d = Deframer()
    assert list(d.feed(data)) == frames
    d2 = Deframer()
    got = [f for i in range(len(data)) for f in d2.feed(data[i : i + 1])]
    assert got == frames
    assert d2.rejected_total == 0
    assert d2.frames_ok == 200


@settings(max_examples=50)
@given(cuts=st.lists(st.integers(1, 64), min_size=1, max_size=400))
def test_deframer_random_chunks(cuts: list[int]) -> None:
    data, frames = _stream(60, seed=len(cuts))
    d, got, pos, k = Deframer(), [], 0, 0
    while pos < len(data):
        step = cuts[k % len(cuts)]
        got += d.feed(data[pos : pos + step])
        pos, k = pos + step, k + 1
    assert got == frames


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:5] + bytes([b[5] ^ 0x40]) + b[6:], "crc"),
        (lambda b: b"\x09" + b[1:], "cobs"),
        (lambda b: b"\x02\x01", "length"),
        (lambda b: b"\x07" * (MAX_ENCODED + 3), "length"),
    ],
)
def test_each_rejection_reason_is_counted_and_the_next_frame_survives(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    good = encode_frame(SetLevel(node=1, level=0.5, lease_ms=1000, lease_seq=1), 1)
    bad = mutate(good[:-1]) + b"\x00"
    d = Deframer()
    got = list(d.feed(bad + good))
    assert got == [decode_frame(good[:-1])]
    assert d.rejected[reason] == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes([3, 0x10, 0, 0]), "version"),
        (bytes([2, 0x06, 1, 0, 5, 0, 0x10]), "bad_field"),  # a version 2 ACK without its node
        (bytes([1, 0x06, 1, 0, 5, 0, 0x10, 7, 0]), "bad_field"),  # a node in a version 1 ACK
        (bytes([1, 0x7E, 0, 0]), "unknown_type"),
        (
            bytes([1, 0x20, 0, 0, 1, 0, 0x11, 0x27, 0, 0, 0, 0, 0, 0, 0, 0]),
            "bad_field",
        ),  # level 10001
        (bytes([1, 0x10, 0, 0, 1]), "bad_field"),  # truncated COUNTS
    ],
)
def test_payload_rejections(payload: bytes, reason: str) -> None:
    from cobs import cobs

    wire = cobs.encode(payload + crc16(payload).to_bytes(2, "big"))
    with pytest.raises(FrameError) as info:
        decode_frame(wire)
    assert info.value.reason == reason
    d = Deframer()
    assert list(d.feed(wire + b"\x00")) == []
    assert d.rejected[reason] == 1


def test_ten_megabytes_of_noise_with_frames_interleaved() -> None:
    rng = random.Random(42)
    stream = bytearray()
    expected: list[Frame] = []
    seq = 0
    while len(stream) < 10_000_000:
        stream += rng.randbytes(rng.randrange(0, 4000))
        msg = SetLevel(
            node=rng.randrange(1, 60000),
            level=rng.randrange(10001) / 10000,
            lease_ms=90_000,
            lease_seq=seq,
        )
        frame_bytes = encode_frame(msg, seq & 0xFFFF)
        if rng.random() < 0.8:
            stream += b"\x00" + frame_bytes  # delimited from the noise: must come out
            expected.append(Frame(seq & 0xFFFF, msg))
        else:
            stream += frame_bytes  # glued to the noise before it: may be lost
        seq += 1
    data = bytes(stream)
    d = Deframer()
    got, pos = [], 0
    while pos < len(data):
        n = rng.randrange(1, 8192)
        got += d.feed(data[pos : pos + n])
        pos += n
    got_set = {(f.seq, f.message) for f in got}
    missing = [f for f in expected if (f.seq, f.message) not in got_set]
    assert missing == []
    pieces = [p for p in data.split(b"\x00")[:-1] if p]
    assert d.frames_ok + d.rejected_total == len(pieces)
    assert d.rejected_total > 10_000
    assert set(d.rejected) <= {"crc", "cobs", "length", "version", "unknown_type", "bad_field"}


def test_the_package_stands_on_its_own() -> None:
    """firmware_bridge imports nothing of the gateway's (a firmware test bench can use it)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['edge'] = None\n"
        "import firmware_bridge.frames, firmware_bridge.link, firmware_bridge.errors"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_sensor_fault_codes_are_the_documented_ones() -> None:
    """PROTOCOL.md's table and the codec's are one table; a code outside it is refused."""
    text = PROTOCOL.read_text()
    table = text[text.index("**SENSOR_FAULT** codes") :].split("\n\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\s*\| (\d+) \| (.+?) \|$", table, re.M)
    assert {int(code): meaning for code, meaning in rows} == fr.SENSOR_FAULT_CODES
    undefined = max(fr.SENSOR_FAULT_CODES) + 1
    body = bytes([18, 0, 1, undefined])
    with pytest.raises(FrameError, match="not defined") as info:
        fr.SensorFaultReport.parse(body)
    assert info.value.reason == "bad_field"
