"""The load generator's wire side without a server: precompiled frames are the codec's bytes,
and a pipelined session reads replies however the stream splits them."""

from __future__ import annotations

import asyncio
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.wire import LoadSession, Meter, PathTemplate, RequestTemplate
from bench.workloads import (
    EphemeralChurnSource,
    NumberedPathSource,
    RepeatSource,
    create_template,
    operation_source,
    value_of,
)
from reference.jute import (
    ConnectResponse,
    CreateRequest,
    DeleteRequest,
    GetDataRequest,
    GetDataResponse,
    ReplyHeader,
    RequestHeader,
    SetDataRequest,
    WatcherEvent,
    decode_request,
    encode_connect_response,
    encode_reply,
    encode_request,
    split_frames,
)
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.modes import CreateMode
from spec.opcodes import OpCode
from spec.stat import Stat

paths = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), max_size=40).map(
    lambda s: "/" + s
)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), paths)
def test_a_request_template_frame_is_what_the_codec_encodes(xid: int, path: str) -> None:
    record = SetDataRequest(path, b"v" * 100, -1)
    template = RequestTemplate(OpCode.setData, record)
    assert template.frame(xid) == encode_request(RequestHeader(xid, OpCode.setData), record)


@given(st.integers(min_value=1, max_value=2**31 - 1), paths, st.binary(max_size=200))
def test_a_path_template_frame_is_what_the_codec_encodes(xid: int, path: str, data: bytes) -> None:
    template = create_template(data, CreateMode.EPHEMERAL)
    record = CreateRequest(path, data, OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL)
    assert template.frame(xid, path.encode()) == encode_request(
        RequestHeader(xid, OpCode.create), record
    )


def test_path_template_needs_a_sample_for_the_root_path() -> None:
    with pytest.raises(AssertionError):
        PathTemplate(OpCode.delete, DeleteRequest("/x", -1))


def _decoded(frames: bytes) -> list[tuple[int, int, object]]:
    payloads, rest = split_frames(frames)
    assert rest == b""
    out = []
    for payload in payloads:
        request = decode_request(payload)
        out.append((request.header.xid, request.header.type, getattr(request, "record", None)))
    return out


def test_sources_number_xids_and_stop_at_their_quota() -> None:
    churn = EphemeralChurnSource("/r/e3", b"abc", quota=2)
    first, second = churn.next_operation(7), churn.next_operation(9)
    assert first is not None and second is not None
    assert churn.next_operation(11) is None
    decoded = _decoded(first + second)
    assert [(xid, op) for xid, op, _ in decoded] == [
        (7, OpCode.create),
        (8, OpCode.delete),
        (9, OpCode.create),
        (10, OpCode.delete),
    ]
    assert decoded[0][2] == CreateRequest("/r/e3", b"abc", OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL)
    numbered = NumberedPathSource(create_template(b"", CreateMode.PERSISTENT), "/r/c1-", 3)
    frames = b"".join(f for f in (numbered.next_operation(x) for x in range(1, 5)) if f)
    assert [r.path for _, _, r in _decoded(frames)] == ["/r/c1-0", "/r/c1-1", "/r/c1-2"]  # type: ignore[attr-defined]
    assert numbered.issued == 3


def test_the_mixed_workload_writes_one_operation_in_ten() -> None:
    source = operation_source("mixed", "/r", 2, 100, quota=30)
    frames = b"".join(f for f in (source.next_operation(x) for x in range(1, 31)) if f)
    decoded = _decoded(frames)
    assert [op for _, op, _ in decoded].count(OpCode.setData) == 3
    assert decoded[9][2] == SetDataRequest("/r/n2", value_of(100), -1)
    assert decoded[0][2] == GetDataRequest("/r/n2", False)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    def writelines(self, chunks: object) -> None:
        for chunk in chunks:  # type: ignore[attr-defined]
            self.sent += chunk

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


STAT = Stat(1, 2, 3, 4, 5, 6, 7, 0, 100, 0, 1)


def _reply(xid: int, err: int = 0) -> bytes:
    record = GetDataResponse(b"x" * 100, STAT) if err == 0 else None
    return encode_reply(ReplyHeader(xid, 42, err), record)


def _connected() -> tuple[LoadSession, FakeTransport]:
    session = LoadSession()
    transport = FakeTransport()
    session.connection_made(transport)
    transport.sent.clear()
    session.data_received(encode_connect_response(ConnectResponse(0, 30000, 77, bytes(16))))
    assert session.session_id == 77
    return session, transport


@pytest.mark.parametrize("chunk", [1, 3, 7, 50, 10_000])
def test_replies_split_anywhere_complete_operations_in_order(chunk: int) -> None:
    async def scenario() -> None:
        session, transport = _connected()
        meter = Meter(array("q"), 0, 1 << 62)
        template = RequestTemplate(OpCode.getData, GetDataRequest("/a", False))
        drained = session.run(RepeatSource(template, quota=10), meter, window=10)
        assert [xid for xid, _, _ in _decoded(bytes(transport.sent))] == list(range(1, 11))
        notification = encode_reply(ReplyHeader(-1, 43, 0), WatcherEvent(3, 3, "/a"))
        stream = b"".join([_reply(1), notification, _reply(2, Code.NONODE)])
        stream += b"".join(_reply(xid) for xid in range(3, 11))
        for start in range(0, len(stream), chunk):
            session.data_received(stream[start : start + chunk])
        assert drained.done()
        assert meter.completed == 10 == meter.completed_total
        assert len(meter.latencies or ()) == 10
        assert meter.errors == {Code.NONODE: 1}
        assert meter.notifications == 1
        assert session.failure is None

    asyncio.run(scenario())


def test_each_completed_operation_lets_one_more_out() -> None:
    async def scenario() -> None:
        session, transport = _connected()
        meter = Meter(array("q"), 0, 1 << 62)
        source = EphemeralChurnSource("/r/e0", b"", quota=4)  # two requests per operation
        drained = session.run(source, meter, window=2)
        assert [xid for xid, _, _ in _decoded(bytes(transport.sent))] == [1, 2, 3, 4]
        session.data_received(_reply(1) + _reply(2))  # create and delete of operation 1
        assert len(_decoded(bytes(transport.sent))) == 6
        session.data_received(_reply(3))  # half an operation frees nothing
        assert len(_decoded(bytes(transport.sent))) == 6
        session.data_received(b"".join(_reply(xid) for xid in range(4, 7)))
        assert len(_decoded(bytes(transport.sent))) == 8  # the quota: 4 operations
        session.data_received(_reply(7) + _reply(8))
        assert drained.done()
        assert meter.completed == 4 and len(meter.latencies or ()) == 4

    asyncio.run(scenario())


def test_a_reply_out_of_order_ends_the_session() -> None:
    async def scenario() -> None:
        session, transport = _connected()
        template = RequestTemplate(OpCode.getData, GetDataRequest("/a", False))
        drained = session.run(RepeatSource(template, quota=5), Meter(None, 0, 1 << 62), 2)
        session.data_received(_reply(2))
        assert transport.aborted
        assert session.failure is not None and "xid 2" in session.failure
        session.connection_lost(None)
        assert drained.done()

    asyncio.run(scenario())


def test_replies_after_the_window_are_not_counted_and_stop_the_session() -> None:
    async def scenario() -> None:
        session, transport = _connected()
        meter = Meter(None, 0, 1)  # a window that closed long ago
        template = RequestTemplate(OpCode.exists, GetDataRequest("/a", False))
        drained = session.run(RepeatSource(template, quota=100), meter, window=3)
        session.data_received(_reply(1) + _reply(2) + _reply(3))
        assert drained.done()
        assert meter.completed == 0 and meter.completed_total == 3
        assert len(_decoded(bytes(transport.sent))) == 3  # nothing sent after the window

    asyncio.run(scenario())
