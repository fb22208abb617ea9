"""Spec requests and replies as ZooKeeper wire frames, to drive and check the reference core.

The spec speaks in ``spec.requests`` values; the reference core in jute frames. These
functions translate the spec's inputs into the frames a client would send, and the spec's
outcomes into the frames a server must answer, so the two can be compared byte for byte.

``conformance.wire`` translates the same requests for the conformance client. This module is
kept separate on purpose: ``tests/conformance/test_wire.py`` uses it as an independent
encoder to check ``conformance.wire`` against.
"""

from __future__ import annotations

from reference.jute import (
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
    MultiOp,
    MultiRequest,
    MultiResponse,
    MultiResult,
    ReconfigRequest,
    RemoveWatchesRequest,
    ReplyHeader,
    RequestHeader,
    SetACLRequest,
    SetDataRequest,
    SetDataResponse,
    SetSASLResponse,
    SetWatches,
    SetWatches2,
    SyncRequest,
    SyncResponse,
    WatcherEvent,
    WhoAmIResponse,
    encode_connect_request,
    encode_connect_response,
    encode_reply,
    encode_request,
)
from reference.jute.messages import ReplyRecord, RequestRecord
from spec import requests as rq
from spec.events import KeeperState, WatchEvent
from spec.opcodes import OpCode, Xid
from spec.profiles import Profile


def _create_record(op: rq.Create) -> CreateRequest | CreateTTLRequest:
    if op.opcode == OpCode.createTTL:
        return CreateTTLRequest(op.path, op.data, op.acl, op.flags, op.ttl)
    return CreateRequest(op.path, op.data, op.acl, op.flags)


def _sub_op(op: rq.Operation) -> MultiOp:
    opcode, record = request_record(op)
    assert record is not None
    return MultiOp(opcode, record)  # type: ignore[arg-type]


def request_record(op: rq.Operation) -> tuple[int, RequestRecord | None]:
    """The opcode and body record a client sends for ``op``."""
    if isinstance(op, rq.Create):
        return op.opcode, _create_record(op)
    if isinstance(op, rq.Delete):
        return OpCode.delete, DeleteRequest(op.path, op.version)
    if isinstance(op, rq.Exists):
        return OpCode.exists, ExistsRequest(op.path, op.watch)
    if isinstance(op, rq.GetData):
        return OpCode.getData, GetDataRequest(op.path, op.watch)
    if isinstance(op, rq.SetData):
        return OpCode.setData, SetDataRequest(op.path, op.data, op.version)
    if isinstance(op, rq.GetACL):
        return OpCode.getACL, GetACLRequest(op.path)
    if isinstance(op, rq.SetACL):
        return OpCode.setACL, SetACLRequest(op.path, op.acl, op.version)
    if isinstance(op, rq.GetChildren):
        if op.with_stat:
            return OpCode.getChildren2, GetChildren2Request(op.path, op.watch)
        return OpCode.getChildren, GetChildrenRequest(op.path, op.watch)
    if isinstance(op, rq.Check):
        return OpCode.check, CheckVersionRequest(op.path, op.version)
    if isinstance(op, rq.Sync):
        return OpCode.sync, SyncRequest(op.path)
    if isinstance(op, rq.Ping):
        return OpCode.ping, None
    if isinstance(op, rq.CloseSession):
        return OpCode.closeSession, None
    if isinstance(op, rq.WhoAmI):
        return OpCode.whoAmI, None
    if isinstance(op, rq.Multi):
        return OpCode.multi, MultiRequest(tuple(_sub_op(o) for o in op.ops))
    if isinstance(op, rq.MultiRead):
        return OpCode.multiRead, MultiRequest(tuple(_sub_op(o) for o in op.ops))
    if isinstance(op, rq.AddAuth):
        return OpCode.auth, AuthPacket(0, op.scheme, op.auth)
    if isinstance(op, rq.Sasl):
        return OpCode.sasl, GetSASLRequest(op.token)
    if isinstance(op, rq.SetWatches):
        if op.persistent or op.persistent_recursive:
            return OpCode.setWatches2, SetWatches2(
                op.relative_zxid,
                op.data,
                op.exist,
                op.child,
                op.persistent,
                op.persistent_recursive,
            )
        return OpCode.setWatches, SetWatches(op.relative_zxid, op.data, op.exist, op.child)
    if isinstance(op, rq.AddWatch):
        return OpCode.addWatch, AddWatchRequest(op.path, op.mode)
    if isinstance(op, rq.RemoveWatches):
        return OpCode.removeWatches, RemoveWatchesRequest(op.path, op.type)
    if isinstance(op, rq.CheckWatches):
        return OpCode.checkWatches, CheckWatchesRequest(op.path, op.type)
    if isinstance(op, rq.GetEphemerals):
        return OpCode.getEphemerals, GetEphemeralsRequest(op.prefix_path)
    if isinstance(op, rq.GetAllChildrenNumber):
        return OpCode.getAllChildrenNumber, GetAllChildrenNumberRequest(op.path)
    if isinstance(op, rq.Reconfig):
        return OpCode.reconfig, ReconfigRequest(
            op.joining_servers, op.leaving_servers, op.new_members, op.cur_config_id
        )
    assert isinstance(op, rq.Unknown)
    return op.opcode, None


def special_xid(op: rq.Operation, xid: int) -> int:
    """Pings, auth packets and setWatches travel under reserved xids."""
    if isinstance(op, rq.Ping):
        return Xid.PING
    if isinstance(op, rq.AddAuth):
        return Xid.AUTH
    if isinstance(op, rq.SetWatches):
        return Xid.SET_WATCHES
    return xid


def request_frame(op: rq.Operation, xid: int) -> bytes:
    """The payload (no length prefix) a client sends for ``op``."""
    opcode, record = request_record(op)
    return encode_request(RequestHeader(special_xid(op, xid), opcode), record)[4:]


def connect_frame(request: rq.Connect) -> bytes:
    return encode_connect_request(
        ConnectRequest(
            0,
            request.last_zxid_seen,
            request.timeout_ms,
            request.session_id,
            request.password,
            request.read_only,
        )
    )[4:]


def _multi_result(result: rq.OpResult) -> MultiResult:
    if isinstance(result, rq.CreateResult):
        if result.stat is None:
            return MultiResult(OpCode.create, CreateResponse(result.path))
        return MultiResult(OpCode.create2, Create2Response(result.path, result.stat))
    if isinstance(result, rq.DeleteResult):
        return MultiResult(OpCode.delete, None)
    if isinstance(result, rq.SetDataResult):
        return MultiResult(OpCode.setData, SetDataResponse(result.stat))
    if isinstance(result, rq.CheckResult):
        return MultiResult(OpCode.check, None)
    if isinstance(result, rq.GetDataResult):
        return MultiResult(OpCode.getData, GetDataResponse(result.data, result.stat))
    if isinstance(result, rq.GetChildrenResult):
        return MultiResult(OpCode.getChildren, GetChildrenResponse(result.children))
    return MultiResult(OpCode.error, ErrorResponse(result.err))


def reply_record(body: rq.Body | None) -> ReplyRecord | None:
    """The jute record of a spec reply body (Stat-only bodies share one encoding)."""
    if body is None or isinstance(body, rq.Empty):
        return None
    if isinstance(body, rq.CreateResponse):
        return CreateResponse(body.path)
    if isinstance(body, rq.Create2Response):
        return Create2Response(body.path, body.stat)
    if isinstance(body, rq.StatResponse):
        return ExistsResponse(body.stat)
    if isinstance(body, rq.GetDataResponse):
        return GetDataResponse(body.data, body.stat)
    if isinstance(body, rq.GetACLResponse):
        return GetACLResponse(body.acl, body.stat)
    if isinstance(body, rq.GetChildrenResponse):
        return GetChildrenResponse(body.children)
    if isinstance(body, rq.GetChildren2Response):
        return GetChildren2Response(body.children, body.stat)
    if isinstance(body, rq.SyncResponse):
        return SyncResponse(body.path)
    if isinstance(body, rq.GetEphemeralsResponse):
        return GetEphemeralsResponse(body.ephemerals)
    if isinstance(body, rq.GetAllChildrenNumberResponse):
        return GetAllChildrenNumberResponse(body.total_number)
    if isinstance(body, rq.WhoAmIResponse):
        return WhoAmIResponse(tuple(ClientInfo(s, u) for s, u in body.client_info))
    if isinstance(body, rq.AddWatchResponse):
        return ErrorResponse(0)
    if isinstance(body, rq.SaslResponse):
        return SetSASLResponse(body.token)
    if isinstance(body, rq.MultiResponse):
        return MultiResponse(tuple(_multi_result(r) for r in body.results))
    raise AssertionError(f"no wire form for {body!r}")


def reply_frame(reply: rq.Reply, xid: int) -> bytes:
    """The frame (with length prefix) a server answers for a spec reply."""
    if isinstance(reply.body, rq.ConnectResponse):
        body = reply.body
        return encode_connect_response(
            ConnectResponse(0, body.timeout_ms, body.session_id, body.password, body.read_only)
        )
    record = reply_record(reply.body) if reply.err == 0 else None
    return encode_reply(ReplyHeader(xid, reply.zxid, reply.err), record)


def event_frame(event: WatchEvent, profile: Profile) -> bytes:
    zxid = event.zxid if profile.notification_zxid else -1
    return encode_reply(
        ReplyHeader(Xid.NOTIFICATION, zxid, 0),
        WatcherEvent(event.type, KeeperState.SyncConnected, event.path),
    )
