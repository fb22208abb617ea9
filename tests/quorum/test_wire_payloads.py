"""Each quorum packet's data, typed by packet type and sender
(``reference.quorum.wire_payloads``)."""

from __future__ import annotations

import struct

import pytest

from reference.jute import JuteError
from reference.quorum.apache_txn import CreateSessionTxn, TxnDigest, TxnEntry
from reference.quorum.wire import (
    PacketSender,
    PacketType,
    QuorumPacket,
    decode_packet,
    encode_packet,
)
from reference.quorum.wire_payloads import (
    AckEpoch,
    CommitAndActivate,
    ForwardedRequest,
    InformAndActivate,
    LeaderInfo,
    LearnerInfo,
    Payload,
    QuorumConfig,
    RevalidateRequest,
    RevalidateResponse,
    SessionTouch,
    SessionTouches,
    decode_payload,
    encode_payload,
)
from reference.txn import TxnHeader

LEADER, LEARNER = PacketSender.LEADER, PacketSender.LEARNER


TXN = TxnEntry(TxnHeader(0x100, 0, 0x100000001, 1700, -10), CreateSessionTxn(4000), TxnDigest(2, 9))

PAYLOADS: list[tuple[PacketType, PacketSender, Payload]] = [
    (PacketType.FOLLOWERINFO, LEARNER, LearnerInfo(3, 0x10000, 0)),
    (PacketType.OBSERVERINFO, LEARNER, LearnerInfo(4)),
    (PacketType.FOLLOWERINFO, LEARNER, LearnerInfo(3, 0x10000, None)),
    (PacketType.FOLLOWERINFO, LEARNER, LearnerInfo(3, None, None)),
    (PacketType.LEADERINFO, LEADER, LeaderInfo()),
    (PacketType.ACKEPOCH, LEARNER, AckEpoch(-1)),
    (PacketType.NEWLEADER, LEADER, QuorumConfig(b"server.1=127.0.0.1:1:2:participant\nversion=0")),
    (PacketType.NEWLEADER, LEADER, None),
    (PacketType.REQUEST, LEARNER, ForwardedRequest(0x100, 3, -11, b"")),
    (PacketType.REQUEST, LEARNER, ForwardedRequest(0x100, 0, -10, struct.pack(">i", 4000))),
    (PacketType.PROPOSAL, LEADER, TXN),
    (PacketType.INFORM, LEADER, TXN),
    (PacketType.PING, LEADER, None),
    (PacketType.PING, LEARNER, SessionTouches(())),
    (PacketType.PING, LEARNER, SessionTouches((SessionTouch(1, 4000), SessionTouch(2, 6000)))),
    (PacketType.REVALIDATE, LEARNER, RevalidateRequest(0x100, 10000)),
    (PacketType.REVALIDATE, LEADER, RevalidateResponse(0x100, False)),
    (PacketType.COMMITANDACTIVATE, LEADER, CommitAndActivate(2)),
    (PacketType.INFORMANDACTIVATE, LEADER, InformAndActivate(2, TXN)),
    (PacketType.ACK, LEARNER, None),
    (PacketType.COMMIT, LEADER, None),
]


@pytest.mark.parametrize(("type_", "sender", "payload"), PAYLOADS)
def test_each_packets_data_round_trips_as_its_type(
    type_: PacketType, sender: PacketSender, payload: Payload
) -> None:
    packet = QuorumPacket(type_, 0, encode_payload(payload), None)
    assert decode_payload(decode_packet(encode_packet(packet)), sender) == payload


def test_learner_info_is_the_jute_record_and_an_empty_ping_is_an_empty_buffer() -> None:
    assert LearnerInfo(3).encode() == struct.pack(">qiq", 3, 0x10000, 0)
    assert encode_payload(SessionTouches(())) == b""


@pytest.mark.parametrize(
    ("type_", "sender", "data", "reason"),
    [
        (PacketType.FOLLOWERINFO, LEARNER, b"\x00" * 19, "LearnerInfo of 19 bytes"),
        (PacketType.FOLLOWERINFO, LEARNER, None, "without data"),
        (PacketType.LEADERINFO, LEADER, b"\x00" * 5, "expected 4"),
        (PacketType.ACKEPOCH, LEARNER, b"", "expected 4"),
        (PacketType.PING, LEARNER, b"\x00" * 13, "not whole session touches"),
        (PacketType.REQUEST, LEARNER, b"\x00" * 15, "REQUEST data of 15 bytes"),
        (PacketType.REVALIDATE, LEARNER, b"\x00" * 9, "expected 12"),
        (PacketType.REVALIDATE, LEADER, b"\x00" * 12, "expected 9"),
        (PacketType.LEADERINFO, LEARNER, b"\x00" * 4, "not sent by the learner"),
        (PacketType.REQUEST, LEADER, b"\x00" * 16, "not sent by the leader"),
        (42, LEADER, b"", "packet type 42 is not sent"),
    ],
)
def test_data_that_does_not_fit_its_packet_is_refused(
    type_: int, sender: PacketSender, data: bytes | None, reason: str
) -> None:
    with pytest.raises(JuteError, match=reason):
        decode_payload(QuorumPacket(type_, 0, data, None), sender)
