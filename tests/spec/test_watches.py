"""Tests of ``spec.watches``: which reads arm which watches, which writes fire them."""

from __future__ import annotations

import pytest

from spec.acl import ACL, ANYONE_ID_UNSAFE, Id, Perms, generate_digest
from spec.errors import Code
from spec.events import AddWatchMode, EventType, WatcherType, WatchEvent
from spec.modes import CreateMode
from spec.profiles import V3_8, V3_9, Profile
from spec.requests import (
    AddAuth,
    AddWatch,
    AddWatchResponse,
    CheckWatches,
    Delete,
    Empty,
    Exists,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    Multi,
    RemoveWatches,
    SetACL,
    SetData,
    SetWatches,
    Sync,
)
from spec.state import WatchMode
from spec.watches import watch_count
from tests.spec.helpers import PROFILES, Server, body, create, events_of, reply_of

STANDARD = frozenset({WatchMode.STANDARD})
NONE: frozenset[str] = frozenset()
Created, Deleted, DataChanged, ChildrenChanged = (
    EventType.NodeCreated,
    EventType.NodeDeleted,
    EventType.NodeDataChanged,
    EventType.NodeChildrenChanged,
)


def fresh(profile: Profile = V3_9) -> tuple[Server, int, int]:
    """A server with ``/a`` and ``/a/b``; a writer session and a watcher session."""
    server = Server(profile)
    writer = server.connect()
    watcher = server.connect()
    server.mkdirs(writer, "/a", "/a/b")
    return server, writer, watcher


# --- which read sets which watch ----------------------------------------------------------


def test_exist_watch_set_on_missing_node_fires_on_create() -> None:
    server, writer, watcher = fresh()
    assert reply_of(server.call(watcher, Exists("/x", watch=True))).err == Code.NONODE
    assert server.watches(watcher, "/x") == (STANDARD, NONE)
    outcome = server.ok(writer, create("/x"))
    zxid = reply_of(outcome).zxid
    assert outcome.events == (WatchEvent(watcher, Created, "/x", zxid),)


def test_exists_and_get_data_set_data_watches_get_children_sets_a_child_watch() -> None:
    server, _, watcher = fresh()
    server.ok(watcher, Exists("/a", watch=True))
    assert server.watches(watcher, "/a") == (STANDARD, NONE)
    server.ok(watcher, GetData("/a/b", watch=True))
    assert server.watches(watcher, "/a/b") == (STANDARD, NONE)
    server.ok(watcher, GetChildren("/a/b", watch=True, with_stat=True))
    assert server.watches(watcher, "/a/b") == (STANDARD, STANDARD)


def test_reads_without_the_watch_flag_set_nothing() -> None:
    server, _, watcher = fresh()
    server.ok(watcher, Exists("/a"))
    server.ok(watcher, GetData("/a"))
    server.ok(watcher, GetChildren("/a"))
    assert watch_count(server.state) == 0


@pytest.mark.parametrize("op", [GetData("/nope", watch=True), GetChildren("/nope", watch=True)])
def test_get_data_and_get_children_of_a_missing_node_set_no_watch(
    op: GetData | GetChildren,
) -> None:
    server, writer, watcher = fresh()
    assert server.err(watcher, op) == Code.NONODE
    assert watch_count(server.state) == 0
    assert server.ok(writer, create("/nope")).events == ()


@pytest.mark.parametrize(
    "op", [GetData("/h", watch=True), GetChildren("/h", watch=True), Exists("/h", watch=True)]
)
def test_a_read_refused_by_acl_sets_no_watch(op: GetData | GetChildren | Exists) -> None:
    server, writer, watcher = fresh(V3_9)
    server.ok(writer, create("/h", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    assert server.err(watcher, op) == Code.NOAUTH
    assert watch_count(server.state) == 0


def test_3_8_exists_sets_its_watch_whatever_the_acl() -> None:
    server, writer, watcher = fresh(V3_8)
    server.ok(writer, create("/h", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    server.ok(watcher, Exists("/h", watch=True))
    assert server.watches(watcher, "/h") == (STANDARD, NONE)


def test_data_and_exist_watches_share_a_table_so_one_event_is_sent() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, Exists("/a", watch=True))
    server.ok(watcher, GetData("/a", watch=True))
    assert server.state.data_watches["/a"] == {watcher: STANDARD}
    outcome = server.ok(writer, SetData("/a", b"x"))
    assert events_of(outcome) == [(watcher, DataChanged, "/a")]


# --- which write fires what ---------------------------------------------------------------


def test_create_fires_node_created_then_the_parents_node_children_changed() -> None:
    server, writer, watcher = fresh()
    other = server.connect()
    server.call(watcher, Exists("/a/c", watch=True))
    server.ok(other, GetChildren("/a", watch=True))
    server.ok(watcher, GetChildren("/a", watch=True))
    outcome = server.ok(writer, create("/a/c"))
    assert events_of(outcome) == [
        (watcher, Created, "/a/c"),
        (watcher, ChildrenChanged, "/a"),
        (other, ChildrenChanged, "/a"),
    ]


def test_delete_fires_data_watches_then_child_watches_then_the_parent() -> None:
    server, writer, watcher = fresh()
    child_watcher = server.connect()
    parent_watcher = server.connect()
    server.ok(child_watcher, GetChildren("/a/b", watch=True))
    server.ok(watcher, GetData("/a/b", watch=True))
    server.ok(parent_watcher, GetChildren("/a", watch=True))
    outcome = server.ok(writer, Delete("/a/b"))
    zxid = reply_of(outcome).zxid
    assert outcome.events == (
        WatchEvent(watcher, Deleted, "/a/b", zxid),
        WatchEvent(child_watcher, Deleted, "/a/b", zxid),
        WatchEvent(parent_watcher, ChildrenChanged, "/a", zxid),
    )


def test_delete_notifies_a_connection_once_even_with_data_and_child_watches() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, Exists("/a/b", watch=True))
    server.ok(watcher, GetData("/a/b", watch=True))
    server.ok(watcher, GetChildren("/a/b", watch=True))
    outcome = server.ok(writer, Delete("/a/b"))
    assert events_of(outcome) == [(watcher, Deleted, "/a/b")]
    assert watch_count(server.state) == 0


def test_set_data_fires_node_data_changed_even_with_the_same_bytes() -> None:
    server, writer, watcher = fresh()
    server.ok(writer, SetData("/a", b"same"))
    server.ok(watcher, GetData("/a", watch=True))
    outcome = server.ok(writer, SetData("/a", b"same"))
    assert events_of(outcome) == [(watcher, DataChanged, "/a")]


def test_set_data_does_not_fire_child_watches() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetChildren("/a", watch=True))
    assert server.ok(writer, SetData("/a/b", b"x")).events == ()
    assert server.ok(writer, SetData("/a", b"x")).events == ()


def test_set_acl_sync_reads_and_failed_writes_fire_nothing() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(watcher, GetChildren("/a", watch=True))
    server.call(watcher, Exists("/a/x", watch=True))
    quiet = [
        server.ok(writer, SetACL("/a", (ACL(Perms.ALL, ANYONE_ID_UNSAFE),))),
        server.ok(writer, Sync("/a")),
        server.ok(writer, GetData("/a")),
        server.ok(writer, GetAllChildrenNumber("/a")),
        server.call(writer, SetData("/a", b"x", version=9)),
        server.call(writer, create("/a/b")),
        server.call(writer, Delete("/a")),
        server.call(writer, create("/a/x", mode=99)),
        server.call(writer, Multi((create("/a/x"), Delete("/nope")))),
    ]
    assert all(o.events == () for o in quiet)
    assert watch_count(server.state) == 3


def test_grandchild_changes_do_not_fire_child_watches() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetChildren("/a", watch=True))
    assert server.ok(writer, create("/a/b/c")).events == ()


def test_a_standard_watch_fires_at_most_once() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetData("/a", watch=True))
    first = server.ok(writer, SetData("/a", b"1"))
    second = server.ok(writer, SetData("/a", b"2"))
    assert events_of(first) == [(watcher, DataChanged, "/a")]
    assert second.events == ()


def test_the_writers_own_events_come_with_its_reply() -> None:
    server, writer, _ = fresh()
    server.ok(writer, GetData("/a", watch=True))
    outcome = server.ok(writer, SetData("/a", b"x"))
    assert events_of(outcome) == [(writer, DataChanged, "/a")]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_events_record_the_triggering_zxid_in_every_profile(profile: Profile) -> None:
    # 3.8 writes -1 on the wire (notification_zxid=False); the spec keeps the real zxid.
    server, writer, watcher = fresh(profile)
    server.ok(watcher, GetData("/a", watch=True))
    outcome = server.ok(writer, SetData("/a", b"x"))
    assert [e.zxid for e in outcome.events] == [reply_of(outcome).zxid]


# --- persistent and recursive watches -----------------------------------------------------


def test_persistent_watch_stays_and_fires_for_the_node_and_its_children() -> None:
    server, writer, watcher = fresh()
    reply = reply_of(server.call(watcher, AddWatch("/a", AddWatchMode.PERSISTENT)))
    assert reply.body == AddWatchResponse()
    persistent = frozenset({WatchMode.PERSISTENT})
    assert server.watches(watcher, "/a") == (persistent, persistent)
    assert events_of(server.ok(writer, SetData("/a", b"1"))) == [(watcher, DataChanged, "/a")]
    assert events_of(server.ok(writer, SetData("/a", b"2"))) == [(watcher, DataChanged, "/a")]
    assert events_of(server.ok(writer, create("/a/c"))) == [(watcher, ChildrenChanged, "/a")]
    assert server.ok(writer, create("/a/c/d")).events == ()  # not for grandchildren
    assert server.ok(writer, SetData("/a/c", b"")).events == ()  # nor children's data
    server.ok(writer, Delete("/a/c/d"))
    server.ok(writer, Delete("/a/c"))
    server.ok(writer, Delete("/a/b"))
    assert events_of(server.ok(writer, Delete("/a"))) == [(watcher, Deleted, "/a")]
    assert events_of(server.ok(writer, create("/a"))) == [(watcher, Created, "/a")]
    assert server.watches(watcher, "/a") == (persistent, persistent)


def test_persistent_recursive_watch_fires_for_descendants_never_children_changed() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    recursive = frozenset({WatchMode.PERSISTENT_RECURSIVE})
    assert server.watches(watcher, "/a") == (recursive, NONE)
    assert events_of(server.ok(writer, create("/a/b/c"))) == [(watcher, Created, "/a/b/c")]
    assert events_of(server.ok(writer, SetData("/a/b/c", b""))) == [
        (watcher, DataChanged, "/a/b/c")
    ]
    assert events_of(server.ok(writer, SetData("/a", b""))) == [(watcher, DataChanged, "/a")]
    assert events_of(server.ok(writer, Delete("/a/b/c"))) == [(watcher, Deleted, "/a/b/c")]
    assert server.ok(writer, create("/other")).events == ()
    assert server.ok(writer, create("/ab")).events == ()  # "/ab" is not below "/a"
    assert server.watches(watcher, "/a") == (recursive, NONE)


def test_add_watch_on_a_missing_path_is_fine() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, AddWatch("/x/y", AddWatchMode.PERSISTENT_RECURSIVE))
    server.ok(writer, create("/x"))
    outcome = server.ok(writer, create("/x/y"))
    assert events_of(outcome) == [(watcher, Created, "/x/y")]


@pytest.mark.parametrize("mode", [2, -1, 3])
def test_add_watch_with_an_unknown_mode_is_marshallingerror(mode: int) -> None:
    server, _, watcher = fresh()
    outcome = server.call(watcher, AddWatch("/a", mode))
    assert (reply_of(outcome).err, reply_of(outcome).zxid) == (
        Code.MARSHALLINGERROR,
        server.last_zxid,
    )
    assert watch_count(server.state) == 0


def test_one_trigger_notifies_each_connection_at_most_once() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, AddWatch("/", AddWatchMode.PERSISTENT_RECURSIVE))
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    server.ok(watcher, AddWatch("/a/c", AddWatchMode.PERSISTENT))
    server.call(watcher, Exists("/a/c", watch=True))
    outcome = server.ok(writer, create("/a/c"))
    assert events_of(outcome) == [(watcher, Created, "/a/c")]


def test_3_9_keeps_standard_and_persistent_watches_side_by_side() -> None:
    server, writer, watcher = fresh(V3_9)
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    assert server.watches(watcher, "/a")[0] == {WatchMode.STANDARD, WatchMode.PERSISTENT}
    assert events_of(server.ok(writer, SetData("/a", b""))) == [(watcher, DataChanged, "/a")]
    assert server.watches(watcher, "/a")[0] == {WatchMode.PERSISTENT}


def test_3_8_keeps_only_the_mode_set_last() -> None:
    server, writer, watcher = fresh(V3_8)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    server.ok(watcher, GetData("/a", watch=True))  # standard replaces persistent
    assert server.watches(watcher, "/a")[0] == STANDARD
    assert events_of(server.ok(writer, SetData("/a", b""))) == [(watcher, DataChanged, "/a")]
    assert server.ok(writer, SetData("/a", b"")).events == ()


def test_3_8_recursive_add_watch_replaces_a_standard_child_watch() -> None:
    server, writer, watcher = fresh(V3_8)
    server.ok(watcher, GetChildren("/a", watch=True))
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    outcome = server.ok(writer, create("/a/c"))
    assert events_of(outcome) == [(watcher, Created, "/a/c")]


# --- ACL filtering of events --------------------------------------------------------------


def test_events_are_filtered_by_the_watchers_read_permission_and_the_watch_is_used_up() -> None:
    server = Server(V3_8)  # 3.8 lets exists set a watch on a node the watcher cannot read
    writer = server.connect()
    watcher = server.connect()
    server.ok(writer, AddAuth("digest", b"alice:secret"))
    alice_only = (ACL(Perms.ALL, Id("digest", generate_digest("alice:secret"))),)
    server.ok(writer, create("/secret", acl=alice_only))
    server.ok(watcher, Exists("/secret", watch=True))
    assert server.ok(writer, SetData("/secret", b"x")).events == ()
    assert server.watches(watcher, "/secret") == (NONE, NONE)
    # The writer, who can read, is told.
    server.ok(writer, GetData("/secret", watch=True))
    assert events_of(server.ok(writer, SetData("/secret", b"y"))) == [
        (writer, DataChanged, "/secret")
    ]


def test_node_created_is_filtered_by_the_new_nodes_acl() -> None:
    server, writer, watcher = fresh()
    server.call(watcher, Exists("/x", watch=True))
    outcome = server.ok(writer, create("/x", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    assert outcome.events == ()
    assert server.watches(watcher, "/x") == (NONE, NONE)


def test_node_children_changed_is_filtered_by_the_parents_acl() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetChildren("/a", watch=True))
    server.ok(writer, SetACL("/a", (ACL(Perms.CREATE | Perms.DELETE, ANYONE_ID_UNSAFE),)))
    # The child is readable, the parent is not: no event.
    assert server.ok(writer, create("/a/c")).events == ()


def test_node_deleted_is_filtered_by_the_deleted_nodes_acl() -> None:
    server, writer, watcher = fresh()
    parent_watcher = server.connect()
    server.ok(watcher, GetData("/a/b", watch=True))
    server.ok(parent_watcher, GetChildren("/a", watch=True))
    server.ok(writer, SetACL("/a/b", (ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    outcome = server.ok(writer, Delete("/a/b"))
    assert events_of(outcome) == [(parent_watcher, ChildrenChanged, "/a")]


# --- removeWatches and checkWatches -------------------------------------------------------


def test_remove_watches_children_removes_the_child_watch_only() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(watcher, GetChildren("/a", watch=True))
    outcome = server.call(watcher, RemoveWatches("/a", WatcherType.Children))
    assert body(outcome, Empty) == Empty()
    assert outcome.events == ()  # the client makes the ...WatchRemoved event itself
    assert server.watches(watcher, "/a") == (STANDARD, NONE)
    assert server.ok(writer, create("/a/c")).events == ()


def test_remove_watches_data_removes_data_and_exist_watches() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, Exists("/a", watch=True))
    server.ok(watcher, GetChildren("/a", watch=True))
    server.ok(watcher, RemoveWatches("/a", WatcherType.Data))
    assert server.watches(watcher, "/a") == (NONE, STANDARD)
    assert server.ok(writer, SetData("/a", b"")).events == ()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_remove_watches_any_removes_every_watch_including_persistent(profile: Profile) -> None:
    server, writer, watcher = fresh(profile)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    server.ok(watcher, GetChildren("/a", watch=True))
    server.ok(watcher, RemoveWatches("/a", WatcherType.Any))
    assert server.watches(watcher, "/a") == (NONE, NONE)
    assert server.ok(writer, create("/a/c")).events == ()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("type_", [WatcherType.Children, WatcherType.Data, WatcherType.Any])
def test_remove_and_check_watches_with_nothing_to_match_are_nowatcher(
    profile: Profile, type_: WatcherType
) -> None:
    server, _, watcher = fresh(profile)
    other = server.connect()
    server.ok(other, GetData("/a", watch=True))
    server.ok(other, GetChildren("/a", watch=True))
    for op in (RemoveWatches("/a", type_), CheckWatches("/a", type_)):
        outcome = server.call(watcher, op)
        assert (reply_of(outcome).err, reply_of(outcome).zxid) == (
            Code.NOWATCHER,
            server.last_zxid,
        )
    assert server.watches(other, "/a") == (STANDARD, STANDARD)


def test_check_watches_tests_without_removing() -> None:
    server, _, watcher = fresh()
    server.ok(watcher, GetData("/a", watch=True))
    assert server.err(watcher, CheckWatches("/a", WatcherType.Data)) == Code.OK
    assert server.err(watcher, CheckWatches("/a", WatcherType.Any)) == Code.OK
    assert server.err(watcher, CheckWatches("/a", WatcherType.Children)) == Code.NOWATCHER
    assert server.watches(watcher, "/a") == (STANDARD, NONE)


def test_3_9_data_and_children_mean_standard_watches_only() -> None:
    server, _, watcher = fresh(V3_9)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    for type_ in (WatcherType.Data, WatcherType.Children):
        assert server.err(watcher, CheckWatches("/a", type_)) == Code.NOWATCHER
        assert server.err(watcher, RemoveWatches("/a", type_)) == Code.NOWATCHER
    assert server.err(watcher, CheckWatches("/a", WatcherType.Persistent)) == Code.OK
    assert server.err(watcher, CheckWatches("/a", WatcherType.PersistentRecursive)) == (
        Code.NOWATCHER
    )
    assert server.err(watcher, RemoveWatches("/a", WatcherType.Persistent)) == Code.OK
    assert server.watches(watcher, "/a") == (NONE, NONE)


def test_3_9_persistent_recursive_type_acts_on_recursive_watches() -> None:
    server, _, watcher = fresh(V3_9)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    server.ok(watcher, GetData("/a", watch=True))
    assert server.err(watcher, CheckWatches("/a", WatcherType.Persistent)) == Code.NOWATCHER
    assert server.err(watcher, RemoveWatches("/a", WatcherType.PersistentRecursive)) == Code.OK
    assert server.watches(watcher, "/a") == (STANDARD, NONE)


def test_3_8_data_and_children_act_on_any_mode_in_their_table() -> None:
    server, _, watcher = fresh(V3_8)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    assert server.err(watcher, CheckWatches("/a", WatcherType.Data)) == Code.OK
    assert server.err(watcher, CheckWatches("/a", WatcherType.Children)) == Code.OK
    assert server.err(watcher, RemoveWatches("/a", WatcherType.Children)) == Code.OK
    assert server.watches(watcher, "/a") == (frozenset({WatchMode.PERSISTENT}), NONE)


def test_3_8_check_watches_children_finds_a_recursive_watch() -> None:
    server, _, watcher = fresh(V3_8)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT_RECURSIVE))
    assert server.err(watcher, CheckWatches("/a", WatcherType.Data)) == Code.OK
    assert server.err(watcher, CheckWatches("/a", WatcherType.Children)) == Code.OK


@pytest.mark.xfail(
    strict=True,
    reason=(
        "deliberate divergence (spec/DIVERGENCES.md §7): 3.8's "
        "WatchManager.containsWatcher returns true when the path has "
        "watchers at all ('watchers != null'), without looking for this connection, so "
        "checkWatches succeeds on a path watched only by another session "
        "(release-3.8.0-1..3.8.6 watch/WatchManager.java containsWatcher)"
    ),
)
def test_3_8_check_watches_answers_ok_when_another_connection_watches_the_path() -> None:
    server, _, watcher = fresh(V3_8)
    other = server.connect()
    server.ok(other, GetData("/a", watch=True))
    assert server.err(watcher, CheckWatches("/a", WatcherType.Data)) == Code.OK


@pytest.mark.parametrize("type_", [4, 5])
def test_3_8_refuses_the_persistent_watcher_types(type_: int) -> None:
    server, _, watcher = fresh(V3_8)
    server.ok(watcher, AddWatch("/a", AddWatchMode.PERSISTENT))
    assert server.err(watcher, RemoveWatches("/a", type_)) == Code.MARSHALLINGERROR
    assert server.err(watcher, CheckWatches("/a", type_)) == Code.MARSHALLINGERROR


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("type_", [0, 6, -1])
def test_unknown_watcher_types_are_marshallingerror(profile: Profile, type_: int) -> None:
    server, _, watcher = fresh(profile)
    server.ok(watcher, GetData("/a", watch=True))
    assert server.err(watcher, RemoveWatches("/a", type_)) == Code.MARSHALLINGERROR
    assert server.err(watcher, CheckWatches("/a", type_)) == Code.MARSHALLINGERROR


# --- watches belong to the connection -----------------------------------------------------


def test_watches_are_dropped_with_the_connection() -> None:
    server, writer, watcher = fresh()
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(watcher, AddWatch("/", AddWatchMode.PERSISTENT_RECURSIVE))
    server.disconnect(watcher)
    assert watch_count(server.state) == 0
    server.reattach(watcher)
    assert server.ok(writer, SetData("/a", b"")).events == ()


# --- setWatches after a reconnect ---------------------------------------------------------


def reconnected(server: Server, watcher: int) -> None:
    server.disconnect(watcher)
    server.reattach(watcher)


def test_set_watches_data_path_missing_fires_node_deleted_now() -> None:
    server, writer, watcher = fresh()
    seen = server.last_zxid
    reconnected(server, watcher)
    server.ok(writer, Delete("/a/b"))
    outcome = server.ok(watcher, SetWatches(seen, data=("/a/b",)))
    assert outcome.events == (WatchEvent(watcher, Deleted, "/a/b", -1),)
    assert watch_count(server.state) == 0


def test_set_watches_data_path_changed_fires_node_data_changed_now() -> None:
    server, writer, watcher = fresh()
    seen = server.last_zxid
    reconnected(server, watcher)
    server.ok(writer, SetData("/a", b"changed"))
    outcome = server.ok(watcher, SetWatches(seen, data=("/a",)))
    assert outcome.events == (WatchEvent(watcher, DataChanged, "/a", -1),)


def test_set_watches_data_path_unchanged_is_re_armed() -> None:
    server, writer, watcher = fresh()
    server.ok(writer, SetData("/a", b"old"))
    seen = server.last_zxid
    reconnected(server, watcher)
    server.ok(writer, create("/a/c"))  # pzxid moves, mzxid does not
    outcome = server.ok(watcher, SetWatches(seen, data=("/a",)))
    assert outcome.events == ()
    assert server.watches(watcher, "/a") == (STANDARD, NONE)
    assert events_of(server.ok(writer, SetData("/a", b""))) == [(watcher, DataChanged, "/a")]


def test_set_watches_exist_path_that_exists_fires_node_created_regardless_of_zxid() -> None:
    server, _, watcher = fresh()
    reconnected(server, watcher)
    outcome = server.ok(watcher, SetWatches(server.last_zxid, exist=("/a",)))
    assert outcome.events == (WatchEvent(watcher, Created, "/a", -1),)


def test_set_watches_exist_path_missing_is_re_armed() -> None:
    server, writer, watcher = fresh()
    reconnected(server, watcher)
    server.ok(watcher, SetWatches(server.last_zxid, exist=("/x",)))
    assert events_of(server.ok(writer, create("/x"))) == [(watcher, Created, "/x")]


def test_node_created_and_deleted_while_away_is_missed_by_an_exist_watch() -> None:
    server, writer, watcher = fresh()
    server.call(watcher, Exists("/x", watch=True))
    seen = server.last_zxid
    server.disconnect(watcher)
    server.ok(writer, create("/x"))
    server.ok(writer, Delete("/x"))
    server.reattach(watcher)
    outcome = server.ok(watcher, SetWatches(seen, exist=("/x",)))
    assert outcome.events == ()


def test_set_watches_child_paths() -> None:
    server, writer, watcher = fresh()
    server.mkdirs(writer, "/p", "/q", "/r")
    seen = server.last_zxid
    reconnected(server, watcher)
    server.ok(writer, Delete("/p"))
    server.ok(writer, create("/q/c"))
    server.ok(writer, SetData("/r", b"data changes do not count"))
    outcome = server.ok(watcher, SetWatches(seen, child=("/p", "/q", "/r")))
    assert outcome.events == (
        WatchEvent(watcher, Deleted, "/p", -1),
        WatchEvent(watcher, ChildrenChanged, "/q", -1),
    )
    assert server.watches(watcher, "/r") == (NONE, STANDARD)


def test_set_watches_re_arms_persistent_and_recursive_watches_without_looking() -> None:
    server, writer, watcher = fresh()
    reconnected(server, watcher)
    outcome = server.ok(
        watcher, SetWatches(0, persistent=("/a", "/nope"), persistent_recursive=("/r",))
    )
    assert outcome.events == ()
    persistent = frozenset({WatchMode.PERSISTENT})
    assert server.watches(watcher, "/a") == (persistent, persistent)
    assert server.watches(watcher, "/nope") == (persistent, persistent)
    assert server.watches(watcher, "/r") == (frozenset({WatchMode.PERSISTENT_RECURSIVE}), NONE)
    assert events_of(server.ok(writer, create("/r"))) == [(watcher, Created, "/r")]


def test_set_watches_events_are_not_acl_filtered_and_come_before_the_reply() -> None:
    server, writer, watcher = fresh()
    server.ok(writer, create("/secret", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    reconnected(server, watcher)
    outcome = server.ok(watcher, SetWatches(0, data=("/secret",), exist=("/secret",)))
    assert events_of(outcome) == [(watcher, DataChanged, "/secret"), (watcher, Created, "/secret")]
    assert reply_of(outcome).zxid == server.last_zxid
    assert outcome.zxids == ()


def test_a_watch_set_through_the_empty_path_never_fires() -> None:
    # ZooKeeper keys the watch on the path as sent; no change is ever reported under "".
    server, writer, watcher = fresh()
    server.ok(watcher, GetData("", watch=True))
    server.ok(watcher, GetChildren("", watch=True))
    assert server.ok(writer, SetData("/", b"x")).events == ()
    assert server.ok(writer, create("/x")).events == ()


def test_ephemeral_mode_nodes_fire_like_any_other() -> None:
    server, writer, watcher = fresh()
    server.call(watcher, Exists("/e", watch=True))
    outcome = server.ok(writer, create("/e", mode=CreateMode.EPHEMERAL))
    assert events_of(outcome) == [(watcher, Created, "/e")]
