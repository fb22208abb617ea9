"""Hypothesis strategies for every spec operation, reply body and history event."""

from __future__ import annotations

from typing import cast

from hypothesis import strategies as st

from conformance.history import (
    ConnectEvent,
    DisconnectEvent,
    Header,
    NotificationEvent,
    OpEvent,
    ProtocolErrorEvent,
    ServerSettings,
    SessionEvent,
    Snapshot,
    SnapshotNode,
)
from spec import requests as rq
from spec.acl import ACL, Id
from spec.errors import Code
from spec.opcodes import OpCode
from spec.stat import Stat

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
# Text as ZooKeeper paths can carry it, lone surrogates included (Java strings can).
text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
paths = st.one_of(st.sampled_from(["/", "/a", "/a/b", "", "/zookeeper"]), text)
data = st.one_of(st.none(), st.binary(max_size=12))
# Any int may come back as an error code (a server can send a code the spec does not know).
codes: st.SearchStrategy[Code] = st.one_of(
    st.sampled_from(list(Code)), st.integers(-200, 10).map(lambda c: cast(Code, c))
)
opcodes = st.sampled_from([OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL])

ids = st.builds(Id, text, text)
acls = st.lists(st.builds(ACL, int32, ids), max_size=3).map(tuple)
stats = st.builds(Stat, *([int64] * 4 + [int32] * 3 + [int64] + [int32] * 2 + [int64]))
strings = st.lists(text, max_size=3).map(tuple)

creates = st.builds(rq.Create, paths, data, acls, int32, opcodes, int64)
simple_ops: st.SearchStrategy[rq.Operation] = st.one_of(
    creates,
    st.builds(rq.Delete, paths, int32),
    st.builds(rq.Exists, paths, st.booleans()),
    st.builds(rq.GetData, paths, st.booleans()),
    st.builds(rq.SetData, paths, data, int32),
    st.builds(rq.GetACL, paths),
    st.builds(rq.SetACL, paths, acls, int32),
    st.builds(rq.GetChildren, paths, st.booleans(), st.booleans()),
    st.builds(rq.Check, paths, int32),
    st.builds(rq.Sync, paths),
    st.just(rq.Ping()),
    st.just(rq.CloseSession()),
    st.builds(rq.AddAuth, text, st.binary(max_size=8)),
    st.builds(rq.SetWatches, int64, strings, strings, strings, strings, strings),
    st.builds(rq.AddWatch, paths, int32),
    st.builds(rq.RemoveWatches, paths, int32),
    st.builds(rq.CheckWatches, paths, int32),
    st.builds(rq.GetEphemerals, paths),
    st.builds(rq.GetAllChildrenNumber, paths),
    st.just(rq.WhoAmI()),
    st.builds(
        rq.Reconfig,
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        int64,
    ),
    st.builds(rq.Unknown, int32),
)
operations: st.SearchStrategy[rq.Operation] = st.one_of(
    simple_ops,
    st.builds(rq.Multi, st.lists(simple_ops, max_size=3).map(tuple)),
    st.builds(rq.MultiRead, st.lists(simple_ops, max_size=3).map(tuple)),
)

op_results: st.SearchStrategy[rq.OpResult] = st.one_of(
    st.builds(rq.CreateResult, text, st.one_of(st.none(), stats)),
    st.just(rq.DeleteResult()),
    st.builds(rq.SetDataResult, stats),
    st.just(rq.CheckResult()),
    st.builds(rq.GetDataResult, data, stats),
    st.builds(rq.GetChildrenResult, strings),
    st.builds(rq.ErrorResult, codes),
)
bodies: st.SearchStrategy[rq.Body] = st.one_of(
    st.builds(rq.ConnectResponse, int32, int64, st.binary(max_size=16), st.booleans()),
    st.builds(rq.CreateResponse, text),
    st.builds(rq.Create2Response, text, stats),
    st.builds(rq.StatResponse, stats),
    st.builds(rq.GetDataResponse, data, stats),
    st.builds(rq.GetACLResponse, acls, stats),
    st.builds(rq.GetChildrenResponse, strings),
    st.builds(rq.GetChildren2Response, strings, stats),
    st.builds(rq.SyncResponse, text),
    st.builds(rq.GetEphemeralsResponse, strings),
    st.builds(rq.GetAllChildrenNumberResponse, int32),
    st.builds(rq.WhoAmIResponse, st.lists(st.tuples(text, text), max_size=3).map(tuple)),
    st.just(rq.AddWatchResponse()),
    st.builds(rq.MultiResponse, st.lists(op_results, max_size=4).map(tuple)),
    st.just(rq.Empty()),
)
replies = st.builds(rq.Reply, int64, codes, st.one_of(st.none(), bodies))

times = st.integers(0, 2**62)
names = st.text(min_size=1, max_size=8)


@st.composite
def op_events(draw: st.DrawFn) -> OpEvent:
    outcome = draw(st.sampled_from(["ok", "error", "unknown"]))
    reply = None
    if outcome != "unknown":
        err = Code.OK if outcome == "ok" else draw(codes.filter(lambda c: c != 0))
        reply = rq.Reply(draw(int64), err, draw(st.one_of(st.none(), bodies)))
    return OpEvent(
        draw(st.integers(1, 10**6)),
        draw(names),
        draw(st.integers(1, 1000)),
        draw(names),
        draw(int64),
        draw(int32),
        draw(operations),
        draw(times),
        None if reply is None else draw(times),
        outcome,
        reply,
        None if reply is None else draw(st.integers(1, 10**6)),
        draw(st.text(max_size=10)),
    )


events = st.one_of(
    op_events(),
    st.builds(
        Header,
        st.just(1),
        st.one_of(st.none(), st.sampled_from(["3.8", "3.9"])),
        strings,
        st.builds(
            ServerSettings,
            st.booleans(),
            st.booleans(),
            st.one_of(st.none(), text),
            st.integers(1, 2**31 - 1),
        ),
        st.booleans(),
        times,
        text,
    ),
    st.builds(
        Snapshot,
        int64,
        st.lists(st.builds(SnapshotNode, text, data, acls, stats), max_size=3).map(tuple),
    ),
    st.builds(
        ConnectEvent,
        st.integers(1, 1000),
        names,
        names,
        int64,
        int64,
        int32,
        times,
        st.one_of(st.none(), times),
        st.sampled_from(["ok", "expired", "unknown"]),
        int64,
        st.one_of(st.none(), st.binary(max_size=16)),
        int32,
        st.one_of(st.none(), st.booleans()),
        text,
    ),
    st.builds(
        SessionEvent,
        st.sampled_from(["created", "closed", "expired"]),
        int64,
        st.integers(1, 1000),
        times,
    ),
    st.builds(
        NotificationEvent,
        st.integers(1, 1000),
        names,
        int64,
        st.integers(1, 10**6),
        times,
        int64,
        int32,
        int32,
        text,
    ),
    st.builds(DisconnectEvent, st.integers(1, 1000), names, int64, times, text),
    st.builds(ProtocolErrorEvent, st.integers(1, 1000), names, int64, times, text),
)
