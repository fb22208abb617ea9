"""Tests of ``spec.modes``: persistent, ephemeral, sequential, container and TTL znodes."""

from __future__ import annotations

import pytest

from spec.errors import Code
from spec.modes import (
    CREATE_OPCODES,
    TTL_MAX_MS,
    CreateMode,
    NodeKind,
    multi_create_opcode,
    node_kind_for,
    sequence_suffix,
    ttl_is_valid,
)
from spec.opcodes import OpCode
from spec.requests import (
    CloseSession,
    Create2Response,
    CreateResponse,
    CreateResult,
    Delete,
    GetChildren,
    GetChildrenResponse,
    Multi,
    MultiResponse,
    SetData,
)
from tests.spec.helpers import (
    Server,
    body,
    create,
    create2,
    create_container,
    create_ttl,
)

# --- flags --------------------------------------------------------------------------------


def test_flags_name_the_seven_create_modes() -> None:
    assert [(m.name, m.value) for m in CreateMode] == [
        ("PERSISTENT", 0),
        ("EPHEMERAL", 1),
        ("PERSISTENT_SEQUENTIAL", 2),
        ("EPHEMERAL_SEQUENTIAL", 3),
        ("CONTAINER", 4),
        ("PERSISTENT_WITH_TTL", 5),
        ("PERSISTENT_SEQUENTIAL_WITH_TTL", 6),
    ]


def test_mode_properties() -> None:
    ephemeral = {m for m in CreateMode if m.is_ephemeral}
    sequential = {m for m in CreateMode if m.is_sequential}
    container = {m for m in CreateMode if m.is_container}
    ttl = {m for m in CreateMode if m.is_ttl}
    assert ephemeral == {CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL}
    assert sequential == {
        CreateMode.PERSISTENT_SEQUENTIAL,
        CreateMode.EPHEMERAL_SEQUENTIAL,
        CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
    }
    assert container == {CreateMode.CONTAINER}
    assert ttl == {CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL}


@pytest.mark.parametrize("flags", [7, -1, 8, 100, 2**31 - 1])
def test_flags_that_are_not_a_create_mode_are_badarguments(flags: int) -> None:
    server = Server()
    sid = server.connect()
    assert server.err(sid, create("/a", mode=flags)) == Code.BADARGUMENTS
    assert not server.exists("/a")


def test_bad_flags_are_checked_before_anything_else() -> None:
    # Missing parent, invalid path, empty ACL, TTL disabled: flags still win.
    server = Server(extended_types_enabled=False)
    sid = server.connect()
    assert server.err(sid, create("/nope/a/", mode=7, acl=())) == Code.BADARGUMENTS
    assert server.err(sid, create("nope", mode=9, opcode=OpCode.createTTL, ttl=0)) == (
        Code.BADARGUMENTS
    )


# --- which kind of node each opcode makes -------------------------------------------------


def test_node_kind_comes_from_the_opcode_and_the_flags() -> None:
    for mode in CreateMode:
        assert node_kind_for(OpCode.createContainer, mode) is NodeKind.CONTAINER
        assert node_kind_for(OpCode.createTTL, mode) is NodeKind.TTL
        for opcode in (OpCode.create, OpCode.create2):
            expected = NodeKind.EPHEMERAL if mode.is_ephemeral else NodeKind.PERSISTENT
            assert node_kind_for(opcode, mode) is expected
    assert {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
    } == CREATE_OPCODES


def test_multi_derives_the_create_opcode_from_the_flags() -> None:
    assert multi_create_opcode(CreateMode.CONTAINER) == OpCode.createContainer
    assert multi_create_opcode(CreateMode.PERSISTENT_WITH_TTL) == OpCode.createTTL
    assert multi_create_opcode(CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL) == OpCode.createTTL
    for mode in (
        CreateMode.PERSISTENT,
        CreateMode.EPHEMERAL,
        CreateMode.PERSISTENT_SEQUENTIAL,
        CreateMode.EPHEMERAL_SEQUENTIAL,
    ):
        assert multi_create_opcode(mode) == OpCode.create


def test_create_persistent_answers_the_path_only() -> None:
    server = Server()
    sid = server.connect()
    response = body(server.call(sid, create("/a", b"x")), CreateResponse)
    assert response == CreateResponse("/a")
    assert server.node("/a").kind is NodeKind.PERSISTENT
    assert server.stat("/a").ephemeralOwner == 0


def test_create2_answers_the_path_and_the_stat() -> None:
    server = Server()
    sid = server.connect()
    response = body(server.call(sid, create2("/a", b"xy")), Create2Response)
    assert response == Create2Response("/a", server.stat("/a"))
    assert response.stat.dataLength == 2


def test_create_ephemeral_belongs_to_the_creating_session() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create2("/e", mode=CreateMode.EPHEMERAL))
    assert server.node("/e").kind is NodeKind.EPHEMERAL
    assert server.stat("/e").ephemeralOwner == sid


def test_create_ephemeral_sequential_is_both() -> None:
    server = Server()
    sid = server.connect()
    response = body(
        server.call(sid, create2("/e-", mode=CreateMode.EPHEMERAL_SEQUENTIAL)), Create2Response
    )
    # The system nodes were not counted as child creates, so the root's count starts at 0.
    assert response.path == "/e-0000000000"
    assert server.stat(response.path).ephemeralOwner == sid


def test_create_persistent_sequential_appends_ten_digits() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    response = body(
        server.call(sid, create("/p/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL)), CreateResponse
    )
    assert response.path == "/p/n-0000000000"
    assert server.node(response.path).kind is NodeKind.PERSISTENT


def test_create_with_container_flags_and_create_opcode_makes_a_persistent_node() -> None:
    server = Server(container_check_interval_ms=1000)
    sid = server.connect()
    server.ok(sid, create("/c", mode=CreateMode.CONTAINER))
    assert server.node("/c").kind is NodeKind.PERSISTENT
    server.ok(sid, create("/c/x"))
    server.ok(sid, Delete("/c/x"))
    server.tick(5000)
    assert server.exists("/c")  # never reaped


def test_create_container_opcode_makes_a_container_and_answers_path_and_stat() -> None:
    server = Server()
    sid = server.connect()
    response = body(server.call(sid, create_container("/c")), Create2Response)
    assert response == Create2Response("/c", server.stat("/c"))
    assert server.node("/c").kind is NodeKind.CONTAINER


def test_create_container_opcode_always_makes_a_container_whatever_the_flags() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/c", mode=CreateMode.PERSISTENT, opcode=OpCode.createContainer))
    assert server.node("/c").kind is NodeKind.CONTAINER


@pytest.mark.parametrize(
    "mode", [CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL]
)
def test_create_ttl_opcode_makes_a_ttl_node(mode: CreateMode) -> None:
    server = Server()
    sid = server.connect()
    response = body(server.call(sid, create_ttl("/t", 5000, mode=mode)), Create2Response)
    expected_path = "/t0000000000" if mode.is_sequential else "/t"
    assert response.path == expected_path
    node = server.node(expected_path)
    assert node.kind is NodeKind.TTL
    assert node.ttl_ms == 5000
    assert response.stat.ephemeralOwner == 0


def test_containers_and_ttl_nodes_show_ephemeral_owner_zero() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create_container("/c"))
    server.ok(sid, create_ttl("/t", 1000))
    assert server.stat("/c").ephemeralOwner == 0
    assert server.stat("/t").ephemeralOwner == 0


def test_create_ttl_is_unimplemented_when_extended_types_are_disabled() -> None:
    server = Server(extended_types_enabled=False)
    sid = server.connect()
    before = server.last_zxid
    outcome = server.call(sid, create_ttl("/t", 1000))
    assert outcome.reply is not None
    assert outcome.reply.err == Code.UNIMPLEMENTED
    assert outcome.reply.zxid == before + 1  # a failed write still takes its zxid
    assert not server.exists("/t")


def test_ttl_disabled_is_checked_before_the_ttl_value() -> None:
    server = Server(extended_types_enabled=False)
    sid = server.connect()
    assert server.err(sid, create_ttl("/t", 0)) == Code.UNIMPLEMENTED


@pytest.mark.parametrize("ttl", [0, -1, TTL_MAX_MS + 1, 2**62])
def test_ttl_outside_one_to_two_to_the_forty_minus_one_is_badarguments(ttl: int) -> None:
    server = Server()
    sid = server.connect()
    assert server.err(sid, create_ttl("/t", ttl)) == Code.BADARGUMENTS


@pytest.mark.parametrize("ttl", [1, TTL_MAX_MS])
def test_ttl_bounds_are_inclusive(ttl: int) -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create_ttl("/t", ttl))
    assert TTL_MAX_MS == 2**40 - 1


def test_ttl_is_valid_rule() -> None:
    assert ttl_is_valid(CreateMode.PERSISTENT_WITH_TTL, 1)
    assert not ttl_is_valid(CreateMode.PERSISTENT_WITH_TTL, -1)
    assert ttl_is_valid(CreateMode.PERSISTENT, -1)
    assert not ttl_is_valid(CreateMode.PERSISTENT, 0)
    assert not ttl_is_valid(CreateMode.PERSISTENT, 1000)


@pytest.mark.parametrize("opcode", [OpCode.create, OpCode.create2])
@pytest.mark.parametrize(
    "mode", [CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL]
)
def test_ttl_flags_sent_with_create_or_create2_are_badarguments(
    opcode: OpCode, mode: CreateMode
) -> None:
    server = Server()
    sid = server.connect()
    # The non-TTL opcodes carry no TTL (-1), which a TTL mode refuses.
    assert server.err(sid, create("/t", mode=mode, opcode=opcode, ttl=1000)) == Code.BADARGUMENTS


@pytest.mark.parametrize("ttl", [-1, 1000])
@pytest.mark.parametrize("mode", [m for m in CreateMode if not m.is_ttl], ids=lambda m: str(m.name))
def test_non_ttl_flags_sent_with_create_ttl_are_badarguments(mode: CreateMode, ttl: int) -> None:
    server = Server()
    sid = server.connect()
    assert server.err(sid, create("/t", mode=mode, opcode=OpCode.createTTL, ttl=ttl)) == (
        Code.BADARGUMENTS
    )
    assert not server.exists("/t")


# --- sequential names ---------------------------------------------------------------------


def test_sequence_suffix_is_ten_digits_zero_padded_sign_first() -> None:
    assert sequence_suffix(0) == "0000000000"
    assert sequence_suffix(42) == "0000000042"
    assert sequence_suffix(2**31 - 1) == "2147483647"
    assert sequence_suffix(-1) == "-000000001"
    assert sequence_suffix(-(2**31)) == "-2147483648"


def test_sequential_suffix_is_parent_child_create_count_not_cversion() -> None:
    # Probed on 3.8.0: create n- -> n-0000000000, create x, delete x, create n- ->
    # n-0000000002, while the parent's cversion is 3.
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    seq = CreateMode.PERSISTENT_SEQUENTIAL
    first = body(server.call(sid, create("/p/n-", mode=seq)), CreateResponse)
    server.ok(sid, create("/p/x"))
    server.ok(sid, Delete("/p/x"))
    assert server.stat("/p").cversion == 3
    second = body(server.call(sid, create("/p/n-", mode=seq)), CreateResponse)
    assert (first.path, second.path) == ("/p/n-0000000000", "/p/n-0000000002")
    assert server.node("/p").child_creates == 3


def test_every_child_create_advances_the_sequence_and_deletes_do_not() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    seq = CreateMode.EPHEMERAL_SEQUENTIAL
    server.ok(sid, create("/p/a"))
    server.ok(sid, create("/p/b"))
    server.ok(sid, Delete("/p/a"))
    server.ok(sid, Delete("/p/b"))
    response = body(server.call(sid, create("/p/s", mode=seq)), CreateResponse)
    assert response.path == "/p/s0000000002"


def test_sequential_names_are_unique_and_increasing_per_parent() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p", "/q")
    names = []
    for i in range(12):
        parent = "/p" if i % 3 else "/q"
        response = body(
            server.call(sid, create(parent + "/n", mode=CreateMode.PERSISTENT_SEQUENTIAL)),
            CreateResponse,
        )
        names.append(response.path)
    under_p = [n for n in names if n.startswith("/p/")]
    under_q = [n for n in names if n.startswith("/q/")]
    assert under_p == sorted(under_p) and len(set(under_p)) == len(under_p)
    assert under_q == [f"/q/n{i:010d}" for i in range(4)]
    children = body(server.call(sid, GetChildren("/p")), GetChildrenResponse).children
    assert len(children) == 8


def test_two_sequential_creates_in_one_multi_get_consecutive_numbers() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    seq = CreateMode.PERSISTENT_SEQUENTIAL
    response = body(
        server.call(sid, Multi((create("/p/a-", mode=seq), create("/p/b-", mode=seq)))),
        MultiResponse,
    )
    assert response.results == (
        CreateResult("/p/a-0000000000", None),
        CreateResult("/p/b-0000000001", None),
    )


def test_sequential_counter_stops_at_int32_max_so_the_suffix_repeats() -> None:
    # ZOOKEEPER-3249: past 2**31-1 the stored count is not updated, the suffix repeats,
    # and the create fails with NODEEXISTS.
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    server.patch_node("/p", child_creates=2**31 - 1)
    seq = CreateMode.PERSISTENT_SEQUENTIAL
    first = body(server.call(sid, create("/p/n", mode=seq)), CreateResponse)
    assert first.path == "/p/n2147483647"
    assert server.node("/p").child_creates == 2**31 - 1
    assert server.err(sid, create("/p/n", mode=seq)) == Code.NODEEXISTS


def test_sequential_create_of_a_path_ending_in_slash_names_the_child_by_number() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    for name in ("a", "b", "c", "d"):
        server.ok(sid, create("/p/" + name))
    response = body(
        server.call(sid, create("/p/", mode=CreateMode.PERSISTENT_SEQUENTIAL)), CreateResponse
    )
    assert response.path == "/p/0000000004"


# --- ephemerals, containers, TTL nodes and their children ---------------------------------


@pytest.mark.parametrize("mode", list(CreateMode), ids=lambda m: str(m.name))
def test_ephemeral_nodes_cannot_have_children(mode: CreateMode) -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    opcode = (
        OpCode.createTTL
        if mode.is_ttl
        else OpCode.createContainer
        if mode.is_container
        else OpCode.create
    )
    ttl = 1000 if mode.is_ttl else -1
    op = create("/e/c", mode=mode, opcode=opcode, ttl=ttl)
    assert server.err(sid, op) == Code.NOCHILDRENFOREPHEMERALS
    assert server.children("/e") == set()


def test_containers_and_ttl_nodes_may_have_children() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create_container("/c"))
    server.ok(sid, create_ttl("/t", 1000))
    server.ok(sid, create("/c/x"))
    server.ok(sid, create("/t/x", mode=CreateMode.EPHEMERAL))
    assert server.children("/c") == {"x"}
    assert server.children("/t") == {"x"}


def test_ephemerals_vanish_with_their_session() -> None:
    server = Server()
    owner = server.connect()
    other = server.connect()
    server.ok(owner, create("/e", mode=CreateMode.EPHEMERAL))
    server.ok(owner, create("/s-", mode=CreateMode.EPHEMERAL_SEQUENTIAL))
    server.ok(other, create("/keep", mode=CreateMode.EPHEMERAL))
    server.ok(other, SetData("/e", b"touched by another session"))
    assert server.exists("/e") and server.exists("/s-0000000001")
    server.ok(owner, CloseSession())
    assert not server.exists("/e")
    assert not server.exists("/s-0000000001")
    assert server.exists("/keep")
