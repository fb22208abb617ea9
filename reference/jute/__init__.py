"""jute: the ZooKeeper client wire protocol (3.8/3.9), encoded and decoded, with no I/O.

Bytes in, typed records out; records in, bytes out. No sockets, clocks or threads: the
caller owns the connection (the h11 shape). Everything is big-endian, -1 lengths mean null;
see ``primitives`` for the encoding rules and the choices we made where Java is lax,
``records`` for the records of ``zookeeper.jute``, ``multi`` for multi/multiRead,
``framing`` for length-prefixed frames and ``messages`` for whole requests and replies.

A server::

    reader = FrameReader()                      # one per connection
    for payload in reader.feed(received):       # FrameLengthError: close the connection
        if not handshaken:
            connect = decode_connect_request(payload)
            send(encode_connect_response(ConnectResponse(0, timeout, session_id, passwd,
                 None if connect.readOnly is None else False)))
            continue
        try:
            request = decode_request(payload)
        except JuteError as error:              # MARSHALLINGERROR if the header was whole
            ...
        if isinstance(request, UnknownRequest):  # UNIMPLEMENTED, then close
            ...
        send(encode_reply(ReplyHeader(request.header.xid, zxid, 0), GetDataResponse(...)))

A client::

    send(encode_connect_request(ConnectRequest(0, last_zxid, timeout_ms, 0, bytes(16), False)))
    response = decode_connect_response(first_payload)
    send(encode_request(RequestHeader(xid, OpCode.getData), GetDataRequest("/a", True)))
    reply = decode_reply(payload, OpCode.getData)   # the opcode sent with the oldest xid
    # reply.header.xid == -1: reply.record is a WatcherEvent

Errors: decoders raise only ``JuteError`` (a ``ValueError``; ``FrameLengthError`` from
framing); encoders raise ``JuteEncodeError`` for values the wire cannot carry.
"""

from reference.jute.errors import FrameLengthError, JuteEncodeError, JuteError
from reference.jute.framing import JUTE_MAXBUFFER, FrameReader, frame, split_frames
from reference.jute.messages import (
    REPLY_RECORDS,
    REQUEST_RECORDS,
    Reply,
    ReplyRecord,
    Request,
    RequestRecord,
    UnknownRequest,
    decode_connect_request,
    decode_connect_response,
    decode_record,
    decode_reply,
    decode_request,
    encode_connect_request,
    encode_connect_response,
    encode_record,
    encode_reply,
    encode_request,
)
from reference.jute.multi import (
    MULTI_OP_RECORDS,
    MULTI_RESULT_RECORDS,
    MultiOp,
    MultiOpRecord,
    MultiRequest,
    MultiResponse,
    MultiResult,
    MultiResultRecord,
)
from reference.jute.primitives import Reader
from reference.jute.records import (
    AddWatchRequest,
    AuthPacket,
    CheckVersionRequest,
    CheckWatchesRequest,
    ClientInfo,
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
    MultiHeader,
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

__all__ = [
    "JUTE_MAXBUFFER",
    "MULTI_OP_RECORDS",
    "MULTI_RESULT_RECORDS",
    "REPLY_RECORDS",
    "REQUEST_RECORDS",
    "AddWatchRequest",
    "AuthPacket",
    "CheckVersionRequest",
    "CheckWatchesRequest",
    "ClientInfo",
    "ConnectRequest",
    "ConnectResponse",
    "Create2Response",
    "CreateRequest",
    "CreateResponse",
    "CreateTTLRequest",
    "DeleteRequest",
    "ErrorResponse",
    "ExistsRequest",
    "ExistsResponse",
    "FrameLengthError",
    "FrameReader",
    "GetACLRequest",
    "GetACLResponse",
    "GetAllChildrenNumberRequest",
    "GetAllChildrenNumberResponse",
    "GetChildren2Request",
    "GetChildren2Response",
    "GetChildrenRequest",
    "GetChildrenResponse",
    "GetDataRequest",
    "GetDataResponse",
    "GetEphemeralsRequest",
    "GetEphemeralsResponse",
    "GetSASLRequest",
    "JuteEncodeError",
    "JuteError",
    "MultiHeader",
    "MultiOp",
    "MultiOpRecord",
    "MultiRequest",
    "MultiResponse",
    "MultiResult",
    "MultiResultRecord",
    "Reader",
    "ReconfigRequest",
    "Record",
    "RemoveWatchesRequest",
    "Reply",
    "ReplyHeader",
    "ReplyRecord",
    "Request",
    "RequestHeader",
    "RequestRecord",
    "SetACLRequest",
    "SetACLResponse",
    "SetDataRequest",
    "SetDataResponse",
    "SetSASLResponse",
    "SetWatches",
    "SetWatches2",
    "SyncRequest",
    "SyncResponse",
    "UnknownRequest",
    "WatcherEvent",
    "WhoAmIResponse",
    "decode_connect_request",
    "decode_connect_response",
    "decode_record",
    "decode_reply",
    "decode_request",
    "encode_connect_request",
    "encode_connect_response",
    "encode_record",
    "encode_reply",
    "encode_request",
    "frame",
    "split_frames",
]
