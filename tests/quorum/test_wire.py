"""``QuorumPacket`` on the quorum port (``reference.quorum.wire``)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.jute import JuteError
from reference.quorum.wire import (
    QUORUM_BUFFER_BYTES_MAX,
    NeedMoreBytes,
    PacketType,
    QuorumPacket,
    QuorumReader,
    decode_packet,
    encode_packet,
    read_packet,
    read_packet_at,
    write_packet,
)
from spec.acl import Id

HEAD = struct.Struct(">iq")


def test_packet_codes_are_those_of_leader_java() -> None:
    assert {t.name: t.value for t in PacketType} == {
        "REQUEST": 1,
        "PROPOSAL": 2,
        "ACK": 3,
        "COMMIT": 4,
        "PING": 5,
        "REVALIDATE": 6,
        "SYNC": 7,
        "INFORM": 8,
        "COMMITANDACTIVATE": 9,
        "NEWLEADER": 10,
        "FOLLOWERINFO": 11,
        "UPTODATE": 12,
        "DIFF": 13,
        "TRUNC": 14,
        "SNAP": 15,
        "OBSERVERINFO": 16,
        "LEADERINFO": 17,
        "ACKEPOCH": 18,
        "INFORMANDACTIVATE": 19,
    }


@pytest.mark.parametrize(
    "packet",
    [
        QuorumPacket(PacketType.UPTODATE, -1, None, None),
        QuorumPacket(PacketType.PING, 0x100000002, b"", None),
        QuorumPacket(PacketType.REQUEST, -1, b"\x00" * 16, ()),
        QuorumPacket(PacketType.REQUEST, -1, b"x", (Id("ip", "127.0.0.1"), Id("digest", "u:h"))),
        QuorumPacket(99, 7, b"unknown types still decode", None),
    ],
)
def test_a_packet_round_trips_keeping_null_apart_from_empty(packet: QuorumPacket) -> None:
    assert decode_packet(encode_packet(packet)) == packet


def test_a_packet_has_no_outer_length() -> None:
    assert encode_packet(QuorumPacket(PacketType.ACK, 5, None, None)) == (
        HEAD.pack(3, 5) + struct.pack(">ii", -1, -1)
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (HEAD.pack(3, 0) + struct.pack(">i", -2), "unreasonable buffer length -2"),
        (HEAD.pack(3, 0) + struct.pack(">i", QUORUM_BUFFER_BYTES_MAX + 1), "unreasonable"),
        (HEAD.pack(3, 0) + struct.pack(">ii", -1, -2), "negative vector count"),
        (HEAD.pack(3, 0) + struct.pack(">iii", -1, 1, -1), "null ustring"),
        (HEAD.pack(3, 0) + struct.pack(">i", -1), "truncated"),
        (HEAD.pack(3, 0) + struct.pack(">iib", -1, -1, 0), "bytes after"),
    ],
)
def test_a_malformed_packet_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        decode_packet(data)


_IDS = st.one_of(
    st.none(),
    st.lists(st.builds(Id, st.text(max_size=8), st.text(max_size=8)), max_size=3).map(tuple),
)
_PACKETS = st.builds(
    QuorumPacket,
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.one_of(st.none(), st.binary(max_size=64)),
    _IDS,
)


def _general(packet: QuorumPacket) -> bytes:
    out = bytearray()
    write_packet(out, packet)
    return bytes(out)


@given(_PACKETS, st.binary(max_size=8))
def test_the_fast_codec_paths_read_and_write_what_the_general_reader_and_writer_do(
    packet: QuorumPacket, before: bytes
) -> None:
    data = _general(packet)
    assert encode_packet(packet) == data
    stream = before + data
    # Cut anywhere inside the packet: wait for more, as the general reader does.
    for cut in range(len(before), len(stream)):
        assert read_packet_at(stream[:cut], len(before)) is None
        with pytest.raises(NeedMoreBytes):
            read_packet(QuorumReader(stream[:cut], len(before)))
    assert read_packet_at(stream + b"\x00", len(before)) == (packet, len(stream))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (HEAD.pack(3, 0) + struct.pack(">i", -2), "unreasonable buffer length -2"),
        (HEAD.pack(3, 0) + struct.pack(">i", QUORUM_BUFFER_BYTES_MAX + 1), "unreasonable"),
        (HEAD.pack(3, 0) + struct.pack(">ii", -1, -2), "negative vector count"),
        (HEAD.pack(3, 0) + struct.pack(">iii", -1, 1, -1), "null ustring"),
    ],
)
def test_the_fast_reader_refuses_what_the_general_reader_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        read_packet_at(data, 0)
