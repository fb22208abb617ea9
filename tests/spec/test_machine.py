"""Tests of ``spec.machine`` and ``spec.requests``: one input in, one outcome out."""

from __future__ import annotations

import copy
import typing

import pytest

from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.events import AddWatchMode, WatcherType
from spec.machine import HANDLERS, InputError, run, step
from spec.modes import CreateMode
from spec.opcodes import OpCode
from spec.requests import (
    AddAuth,
    AddWatch,
    Call,
    Check,
    CheckWatches,
    CloseSession,
    Connect,
    ConnectResponse,
    Create,
    Delete,
    Disconnect,
    Empty,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetChildrenResponse,
    GetData,
    GetEphemerals,
    Input,
    Multi,
    MultiRead,
    Operation,
    Outcome,
    Ping,
    Reconfig,
    RemoveWatches,
    SetACL,
    SetData,
    SetWatches,
    Sync,
    Tick,
    Unknown,
    WhoAmI,
)
from spec.state import initial_state
from tests.spec.helpers import (
    START_MS,
    Server,
    body,
    create,
    create2,
    create_container,
    create_ttl,
    reply_of,
)


def fresh(**config: bool) -> tuple[Server, int]:
    server = Server(**config)  # type: ignore[arg-type]
    sid = server.connect()
    server.mkdirs(sid, "/a", "/a/b")
    server.ok(sid, GetData("/a", watch=True))
    return server, sid


def test_every_operation_has_a_handler() -> None:
    assert set(HANDLERS) == set(typing.get_args(Operation))


# --- zxids --------------------------------------------------------------------------------

WRITES: list[Operation] = [
    create("/new"),
    create("/a"),  # fails: NODEEXISTS
    create2("/new"),
    create_container("/new"),
    create_ttl("/new", 100),
    create("/new", mode=CreateMode.EPHEMERAL_SEQUENTIAL),
    create("/new", mode=77),
    Delete("/a/b"),
    Delete("/nope"),
    SetData("/a", b"x"),
    SetData("/a", b"x", version=8),
    SetACL("/a", OPEN_ACL_UNSAFE),
    SetACL("/a", ()),
    Multi((create("/new"),)),
    Multi((create("/a"),)),
    Multi(()),
    Multi((GetData("/a"),)),
    Reconfig(None, None, "server.1=x:1:2", -1),
    CloseSession(),
]


@pytest.mark.parametrize("op", WRITES, ids=lambda op: repr(op)[:40])
def test_writes_take_the_next_zxid_before_they_are_checked(op: Operation) -> None:
    server, sid = fresh()
    before = server.last_zxid
    outcome = server.call(sid, op)
    assert reply_of(outcome).zxid == before + 1 == server.last_zxid
    assert outcome.zxids == (before + 1,)


READS: list[Operation] = [
    Exists("/a"),
    Exists("/nope", watch=True),
    GetData("/a", watch=True),
    GetData("/nope"),
    GetChildren("/a"),
    GetChildren("/a", with_stat=True),
    GetACL("/a"),
    GetAllChildrenNumber("/"),
    GetEphemerals(""),
    Sync("/a"),
    Ping(),
    SetWatches(0, data=("/a",)),
    AddWatch("/a", AddWatchMode.PERSISTENT),
    AddWatch("/a", 9),
    RemoveWatches("/a", WatcherType.Data),
    RemoveWatches("/a", WatcherType.Children),
    CheckWatches("/a", WatcherType.Any),
    WhoAmI(),
    MultiRead((GetData("/a"), GetChildren("/nope"))),
    MultiRead((create("/x"),)),
]


@pytest.mark.parametrize("op", READS, ids=lambda op: repr(op)[:40])
def test_reads_and_watch_management_take_no_zxid_and_answer_the_last_one(op: Operation) -> None:
    server, sid = fresh()
    before = server.last_zxid
    nodes = dict(server.state.nodes)
    outcome = server.call(sid, op)
    assert reply_of(outcome).zxid == before == server.last_zxid
    assert outcome.zxids == ()
    assert not outcome.close
    assert server.state.nodes == nodes


def test_add_auth_answers_with_zxid_zero() -> None:
    server, sid = fresh()
    before = server.last_zxid
    outcome = server.ok(sid, AddAuth("digest", b"u:p"))
    assert reply_of(outcome) == reply_of(outcome).__class__(0, Code.OK, Empty())
    assert server.last_zxid == before
    failed = server.call(sid, AddAuth("bogus", b""))
    assert reply_of(failed).zxid == 0 and failed.close


def test_a_successful_write_reply_carries_its_own_zxid_and_later_reads_see_it() -> None:
    server, sid = fresh()
    write = server.ok(sid, SetData("/a", b"x"))
    read = server.ok(sid, GetData("/a"))
    assert reply_of(read).zxid == reply_of(write).zxid


# --- explicit errors ----------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [10, 55, -10, 0, -1, 1000])
def test_unknown_opcode_is_unimplemented_with_zxid_minus_one_and_closes(opcode: int) -> None:
    server, sid = fresh()
    before = server.last_zxid
    outcome = server.call(sid, Unknown(opcode))
    reply = reply_of(outcome)
    assert (reply.zxid, reply.err, reply.body) == (-1, Code.UNIMPLEMENTED, None)
    assert outcome.close and outcome.zxids == ()
    assert server.last_zxid == before
    # The connection is closed, the session is not.
    assert sid in server.state.sessions
    assert not server.state.sessions[sid].connected
    with pytest.raises(InputError):
        server.call(sid, Ping())


def test_standalone_check_is_unimplemented_and_closes() -> None:
    server, sid = fresh()
    outcome = server.call(sid, Check("/a", 0))
    assert (reply_of(outcome).zxid, reply_of(outcome).err) == (-1, Code.UNIMPLEMENTED)
    assert outcome.close


def test_unimplemented_request_still_touches_the_session() -> None:
    server, sid = fresh()
    server.tick(1000)
    server.call(sid, Unknown(10))
    assert server.state.sessions[sid].expires_at > server.now + 29_000


def test_reconfig_is_disabled_by_default_and_takes_a_zxid() -> None:
    server, sid = fresh()
    outcome = server.call(sid, Reconfig("server.2=h:1:2", None, None, -1))
    assert reply_of(outcome).err == Code.RECONFIGDISABLED
    assert not outcome.close


def test_reconfig_enabled_on_a_standalone_server_is_unimplemented() -> None:
    server, sid = fresh(reconfig_enabled=True)
    before = server.last_zxid
    outcome = server.call(sid, Reconfig("server.2=h:1:2", None, None, -1))
    assert reply_of(outcome).err == Code.UNIMPLEMENTED
    assert reply_of(outcome).zxid == before + 1
    assert not outcome.close


def test_add_auth_with_an_unknown_scheme_is_authfailed_and_closes() -> None:
    server, sid = fresh()
    outcome = server.call(sid, AddAuth("kerberos", b"x"))
    assert reply_of(outcome).err == Code.AUTHFAILED
    assert outcome.close


def test_close_session_answers_ok_and_closes() -> None:
    server, sid = fresh()
    outcome = server.call(sid, CloseSession())
    assert body(outcome, Empty) == Empty()
    assert outcome.close


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (AddWatch("/a", 2), Code.MARSHALLINGERROR),
        (RemoveWatches("/a", 0), Code.MARSHALLINGERROR),
        (CheckWatches("/a", 7), Code.MARSHALLINGERROR),
    ],
)
def test_malformed_watch_modes_and_types_are_marshallingerror(op: Operation, code: Code) -> None:
    server, sid = fresh()
    outcome = server.call(sid, op)
    assert reply_of(outcome).err == code
    assert not outcome.close


# --- inputs no real server could receive --------------------------------------------------


def test_a_call_on_a_disconnected_session_raises_input_error() -> None:
    server, sid = fresh()
    server.disconnect(sid)
    with pytest.raises(InputError):
        step(server.state, Call(sid, GetData("/a")))


def test_a_create_with_a_non_create_opcode_raises_input_error() -> None:
    server, sid = fresh()
    with pytest.raises(InputError):
        server.call(sid, Create("/x", b"", OPEN_ACL_UNSAFE, 0, OpCode.delete))


def test_a_call_with_something_that_is_not_an_operation_raises_input_error() -> None:
    server, sid = fresh()
    with pytest.raises(InputError):
        server.step(Call(sid, "getData /a"))  # type: ignore[arg-type]


def test_something_that_is_not_an_input_raises_input_error() -> None:
    with pytest.raises(InputError):
        step(initial_state(), "tick")  # type: ignore[arg-type]


def test_input_error_is_a_value_error() -> None:
    assert issubclass(InputError, ValueError)


# --- the transition function itself -------------------------------------------------------


def test_step_never_changes_the_state_it_is_given() -> None:
    state = initial_state()
    inputs: list[Input] = [Connect(4000)]
    state, _ = run(state, inputs)
    sid = next(iter(state.sessions))
    requests: list[Input] = [
        Call(sid, create("/e", mode=CreateMode.EPHEMERAL)),
        Call(sid, GetData("/e", watch=True)),
        Call(sid, AddWatch("/", AddWatchMode.PERSISTENT_RECURSIVE)),
        Call(sid, Multi((create("/m"), SetData("/e", b"x")))),
        Call(sid, AddAuth("digest", b"u:p")),
        Disconnect(sid),
        Tick(state.now + 100_000),
    ]
    for request in requests:
        snapshot = copy.deepcopy(state)
        new_state, _ = step(state, request)
        assert state == snapshot
        assert new_state is not state
        state = new_state
    assert state.sessions == {}


def test_run_applies_inputs_in_order_and_returns_every_outcome() -> None:
    state, outcomes = run(initial_state(), [Connect(4000), Connect(4000), Tick(START_MS + 100_000)])
    assert len(outcomes) == 3
    first, second, tick = outcomes
    assert isinstance(first, Outcome) and isinstance(tick, Outcome)
    r1, r2 = reply_of(first).body, reply_of(second).body
    assert isinstance(r1, ConnectResponse) and isinstance(r2, ConnectResponse)
    assert r2.session_id == r1.session_id + 1
    assert tick.zxids == (3, 4)
    assert state.sessions == {}


def test_children_come_back_sorted() -> None:
    server, sid = fresh()
    for name in ("zz", "c", "m", "a1"):
        server.ok(sid, create("/a/" + name))
    children = body(server.call(sid, GetChildren("/a")), GetChildrenResponse).children
    assert list(children) == sorted(children)
