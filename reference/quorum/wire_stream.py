"""One direction of a quorum connection, read incrementally: bytes in, packets (and the
snapshot after a leader's SNAP) out. No I/O: the caller owns the socket.

Rules
-----
* The stream is ``QuorumPacket`` after ``QuorumPacket`` with nothing between them
  (``reference.quorum.wire``), except that a leader writes the serialized snapshot and its
  signature right after its SNAP packet (``LearnerHandler.run``), and a learner reads them
  right after reading SNAP (``Learner.syncWithLeader``). So a reader of the leader's
  direction yields the SNAP packet, then ``ApacheSnapshot`` once the snapshot and its
  signature are in, then packets again.
* A malformed packet or snapshot raises ``JuteError``; Apache closes the connection (an
  ``IOException`` in the reading thread). The reader stays broken after that. So do a
  connection's first bytes when they are quorum SASL or TLS, which zkref does not speak
  (``reference.quorum.wire.foreign_protocol``): the error says so.
* Memory: at most one unfinished item (a packet, or one znode of a snapshot) is kept, and
  an item is bounded by ``max_buffer_bytes`` per buffer/ustring field.
"""

from __future__ import annotations

from reference.jute import JuteError
from reference.quorum.apache_snapshot import ApacheSnapshot, SnapshotParser
from reference.quorum.wire import (
    QUORUM_BUFFER_BYTES_MAX,
    PacketSender,
    PacketType,
    QuorumPacket,
    foreign_protocol,
    read_packet_at,
)

QuorumEvent = QuorumPacket | ApacheSnapshot

_COMPACT_BYTES_MIN = 1 << 16


class QuorumStreamReader:
    """Reads what ``sender`` writes on one quorum connection: ``feed`` bytes, get events."""

    __slots__ = (
        "_broken",
        "_max_buffer_bytes",
        "_pending",
        "_position",
        "_snapshot",
        "_started",
        "sender",
    )

    def __init__(
        self, sender: PacketSender, max_buffer_bytes: int = QUORUM_BUFFER_BYTES_MAX
    ) -> None:
        self.sender = sender
        self._max_buffer_bytes = max_buffer_bytes
        self._pending = bytearray()
        self._position = 0
        self._snapshot: SnapshotParser | None = None
        self._broken = False
        self._started = False  # the connection's first bytes were found to be ours

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet part of a whole item."""
        return len(self._pending) - self._position

    @property
    def broken(self) -> bool:
        """The bytes were malformed: the connection must be closed; nothing more is read."""
        return self._broken

    @property
    def in_snapshot(self) -> bool:
        """Whether the reader is inside the snapshot that follows SNAP."""
        return self._snapshot is not None

    def feed(self, data: bytes | bytearray | memoryview) -> list[QuorumEvent]:
        """Add received bytes; the packets and snapshot they complete, in order."""
        assert not self._broken, "the stream was malformed: close the connection"
        self._pending += data
        events: list[QuorumEvent] = []
        try:
            self._drain(events)
        except BaseException:
            self._broken = True
            raise
        if self._position >= _COMPACT_BYTES_MIN or self._position == len(self._pending):
            del self._pending[: self._position]
            self._position = 0
        return events

    def _drain(self, events: list[QuorumEvent]) -> None:
        pending = self._pending
        if not self._started:
            if len(pending) < 4:
                return
            foreign = foreign_protocol(pending[:4])
            if foreign is not None:
                raise JuteError(foreign, 0)
            self._started = True
        while True:
            snapshot = self._snapshot
            if snapshot is not None:
                self._position = snapshot.parse(pending, self._position)
                if not snapshot.done:
                    return
                events.append(snapshot.result())
                self._snapshot = None
                continue
            read = read_packet_at(pending, self._position, self._max_buffer_bytes)
            if read is None:
                return
            packet, self._position = read
            events.append(packet)
            if packet.type == PacketType.SNAP and self.sender is PacketSender.LEADER:
                self._snapshot = SnapshotParser(
                    signed=True, max_buffer_bytes=self._max_buffer_bytes
                )
