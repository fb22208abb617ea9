"""Hypothesis strategies for every jute record, and for whole request and reply frames.

Values cover the full range of each jute type: int32/int64 extremes, null and empty buffers,
null and non-ASCII strings, null and empty vectors. Strings exclude lone surrogates (they are
not Unicode text; the encoder refuses them).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from reference import jute
from reference.jute.multi import CREATE_MODE_FLAGS
from spec.acl import ACL, Id
from spec.opcodes import OpCode
from spec.stat import Stat

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
BOOLS = st.booleans()
TEXT = st.text(max_size=12)
USTRINGS = st.none() | TEXT
BUFFERS = st.none() | st.binary(max_size=24)
STRING_VECTORS = st.none() | st.lists(TEXT, max_size=4).map(tuple)

STATS = st.builds(Stat, INT64, INT64, INT64, INT64, INT32, INT32, INT32, INT64, INT32, INT32, INT64)
IDS = st.builds(Id, TEXT, TEXT)
ACLS = st.builds(ACL, INT32, IDS)
ACL_VECTORS = st.none() | st.lists(ACLS, max_size=3).map(tuple)
CLIENT_INFOS = st.builds(jute.ClientInfo, TEXT, TEXT)
OPTIONAL_BOOLS = st.none() | BOOLS

REQUEST_HEADERS = st.builds(jute.RequestHeader, INT32, INT32)
REPLY_HEADERS = st.builds(jute.ReplyHeader, INT32, INT64, INT32)

CREATE_REQUESTS = st.builds(jute.CreateRequest, USTRINGS, BUFFERS, ACL_VECTORS, INT32)
CREATE_TTL_REQUESTS = st.builds(jute.CreateTTLRequest, USTRINGS, BUFFERS, ACL_VECTORS, INT32, INT64)
DELETE_REQUESTS = st.builds(jute.DeleteRequest, USTRINGS, INT32)
SET_DATA_REQUESTS = st.builds(jute.SetDataRequest, USTRINGS, BUFFERS, INT32)
CHECK_VERSION_REQUESTS = st.builds(jute.CheckVersionRequest, USTRINGS, INT32)
GET_DATA_REQUESTS = st.builds(jute.GetDataRequest, USTRINGS, BOOLS)
GET_CHILDREN_REQUESTS = st.builds(jute.GetChildrenRequest, USTRINGS, BOOLS)

# Sub-ops as Java's multi deserializer accepts them: valid create flags, reads or writes only.
WRITE_MULTI_OPS = st.one_of(
    st.builds(
        jute.MultiOp,
        st.sampled_from([OpCode.create, OpCode.create2, OpCode.createContainer]),
        st.builds(
            jute.CreateRequest,
            USTRINGS,
            BUFFERS,
            ACL_VECTORS,
            st.sampled_from(sorted(CREATE_MODE_FLAGS)),
        ),
    ),
    st.builds(jute.MultiOp, st.just(OpCode.createTTL), CREATE_TTL_REQUESTS),
    st.builds(jute.MultiOp, st.just(OpCode.delete), DELETE_REQUESTS),
    st.builds(jute.MultiOp, st.just(OpCode.setData), SET_DATA_REQUESTS),
    st.builds(jute.MultiOp, st.just(OpCode.check), CHECK_VERSION_REQUESTS),
)
READ_MULTI_OPS = st.one_of(
    st.builds(jute.MultiOp, st.just(OpCode.getData), GET_DATA_REQUESTS),
    st.builds(jute.MultiOp, st.just(OpCode.getChildren), GET_CHILDREN_REQUESTS),
)
MULTI_REQUESTS = st.builds(jute.MultiRequest, st.lists(WRITE_MULTI_OPS, max_size=4).map(tuple))
MULTI_READ_REQUESTS = st.builds(jute.MultiRequest, st.lists(READ_MULTI_OPS, max_size=4).map(tuple))

MULTI_RESULTS = st.one_of(
    st.builds(jute.MultiResult, st.just(OpCode.create), st.builds(jute.CreateResponse, USTRINGS)),
    st.builds(
        jute.MultiResult,
        st.just(OpCode.create2),
        st.builds(jute.Create2Response, USTRINGS, STATS),
    ),
    st.builds(jute.MultiResult, st.sampled_from([OpCode.delete, OpCode.check]), st.none()),
    st.builds(jute.MultiResult, st.just(OpCode.setData), st.builds(jute.SetDataResponse, STATS)),
    st.builds(
        jute.MultiResult,
        st.just(OpCode.getData),
        st.builds(jute.GetDataResponse, BUFFERS, STATS),
    ),
    st.builds(
        jute.MultiResult,
        st.just(OpCode.getChildren),
        st.builds(jute.GetChildrenResponse, STRING_VECTORS),
    ),
    INT32.map(jute.MultiResult.error),
)
MULTI_RESPONSES = st.builds(jute.MultiResponse, st.lists(MULTI_RESULTS, max_size=4).map(tuple))

# Every record class, with a strategy for its values.
RECORD_STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    jute.ClientInfo: CLIENT_INFOS,
    jute.ConnectRequest: st.builds(
        jute.ConnectRequest, INT32, INT64, INT32, INT64, BUFFERS, OPTIONAL_BOOLS
    ),
    jute.ConnectResponse: st.builds(
        jute.ConnectResponse, INT32, INT32, INT64, BUFFERS, OPTIONAL_BOOLS
    ),
    jute.RequestHeader: REQUEST_HEADERS,
    jute.ReplyHeader: REPLY_HEADERS,
    jute.MultiHeader: st.builds(jute.MultiHeader, INT32, BOOLS, INT32),
    jute.CreateRequest: CREATE_REQUESTS,
    jute.CreateTTLRequest: CREATE_TTL_REQUESTS,
    jute.DeleteRequest: DELETE_REQUESTS,
    jute.ExistsRequest: st.builds(jute.ExistsRequest, USTRINGS, BOOLS),
    jute.GetDataRequest: GET_DATA_REQUESTS,
    jute.SetDataRequest: SET_DATA_REQUESTS,
    jute.GetACLRequest: st.builds(jute.GetACLRequest, USTRINGS),
    jute.SetACLRequest: st.builds(jute.SetACLRequest, USTRINGS, ACL_VECTORS, INT32),
    jute.GetChildrenRequest: GET_CHILDREN_REQUESTS,
    jute.SyncRequest: st.builds(jute.SyncRequest, USTRINGS),
    jute.GetChildren2Request: st.builds(jute.GetChildren2Request, USTRINGS, BOOLS),
    jute.CheckVersionRequest: CHECK_VERSION_REQUESTS,
    jute.ReconfigRequest: st.builds(jute.ReconfigRequest, USTRINGS, USTRINGS, USTRINGS, INT64),
    jute.CheckWatchesRequest: st.builds(jute.CheckWatchesRequest, USTRINGS, INT32),
    jute.RemoveWatchesRequest: st.builds(jute.RemoveWatchesRequest, USTRINGS, INT32),
    jute.AuthPacket: st.builds(jute.AuthPacket, INT32, USTRINGS, BUFFERS),
    jute.SetWatches: st.builds(
        jute.SetWatches, INT64, STRING_VECTORS, STRING_VECTORS, STRING_VECTORS
    ),
    jute.SetWatches2: st.builds(
        jute.SetWatches2,
        INT64,
        STRING_VECTORS,
        STRING_VECTORS,
        STRING_VECTORS,
        STRING_VECTORS,
        STRING_VECTORS,
    ),
    jute.GetSASLRequest: st.builds(jute.GetSASLRequest, BUFFERS),
    jute.GetEphemeralsRequest: st.builds(jute.GetEphemeralsRequest, USTRINGS),
    jute.GetAllChildrenNumberRequest: st.builds(jute.GetAllChildrenNumberRequest, USTRINGS),
    jute.AddWatchRequest: st.builds(jute.AddWatchRequest, USTRINGS, INT32),
    jute.MultiRequest: MULTI_REQUESTS | MULTI_READ_REQUESTS,
    jute.CreateResponse: st.builds(jute.CreateResponse, USTRINGS),
    jute.Create2Response: st.builds(jute.Create2Response, USTRINGS, STATS),
    jute.ExistsResponse: st.builds(jute.ExistsResponse, STATS),
    jute.GetDataResponse: st.builds(jute.GetDataResponse, BUFFERS, STATS),
    jute.SetDataResponse: st.builds(jute.SetDataResponse, STATS),
    jute.GetACLResponse: st.builds(jute.GetACLResponse, ACL_VECTORS, STATS),
    jute.SetACLResponse: st.builds(jute.SetACLResponse, STATS),
    jute.GetChildrenResponse: st.builds(jute.GetChildrenResponse, STRING_VECTORS),
    jute.SyncResponse: st.builds(jute.SyncResponse, USTRINGS),
    jute.GetChildren2Response: st.builds(jute.GetChildren2Response, STRING_VECTORS, STATS),
    jute.SetSASLResponse: st.builds(jute.SetSASLResponse, BUFFERS),
    jute.GetEphemeralsResponse: st.builds(jute.GetEphemeralsResponse, STRING_VECTORS),
    jute.GetAllChildrenNumberResponse: st.builds(jute.GetAllChildrenNumberResponse, INT32),
    jute.WhoAmIResponse: st.builds(
        jute.WhoAmIResponse, st.none() | st.lists(CLIENT_INFOS, max_size=3).map(tuple)
    ),
    jute.ErrorResponse: st.builds(jute.ErrorResponse, INT32),
    jute.WatcherEvent: st.builds(jute.WatcherEvent, INT32, INT32, USTRINGS),
    jute.MultiResponse: MULTI_RESPONSES,
}


def request_record_strategy(opcode: int) -> st.SearchStrategy[Any]:
    """Body records a client could send with ``opcode`` (``None`` for an empty body)."""
    record_type = jute.REQUEST_RECORDS[opcode]
    if record_type is None:
        return st.none()
    if opcode == OpCode.multi:
        return MULTI_REQUESTS
    if opcode == OpCode.multiRead:
        return MULTI_READ_REQUESTS
    return RECORD_STRATEGIES[record_type]


def reply_record_strategy(opcode: int) -> st.SearchStrategy[Any]:
    """Body records a server could answer ``opcode`` with (``None`` for an empty body)."""
    record_type = jute.REPLY_RECORDS[opcode]
    return st.none() if record_type is None else RECORD_STRATEGIES[record_type]


@st.composite
def requests(draw: st.DrawFn) -> jute.Request:
    """A whole client request after the handshake, with a known opcode."""
    opcode = draw(st.sampled_from(sorted(jute.REQUEST_RECORDS)))
    header = jute.RequestHeader(draw(INT32), opcode)
    return jute.Request(header, draw(request_record_strategy(opcode)))


@st.composite
def replies(draw: st.DrawFn) -> tuple[int, jute.Reply]:
    """A whole server reply with the opcode of the request it answers.

    Notifications (xid -1) carry a WatcherEvent; a non-zero err has no body.
    """
    opcode = draw(st.sampled_from(sorted(jute.REPLY_RECORDS)))
    kind = draw(st.sampled_from(["ok", "error", "notification"]))
    zxid = draw(INT64)
    if kind == "notification":
        header = jute.ReplyHeader(-1, zxid, 0)
        return opcode, jute.Reply(header, draw(RECORD_STRATEGIES[jute.WatcherEvent]))
    xid = draw(INT32.filter(lambda xid: xid != -1))
    if kind == "error":
        err = draw(INT32.filter(lambda err: err != 0))
        return opcode, jute.Reply(jute.ReplyHeader(xid, zxid, err), None)
    return opcode, jute.Reply(jute.ReplyHeader(xid, zxid, 0), draw(reply_record_strategy(opcode)))
