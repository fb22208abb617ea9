"""What goes to disk: transactions and snapshots as bytes, and back. No I/O here.

A transaction is logged as ``TxnHeader`` + body in jute encoding (big-endian, -1 = null), one
record per zxid; a snapshot holds the whole data tree and the session table as of one zxid.
Every encoded blob starts with a format tag and ends with a CRC-32 of everything before it, so
a torn or corrupted record is detected (``CorruptRecord``) instead of being half-applied.
The storage engine (``server/``) keeps these blobs; ``ZooKeeperCore.restore`` rebuilds a
server from the newest valid snapshot plus the log after it, as ZooKeeper's
``FileTxnSnapLog.restore`` does.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from reference.datatree import DataNode, DataTree
from reference.jute import JuteError, Reader
from reference.jute.primitives import (
    INT,
    LONG,
    NULL_LENGTH,
    write_acl_vector,
    write_buffer,
    write_int,
    write_long,
    write_string_vector,
    write_ustring,
)
from reference.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    SubTxn,
    Txn,
    TxnBody,
    TxnHeader,
)
from spec.acl import ACL

TXN_FORMAT = 1
SNAPSHOT_FORMAT = 1
_CRC = struct.Struct(">I")
_HEADER = struct.Struct(">qiqqi")  # session id, cxid, zxid, time, type

# Body tags: one byte naming the body record.
_CREATE, _DELETE, _SET_DATA, _SET_ACL, _CHECK, _ERROR, _MULTI, _OPEN, _CLOSE = range(1, 10)


class CorruptRecord(ValueError):
    """A stored blob failed its checksum or does not parse: it must not be applied."""


def _seal(out: bytearray) -> bytes:
    out += _CRC.pack(zlib.crc32(out))
    return bytes(out)


def _open(blob: bytes, expected_format: int, what: str) -> Reader:
    if len(blob) < 5:
        raise CorruptRecord(f"{what}: {len(blob)} bytes is too short")
    (crc,) = _CRC.unpack_from(blob, len(blob) - 4)
    if zlib.crc32(blob[:-4]) != crc:
        raise CorruptRecord(f"{what}: checksum mismatch")
    if blob[0] != expected_format:
        raise CorruptRecord(f"{what}: unknown format {blob[0]}")
    reader = Reader(blob[:-4])
    reader.position = 1
    return reader


# --- transactions ------------------------------------------------------------------------


def _write_body(out: bytearray, body: TxnBody) -> None:
    if isinstance(body, CreateTxn):
        out.append(_CREATE)
        write_ustring(out, body.path)
        write_buffer(out, body.data)
        write_acl_vector(out, body.acl)
        write_ustring(out, body.kind)
        write_long(out, body.ephemeral_owner)
        write_long(out, body.ttl)
        write_int(out, body.parent_cversion)
        write_int(out, body.opcode)
    elif isinstance(body, DeleteTxn):
        out.append(_DELETE)
        write_ustring(out, body.path)
    elif isinstance(body, SetDataTxn):
        out.append(_SET_DATA)
        write_ustring(out, body.path)
        write_buffer(out, body.data)
        write_int(out, body.version)
    elif isinstance(body, SetACLTxn):
        out.append(_SET_ACL)
        write_ustring(out, body.path)
        write_acl_vector(out, body.acl)
        write_int(out, body.aversion)
    elif isinstance(body, CheckTxn):
        out.append(_CHECK)
        write_ustring(out, body.path)
        write_int(out, body.version)
    elif isinstance(body, ErrorTxn):
        out.append(_ERROR)
        write_int(out, body.err)
    elif isinstance(body, MultiTxn):
        out.append(_MULTI)
        write_int(out, len(body.txns))
        for sub in body.txns:
            _write_body(out, sub)
    elif isinstance(body, CreateSessionTxn):
        out.append(_OPEN)
        write_int(out, body.timeout_ms)
    else:
        out.append(_CLOSE)
        write_string_vector(out, body.paths)


def _string(reader: Reader) -> str:
    value = reader.read_ustring()
    if value is None:
        raise JuteError("null string in a txn", reader.position)
    return value


def _read_body(reader: Reader) -> TxnBody:
    if reader.remaining < 1:
        raise JuteError("missing txn body tag", reader.position)
    tag = reader.buffer[reader.position]
    reader.position += 1
    if tag == _CREATE:
        return CreateTxn(
            _string(reader),
            reader.read_buffer(),
            reader.read_acl_vector() or (),
            _string(reader),
            reader.read_long(),
            reader.read_long(),
            reader.read_int(),
            reader.read_int(),
        )
    if tag == _DELETE:
        return DeleteTxn(_string(reader))
    if tag == _SET_DATA:
        return SetDataTxn(_string(reader), reader.read_buffer(), reader.read_int())
    if tag == _SET_ACL:
        return SetACLTxn(_string(reader), reader.read_acl_vector() or (), reader.read_int())
    if tag == _CHECK:
        return CheckTxn(_string(reader), reader.read_int())
    if tag == _ERROR:
        return ErrorTxn(reader.read_int())
    if tag == _MULTI:
        count = reader.read_int()
        if not 0 <= count <= reader.remaining:
            raise JuteError(f"bad multi count {count}", reader.position)
        subs: list[SubTxn] = []
        for _ in range(count):
            sub = _read_body(reader)
            if not isinstance(sub, (CreateTxn, DeleteTxn, SetDataTxn, CheckTxn, ErrorTxn)):
                raise JuteError("bad sub-txn in multi", reader.position)
            subs.append(sub)
        return MultiTxn(tuple(subs))
    if tag == _OPEN:
        return CreateSessionTxn(reader.read_int())
    if tag == _CLOSE:
        return CloseSessionTxn(reader.read_string_vector() or ())
    raise JuteError(f"unknown txn body tag {tag}", reader.position - 1)


def encode_txn(txn: Txn) -> bytes:
    """A txn as a sealed blob: format, header, body, CRC-32."""
    header = txn.header
    out = bytearray((TXN_FORMAT,))
    out += _HEADER.pack(header.session_id, header.cxid, header.zxid, header.time, header.type)
    _write_body(out, txn.body)
    return _seal(out)


def decode_txn(blob: bytes) -> Txn:
    """The txn in a sealed blob; ``CorruptRecord`` if it is torn, corrupt or unknown."""
    reader = _open(blob, TXN_FORMAT, "txn")
    try:
        header = TxnHeader(*reader.unpack(_HEADER, "TxnHeader"))
        body = _read_body(reader)
    except JuteError as error:
        raise CorruptRecord(f"txn: {error}") from None
    if reader.remaining:
        raise CorruptRecord(f"txn: {reader.remaining} bytes after the body")
    return Txn(header, body)


# --- snapshots ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionImage:
    """A session as a snapshot keeps it: its id and negotiated timeout."""

    session_id: int
    timeout_ms: int


@dataclass(slots=True)
class Snapshot:
    """The tree and the sessions as of ``zxid`` (every txn up to it applied)."""

    zxid: int
    tree: DataTree
    sessions: list[SessionImage]
    next_session_id: int


def encode_snapshot(
    tree: DataTree, sessions: Iterable[SessionImage], next_session_id: int
) -> bytes:
    """Serialize the tree (parents before children) and the session table."""
    writer = SnapshotWriter(tree, sessions, next_session_id, watch=False)
    writer.step(len(writer.order))
    return bytes(writer.finish())


class SnapshotWriter:
    """A snapshot of the tree as it is now, encoded a slice at a time while it changes.

    Rules:

    * The snapshot is the tree and session table at creation (``zxid``): byte for byte what
      ``encode_snapshot`` gives then, whatever is applied meanwhile.
    * While it is open it is the tree's ``before_change`` hook: a znode about to change (or
      go) is encoded first, unless it already was. ``step`` encodes the next znodes in
      snapshot order that were not; znodes created after ``zxid`` are never part of it.
    * ``finish`` (once ``step`` returned True) detaches it and gives the sealed blob.

    Why: encoding 200k znodes takes about 0.27 s, a pause in every reply if done at once on
    the server's one event loop; in slices it costs the same CPU but no pause. Starting and
    finishing cost a copy of the path list and of the blob.
    """

    def __init__(
        self,
        tree: DataTree,
        sessions: Iterable[SessionImage],
        next_session_id: int,
        watch: bool = True,
    ) -> None:
        """``watch=False``: the caller encodes everything before the tree changes again."""
        self.zxid = tree.last_processed_zxid
        head = bytearray((SNAPSHOT_FORMAT,))
        write_long(head, self.zxid)
        write_long(head, next_session_id)
        session_list = list(sessions)
        write_int(head, len(session_list))
        for session in session_list:
            write_long(head, session.session_id)
            write_int(head, session.timeout_ms)
        nodes = tree.nodes
        write_int(head, len(nodes))
        self._out = head
        # The seal's CRC-32, kept up to date a slice at a time (over a 45 MB snapshot at
        # once it was another pause).
        self._crc = zlib.crc32(head)
        self._crc_from = len(head)
        # Parents before children, as the decoder needs: the tree's own order already is
        # (a znode is entered after its parent, and a parent can only go, and come back,
        # once it has no children), so there is nothing to sort (a sort of 150k paths was a
        # 40 ms pause).
        self.order = list(nodes)
        self._next = 0
        # Znodes encoded just before they changed or went, by path.
        self._preimages: dict[str, bytes] = {}
        # Znodes share a few ACL lists (the codec hands out one tuple per list) and kinds,
        # so each is encoded once, by identity / value; the tuple rides along so that its
        # id cannot be reused while the writer lives.
        self._acl_wire: dict[int, tuple[bytes, tuple[ACL, ...]]] = {}
        self._kind_wire: dict[str, bytes] = {}
        self._tree: DataTree | None = tree
        if watch:
            assert tree.before_change is None, "another snapshot is being written"
            tree.before_change = self._before_change

    def _before_change(self, path: str, node: DataNode) -> None:
        # A znode already written gets a record too, never read: cheaper than knowing.
        if path not in self._preimages:
            self._preimages[path] = self._encode(path, node)

    def step(self, budget: int) -> bool:
        """Encode up to ``budget`` more znodes; whether every znode is encoded."""
        tree = self._tree
        assert tree is not None, "finished"
        order, preimages, nodes, out = self.order, self._preimages, tree.nodes, self._out
        encode_into = self._encode_into
        position = self._next
        stop = min(len(order), position + budget)
        while position < stop:
            path = order[position]
            position += 1
            if preimages:
                record = preimages.get(path)
                if record is not None:
                    out += record
                    continue
            encode_into(out, path, nodes[path])
        self._next = position
        with memoryview(out) as view:
            self._crc = zlib.crc32(view[self._crc_from :], self._crc)
        self._crc_from = len(out)
        return position == len(order)

    def finish(self) -> bytearray:
        """The sealed snapshot, in the buffer it was written into (a copy of 45 MB paused
        the loop for 60 ms); the tree is no longer watched."""
        assert self._next == len(self.order), "finish before every znode is encoded"
        self.close()
        out = self._out
        out += _CRC.pack(self._crc)
        return out

    def close(self) -> None:
        """Abandon the snapshot: stop watching the tree."""
        if self._tree is not None and self._tree.before_change == self._before_change:
            self._tree.before_change = None
        self._tree = None

    def _encode(self, path: str, node: DataNode) -> bytes:
        out = bytearray()
        self._encode_into(out, path, node)
        return bytes(out)

    def _encode_into(self, out: bytearray, path: str, node: DataNode) -> None:
        acl = node.acl
        acl_entry = self._acl_wire.get(id(acl))
        if acl_entry is None:
            encoded = bytearray()
            write_acl_vector(encoded, acl)
            acl_entry = self._acl_wire[id(acl)] = (bytes(encoded), acl)
        kind = self._kind_wire.get(node.kind)
        if kind is None:
            encoded = bytearray()
            write_ustring(encoded, node.kind)
            kind = self._kind_wire[node.kind] = bytes(encoded)
        encoded_path = path.encode("utf-8")
        out += INT.pack(len(encoded_path))
        out += encoded_path
        data = node.data
        if data is None:
            out += _NULL_LENGTH
        else:
            out += INT.pack(len(data))
            out += data
        out += acl_entry[0]
        out += _NODE_FIELDS.pack(
            node.czxid,
            node.mzxid,
            node.pzxid,
            node.ctime,
            node.mtime,
            node.version,
            node.cversion,
            node.aversion,
            node.ephemeral_owner,
        )
        out += kind
        out += LONG.pack(node.ttl)


_NODE_FIELDS = struct.Struct(">qqqqqiiiq")
_NULL_LENGTH = INT.pack(NULL_LENGTH)


def decode_snapshot(blob: bytes, keep_all_watch_modes: bool = True) -> Snapshot:
    """Rebuild a tree and session table; ``CorruptRecord`` if anything does not check out."""
    reader = _open(blob, SNAPSHOT_FORMAT, "snapshot")
    try:
        zxid = reader.read_long()
        next_session_id = reader.read_long()
        sessions = [
            SessionImage(reader.read_long(), reader.read_int()) for _ in range(_count(reader))
        ]
        tree = DataTree(keep_all_watch_modes)
        tree.nodes.clear()
        for _ in range(_count(reader)):
            path = _string(reader)
            data = reader.read_buffer()
            acl = reader.read_acl_vector() or ()
            fields = reader.unpack(_NODE_FIELDS, "znode")
            kind = _string(reader)
            ttl = reader.read_long()
            node = DataNode(data, acl, fields[0], fields[3], kind, fields[8], ttl)
            node.mzxid, node.pzxid, node.mtime = fields[1], fields[2], fields[4]
            node.version, node.cversion, node.aversion = fields[5], fields[6], fields[7]
            tree.nodes[path] = node
            if path != "/":
                parent = tree.nodes.get(path[: path.rindex("/")] or "/")
                if parent is None:
                    raise CorruptRecord(f"snapshot: {path} has no parent")
                parent.children.add(path[path.rindex("/") + 1 :])
            tree.index(path, node)
    except JuteError as error:
        raise CorruptRecord(f"snapshot: {error}") from None
    if reader.remaining:
        raise CorruptRecord(f"snapshot: {reader.remaining} bytes after the last node")
    if "/" not in tree.nodes:
        raise CorruptRecord("snapshot: no root")
    tree.last_processed_zxid = zxid
    return Snapshot(zxid, tree, sessions, next_session_id)


def _count(reader: Reader) -> int:
    count = reader.read_int()
    if not 0 <= count <= reader.remaining:
        raise JuteError(f"bad count {count}", reader.position)
    return count
