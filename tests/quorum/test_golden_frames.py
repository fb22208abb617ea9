"""Golden quorum traffic: bytes three Apache ZooKeeper 3.8 servers exchanged on their election
and quorum ports (``golden.py``; regenerate with ``python -m tests.quorum.capture_quorum_golden``).

zkref's codecs must decode every recorded frame and re-encode it byte for byte, read each
connection as a stream however the bytes are split, turn every transaction into zkref's
types and back into the same bytes, and build from the snapshot and the transactions trees
whose digest is the one the Apache leader computed.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from reference import jute
from reference import txn as zk
from reference.datatree import DataTree
from reference.quorum import apache_snapshot, apache_txn, election_wire, wire, wire_payloads
from reference.quorum.apache_digest import snapshot_digest, tree_digest
from reference.quorum.wire import PacketSender, PacketType
from reference.quorum.wire_stream import QuorumStreamReader
from spec.acl import Id
from spec.opcodes import OpCode
from tests.quorum.golden import (
    ACCEPTOR_TO_DIALER,
    DIALER_TO_ACCEPTOR,
    KIND_INITIAL_MESSAGE,
    KIND_NOTIFICATION,
    KIND_PACKET,
    KIND_SNAPSHOT,
    LEADER_TO_LEARNER,
    LEARNER_TO_LEADER,
    PORT_ELECTION,
    PORT_QUORUM,
    load_golden_quorum,
)

GOLDEN = load_golden_quorum()
FRAMES: list[dict[str, Any]] = GOLDEN["frames"]
CONNECTIONS: dict[int, dict[str, Any]] = {c["id"]: c for c in GOLDEN["connections"]}
# The capture ran with -Dzookeeper.extendedTypesEnabled=true (TTL nodes).
EXTENDED_TYPES = True
PROTOCOL_VERSIONS = {
    "V1": election_wire.PROTOCOL_VERSION_V1,
    "V2": election_wire.PROTOCOL_VERSION_V2,
}


def payload_of(frame: dict[str, Any]) -> bytes:
    return bytes.fromhex(frame["hex"])


def sender_of(frame: dict[str, Any]) -> PacketSender:
    return PacketSender.LEADER if frame["direction"] == LEADER_TO_LEARNER else PacketSender.LEARNER


def frames(kind: str) -> list[dict[str, Any]]:
    return [frame for frame in FRAMES if frame["kind"] == kind]


def packets() -> Iterator[tuple[dict[str, Any], wire.QuorumPacket, wire_payloads.Payload]]:
    for frame in frames(KIND_PACKET):
        packet = wire.decode_packet(payload_of(frame))
        yield frame, packet, wire_payloads.decode_payload(packet, sender_of(frame))


def stream_of(connection: int, direction: str) -> list[dict[str, Any]]:
    return [f for f in FRAMES if f["connection"] == connection and f["direction"] == direction]


def test_the_capture_covers_the_quorum_protocol() -> None:
    seen = Counter((f["port"], f["direction"], f["type"]) for f in FRAMES)
    for direction, types in (
        (LEARNER_TO_LEADER, "FOLLOWERINFO ACKEPOCH ACK PING REQUEST REVALIDATE"),
        (
            LEADER_TO_LEARNER,
            "LEADERINFO DIFF TRUNC SNAP SNAPSHOT NEWLEADER UPTODATE PROPOSAL COMMIT PING "
            "REVALIDATE SYNC",
        ),
    ):
        for type_ in types.split():
            assert seen[(PORT_QUORUM, direction, type_)], (direction, type_)
    for direction, types in (
        (DIALER_TO_ACCEPTOR, "V1 V2 LOOKING LEADING"),
        (ACCEPTOR_TO_DIALER, "LOOKING LEADING FOLLOWING"),
    ):
        for type_ in types.split():
            assert seen[(PORT_ELECTION, direction, type_)], (direction, type_)
    assert {f["phase"] for f in FRAMES} >= {"election", "diff", "snap", "trunc"}
    assert all(not any(c["incomplete_tail_bytes"].values()) for c in GOLDEN["connections"]), (
        "a recorded direction ends inside a frame"
    )


def test_the_capture_covers_every_forwarded_request_and_txn_kind() -> None:
    requests: set[int] = set()
    txns: set[int] = set()
    sub_txns: set[int] = set()
    touches: set[int] = set()
    revalidations: set[bool] = set()
    for _, _, payload in packets():
        if isinstance(payload, wire_payloads.ForwardedRequest):
            requests.add(payload.type)
        elif isinstance(payload, apache_txn.TxnEntry):
            txns.add(payload.header.type)
            if isinstance(payload.txn, apache_txn.MultiTxn):
                sub_txns.update(sub.type for sub in payload.txn.txns)
        elif isinstance(payload, wire_payloads.SessionTouches):
            touches.add(len(payload.touches))
        elif isinstance(payload, wire_payloads.RevalidateResponse):
            revalidations.add(payload.valid)
    writes = {OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL}
    writes |= {OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.multi, OpCode.reconfig}
    assert requests >= writes | {OpCode.sync, OpCode.createSession, OpCode.closeSession}
    assert txns >= (writes - {OpCode.reconfig}) | {
        OpCode.deleteContainer,
        OpCode.createSession,
        OpCode.closeSession,
        OpCode.error,
    }
    assert sub_txns >= {1, 2, 5, 13, 19, 21, -1}
    assert 0 in touches and max(touches) > 0
    assert revalidations == {True, False}


@pytest.mark.parametrize(
    "kind", [KIND_PACKET, KIND_SNAPSHOT, KIND_INITIAL_MESSAGE, KIND_NOTIFICATION]
)
def test_every_recorded_frame_decodes_and_reencodes_byte_for_byte(kind: str) -> None:
    recorded = frames(kind)
    assert recorded
    for frame in recorded:
        data = payload_of(frame)
        encoded: bytes
        if kind == KIND_PACKET:
            packet = wire.decode_packet(data)
            assert wire.PacketType(packet.type).name == frame["type"]
            encoded = wire.encode_packet(packet)
        elif kind == KIND_SNAPSHOT:
            snapshot = apache_snapshot.decode_snapshot_transfer(data)
            encoded = apache_snapshot.encode_snapshot_transfer(snapshot)
        elif kind == KIND_INITIAL_MESSAGE:
            message = election_wire.decode_initial_message(data)
            assert message.protocolVersion == PROTOCOL_VERSIONS[frame["type"]]
            assert message.sid == CONNECTIONS[frame["connection"]]["dialer_sid"]
            assert all(election_wire.parse_address(a)[0] == "127.0.0.1" for a in message.addresses)
            encoded = election_wire.encode_initial_message(message)
        else:
            notification = election_wire.decode_notification(data[4:])
            assert notification.state.name == frame["type"]
            assert notification.version == election_wire.NOTIFICATION_VERSION
            assert notification.config is not None and b"server.1=" in notification.config
            encoded = election_wire.frame_message(election_wire.encode_notification(notification))
        assert encoded == data, frame


def test_every_packets_data_decodes_as_its_type_and_reencodes() -> None:
    typed: Counter[tuple[str, str]] = Counter()
    for frame, packet, payload in packets():
        # Packets without typed data carry none (null, not empty).
        assert wire_payloads.encode_payload(payload) == packet.data, frame
        typed[(frame["direction"], type(payload).__name__)] += 1
        if packet.type == PacketType.FOLLOWERINFO:
            assert isinstance(payload, wire_payloads.LearnerInfo)
            assert payload.serverid == CONNECTIONS[frame["connection"]]["learner_sid"]
            assert payload.protocolVersion == wire_payloads.ZAB_PROTOCOL_VERSION
            assert packet.zxid & 0xFFFFFFFF == 0  # acceptedEpoch << 32
        if packet.type == PacketType.LEADERINFO:
            assert payload == wire_payloads.LeaderInfo(wire_payloads.ZAB_PROTOCOL_VERSION)
        if packet.type == PacketType.REQUEST and isinstance(
            payload, wire_payloads.ForwardedRequest
        ):
            assert packet.zxid == -1
    assert typed[(LEARNER_TO_LEADER, "AckEpoch")] and typed[(LEADER_TO_LEARNER, "QuorumConfig")]
    assert typed[(LEARNER_TO_LEADER, "RevalidateRequest")] == 2


def test_a_forwarded_requests_body_is_the_clients_request_as_the_client_codec_reads_it() -> None:
    bodies = 0
    for _, packet, payload in packets():
        if not isinstance(payload, wire_payloads.ForwardedRequest):
            continue
        assert packet.authinfo is None or Id("ip", "127.0.0.1") in packet.authinfo
        if payload.type == OpCode.createSession:
            assert packet.authinfo is None
            (timeout,) = struct.unpack(">i", payload.request)
            assert timeout >= 2 * GOLDEN["tick_time_ms"]
            continue
        record_type = jute.REQUEST_RECORDS[payload.type]
        if record_type is None:
            assert payload.request == b""
        else:
            jute.decode_record(record_type, payload.request)
        bodies += 1
    assert bodies


def test_the_ackepoch_of_a_learner_that_already_accepted_the_epoch_is_minus_one() -> None:
    epochs = [p.currentEpoch for _, _, p in packets() if isinstance(p, wire_payloads.AckEpoch)]
    assert wire_payloads.ALREADY_ACKED_EPOCH in epochs


@pytest.mark.parametrize("seed", range(3))
def test_each_quorum_connection_read_as_a_stream_in_pieces_gives_its_frames(seed: int) -> None:
    chooser = random.Random(seed)
    for connection, described in CONNECTIONS.items():
        if described["port"] != PORT_QUORUM:
            continue
        for direction in (LEADER_TO_LEARNER, LEARNER_TO_LEADER):
            recorded = stream_of(connection, direction)
            stream = b"".join(payload_of(f) for f in recorded)
            sender = PacketSender.LEADER if direction == LEADER_TO_LEARNER else PacketSender.LEARNER
            reader = QuorumStreamReader(sender)
            events: list[wire.QuorumPacket | apache_snapshot.ApacheSnapshot] = []
            position = 0
            while position < len(stream):
                step = chooser.choice((1, 3, 7, 64, 1500, 65536))
                events += reader.feed(stream[position : position + step])
                position += step
            assert reader.pending_bytes == 0 and not reader.in_snapshot
            expected = [
                wire.decode_packet(payload_of(f))
                if f["kind"] == KIND_PACKET
                else apache_snapshot.decode_snapshot_transfer(payload_of(f))
                for f in recorded
            ]
            assert events == expected, (connection, direction)


def test_each_election_connection_read_as_a_stream_gives_its_frames() -> None:
    for connection, described in CONNECTIONS.items():
        if described["port"] != PORT_ELECTION:
            continue
        for direction in (DIALER_TO_ACCEPTOR, ACCEPTOR_TO_DIALER):
            recorded = stream_of(connection, direction)
            stream = b"".join(payload_of(f) for f in recorded)
            reader = election_wire.ElectionStreamReader(from_dialer=direction == DIALER_TO_ACCEPTOR)
            events = [
                event
                for byte in range(len(stream))
                for event in reader.feed(stream[byte : byte + 1])
            ]
            expected: list[election_wire.InitialMessage | bytes] = [
                election_wire.decode_initial_message(payload_of(f))
                if f["kind"] == KIND_INITIAL_MESSAGE
                else payload_of(f)[4:]
                for f in recorded
            ]
            assert events == expected, (connection, direction)


def test_every_txn_maps_to_zkref_and_back_to_the_same_bytes() -> None:
    mapped: Counter[str] = Counter()
    for frame, packet, payload in packets():
        if not isinstance(payload, apache_txn.TxnEntry):
            continue
        txn = apache_txn.to_zkref(payload)
        assert txn.header == payload.header
        again = apache_txn.from_zkref(txn, payload.digest)
        assert apache_txn.encode_txn_entry(again) == packet.data, frame
        mapped[type(txn.body).__name__] += 1
    assert set(mapped) == {
        "CreateTxn",
        "DeleteTxn",
        "SetDataTxn",
        "SetACLTxn",
        "ErrorTxn",
        "MultiTxn",
        "CreateSessionTxn",
        "CloseSessionTxn",
    }


def test_an_ephemeral_create_maps_to_the_header_session_and_a_close_to_its_paths() -> None:
    ephemerals: dict[int, set[str]] = {}
    closes: list[zk.Txn] = []
    for _, _, payload in packets():
        if not isinstance(payload, apache_txn.TxnEntry):
            continue
        txn = apache_txn.to_zkref(payload)
        if isinstance(txn.body, zk.CreateTxn) and txn.body.kind == "ephemeral":
            assert txn.body.ephemeral_owner == txn.header.session_id
            ephemerals.setdefault(txn.header.session_id, set()).add(txn.body.path)
        if isinstance(txn.body, zk.CloseSessionTxn) and txn.body.paths:
            closes.append(txn)
    assert closes
    for close in closes:
        assert isinstance(close.body, zk.CloseSessionTxn)
        assert set(close.body.paths) <= ephemerals[close.header.session_id]


def committed_txns(connection: int) -> Iterator[tuple[apache_txn.TxnEntry, zk.Txn]]:
    """The txns a learner commits, in order, as the leader sent them on one connection."""
    proposed: dict[int, apache_txn.TxnEntry] = {}
    for frame in stream_of(connection, LEADER_TO_LEARNER):
        if frame["kind"] != KIND_PACKET:
            continue
        packet = wire.decode_packet(payload_of(frame))
        if packet.type == PacketType.PROPOSAL:
            entry = wire_payloads.decode_payload(packet, PacketSender.LEADER)
            assert isinstance(entry, apache_txn.TxnEntry)
            proposed[packet.zxid] = entry
        elif packet.type == PacketType.COMMIT:
            entry = proposed.pop(packet.zxid)
            yield entry, apache_txn.to_zkref(entry)


def synced_from_scratch() -> list[int]:
    """Quorum connections whose learner started with an empty tree and got DIFF from zxid 0."""
    found = []
    for connection, described in CONNECTIONS.items():
        first = [f for f in stream_of(connection, LEADER_TO_LEARNER) if f["type"] == "DIFF"]
        if (
            described["port"] == PORT_QUORUM
            and first
            and wire.decode_packet(payload_of(first[0])).zxid == 0
        ):
            found.append(connection)
    return found


def test_applying_every_committed_txn_in_zkref_gives_the_apache_leaders_tree_digest() -> None:
    connections = synced_from_scratch()
    assert connections
    checked: Counter[int] = Counter()
    for connection in connections:
        tree = DataTree()
        for entry, txn in committed_txns(connection):
            tree.apply(txn, [])
            if entry.digest is None:
                # Apache puts no digest in an error txn.
                assert entry.header.type == OpCode.error
                continue
            assert entry.digest.version == apache_txn.DIGEST_VERSION
            assert tree_digest(tree) == entry.digest.treeDigest, entry
            checked[entry.header.type] += 1
    assert set(checked) >= {1, 2, 5, 7, 14, 15, 19, 20, 21, -10, -11}


def test_the_snapshot_maps_to_a_zkref_tree_that_goes_on_with_the_leaders_digests() -> None:
    (frame,) = frames(KIND_SNAPSHOT)
    snapshot = apache_snapshot.decode_snapshot_transfer(payload_of(frame))
    snap_packets = [
        f for f in stream_of(frame["connection"], LEADER_TO_LEARNER) if f["type"] == "SNAP"
    ]
    zxid = wire.decode_packet(payload_of(snap_packets[0])).zxid
    tree, sessions = apache_snapshot.to_zkref(snapshot, zxid, extended_types_enabled=EXTENDED_TYPES)
    assert tree.last_processed_zxid == zxid
    assert [s.session_id for s in sessions] == [s.sessionId for s in snapshot.sessions]
    assert tree_digest(tree) == snapshot_digest(snapshot)
    assert {"/golden/multi-c", "/golden/multi-t"} <= set(tree.containers | tree.ttls)
    applied = 0
    for entry, txn in committed_txns(frame["connection"]):
        if entry.header.zxid <= zxid:
            continue
        tree.apply(txn, [])
        assert entry.digest is not None and tree_digest(tree) == entry.digest.treeDigest
        applied += 1
    assert applied


def test_the_snapshot_goes_through_zkref_and_back_to_the_same_tree() -> None:
    (frame,) = frames(KIND_SNAPSHOT)
    snapshot = apache_snapshot.decode_snapshot_transfer(payload_of(frame))
    tree, sessions = apache_snapshot.to_zkref(snapshot, 7, extended_types_enabled=EXTENDED_TYPES)
    again = apache_snapshot.from_zkref(tree, sessions)
    decoded = apache_snapshot.decode_snapshot_transfer(
        apache_snapshot.encode_snapshot_transfer(again)
    )
    tree_again, sessions_again = apache_snapshot.to_zkref(
        decoded, 7, extended_types_enabled=EXTENDED_TYPES
    )
    assert sessions_again == sessions
    assert set(tree_again.nodes) == set(tree.nodes)
    for path, node in tree.nodes.items():
        other = tree_again.nodes[path]
        assert apache_snapshot.stat_persisted(other) == apache_snapshot.stat_persisted(node)
        assert (other.data, other.acl, other.children) == (node.data, node.acl, node.children)
