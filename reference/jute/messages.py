"""Whole frames: the handshake, requests as a server reads them, replies as a client reads them.

Rules
-----
* The connection starts with one ``ConnectRequest`` frame from the client and one
  ``ConnectResponse`` frame from the server (``readOnly`` optional, see ``records``).
* After that every client frame is ``RequestHeader{xid, type}`` then the body record the opcode
  calls for (``REQUEST_RECORDS``); ping (11), closeSession (-11) and whoAmI (107) have no body.
* Every server frame is ``ReplyHeader{xid, zxid, err}``. Notifications have xid -1 and a
  ``WatcherEvent`` body. Otherwise the body is not self-describing: it is the record
  ``REPLY_RECORDS`` names for the opcode the client sent with that xid, present only when
  ``err`` is 0 (an exists on a missing node is a header alone). A multi reply whose ``err`` is
  non-zero may still carry a ``MultiResponse`` (Apache sends the partial results it built
  before failing); we decode it when bytes follow the header.
* A request whose opcode has no client body record here (unknown opcodes such as 10;
  notification 0, createSession -10, error -1 and deleteContainer 20, which clients must not
  send) decodes to ``UnknownRequest`` rather than an error, so a server can answer with the
  request's xid: UNIMPLEMENTED (-6) then close, as ``UnimplementedRequestProcessor`` does
  (Apache answers deleteContainer with BADARGUMENTS instead, having read the raw frame).
* A malformed body raises ``JuteError`` whose ``request_header`` is set, so a server can
  answer for that xid as Apache does for that opcode (``reference.core``: MARSHALLINGERROR
  and the connection kept, except for auth and sasl packets, which close it). A frame too
  short for the header raises ``JuteError`` without one: close the connection.
* Bytes after a complete body are ignored, as Java's record readers ignore them.
* Every field decodes as Apache's ``BinaryInputArchive`` reads it (``primitives``): a -1
  length is null anywhere, including inside vectors and ACL ids, and a vector count below -1
  is an empty vector.

Decoders take the payload of one frame (what ``split_frames``/``FrameReader`` return);
encoders return a whole frame, length prefix included, ready to write to a socket.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar

from reference.jute.errors import JuteEncodeError, JuteError
from reference.jute.multi import MultiRequest, MultiResponse
from reference.jute.primitives import INT, Reader
from reference.jute.records import (
    AddWatchRequest,
    AuthPacket,
    CheckVersionRequest,
    CheckWatchesRequest,
    ConnectRequest,
    ConnectResponse,
    Create2Response,
    CreateRequest,
    CreateResponse,
    CreateTTLRequest,
    DeleteRequest,
    ErrorResponse,
    ExistsRequest,
    ExistsResponse,
    GetACLRequest,
    GetACLResponse,
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    GetChildren2Request,
    GetChildren2Response,
    GetChildrenRequest,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    GetSASLRequest,
    ReconfigRequest,
    Record,
    RemoveWatchesRequest,
    ReplyHeader,
    RequestHeader,
    SetACLRequest,
    SetACLResponse,
    SetDataRequest,
    SetDataResponse,
    SetSASLResponse,
    SetWatches,
    SetWatches2,
    SyncRequest,
    SyncResponse,
    WatcherEvent,
    WhoAmIResponse,
)
from spec.opcodes import OpCode, Xid
from spec.record import record

RequestRecord: TypeAlias = (
    CreateRequest
    | CreateTTLRequest
    | DeleteRequest
    | ExistsRequest
    | GetDataRequest
    | SetDataRequest
    | GetACLRequest
    | SetACLRequest
    | GetChildrenRequest
    | SyncRequest
    | GetChildren2Request
    | CheckVersionRequest
    | MultiRequest
    | ReconfigRequest
    | CheckWatchesRequest
    | RemoveWatchesRequest
    | AuthPacket
    | SetWatches
    | GetSASLRequest
    | GetEphemeralsRequest
    | GetAllChildrenNumberRequest
    | SetWatches2
    | AddWatchRequest
)
ReplyRecord: TypeAlias = (
    CreateResponse
    | Create2Response
    | ExistsResponse
    | GetDataResponse
    | SetDataResponse
    | GetACLResponse
    | SetACLResponse
    | GetChildrenResponse
    | SyncResponse
    | GetChildren2Response
    | MultiResponse
    | SetSASLResponse
    | GetEphemeralsResponse
    | GetAllChildrenNumberResponse
    | ErrorResponse
    | WhoAmIResponse
    | WatcherEvent
)

REQUEST_RECORDS: Final[dict[int, type[RequestRecord] | None]] = {
    OpCode.create: CreateRequest,
    OpCode.delete: DeleteRequest,
    OpCode.exists: ExistsRequest,
    OpCode.getData: GetDataRequest,
    OpCode.setData: SetDataRequest,
    OpCode.getACL: GetACLRequest,
    OpCode.setACL: SetACLRequest,
    OpCode.getChildren: GetChildrenRequest,
    OpCode.sync: SyncRequest,
    OpCode.ping: None,
    OpCode.getChildren2: GetChildren2Request,
    OpCode.check: CheckVersionRequest,
    OpCode.multi: MultiRequest,
    OpCode.create2: CreateRequest,
    OpCode.reconfig: ReconfigRequest,
    OpCode.checkWatches: CheckWatchesRequest,
    OpCode.removeWatches: RemoveWatchesRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.multiRead: MultiRequest,
    OpCode.auth: AuthPacket,
    OpCode.setWatches: SetWatches,
    OpCode.sasl: GetSASLRequest,
    OpCode.getEphemerals: GetEphemeralsRequest,
    OpCode.getAllChildrenNumber: GetAllChildrenNumberRequest,
    OpCode.setWatches2: SetWatches2,
    OpCode.addWatch: AddWatchRequest,
    OpCode.whoAmI: None,
    OpCode.closeSession: None,
}
"""Opcode → the record after the ``RequestHeader`` (``None``: the body is empty)."""

REPLY_RECORDS: Final[dict[int, type[ReplyRecord] | None]] = {
    OpCode.create: CreateResponse,
    OpCode.delete: None,
    OpCode.exists: ExistsResponse,
    OpCode.getData: GetDataResponse,
    OpCode.setData: SetDataResponse,
    OpCode.getACL: GetACLResponse,
    OpCode.setACL: SetACLResponse,
    OpCode.getChildren: GetChildrenResponse,
    OpCode.sync: SyncResponse,
    OpCode.ping: None,
    OpCode.getChildren2: GetChildren2Response,
    OpCode.check: None,
    OpCode.multi: MultiResponse,
    OpCode.create2: Create2Response,
    OpCode.reconfig: GetDataResponse,
    OpCode.checkWatches: None,
    OpCode.removeWatches: None,
    OpCode.createContainer: Create2Response,
    OpCode.createTTL: Create2Response,
    OpCode.multiRead: MultiResponse,
    OpCode.auth: None,
    OpCode.setWatches: None,
    OpCode.sasl: SetSASLResponse,
    OpCode.getEphemerals: GetEphemeralsResponse,
    OpCode.getAllChildrenNumber: GetAllChildrenNumberResponse,
    OpCode.setWatches2: None,
    OpCode.addWatch: ErrorResponse,
    OpCode.whoAmI: WhoAmIResponse,
    OpCode.closeSession: None,
}
"""Opcode of the request → the record after a successful (err 0) ``ReplyHeader``."""

_MULTI_OPCODES: Final = frozenset({OpCode.multi, OpCode.multiRead})
_REQUEST_HEADER: Final = struct.Struct(">ii")
_REPLY_HEADER: Final = struct.Struct(">iqi")
_REQUEST_HEADER_BYTES: Final = _REQUEST_HEADER.size
_REPLY_HEADER_BYTES: Final = _REPLY_HEADER.size
_LENGTH_PLACEHOLDER: Final = b"\x00\x00\x00\x00"
# What a bad value in a record we are asked to encode raises inside ``write``.
_ENCODE_FAILURES: Final = (struct.error, UnicodeEncodeError, AttributeError, TypeError)


@record
class Request:
    """A decoded client request: its header and body record (``None`` for an empty body)."""

    header: RequestHeader
    record: RequestRecord | None


@record
class UnknownRequest:
    """A request whose opcode has no client body record; ``payload`` is the undecoded body.

    A server answers ``ReplyHeader{header.xid, zxid, UNIMPLEMENTED}`` and closes the connection.
    """

    header: RequestHeader
    payload: bytes


@record
class Reply:
    """A decoded server reply: its header and body record (``None`` when there is none)."""

    header: ReplyHeader
    record: ReplyRecord | None


def _opcode_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name
    except ValueError:
        return f"opcode {opcode}"


# --------------------------------------------------------------------------------------------
# Decoding


def decode_request(payload: bytes | bytearray | memoryview) -> Request | UnknownRequest:
    """Decode one client frame after the handshake (server side).

    Returns ``UnknownRequest`` for an opcode without a client body record; raises
    ``JuteError`` for malformed bytes, with ``request_header`` set when the header was whole.
    """
    reader = Reader(payload)
    if reader.end < _REQUEST_HEADER_BYTES:
        raise JuteError(f"request frame of {reader.end} bytes is shorter than a RequestHeader", 0)
    xid, opcode = _REQUEST_HEADER.unpack_from(reader.buffer, 0)
    header = RequestHeader(xid, opcode)
    try:
        record_type = REQUEST_RECORDS[opcode]
    except KeyError:
        return UnknownRequest(header, reader.buffer[_REQUEST_HEADER_BYTES:])
    if record_type is None:
        return Request(header, None)
    reader.position = _REQUEST_HEADER_BYTES
    try:
        record = record_type.read(reader)
    except JuteError as error:
        raise error.with_context(
            f"{_opcode_name(opcode)} request body, xid {xid}", header
        ) from None
    return Request(header, record)


def decode_reply(payload: bytes | bytearray | memoryview, request_type: int) -> Reply:
    """Decode one server frame after the handshake (client side).

    ``request_type`` is the opcode the client sent with the reply's xid (the client knows it:
    replies come in request order). It is ignored for notifications (xid -1), which always
    carry a ``WatcherEvent``.
    """
    reader = Reader(payload)
    xid, zxid, err = reader.unpack(_REPLY_HEADER, "ReplyHeader")
    header = ReplyHeader(xid, zxid, err)
    try:
        if xid == Xid.NOTIFICATION:
            return Reply(header, WatcherEvent.read(reader))
        if err != 0:
            if request_type in _MULTI_OPCODES and reader.remaining > 0:
                return Reply(header, MultiResponse.read(reader))
            return Reply(header, None)
        try:
            record_type = REPLY_RECORDS[request_type]
        except KeyError:
            raise JuteError(
                f"no reply record is known for opcode {request_type}", _REPLY_HEADER_BYTES
            ) from None
        return Reply(header, None if record_type is None else record_type.read(reader))
    except JuteError as error:
        what = "notification" if xid == Xid.NOTIFICATION else _opcode_name(request_type)
        raise error.with_context(f"{what} reply body, xid {xid}") from None


def decode_connect_request(payload: bytes | bytearray | memoryview) -> ConnectRequest:
    """Decode the client's first frame (server side); ``readOnly`` is ``None`` if absent."""
    try:
        return ConnectRequest.read(Reader(payload))
    except JuteError as error:
        raise error.with_context("ConnectRequest") from None


def decode_connect_response(payload: bytes | bytearray | memoryview) -> ConnectResponse:
    """Decode the server's first frame (client side); ``readOnly`` is ``None`` if absent."""
    try:
        return ConnectResponse.read(Reader(payload))
    except JuteError as error:
        raise error.with_context("ConnectResponse") from None


RecordT = TypeVar("RecordT", bound=Record)


def decode_record(
    record_type: type[RecordT],
    payload: bytes | bytearray | memoryview,
    *,
    allow_trailing: bool = False,
) -> RecordT:
    """Decode one record that fills ``payload`` (unframed); trailing bytes are an error
    unless ``allow_trailing``."""
    reader = Reader(payload)
    try:
        record = record_type.read(reader)
    except JuteError as error:
        raise error.with_context(record_type.__name__) from None
    if reader.remaining and not allow_trailing:
        raise JuteError(
            f"{reader.remaining} bytes after the end of the record",
            reader.position,
            context=record_type.__name__,
        )
    return record


# --------------------------------------------------------------------------------------------
# Encoding


def _encode_frame(write: Callable[[bytearray], None], what: str) -> bytes:
    out = bytearray(_LENGTH_PLACEHOLDER)
    try:
        write(out)
    except _ENCODE_FAILURES as error:
        raise JuteEncodeError(f"cannot encode {what}: {error}") from error
    INT.pack_into(out, 0, len(out) - 4)
    return bytes(out)


def encode_record(record: Record) -> bytes:
    """One record's bytes, without a length prefix."""
    out = bytearray()
    try:
        record.write(out)
    except _ENCODE_FAILURES as error:
        raise JuteEncodeError(f"cannot encode {type(record).__name__}: {error}") from error
    return bytes(out)


def encode_request(header: RequestHeader, record: RequestRecord | None = None) -> bytes:
    """A client request frame: length, ``RequestHeader``, then ``record`` (if any).

    The record is written as given; it is not checked against ``header.type``.
    """

    def write(out: bytearray) -> None:
        out += _REQUEST_HEADER.pack(header.xid, header.type)
        if record is not None:
            record.write(out)

    return _encode_frame(write, f"{_opcode_name(header.type)} request")


def encode_reply(header: ReplyHeader, record: ReplyRecord | None = None) -> bytes:
    """A server reply frame: length, ``ReplyHeader``, then ``record`` (if any).

    For a notification pass ``ReplyHeader(-1, zxid, 0)`` and the ``WatcherEvent``.
    """

    def write(out: bytearray) -> None:
        out += _REPLY_HEADER.pack(header.xid, header.zxid, header.err)
        if record is not None:
            record.write(out)

    return _encode_frame(write, f"reply to xid {header.xid}")


def encode_connect_request(request: ConnectRequest) -> bytes:
    """The client's first frame."""
    return _encode_frame(request.write, "ConnectRequest")


def encode_connect_response(response: ConnectResponse) -> bytes:
    """The server's first frame. Set ``readOnly`` to ``None`` when the client's
    ``ConnectRequest.readOnly`` was ``None`` (an old client that does not expect the byte)."""
    return _encode_frame(response.write, "ConnectResponse")
