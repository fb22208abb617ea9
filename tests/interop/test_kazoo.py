"""kazoo, unchanged, against a zkref process: the API a Python application uses."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
    RolledBackError,
    UnimplementedError,
)
from kazoo.protocol.states import EventType
from kazoo.security import ACL, CREATOR_ALL_ACL, Id, Permissions, make_digest_acl

from tests.interop.conftest import KazooFactory
from tests.support.proxy import PartitionProxy
from tests.support.rawclient import connected, four_letter_word
from tests.support.servers import ServerProcess, wait_until

EVENT_TIMEOUT_S = 5.0


class Events:
    """Collects watch events from kazoo's thread; ``wait`` for the next one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._condition = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._condition:
            self.items.append(event)
            self._condition.notify_all()

    def wait(self, count: int = 1) -> list[Any]:
        with self._condition:
            ok = self._condition.wait_for(lambda: len(self.items) >= count, EVENT_TIMEOUT_S)
        assert ok, f"expected {count} events, got {self.items}"
        return list(self.items)


def test_create_in_every_mode_kazoo_knows(zk: Any, root_path: str) -> None:
    assert zk.create(f"{root_path}/a/b/c", b"deep", makepath=True) == f"{root_path}/a/b/c"
    assert zk.create(f"{root_path}/eph", b"e", ephemeral=True) == f"{root_path}/eph"
    first = zk.create(f"{root_path}/seq-", b"", sequence=True)
    second = zk.create(f"{root_path}/seq-", b"", sequence=True)
    assert first == f"{root_path}/seq-0000000002"
    assert second == f"{root_path}/seq-0000000003"
    both = zk.create(f"{root_path}/es-", b"", ephemeral=True, sequence=True)
    assert both.startswith(f"{root_path}/es-00000000")
    assert zk.get(f"{root_path}/eph")[1].ephemeralOwner == zk.client_id[0]
    with pytest.raises(NodeExistsError):
        zk.create(f"{root_path}/eph")
    with pytest.raises(NoNodeError):
        zk.create(f"{root_path}/missing/child")


def test_create_include_data_returns_the_stat(zk: Any, root_path: str) -> None:
    path, stat = zk.create(root_path, b"12345", include_data=True)
    assert path == root_path
    assert stat.dataLength == 5 and stat.version == 0


def test_get_set_with_versions(zk: Any, root_path: str) -> None:
    zk.create(root_path, b"v0")
    data, stat = zk.get(root_path)
    assert (data, stat.version) == (b"v0", 0)
    stat = zk.set(root_path, b"v1", version=0)
    assert stat.version == 1
    with pytest.raises(BadVersionError):
        zk.set(root_path, b"stale", version=0)
    assert zk.get(root_path)[0] == b"v1"
    zk.set(root_path, b"any")  # version -1
    assert zk.get(root_path)[1].version == 2


def test_delete_exists_and_get_children(zk: Any, root_path: str) -> None:
    zk.ensure_path(f"{root_path}/x")
    zk.create(f"{root_path}/y", b"")
    assert sorted(zk.get_children(root_path)) == ["x", "y"]
    children, stat = zk.get_children(root_path, include_data=True)
    assert (sorted(children), stat.numChildren) == (["x", "y"], 2)
    with pytest.raises(NotEmptyError):
        zk.delete(root_path)
    with pytest.raises(BadVersionError):
        zk.delete(f"{root_path}/x", version=5)
    zk.delete(f"{root_path}/x")
    assert zk.exists(f"{root_path}/x") is None
    assert zk.exists(f"{root_path}/y") is not None
    zk.delete(root_path, recursive=True)
    assert zk.exists(root_path) is None
    with pytest.raises(NoNodeError):
        zk.delete(root_path)


def test_transaction_commits_all_or_nothing(zk: Any, root_path: str) -> None:
    zk.create(root_path, b"")
    transaction = zk.transaction()
    transaction.create(f"{root_path}/t1", b"one")
    transaction.check(root_path, 0)
    transaction.set_data(root_path, b"changed")
    transaction.create(f"{root_path}/t2", b"two")
    transaction.delete(f"{root_path}/t2")
    results = transaction.commit()
    assert results[0] == f"{root_path}/t1"
    assert results[1:] == [True, results[2], f"{root_path}/t2", True]
    assert zk.get(root_path)[0] == b"changed"

    failing = zk.transaction()
    failing.create(f"{root_path}/t3", b"")
    failing.check(root_path, 0)  # the version is 1 now
    results = failing.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert zk.exists(f"{root_path}/t3") is None


def test_data_watches_fire_once_per_change(
    zk: Any, kazoo_factory: KazooFactory, root_path: str
) -> None:
    other = kazoo_factory()
    zk.create(root_path, b"0")
    events = Events()
    zk.get(root_path, watch=events)
    other.set(root_path, b"1")
    (changed,) = events.wait(1)
    assert (changed.type, changed.path) == (EventType.CHANGED, root_path)
    other.set(root_path, b"2")  # the watch was one-shot
    # A notification for that change would come before the reply to a later request, and
    # kazoo runs watch callbacks one at a time in arrival order: once a later watch's
    # callback has run, any callback for the second change has too.
    marker = Events()
    zk.exists(root_path, watch=marker)
    other.set(root_path, b"3")
    marker.wait(1)
    assert len(events.items) == 1

    created = Events()
    assert zk.exists(f"{root_path}/later", watch=created) is None
    other.create(f"{root_path}/later")
    assert created.wait(1)[0].type == EventType.CREATED

    deleted = Events()
    zk.get(f"{root_path}/later", watch=deleted)
    other.delete(f"{root_path}/later")
    assert deleted.wait(1)[0].type == EventType.DELETED


def test_child_watches_fire_on_create_and_delete(
    zk: Any, kazoo_factory: KazooFactory, root_path: str
) -> None:
    other = kazoo_factory()
    zk.create(root_path)
    events = Events()
    assert zk.get_children(root_path, watch=events) == []
    other.create(f"{root_path}/kid")
    (event,) = events.wait(1)
    assert (event.type, event.path) == (EventType.CHILD, root_path)
    again = Events()
    zk.get_children(root_path, watch=again)
    other.delete(f"{root_path}/kid")
    assert again.wait(1)[0].type == EventType.CHILD


def test_ephemerals_vanish_when_the_session_closes(
    zk: Any, kazoo_factory: KazooFactory, root_path: str
) -> None:
    zk.create(root_path)
    owner = kazoo_factory()
    owner.create(f"{root_path}/mine", ephemeral=True)
    events = Events()
    assert zk.exists(f"{root_path}/mine", watch=events) is not None
    owner.stop()
    assert events.wait(1)[0].type == EventType.DELETED
    assert zk.exists(f"{root_path}/mine") is None


def test_digest_acls_and_add_auth(zk: Any, kazoo_factory: KazooFactory, root_path: str) -> None:
    acl = make_digest_acl("alice", "secret", all=True)
    owner = kazoo_factory(auth_data=[("digest", "alice:secret")])
    owner.create(root_path, b"private", acl=[acl])
    assert owner.get(root_path)[0] == b"private"
    with pytest.raises(NoAuthError):
        zk.get(root_path)
    with pytest.raises(NoAuthError):
        zk.set(root_path, b"nope")
    with pytest.raises(NoAuthError):
        zk.get_acls(root_path)  # 3.9: reading an ACL needs READ or ADMIN
    assert owner.get_acls(root_path)[0][0].id.scheme == "digest"
    zk.add_auth("digest", "alice:secret")
    assert zk.get(root_path)[0] == b"private"
    zk.set(root_path, b"now mine too")
    mallory = kazoo_factory(auth_data=[("digest", "mallory:guess")])
    with pytest.raises(NoAuthError):
        mallory.set(root_path, b"guessed")


def test_kazoo_creator_all_acl_gives_the_node_to_its_authenticated_creator(
    zk: Any, kazoo_factory: KazooFactory, root_path: str
) -> None:
    # kazoo writes an empty string as null: CREATOR_ALL_ACL goes out as auth with a null id.
    assert CREATOR_ALL_ACL[0].id == Id("auth", "")
    with pytest.raises(InvalidACLError):
        zk.create(root_path, b"", acl=CREATOR_ALL_ACL)  # no authenticated id to expand to
    zk.add_auth("digest", "carol:pw")
    zk.create(root_path, b"mine", acl=CREATOR_ALL_ACL)
    acls, _ = zk.get_acls(root_path)
    assert [(a.perms, a.id.scheme, a.id.id.split(":")[0]) for a in acls] == [
        (Permissions.ALL, "digest", "carol")
    ]
    with pytest.raises(NoAuthError):
        kazoo_factory().get(root_path)


def test_set_acls_changes_who_may_read(
    zk: Any, kazoo_factory: KazooFactory, root_path: str
) -> None:
    zk.create(root_path, b"open")
    zk.add_auth("digest", "bob:pw")
    zk.set_acls(root_path, [make_digest_acl("bob", "pw", read=True, write=True, admin=True)])
    outsider = kazoo_factory()
    with pytest.raises(NoAuthError):
        outsider.get(root_path)
    assert zk.get_acls(root_path)[1].aversion == 1


def test_sync_and_server_version(zk: Any, root_path: str) -> None:
    zk.create(root_path)
    assert zk.sync(root_path) == root_path
    assert zk.server_version()[:2] == (3, 9)


def test_reconnect_keeps_the_session_and_its_ephemerals(
    zkref_process: ServerProcess, kazoo_factory: KazooFactory, root_path: str
) -> None:
    with PartitionProxy(zkref_process.host, zkref_process.port) as proxy:
        client = kazoo_factory(hosts=proxy.address, timeout=10.0)
        client.create(root_path, ephemeral=True)
        session_before = client.client_id[0]
        states: list[str] = []
        client.add_listener(states.append)
        proxy.drop_connections()  # the connection drops; the session does not
        wait_until(lambda: KazooState.SUSPENDED in states, EVENT_TIMEOUT_S)
        wait_until(lambda: client.connected and states[-1] == KazooState.CONNECTED, 10)
        assert client.client_id[0] == session_before
        assert client.exists(root_path) is not None


@pytest.mark.slow
def test_ephemerals_vanish_when_the_session_expires(
    zkref_fast_sessions: ServerProcess,
) -> None:
    server = zkref_fast_sessions
    observer = KazooClient(hosts=server.address, timeout=1.0)
    observer.start(timeout=10)
    try:
        with PartitionProxy(server.host, server.port) as proxy:
            client = KazooClient(hosts=proxy.address, timeout=1.0)
            states: list[str] = []
            client.add_listener(states.append)
            client.start(timeout=10)
            try:
                session_before = client.client_id[0]
                client.create("/expiring", ephemeral=True)
                gone = Events()
                assert observer.exists("/expiring", watch=gone) is not None
                proxy.partitioned = True
                assert gone.wait(1)[0].type == EventType.DELETED  # expired on the server
                proxy.partitioned = False
                wait_until(lambda: KazooState.LOST in states, 10)
                wait_until(lambda: client.connected, 10)
                assert client.client_id[0] != session_before  # kazoo made a new session
                assert client.exists("/expiring") is None
            finally:
                client.stop()
                client.close()
    finally:
        observer.stop()
        observer.close()


@pytest.mark.slow
def test_an_abandoned_raw_session_expires_within_timeout_plus_a_tick(
    zkref_fast_sessions: ServerProcess,
) -> None:
    server = zkref_fast_sessions
    observer = KazooClient(hosts=server.address, timeout=1.0)
    observer.start(timeout=10)
    try:
        owner = connected(server.host, server.port, timeout_ms=400)
        assert owner.timeout_ms == 400
        owner.create("/raw-ephemeral", flags=1)
        gone = Events()
        assert observer.exists("/raw-ephemeral", watch=gone) is not None
        started = time.monotonic()
        owner.close()
        gone.wait(1)
        elapsed_ms = (time.monotonic() - started) * 1000
        assert 300 <= elapsed_ms <= 400 + 200 + 500
    finally:
        observer.stop()
        observer.close()


def test_many_kazoo_clients_at_once(kazoo_factory: KazooFactory, root_path: str) -> None:
    clients = [kazoo_factory() for _ in range(20)]
    clients[0].create(root_path)
    for index, client in enumerate(clients):
        client.create(f"{root_path}/c{index}", ephemeral=True)
    assert len(clients[-1].get_children(root_path)) == 20


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_kazoo_over_ipv6_loopback_with_ip_acls(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.host = "::1"
    with server:
        zk = KazooClient(hosts=f"[::1]:{server.port}", timeout=10)
        zk.start(timeout=10)
        try:
            zk.create("/v6", b"here", ephemeral=True)
            assert zk.get("/v6")[0] == b"here"
            # ip ACLs see the client's IPv6 address (profile 3.9: IPv6 ip ACLs).
            zk.create("/mine", b"m", acl=[ACL(Permissions.READ, Id("ip", "::1"))])
            assert zk.get("/mine")[0] == b"m"
            zk.create("/v4-only", b"4", acl=[ACL(Permissions.READ, Id("ip", "127.0.0.1"))])
            with pytest.raises(NoAuthError):
                zk.get("/v4-only")
        finally:
            zk.stop()
            zk.close()
        assert four_letter_word("::1", server.port, "ruok") == "imok"


@pytest.mark.parametrize(
    ("zoo_cfg", "refusal"),
    [("", ReconfigDisabledError), ("reconfigEnabled=true\n", UnimplementedError)],
)
def test_reconfig_answers_as_a_standalone_apache_server_with_the_same_zoo_cfg(
    tmp_path: Path, zoo_cfg: str, refusal: type[Exception]
) -> None:
    # Apache ZooKeeper 3.8 standalone, as kazoo's own TestReconfig sees it: RECONFIGDISABLED
    # unless zoo.cfg says reconfigEnabled=true, then UNIMPLEMENTED (not a leader).
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(zoo_cfg)
    with ServerProcess(tmp_path, ["--config", str(cfg)]) as server:
        zk = KazooClient(hosts=server.address, timeout=10)
        zk.start(timeout=10)
        try:
            with pytest.raises(refusal):
                zk.reconfig(joining="server.9=127.0.0.1:1:2;3", leaving=None, new_members=None)
        finally:
            zk.stop()
            zk.close()
