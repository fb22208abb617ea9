"""Apache ZooKeeper's transaction serialization (a PROPOSAL's or INFORM's ``data``), and its
mapping to and from zkref's own ``reference.txn`` types.

Layout (``Util.marshallTxnEntry``, called by ``SerializeUtils.serializeRequest`` from
``Leader.propose``; read by ``SerializeUtils.deserializeTxn`` in ``Learner.syncWithLeader``
and ``Follower.processPacket``)::

    TxnHeader   long clientId, int cxid, long zxid, long time, int type
    record      the txn record chosen by ``type`` (absent for some closeSessions)
    TxnDigest   int version, long treeDigest   (3.6+, when zookeeper.digest.enabled, the
                default; absent otherwise)

The record of each ``type`` (``SerializeUtils.deserializeTxn``): createSession ->
CreateSessionTxn; closeSession -> CloseSessionTxn (``zookeeper.closeSessionTxn.enabled``,
default true; without it no record); create, create2 -> CreateTxn; createTTL ->
CreateTTLTxn; createContainer -> CreateContainerTxn; delete, deleteContainer -> DeleteTxn;
setData, reconfig -> SetDataTxn; setACL -> SetACLTxn; error -> ErrorTxn; multi -> MultiTxn,
whose ``Txn{int type; buffer data}`` elements hold each sub-record serialized on its own
(``PrepRequestProcessor.pRequest`` case multi). Sub-record types (``DataTree.processTxn``):
create, createTTL, createContainer, delete, deleteContainer, setData, error, check ->
CheckVersionTxn; and create2, which 3.9 writes (3.8 writes create and refuses create2).
Any other type is refused, as Apache does ("Unsupported Txn", "Invalid type of op").

How Apache's records carry what zkref's ``CreateTxn`` holds:

* kind: the record class (CreateContainerTxn, CreateTTLTxn) or CreateTxn's ``ephemeral``
  flag; ephemeral owner: the header's ``clientId`` when ``ephemeral``
  (``DataTree.processTxn`` case create); ttl: CreateTTLTxn's ``ttl``; parent cversion:
  ``parentCVersion``; the create opcode: the header's type (or the multi sub-txn's type).

A closeSession whose record ends early is read as Apache reads it: no record and no digest
(``deserializeTxn``: "perhaps this is before CloseSessionTxn was added"); that is what a
leader with ``zookeeper.closeSessionTxn.enabled=false`` and digests on sends, and it does
not re-encode to the same bytes. Deliberately stricter than Java (no Apache server writes
these): null paths, null ``Txn`` data and null multi vectors are refused; so are bytes after
the digest, or a digest cut short. Not read: ``CreateTxnV0`` (only in pre-3.3 logs; a
leader re-serializes log entries as ``CreateTxn`` before sending them) and
``SetMaxChildrenTxn`` (never logged).
"""

from __future__ import annotations

import struct
from typing import Final, Self

from reference import txn as zk
from reference.jute import JuteEncodeError, JuteError
from reference.jute.primitives import (
    NULL_LENGTH,
    write_acl_vector,
    write_bool,
    write_buffer,
    write_int,
    write_long,
    write_string_vector,
    write_ustring,
)
from reference.quorum.wire import NeedMoreBytes, QuorumReader
from spec.acl import ACL
from spec.modes import NodeKind
from spec.opcodes import OpCode
from spec.record import record

_HEADER: Final = struct.Struct(">qiqqi")
_DIGEST: Final = struct.Struct(">iq")

DIGEST_VERSION: Final = 2
"""``DigestCalculator.DIGEST_VERSION`` in 3.6-3.9."""

_PERSISTENT = NodeKind.PERSISTENT.value
_EPHEMERAL = NodeKind.EPHEMERAL.value
_CONTAINER = NodeKind.CONTAINER.value
_TTL = NodeKind.TTL.value


class UnmappableTxn(ValueError):
    """A well-formed transaction that the other side's model cannot carry."""


def _read_acls(reader: QuorumReader) -> tuple[ACL, ...] | None:
    count = reader.read_vector_count()
    if count == NULL_LENGTH:
        return None
    return tuple(reader.read_acl() for _ in range(count))


# --- the records of zookeeper.jute's org.apache.zookeeper.txn ----------------------------


@record
class CreateTxn:
    path: str
    data: bytes | None
    acl: tuple[ACL, ...] | None
    ephemeral: bool
    parentCVersion: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(
            reader.read_string("CreateTxn.path"),
            reader.read_buffer(),
            _read_acls(reader),
            reader.read_bool(),
            reader.read_int(),
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_acl_vector(out, self.acl)
        write_bool(out, self.ephemeral)
        write_int(out, self.parentCVersion)


@record
class CreateTTLTxn:
    path: str
    data: bytes | None
    acl: tuple[ACL, ...] | None
    parentCVersion: int
    ttl: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(
            reader.read_string("CreateTTLTxn.path"),
            reader.read_buffer(),
            _read_acls(reader),
            reader.read_int(),
            reader.read_long(),
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_acl_vector(out, self.acl)
        write_int(out, self.parentCVersion)
        write_long(out, self.ttl)


@record
class CreateContainerTxn:
    path: str
    data: bytes | None
    acl: tuple[ACL, ...] | None
    parentCVersion: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(
            reader.read_string("CreateContainerTxn.path"),
            reader.read_buffer(),
            _read_acls(reader),
            reader.read_int(),
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_acl_vector(out, self.acl)
        write_int(out, self.parentCVersion)


@record
class DeleteTxn:
    path: str

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_string("DeleteTxn.path"))

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class SetDataTxn:
    """``version`` is the node's new version (``PrepRequestProcessor.checkAndIncVersion``)."""

    path: str
    data: bytes | None
    version: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_string("SetDataTxn.path"), reader.read_buffer(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_int(out, self.version)


@record
class CheckVersionTxn:
    """``version`` is the node's version *plus one* (``checkAndIncVersion``), not the
    version the client asked for."""

    path: str
    version: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_string("CheckVersionTxn.path"), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.version)


@record
class SetACLTxn:
    """``version`` is the node's new ACL version (aversion)."""

    path: str
    acl: tuple[ACL, ...] | None
    version: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_string("SetACLTxn.path"), _read_acls(reader), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_acl_vector(out, self.acl)
        write_int(out, self.version)


@record
class CreateSessionTxn:
    timeOut: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_int())

    def write(self, out: bytearray) -> None:
        write_int(out, self.timeOut)


@record
class CloseSessionTxn:
    """The session's ephemerals at prepare time, deleted in this order (3.6+)."""

    paths2Delete: tuple[str, ...] | None

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        count = reader.read_vector_count()
        if count == NULL_LENGTH:
            return cls(None)
        return cls(tuple(reader.read_string("CloseSessionTxn path") for _ in range(count)))

    def write(self, out: bytearray) -> None:
        write_string_vector(out, self.paths2Delete)


@record
class ErrorTxn:
    err: int

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        return cls(reader.read_int())

    def write(self, out: bytearray) -> None:
        write_int(out, self.err)


@record
class Txn:
    """One sub-transaction of a multi: its type and its record's own serialization."""

    type: int
    data: bytes

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        type_ = reader.read_int()
        start = reader.position
        data = reader.read_buffer()
        if data is None:
            raise JuteError("null multi sub-txn data", start)
        return cls(type_, data)

    def write(self, out: bytearray) -> None:
        write_int(out, self.type)
        write_buffer(out, self.data)


@record
class MultiTxn:
    txns: tuple[Txn, ...]

    @classmethod
    def read(cls, reader: QuorumReader) -> Self:
        start = reader.position
        count = reader.read_vector_count()
        if count == NULL_LENGTH:
            raise JuteError("null MultiTxn.txns", start)
        return cls(tuple(Txn.read(reader) for _ in range(count)))

    def write(self, out: bytearray) -> None:
        write_int(out, len(self.txns))
        for sub in self.txns:
            sub.write(out)


@record
class TxnDigest:
    """The leader's digest of the whole tree *after* this txn (``DigestCalculator``,
    ``PrepRequestProcessor.setTxnDigest``); see ``reference.quorum.apache_digest``."""

    version: int
    treeDigest: int


ApacheTxnRecord = (
    CreateTxn
    | CreateTTLTxn
    | CreateContainerTxn
    | DeleteTxn
    | SetDataTxn
    | CheckVersionTxn
    | SetACLTxn
    | CreateSessionTxn
    | CloseSessionTxn
    | ErrorTxn
    | MultiTxn
)


@record
class TxnEntry:
    """A transaction as Apache serializes it: header, record (None: a closeSession written
    without one) and digest (None: written without one)."""

    header: zk.TxnHeader
    txn: ApacheTxnRecord | None
    digest: TxnDigest | None


RECORD_OF_TYPE: Final[dict[int, type[ApacheTxnRecord]]] = {
    OpCode.createSession: CreateSessionTxn,
    OpCode.closeSession: CloseSessionTxn,
    OpCode.create: CreateTxn,
    OpCode.create2: CreateTxn,
    OpCode.createTTL: CreateTTLTxn,
    OpCode.createContainer: CreateContainerTxn,
    OpCode.delete: DeleteTxn,
    OpCode.deleteContainer: DeleteTxn,
    OpCode.reconfig: SetDataTxn,
    OpCode.setData: SetDataTxn,
    OpCode.setACL: SetACLTxn,
    OpCode.error: ErrorTxn,
    OpCode.multi: MultiTxn,
}
"""The record of each top-level txn type (``SerializeUtils.deserializeTxn``)."""

SUB_RECORD_OF_TYPE: Final[dict[int, type[ApacheTxnRecord]]] = {
    OpCode.create: CreateTxn,
    OpCode.create2: CreateTxn,
    OpCode.createTTL: CreateTTLTxn,
    OpCode.createContainer: CreateContainerTxn,
    OpCode.delete: DeleteTxn,
    OpCode.deleteContainer: DeleteTxn,
    OpCode.setData: SetDataTxn,
    OpCode.error: ErrorTxn,
    OpCode.check: CheckVersionTxn,
}
"""The record of each multi sub-txn type (``DataTree.processTxn`` case multi)."""


# --- bytes -------------------------------------------------------------------------------


def _whole(payload: bytes) -> QuorumReader:
    # Inside a whole payload no length can exceed what is left, so that is the bound.
    return QuorumReader(payload, 0, max_buffer_bytes=len(payload))


def decode_txn_entry(payload: bytes) -> TxnEntry:
    """A PROPOSAL's (or INFORM's) data; ``JuteError`` if it is not a transaction Apache
    reads."""
    reader = _whole(payload)
    try:
        header = zk.TxnHeader(*reader.unpack(_HEADER))
        record_type = RECORD_OF_TYPE.get(header.type)
        if record_type is None:
            raise JuteError(f"unsupported txn type {header.type}", 24)
        txn: ApacheTxnRecord | None
        if record_type is CloseSessionTxn:
            try:
                txn = CloseSessionTxn.read(reader)
            except NeedMoreBytes:
                # Apache: an EOF here means "written before CloseSessionTxn existed" (or with
                # it disabled): no record, and the digest read that follows fails too.
                return TxnEntry(header, None, None)
        else:
            txn = record_type.read(reader)
    except NeedMoreBytes:
        raise JuteError("truncated txn", reader.end) from None
    digest = None
    if reader.remaining == _DIGEST.size:
        digest = TxnDigest(*reader.unpack(_DIGEST))
    elif reader.remaining:
        raise JuteError(f"{reader.remaining} bytes after the txn record", reader.position)
    return TxnEntry(header, txn, digest)


def encode_txn_entry(entry: TxnEntry) -> bytes:
    """``Util.marshallTxnEntry``: header, record if any, digest if any."""
    out = bytearray()
    header = entry.header
    try:
        out += _HEADER.pack(header.session_id, header.cxid, header.zxid, header.time, header.type)
        if entry.txn is not None:
            entry.txn.write(out)
        if entry.digest is not None:
            out += _DIGEST.pack(entry.digest.version, entry.digest.treeDigest)
    except (struct.error, UnicodeEncodeError) as error:
        raise JuteEncodeError(f"txn: {error}") from None
    return bytes(out)


def decode_sub_txn(sub: Txn) -> ApacheTxnRecord:
    """The record inside one multi sub-txn.

    An error sub-txn may carry more bytes than its ``ErrorTxn``: when an Apache server
    applies a failed multi (``DataTree.processTxn``, case multi) it turns each of its sub-txns
    into an error *in place* (``subtxn.setType(OpCode.error)``), leaving the record's bytes as
    they were, and its committed log (``ZKDatabase.addCommittedProposal``, after the txn was
    applied) serializes that: a DIFF from an Apache leader carries a failed multi's check,
    create or setData as type error with the original record's bytes. Apache's learner reads
    the error code from the first four bytes and ignores the rest
    (``ByteBufferInputStream.byteBuffer2Record``); so does zkref. Any other sub-txn must be
    exactly its record."""
    record_type = SUB_RECORD_OF_TYPE.get(sub.type)
    if record_type is None:
        raise JuteError(f"invalid type of multi op {sub.type}", 0)
    reader = _whole(sub.data)
    try:
        result = record_type.read(reader)
    except NeedMoreBytes:
        raise JuteError(f"truncated multi sub-txn of type {sub.type}", reader.end) from None
    if reader.remaining and sub.type != OpCode.error:
        raise JuteError(f"{reader.remaining} bytes after a multi sub-txn", reader.position)
    return result


def encode_sub_txn(type_: int, body: ApacheTxnRecord) -> Txn:
    """A multi sub-txn: ``body`` serialized on its own."""
    out = bytearray()
    body.write(out)
    return Txn(type_, bytes(out))


# --- to and from zkref -------------------------------------------------------------------


def _acls(acl: tuple[ACL, ...] | None, path: str) -> tuple[ACL, ...]:
    if acl is None:
        raise UnmappableTxn(f"create of {path} with a null ACL list")
    return acl


def _create_to_zkref(
    body: CreateTxn | CreateTTLTxn | CreateContainerTxn, opcode: int, session_id: int
) -> zk.CreateTxn:
    acl = _acls(body.acl, body.path)
    if isinstance(body, CreateContainerTxn):
        return zk.CreateTxn(
            body.path, body.data, acl, _CONTAINER, 0, 0, body.parentCVersion, opcode
        )
    if isinstance(body, CreateTTLTxn):
        return zk.CreateTxn(
            body.path, body.data, acl, _TTL, 0, body.ttl, body.parentCVersion, opcode
        )
    kind = _EPHEMERAL if body.ephemeral else _PERSISTENT
    owner = session_id if body.ephemeral else 0
    return zk.CreateTxn(body.path, body.data, acl, kind, owner, 0, body.parentCVersion, opcode)


def _sub_to_zkref(sub: Txn, session_id: int) -> zk.SubTxn:
    body = decode_sub_txn(sub)
    if isinstance(body, (CreateTxn, CreateTTLTxn, CreateContainerTxn)):
        return _create_to_zkref(body, sub.type, session_id)
    if isinstance(body, DeleteTxn):
        return zk.DeleteTxn(body.path)
    if isinstance(body, SetDataTxn):
        return zk.SetDataTxn(body.path, body.data, body.version)
    if isinstance(body, CheckVersionTxn):
        return zk.CheckTxn(body.path, body.version)
    assert isinstance(body, ErrorTxn), body
    return zk.ErrorTxn(body.err)


def to_zkref(entry: TxnEntry) -> zk.Txn:
    """zkref's ``Txn`` for an Apache transaction (the digest is not part of it).

    ``UnmappableTxn`` for a closeSession without its paths (written with
    ``zookeeper.closeSessionTxn.enabled=false``: zkref's close needs them) and for a record
    with a null ACL list. ``CheckVersionTxn.version`` (the node's version + 1) becomes
    ``CheckTxn.version`` as it is; zkref's applier does not read it. ``UnmappableTxn`` too
    for a reconfig (a change of the ensemble's membership, which zkref's static
    configuration cannot follow: applied as the setData of /zookeeper/config it is, the
    servers would disagree on who votes).
    """
    header, body = entry.header, entry.txn
    zkref_body: zk.TxnBody
    if header.type == OpCode.reconfig:
        raise UnmappableTxn(
            "a reconfig txn (dynamic reconfiguration): zkref supports only the static "
            "server.N lines of zoo.cfg"
        )
    if isinstance(body, (CreateTxn, CreateTTLTxn, CreateContainerTxn)):
        zkref_body = _create_to_zkref(body, header.type, header.session_id)
    elif isinstance(body, DeleteTxn):
        zkref_body = zk.DeleteTxn(body.path)
    elif isinstance(body, SetDataTxn):
        zkref_body = zk.SetDataTxn(body.path, body.data, body.version)
    elif isinstance(body, SetACLTxn):
        zkref_body = zk.SetACLTxn(body.path, _acls(body.acl, body.path), body.version)
    elif isinstance(body, ErrorTxn):
        zkref_body = zk.ErrorTxn(body.err)
    elif isinstance(body, CreateSessionTxn):
        zkref_body = zk.CreateSessionTxn(body.timeOut)
    elif isinstance(body, CloseSessionTxn):
        if body.paths2Delete is None:
            raise UnmappableTxn("closeSession with a null paths2Delete")
        zkref_body = zk.CloseSessionTxn(body.paths2Delete)
    elif isinstance(body, MultiTxn):
        zkref_body = zk.MultiTxn(tuple(_sub_to_zkref(sub, header.session_id) for sub in body.txns))
    elif isinstance(body, CheckVersionTxn):
        raise UnmappableTxn("a top-level check txn (Apache logs check only inside a multi)")
    else:
        assert body is None
        raise UnmappableTxn(
            f"closeSession of 0x{header.session_id:x} without paths "
            "(zookeeper.closeSessionTxn.enabled=false)"
        )
    return zk.Txn(header, zkref_body)


def _create_from_zkref(
    body: zk.CreateTxn, session_id: int
) -> CreateTxn | CreateTTLTxn | CreateContainerTxn:
    if body.kind == _CONTAINER:
        return CreateContainerTxn(body.path, body.data, body.acl, body.parent_cversion)
    if body.kind == _TTL:
        return CreateTTLTxn(body.path, body.data, body.acl, body.parent_cversion, body.ttl)
    ephemeral = body.kind == _EPHEMERAL
    if ephemeral and body.ephemeral_owner != session_id:
        # Apache's create has no owner field: the owner is the header's session.
        raise UnmappableTxn(
            f"ephemeral {body.path} owned by 0x{body.ephemeral_owner:x}, "
            f"created by session 0x{session_id:x}"
        )
    return CreateTxn(body.path, body.data, body.acl, ephemeral, body.parent_cversion)


_SUB_TYPE_OF_ZKREF: Final[dict[type[zk.SubTxn], int]] = {
    zk.DeleteTxn: OpCode.delete,
    zk.SetDataTxn: OpCode.setData,
    zk.CheckTxn: OpCode.check,
    zk.ErrorTxn: OpCode.error,
}


def _sub_from_zkref(sub: zk.SubTxn, session_id: int) -> Txn:
    if isinstance(sub, zk.CreateTxn):
        return encode_sub_txn(sub.opcode, _create_from_zkref(sub, session_id))
    type_ = _SUB_TYPE_OF_ZKREF[type(sub)]
    if isinstance(sub, zk.DeleteTxn):
        return encode_sub_txn(type_, DeleteTxn(sub.path))
    if isinstance(sub, zk.SetDataTxn):
        return encode_sub_txn(type_, SetDataTxn(sub.path, sub.data, sub.version))
    if isinstance(sub, zk.CheckTxn):
        return encode_sub_txn(type_, CheckVersionTxn(sub.path, sub.version))
    return encode_sub_txn(type_, ErrorTxn(sub.err))


def from_zkref(txn: zk.Txn, digest: TxnDigest | None = None) -> TxnEntry:
    """The Apache transaction for a zkref ``Txn``, with ``digest`` appended if given.

    A zkref ``CheckTxn`` keeps the version the client sent where Apache writes the node's
    version + 1: the bytes of a multi with a check differ from Apache's for the same request
    (what is applied does not). ``UnmappableTxn`` for a top-level ``CheckTxn`` and for an
    ephemeral create whose owner is not the header's session.
    """
    header, body = txn.header, txn.body
    record: ApacheTxnRecord
    if isinstance(body, zk.CreateTxn):
        record = _create_from_zkref(body, header.session_id)
    elif isinstance(body, zk.DeleteTxn):
        record = DeleteTxn(body.path)
    elif isinstance(body, zk.SetDataTxn):
        record = SetDataTxn(body.path, body.data, body.version)
    elif isinstance(body, zk.SetACLTxn):
        record = SetACLTxn(body.path, body.acl, body.aversion)
    elif isinstance(body, zk.ErrorTxn):
        record = ErrorTxn(body.err)
    elif isinstance(body, zk.CreateSessionTxn):
        record = CreateSessionTxn(body.timeout_ms)
    elif isinstance(body, zk.CloseSessionTxn):
        record = CloseSessionTxn(body.paths)
    elif isinstance(body, zk.MultiTxn):
        record = MultiTxn(tuple(_sub_from_zkref(sub, header.session_id) for sub in body.txns))
    else:
        assert isinstance(body, zk.CheckTxn), body
        raise UnmappableTxn("a top-level check txn (Apache logs check only inside a multi)")
    return TxnEntry(header, record, digest)
