"""Tests of ``spec.tree``: create, delete, setData, setACL, check and the reads.

Check orders are tested pairwise: each test sets up a request that fails two checks and
asserts which one ZooKeeper reports.
"""

from __future__ import annotations

import pytest

from spec.acl import ACL, ANYONE_ID_UNSAFE, OPEN_ACL_UNSAFE, Perms
from spec.errors import Code
from spec.modes import CreateMode
from spec.requests import (
    Check,
    CheckResult,
    Create2Response,
    Delete,
    Empty,
    ErrorResult,
    Exists,
    GetACL,
    GetACLResponse,
    GetAllChildrenNumber,
    GetAllChildrenNumberResponse,
    GetChildren,
    GetChildren2Response,
    GetChildrenResponse,
    GetData,
    GetDataResponse,
    GetEphemerals,
    GetEphemeralsResponse,
    Multi,
    MultiResponse,
    Operation,
    SetACL,
    SetData,
    StatResponse,
    Sync,
    SyncResponse,
)
from spec.stat import Stat
from spec.tree import subtree
from tests.spec.helpers import START_MS, Server, body, create, create2, reply_of

NO_READ = (ACL(Perms.ALL & ~Perms.READ, ANYONE_ID_UNSAFE),)


def only(perms: int) -> tuple[ACL, ...]:
    return (ACL(perms, ANYONE_ID_UNSAFE),)


def fresh() -> tuple[Server, int]:
    server = Server()
    return server, server.connect()  # the session takes zxid 1


# --- create -------------------------------------------------------------------------------


def test_create_sets_the_full_stat_of_the_new_node() -> None:
    server, sid = fresh()
    server.tick(1234)
    outcome = server.call(sid, create2("/a", b"hello"))
    zxid = reply_of(outcome).zxid
    assert zxid == 2
    now = START_MS + 1234
    expected = Stat(
        czxid=zxid,
        mzxid=zxid,
        ctime=now,
        mtime=now,
        version=0,
        cversion=0,
        aversion=0,
        ephemeralOwner=0,
        dataLength=5,
        numChildren=0,
        pzxid=zxid,
    )
    assert body(outcome, Create2Response).stat == expected
    assert server.stat("/a") == expected


def test_create_moves_the_parents_pzxid_and_cversion_but_not_its_mzxid_version_or_mtime() -> None:
    server, sid = fresh()
    server.ok(sid, create("/p", b"p"))
    before = server.stat("/p")
    server.tick(5000)
    zxid = reply_of(server.ok(sid, create("/p/c"))).zxid
    after = server.stat("/p")
    assert after == Stat(
        czxid=before.czxid,
        mzxid=before.mzxid,
        ctime=before.ctime,
        mtime=before.mtime,
        version=0,
        cversion=1,
        aversion=0,
        ephemeralOwner=0,
        dataLength=1,
        numChildren=1,
        pzxid=zxid,
    )
    assert server.node("/p").child_creates == 1


def test_create_keeps_null_data_apart_from_empty_data() -> None:
    server, sid = fresh()
    server.ok(sid, create("/null", None))
    server.ok(sid, create("/empty", b""))
    null = body(server.call(sid, GetData("/null")), GetDataResponse)
    empty = body(server.call(sid, GetData("/empty")), GetDataResponse)
    assert (null.data, null.stat.dataLength) == (None, 0)
    assert (empty.data, empty.stat.dataLength) == (b"", 0)


def test_create_order_flags_before_path_shape() -> None:
    server, sid = fresh()
    assert server.err(sid, create("nope", mode=42)) == Code.BADARGUMENTS


def test_create_order_path_shape_before_acl() -> None:
    server, sid = fresh()
    assert server.err(sid, create("nope", acl=())) == Code.BADARGUMENTS
    assert server.err(sid, create("/a\u0000", acl=())) == Code.BADARGUMENTS


def test_create_order_acl_before_missing_parent() -> None:
    server, sid = fresh()
    assert server.err(sid, create("/nope/a", acl=())) == Code.INVALIDACL


def test_create_order_missing_parent_before_full_path_validation() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/p")
    # The parent of "/p//a" is "/p/", which does not exist.
    assert server.err(sid, create("/p//a")) == Code.NONODE
    assert server.err(sid, create("/nope/.")) == Code.NONODE


def test_create_order_parent_acl_before_full_path_validation_and_existence() -> None:
    server, sid = fresh()
    server.ok(sid, create("/locked", acl=only(Perms.ALL & ~Perms.CREATE)))
    server.ok(sid, SetACL("/locked", OPEN_ACL_UNSAFE))
    server.ok(sid, create("/locked/x"))
    server.ok(sid, SetACL("/locked", only(Perms.ALL & ~Perms.CREATE)))
    assert server.err(sid, create("/locked/.")) == Code.NOAUTH
    assert server.err(sid, create("/locked/x")) == Code.NOAUTH


def test_create_order_existence_before_ephemeral_parent() -> None:
    server, sid = fresh()
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    assert server.err(sid, create("/e")) == Code.NODEEXISTS
    assert server.err(sid, create("/e/x")) == Code.NOCHILDRENFOREPHEMERALS


def test_create_of_the_root_is_nodeexists() -> None:
    server, sid = fresh()
    assert server.err(sid, create("/")) == Code.NODEEXISTS


def test_create_of_an_existing_node_is_nodeexists_and_changes_nothing() -> None:
    server, sid = fresh()
    server.ok(sid, create("/a", b"first"))
    before = server.state.nodes.copy()
    assert server.err(sid, create("/a", b"second")) == Code.NODEEXISTS
    assert server.state.nodes == before


# --- delete -------------------------------------------------------------------------------


def test_delete_moves_the_parents_pzxid_and_visible_cversion_but_not_its_stored_count() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/p", "/p/c")
    zxid = reply_of(server.ok(sid, Delete("/p/c"))).zxid
    stat = server.stat("/p")
    assert (stat.pzxid, stat.cversion, stat.numChildren) == (zxid, 2, 0)
    assert server.node("/p").child_creates == 1
    assert server.err(sid, Exists("/p/c")) == Code.NONODE


def test_delete_answers_an_empty_body() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    assert body(server.call(sid, Delete("/a")), Empty) == Empty()


def test_delete_order_special_path_before_anything() -> None:
    server, sid = fresh()
    assert server.err(sid, Delete("/zookeeper", version=99)) == Code.BADARGUMENTS


def test_delete_order_missing_parent_before_acl() -> None:
    server, sid = fresh()
    assert server.err(sid, Delete("/nope/a")) == Code.NONODE


def test_delete_checks_parent_acl_before_node_existence() -> None:
    server, sid = fresh()
    server.ok(sid, create("/locked", acl=only(Perms.ALL & ~Perms.DELETE)))
    assert server.err(sid, Delete("/locked/missing")) == Code.NOAUTH


def test_delete_order_missing_node_before_version() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/p")
    assert server.err(sid, Delete("/p/missing", version=7)) == Code.NONODE


def test_delete_order_version_before_children() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/p", "/p/c")
    assert server.err(sid, Delete("/p", version=3)) == Code.BADVERSION
    assert server.err(sid, Delete("/p", version=0)) == Code.NOTEMPTY
    assert server.err(sid, Delete("/p", version=-1)) == Code.NOTEMPTY


def test_delete_with_matching_version() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    server.ok(sid, SetData("/a", b"x"))
    assert server.err(sid, Delete("/a", version=0)) == Code.BADVERSION
    assert server.err(sid, Delete("/a", version=1)) == Code.OK


# --- setData ------------------------------------------------------------------------------


def test_set_data_bumps_version_mzxid_mtime_only() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a", "/a/c")
    before = server.stat("/a")
    server.tick(777)
    outcome = server.call(sid, SetData("/a", b"new data"))
    zxid = reply_of(outcome).zxid
    after = body(outcome, StatResponse).stat
    assert after == Stat(
        czxid=before.czxid,
        mzxid=zxid,
        ctime=before.ctime,
        mtime=START_MS + 777,
        version=1,
        cversion=before.cversion,
        aversion=0,
        ephemeralOwner=0,
        dataLength=8,
        numChildren=1,
        pzxid=before.pzxid,
    )
    assert server.stat("/a") == after


def test_set_data_with_null_data() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a", data=b"abc")
    server.ok(sid, SetData("/a", None))
    response = body(server.call(sid, GetData("/a")), GetDataResponse)
    assert (response.data, response.stat.dataLength) == (None, 0)


def test_set_data_order_path_before_existence() -> None:
    server, sid = fresh()
    assert server.err(sid, SetData("/nope/", b"")) == Code.BADARGUMENTS


def test_set_data_order_existence_before_acl() -> None:
    server, sid = fresh()
    assert server.err(sid, SetData("/nope", b"")) == Code.NONODE


def test_set_data_order_acl_before_version() -> None:
    server, sid = fresh()
    server.ok(sid, create("/a", acl=only(Perms.READ)))
    assert server.err(sid, SetData("/a", b"", version=5)) == Code.NOAUTH


def test_set_data_version_must_match_unless_minus_one() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    assert server.err(sid, SetData("/a", b"", version=1)) == Code.BADVERSION
    assert server.err(sid, SetData("/a", b"", version=-2)) == Code.BADVERSION
    assert server.err(sid, SetData("/a", b"", version=0)) == Code.OK
    assert server.err(sid, SetData("/a", b"", version=-1)) == Code.OK
    assert server.stat("/a").version == 2


def test_version_counters_are_java_ints_and_wrap() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    server.patch_node("/a", version=2**31 - 1, aversion=2**31 - 1)
    server.ok(sid, SetData("/a", b"", version=2**31 - 1))
    server.ok(sid, SetACL("/a", OPEN_ACL_UNSAFE, version=2**31 - 1))
    assert (server.stat("/a").version, server.stat("/a").aversion) == (-(2**31), -(2**31))
    server.ok(sid, SetData("/a", b"", version=-(2**31)))


# --- setACL -------------------------------------------------------------------------------


def test_set_acl_bumps_aversion_only() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    before = server.stat("/a")
    server.tick(1000)
    outcome = server.call(sid, SetACL("/a", only(Perms.ALL), version=0))
    after = body(outcome, StatResponse).stat
    assert reply_of(outcome).zxid == server.last_zxid
    assert after == Stat(
        czxid=before.czxid,
        mzxid=before.mzxid,
        ctime=before.ctime,
        mtime=before.mtime,
        version=0,
        cversion=0,
        aversion=1,
        ephemeralOwner=0,
        dataLength=0,
        numChildren=0,
        pzxid=before.pzxid,
    )
    assert server.node("/a").acl == only(Perms.ALL)


def test_set_acl_order_path_before_acl_list() -> None:
    server, sid = fresh()
    assert server.err(sid, SetACL("/a/", ())) == Code.BADARGUMENTS


def test_set_acl_order_acl_list_before_existence() -> None:
    server, sid = fresh()
    assert server.err(sid, SetACL("/nope", ())) == Code.INVALIDACL


def test_set_acl_order_existence_before_admin() -> None:
    server, sid = fresh()
    assert server.err(sid, SetACL("/nope", OPEN_ACL_UNSAFE, version=9)) == Code.NONODE


def test_set_acl_order_admin_before_aversion() -> None:
    server, sid = fresh()
    server.ok(sid, create("/a", acl=only(Perms.ALL & ~Perms.ADMIN)))
    assert server.err(sid, SetACL("/a", OPEN_ACL_UNSAFE, version=9)) == Code.NOAUTH


def test_set_acl_checks_the_aversion_not_the_version() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    server.ok(sid, SetData("/a", b"1"))
    assert server.err(sid, SetACL("/a", OPEN_ACL_UNSAFE, version=1)) == Code.BADVERSION
    assert server.err(sid, SetACL("/a", OPEN_ACL_UNSAFE, version=0)) == Code.OK


# --- check (inside multi) -----------------------------------------------------------------


def multi_codes(server: Server, sid: int, op: Check) -> Code:
    results = body(server.call(sid, Multi((op,))), MultiResponse).results
    assert len(results) == 1
    result = results[0]
    return result.err if isinstance(result, ErrorResult) else Code.OK


def test_check_order_and_effect() -> None:
    server, sid = fresh()
    server.ok(sid, create("/hidden", acl=NO_READ))
    server.mkdirs(sid, "/a")
    server.ok(sid, SetData("/a", b"x"))
    assert multi_codes(server, sid, Check("/a/", 5)) == Code.BADARGUMENTS
    assert multi_codes(server, sid, Check("/nope", 5)) == Code.NONODE
    assert multi_codes(server, sid, Check("/hidden", 5)) == Code.NOAUTH
    assert multi_codes(server, sid, Check("/a", 0)) == Code.BADVERSION
    assert multi_codes(server, sid, Check("/a", -2)) == Code.BADVERSION
    before = server.stat("/a")
    results = body(server.call(sid, Multi((Check("/a", 1),))), MultiResponse).results
    assert results == (CheckResult(),)
    assert server.stat("/a") == before


# --- reads --------------------------------------------------------------------------------


def test_get_data_answers_data_and_stat() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a", data=b"payload")
    response = body(server.call(sid, GetData("/a")), GetDataResponse)
    assert response == GetDataResponse(b"payload", server.stat("/a"))


def test_exists_answers_the_stat_or_nonode() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a")
    assert body(server.call(sid, Exists("/a")), StatResponse).stat == server.stat("/a")
    outcome = server.call(sid, Exists("/b"))
    assert reply_of(outcome).err == Code.NONODE
    assert reply_of(outcome).body is None


def test_get_children_lists_names_and_get_children2_adds_the_stat() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/p", "/p/b", "/p/a", "/p/c", "/p/a/deep")
    names = body(server.call(sid, GetChildren("/p")), GetChildrenResponse).children
    assert set(names) == {"a", "b", "c"}
    with_stat = body(server.call(sid, GetChildren("/p", with_stat=True)), GetChildren2Response)
    assert set(with_stat.children) == {"a", "b", "c"}
    assert with_stat.stat == server.stat("/p")


def test_get_acl_answers_the_acl_and_stat() -> None:
    server, sid = fresh()
    server.ok(sid, create("/a", acl=only(Perms.READ | Perms.ADMIN)))
    response = body(server.call(sid, GetACL("/a")), GetACLResponse)
    assert response == GetACLResponse(only(Perms.READ | Perms.ADMIN), server.stat("/a"))


@pytest.mark.parametrize(
    "op",
    [
        GetData("/nope"),
        GetChildren("/nope"),
        GetChildren("/nope", with_stat=True),
        GetACL("/nope"),
        GetAllChildrenNumber("/nope"),
    ],
)
def test_reads_of_missing_nodes_are_nonode(
    op: GetData | GetChildren | GetACL | GetAllChildrenNumber,
) -> None:
    server, sid = fresh()
    assert server.err(sid, op) == Code.NONODE


def test_reads_look_up_the_node_before_checking_the_acl() -> None:
    server, sid = fresh()
    server.ok(sid, create("/hidden", acl=only(0)))
    assert server.err(sid, GetData("/hidden/missing")) == Code.NONODE
    assert server.err(sid, GetData("/hidden")) == Code.NOAUTH


def test_get_all_children_number_counts_all_descendants_not_the_node() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/a", "/a/b", "/a/b/c", "/a/d", "/ab", "/ab/x")

    def count(path: str) -> int:
        return body(
            server.call(sid, GetAllChildrenNumber(path)), GetAllChildrenNumberResponse
        ).total_number

    assert count("/a") == 3  # "/ab/x" does not start with "/a/"
    assert count("/a/b/c") == 0
    # The root: every node but itself (system nodes included).
    assert count("/") == len(server.state.nodes) - 1 == 9
    # "" counts every key starting with "/", which in Java includes the root's "/" key.
    assert count("") == len(server.state.nodes)


def test_get_ephemerals_lists_the_callers_own_ephemerals() -> None:
    server, sid = fresh()
    other = server.connect()
    server.mkdirs(sid, "/p")
    eph = CreateMode.EPHEMERAL
    server.ok(sid, create("/p/eph", mode=eph))
    server.ok(sid, create("/p/e2", mode=eph))
    server.ok(sid, create("/top", mode=eph))
    server.ok(sid, create("/p/persistent"))
    server.ok(other, create("/p/other", mode=eph))

    def ephemerals(session: int, prefix: str) -> set[str]:
        response = body(server.call(session, GetEphemerals(prefix)), GetEphemeralsResponse)
        return set(response.ephemerals)

    mine = {"/p/eph", "/p/e2", "/top"}
    assert ephemerals(sid, "") == mine
    assert ephemerals(sid, "/") == mine
    assert ephemerals(sid, "  /  ") == mine
    assert ephemerals(sid, "/p/e") == {"/p/eph", "/p/e2"}  # a plain string prefix
    assert ephemerals(sid, "/p/eph") == {"/p/eph"}
    assert ephemerals(sid, "/q") == set()
    assert ephemerals(other, "") == {"/p/other"}


def test_get_ephemerals_trims_only_what_java_trims() -> None:
    server, sid = fresh()
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    listed = body(server.call(sid, GetEphemerals("\u00a0/")), GetEphemeralsResponse)
    assert listed.ephemerals == ()
    listed = body(server.call(sid, GetEphemerals("\t/\u0001")), GetEphemeralsResponse)
    assert listed.ephemerals == ("/e",)


def test_sync_echoes_its_path_without_checking_it() -> None:
    server, sid = fresh()
    for path in ("/nope", "", "bad//path"):
        outcome = server.call(sid, Sync(path))
        assert body(outcome, SyncResponse) == SyncResponse(path)
        assert reply_of(outcome).zxid == server.last_zxid


# --- zxids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        create("/exists"),
        create("/nope/a"),
        Delete("/nope"),
        Delete("/exists", version=5),
        SetData("/nope", b""),
        SetACL("/exists", ()),
        create("/t", mode=CreateMode.PERSISTENT_WITH_TTL),
    ],
)
def test_failed_write_consumes_a_zxid(op: Operation) -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/exists")
    before = server.last_zxid
    nodes = dict(server.state.nodes)
    outcome = server.call(sid, op)
    reply = reply_of(outcome)
    assert reply.err != Code.OK
    assert reply.zxid == before + 1 == server.last_zxid
    assert outcome.zxids == (before + 1,)
    assert server.state.nodes == nodes


def test_subtree_lists_parents_before_children() -> None:
    server, sid = fresh()
    server.mkdirs(sid, "/b", "/a", "/a/y", "/a/x")
    assert subtree(server.state, "/a") == ["/a", "/a/x", "/a/y"]
    assert subtree(server.state, "/")[:2] == ["/", "/a"]
    assert set(subtree(server.state, "/")) == set(server.state.nodes)
