"""The quorum port's unit: ``QuorumPacket``, Apache ZooKeeper's packet codes, and a reader
for jute values on a stream that may stop in the middle of one.

Layout (``zookeeper.jute``, ``org.apache.zookeeper.server.quorum.QuorumPacket``)::

    int         type        PacketType
    long        zxid
    buffer      data        int length, -1 = null; then the bytes
    vector<Id>  authinfo    int count, -1 = null; then per Id: ustring scheme, ustring id

Rules
-----
* Written with ``BinaryOutputArchive.writeRecord`` straight onto the socket's buffered
  stream (``Learner.writePacketNow``, ``LearnerHandler.sendPackets``) and read with
  ``BinaryInputArchive.readRecord`` (``Learner.readPacket``, ``LearnerHandler.run``): there
  is **no outer length prefix**; a packet ends where its last field ends. The one thing on
  the quorum port that is not a packet is the snapshot that follows a SNAP packet from the
  leader (``reference.quorum.wire_stream``). With quorum SASL off (the default) nothing
  precedes the first packet (``NullQuorumAuthLearner``/``NullQuorumAuthServer``).
* ``null`` and empty differ and are kept: a leader's PING has null data, the learner's reply
  an empty buffer when it has no session touches; most packets have null authinfo, a
  forwarded REQUEST carries the client connection's ids.
* A ``buffer`` or ``ustring`` longer than ``jute.maxbuffer`` plus
  ``zookeeper.jute.maxbuffer.extrasize`` (both 0xfffff by default) is refused:
  ``BinaryInputArchive.checkLength`` throws and the connection is closed. So are lengths
  below -1.
* Deliberately stricter than Java: a vector count below -1 is refused (Java's
  ``BinaryIndex`` reads it as an empty vector; no ZooKeeper component writes one) and so are
  null ``Id`` fields (as in ``reference.jute.primitives``).

Packet codes: ``Leader.java`` (REQUEST ... INFORMANDACTIVATE); what each packet's ``data``
holds is ``reference.quorum.wire_payloads``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from enum import Enum, IntEnum
from typing import Any, Final

from reference.jute import JuteEncodeError, JuteError
from reference.jute.primitives import INT, LONG, NULL_LENGTH, write_buffer, write_ustring
from spec.acl import ACL, Id
from spec.record import record

JUTE_MAXBUFFER_BYTES: Final = 0xFFFFF
"""``jute.maxbuffer``'s default (``BinaryInputArchive.maxBuffer``)."""

QUORUM_BUFFER_BYTES_MAX: Final = JUTE_MAXBUFFER_BYTES + JUTE_MAXBUFFER_BYTES
"""The longest ``buffer``/``ustring`` a default Apache server reads from a peer: maxBuffer +
extraMaxBuffer (``zookeeper.jute.maxbuffer.extrasize`` defaults to maxBuffer)."""

_PACKET_HEAD: Final = struct.Struct(">iq")
_PACKET_START: Final = struct.Struct(">iqi")  # type, zxid, data length
_PACKET_START_BYTES: Final = _PACKET_START.size
_NULL_IDS: Final = INT.pack(NULL_LENGTH)


QUORUM_AUTH_MAGIC_NUMBER: Final = 0x5F2435013501EDCC
"""``QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`` (written ``-0xa0dbcafecafe1234L`` in Java: the
negation of a literal whose top bit is set, so positive): the first long of a
``QuorumAuthPacket``, what a
learner (or an election connection's dialer) that requires quorum SASL
(``quorum.auth.learnerRequireSasl``) sends before anything else (``SaslQuorumAuthLearner``)."""

_TLS_RECORD_TYPES: Final = {0x15: "a TLS alert", 0x16: "a TLS handshake"}


def foreign_protocol(head: bytes | bytearray) -> str | None:
    """What the first bytes of a quorum or election connection are, if they are not
    ZooKeeper's plaintext protocol but something zkref does not speak: quorum SASL
    authentication, or TLS (``sslQuorum``: a TLS record starts with its type, 0x16 for a
    handshake, 0x15 for an alert, then version 3.x). None if they may be ours, or if there
    are too few bytes yet to tell (fewer than 4)."""
    if len(head) < 4:
        return None
    if bytes(head[:4]) == struct.pack(">q", QUORUM_AUTH_MAGIC_NUMBER)[:4]:
        return (
            "quorum SASL authentication (quorum.auth.*RequireSasl on the other server): "
            "zkref does not authenticate quorum connections"
        )
    tls = _TLS_RECORD_TYPES.get(head[0])
    if tls is not None and head[1] == 0x03 and head[2] <= 0x04:
        return f"{tls} (sslQuorum on the other server): zkref speaks plaintext only"
    return None


class PacketType(IntEnum):
    """``Leader.java``'s packet codes (the ``type`` of a ``QuorumPacket``)."""

    REQUEST = 1
    PROPOSAL = 2
    ACK = 3
    COMMIT = 4
    PING = 5
    REVALIDATE = 6
    SYNC = 7
    INFORM = 8
    COMMITANDACTIVATE = 9
    NEWLEADER = 10
    FOLLOWERINFO = 11
    UPTODATE = 12
    DIFF = 13
    TRUNC = 14
    SNAP = 15
    OBSERVERINFO = 16
    LEADERINFO = 17
    ACKEPOCH = 18
    INFORMANDACTIVATE = 19


class PacketSender(Enum):
    """Which end of a quorum connection wrote a packet: some packet types carry different
    data each way (PING, REVALIDATE), and only the leader's SNAP is followed by a snapshot."""

    LEADER = "leader"
    LEARNER = "learner"


@record
class QuorumPacket:
    """One packet between a leader and a learner; ``type`` stays an int so that a code this
    codec does not know still decodes (Apache's learner logs and skips it)."""

    type: int
    zxid: int
    data: bytes | None
    authinfo: tuple[Id, ...] | None


class NeedMoreBytes(Exception):
    """The bytes so far end inside a value: on a stream, wait for more; not malformed."""


class QuorumReader:
    """A cursor over received bytes that reads jute values as ``BinaryInputArchive`` does.

    Raises ``NeedMoreBytes`` when a value runs past ``end`` (the caller keeps the bytes and
    retries once more arrive) and ``JuteError`` when the bytes can never be valid.
    """

    __slots__ = ("buffer", "end", "max_buffer_bytes", "position")

    def __init__(
        self,
        buffer: bytes | bytearray,
        position: int = 0,
        max_buffer_bytes: int = QUORUM_BUFFER_BYTES_MAX,
    ) -> None:
        self.buffer = buffer
        self.position = position
        self.end = len(buffer)
        self.max_buffer_bytes = max_buffer_bytes

    @property
    def remaining(self) -> int:
        return self.end - self.position

    def _take(self, count: int) -> int:
        start = self.position
        if self.end - start < count:
            raise NeedMoreBytes(count - (self.end - start))
        self.position = start + count
        return start

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        return layout.unpack_from(self.buffer, self._take(layout.size))

    def read_int(self) -> int:
        (value,) = INT.unpack_from(self.buffer, self._take(4))
        return int(value)

    def read_long(self) -> int:
        (value,) = LONG.unpack_from(self.buffer, self._take(8))
        return int(value)

    def read_bool(self) -> bool:
        return self.buffer[self._take(1)] != 0

    def _read_length(self, what: str) -> int:
        start = self.position
        length = self.read_int()
        if length < NULL_LENGTH or length > self.max_buffer_bytes:
            raise JuteError(f"unreasonable {what} length {length}", start)
        return length

    def read_buffer(self) -> bytes | None:
        length = self._read_length("buffer")
        if length == NULL_LENGTH:
            return None
        start = self._take(length)
        return bytes(self.buffer[start : start + length])

    def read_ustring(self) -> str | None:
        length = self._read_length("ustring")
        if length == NULL_LENGTH:
            return None
        start = self._take(length)
        return bytes(self.buffer[start : start + length]).decode("utf-8", "replace")

    def read_string(self, what: str) -> str:
        """A ustring that must not be null."""
        start = self.position
        value = self.read_ustring()
        if value is None:
            raise JuteError(f"null ustring where {what} is required", start)
        return value

    def read_vector_count(self) -> int:
        start = self.position
        count = self.read_int()
        if count < NULL_LENGTH:
            raise JuteError(f"negative vector count {count}", start)
        return count

    def read_id(self) -> Id:
        return Id(self.read_string("Id.scheme"), self.read_string("Id.id"))

    def read_acl(self) -> ACL:
        perms = self.read_int()
        return ACL(perms, self.read_id())


def read_packet(reader: QuorumReader) -> QuorumPacket:
    """The packet at the reader's cursor (``QuorumPacket.deserialize``)."""
    type_, zxid = reader.unpack(_PACKET_HEAD)
    data = reader.read_buffer()
    count = reader.read_vector_count()
    authinfo = None if count == NULL_LENGTH else tuple(reader.read_id() for _ in range(count))
    return QuorumPacket(type_, zxid, data, authinfo)


def write_ids(out: bytearray, ids: Sequence[Id] | None) -> None:
    """A ``vector<Id>`` (-1 for null)."""
    if ids is None:
        out += INT.pack(NULL_LENGTH)
        return
    out += INT.pack(len(ids))
    for identity in ids:
        write_ustring(out, identity.scheme)
        write_ustring(out, identity.id)


def write_packet(out: bytearray, packet: QuorumPacket) -> None:
    """Append ``packet`` as ``QuorumPacket.serialize`` writes it."""
    out += _PACKET_HEAD.pack(packet.type, packet.zxid)
    write_buffer(out, packet.data)
    write_ids(out, packet.authinfo)


def encode_packet(packet: QuorumPacket) -> bytes:
    """``packet``'s bytes on the quorum port (there is no frame around it)."""
    try:
        if packet.authinfo is None:
            # Every packet but a forwarded REQUEST: one pack and a concatenation.
            data = packet.data
            if data is None:
                return _PACKET_START.pack(packet.type, packet.zxid, NULL_LENGTH) + _NULL_IDS
            return _PACKET_START.pack(packet.type, packet.zxid, len(data)) + data + _NULL_IDS
        out = bytearray()
        write_packet(out, packet)
    except (struct.error, UnicodeEncodeError) as error:
        raise JuteEncodeError(f"QuorumPacket: {error}") from None
    return bytes(out)


def read_packet_at(
    buffer: bytes | bytearray, position: int, max_buffer_bytes: int = QUORUM_BUFFER_BYTES_MAX
) -> tuple[QuorumPacket, int] | None:
    """The packet that starts at ``position`` and the position after it, or None if the
    bytes end inside it; ``JuteError`` if it is malformed. What ``read_packet`` reads, without
    a reader object or an exception at the end of the bytes (the common packet, with null
    authinfo, in three unpacks: a stream of them is a quorum connection's whole traffic)."""
    end = len(buffer)
    if end - position < _PACKET_START_BYTES:
        return None
    type_, zxid, length = _PACKET_START.unpack_from(buffer, position)
    at = position + _PACKET_START_BYTES
    data: bytes | None = None
    if length != NULL_LENGTH:
        if length < NULL_LENGTH or length > max_buffer_bytes:
            raise JuteError(f"unreasonable buffer length {length}", at - 4)
        if end - at < length:
            return None
        data = bytes(buffer[at : at + length])
        at += length
    if end - at < 4:
        return None
    (count,) = INT.unpack_from(buffer, at)
    if count == NULL_LENGTH:
        return QuorumPacket(type_, zxid, data, None), at + 4
    reader = QuorumReader(buffer, position, max_buffer_bytes)
    try:
        packet = read_packet(reader)
    except NeedMoreBytes:
        return None
    return packet, reader.position


def decode_packet(
    payload: bytes | bytearray, max_buffer_bytes: int = QUORUM_BUFFER_BYTES_MAX
) -> QuorumPacket:
    """The one packet that fills ``payload``; ``JuteError`` if it is cut short, malformed or
    followed by more bytes."""
    reader = QuorumReader(payload, 0, max_buffer_bytes)
    try:
        packet = read_packet(reader)
    except NeedMoreBytes:
        raise JuteError("truncated QuorumPacket", reader.end) from None
    if reader.remaining:
        raise JuteError(f"{reader.remaining} bytes after the QuorumPacket", reader.position)
    return packet
