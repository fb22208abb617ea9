"""Tests of ``spec.reaping``: time, session expiry, and the reaping of containers and TTL nodes."""

from __future__ import annotations

import pytest

from spec.events import EventType, WatchEvent
from spec.machine import InputError
from spec.modes import CreateMode
from spec.reaping import advance, reap_candidates
from spec.requests import Delete, Exists, GetChildren, SetData
from tests.spec.helpers import (
    START_MS,
    Server,
    create,
    create_container,
    create_ttl,
)

INTERVAL_MS = 5000


def fresh(**config: int) -> tuple[Server, int]:
    config.setdefault("container_check_interval_ms", INTERVAL_MS)
    server = Server(**config)  # type: ignore[arg-type]
    return server, server.connect(40_000)


def used_container(server: Server, sid: int, path: str) -> None:
    server.ok(sid, create_container(path))
    server.ok(sid, create(path + "/child"))
    server.ok(sid, Delete(path + "/child"))


def test_first_check_runs_one_interval_after_start() -> None:
    server = Server()  # default interval: 60 s
    sid = server.connect(40_000)
    used_container(server, sid, "/c")
    server.tick_to(START_MS + 39_000)
    server.ok(sid, Exists("/c"))  # keep the session alive
    server.tick_to(START_MS + 59_999)
    assert server.exists("/c")
    server.tick_to(START_MS + 60_000)
    assert not server.exists("/c")


def test_container_reaped_after_last_child_deleted() -> None:
    server, sid = fresh()
    watcher = server.connect(40_000)
    server.mkdirs(sid, "/p")
    used_container(server, sid, "/p/c")
    server.ok(watcher, Exists("/p/c", watch=True))
    server.ok(watcher, GetChildren("/p", watch=True))
    before = server.last_zxid
    outcome = server.tick_to(START_MS + INTERVAL_MS)
    zxid = before + 1
    assert outcome.zxids == (zxid,)
    assert outcome.reply is None
    assert outcome.events == (
        WatchEvent(watcher, EventType.NodeDeleted, "/p/c", zxid),
        WatchEvent(watcher, EventType.NodeChildrenChanged, "/p", zxid),
    )
    assert not server.exists("/p/c")
    assert server.stat("/p").pzxid == zxid


def test_container_with_children_is_kept() -> None:
    server, sid = fresh()
    server.ok(sid, create_container("/c"))
    server.ok(sid, create("/c/child"))
    server.tick(3 * INTERVAL_MS)
    assert server.exists("/c")
    server.ok(sid, Delete("/c/child"))
    server.tick(INTERVAL_MS)
    assert not server.exists("/c")


def test_never_used_container_is_kept_by_default() -> None:
    server, sid = fresh()
    server.ok(sid, create_container("/c"))
    for _ in range(6):
        server.tick(INTERVAL_MS)
        server.ok(sid, Exists("/c"))
    assert server.exists("/c")


def test_never_used_container_is_reaped_once_older_than_max_never_used_interval() -> None:
    server, sid = fresh(container_max_never_used_interval_ms=2 * INTERVAL_MS)
    server.ok(sid, create_container("/c"))  # mtime = START_MS
    server.tick_to(START_MS + 2 * INTERVAL_MS)  # elapsed 10 s: not more than 10 s
    assert server.exists("/c")
    server.tick_to(START_MS + 3 * INTERVAL_MS)
    assert not server.exists("/c")


def test_ttl_node_reaped_when_unmodified_for_longer_than_its_ttl() -> None:
    server, sid = fresh()
    server.ok(sid, create_ttl("/t", 2 * INTERVAL_MS))
    server.tick_to(START_MS + 2 * INTERVAL_MS)  # elapsed equals the TTL: kept
    assert server.exists("/t")
    server.tick_to(START_MS + 3 * INTERVAL_MS)
    assert not server.exists("/t")


def test_set_data_renews_a_ttl_node_and_child_changes_do_not() -> None:
    server, sid = fresh()
    server.ok(sid, create_ttl("/t", 2 * INTERVAL_MS))
    server.tick_to(START_MS + 8000)
    server.ok(sid, SetData("/t", b"touch"))  # mtime = START + 8000
    server.ok(sid, create("/t/c"))
    server.ok(sid, Delete("/t/c"))
    server.tick_to(START_MS + 3 * INTERVAL_MS)  # elapsed 7 s
    assert server.exists("/t")
    server.tick_to(START_MS + 4 * INTERVAL_MS)  # elapsed 12 s
    assert not server.exists("/t")


def test_ttl_node_with_children_never_reaped() -> None:
    server, sid = fresh()
    server.ok(sid, create_ttl("/t", 1))
    server.ok(sid, create("/t/c"))
    for _ in range(5):
        server.tick(INTERVAL_MS)
        server.ok(sid, Exists("/t"))
    assert server.exists("/t")
    server.ok(sid, Delete("/t/c"))
    server.tick(INTERVAL_MS)
    assert not server.exists("/t")


def test_sequential_ttl_nodes_are_reaped_too() -> None:
    server, sid = fresh()
    server.ok(sid, create_ttl("/t-", 1, mode=CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL))
    assert server.exists("/t-0000000000")
    server.tick(INTERVAL_MS)
    assert not server.exists("/t-0000000000")


def test_persistent_and_ephemeral_nodes_are_never_reaped() -> None:
    server, sid = fresh()
    server.ok(sid, create("/p"))
    server.ok(sid, create("/p/x"))
    server.ok(sid, Delete("/p/x"))
    server.ok(sid, create("/e", mode=CreateMode.EPHEMERAL))
    server.ok(sid, create("/c", mode=CreateMode.CONTAINER))  # create (1): a persistent node
    server.ok(sid, create("/c/x"))
    server.ok(sid, Delete("/c/x"))
    assert reap_candidates(server.state) == []
    server.tick(INTERVAL_MS)
    assert server.exists("/p") and server.exists("/e") and server.exists("/c")


def test_reaped_nodes_each_take_their_own_zxid_in_path_order() -> None:
    server, sid = fresh()
    watcher = server.connect(40_000)
    used_container(server, sid, "/c2")
    used_container(server, sid, "/c1")
    server.ok(sid, create_ttl("/t", 1))
    for path in ("/c1", "/c2", "/t"):
        server.ok(watcher, Exists(path, watch=True))
    assert reap_candidates(server.state) == ["/c1", "/c2"]
    before = server.last_zxid
    outcome = server.tick(INTERVAL_MS)
    assert outcome.zxids == (before + 1, before + 2, before + 3)
    assert outcome.events == (
        WatchEvent(watcher, EventType.NodeDeleted, "/c1", before + 1),
        WatchEvent(watcher, EventType.NodeDeleted, "/c2", before + 2),
        WatchEvent(watcher, EventType.NodeDeleted, "/t", before + 3),
    )


def test_expiries_come_before_checks_due_at_the_same_instant() -> None:
    server, sid = fresh(container_check_interval_ms=6000)
    owner = server.connect(4000)  # deadline START + 6000, the first check's time
    server.ok(sid, create_container("/c"))
    server.ok(owner, create("/c/e", mode=CreateMode.EPHEMERAL))
    before = server.last_zxid
    outcome = server.tick_to(START_MS + 6000)
    # The expiry deletes the container's only child, then the check reaps the container.
    assert outcome.zxids == (before + 1, before + 2)
    assert not server.exists("/c")


def test_a_long_tick_runs_every_check_it_passes() -> None:
    server, sid = fresh()
    server.ok(sid, create_ttl("/t", 7000))
    outcome = server.tick(4 * INTERVAL_MS + 1)
    assert len(outcome.zxids) == 1  # the TTL node, at the second check
    assert server.state.next_container_check == START_MS + 5 * INTERVAL_MS
    assert server.now == START_MS + 4 * INTERVAL_MS + 1


def test_a_quiet_tick_takes_no_zxid_and_moves_the_clock() -> None:
    server, _ = fresh()
    before = server.last_zxid
    outcome = server.tick(1234)
    assert outcome.zxids == () and outcome.events == () and outcome.reply is None
    assert server.last_zxid == before
    assert server.now == START_MS + 1234


def test_time_only_moves_forward() -> None:
    server, _ = fresh()
    server.tick(10)
    with pytest.raises(InputError):
        server.tick_to(server.now - 1)
    with pytest.raises(ValueError):
        advance(server.state.clone(), server.now - 1, [])
    server.tick_to(server.now)  # standing still is fine
