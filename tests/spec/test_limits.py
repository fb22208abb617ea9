"""Tests of ``spec.limits``: how big a request may be."""

from __future__ import annotations

import pytest

from spec.acl import ACL, OPEN_ACL_UNSAFE, Id
from spec.errors import Code
from spec.limits import MULTI_HEADER_BYTES, REQUEST_HEADER_BYTES, body_length, frame_length
from spec.opcodes import OpCode
from spec.requests import (
    AddAuth,
    AddWatch,
    Check,
    CheckWatches,
    CloseSession,
    Delete,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    GetEphemerals,
    Multi,
    MultiRead,
    Operation,
    Ping,
    Reconfig,
    RemoveWatches,
    SetACL,
    SetData,
    SetWatches,
    Sync,
    Unknown,
    WhoAmI,
)
from spec.state import Config
from tests.spec.helpers import Server, create, reply_of

MAX = Config().jute_max_buffer


def test_default_jute_max_buffer_is_0xfffff() -> None:
    assert MAX == 0xFFFFF == 1_048_575


def test_largest_set_data_on_big_is_1048551_bytes() -> None:
    # Probed on 3.8.0: setData("/big") with 1,048,551 bytes works, one more closes the
    # connection. Frame: 8 header + (4 + 4 path) + (4 + data) + 4 version = 24 + data.
    # (The chapter's docstring says "maxbuffer - 24 - len(path)", which would be 1,048,547:
    # the 24 there already counts the 4 bytes of "/big"; the fixed overhead is 20.)
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/big"))
    data = bytes(MAX - 20 - len("/big"))
    assert len(data) == 1_048_551
    assert frame_length(SetData("/big", data)) == MAX
    server.ok(sid, SetData("/big", data))
    assert server.node("/big").data == data


def test_a_frame_over_jute_max_buffer_closes_the_connection_without_a_reply() -> None:
    server = Server()
    sid = server.connect()
    watcher = server.connect()
    server.ok(sid, create("/big"))
    server.ok(sid, create("/e", mode=1))
    server.ok(watcher, GetData("/big", watch=True))
    nodes = dict(server.state.nodes)
    before = server.last_zxid
    outcome = server.call(sid, SetData("/big", bytes(1_048_552)))
    assert outcome.reply is None and outcome.close
    assert outcome.zxids == () and outcome.events == ()
    assert server.last_zxid == before
    assert server.state.nodes == nodes
    # The session lives on without its connection.
    assert sid in server.state.sessions
    assert not server.state.sessions[sid].connected


def test_the_limit_is_checked_before_the_request_is_looked_at() -> None:
    server = Server()
    sid = server.connect()
    huge = "/" + "x" * MAX
    for op in (GetData(huge), Delete(huge), Exists(huge), Multi((Check(huge, 1),))):
        server.reattach(sid)
        outcome = server.call(sid, op)
        assert outcome.reply is None and outcome.close


def test_a_request_over_the_limit_does_not_touch_the_session() -> None:
    server = Server()
    sid = server.connect(4000)
    deadline = server.state.sessions[sid].expires_at
    server.tick(3000)
    server.call(sid, GetData("/" + "x" * MAX))
    assert server.state.sessions[sid].expires_at == deadline
    server.tick_to(deadline)
    assert sid not in server.state.sessions


def test_the_limit_follows_the_configured_jute_max_buffer() -> None:
    server = Server(jute_max_buffer=100)
    sid = server.connect()
    server.ok(sid, create("/a"))
    fits = bytes(100 - 20 - len("/a"))
    server.ok(sid, SetData("/a", fits))
    outcome = server.call(sid, SetData("/a", fits + b"!"))
    assert outcome.reply is None and outcome.close


def test_a_frame_exactly_at_the_limit_is_served() -> None:
    server = Server(jute_max_buffer=64)
    sid = server.connect()
    path = "/" + "p" * (64 - REQUEST_HEADER_BYTES - 4 - 1 - 1)
    assert frame_length(GetData(path)) == 64
    assert reply_of(server.call(sid, GetData(path))).err == Code.NONODE


A = (ACL(31, Id("world", "anyone")),)  # 4 + (4 + 5) + (4 + 6) = 23 bytes on the wire


@pytest.mark.parametrize(
    ("op", "length"),
    [
        (create("/a", b"xyz", acl=A), (4 + 2) + (4 + 3) + (4 + 23) + 4),
        (create("/a", None, acl=A), (4 + 2) + 4 + (4 + 23) + 4),
        (create("/a", b"", acl=A, opcode=OpCode.createTTL, ttl=5), 6 + 4 + 27 + 4 + 8),
        (Delete("/ab"), 4 + 3 + 4),
        (Check("/ab", 1), 4 + 3 + 4),
        (Exists("/ab"), 4 + 3 + 1),
        (GetData("/ab", watch=True), 4 + 3 + 1),
        (GetChildren("/ab", with_stat=True), 4 + 3 + 1),
        (SetData("/ab", b"12345"), 4 + 3 + 4 + 5 + 4),
        (GetACL("/ab"), 4 + 3),
        (Sync("/ab"), 4 + 3),
        (GetAllChildrenNumber("/ab"), 4 + 3),
        (SetACL("/ab", A), 4 + 3 + 4 + 23 + 4),
        (GetEphemerals("/p"), 4 + 2),
        (AddWatch("/ab", 0), 4 + 3 + 4),
        (RemoveWatches("/ab", 1), 4 + 3 + 4),
        (CheckWatches("/ab", 1), 4 + 3 + 4),
        (AddAuth("digest", b"u:p"), 4 + (4 + 6) + (4 + 3)),
        (SetWatches(7, data=("/a",), exist=(), child=("/bc",)), 8 + (4 + 6) + 4 + (4 + 7)),
        (SetWatches(7, persistent=("/a",)), 8 + 4 + 4 + 4 + (4 + 6) + 4),
        (Reconfig(None, "1", "", 9), 4 + 5 + 4 + 8),
        (Ping(), 0),
        (CloseSession(), 0),
        (WhoAmI(), 0),
        (Unknown(55), 0),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, int) else str(x),
)
def test_body_length_follows_the_jute_records(op: Operation, length: int) -> None:
    assert body_length(op) == length
    assert frame_length(op) == REQUEST_HEADER_BYTES + length


def test_multi_frame_adds_a_nine_byte_header_per_sub_op_and_a_terminator() -> None:
    ops: tuple[Operation, ...] = (Delete("/a"), SetData("/a", b"x"), create("/b"))
    expected = sum(MULTI_HEADER_BYTES + body_length(o) for o in ops) + MULTI_HEADER_BYTES
    assert MULTI_HEADER_BYTES == 9
    assert body_length(Multi(ops)) == expected
    assert body_length(Multi(())) == 9
    assert body_length(MultiRead((GetData("/a"),))) == 9 + (4 + 2 + 1) + 9


def test_paths_count_in_utf8_bytes() -> None:
    assert body_length(GetACL("/\u00e9")) == 4 + 3
    assert body_length(GetACL("/\u20ac")) == 4 + 4
    assert body_length(create("/a", acl=OPEN_ACL_UNSAFE)) == body_length(create("/a", acl=A))
