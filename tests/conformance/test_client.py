"""The conformance client against the in-process reference core: what it sends, records and
hands out, and that every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from conformance.client import (
    Client,
    ConnectionLoss,
    OutcomeUnknown,
    ProtocolViolation,
    SessionExpired,
)
from conformance.history import HistoryRecorder
from reference.jute import ConnectResponse as JuteConnectResponse
from reference.jute import (
    FrameReader,
    ReplyHeader,
    decode_connect_request,
    encode_connect_response,
    encode_reply,
)
from spec import requests as rq
from spec.acl import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.events import EventType
from spec.opcodes import OpCode
from spec.state import Config
from tests.conformance.inprocess import InProcessEnsemble

T = TypeVar("T")
TEST_TIMEOUT_S = 20.0
CONFIG = Config(tick_time_ms=100, min_session_timeout_ms=200, container_check_interval_ms=200)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait (bounded) until ``condition`` holds, letting the loop run between looks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"not reached within {timeout_s} s"
        await asyncio.sleep(0.005)


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), TEST_TIMEOUT_S)

    return asyncio.run(bounded())


def test_a_new_session_answers_requests_and_everything_is_recorded() -> None:
    async def scenario() -> HistoryRecorder:
        async with InProcessEnsemble(CONFIG) as ensemble:
            recorder = HistoryRecorder()
            client = Client(ensemble.hosts, name="a", recorder=recorder)
            await client.start()
            created = await client.call(rq.Create("/x", b"1", OPEN_ACL_UNSAFE, 0))
            read = await client.call(rq.GetData("/x"))
            assert created == rq.Reply(created.zxid, Code.OK, rq.CreateResponse("/x"))
            assert isinstance(read.body, rq.GetDataResponse) and read.body.data == b"1"
            assert client.last_zxid_seen == created.zxid
            await client.close()
            return recorder

    history = run(scenario).history()
    assert [c.outcome for c in history.connects] == ["ok"]
    assert [s.kind for s in history.sessions] == ["created", "closed"]
    assert [type(o.op).__name__ for o in history.ops] == ["Create", "GetData", "CloseSession"]
    assert all(o.outcome == "ok" and o.complete_ns and o.invoke_ns for o in history.ops)


def test_pipelined_requests_are_answered_in_the_order_they_were_sent() -> None:
    async def scenario() -> tuple[list[rq.Reply], HistoryRecorder]:
        async with InProcessEnsemble(CONFIG) as ensemble:
            recorder = HistoryRecorder()
            client = Client(ensemble.hosts, recorder=recorder)
            await client.start()
            await client.call(rq.Create("/p", b"", OPEN_ACL_UNSAFE, 0))
            futures = [await client.submit(rq.SetData("/p", b"%d" % i)) for i in range(200)]
            replies = [await f for f in futures]
            await client.close()
            return replies, recorder

    replies, recorder = run(scenario)
    zxids = [r.zxid for r in replies]
    assert zxids == sorted(zxids) and len(set(zxids)) == 200
    ops = [o for o in recorder.history().ops if isinstance(o.op, rq.SetData)]
    assert [o.xid for o in sorted(ops, key=lambda o: o.recv or 0)] == sorted(o.xid for o in ops)


def test_a_notification_arrives_before_the_reply_that_shows_the_change() -> None:
    async def scenario() -> tuple[list[int], HistoryRecorder]:
        order: list[int] = []
        async with InProcessEnsemble(CONFIG) as ensemble:
            recorder = HistoryRecorder()
            writer = Client(ensemble.hosts, name="w", recorder=recorder)
            reader = Client(
                ensemble.hosts,
                name="r",
                recorder=recorder,
                on_notification=lambda n: order.append(n.type),
            )
            await writer.start()
            await reader.start()
            await writer.call(rq.Create("/n", b"", OPEN_ACL_UNSAFE, 0))
            await reader.call(rq.GetData("/n", watch=True))
            await reader.call(rq.GetChildren("/n", watch=True))
            await writer.call(rq.Create("/n/c", b"", OPEN_ACL_UNSAFE, 0))
            await writer.call(rq.SetData("/n", b"v"))
            after = await reader.call(rq.GetData("/n"))
            note = await reader.next_notification(lambda n: n.type == EventType.NodeDataChanged)
            assert note.path == "/n" and note.zxid == after.zxid
            await writer.close()
            await reader.close()
            return order, recorder

    order, recorder = run(scenario)
    assert order == [EventType.NodeChildrenChanged, EventType.NodeDataChanged]
    history = recorder.history()
    last_read = [o for o in history.ops if o.client == "r" and isinstance(o.op, rq.GetData)][-1]
    assert all(n.recv < (last_read.recv or 0) for n in history.notifications)


def test_pings_keep_an_idle_session_alive_past_its_timeout() -> None:
    async def scenario() -> None:
        async with InProcessEnsemble(CONFIG) as ensemble:
            client = Client(ensemble.hosts, session_timeout_ms=300)
            await client.start()
            await client.call(rq.Create("/alive", b"", OPEN_ACL_UNSAFE, 1))
            created_at = ensemble.core.now
            await asyncio.sleep(1.2)  # four timeouts of silence but for pings
            # The situation: the core's timer ran past three of the session's timeouts.
            assert ensemble.core.now >= created_at + 3 * 300
            reply = await client.call(rq.Exists("/alive"))
            assert reply.err == Code.OK
            assert client.session_id in ensemble.core.sessions
            await client.close()

    run(scenario)


def test_a_session_moves_to_another_server_and_its_watches_are_rearmed() -> None:
    async def scenario() -> HistoryRecorder:
        async with InProcessEnsemble(CONFIG, listeners=2) as ensemble:
            recorder = HistoryRecorder()
            writer = Client(ensemble.hosts, name="w", recorder=recorder)
            watcher = Client(ensemble.hosts, name="r", recorder=recorder)
            await writer.start()
            await watcher.start()
            await writer.call(rq.Create("/d", b"", OPEN_ACL_UNSAFE, 0))
            await watcher.call(rq.Exists("/new", watch=True))
            await watcher.call(rq.GetData("/d", watch=True))
            await watcher.call(rq.AddWatch("/tree", 1))
            first_server, session = watcher.server, watcher.session_id
            watcher.reconnect_enabled = False
            for conn in ensemble.connections_of(session):
                ensemble.drop(conn)
            await until(lambda: not watcher.connected)  # the client saw the drop
            await writer.call(rq.Create("/new", b"", OPEN_ACL_UNSAFE, 0))
            await writer.call(rq.SetData("/d", b"changed"))
            await watcher.reconnect()
            assert watcher.session_id == session and watcher.server != first_server
            created = await watcher.next_notification(lambda n: n.path == "/new")
            changed = await watcher.next_notification(lambda n: n.path == "/d")
            assert (created.type, changed.type) == (
                EventType.NodeCreated,
                EventType.NodeDataChanged,
            )
            await writer.call(rq.Create("/tree", b"", OPEN_ACL_UNSAFE, 0))
            recursive = await watcher.next_notification(lambda n: n.path == "/tree")
            assert recursive.type == EventType.NodeCreated
            await writer.close()
            await watcher.close()
            return recorder

    history = run(scenario).history()
    set_watches = [o.op for o in history.ops if isinstance(o.op, rq.SetWatches)]
    assert len(set_watches) == 1
    op = set_watches[0]
    assert isinstance(op, rq.SetWatches)
    assert op == rq.SetWatches(op.relative_zxid, ("/d",), ("/new",), (), (), ("/tree",))


def test_auth_is_sent_again_after_a_reconnect() -> None:
    async def scenario() -> None:
        async with InProcessEnsemble(CONFIG, listeners=2) as ensemble:
            client = Client(ensemble.hosts)
            await client.start()
            assert (await client.call(rq.AddAuth("digest", b"user:pass"))).err == Code.OK
            await client.call(rq.Create("/secret", b"s", CREATOR_ALL_ACL, 0))
            await client.reconnect()
            reply = await client.call(rq.GetData("/secret"))
            assert reply.err == Code.OK
            who = await client.call(rq.WhoAmI())
            assert isinstance(who.body, rq.WhoAmIResponse)
            assert ("digest", "user") in who.body.client_info
            await client.close()

    run(scenario)


def test_a_closed_session_loses_its_ephemerals_and_cannot_be_resumed() -> None:
    async def scenario() -> HistoryRecorder:
        async with InProcessEnsemble(CONFIG) as ensemble:
            recorder = HistoryRecorder()
            owner = Client(ensemble.hosts, name="owner", recorder=recorder)
            other = Client(ensemble.hosts, name="other", recorder=recorder)
            await owner.start()
            await other.start()
            await owner.call(rq.Create("/e", b"", OPEN_ACL_UNSAFE, 1))
            session, password = owner.session_id, owner.password
            await owner.close()
            assert (await other.call(rq.Exists("/e"))).err == Code.NONODE
            again = Client(ensemble.hosts, name="again", recorder=recorder)
            with pytest.raises(SessionExpired):
                await again.resume(session, password)
            with pytest.raises(SessionExpired):
                await again.call(rq.Exists("/e"))
            await other.close()
            return recorder

    history = run(scenario).history()
    assert [c.outcome for c in history.connects][-1] == "expired"
    assert [s.kind for s in history.sessions if s.kind == "expired"] == ["expired"]


def test_a_request_to_a_silent_server_ends_unknown_within_its_timeout() -> None:
    async def scenario() -> HistoryRecorder:
        async with InProcessEnsemble(CONFIG) as ensemble:
            recorder = HistoryRecorder()
            client = Client(
                ensemble.hosts, recorder=recorder, request_timeout_s=0.2, reconnect=False
            )
            await client.start()
            ensemble.mute = True
            started = time.monotonic()
            with pytest.raises(OutcomeUnknown):
                await client.call(rq.Create("/maybe", b"", OPEN_ACL_UNSAFE, 0))
            assert time.monotonic() - started < 1.0
            with pytest.raises(ConnectionLoss):
                await client.call(rq.Exists("/maybe"))
            ensemble.release()
            await client.abandon()
            return recorder

    history = run(scenario).history()
    unknown = [o for o in history.ops if o.outcome == "unknown"]
    assert len(unknown) == 1 and "timed out" in unknown[0].note


async def _silent_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"127.0.0.1:{port}"


def test_a_server_that_never_answers_the_handshake_is_given_up_on() -> None:
    async def scenario() -> None:
        async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                await reader.read(1 << 16)
                await asyncio.sleep(30)

        server, host = await _silent_server(never)
        try:
            client = Client([host, host], connect_timeout_s=0.2)
            started = time.monotonic()
            with pytest.raises(ConnectionLoss):
                await client.start()
            assert time.monotonic() - started < 2.0
        finally:
            server.close()

    run(scenario)


Answer = Callable[[int, int], list[bytes]]  # (xid, opcode) of a request -> frames to send


def _scripted(timeout_ms: int, answer: Answer) -> Callable[..., Awaitable[None]]:
    """A server that grants every session ``timeout_ms`` and answers each request with the
    frames ``answer`` gives for it (no frames: no answer, yet)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        handshaken = False
        while data := await reader.read(1 << 16):
            for payload in frames.feed(data):
                if not handshaken:
                    request = decode_connect_request(payload)
                    response = JuteConnectResponse(0, timeout_ms, 77, bytes(16), request.readOnly)
                    writer.write(encode_connect_response(response))
                    handshaken = True
                    continue
                xid = int.from_bytes(payload[:4], "big", signed=True)
                opcode = int.from_bytes(payload[4:8], "big", signed=True)
                for frame in answer(xid, opcode):
                    writer.write(frame)

    return serve


# Long enough that a request failing by its timeout could not pass for "at once".
PATIENT_S = 30.0


def test_a_reply_out_of_order_is_a_protocol_violation_that_fails_the_request_at_once() -> None:
    def wrong_xids(xid: int, opcode: int) -> list[bytes]:
        return [encode_reply(ReplyHeader(xid + 1000, 5, 0))] if xid > 0 else []

    async def scenario() -> tuple[HistoryRecorder, float]:
        server, host = await _silent_server(_scripted(3000, wrong_xids))
        try:
            recorder = HistoryRecorder()
            client = Client([host], recorder=recorder, reconnect=False, request_timeout_s=PATIENT_S)
            await client.start()
            started = time.monotonic()
            with pytest.raises(ProtocolViolation) as raised:
                await client.call(rq.Sync("/"))
            waited = time.monotonic() - started
            assert "xid out of order: got xid 1001" in raised.value.detail
            assert "expected xid 1" in raised.value.detail
            assert client.protocol_violation == client.protocol_errors[0] == raised.value.detail
            await client.abandon()
            return recorder, waited
        finally:
            server.close()

    recorder, waited = run(scenario)
    assert waited < PATIENT_S / 2
    history = recorder.history()
    assert len(history.protocol_errors) == 1
    assert [o.outcome for o in history.ops] == ["unknown"]


def test_a_ping_reply_that_overtakes_a_request_is_out_of_order() -> None:
    """Pings travel the server's pipeline with the requests, so a ping's reply cannot come
    before the reply to a request sent earlier: one request in flight is enough to catch a
    server that reorders its replies."""

    def pings_only(xid: int, opcode: int) -> list[bytes]:
        return [encode_reply(ReplyHeader(xid, 5, 0))] if opcode == OpCode.ping else []

    async def scenario() -> None:
        # A 300 ms session: the client pings after 100 ms of silence.
        server, host = await _silent_server(_scripted(300, pings_only))
        try:
            client = Client([host], reconnect=False, request_timeout_s=PATIENT_S)
            await client.start()
            with pytest.raises(ProtocolViolation) as raised:
                await client.call(rq.GetData("/"))
            assert "got xid -2 (err 0), expected xid 1" in raised.value.detail
            await client.abandon()
        finally:
            server.close()

    run(scenario)


def test_an_auth_reply_may_overtake_a_request() -> None:
    """The server answers an auth packet as it arrives (ZooKeeperServer.processPacket),
    ahead of requests still in its pipeline: not a violation. Here the server holds a
    request's reply until the auth packet comes, answers the auth, then the request."""
    held: list[bytes] = []

    def auth_first(xid: int, opcode: int) -> list[bytes]:
        if opcode != OpCode.auth:
            held.append(encode_reply(ReplyHeader(xid, 5, Code.NONODE)))
            return []
        out = [encode_reply(ReplyHeader(xid, 5, Code.OK)), *held]
        held.clear()
        return out

    async def scenario() -> None:
        server, host = await _silent_server(_scripted(30_000, auth_first))
        try:
            client = Client([host], reconnect=False, request_timeout_s=PATIENT_S)
            await client.start()
            exists = await client.submit(rq.Exists("/x"))
            auth = await client.submit(rq.AddAuth("digest", b"u:p"))
            assert (await auth).err == Code.OK and (await exists).err == Code.NONODE
            assert client.protocol_errors == []
            await client.abandon()
        finally:
            server.close()

    run(scenario)


def test_a_client_whose_zxid_is_ahead_of_every_server_cannot_resume() -> None:
    async def scenario() -> None:
        async with InProcessEnsemble(CONFIG, listeners=2) as ensemble:
            first = Client(ensemble.hosts)
            await first.start()
            later = Client(ensemble.hosts, connect_timeout_s=0.3)
            with pytest.raises(ConnectionLoss):
                await later.resume(first.session_id, first.password, last_zxid_seen=1 << 40)
            await first.close()

    run(scenario)


def test_opcodes_on_the_wire_follow_the_operation() -> None:
    from conformance.wire import opcode_of

    assert opcode_of(rq.GetChildren("/", with_stat=True)) == OpCode.getChildren2
    assert opcode_of(rq.SetWatches(0, persistent=("/a",))) == OpCode.setWatches2
    assert opcode_of(rq.SetWatches(0, data=("/a",))) == OpCode.setWatches
