"""A quorum connection read as a stream, with the snapshot after a leader's SNAP
(``reference.quorum.wire_stream``)."""

from __future__ import annotations

import struct

import pytest

from reference.jute import JuteError
from reference.quorum import apache_snapshot
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket, encode_packet
from reference.quorum.wire_payloads import LeaderInfo
from reference.quorum.wire_stream import QuorumStreamReader
from spec.acl import OPEN_ACL_UNSAFE

LEADER, LEARNER = PacketSender.LEADER, PacketSender.LEARNER


def snapshot_stream() -> tuple[list[QuorumPacket], apache_snapshot.ApacheSnapshot, bytes]:
    snapshot = apache_snapshot.ApacheSnapshot(
        (apache_snapshot.SessionTimeout(0x100, 4000),),
        (apache_snapshot.AclCacheEntry(1, OPEN_ACL_UNSAFE),),
        (
            apache_snapshot.SnapshotNode("", b"", -1, apache_snapshot.StatPersisted(*[0] * 9)),
            apache_snapshot.SnapshotNode(
                "/a", b"x" * 70000, 1, apache_snapshot.StatPersisted(*[1] * 9)
            ),
        ),
    )
    before = [
        QuorumPacket(PacketType.LEADERINFO, 1 << 32, LeaderInfo().encode(), None),
        QuorumPacket(PacketType.SNAP, 5, None, None),
    ]
    after = [QuorumPacket(PacketType.NEWLEADER, 1 << 32, None, None)]
    stream = b"".join(encode_packet(p) for p in before)
    stream += apache_snapshot.encode_snapshot_transfer(snapshot)
    stream += b"".join(encode_packet(p) for p in after)
    return [*before, *after], snapshot, stream


@pytest.mark.parametrize("piece", [1, 5, 4096, 1 << 20])
def test_the_leaders_stream_yields_the_snapshot_after_snap_however_it_is_split(piece: int) -> None:
    packets, snapshot, stream = snapshot_stream()
    reader = QuorumStreamReader(LEADER)
    events = []
    for start in range(0, len(stream), piece):
        events += reader.feed(stream[start : start + piece])
    assert events == [packets[0], packets[1], snapshot, packets[2]]
    assert reader.pending_bytes == 0


def test_a_learners_snap_is_not_followed_by_a_snapshot() -> None:
    packet = QuorumPacket(PacketType.SNAP, 5, None, None)
    reader = QuorumStreamReader(LEARNER)
    assert reader.feed(encode_packet(packet) * 2) == [packet, packet]


def test_a_snapshot_without_its_signature_breaks_the_stream() -> None:
    _, snapshot, _ = snapshot_stream()
    reader = QuorumStreamReader(LEADER)
    reader.feed(encode_packet(QuorumPacket(PacketType.SNAP, 5, None, None)))
    assert reader.in_snapshot
    body = apache_snapshot.encode_snapshot(snapshot)
    with pytest.raises(JuteError, match="missing signature"):
        reader.feed(body + struct.pack(">i", 3) + b"Ben")
    with pytest.raises(AssertionError):
        reader.feed(b"")


def test_a_partial_packet_waits_for_the_rest() -> None:
    data = encode_packet(QuorumPacket(PacketType.PROPOSAL, 9, b"abc", None))
    reader = QuorumStreamReader(LEADER)
    assert reader.feed(data[:-1]) == []
    assert reader.pending_bytes == len(data) - 1
    assert reader.feed(data[-1:]) == [QuorumPacket(PacketType.PROPOSAL, 9, b"abc", None)]
