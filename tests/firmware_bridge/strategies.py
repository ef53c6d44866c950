"""Hypothesis strategies for every serial message type."""

from __future__ import annotations

from hypothesis import strategies as st

from firmware_bridge.frames import (
    SENSOR_FAULT_CODES,
    Ack,
    Counts,
    Discover,
    Heartbeat,
    Hello,
    LampStatus,
    Lux,
    Message,
    Nack,
    Ping,
    Pong,
    SensorFaultReport,
    SetLevel,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
levels = st.integers(0, 10000).map(lambda v: v / 10000)
nkinds = st.integers(1, 8)


@st.composite
def counts(draw: st.DrawFn) -> Counts:
    n = draw(nkinds)
    return Counts(
        node=draw(u16),
        sensor=draw(u8),
        interval_ms=draw(st.integers(1, 0xFFFFFFFF)),
        forward=tuple(draw(st.lists(u16, min_size=n, max_size=n))),
        backward=tuple(draw(st.lists(u16, min_size=n, max_size=n))),
        mean_speed_cms=draw(st.one_of(st.none(), st.integers(0, 0xFFFE))),
    )


messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        Hello,
        node=u16,
        firmware=st.tuples(u8, u8, u8),
        capabilities=u16,
        model=st.text(max_size=10),
    ),
    st.just(Discover()),
    st.builds(Ping, node=u16, token=u32),
    st.builds(Pong, node=u16, token=u32),
    st.builds(Heartbeat, node=u16, uptime_s=u32),
    st.builds(Ack, acked_seq=u16, acked_type=u8),
    st.builds(Nack, acked_seq=u16, acked_type=u8, reason=u8),
    counts(),
    st.builds(
        LampStatus,
        node=u16,
        level=levels,
        power_w=st.integers(0, 0xFFFF).map(lambda v: v / 10),
        energy_wh=u32,
        flags=u16,
        lease_left_ms=u32,
    ),
    st.builds(Lux, node=u16, lux=st.integers(0, 0xFFFFFFFF).map(lambda v: v / 10)),
    st.builds(
        SensorFaultReport, node=u16, sensor=u8, code=st.sampled_from(sorted(SENSOR_FAULT_CODES))
    ),
    st.builds(SetLevel, node=u16, level=levels, lease_ms=u32, lease_seq=u32),
)
