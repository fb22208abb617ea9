"""The records of the ZooKeeper client protocol, one `spec.record.record` (a frozen value) each.

Every class mirrors one ``class`` of ``zookeeper-jute/src/main/resources/zookeeper.jute``
(3.8/3.9): same name, same fields, same order, same spelling (camelCase, as the wire names
them). ``Stat``, ``ACL`` and ``Id`` are the spec's own types (``spec.stat``, ``spec.acl``).

Python types of jute types: ``int``/``long`` → ``int``; ``boolean`` → ``bool``;
``buffer`` → ``bytes | None``; ``ustring`` → ``str | None``; ``vector<ustring>`` →
``tuple[str, ...] | None`` (``tuple[str | None, ...] | None`` in requests, whose elements
Apache's server reads as null too); ``vector<ACL>`` → ``tuple[ACL, ...] | None``, whose
``Id`` fields may be null. ``None`` is the wire's null (length -1): every record decodes as
Apache's ``BinaryInputArchive`` reads it (``reference.jute.primitives``), and what a null
means is judged later (``reference.core``). Enum-valued ints (event type, watcher type,
add-watch mode, create flags, opcodes) stay plain ``int`` so that a value the enum does not
know still decodes; the layer that judges requests decides what an unknown value means.

Each record has ``read(reader)`` (a classmethod, fields in wire order) and ``write(out)``
(appends to a bytearray). Decoders of whole frames live in ``reference.jute.messages``.

Two records differ from their jute text on purpose: ``ConnectRequest.readOnly`` and
``ConnectResponse.readOnly`` are ``bool | None``, ``None`` meaning the byte is absent. Before
3.9 the field was not in the record: clients since 3.4 append it after the record, the server
reads it if present and answers with it only if the client sent it
(``compat/ProtocolManager.java``). 3.9 moved it into the record but still accepts both forms.
"""

from __future__ import annotations

import struct
from typing import Final, Protocol, Self

from reference.jute.primitives import (
    INT,
    LONG,
    Reader,
    write_acl_vector,
    write_bool,
    write_buffer,
    write_stat,
    write_string_vector,
    write_ustring,
)
from spec.acl import ACL
from spec.record import record
from spec.stat import Stat

_INT_INT: Final = struct.Struct(">ii")
_INT_LONG_INT: Final = struct.Struct(">iqi")
_INT_BOOL_INT: Final = struct.Struct(">i?i")
_INT_LONG_INT_LONG: Final = struct.Struct(">iqiq")
_INT_INT_LONG: Final = struct.Struct(">iiq")


class Record(Protocol):
    """What every record offers: read from a ``Reader``, write to a bytearray."""

    @classmethod
    def read(cls, reader: Reader) -> Self: ...

    def write(self, out: bytearray) -> None: ...


# --------------------------------------------------------------------------------------------
# org.apache.zookeeper.data (besides Stat, Id and ACL, which are spec types)


@record
class ClientInfo:
    """One identity of the caller, as whoAmI reports it (3.7.0+)."""

    authScheme: str
    user: str

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_string("ClientInfo.authScheme"), reader.read_string("ClientInfo.user")
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.authScheme)
        write_ustring(out, self.user)


# --------------------------------------------------------------------------------------------
# Handshake


@record
class ConnectRequest:
    """The client's first frame. ``sessionId`` 0 asks for a new session; ``passwd`` is 16
    bytes (zeros for a new session). ``readOnly`` is ``None`` when the byte is absent."""

    protocolVersion: int
    lastZxidSeen: int
    timeOut: int
    sessionId: int
    passwd: bytes | None
    readOnly: bool | None = False

    @classmethod
    def read(cls, reader: Reader) -> Self:
        protocol_version, last_zxid_seen, time_out, session_id = reader.unpack(
            _INT_LONG_INT_LONG, "ConnectRequest"
        )
        passwd = reader.read_buffer()
        read_only = reader.read_bool() if reader.remaining > 0 else None
        return cls(protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only)

    def write(self, out: bytearray) -> None:
        out += _INT_LONG_INT_LONG.pack(
            self.protocolVersion, self.lastZxidSeen, self.timeOut, self.sessionId
        )
        write_buffer(out, self.passwd)
        if self.readOnly is not None:
            write_bool(out, self.readOnly)


@record
class ConnectResponse:
    """The server's first frame. ``timeOut`` 0 / ``sessionId`` 0 / zero ``passwd`` mean the
    session is invalid (expired or wrong password). ``readOnly`` is ``None`` when absent; a
    server includes it exactly when the ``ConnectRequest`` did."""

    protocolVersion: int
    timeOut: int
    sessionId: int
    passwd: bytes | None
    readOnly: bool | None = False

    @classmethod
    def read(cls, reader: Reader) -> Self:
        protocol_version, time_out, session_id = reader.unpack(_INT_INT_LONG, "ConnectResponse")
        passwd = reader.read_buffer()
        read_only = reader.read_bool() if reader.remaining > 0 else None
        return cls(protocol_version, time_out, session_id, passwd, read_only)

    def write(self, out: bytearray) -> None:
        out += _INT_INT_LONG.pack(self.protocolVersion, self.timeOut, self.sessionId)
        write_buffer(out, self.passwd)
        if self.readOnly is not None:
            write_bool(out, self.readOnly)


# --------------------------------------------------------------------------------------------
# Headers


@record
class RequestHeader:
    """Precedes every request after the handshake: ``xid`` (echoed in the reply; -2 ping,
    -4 auth, -8 setWatches) and ``type`` (the opcode, ``spec.opcodes.OpCode``)."""

    xid: int
    type: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        xid, type_ = reader.unpack(_INT_INT, "RequestHeader")
        return cls(xid, type_)

    def write(self, out: bytearray) -> None:
        out += _INT_INT.pack(self.xid, self.type)


@record
class ReplyHeader:
    """Precedes every reply: the request's ``xid`` (-1 for a notification), the ``zxid``
    (the txn's for writes, the server's last processed for reads), and ``err``
    (``spec.errors.Code``; non-zero means no body follows, except possibly for multi)."""

    xid: int
    zxid: int
    err: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        xid, zxid, err = reader.unpack(_INT_LONG_INT, "ReplyHeader")
        return cls(xid, zxid, err)

    def write(self, out: bytearray) -> None:
        out += _INT_LONG_INT.pack(self.xid, self.zxid, self.err)


@record
class MultiHeader:
    """Precedes each sub-op / result of a multi; ``done`` marks the terminator."""

    type: int
    done: bool
    err: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        type_, done, err = reader.unpack(_INT_BOOL_INT, "MultiHeader")
        return cls(type_, done, err)

    def write(self, out: bytearray) -> None:
        out += _INT_BOOL_INT.pack(self.type, self.done, self.err)


# --------------------------------------------------------------------------------------------
# Requests


@record
class CreateRequest:
    """create (1), create2 (15), createContainer (19). ``flags`` is the CreateMode flag."""

    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    flags: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_ustring(), reader.read_buffer(), reader.read_acl_vector(), reader.read_int()
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_acl_vector(out, self.acl)
        out += INT.pack(self.flags)


@record
class CreateTTLRequest:
    """createTTL (21): a create with a time-to-live in milliseconds."""

    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    flags: int
    ttl: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_ustring(),
            reader.read_buffer(),
            reader.read_acl_vector(),
            reader.read_int(),
            reader.read_long(),
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_acl_vector(out, self.acl)
        out += INT.pack(self.flags)
        out += LONG.pack(self.ttl)


@record
class DeleteRequest:
    """delete (2); ``version`` -1 matches any version."""

    path: str | None
    version: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += INT.pack(self.version)


@record
class ExistsRequest:
    """exists (3); ``watch`` sets a data watch (or an exist watch on a missing node)."""

    path: str | None
    watch: bool

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_bool())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)


@record
class GetDataRequest:
    """getData (4); also a sub-op of multiRead."""

    path: str | None
    watch: bool

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_bool())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)


@record
class SetDataRequest:
    """setData (5); ``version`` -1 matches any version."""

    path: str | None
    data: bytes | None
    version: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_buffer(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        out += INT.pack(self.version)


@record
class GetACLRequest:
    """getACL (6)."""

    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class SetACLRequest:
    """setACL (7); ``version`` is checked against the node's aversion (-1 matches any)."""

    path: str | None
    acl: tuple[ACL, ...] | None
    version: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_acl_vector(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_acl_vector(out, self.acl)
        out += INT.pack(self.version)


@record
class GetChildrenRequest:
    """getChildren (8); also a sub-op of multiRead."""

    path: str | None
    watch: bool

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_bool())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)


@record
class SyncRequest:
    """sync (9)."""

    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class GetChildren2Request:
    """getChildren2 (12): children plus the parent's Stat."""

    path: str | None
    watch: bool

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_bool())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_bool(out, self.watch)


@record
class CheckVersionRequest:
    """check (13), a sub-op of multi: the node's version must equal ``version``."""

    path: str | None
    version: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += INT.pack(self.version)


@record
class ReconfigRequest:
    """reconfig (16): incremental (joining/leaving) or non-incremental (newMembers)."""

    joiningServers: str | None
    leavingServers: str | None
    newMembers: str | None
    curConfigId: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_ustring(), reader.read_ustring(), reader.read_ustring(), reader.read_long()
        )

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.joiningServers)
        write_ustring(out, self.leavingServers)
        write_ustring(out, self.newMembers)
        out += LONG.pack(self.curConfigId)


@record
class CheckWatchesRequest:
    """checkWatches (17); ``type`` is a ``spec.events.WatcherType``."""

    path: str | None
    type: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += INT.pack(self.type)


@record
class RemoveWatchesRequest:
    """removeWatches (18); ``type`` is a ``spec.events.WatcherType``."""

    path: str | None
    type: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += INT.pack(self.type)


@record
class AuthPacket:
    """auth (100, xid -4): ``type`` is always 0; e.g. scheme ``digest``, auth ``user:pw``."""

    type: int
    scheme: str | None
    auth: bytes | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_int(), reader.read_ustring(), reader.read_buffer())

    def write(self, out: bytearray) -> None:
        out += INT.pack(self.type)
        write_ustring(out, self.scheme)
        write_buffer(out, self.auth)


@record
class SetWatches:
    """setWatches (101, xid -8): re-register watches after a reconnect."""

    relativeZxid: int
    dataWatches: tuple[str | None, ...] | None
    existWatches: tuple[str | None, ...] | None
    childWatches: tuple[str | None, ...] | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_long(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
        )

    def write(self, out: bytearray) -> None:
        out += LONG.pack(self.relativeZxid)
        write_string_vector(out, self.dataWatches)
        write_string_vector(out, self.existWatches)
        write_string_vector(out, self.childWatches)


@record
class SetWatches2:
    """setWatches2 (105, xid -8): setWatches plus persistent and persistent-recursive."""

    relativeZxid: int
    dataWatches: tuple[str | None, ...] | None
    existWatches: tuple[str | None, ...] | None
    childWatches: tuple[str | None, ...] | None
    persistentWatches: tuple[str | None, ...] | None
    persistentRecursiveWatches: tuple[str | None, ...] | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.read_long(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
            reader.read_ustring_vector(),
        )

    def write(self, out: bytearray) -> None:
        out += LONG.pack(self.relativeZxid)
        write_string_vector(out, self.dataWatches)
        write_string_vector(out, self.existWatches)
        write_string_vector(out, self.childWatches)
        write_string_vector(out, self.persistentWatches)
        write_string_vector(out, self.persistentRecursiveWatches)


@record
class GetSASLRequest:
    """sasl (102): a SASL token from the client."""

    token: bytes | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_buffer())

    def write(self, out: bytearray) -> None:
        write_buffer(out, self.token)


@record
class GetEphemeralsRequest:
    """getEphemerals (103): the caller's own ephemerals whose path starts with the prefix."""

    prefixPath: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.prefixPath)


@record
class GetAllChildrenNumberRequest:
    """getAllChildrenNumber (104): the number of descendants."""

    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class AddWatchRequest:
    """addWatch (106); ``mode`` is a ``spec.events.AddWatchMode``."""

    path: str | None
    mode: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_int())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out += INT.pack(self.mode)


# --------------------------------------------------------------------------------------------
# Responses


@record
class CreateResponse:
    """create (1): the created path (with the sequence suffix, if any)."""

    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class Create2Response:
    """create2 (15), createContainer (19), createTTL (21): path and the new node's Stat."""

    path: str | None
    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring(), reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_stat(out, self.stat)


@record
class ExistsResponse:
    """exists (3) on an existing node (a missing node is err NONODE with no body)."""

    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_stat(out, self.stat)


@record
class GetDataResponse:
    """getData (4), and reconfig (16) which returns the new ``/zookeeper/config``."""

    data: bytes | None
    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_buffer(), reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_buffer(out, self.data)
        write_stat(out, self.stat)


@record
class SetDataResponse:
    """setData (5): the node's Stat after the write."""

    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_stat(out, self.stat)


@record
class GetACLResponse:
    """getACL (6): the ACL and the node's Stat."""

    acl: tuple[ACL, ...] | None
    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_acl_vector(), reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_acl_vector(out, self.acl)
        write_stat(out, self.stat)


@record
class SetACLResponse:
    """setACL (7): the node's Stat after the write."""

    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_stat(out, self.stat)


@record
class GetChildrenResponse:
    """getChildren (8): child names (not paths), in no promised order."""

    children: tuple[str, ...] | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_string_vector())

    def write(self, out: bytearray) -> None:
        write_string_vector(out, self.children)


@record
class SyncResponse:
    """sync (9): the path as given."""

    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_ustring())

    def write(self, out: bytearray) -> None:
        write_ustring(out, self.path)


@record
class GetChildren2Response:
    """getChildren2 (12): child names and the parent's Stat."""

    children: tuple[str, ...] | None
    stat: Stat

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_string_vector(), reader.read_stat())

    def write(self, out: bytearray) -> None:
        write_string_vector(out, self.children)
        write_stat(out, self.stat)


@record
class SetSASLResponse:
    """sasl (102): the server's SASL token."""

    token: bytes | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_buffer())

    def write(self, out: bytearray) -> None:
        write_buffer(out, self.token)


@record
class GetEphemeralsResponse:
    """getEphemerals (103): full paths of the session's ephemerals."""

    ephemerals: tuple[str, ...] | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_string_vector())

    def write(self, out: bytearray) -> None:
        write_string_vector(out, self.ephemerals)


@record
class GetAllChildrenNumberResponse:
    """getAllChildrenNumber (104): the number of descendants (not counting the node)."""

    totalNumber: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_int())

    def write(self, out: bytearray) -> None:
        out += INT.pack(self.totalNumber)


@record
class WhoAmIResponse:
    """whoAmI (107): every identity the connection holds."""

    clientInfo: tuple[ClientInfo, ...] | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        count = reader.read_vector_count()
        if count < 0:
            return cls(None)
        return cls(tuple([ClientInfo.read(reader) for _ in range(count)]))

    def write(self, out: bytearray) -> None:
        if self.clientInfo is None:
            out += INT.pack(-1)
            return
        out += INT.pack(len(self.clientInfo))
        for info in self.clientInfo:
            info.write(out)


@record
class ErrorResponse:
    """A bare error code: the result of a failed multi sub-op, and addWatch's (106) body."""

    err: int

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.read_int())

    def write(self, out: bytearray) -> None:
        out += INT.pack(self.err)


@record
class WatcherEvent:
    """A notification's body (reply xid -1): ``type`` a ``spec.events.EventType``, ``state``
    a ``spec.events.KeeperState`` (servers send SyncConnected = 3), and the path."""

    type: int
    state: int
    path: str | None

    @classmethod
    def read(cls, reader: Reader) -> Self:
        type_, state = reader.unpack(_INT_INT, "WatcherEvent")
        return cls(type_, state, reader.read_ustring())

    def write(self, out: bytearray) -> None:
        out += _INT_INT.pack(self.type, self.state)
        write_ustring(out, self.path)
