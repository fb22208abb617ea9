"""What a ``QuorumPacket``'s ``data`` holds, per packet type and direction, typed.

Layouts (big-endian ``DataOutputStream`` writes unless said otherwise):

============================  =======  ===================================================
packet                        sender   data
============================  =======  ===================================================
FOLLOWERINFO / OBSERVERINFO   learner  ``LearnerInfo`` jute record: long serverid, int
                                       protocolVersion (0x10000), long configVersion
                                       (``Learner.registerWithLeader``; the leader also
                                       takes the 8- and 12-byte forms of older learners,
                                       ``LearnerHandler.run``). zxid = acceptedEpoch << 32.
LEADERINFO                    leader   int protocolVersion 0x10000 (``LearnerHandler.run``);
                                       zxid = newEpoch << 32
ACKEPOCH                      learner  int currentEpoch, or -1 when this epoch was already
                                       acked (``Learner.registerWithLeader``); zxid = the
                                       learner's last logged zxid
NEWLEADER                     leader   the leader's last seen config, ``QuorumVerifier``
                                       text (``Leader.getQuorumVerifierBytes``); null for
                                       pre-0x10000 learners; zxid = newEpoch << 32
REQUEST                       learner  long sessionId, int cxid, int type, then the client's
                                       request body as received (``Learner.request``); a
                                       createSession's body is int timeout
                                       (``ZooKeeperServer.createSession``), a closeSession's
                                       is empty; authinfo = the connection's ids
PROPOSAL / INFORM             leader   an Apache txn (``reference.quorum.apache_txn``)
PING                          leader   null; zxid = the last proposed zxid
PING                          learner  the same zxid back, data = (long sessionId, int
                                       timeout) per session touched since the last ping, in
                                       a HashMap's order (``Learner.ping``,
                                       ``LearnerSessionTracker.snapshot``); empty if none
REVALIDATE                    learner  long sessionId, int timeout (``Learner.validateSession``)
REVALIDATE                    leader   long sessionId, boolean valid
                                       (``Leader.revalidateSession``); zxid echoed (-1)
COMMITANDACTIVATE             leader   long designated leader (``Leader.commitAndActivate``)
INFORMANDACTIVATE             leader   long designated leader, then an Apache txn
                                       (``Leader.buildInformAndActivePacket``)
ACK                           learner  null (Apache never reads it); zxid = the zxid acked
COMMIT SYNC UPTODATE DIFF     leader   null (Apache never reads it). zxid: COMMIT the
TRUNC SNAP                             committed one, DIFF the leader's last committed,
                                       TRUNC where to truncate, SNAP the snapshot's,
                                       UPTODATE -1, SYNC 0 (``LearnerHandler``)
============================  =======  ===================================================

Every payload must fill its data exactly (Java ignores trailing bytes after the fields it
reads; no Apache server writes any).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from reference.jute import JuteError
from reference.quorum.apache_txn import TxnEntry, decode_txn_entry, encode_txn_entry
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket
from spec.record import record

ZAB_PROTOCOL_VERSION: Final = 0x10000
"""The protocol version learners and leaders send since Zab 1.0 (3.4)."""

ALREADY_ACKED_EPOCH: Final = -1
"""ACKEPOCH's epoch when the learner had accepted the proposed epoch before: it does not
count as an ack (``Learner.registerWithLeader``)."""

PRE_ZAB_PROTOCOL_VERSION: Final = 0x1
"""The protocol version a leader assumes for a learner that did not send one
(``LearnerHandler.version``)."""

_LONG: Final = struct.Struct(">q")
_INT: Final = struct.Struct(">i")
_LONG_INT: Final = struct.Struct(">qi")
_LONG_INT_LONG: Final = struct.Struct(">qiq")
_REQUEST_HEAD: Final = struct.Struct(">qii")
_LONG_BOOL: Final = struct.Struct(">q?")


@record
class LearnerInfo:
    """FOLLOWERINFO/OBSERVERINFO data. ``protocolVersion``/``configVersion`` are None when
    an older learner did not send them (8 bytes: serverid only; 12: no configVersion)."""

    serverid: int
    protocolVersion: int | None = ZAB_PROTOCOL_VERSION
    configVersion: int | None = 0

    def encode(self) -> bytes:
        if self.protocolVersion is None:
            assert self.configVersion is None, "configVersion without protocolVersion"
            return _LONG.pack(self.serverid)
        if self.configVersion is None:
            return _LONG_INT.pack(self.serverid, self.protocolVersion)
        return _LONG_INT_LONG.pack(self.serverid, self.protocolVersion, self.configVersion)


@record
class LeaderInfo:
    """LEADERINFO data: the leader's protocol version."""

    protocolVersion: int = ZAB_PROTOCOL_VERSION

    def encode(self) -> bytes:
        return _INT.pack(self.protocolVersion)


@record
class AckEpoch:
    """ACKEPOCH data: the learner's current epoch, or ``ALREADY_ACKED_EPOCH``."""

    currentEpoch: int

    def encode(self) -> bytes:
        return _INT.pack(self.currentEpoch)


@record
class QuorumConfig:
    """NEWLEADER data: the leader's config as ``QuorumVerifier.toString`` writes it
    (``server.N=...`` lines, then ``version=<hex>``), UTF-8."""

    text: bytes

    def encode(self) -> bytes:
        return self.text

    def parse(self) -> ParsedQuorumConfig:
        """The servers (id -> ``participant`` or ``observer``), the version, and any other
        key (``group.N``/``weight.N`` of hierarchical quorums, ``QuorumHierarchical``);
        ``JuteError`` for text ``QuorumVerifier.toString`` would not write."""
        servers: dict[int, str] = {}
        version = 0
        others: list[str] = []
        for line in self.text.decode("utf-8", "replace").splitlines():
            key, equals, value = line.partition("=")
            if not equals:
                if line.strip():
                    raise JuteError(f"config line {line!r} is not key=value", 0)
                continue
            if key.startswith("server."):
                try:
                    sid = int(key[len("server.") :])
                except ValueError:
                    raise JuteError(f"config line {line!r}: no server id", 0) from None
                role = value.split(";", 1)[0].rsplit(":", 1)[-1]
                servers[sid] = role if role in ("participant", "observer") else "participant"
            elif key == "version":
                try:
                    version = int(value, 16)
                except ValueError:
                    raise JuteError(f"config version {value!r} is not hexadecimal", 0) from None
            else:
                others.append(key)
        return ParsedQuorumConfig(servers, version, tuple(others))


@record
class ParsedQuorumConfig:
    """What a ``QuorumConfig`` says (``QuorumConfig.parse``)."""

    servers: dict[int, str]
    version: int
    others: tuple[str, ...]

    def differs_from(self, voters: tuple[int, ...]) -> str | None:
        """Why a server whose static configuration has ``voters`` (all participants, version
        0) cannot follow a leader with this configuration, or None if it can (a text that
        names no server says nothing of the membership: no Apache server writes one)."""
        if self.version != 0:
            return (
                f"the leader's configuration has version {self.version:#x}: it is dynamic "
                "(reconfigEnabled on the other servers); zkref supports only the static "
                "server.N lines of zoo.cfg (version 0)"
            )
        if self.others:
            return (
                f"the leader's configuration has {', '.join(sorted(set(self.others)))}: "
                "hierarchical quorums are not supported by zkref"
            )
        observers = sorted(sid for sid, role in self.servers.items() if role != "participant")
        if observers:
            return f"the leader's configuration has observers {observers}: zkref has none"
        if self.servers and sorted(self.servers) != sorted(voters):
            return (
                f"the leader's configuration has servers {sorted(self.servers)}, ours "
                f"{sorted(voters)}: every server's zoo.cfg must list the same server.N lines"
            )
        return None


@record
class ForwardedRequest:
    """REQUEST data: a client request a learner forwards to the leader."""

    sessionId: int
    cxid: int
    type: int
    request: bytes

    def encode(self) -> bytes:
        return _REQUEST_HEAD.pack(self.sessionId, self.cxid, self.type) + self.request


@record
class SessionTouch:
    """A session a learner's clients kept alive, and its timeout (ms)."""

    sessionId: int
    timeout: int


@record
class SessionTouches:
    """A learner's PING data."""

    touches: tuple[SessionTouch, ...]

    def encode(self) -> bytes:
        return b"".join(_LONG_INT.pack(t.sessionId, t.timeout) for t in self.touches)


@record
class RevalidateRequest:
    """A learner's REVALIDATE: may this session, with this timeout, attach here?"""

    sessionId: int
    timeout: int

    def encode(self) -> bytes:
        return _LONG_INT.pack(self.sessionId, self.timeout)


@record
class RevalidateResponse:
    """The leader's REVALIDATE answer."""

    sessionId: int
    valid: bool

    def encode(self) -> bytes:
        return _LONG_BOOL.pack(self.sessionId, self.valid)


@record
class CommitAndActivate:
    """COMMITANDACTIVATE data (a reconfig's commit): the leader of the new config."""

    designatedLeader: int

    def encode(self) -> bytes:
        return _LONG.pack(self.designatedLeader)


@record
class InformAndActivate:
    """INFORMANDACTIVATE data (a reconfig, to observers)."""

    designatedLeader: int
    txn: TxnEntry

    def encode(self) -> bytes:
        return _LONG.pack(self.designatedLeader) + encode_txn_entry(self.txn)


Payload = (
    LearnerInfo
    | LeaderInfo
    | AckEpoch
    | QuorumConfig
    | ForwardedRequest
    | SessionTouches
    | RevalidateRequest
    | RevalidateResponse
    | CommitAndActivate
    | InformAndActivate
    | TxnEntry
    | None
)


def _exact(data: bytes, layout: struct.Struct, what: str) -> tuple[int, ...]:
    if len(data) != layout.size:
        raise JuteError(f"{what} data of {len(data)} bytes, expected {layout.size}", 0)
    return tuple(layout.unpack(data))


def _learner_info(data: bytes) -> LearnerInfo:
    if len(data) == _LONG_INT_LONG.size:
        return LearnerInfo(*_LONG_INT_LONG.unpack(data))
    if len(data) == _LONG_INT.size:
        serverid, protocol_version = _LONG_INT.unpack(data)
        return LearnerInfo(serverid, protocol_version, None)
    if len(data) == _LONG.size:
        return LearnerInfo(_LONG.unpack(data)[0], None, None)
    raise JuteError(f"LearnerInfo of {len(data)} bytes (expected 20, 12 or 8)", 0)


def _touches(data: bytes) -> SessionTouches:
    if len(data) % _LONG_INT.size:
        raise JuteError(f"PING data of {len(data)} bytes is not whole session touches", 0)
    return SessionTouches(tuple(SessionTouch(*fields) for fields in _LONG_INT.iter_unpack(data)))


def _forwarded_request(data: bytes) -> ForwardedRequest:
    if len(data) < _REQUEST_HEAD.size:
        raise JuteError(f"REQUEST data of {len(data)} bytes", 0)
    session_id, cxid, type_ = _REQUEST_HEAD.unpack_from(data)
    return ForwardedRequest(session_id, cxid, type_, data[_REQUEST_HEAD.size :])


def _inform_and_activate(data: bytes) -> InformAndActivate:
    if len(data) < _LONG.size:
        raise JuteError(f"INFORMANDACTIVATE data of {len(data)} bytes", 0)
    return InformAndActivate(_LONG.unpack_from(data)[0], decode_txn_entry(data[_LONG.size :]))


def _leader_info(data: bytes) -> LeaderInfo:
    return LeaderInfo(*_exact(data, _INT, "LEADERINFO"))


def _ack_epoch(data: bytes) -> AckEpoch:
    return AckEpoch(*_exact(data, _INT, "ACKEPOCH"))


def _revalidate_request(data: bytes) -> RevalidateRequest:
    return RevalidateRequest(*_exact(data, _LONG_INT, "REVALIDATE"))


def _revalidate_response(data: bytes) -> RevalidateResponse:
    session_id, valid = _exact(data, _LONG_BOOL, "REVALIDATE")
    return RevalidateResponse(session_id, bool(valid))


def _commit_and_activate(data: bytes) -> CommitAndActivate:
    return CommitAndActivate(*_exact(data, _LONG, "COMMITANDACTIVATE"))


# What each side's packets carry (the table above, as data): a decoder per packet type
# whose data is read, and the types whose data Apache never reads.
_DECODERS: Final[dict[PacketSender, dict[int, Callable[[bytes], Payload]]]] = {
    PacketSender.LEADER: {
        PacketType.LEADERINFO: _leader_info,
        PacketType.NEWLEADER: QuorumConfig,
        PacketType.PROPOSAL: decode_txn_entry,
        PacketType.INFORM: decode_txn_entry,
        PacketType.REVALIDATE: _revalidate_response,
        PacketType.COMMITANDACTIVATE: _commit_and_activate,
        PacketType.INFORMANDACTIVATE: _inform_and_activate,
    },
    PacketSender.LEARNER: {
        PacketType.FOLLOWERINFO: _learner_info,
        PacketType.OBSERVERINFO: _learner_info,
        PacketType.ACKEPOCH: _ack_epoch,
        PacketType.REQUEST: _forwarded_request,
        PacketType.PING: _touches,
        PacketType.REVALIDATE: _revalidate_request,
    },
}
_UNREAD: Final[dict[PacketSender, frozenset[int]]] = {
    PacketSender.LEADER: frozenset(
        {
            PacketType.COMMIT,
            PacketType.PING,
            PacketType.SYNC,
            PacketType.UPTODATE,
            PacketType.DIFF,
            PacketType.TRUNC,
            PacketType.SNAP,
        }
    ),
    PacketSender.LEARNER: frozenset({PacketType.ACK}),
}
# Data a sender may leave null: NEWLEADER to a pre-0x10000 learner.
_NULLABLE: Final = frozenset({PacketType.NEWLEADER})


def decode_payload(packet: QuorumPacket, sender: PacketSender) -> Payload:
    """The typed data of ``packet`` as sent by ``sender``.

    None for packets whose data Apache never reads; ``JuteError`` for a packet type the
    sender does not send, or data that does not have its packet's layout.
    """
    type_, data = packet.type, packet.data
    if type_ in _UNREAD[sender]:
        return None
    decoder = _DECODERS[sender].get(type_)
    if decoder is None:
        raise JuteError(f"{_name(type_)} is not sent by the {sender.value}", 0)
    if data is None:
        if type_ in _NULLABLE:
            return None
        raise JuteError(f"{_name(type_)} from the {sender.value} without data", 0)
    return decoder(data)


def encode_payload(payload: Payload) -> bytes | None:
    """The ``data`` of a packet carrying ``payload`` (None for no data)."""
    if payload is None:
        return None
    if isinstance(payload, TxnEntry):
        return encode_txn_entry(payload)
    return payload.encode()


def _name(type_: int) -> str:
    try:
        return PacketType(type_).name
    except ValueError:
        return f"packet type {type_}"
