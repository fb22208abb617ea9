"""The election port: the message that opens a connection, the notification layout, and
the framing between them. No I/O: bytes in, values out.

Connection initiation (``QuorumCnxManager.startConnection`` writes it,
``handleConnection``/``InitialMessage.parse`` read it; not length-prefixed)::

    long  protocolVersion   -65536 (V1, one address) or -65535 (V2, ``multiAddress.enabled``:
                            several addresses joined with "|")
    long  sid
    int   length            1..2048 (``QuorumCnxManager.maxBuffer``)
    bytes address(es)       "host:port", "[v6 address]:port" (``NetUtils.formatInetAddr``)

A first long that is not negative is the sid itself, with nothing after it: how servers
before 3.5 opened connections (``handleConnection`` still accepts it). Only the side that
dials sends this; the other side sends nothing back (quorum SASL off). A connection dialed
from a lower sid to a higher one is closed by both ends after this message, and the higher
sid dials back: only connections from the higher sid carry notifications.

After it, both directions carry frames: int length (1..512 KiB, ``PACKETMAXSIZE``; anything
else closes the connection, ``RecvWorker.run``), then the message. A notification
(``FastLeaderElection.buildMsg``, parsed by ``WorkerReceiver.run``)::

    int   state           0 LOOKING, 1 FOLLOWING, 2 LEADING, 3 OBSERVING
    long  leader          the proposed leader's sid
    long  zxid            the proposed leader's last logged zxid
    long  electionEpoch   the sender's logical clock
    long  peerEpoch       the proposed leader's epoch
    int   version         0x2 (``Notification.CURRENTVERSION``)
    int   config length   then the sender's config, ``QuorumVerifier`` text

What a 3.8 receiver accepts: at least 28 bytes. Exactly 28: no peerEpoch (taken from the
zxid's epoch) and version 0 (before ZOOKEEPER-107). Exactly 40: peerEpoch, and the last
int is not read (version 0; 3.4.6+ wrote 0x1 there). Otherwise version is read and only a
version above 0x1 has a config (length 0..message size; bytes after it are ignored). A
message cut short, or a state outside 0..3, is dropped (logged, connection kept).
"""

from __future__ import annotations

import re
import struct
from enum import IntEnum
from typing import Final

from reference.jute import JuteEncodeError, JuteError
from reference.quorum.wire import foreign_protocol
from spec.record import record

PROTOCOL_VERSION_V1: Final = -65536
"""``QuorumCnxManager.PROTOCOL_VERSION_V1``: one address (3.5+)."""

PROTOCOL_VERSION_V2: Final = -65535
"""``QuorumCnxManager.PROTOCOL_VERSION_V2``: several addresses (3.6+, multiAddress)."""

INITIAL_MESSAGE_ADDRESS_BYTES_MAX: Final = 2048
"""``QuorumCnxManager.maxBuffer``."""

ELECTION_MESSAGE_BYTES_MAX: Final = 512 * 1024
"""``QuorumCnxManager.PACKETMAXSIZE``."""

NOTIFICATION_VERSION: Final = 0x2
"""``FastLeaderElection.Notification.CURRENTVERSION``."""

_PRE_PEER_EPOCH_BYTES: Final = 28
_NO_CONFIG_BYTES: Final = 40
_LEGACY_VERSION: Final = 0x1

_JAVA_INT: Final = re.compile(r"[+-]?[0-9]+")
_LONG: Final = struct.Struct(">q")
_INT: Final = struct.Struct(">i")
_INITIAL_HEAD: Final = struct.Struct(">qqi")
_HEAD: Final = struct.Struct(">iqqq")
_PEER_EPOCH: Final = struct.Struct(">q")
_CURRENT_HEAD: Final = struct.Struct(">iqqqqii")
_NO_CONFIG: Final = struct.Struct(">iqqqqi")


class ServerState(IntEnum):
    """``QuorumPeer.ServerState`` as numbered in notifications (its ordinal)."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


@record
class InitialMessage:
    """The first bytes on an election connection, from the side that dialed.

    ``protocolVersion`` None is the pre-3.5 form (the sid alone, no addresses).
    """

    protocolVersion: int | None
    sid: int
    addresses: tuple[str, ...]


@record
class Notification:
    """A vote, as the receiver reads it: ``peerEpoch`` and ``version`` are what
    ``WorkerReceiver`` derives for the older layouts; ``config`` is None when absent."""

    state: ServerState
    leader: int
    zxid: int
    electionEpoch: int
    peerEpoch: int
    version: int = NOTIFICATION_VERSION
    config: bytes | None = b""


# --- connection initiation ---------------------------------------------------------------


def _java_split(text: str, separator: str) -> list[str]:
    """``String.split`` with a literal separator: trailing empty strings are dropped."""
    parts = text.split(separator)
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return parts


def _split_host_port(address: str) -> tuple[str, int] | None:
    """``ConfigUtils.getHostAndPort`` then ``Integer.parseInt`` of the port, as
    ``InitialMessage.parse`` applies them: (host, port), or None where Java throws."""
    if address.startswith("["):
        close = address.find("]")
        if close < 0 or close + 2 >= len(address):
            return None
        parts = [address[1:close], *_java_split(address[close + 2 :], ":")]
    else:
        parts = _java_split(address, ":")
    if len(parts) != 2 or _JAVA_INT.fullmatch(parts[1]) is None:
        return None
    port = int(parts[1])
    if not -(2**31) <= port < 2**31:
        return None
    return parts[0], port


def parse_address(address: str) -> tuple[str, int]:
    """An address of an ``InitialMessage`` as (host, port); ``JuteError`` if malformed."""
    parsed = _split_host_port(address)
    if parsed is None:
        raise JuteError(f"badly formed address {address!r}", 0)
    return parsed


def initial_message_length(buffer: bytes | bytearray) -> int | None:
    """How many bytes the initial message at the start of ``buffer`` takes, or None if more
    bytes are needed to know; ``JuteError`` if it can never be valid, or is TLS or quorum
    SASL (``reference.quorum.wire.foreign_protocol``), which zkref does not speak."""
    foreign = foreign_protocol(buffer[:4])
    if foreign is not None:
        raise JuteError(foreign, 0)
    if len(buffer) < _LONG.size:
        return None
    (first,) = _LONG.unpack_from(buffer)
    if first >= 0:
        return _LONG.size
    if first not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise JuteError(f"unrecognized protocol version {first}", 0)
    if len(buffer) < _INITIAL_HEAD.size:
        return None
    _, _, length = _INITIAL_HEAD.unpack_from(buffer)
    if not 0 < length <= INITIAL_MESSAGE_ADDRESS_BYTES_MAX:
        raise JuteError(f"unreasonable address length {length}", 16)
    return _INITIAL_HEAD.size + int(length)


def decode_initial_message(payload: bytes) -> InitialMessage:
    """The initial message that fills ``payload``, checked as ``InitialMessage.parse``
    checks it (protocol version, length, each address host:port with a numeric port)."""
    length = initial_message_length(payload)
    if length is None or length > len(payload):
        raise JuteError(f"truncated initial message of {len(payload)} bytes", len(payload))
    if length != len(payload):
        raise JuteError(f"{len(payload) - length} bytes after the initial message", length)
    if length == _LONG.size:
        return InitialMessage(None, _LONG.unpack(payload)[0], ())
    protocol_version, sid, _ = _INITIAL_HEAD.unpack_from(payload)
    text = payload[_INITIAL_HEAD.size :].decode("utf-8", "replace")
    addresses = text.split("|")
    # Java's String.split drops trailing empty strings.
    while addresses and not addresses[-1]:
        addresses.pop()
    for address in addresses:
        parse_address(address)
    return InitialMessage(protocol_version, sid, tuple(addresses))


def encode_initial_message(message: InitialMessage) -> bytes:
    """The initial message's bytes (``startConnection``)."""
    try:
        if message.protocolVersion is None:
            assert not message.addresses, "the pre-3.5 form carries no address"
            return _LONG.pack(message.sid)
        text = "|".join(message.addresses).encode("utf-8")
        return _INITIAL_HEAD.pack(message.protocolVersion, message.sid, len(text)) + text
    except (struct.error, UnicodeEncodeError) as error:
        raise JuteEncodeError(f"InitialMessage: {error}") from None


# --- notifications -----------------------------------------------------------------------


def decode_notification(payload: bytes) -> Notification:
    """A notification as 3.8's ``WorkerReceiver`` reads it; ``JuteError`` where it drops
    the message (too short, cut short, a config length out of range, an unknown state)."""
    size = len(payload)
    if size < _PRE_PEER_EPOCH_BYTES:
        raise JuteError(f"short notification of {size} bytes", 0)
    state, leader, zxid, election_epoch = _HEAD.unpack_from(payload)
    config: bytes | None = None
    if size == _PRE_PEER_EPOCH_BYTES:
        peer_epoch, version = zxid >> 32, 0
    else:
        if size < _HEAD.size + _PEER_EPOCH.size:
            raise JuteError(f"notification of {size} bytes cut short", _HEAD.size)
        (peer_epoch,) = _PEER_EPOCH.unpack_from(payload, _HEAD.size)
        version = 0
        position = _HEAD.size + _PEER_EPOCH.size
        if size != _NO_CONFIG_BYTES:
            if size < position + _INT.size:
                raise JuteError(f"notification of {size} bytes cut short", position)
            (version,) = _INT.unpack_from(payload, position)
            position += _INT.size
            if version > _LEGACY_VERSION:
                if size < position + _INT.size:
                    raise JuteError(f"notification of {size} bytes cut short", position)
                (length,) = _INT.unpack_from(payload, position)
                position += _INT.size
                if not 0 <= length <= size or position + length > size:
                    raise JuteError(f"invalid config length {length}", position - _INT.size)
                config = bytes(payload[position : position + length])
    try:
        server_state = ServerState(state)
    except ValueError:
        raise JuteError(f"unknown server state {state}", 0) from None
    return Notification(server_state, leader, zxid, election_epoch, peer_epoch, version, config)


def encode_notification(notification: Notification) -> bytes:
    """The notification's bytes: 3.8's layout (``buildMsg`` with config) when it has a
    config, else the 40-byte layout of 3.4.6-3.4 (``buildMsg`` without one)."""
    n = notification
    try:
        if n.config is None:
            return _NO_CONFIG.pack(
                n.state, n.leader, n.zxid, n.electionEpoch, n.peerEpoch, _LEGACY_VERSION
            )
        head = _CURRENT_HEAD.pack(
            n.state, n.leader, n.zxid, n.electionEpoch, n.peerEpoch, n.version, len(n.config)
        )
        return head + n.config
    except struct.error as error:
        raise JuteEncodeError(f"Notification: {error}") from None


# --- framing -----------------------------------------------------------------------------


def frame_message(message: bytes) -> bytes:
    """A message with its length prefix (``SendWorker.send``)."""
    assert 0 < len(message) <= ELECTION_MESSAGE_BYTES_MAX, len(message)
    return _INT.pack(len(message)) + message


class ElectionStreamReader:
    """One direction of an election connection: ``feed`` bytes, get the initial message
    (first, if this is the dialing side's direction) and then each message's bytes.

    Messages come out as bytes, not decoded: a notification that does not decode is dropped
    by Apache while the connection stays up, whereas a bad length or initial message ends
    the connection (``JuteError`` here; the reader stays broken).
    """

    __slots__ = ("_after_initial", "_broken", "_expect_initial", "_pending")

    def __init__(self, from_dialer: bool) -> None:
        self._expect_initial = from_dialer
        self._after_initial = False
        self._pending = bytearray()
        self._broken = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[InitialMessage | bytes]:
        assert not self._broken, "the stream was malformed: close the connection"
        self._pending += data
        try:
            return self._drain()
        except BaseException:
            self._broken = True
            raise

    def _drain(self) -> list[InitialMessage | bytes]:
        out: list[InitialMessage | bytes] = []
        pending = self._pending
        position = 0
        if self._expect_initial:
            length = initial_message_length(pending)
            if length is None or len(pending) < length:
                return out
            out.append(decode_initial_message(bytes(pending[:length])))
            position = length
            self._expect_initial = False
            self._after_initial = True
        if self._after_initial:
            # A dialer that requires quorum SASL authenticates right after its initial
            # message (QuorumCnxManager.initiateConnection, SaslQuorumAuthLearner).
            if len(pending) - position < 4:
                del pending[:position]
                return out
            foreign = foreign_protocol(pending[position : position + 4])
            if foreign is not None:
                raise JuteError(foreign, position)
            self._after_initial = False
        while len(pending) - position >= _INT.size:
            (length,) = _INT.unpack_from(pending, position)
            if not 0 < length <= ELECTION_MESSAGE_BYTES_MAX:
                raise JuteError(f"invalid election message length {length}", position)
            if len(pending) - position - _INT.size < length:
                break
            start = position + _INT.size
            out.append(bytes(pending[start : start + length]))
            position = start + length
        del pending[:position]
        return out
