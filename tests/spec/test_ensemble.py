"""Tests of ``spec.ensemble``: what clients see of several servers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.ensemble import (
    Guarantee,
    MovedAnswer,
    connect_refused,
    guarantee_of,
    moved_session_request,
    read_floor,
    reply_allowed,
)
from spec.machine import step
from spec.opcodes import OpCode
from spec.requests import Call, Connect, ConnectResponse, Exists, Sync, SyncResponse
from spec.state import Config, State
from tests.spec.helpers import Server, body, create, reply_of

# --- a client ahead of a server is refused -----------------------------------------------------


def test_a_client_that_has_seen_a_newer_zxid_than_the_server_is_refused_without_an_answer() -> None:
    server = Server()
    writer = server.connect()
    server.ok(writer, create("/a"))
    for session_id, password in ((0, bytes(16)), (writer, server.state.sessions[writer].password)):
        last = server.last_zxid  # a new session takes a zxid: read it each time
        refused = server.step(Connect(30_000, session_id, password, last_zxid_seen=last + 1))
        assert refused.reply is None and refused.close
        accepted = server.step(Connect(30_000, session_id, password, last_zxid_seen=last))
        assert isinstance(reply_of(accepted).body, ConnectResponse) and not accepted.close
    assert connect_refused(2, 1) and not connect_refused(1, 1)


def test_a_read_may_show_what_its_session_saw_a_write_must_come_after_it() -> None:
    assert reply_allowed(is_write=False, reply_zxid=7, seen=7)
    assert not reply_allowed(is_write=False, reply_zxid=6, seen=7)
    assert not reply_allowed(is_write=True, reply_zxid=7, seen=7)
    assert reply_allowed(is_write=True, reply_zxid=8, seen=7)


def _prefixes(writes: int) -> tuple[list[State], int, bytes]:
    """The states of one server after each of ``writes`` creates (prefixes of one history),
    and a reader session that exists in all of them."""
    server = Server()
    writer = server.connect()
    reader = server.connect()
    password = server.state.sessions[reader].password
    server.disconnect(reader)
    states = [server.state]
    for number in range(writes):
        server.ok(writer, create(f"/n{number}"))
        states.append(server.state)
    return states, reader, password


@settings(max_examples=60)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["advance", "move"]), st.integers(0, 2), st.integers(1, 3)),
        max_size=30,
    )
)
def test_a_session_moving_between_lagging_servers_never_reads_an_older_state(
    steps: list[tuple[str, int, int]],
) -> None:
    """Three servers, each at its own prefix of one history (only ever growing); a session
    re-attaches at any of them with its lastZxidSeen and reads. The refusal of a client
    ahead of the server is all it takes for its reads never to go back."""
    states, reader, password = _prefixes(8)
    at = [0, 0, 0]  # the prefix each server has applied
    seen = 0
    for action, server, amount in steps:
        if action == "advance":
            at[server] = min(at[server] + amount, len(states) - 1)
            continue
        state = states[at[server]]
        state, outcome = step(state, Connect(30_000, reader, password, last_zxid_seen=seen))
        if outcome.close:
            assert outcome.reply is None and connect_refused(seen, state.last_zxid)
            continue
        state, read = step(state, Call(reader, Exists("/")))
        zxid = reply_of(read).zxid
        assert reply_allowed(False, zxid, seen), f"read at {zxid:#x} after seeing {seen:#x}"
        seen = zxid


# --- sync and the guarantees -------------------------------------------------------------------


def test_one_server_answers_a_sync_with_every_write_it_has_acknowledged() -> None:
    server = Server()
    a, b = server.connect(), server.connect()
    server.ok(a, create("/x"))
    synced = server.ok(b, Sync("/x"))
    assert body(synced, SyncResponse) == SyncResponse("/x")
    assert reply_of(synced).zxid == server.last_zxid
    assert guarantee_of(servers=1, quorum_sync=False) is Guarantee.LINEARIZABLE


def test_an_ensemble_promises_sync_then_read_only_with_quorum_sync() -> None:
    assert guarantee_of(servers=3, quorum_sync=False) is Guarantee.ZOOKEEPER
    assert guarantee_of(servers=3, quorum_sync=True) is Guarantee.SYNC_LINEARIZABLE
    assert Config().quorum_sync is False  # Apache ZooKeeper has no such setting


@pytest.mark.parametrize(
    ("guarantee", "floor"),
    [
        (Guarantee.ZOOKEEPER, 3),  # only what the session had seen
        (Guarantee.SYNC_LINEARIZABLE, 5),  # ... and what completed before its sync
        (Guarantee.LINEARIZABLE, 9),  # ... and what completed before the read itself
    ],
)
def test_the_oldest_state_a_read_may_come_from_grows_with_the_guarantee(
    guarantee: Guarantee, floor: int
) -> None:
    assert read_floor(guarantee, seen=3, before_sync=5, before_read=9) == floor


def test_the_guarantees_are_the_checker_modes_strongest_last() -> None:
    assert [g.value for g in Guarantee] == ["zookeeper", "sync-linearizable", "linearizable"]
    assert [g.syncs_are_linearizable for g in Guarantee] == [False, True, True]
    assert [g.reads_are_linearizable for g in Guarantee] == [False, False, True]


# --- SESSIONMOVED ------------------------------------------------------------------------------


def test_a_write_on_the_old_connection_of_a_moved_session_takes_a_zxid_and_gets_no_reply() -> None:
    for at_leader in (True, False):
        for opcode in (OpCode.create, OpCode.setData, OpCode.multi, OpCode.delete):
            assert moved_session_request(opcode, at_leader) == MovedAnswer(
                answered=False, takes_zxid=True, connection_closed=True
            )


def test_reads_on_the_old_connection_are_answered_at_a_follower_and_closed_at_the_leader() -> None:
    for opcode in (OpCode.getData, OpCode.exists, OpCode.ping, OpCode.setWatches, OpCode.sync):
        assert moved_session_request(opcode, at_leader=False).answered
        leader = moved_session_request(opcode, at_leader=True)
        assert not leader.answered and leader.connection_closed and not leader.takes_zxid


def test_close_session_on_the_old_connection_is_never_checked_and_ends_the_session() -> None:
    for at_leader in (True, False):
        answer = moved_session_request(OpCode.closeSession, at_leader)
        assert answer.answered and answer.session_closed and answer.takes_zxid


def test_the_moved_session_table_refuses_requests_no_established_session_sends() -> None:
    with pytest.raises(ValueError, match="createSession"):
        moved_session_request(OpCode.createSession, at_leader=False)
