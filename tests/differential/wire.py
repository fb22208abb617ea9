"""Spec requests and replies as ZooKeeper wire frames, encoded from ``zookeeper.jute`` itself.

The spec speaks in ``spec.requests`` values; the reference core in jute frames. These
functions translate the spec's inputs into the frames a client would send, and the spec's
outcomes into the frames a server must answer, so the two can be compared byte for byte.

The encoding owes nothing to ``reference.jute`` (the core's codec) nor to ``conformance.wire``
(the conformance client's): every record is spelled out field by field under the names
Apache's schema gives them and encoded by ``tests.support.jute_schema``, which walks the
record definitions of Apache's ``zookeeper.jute``. A codec bug is therefore a difference
here, not the same bytes twice: ``tests/differential/test_reference_vs_spec.py`` compares
the core's frames with these, and ``tests/conformance/test_wire.py`` checks
``conformance.wire`` against them.

Which record goes with which request and reply is Apache's: ``ClientCnxn``/``ZooKeeper``
(requests, reserved xids), ``FinalRequestProcessor`` (replies; ``addWatch`` answers an
``ErrorResponse{0}``), ``MultiOperationRecord``/``MultiResponse`` (multi), and
``NIOServerCnxn``/``ZooKeeperServer.finishSessionInit`` (the connect response).
"""

from __future__ import annotations

from collections.abc import Mapping

from spec import requests as rq
from spec.acl import ACL
from spec.events import KeeperState, WatchEvent
from spec.opcodes import OpCode, Xid
from spec.profiles import Profile
from spec.stat import Stat
from tests.support.jute_schema import SCHEMA, encode_multi, encode_record, frame

Fields = Mapping[str, object]


def _acl(acl: tuple[ACL, ...] | None) -> list[Fields] | None:
    if acl is None:
        return None
    return [{"perms": e.perms, "id": {"scheme": e.id.scheme, "id": e.id.id}} for e in acl]


def _stat(stat: Stat) -> Fields:
    return {name: getattr(stat, name) for name in SCHEMA["Stat"].field_names}


def _create(op: rq.Create) -> tuple[str, Fields]:
    fields: dict[str, object] = {
        "path": op.path,
        "data": op.data,
        "acl": _acl(op.acl),
        "flags": op.flags,
    }
    if op.opcode == OpCode.createTTL:
        return "CreateTTLRequest", {**fields, "ttl": op.ttl}
    return "CreateRequest", fields


def _sub_op(op: rq.Operation) -> tuple[int, int, bytes]:
    opcode, body = request_body(op)
    return opcode, -1, body


def request_body(op: rq.Operation) -> tuple[int, bytes]:
    """The opcode and the encoded body a client sends for ``op``."""
    opcode, name, fields = _request_record(op)
    if isinstance(op, rq.Multi | rq.MultiRead):
        return opcode, encode_multi([_sub_op(o) for o in op.ops])
    return opcode, b"" if name is None else encode_record(name, fields)


def _request_record(op: rq.Operation) -> tuple[int, str | None, Fields]:
    """The opcode, record name and fields of a request (no record: header only)."""
    fields: dict[str, object]
    if isinstance(op, rq.Create):
        return (op.opcode, *_create(op))
    if isinstance(op, rq.Delete):
        return OpCode.delete, "DeleteRequest", {"path": op.path, "version": op.version}
    if isinstance(op, rq.Exists):
        return OpCode.exists, "ExistsRequest", {"path": op.path, "watch": op.watch}
    if isinstance(op, rq.GetData):
        return OpCode.getData, "GetDataRequest", {"path": op.path, "watch": op.watch}
    if isinstance(op, rq.SetData):
        fields = {"path": op.path, "data": op.data, "version": op.version}
        return OpCode.setData, "SetDataRequest", fields
    if isinstance(op, rq.GetACL):
        return OpCode.getACL, "GetACLRequest", {"path": op.path}
    if isinstance(op, rq.SetACL):
        fields = {"path": op.path, "acl": _acl(op.acl), "version": op.version}
        return OpCode.setACL, "SetACLRequest", fields
    if isinstance(op, rq.GetChildren):
        if op.with_stat:
            return OpCode.getChildren2, "GetChildren2Request", {"path": op.path, "watch": op.watch}
        return OpCode.getChildren, "GetChildrenRequest", {"path": op.path, "watch": op.watch}
    if isinstance(op, rq.Check):
        return OpCode.check, "CheckVersionRequest", {"path": op.path, "version": op.version}
    if isinstance(op, rq.Sync):
        return OpCode.sync, "SyncRequest", {"path": op.path}
    if isinstance(op, rq.Ping):
        return OpCode.ping, None, {}
    if isinstance(op, rq.CloseSession):
        return OpCode.closeSession, None, {}
    if isinstance(op, rq.WhoAmI):
        return OpCode.whoAmI, None, {}
    if isinstance(op, rq.Multi):
        return OpCode.multi, None, {}
    if isinstance(op, rq.MultiRead):
        return OpCode.multiRead, None, {}
    if isinstance(op, rq.AddAuth):
        # ZooKeeper.addAuthInfo sends type 0.
        fields = {"type": 0, "scheme": op.scheme, "auth": op.auth}
        return OpCode.auth, "AuthPacket", fields
    if isinstance(op, rq.SetWatches):
        fields = {
            "relativeZxid": op.relative_zxid,
            "dataWatches": op.data,
            "existWatches": op.exist,
            "childWatches": op.child,
        }
        if op.persistent or op.persistent_recursive:
            fields["persistentWatches"] = op.persistent
            fields["persistentRecursiveWatches"] = op.persistent_recursive
            return OpCode.setWatches2, "SetWatches2", fields
        return OpCode.setWatches, "SetWatches", fields
    if isinstance(op, rq.AddWatch):
        return OpCode.addWatch, "AddWatchRequest", {"path": op.path, "mode": op.mode}
    if isinstance(op, rq.RemoveWatches):
        return OpCode.removeWatches, "RemoveWatchesRequest", {"path": op.path, "type": op.type}
    if isinstance(op, rq.CheckWatches):
        return OpCode.checkWatches, "CheckWatchesRequest", {"path": op.path, "type": op.type}
    if isinstance(op, rq.GetEphemerals):
        return OpCode.getEphemerals, "GetEphemeralsRequest", {"prefixPath": op.prefix_path}
    if isinstance(op, rq.GetAllChildrenNumber):
        return OpCode.getAllChildrenNumber, "GetAllChildrenNumberRequest", {"path": op.path}
    if isinstance(op, rq.Reconfig):
        fields = {
            "joiningServers": op.joining_servers,
            "leavingServers": op.leaving_servers,
            "newMembers": op.new_members,
            "curConfigId": op.cur_config_id,
        }
        return OpCode.reconfig, "ReconfigRequest", fields
    if isinstance(op, rq.Sasl):
        return OpCode.sasl, "GetSASLRequest", {"token": op.token}
    assert isinstance(op, rq.Unknown)
    return op.opcode, None, {}


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
    opcode, body = request_body(op)
    return encode_record("RequestHeader", {"xid": special_xid(op, xid), "type": opcode}) + body


def connect_frame(request: rq.Connect) -> bytes:
    """The payload (no length prefix) of a handshake."""
    return encode_record(
        "ConnectRequest",
        {
            "protocolVersion": 0,
            "lastZxidSeen": request.last_zxid_seen,
            "timeOut": request.timeout_ms,
            "sessionId": request.session_id,
            "passwd": request.password,
            "readOnly": request.read_only,
        },
    )


def _multi_result(result: rq.OpResult) -> tuple[int, int, bytes]:
    """``MultiResponse.serialize``: the result's type, its error (0 unless an error
    result) and its record."""
    fields: dict[str, object]
    if isinstance(result, rq.CreateResult):
        if result.stat is None:
            return OpCode.create, 0, encode_record("CreateResponse", {"path": result.path})
        fields = {"path": result.path, "stat": _stat(result.stat)}
        return OpCode.create2, 0, encode_record("Create2Response", fields)
    if isinstance(result, rq.DeleteResult):
        return OpCode.delete, 0, b""
    if isinstance(result, rq.SetDataResult):
        return OpCode.setData, 0, encode_record("SetDataResponse", {"stat": _stat(result.stat)})
    if isinstance(result, rq.CheckResult):
        return OpCode.check, 0, b""
    if isinstance(result, rq.GetDataResult):
        fields = {"data": result.data, "stat": _stat(result.stat)}
        return OpCode.getData, 0, encode_record("GetDataResponse", fields)
    if isinstance(result, rq.GetChildrenResult):
        fields = {"children": result.children}
        return OpCode.getChildren, 0, encode_record("GetChildrenResponse", fields)
    assert isinstance(result, rq.ErrorResult)
    return OpCode.error, result.err, encode_record("ErrorResponse", {"err": result.err})


def reply_body(body: rq.Body | None) -> bytes:
    """The encoded record of a spec reply body."""
    if body is None or isinstance(body, rq.Empty):
        return b""
    if isinstance(body, rq.CreateResponse):
        return encode_record("CreateResponse", {"path": body.path})
    if isinstance(body, rq.Create2Response):
        return encode_record("Create2Response", {"path": body.path, "stat": _stat(body.stat)})
    if isinstance(body, rq.StatResponse):
        # exists, setData and setACL answer ExistsResponse, SetDataResponse, SetACLResponse:
        # three records of one field, a Stat.
        return encode_record("ExistsResponse", {"stat": _stat(body.stat)})
    if isinstance(body, rq.GetDataResponse):
        return encode_record("GetDataResponse", {"data": body.data, "stat": _stat(body.stat)})
    if isinstance(body, rq.GetACLResponse):
        return encode_record("GetACLResponse", {"acl": _acl(body.acl), "stat": _stat(body.stat)})
    if isinstance(body, rq.GetChildrenResponse):
        return encode_record("GetChildrenResponse", {"children": body.children})
    if isinstance(body, rq.GetChildren2Response):
        fields = {"children": body.children, "stat": _stat(body.stat)}
        return encode_record("GetChildren2Response", fields)
    if isinstance(body, rq.SyncResponse):
        return encode_record("SyncResponse", {"path": body.path})
    if isinstance(body, rq.GetEphemeralsResponse):
        return encode_record("GetEphemeralsResponse", {"ephemerals": body.ephemerals})
    if isinstance(body, rq.GetAllChildrenNumberResponse):
        return encode_record("GetAllChildrenNumberResponse", {"totalNumber": body.total_number})
    if isinstance(body, rq.WhoAmIResponse):
        infos = [{"authScheme": scheme, "user": user} for scheme, user in body.client_info]
        return encode_record("WhoAmIResponse", {"clientInfo": infos})
    if isinstance(body, rq.AddWatchResponse):
        return encode_record("ErrorResponse", {"err": 0})
    if isinstance(body, rq.MultiResponse):
        return encode_multi([_multi_result(r) for r in body.results])
    if isinstance(body, rq.SaslResponse):
        return encode_record("SetSASLResponse", {"token": body.token})
    raise AssertionError(f"no wire form for {body!r}")


def reply_frame(reply: rq.Reply, xid: int) -> bytes:
    """The frame (with length prefix) a server answers for a spec reply."""
    if isinstance(reply.body, rq.ConnectResponse):
        body = reply.body
        fields = {
            "protocolVersion": 0,
            "timeOut": body.timeout_ms,
            "sessionId": body.session_id,
            "passwd": body.password,
            "readOnly": body.read_only,
        }
        return frame(encode_record("ConnectResponse", fields))
    header = encode_record("ReplyHeader", {"xid": xid, "zxid": reply.zxid, "err": reply.err})
    return frame(header + (reply_body(reply.body) if reply.err == 0 else b""))


def event_frame(event: WatchEvent, profile: Profile) -> bytes:
    """A notification: ``ReplyHeader{-1, zxid, 0}`` and a ``WatcherEvent``; the zxid is the
    triggering one from 3.9 on, -1 before (``spec.profiles``)."""
    zxid = event.zxid if profile.notification_zxid else -1
    header = encode_record("ReplyHeader", {"xid": Xid.NOTIFICATION, "zxid": zxid, "err": 0})
    fields = {"type": event.type, "state": KeeperState.SyncConnected, "path": event.path}
    return frame(header + encode_record("WatcherEvent", fields))
