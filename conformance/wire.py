"""Spec operations as ZooKeeper wire requests, and wire replies as spec reply bodies.

The conformance client speaks in ``spec.requests`` values so that what it records can be
replayed through ``spec.machine.step``. This module owns the translation in both directions,
on top of the ``reference.jute`` codec:

* ``request_record(op)`` / ``request_frame(op, xid)``: the opcode and jute record a client
  sends for a spec operation, and the whole frame (pings, auth packets and setWatches travel
  under their reserved xids, see ``request_xid``);
* ``reply_body(op, reply)``: the spec body (``spec.requests.Body``) of a decoded jute reply to
  ``op`` — e.g. an ``ExistsResponse`` becomes a ``StatResponse``, multi results become
  ``OpResult`` values. Replies with a non-zero error carry no body (except a multi that sent its
  results anyway).

What it must not do: judge the reply. A null where the spec has no null (a null children list,
a null path) is reported through ``WireAnomaly`` values so that the history records the
server's misbehaviour instead of this module hiding it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.jute import (
    AddWatchRequest,
    AuthPacket,
    CheckVersionRequest,
    CheckWatchesRequest,
    ConnectRequest,
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
    MultiOp,
    MultiRequest,
    MultiResponse,
    MultiResult,
    ReconfigRequest,
    RemoveWatchesRequest,
    Reply,
    RequestHeader,
    SetACLRequest,
    SetACLResponse,
    SetDataRequest,
    SetDataResponse,
    SetWatches,
    SetWatches2,
    SyncRequest,
    SyncResponse,
    WhoAmIResponse,
    encode_connect_request,
    encode_request,
)
from reference.jute.messages import RequestRecord
from spec import requests as rq
from spec.acl import ACL
from spec.errors import Code
from spec.opcodes import OpCode, Xid
from spec.stat import Stat

# --- requests ----------------------------------------------------------------------------


def _create_record(op: rq.Create) -> CreateRequest | CreateTTLRequest:
    if op.opcode == OpCode.createTTL:
        return CreateTTLRequest(op.path, op.data, op.acl, op.flags, op.ttl)
    return CreateRequest(op.path, op.data, op.acl, op.flags)


def _sub_op(op: rq.Operation) -> MultiOp:
    opcode, record = request_record(op)
    if not isinstance(
        record,
        CreateRequest
        | CreateTTLRequest
        | DeleteRequest
        | SetDataRequest
        | CheckVersionRequest
        | GetChildrenRequest
        | GetDataRequest,
    ):
        raise ValueError(f"{type(op).__name__} cannot be a multi sub-op on the wire")
    return MultiOp(opcode, record)


def request_record(op: rq.Operation) -> tuple[int, RequestRecord | None]:
    """The opcode and body record a client sends for ``op`` (``None``: no body)."""
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
    if isinstance(op, rq.Unknown):
        return op.opcode, None
    raise TypeError(f"not a spec operation: {op!r}")


def request_xid(op: rq.Operation, xid: int) -> int:
    """The xid ``op`` travels under: pings, auth packets and setWatches use reserved ones."""
    if isinstance(op, rq.Ping):
        return Xid.PING
    if isinstance(op, rq.AddAuth):
        return Xid.AUTH
    if isinstance(op, rq.SetWatches):
        return Xid.SET_WATCHES
    return xid


def request_frame(op: rq.Operation, xid: int) -> bytes:
    """The whole frame (length prefix included) a client sends for ``op``."""
    opcode, record = request_record(op)
    return encode_request(RequestHeader(request_xid(op, xid), opcode), record)


def connect_frame(request: rq.Connect) -> bytes:
    """The handshake frame for a spec ``Connect`` (the readOnly byte is always sent)."""
    return encode_connect_request(
        ConnectRequest(
            0,
            request.last_zxid_seen,
            request.timeout_ms,
            request.session_id,
            request.password,
            request.read_only,
        )
    )


# --- replies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireAnomaly:
    """Something in a reply the spec's types cannot hold (a null list or path)."""

    field: str
    detail: str


class _Anomalies:
    def __init__(self) -> None:
        self.found: list[WireAnomaly] = []

    def string(self, value: str | None, where: str) -> str:
        if value is None:
            self.found.append(WireAnomaly(where, "null string"))
            return ""
        return value

    def strings(self, value: tuple[str, ...] | None, where: str) -> tuple[str, ...]:
        if value is None:
            self.found.append(WireAnomaly(where, "null vector"))
            return ()
        return value

    def acl(self, value: tuple[ACL, ...] | None, where: str) -> tuple[ACL, ...]:
        if value is None:
            self.found.append(WireAnomaly(where, "null ACL vector"))
            return ()
        return value


def _stat_of(record: object) -> Stat:
    stat = getattr(record, "stat", None)
    assert isinstance(stat, Stat)
    return stat


def _multi_result(result: MultiResult, fix: _Anomalies) -> rq.OpResult:
    record = result.record
    if result.type == OpCode.error and isinstance(record, ErrorResponse):
        return rq.ErrorResult(_code(record.err))
    if isinstance(record, Create2Response):
        return rq.CreateResult(fix.string(record.path, "multi.create2.path"), record.stat)
    if isinstance(record, CreateResponse):
        return rq.CreateResult(fix.string(record.path, "multi.create.path"), None)
    if isinstance(record, SetDataResponse):
        return rq.SetDataResult(record.stat)
    if isinstance(record, GetDataResponse):
        return rq.GetDataResult(record.data, record.stat)
    if isinstance(record, GetChildrenResponse):
        return rq.GetChildrenResult(fix.strings(record.children, "multi.getChildren.children"))
    if result.type == OpCode.delete:
        return rq.DeleteResult()
    if result.type == OpCode.check:
        return rq.CheckResult()
    raise ValueError(f"multi result of type {result.type} with {record!r}")


def _code(value: int) -> Code:
    try:
        return Code(value)
    except ValueError:
        # A code this spec does not know still has to be recorded as the server sent it.
        return value  # type: ignore[return-value]


def reply_body(op: rq.Operation, reply: Reply) -> tuple[rq.Body | None, list[WireAnomaly]]:
    """The spec body of ``reply`` (the jute reply to ``op``) and any anomalies found.

    ``None`` when the reply has no body (``err`` non-zero); ``Empty`` for a successful reply
    whose opcode has no response record.
    """
    fix = _Anomalies()
    record = reply.record
    if reply.header.err != 0:
        if isinstance(record, MultiResponse):
            results = tuple(_multi_result(r, fix) for r in record.results)
            return rq.MultiResponse(results), fix.found
        return None, fix.found
    body: rq.Body
    if record is None:
        body = rq.Empty()
    elif isinstance(record, MultiResponse):
        body = rq.MultiResponse(tuple(_multi_result(r, fix) for r in record.results))
    elif isinstance(record, Create2Response):
        body = rq.Create2Response(fix.string(record.path, "Create2Response.path"), record.stat)
    elif isinstance(record, CreateResponse):
        body = rq.CreateResponse(fix.string(record.path, "CreateResponse.path"))
    elif isinstance(record, ExistsResponse | SetDataResponse | SetACLResponse):
        body = rq.StatResponse(_stat_of(record))
    elif isinstance(record, GetDataResponse):
        body = rq.GetDataResponse(record.data, record.stat)
    elif isinstance(record, GetACLResponse):
        body = rq.GetACLResponse(fix.acl(record.acl, "GetACLResponse.acl"), record.stat)
    elif isinstance(record, GetChildren2Response):
        children = fix.strings(record.children, "GetChildren2Response.children")
        body = rq.GetChildren2Response(children, record.stat)
    elif isinstance(record, GetChildrenResponse):
        body = rq.GetChildrenResponse(fix.strings(record.children, "GetChildrenResponse.children"))
    elif isinstance(record, SyncResponse):
        body = rq.SyncResponse(fix.string(record.path, "SyncResponse.path"))
    elif isinstance(record, GetEphemeralsResponse):
        body = rq.GetEphemeralsResponse(
            fix.strings(record.ephemerals, "GetEphemeralsResponse.ephemerals")
        )
    elif isinstance(record, GetAllChildrenNumberResponse):
        body = rq.GetAllChildrenNumberResponse(record.totalNumber)
    elif isinstance(record, WhoAmIResponse):
        if record.clientInfo is None:
            fix.found.append(WireAnomaly("WhoAmIResponse.clientInfo", "null vector"))
        body = rq.WhoAmIResponse(tuple((i.authScheme, i.user) for i in record.clientInfo or ()))
    elif isinstance(record, ErrorResponse) and isinstance(op, rq.AddWatch):
        body = rq.AddWatchResponse()
    else:
        raise ValueError(f"unexpected reply record {type(record).__name__} for {op!r}")
    return body, fix.found


def reply_of(op: rq.Operation, reply: Reply) -> tuple[rq.Reply, list[WireAnomaly]]:
    """The spec ``Reply`` (header zxid, err, body) of a decoded jute reply to ``op``."""
    body, anomalies = reply_body(op, reply)
    return rq.Reply(reply.header.zxid, _code(reply.header.err), body), anomalies


def opcode_of(op: rq.Operation) -> int:
    """The opcode ``op`` is sent with (what ``decode_reply`` needs to read its reply)."""
    return request_record(op)[0]
