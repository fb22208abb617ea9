"""Tests of ``spec.state``: a fresh server, zxids, and copying the state."""

from __future__ import annotations

import copy

from spec.acl import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from spec.errors import Code
from spec.paths import CONFIG, QUOTA, ROOT, ZOOKEEPER
from spec.requests import GetChildren, GetChildrenResponse, GetData, GetDataResponse
from spec.stat import Stat
from spec.state import Config, initial_state
from spec.zxid import make_zxid, zxid_counter, zxid_epoch
from tests.spec.helpers import Server, body, create, reply_of

ZERO_STAT = dict(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, aversion=0, ephemeralOwner=0)


def test_fresh_server_holds_the_four_system_znodes() -> None:
    state = initial_state()
    assert set(state.nodes) == {ROOT, ZOOKEEPER, QUOTA, CONFIG}
    assert state.nodes[ROOT].children == {"zookeeper"}
    assert state.nodes[ZOOKEEPER].children == {"quota", "config"}
    for path in (ROOT, ZOOKEEPER, QUOTA, CONFIG):
        assert state.nodes[path].data == b""
    assert state.nodes[CONFIG].acl == READ_ACL_UNSAFE
    assert state.nodes[ROOT].acl == OPEN_ACL_UNSAFE
    assert state.nodes[ZOOKEEPER].acl == OPEN_ACL_UNSAFE
    assert state.nodes[QUOTA].acl == OPEN_ACL_UNSAFE
    assert state.sessions == {}
    assert state.last_zxid == 0


def test_root_cversion_is_minus_one_on_fresh_server() -> None:
    state = initial_state()
    assert state.nodes[ROOT].stat() == Stat(
        **ZERO_STAT, cversion=-1, dataLength=0, numChildren=1, pzxid=0
    )


def test_zookeeper_node_cversion_is_minus_two_on_fresh_server() -> None:
    state = initial_state()
    assert state.nodes[ZOOKEEPER].stat() == Stat(
        **ZERO_STAT, cversion=-2, dataLength=0, numChildren=2, pzxid=0
    )
    assert state.nodes[QUOTA].stat() == Stat(
        **ZERO_STAT, cversion=0, dataLength=0, numChildren=0, pzxid=0
    )


def test_system_znodes_are_visible_to_clients() -> None:
    server = Server()
    sid = server.connect()
    root = body(server.call(sid, GetData("/")), GetDataResponse)
    assert root.data == b"" and root.stat.cversion == -1
    names = body(server.call(sid, GetChildren("/zookeeper")), GetChildrenResponse).children
    assert set(names) == {"quota", "config"}
    config = body(server.call(sid, GetData("/zookeeper/config")), GetDataResponse)
    assert config.data == b""


def test_config_znode_is_read_only_for_everyone() -> None:
    server = Server()
    sid = server.connect()
    assert server.err(sid, create("/zookeeper/config/x")) == Code.NOAUTH


def test_first_child_of_the_root_makes_its_cversion_zero() -> None:
    # Stored creates 0 -> 1, children 1 -> 2: 2 * 1 - 2 = 0.
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/a"))
    assert server.stat("/").cversion == 0


def test_zxid_is_epoch_and_counter() -> None:
    zxid = make_zxid(3, 7)
    assert zxid == (3 << 32) | 7
    assert (zxid_epoch(zxid), zxid_counter(zxid)) == (3, 7)


def test_each_write_takes_the_next_counter_of_the_current_epoch() -> None:
    state = initial_state(epoch=5)
    assert state.last_zxid == make_zxid(5, 0)
    assert state.next_zxid() == make_zxid(5, 1)
    assert state.next_zxid() == make_zxid(5, 2)
    assert state.epoch == 5


def test_a_server_started_in_a_later_epoch_numbers_writes_in_it() -> None:
    server = Server()
    server.state = initial_state(Config(), epoch=2)
    sid = server.connect()
    reply = reply_of(server.ok(sid, create("/a")))
    assert reply.zxid == make_zxid(2, 2)
    assert server.stat("/a").czxid == make_zxid(2, 2)


def test_clone_shares_no_mutable_container() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, GetData("/", watch=True))
    state = server.state
    snapshot = copy.deepcopy(state)
    clone = state.clone()
    clone.nodes.pop(QUOTA)
    clone.sessions.clear()
    clone.data_watches["/"].clear()
    clone.next_zxid()
    assert state == snapshot


def test_config_timeout_bounds_default_to_two_and_twenty_ticks() -> None:
    config = Config(tick_time_ms=3000)
    assert (config.min_timeout, config.max_timeout) == (6000, 60000)
    config = Config(tick_time_ms=3000, min_session_timeout_ms=100, max_session_timeout_ms=-1)
    assert (config.min_timeout, config.max_timeout) == (100, 60000)
