"""Apache ZooKeeper's snapshot serialization as a leader sends it after SNAP, and its mapping
to and from zkref's ``DataTree`` and session table.

Layout (``LearnerHandler.run`` → ``ZKDatabase.serializeSnapshot`` →
``SerializeUtils.serializeSnapshot`` → ``DataTree.serialize``; read back by
``Learner.syncWithLeader`` → ``SerializeUtils.deserializeSnapshot`` →
``DataTree.deserialize``)::

    int   count                          sessions (a HashMap's order)
          count × (long id, int timeout)
    int   map                            the ACL cache (``ReferenceCountedACLCache.serialize``)
          map × (long index, vector<ACL> acls)
    per znode, parents before children (``DataTree.serializeNode``: depth first from the
    root, children in their HashSet's order):
          ustring path                   the root is ""
          buffer  data                   (``DataNode.serialize``)
          long    acl                    an index into the ACL cache; -1 = OPEN_ACL_UNSAFE
          StatPersisted                  czxid, mzxid, ctime, mtime (longs); version,
                                         cversion, aversion (ints); ephemeralOwner, pzxid
    ustring "/"                          the end of the tree
    ustring "BenWasHere"                 the signature (``LearnerHandler``; checked by the
                                         learner: "Missing signature")

On the wire nothing else follows: the digest a snapshot *file* ends with (``FileSnap``,
``DataTree.serializeZxidDigest``) is not sent, and the snapshot's zxid is the SNAP
packet's. ``StatPersisted.cversion`` is the stored child-create count (what zkref's
``DataNode.cversion`` is); ``ephemeralOwner`` also marks containers (``Long.MIN_VALUE``) and,
with ``zookeeper.extendedTypesEnabled``, TTL nodes (0xff in the top byte, the TTL in the low
40 bits) (``EphemeralType``).

``ApacheSnapshot`` keeps everything in the order read, so a snapshot re-encodes to the same
bytes; orders that come from Java hash tables cannot be reproduced from a zkref tree, so
``from_zkref`` writes the tree's own order (parents first) and the ACL lists in first-use
order. Deliberately stricter than Java: negative counts, a null ACL vector, null paths.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Final

from reference.datatree import DataNode, DataTree
from reference.jute import JuteEncodeError, JuteError
from reference.jute.primitives import (
    INT,
    LONG,
    NULL_LENGTH,
    write_acl_vector,
    write_buffer,
    write_ustring,
)
from reference.persistence import SessionImage
from reference.quorum.wire import QUORUM_BUFFER_BYTES_MAX, NeedMoreBytes, QuorumReader
from spec.acl import ACL, OPEN_ACL_UNSAFE
from spec.modes import NodeKind
from spec.record import record
from spec.stat import int64

SIGNATURE: Final = "BenWasHere"
"""What follows the snapshot on the wire (``LearnerHandler.run``)."""

END_OF_TREE: Final = "/"
OPEN_ACL_UNSAFE_INDEX: Final = -1
"""``ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID``: the ACL index read as OPEN_ACL_UNSAFE."""

CONTAINER_EPHEMERAL_OWNER: Final = -(1 << 63)
"""``EphemeralType.CONTAINER_EPHEMERAL_OWNER`` (``Long.MIN_VALUE``)."""

_EXTENDED_MASK: Final = 0xFF00_0000_0000_0000
_RESERVED_BITS_MASK: Final = 0x00FF_FF00_0000_0000
_EXTENDED_FEATURE_VALUE_MASK: Final = 0x0000_00FF_FFFF_FFFF
_EXTENDED_BIT_TTL: Final = 0

_STAT: Final = struct.Struct(">qqqqiiiqq")
_SESSION: Final = struct.Struct(">qi")

_PERSISTENT = NodeKind.PERSISTENT.value
_EPHEMERAL = NodeKind.EPHEMERAL.value
_CONTAINER = NodeKind.CONTAINER.value
_TTL = NodeKind.TTL.value


class UnmappableSnapshot(ValueError):
    """A well-formed snapshot that zkref's tree cannot hold (or Apache could not load)."""


@record
class StatPersisted:
    """A znode's stored bookkeeping (``zookeeper.jute``, ``StatPersisted``)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    pzxid: int


@record
class SessionTimeout:
    """One session of the snapshot: its id and negotiated timeout (ms)."""

    sessionId: int
    timeOut: int


@record
class AclCacheEntry:
    """One list of the ACL cache and the index znodes refer to it by."""

    index: int
    acl: tuple[ACL, ...]


@record
class SnapshotNode:
    """One znode as serialized: ``path`` (the root is ""), data, ACL index, stat."""

    path: str
    data: bytes | None
    acl: int
    stat: StatPersisted


@record
class ApacheSnapshot:
    """A whole snapshot, in the order it was read."""

    sessions: tuple[SessionTimeout, ...]
    acl_cache: tuple[AclCacheEntry, ...]
    nodes: tuple[SnapshotNode, ...]


# --- bytes -------------------------------------------------------------------------------


def _count(reader: QuorumReader, what: str) -> int:
    start = reader.position
    count = reader.read_int()
    if count < 0:
        raise JuteError(f"negative {what} count {count}", start)
    return count


class SnapshotParser:
    """Reads a snapshot (and, if ``signed``, the signature after it) from bytes that arrive
    a piece at a time: ``parse`` consumes every whole item and returns where it stopped.

    Items are small (a session, an ACL list, a znode), so a snapshot of any size is read in
    one pass over its bytes, with at most one item's bytes kept back.
    """

    __slots__ = (
        "_acl_cache",
        "_max_buffer_bytes",
        "_nodes",
        "_sessions",
        "_signed",
        "_step",
        "_to_read",
    )

    # Steps, in order.
    _SESSION_COUNT, _SESSIONS, _ACL_COUNT, _ACLS, _NODES, _SIGNATURE, _DONE = range(7)

    def __init__(self, signed: bool, max_buffer_bytes: int = QUORUM_BUFFER_BYTES_MAX) -> None:
        self._signed = signed
        self._max_buffer_bytes = max_buffer_bytes
        self._step = self._SESSION_COUNT
        self._to_read = 0
        self._sessions: list[SessionTimeout] = []
        self._acl_cache: list[AclCacheEntry] = []
        self._nodes: list[SnapshotNode] = []

    @property
    def done(self) -> bool:
        return self._step == self._DONE

    def result(self) -> ApacheSnapshot:
        assert self.done, "the snapshot is not complete"
        return ApacheSnapshot(tuple(self._sessions), tuple(self._acl_cache), tuple(self._nodes))

    def parse(self, buffer: bytes | bytearray, position: int) -> int:
        """Consume whole items from ``buffer[position:]``; the position after the last one.

        Raises ``JuteError`` for bytes that cannot be a snapshot.
        """
        reader = QuorumReader(buffer, position, self._max_buffer_bytes)
        while self._step != self._DONE:
            mark = reader.position
            try:
                self._parse_item(reader)
            except NeedMoreBytes:
                return mark
        return reader.position

    def _parse_item(self, reader: QuorumReader) -> None:
        step = self._step
        if step == self._SESSION_COUNT:
            self._to_read = _count(reader, "session")
            self._step = self._SESSIONS if self._to_read else self._ACL_COUNT
        elif step == self._SESSIONS:
            self._sessions.append(SessionTimeout(*reader.unpack(_SESSION)))
            self._to_read -= 1
            if not self._to_read:
                self._step = self._ACL_COUNT
        elif step == self._ACL_COUNT:
            self._to_read = _count(reader, "ACL cache")
            self._step = self._ACLS if self._to_read else self._NODES
        elif step == self._ACLS:
            index = reader.read_long()
            start = reader.position
            count = reader.read_vector_count()
            if count == NULL_LENGTH:
                raise JuteError("the ACL cache holds a null ACL vector", start)
            acl = tuple(reader.read_acl() for _ in range(count))
            self._acl_cache.append(AclCacheEntry(index, acl))
            self._to_read -= 1
            if not self._to_read:
                self._step = self._NODES
        elif step == self._NODES:
            path = reader.read_string("a znode path")
            if path == END_OF_TREE:
                self._step = self._SIGNATURE if self._signed else self._DONE
                return
            data = reader.read_buffer()
            acl_index = reader.read_long()
            stat = StatPersisted(*reader.unpack(_STAT))
            self._nodes.append(SnapshotNode(path, data, acl_index, stat))
        else:
            assert step == self._SIGNATURE
            start = reader.position
            signature = reader.read_ustring()
            if signature != SIGNATURE:
                raise JuteError(f"missing signature: got {signature!r}", start)
            self._step = self._DONE


def _decode(payload: bytes, signed: bool) -> ApacheSnapshot:
    parser = SnapshotParser(signed)
    end = parser.parse(payload, 0)
    if not parser.done:
        raise JuteError("truncated snapshot", end)
    if end != len(payload):
        raise JuteError(f"{len(payload) - end} bytes after the snapshot", end)
    return parser.result()


def decode_snapshot(payload: bytes) -> ApacheSnapshot:
    """A snapshot that fills ``payload`` (no signature)."""
    return _decode(payload, signed=False)


def decode_snapshot_transfer(payload: bytes) -> ApacheSnapshot:
    """A snapshot followed by its signature, as sent after SNAP."""
    return _decode(payload, signed=True)


def write_snapshot(out: bytearray, snapshot: ApacheSnapshot) -> None:
    """``SerializeUtils.serializeSnapshot``'s bytes (no signature)."""
    out += INT.pack(len(snapshot.sessions))
    for session in snapshot.sessions:
        out += _SESSION.pack(session.sessionId, session.timeOut)
    out += INT.pack(len(snapshot.acl_cache))
    for entry in snapshot.acl_cache:
        out += LONG.pack(entry.index)
        write_acl_vector(out, entry.acl)
    for node in snapshot.nodes:
        write_ustring(out, node.path)
        write_buffer(out, node.data)
        out += LONG.pack(node.acl)
        stat = node.stat
        out += _STAT.pack(
            stat.czxid,
            stat.mzxid,
            stat.ctime,
            stat.mtime,
            stat.version,
            stat.cversion,
            stat.aversion,
            stat.ephemeralOwner,
            stat.pzxid,
        )
    write_ustring(out, END_OF_TREE)


def encode_snapshot(snapshot: ApacheSnapshot) -> bytes:
    out = bytearray()
    try:
        write_snapshot(out, snapshot)
    except (struct.error, UnicodeEncodeError) as error:
        raise JuteEncodeError(f"snapshot: {error}") from None
    return bytes(out)


def encode_snapshot_transfer(snapshot: ApacheSnapshot) -> bytes:
    """What a leader writes after the SNAP packet: the snapshot, then the signature."""
    out = bytearray()
    try:
        write_snapshot(out, snapshot)
        write_ustring(out, SIGNATURE)
    except (struct.error, UnicodeEncodeError) as error:
        raise JuteEncodeError(f"snapshot: {error}") from None
    return bytes(out)


# --- ephemeral owners --------------------------------------------------------------------


def node_kind(ephemeral_owner: int, extended_types_enabled: bool) -> tuple[str, int, int]:
    """A stored ``ephemeralOwner`` as zkref's (kind, ephemeral owner, ttl), as
    ``EphemeralType.get`` reads it: with extended types, 0xff in the top byte marks a TTL
    node (an unknown feature in the next two bytes is an error); ``Long.MIN_VALUE`` is a
    container; any other non-zero owner is a session."""
    if extended_types_enabled and ephemeral_owner & _EXTENDED_MASK == _EXTENDED_MASK:
        feature = (ephemeral_owner & _RESERVED_BITS_MASK) >> 40
        if feature != _EXTENDED_BIT_TTL:
            raise UnmappableSnapshot(f"invalid ephemeralOwner 0x{ephemeral_owner & (2**64 - 1):x}")
        return _TTL, 0, ephemeral_owner & _EXTENDED_FEATURE_VALUE_MASK
    if ephemeral_owner == CONTAINER_EPHEMERAL_OWNER:
        return _CONTAINER, 0, 0
    if ephemeral_owner == 0:
        return _PERSISTENT, 0, 0
    return _EPHEMERAL, ephemeral_owner, 0


def ephemeral_owner_of(node: DataNode) -> int:
    """The ``ephemeralOwner`` Apache stores for a zkref znode (``PrepRequestProcessor``
    ``pRequest2TxnCreate``, ``EphemeralType.TTL.toEphemeralOwner``)."""
    kind = node.kind
    if kind == _EPHEMERAL:
        return node.ephemeral_owner
    if kind == _CONTAINER:
        return CONTAINER_EPHEMERAL_OWNER
    if kind == _TTL:
        assert 0 < node.ttl <= _EXTENDED_FEATURE_VALUE_MASK, node.ttl
        return int64(_EXTENDED_MASK | node.ttl)
    return 0


def stat_persisted(node: DataNode) -> StatPersisted:
    """A zkref znode's bookkeeping as Apache stores it."""
    return StatPersisted(
        node.czxid,
        node.mzxid,
        node.ctime,
        node.mtime,
        node.version,
        node.cversion,
        node.aversion,
        ephemeral_owner_of(node),
        node.pzxid,
    )


# --- to and from zkref -------------------------------------------------------------------


def to_zkref(
    snapshot: ApacheSnapshot, zxid: int, *, extended_types_enabled: bool = False
) -> tuple[DataTree, list[SessionImage]]:
    """zkref's tree (as of ``zxid``, the SNAP packet's) and session table for a snapshot.

    ``extended_types_enabled`` must be the ensemble's ``zookeeper.extendedTypesEnabled``: it
    decides whether an owner with 0xff in the top byte is a TTL node or a session. Raises
    ``UnmappableSnapshot`` for what Apache could not load either: a znode before its parent,
    an ACL index missing from the cache, no root.
    """
    acls: dict[int, tuple[ACL, ...]] = {OPEN_ACL_UNSAFE_INDEX: OPEN_ACL_UNSAFE}
    for entry in snapshot.acl_cache:
        acls[entry.index] = entry.acl
    tree = DataTree()
    tree.nodes.clear()
    nodes = tree.nodes
    for item in snapshot.nodes:
        path = item.path or "/"
        acl = acls.get(item.acl)
        if acl is None:
            raise UnmappableSnapshot(f"{path}: ACL index {item.acl} is not in the ACL cache")
        stat = item.stat
        kind, owner, ttl = node_kind(stat.ephemeralOwner, extended_types_enabled)
        node = DataNode(item.data, acl, stat.czxid, stat.ctime, kind, owner, ttl)
        node.mzxid, node.pzxid, node.mtime = stat.mzxid, stat.pzxid, stat.mtime
        node.version, node.cversion, node.aversion = stat.version, stat.cversion, stat.aversion
        if path != "/":
            slash = path.rfind("/")
            parent = nodes.get(path[:slash] or "/") if slash >= 0 else None
            if parent is None or path in nodes:
                raise UnmappableSnapshot(f"{path}: no parent before it, or seen twice")
            parent.children.add(path[slash + 1 :])
        elif nodes:
            raise UnmappableSnapshot("the root is not the first znode")
        nodes[path] = node
        tree.index(path, node)
    if "/" not in nodes:
        raise UnmappableSnapshot("no root")
    tree.last_processed_zxid = zxid
    sessions = [SessionImage(s.sessionId, s.timeOut) for s in snapshot.sessions]
    return tree, sessions


def from_zkref(tree: DataTree, sessions: Iterable[SessionImage]) -> ApacheSnapshot:
    """An Apache snapshot of a zkref tree and session table.

    Znodes in the tree's own order (parents first, which is all Apache's reader needs); a
    znode whose ACL is OPEN_ACL_UNSAFE refers to index -1 (as Apache's root does), every
    other list gets the next index from 1 in first-use order.
    """
    indices: dict[tuple[ACL, ...], int] = {}
    cache: list[AclCacheEntry] = []
    nodes: list[SnapshotNode] = []
    for path, node in tree.nodes.items():
        acl = node.acl
        if acl == OPEN_ACL_UNSAFE:
            index = OPEN_ACL_UNSAFE_INDEX
        else:
            found = indices.get(acl)
            if found is None:
                found = indices[acl] = len(cache) + 1
                cache.append(AclCacheEntry(found, acl))
            index = found
        nodes.append(
            SnapshotNode("" if path == "/" else path, node.data, index, stat_persisted(node))
        )
    return ApacheSnapshot(
        tuple(SessionTimeout(s.session_id, s.timeout_ms) for s in sessions),
        tuple(cache),
        tuple(nodes),
    )
