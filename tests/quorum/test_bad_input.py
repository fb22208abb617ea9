"""Bad input on the election and quorum ports: whatever the bytes, a decoder returns a value
or raises ``JuteError`` (a mapping, ``UnmappableTxn``/``UnmappableSnapshot``), never anything
else, so a server can log and drop the connection. Random bytes and damaged golden frames."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.jute import JuteError
from reference.quorum import apache_snapshot, apache_txn, election_wire, wire, wire_payloads
from reference.quorum.wire_stream import QuorumStreamReader
from tests.quorum.golden import KIND_PACKET, KIND_SNAPSHOT, LEADER_TO_LEARNER, load_golden_quorum

FRAMES = load_golden_quorum()["frames"]
SAMPLES = [bytes.fromhex(f["hex"]) for f in FRAMES[:: max(1, len(FRAMES) // 60)]]
SNAPSHOT = next(bytes.fromhex(f["hex"]) for f in FRAMES if f["kind"] == KIND_SNAPSHOT)
PROPOSALS = [
    wire.decode_packet(bytes.fromhex(f["hex"])).data
    for f in FRAMES
    if f["kind"] == KIND_PACKET and f["type"] == "PROPOSAL"
]
EXPECTED = (JuteError, apache_txn.UnmappableTxn, apache_snapshot.UnmappableSnapshot)


def only_expected_errors(decode: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(*EXPECTED):
        decode(data)


def payload_both_ways(data: bytes) -> None:
    packet = wire.decode_packet(data)
    for sender in wire.PacketSender:
        with contextlib.suppress(*EXPECTED):
            wire_payloads.decode_payload(packet, sender)


def txn_to_zkref(data: bytes) -> None:
    apache_txn.to_zkref(apache_txn.decode_txn_entry(data))


def snapshot_to_zkref(data: bytes) -> None:
    snapshot = apache_snapshot.decode_snapshot_transfer(data)
    apache_snapshot.to_zkref(snapshot, 1, extended_types_enabled=True)


def stream(data: bytes) -> None:
    for sender in wire.PacketSender:
        with contextlib.suppress(*EXPECTED):
            QuorumStreamReader(sender).feed(data)


def election_stream(data: bytes) -> None:
    for from_dialer in (True, False):
        with contextlib.suppress(*EXPECTED):
            election_wire.ElectionStreamReader(from_dialer).feed(data)


DECODERS: list[Callable[[bytes], Any]] = [
    wire.decode_packet,
    payload_both_ways,
    txn_to_zkref,
    snapshot_to_zkref,
    stream,
    election_stream,
    election_wire.decode_initial_message,
    election_wire.decode_notification,
]


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_codec_errors(data: bytes) -> None:
    for decode in DECODERS:
        only_expected_errors(decode, data)


@settings(max_examples=200)
@given(
    st.sampled_from([*SAMPLES, SNAPSHOT, *PROPOSALS[:20]]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=255),
    st.booleans(),
)
def test_damaged_golden_frames_raise_only_codec_errors(
    frame: bytes, where: int, byte: int, truncate: bool
) -> None:
    position = where % len(frame)
    damaged = (
        frame[:position] if truncate else frame[:position] + bytes([byte]) + frame[position + 1 :]
    )
    for decode in DECODERS:
        only_expected_errors(decode, damaged)


def test_a_leaders_stream_cut_anywhere_waits_instead_of_failing() -> None:
    (snapshot,) = [f for f in FRAMES if f["kind"] == KIND_SNAPSHOT]
    connection = snapshot["connection"]
    recorded = [
        f for f in FRAMES if f["direction"] == LEADER_TO_LEARNER and f["connection"] == connection
    ]
    data = b"".join(bytes.fromhex(f["hex"]) for f in recorded)
    whole = len(QuorumStreamReader(wire.PacketSender.LEADER).feed(data))
    for cut in range(0, len(data), 97):
        reader = QuorumStreamReader(wire.PacketSender.LEADER)
        events = reader.feed(data[:cut])
        assert len(events) + len(reader.feed(data[cut:])) == whole
