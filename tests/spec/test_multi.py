"""Tests of ``spec.multi``: several writes, all or nothing, under one zxid; and multiRead."""

from __future__ import annotations

import pytest

from spec.errors import Code
from spec.events import EventType
from spec.modes import CreateMode, NodeKind
from spec.opcodes import OpCode
from spec.profiles import V3_8, V3_9, Profile
from spec.requests import (
    Check,
    CheckResult,
    CloseSession,
    CreateResult,
    Delete,
    DeleteResult,
    ErrorResult,
    Exists,
    GetChildren,
    GetChildrenResult,
    GetData,
    GetDataResult,
    Multi,
    MultiRead,
    MultiResponse,
    Operation,
    SetACL,
    SetData,
    SetDataResult,
    Sync,
)
from tests.spec.helpers import (
    PROFILES,
    Server,
    body,
    create,
    create2,
    create_container,
    create_ttl,
    events_of,
    reply_of,
    result_codes,
)


def fresh(profile: Profile = V3_9) -> tuple[Server, int]:
    server = Server(profile)
    sid = server.connect()
    server.mkdirs(sid, "/a")
    return server, sid


# --- what a multi may carry ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        GetData("/a"),
        Exists("/a"),
        GetChildren("/a"),
        Sync("/a"),
        SetACL("/a", ()),
        CloseSession(),
        Multi(()),
        MultiRead(()),
    ],
    ids=lambda op: type(op).__name__,
)
def test_multi_with_a_sub_op_that_is_not_a_write_is_malformed_and_uses_a_zxid(
    bad: Operation,
) -> None:
    server, sid = fresh()
    before = server.last_zxid
    nodes = dict(server.state.nodes)
    outcome = server.call(sid, Multi((create("/x"), bad)))
    assert reply_of(outcome).err == Code.MARSHALLINGERROR
    assert reply_of(outcome).body is None
    assert reply_of(outcome).zxid == before + 1 == server.last_zxid
    assert outcome.zxids == (before + 1,)
    assert server.state.nodes == nodes


@pytest.mark.parametrize("flags", [7, -1])
def test_multi_create_with_flags_that_are_not_a_mode_is_malformed_in_3_9(flags: int) -> None:
    # 3.9's MultiOperationRecord.deserialize refuses the flags: the whole request is malformed.
    server, sid = fresh(V3_9)
    before = server.last_zxid
    outcome = server.call(sid, Multi((create("/x"), create("/y", mode=flags))))
    assert reply_of(outcome).err == Code.MARSHALLINGERROR
    assert reply_of(outcome).zxid == before + 1
    assert not server.exists("/x")


def test_multi_create_with_flags_that_are_not_a_mode_fails_as_a_sub_op_in_3_8() -> None:
    server, sid = fresh(V3_8)
    outcome = server.call(sid, Multi((create("/x"), create("/y", mode=7))))
    response = body(outcome, MultiResponse)
    assert result_codes(response) == [Code.OK, Code.BADARGUMENTS]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_multi_create_ttl_with_flags_that_are_not_a_mode_fails_as_a_plain_create(
    profile: Profile,
) -> None:
    # Both versions read a createTTL sub-op through Op.create(..., flags, ttl), which falls
    # back to a plain create for flags that are no mode: no MARSHALLINGERROR, even in 3.9;
    # the sub-op then fails BADARGUMENTS on its flags.
    server, sid = fresh(profile)
    outcome = server.call(sid, Multi((create("/x"), create_ttl("/y", ttl=1000, mode=7))))
    response = body(outcome, MultiResponse)
    assert result_codes(response) == [Code.OK, Code.BADARGUMENTS]
    assert not server.exists("/x")


# --- a successful multi -------------------------------------------------------------------


def test_sub_ops_are_checked_against_the_tree_left_by_earlier_sub_ops() -> None:
    server, sid = fresh()
    ops = (create("/x"), create("/x/y"), Delete("/x/y"), Delete("/x"))
    response = body(server.call(sid, Multi(ops)), MultiResponse)
    assert response.results == (
        CreateResult("/x", None),
        CreateResult("/x/y", None),
        DeleteResult(),
        DeleteResult(),
    )
    assert not server.exists("/x")


def test_all_sub_ops_are_applied_under_the_multis_single_zxid() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a/old")
    before = server.last_zxid
    ops = (create("/b"), create("/b/c"), SetData("/a", b"new"), Delete("/a/old"))
    outcome = server.call(sid, Multi(ops))
    zxid = reply_of(outcome).zxid
    assert zxid == before + 1 == server.last_zxid
    assert outcome.zxids == (zxid,)
    assert server.stat("/b").czxid == zxid
    assert server.stat("/b/c").czxid == zxid
    assert server.stat("/b").pzxid == zxid
    assert server.stat("/a").mzxid == zxid
    assert server.stat("/a").pzxid == zxid


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_successful_multi_results_layout(profile: Profile) -> None:
    server, sid = fresh(profile)
    ops: tuple[Operation, ...] = (
        create("/p1"),
        create2("/p2"),
        create_container("/c"),
        create_ttl("/t", 60_000),
        SetData("/a", b"x"),
        Check("/a", 1),
        Delete("/p1"),
    )
    response = body(server.call(sid, Multi(ops)), MultiResponse)
    stat_p2 = server.stat("/p2") if profile.multi_create2_result else None
    assert response.results == (
        CreateResult("/p1", None),
        CreateResult("/p2", stat_p2),
        CreateResult("/c", server.stat("/c")),
        CreateResult("/t", server.stat("/t")),
        SetDataResult(server.stat("/a")),
        CheckResult(),
        DeleteResult(),
    )
    assert server.node("/c").kind is NodeKind.CONTAINER
    assert server.node("/t").kind is NodeKind.TTL


def test_set_data_result_is_the_stat_right_after_the_sub_op() -> None:
    server, sid = fresh()
    response = body(server.call(sid, Multi((SetData("/a", b"x"), create("/a/c")))), MultiResponse)
    first = response.results[0]
    assert isinstance(first, SetDataResult)
    assert first.stat.numChildren == 0
    assert server.stat("/a").numChildren == 1


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_container_and_ttl_flags_choose_the_opcode_inside_multi(profile: Profile) -> None:
    server, sid = fresh(profile)
    ops = (
        create("/c", mode=CreateMode.CONTAINER),  # opcode create, container flags
        create("/t", mode=CreateMode.PERSISTENT_WITH_TTL, opcode=OpCode.createTTL, ttl=5),
    )
    body(server.call(sid, Multi(ops)), MultiResponse)
    assert server.node("/c").kind is NodeKind.CONTAINER
    assert server.node("/t").kind is NodeKind.TTL


def test_3_9_keeps_the_create_container_opcode_sent_with_persistent_flags() -> None:
    server, sid = fresh(V3_9)
    op = create("/c", mode=CreateMode.PERSISTENT, opcode=OpCode.createContainer)
    response = body(server.call(sid, Multi((op,))), MultiResponse)
    assert server.node("/c").kind is NodeKind.CONTAINER
    assert response.results == (CreateResult("/c", server.stat("/c")),)


def test_3_8_rederives_a_create_container_with_persistent_flags_as_create() -> None:
    server, sid = fresh(V3_8)
    op = create("/c", mode=CreateMode.PERSISTENT, opcode=OpCode.createContainer)
    response = body(server.call(sid, Multi((op,))), MultiResponse)
    assert server.node("/c").kind is NodeKind.PERSISTENT
    assert response.results == (CreateResult("/c", None),)


def test_multi_watches_fire_in_sub_op_order() -> None:
    server, sid = fresh()
    watcher = server.connect()
    server.mkdirs(sid, "/a/old")
    server.call(watcher, Exists("/b", watch=True))
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(watcher, GetChildren("/a", watch=True))
    server.ok(watcher, Exists("/a/old", watch=True))
    outcome = server.call(sid, Multi((Delete("/a/old"), create("/b"), SetData("/a", b"x"))))
    zxid = reply_of(outcome).zxid
    assert events_of(outcome) == [
        (watcher, EventType.NodeDeleted, "/a/old"),
        (watcher, EventType.NodeChildrenChanged, "/a"),
        (watcher, EventType.NodeCreated, "/b"),
        (watcher, EventType.NodeDataChanged, "/a"),
    ]
    assert {e.zxid for e in outcome.events} == {zxid}


def test_create_then_delete_of_a_watched_path_in_one_multi_fires_only_node_created() -> None:
    server, sid = fresh()
    server.call(sid, Exists("/x", watch=True))
    outcome = server.call(sid, Multi((create("/x"), Delete("/x"))))
    assert events_of(outcome) == [(sid, EventType.NodeCreated, "/x")]
    assert server.watches(sid, "/x") == (frozenset(), frozenset())


# --- a failed multi -----------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_failed_multi_reply_header_ok_and_results_layout(profile: Profile) -> None:
    server, sid = fresh(profile)
    ops = (
        create("/x"),
        SetData("/a", b"x"),
        Check("/a", 5),  # fails: BADVERSION
        create("/y"),
        Delete("/nope"),
    )
    outcome = server.call(sid, Multi(ops))
    reply = reply_of(outcome)
    assert reply.err == Code.OK
    assert reply.body == MultiResponse(
        (
            ErrorResult(Code.OK),
            ErrorResult(Code.OK),
            ErrorResult(Code.BADVERSION),
            ErrorResult(Code.RUNTIMEINCONSISTENCY),
            ErrorResult(Code.RUNTIMEINCONSISTENCY),
        )
    )


def test_failed_multi_applies_nothing_fires_nothing_and_uses_its_zxid() -> None:
    server, sid = fresh()
    watcher = server.connect()
    server.call(watcher, Exists("/x", watch=True))
    server.ok(watcher, GetData("/a", watch=True))
    nodes = dict(server.state.nodes)
    before = server.last_zxid
    outcome = server.call(sid, Multi((create("/x"), SetData("/a", b"x"), create("/x"))))
    assert result_codes(body(outcome, MultiResponse)) == [Code.OK, Code.OK, Code.NODEEXISTS]
    assert outcome.events == ()
    assert server.state.nodes == nodes
    assert reply_of(outcome).zxid == before + 1 == server.last_zxid
    assert outcome.zxids == (before + 1,)
    # The watches were not used up.
    assert server.watches(watcher, "/x")[0] and server.watches(watcher, "/a")[0]


def test_failed_multi_with_the_first_sub_op_failing() -> None:
    server, sid = fresh()
    response = body(server.call(sid, Multi((Delete("/nope"), create("/x")))), MultiResponse)
    assert result_codes(response) == [Code.NONODE, Code.RUNTIMEINCONSISTENCY]


def test_failed_multi_does_not_advance_the_sequence_counter() -> None:
    server, sid = fresh()
    seq = CreateMode.PERSISTENT_SEQUENTIAL
    body(server.call(sid, Multi((create("/a/s", mode=seq), Delete("/nope")))), MultiResponse)
    response = body(server.call(sid, Multi((create("/a/s", mode=seq),))), MultiResponse)
    assert response.results == (CreateResult("/a/s0000000000", None),)


def test_empty_multi_succeeds_with_no_results_and_takes_a_zxid() -> None:
    server, sid = fresh()
    before = server.last_zxid
    outcome = server.call(sid, Multi(()))
    assert body(outcome, MultiResponse) == MultiResponse(())
    assert reply_of(outcome).zxid == before + 1 == server.last_zxid


# --- multiRead ----------------------------------------------------------------------------


def test_multi_read_answers_each_read_on_its_own() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a/c")
    server.ok(sid, SetData("/a", b"data"))
    before = server.last_zxid
    outcome = server.call(
        sid,
        MultiRead((GetData("/a"), GetData("/nope"), GetChildren("/a"), GetChildren("/nope"))),
    )
    reply = reply_of(outcome)
    assert (reply.err, reply.zxid) == (Code.OK, before)
    assert outcome.zxids == ()
    assert reply.body == MultiResponse(
        (
            GetDataResult(b"data", server.stat("/a")),
            ErrorResult(Code.NONODE),
            GetChildrenResult(("c",)),
            ErrorResult(Code.NONODE),
        )
    )


def test_multi_read_reports_acl_failures_per_read() -> None:
    from spec.acl import ACL, ANYONE_ID_UNSAFE, Perms

    server, sid = fresh()
    server.ok(sid, create("/hidden", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    response = body(server.call(sid, MultiRead((GetData("/hidden"), GetData("/a")))), MultiResponse)
    assert result_codes(response) == [Code.NOAUTH, Code.OK]


@pytest.mark.parametrize(
    "bad", [create("/x"), Exists("/a"), Delete("/a"), Check("/a", -1)], ids=lambda o: str(o)[:12]
)
def test_multi_read_with_anything_but_get_data_or_get_children_is_malformed(
    bad: Operation,
) -> None:
    server, sid = fresh()
    before = server.last_zxid
    outcome = server.call(sid, MultiRead((GetData("/a"), bad)))
    assert reply_of(outcome).err == Code.MARSHALLINGERROR
    assert reply_of(outcome).zxid == before == server.last_zxid
    assert not server.exists("/x")


def test_empty_multi_read_succeeds() -> None:
    server, sid = fresh()
    assert body(server.call(sid, MultiRead(())), MultiResponse) == MultiResponse(())


def test_multi_read_sets_no_watches() -> None:
    server, sid = fresh()
    server.ok(sid, MultiRead((GetData("/a", watch=True), GetChildren("/a", watch=True))))
    assert server.watches(sid, "/a") == (frozenset(), frozenset())
