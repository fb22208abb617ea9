"""Tests of ``spec.sessions``: handshakes, liveness, expiry, close, re-attach."""

from __future__ import annotations

import pytest

from spec.acl import Id
from spec.errors import Code
from spec.events import EventType, WatchEvent
from spec.machine import InputError
from spec.modes import CreateMode
from spec.requests import (
    AddAuth,
    Call,
    CloseSession,
    Connect,
    ConnectResponse,
    Disconnect,
    Empty,
    Exists,
    GetChildren,
    GetData,
    Ping,
    WhoAmI,
    WhoAmIResponse,
)
from spec.sessions import (
    JavaRandom,
    initial_session_id,
    password_for,
    signed64,
)
from tests.spec.helpers import START_MS, TICK_MS, Server, body, create, events_of, reply_of

FIRST_SESSION_ID = 0x8BCFE568000000  # (0 << 56) | ((1_700_000_000_000 << 24) >>> 8)


# --- the handshake ------------------------------------------------------------------------


def test_new_session_takes_a_zxid_and_answers_timeout_id_and_password() -> None:
    server = Server()
    outcome = server.connect_outcome(10_000)
    reply = reply_of(outcome)
    assert (reply.zxid, reply.err) == (1, Code.OK)
    assert outcome.zxids == (1,)
    assert not outcome.close
    assert reply.body == ConnectResponse(10_000, FIRST_SESSION_ID, password_for(FIRST_SESSION_ID))
    session = server.state.sessions[FIRST_SESSION_ID]
    assert session.connected and session.timeout_ms == 10_000


@pytest.mark.parametrize(
    ("requested", "negotiated"),
    [(1000, 4000), (0, 4000), (-5, 4000), (4000, 4000), (12345, 12345), (100_000, 40_000)],
)
def test_requested_timeout_is_clamped_to_two_and_twenty_ticks(
    requested: int, negotiated: int
) -> None:
    server = Server()
    response = body(server.connect_outcome(requested), ConnectResponse)
    assert response.timeout_ms == negotiated


def test_timeout_bounds_follow_the_configured_minimum_and_maximum() -> None:
    server = Server(min_session_timeout_ms=1000, max_session_timeout_ms=5000)
    assert body(server.connect_outcome(10), ConnectResponse).timeout_ms == 1000
    assert body(server.connect_outcome(99_999), ConnectResponse).timeout_ms == 5000


def test_session_ids_start_from_server_id_and_start_time_then_go_up_by_one() -> None:
    server = Server()
    first = server.connect()
    second = server.connect()
    assert (first, second) == (FIRST_SESSION_ID, FIRST_SESSION_ID + 1)
    # Values checked with Java 17: (t << 24) >>> 8 | (id << 56).
    assert initial_session_id(1, START_MS) == 0x18BCFE568000000
    assert initial_session_id(255, START_MS) == 0xFF8BCFE568000000
    assert signed64(0xFF8BCFE568000000) == -32703988075855872
    server = Server(server_id=1)
    assert server.connect() == 0x18BCFE568000000


def test_session_password_is_java_random_of_id_xor_secret() -> None:
    # Reference values from java.util.Random (Java 17).
    assert JavaRandom(0).next_int() == -1155484576
    assert JavaRandom(42).next_int() == -1170105035
    assert list(JavaRandom(0).next_bytes(6)) == [96, 180, 32, 187, 56, 81]
    assert password_for(FIRST_SESSION_ID).hex() == "f2e26f4f973e3638201c89f83802c844"
    assert password_for(0xFF8BCFE568000001).hex() == "05046a4f378a157d155ff0230c8bdc11"


def test_client_ahead_of_the_server_is_refused_without_an_answer() -> None:
    server = Server()
    sid = server.connect()
    state_before = server.state
    outcome = server.step(Connect(30_000, last_zxid_seen=server.last_zxid + 1))
    assert outcome.reply is None and outcome.close and outcome.zxids == ()
    assert server.state == state_before
    # A re-attach from the future is refused the same way, and leaves the live connection.
    password = server.state.sessions[sid].password
    outcome = server.step(Connect(30_000, sid, password, last_zxid_seen=server.last_zxid + 5))
    assert outcome.reply is None and outcome.close
    assert server.state.sessions[sid].connected


def test_client_at_the_servers_zxid_is_accepted() -> None:
    server = Server()
    server.connect()
    server.connect_outcome(last_zxid_seen=server.last_zxid)
    assert len(server.state.sessions) == 2


# --- re-attach ----------------------------------------------------------------------------


def test_valid_reattach_takes_the_new_timeout_and_no_zxid() -> None:
    server = Server()
    sid = server.connect(10_000)
    server.disconnect(sid)
    before = server.last_zxid
    outcome = server.reattach(sid, timeout_ms=20_000)
    reply = reply_of(outcome)
    assert (reply.zxid, reply.err) == (before, Code.OK)
    assert reply.body == ConnectResponse(20_000, sid, password_for(sid))
    assert outcome.zxids == () and not outcome.close
    assert server.state.sessions[sid].timeout_ms == 20_000
    assert server.state.sessions[sid].connected


def test_reattach_closes_the_previous_connection_with_its_watches_and_auth() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"user:pass"))
    server.ok(sid, GetData("/", watch=True))
    server.reattach(sid, client_address="10.1.1.1")
    session = server.state.sessions[sid]
    assert session.auth_ids == (Id("ip", "10.1.1.1"),)
    assert server.watches(sid, "/") == (frozenset(), frozenset())
    who = body(server.call(sid, WhoAmI()), WhoAmIResponse)
    assert who.client_info == (("ip", "10.1.1.1"),)


def test_reattach_with_wrong_password_kills_live_connection() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    server.ok(sid, GetData("/e", watch=True))
    before = server.last_zxid
    outcome = server.reattach(sid, password=bytes(16))
    assert reply_of(outcome).body == ConnectResponse(0, 0, bytes(16))
    assert reply_of(outcome).err == Code.OK
    assert outcome.close and outcome.zxids == ()
    assert server.last_zxid == before
    # The live connection is gone, with its watches; the session and its ephemerals stay.
    assert not server.state.sessions[sid].connected
    assert server.watches(sid, "/e") == (frozenset(), frozenset())
    assert server.exists("/e")
    with pytest.raises(InputError):
        server.call(sid, Ping())
    body(server.reattach(sid), ConnectResponse)
    server.ok(sid, Ping())


def test_reattach_of_an_unknown_session_is_answered_as_expired() -> None:
    server = Server()
    outcome = server.step(Connect(30_000, session_id=12345, password=bytes(16)))
    assert reply_of(outcome).body == ConnectResponse(0, 0, bytes(16))
    assert outcome.close


def test_closed_session_cannot_be_reattached() -> None:
    server = Server()
    sid = server.connect()
    password = server.state.sessions[sid].password
    server.ok(sid, CloseSession())
    outcome = server.step(Connect(30_000, session_id=sid, password=password))
    assert reply_of(outcome).body == ConnectResponse(0, 0, bytes(16))
    assert outcome.close


def test_expired_session_cannot_be_reattached() -> None:
    server = Server()
    sid = server.connect(4000)
    password = server.state.sessions[sid].password
    server.tick(10_000)
    assert sid not in server.state.sessions
    outcome = server.step(Connect(30_000, session_id=sid, password=password))
    assert reply_of(outcome).body == ConnectResponse(0, 0, bytes(16))


# --- liveness and expiry ------------------------------------------------------------------


def test_session_expires_between_timeout_and_timeout_plus_tick() -> None:
    # Deadline = now + timeout rounded up to the next multiple of tickTime.
    server = Server()
    assert START_MS % TICK_MS == 0
    sid = server.connect(4000)
    assert server.state.sessions[sid].expires_at == START_MS + 6000
    server.tick_to(START_MS + 5999)
    assert sid in server.state.sessions
    outcome = server.tick_to(START_MS + 6000)
    assert sid not in server.state.sessions
    assert len(outcome.zxids) == 1


def test_expiry_deadline_rounds_up_from_the_last_packet() -> None:
    server = Server()
    sid = server.connect(4000)
    server.tick_to(START_MS + 3500)
    server.ok(sid, Ping())  # deadline: 3500 + 4000 = 7500, rounded up to 8000
    assert server.state.sessions[sid].expires_at == START_MS + 8000
    server.tick_to(START_MS + 7999)
    assert sid in server.state.sessions
    server.tick_to(START_MS + 8000)
    assert sid not in server.state.sessions


def test_every_packet_touches_the_session() -> None:
    server = Server()
    sid = server.connect(4000)
    for op in (Ping(), GetData("/"), create("/a"), GetData("/nope")):
        server.tick(3000)
        server.call(sid, op)
        assert server.state.sessions[sid].expires_at > server.now + 4000 - 1
    assert sid in server.state.sessions


def test_being_connected_does_not_keep_a_session_alive() -> None:
    server = Server()
    sid = server.connect(4000)
    assert server.state.sessions[sid].connected
    server.tick(6000)
    assert sid not in server.state.sessions


def test_disconnected_session_lives_until_it_expires() -> None:
    server = Server()
    sid = server.connect(4000)
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    server.disconnect(sid)
    server.tick(5000)
    assert server.exists("/e")
    body(server.reattach(sid, timeout_ms=4000), ConnectResponse)
    assert server.exists("/e")


def test_expiry_is_one_close_transaction_that_deletes_every_ephemeral() -> None:
    server = Server()
    owner = server.connect(4000)
    watcher = server.connect(40_000)
    server.mkdirs(watcher, "/p")
    server.ok(owner, create("/p/e1", mode=CreateMode.EPHEMERAL))
    server.ok(owner, create("/p/e2", mode=CreateMode.EPHEMERAL))
    server.ok(watcher, GetChildren("/p", watch=True))
    server.ok(watcher, Exists("/p/e2", watch=True))
    before = server.last_zxid
    outcome = server.tick(8000)
    zxid = before + 1
    assert outcome.zxids == (zxid,)
    assert outcome.reply is None
    assert outcome.events == (
        WatchEvent(watcher, EventType.NodeChildrenChanged, "/p", zxid),
        WatchEvent(watcher, EventType.NodeDeleted, "/p/e2", zxid),
    )
    assert server.children("/p") == set()
    assert server.stat("/p").pzxid == zxid
    assert server.stat("/p").cversion == 4


def test_several_sessions_due_together_expire_in_session_id_order() -> None:
    server = Server()
    first = server.connect(4000)
    second = server.connect(4000)
    server.ok(second, create("/b", mode=CreateMode.EPHEMERAL))
    server.ok(first, create("/a", mode=CreateMode.EPHEMERAL))
    before = server.last_zxid
    outcome = server.tick(6000)
    assert outcome.zxids == (before + 1, before + 2)
    assert server.state.sessions == {}
    assert not server.exists("/a") and not server.exists("/b")
    # The first session's ephemeral went with the first zxid.
    assert server.stat("/").pzxid == before + 2


def test_expiries_are_applied_at_their_deadlines_in_time_order() -> None:
    server = Server()
    late = server.connect(10_000)
    early = server.connect(4000)
    server.ok(late, create("/late", mode=CreateMode.EPHEMERAL))
    server.ok(early, create("/early", mode=CreateMode.EPHEMERAL))
    before = server.last_zxid
    server.tick(60_000)
    assert server.state.sessions == {}
    assert server.stat("/").pzxid == before + 2  # "/late" was deleted last


# --- closeSession -------------------------------------------------------------------------


def test_close_session_answers_ok_after_its_ephemerals_are_gone_then_closes() -> None:
    server = Server()
    sid = server.connect()
    watcher = server.connect()
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    server.ok(watcher, Exists("/e", watch=True))
    before = server.last_zxid
    outcome = server.call(sid, CloseSession())
    reply = reply_of(outcome)
    assert (reply.zxid, reply.err, reply.body) == (before + 1, Code.OK, Empty())
    assert outcome.close
    assert outcome.zxids == (before + 1,)
    assert events_of(outcome) == [(watcher, EventType.NodeDeleted, "/e")]
    assert sid not in server.state.sessions
    assert not server.exists("/e")
    with pytest.raises(InputError):
        server.call(sid, Ping())


def test_close_session_without_ephemerals_still_takes_a_zxid() -> None:
    server = Server()
    sid = server.connect()
    before = server.last_zxid
    assert reply_of(server.call(sid, CloseSession())).zxid == before + 1


# --- inputs no server could receive -------------------------------------------------------


def test_a_call_on_a_disconnected_session_raises_input_error() -> None:
    server = Server()
    sid = server.connect()
    server.disconnect(sid)
    with pytest.raises(InputError):
        server.step(Call(sid, Ping()))


def test_a_call_on_an_unknown_session_raises_input_error() -> None:
    server = Server()
    with pytest.raises(InputError):
        server.step(Call(42, Ping()))


def test_disconnect_of_an_unknown_session_raises_input_error() -> None:
    server = Server()
    with pytest.raises(InputError):
        server.step(Disconnect(42))


def test_disconnecting_twice_is_harmless() -> None:
    server = Server()
    sid = server.connect()
    server.disconnect(sid)
    assert server.disconnect(sid).reply is None
    assert not server.state.sessions[sid].connected


# --- auth ids belong to the connection ----------------------------------------------------


def test_auth_ids_belong_to_the_connection() -> None:
    server = Server()
    sid = server.connect(client_address="10.0.0.1")
    server.ok(sid, AddAuth("digest", b"user:pass"))
    assert len(server.state.sessions[sid].auth_ids) == 2
    server.disconnect(sid)
    assert server.state.sessions[sid].auth_ids == ()
    server.reattach(sid, client_address="10.0.0.2")
    assert server.state.sessions[sid].auth_ids == (Id("ip", "10.0.0.2"),)
