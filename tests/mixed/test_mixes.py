"""Both mixes of zkref and Apache ZooKeeper 3.8 servers are one ensemble: they form with the
leader ZAB's election gives (the highest id on a fresh start, whatever its kind), a write at
any server is read at every other after a sync, kazoo's everyday operations behave through
the three-server connect string as in an all-Apache ensemble (ephemerals, sequential nodes,
watches, multi), a session moves between servers of both kinds with its ephemerals, and
three kill -9s of the leader lose no acknowledged write, whichever kind leads.

Each mix is one module-scoped ensemble (``conftest.mix``); tests leave it whole.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from kazoo.exceptions import BadVersionError, NoNodeError
from kazoo.protocol.states import EventType

from tests.ensemble.failover import Writer, kill_during_writes, node_contents
from tests.mixed.conftest import KazooFactory
from tests.mixed.ensemble import APACHE, ZKREF, MixedEnsemble

EVENT_TIMEOUT_S = 10.0
KILLS = 3


def _kinds(mix: MixedEnsemble) -> str:
    return "".join("Z" if m.kind == ZKREF else "A" for m in mix)


def _one_zkref_and_one_apache(mix: MixedEnsemble) -> tuple[int, int]:
    return mix.sids_of(ZKREF)[0], mix.sids_of(APACHE)[0]


def test_the_mix_forms_and_the_highest_id_leads_whatever_its_kind(mix: MixedEnsemble) -> None:
    modes = mix.modes()
    assert sorted(str(mode) for mode in modes.values()) == ["follower", "follower", "leader"]
    # A fresh start: every zxid is 0, so the highest id wins (totalOrderPredicate).
    assert mix.leader() == 3
    expected = ZKREF if _kinds(mix) == "AAZ" else APACHE
    assert mix.kind_of(3) == expected
    print(f"\n{_kinds(mix)} formed in {mix.formed_in_s:.2f} s: {modes}")


def test_a_write_at_any_server_is_read_at_every_other_after_sync(
    mix: MixedEnsemble, kazoo_factory: KazooFactory, root_path: str
) -> None:
    clients = {sid: kazoo_factory(mix[sid].address) for sid in mix.running()}
    clients[1].ensure_path(root_path)
    for writer_sid, writer in clients.items():
        path = f"{root_path}/from-{writer_sid}"
        writer.create(path, f"written at {mix.kind_of(writer_sid)} {writer_sid}".encode())
        for reader_sid, reader in clients.items():
            reader.sync(path)
            data, stat = reader.get(path)
            assert data == f"written at {mix.kind_of(writer_sid)} {writer_sid}".encode()
            assert stat.version == 0, (reader_sid, stat)
    # Every server holds the same znodes with the same stats (the leader's zxids and times).
    stats = {
        sid: sorted(
            (name, client.exists(f"{root_path}/{name}")) for name in client.get_children(root_path)
        )
        for sid, client in clients.items()
    }
    assert len({repr(s) for s in stats.values()}) == 1, stats


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(EVENT_TIMEOUT_S), f"no {what} within {EVENT_TIMEOUT_S} s"


def test_kazoo_smoke_through_the_three_server_connect_string(
    mix: MixedEnsemble, kazoo_factory: KazooFactory, root_path: str
) -> None:
    """create, ephemeral, sequential, watch and multi, with one client on each server and
    one through the connect string: what one does, the others see as Apache's would."""
    connected = kazoo_factory(mix.connect_string)
    pinned = {sid: kazoo_factory(mix[sid].address) for sid in mix.running()}
    zkref_sid, apache_sid = _one_zkref_and_one_apache(mix)
    connected.create(root_path, b"root")

    # Sequential nodes from every server under one parent: one counter, no gaps.
    names = [
        client.create(f"{root_path}/seq-", b"", sequence=True) for client in pinned.values()
    ] + [connected.create(f"{root_path}/seq-", b"", sequence=True)]
    assert names == [f"{root_path}/seq-{n:010d}" for n in range(len(names))], names

    # Watches set on each server fire once for a change made at a server of the other kind.
    fired: dict[int, list[Any]] = {sid: [] for sid in pinned}
    events = {sid: threading.Event() for sid in pinned}
    for sid, client in pinned.items():
        client.sync(root_path)

        def watch(event: Any, sid: int = sid) -> None:
            fired[sid].append(event)
            events[sid].set()

        client.get(root_path, watch=watch)
    pinned[apache_sid].set(root_path, b"changed at apache")
    for sid, event in events.items():
        _wait(event, f"data watch on server {sid}")
    for sid, got in fired.items():
        assert [(e.type, e.path) for e in got] == [(EventType.CHANGED, root_path)], (sid, got)

    # An ephemeral created at zkref is seen at Apache; its session's close deletes it, and
    # an exists watch at Apache sees the deletion.
    owner = kazoo_factory(mix[zkref_sid].address)
    owner.create(f"{root_path}/ephemeral", b"mine", ephemeral=True)
    deleted = threading.Event()
    watcher = pinned[apache_sid]
    watcher.sync(root_path)
    stat = watcher.exists(f"{root_path}/ephemeral", watch=lambda event: deleted.set())
    assert stat is not None and stat.ephemeralOwner == owner.client_id[0]
    owner.stop()
    _wait(deleted, "NodeDeleted of the closed session's ephemeral")
    for client in pinned.values():
        client.sync(root_path)
        assert client.exists(f"{root_path}/ephemeral") is None

    # multi at each kind: all or nothing, seen everywhere.
    for sid in (zkref_sid, apache_sid):
        client = pinned[sid]
        transaction = client.transaction()
        transaction.create(f"{root_path}/multi-{sid}", b"a")
        transaction.set_data(root_path, b"multi", version=-1)
        transaction.check(f"{root_path}/multi-{sid}", 0)
        results = transaction.commit()
        assert results[0] == f"{root_path}/multi-{sid}", results
        failing = client.transaction()
        failing.create(f"{root_path}/never-{sid}", b"")
        failing.check(root_path, 12345)
        outcome = failing.commit()
        assert isinstance(outcome[1], BadVersionError), outcome
    for client in [*pinned.values(), connected]:
        client.sync(root_path)
        children = sorted(client.get_children(root_path))
        assert f"multi-{zkref_sid}" in children and f"multi-{apache_sid}" in children
        assert not [c for c in children if c.startswith("never-")], children
        with_seq = [c for c in children if c.startswith("seq-")]
        assert len(with_seq) == len(names)


def test_a_session_moves_between_kinds_with_its_ephemerals_and_ends_everywhere(
    mix: MixedEnsemble, kazoo_factory: KazooFactory, root_path: str
) -> None:
    """A session created at one kind re-attaches at the other (the follower asks the leader,
    REVALIDATE, wherever the leader is) and back; its ephemeral stays, writes from it work,
    and its close removes the ephemeral on every server."""
    zkref_sid, apache_sid = _one_zkref_and_one_apache(mix)
    reader = kazoo_factory(mix.connect_string)
    reader.create(root_path, b"")
    for first, second in ((zkref_sid, apache_sid), (apache_sid, zkref_sid)):
        original = kazoo_factory(mix[first].address, timeout=20.0)
        session = original.client_id
        ephemeral = f"{root_path}/of-{first}"
        original.create(ephemeral, b"", ephemeral=True)
        # Re-attach at the other kind: the first connection is closed by the server.
        moved = kazoo_factory(mix[second].address, client_id=session, timeout=20.0)
        assert moved.client_id[0] == session[0]
        moved.sync(root_path)
        assert moved.exists(ephemeral) is not None
        moved.create(f"{root_path}/moved-{first}", b"", ephemeral=True)
        back = kazoo_factory(mix[first].address, client_id=session, timeout=20.0)
        assert back.client_id[0] == session[0]
        back.set(ephemeral, b"written after two moves")
        back.stop()  # closeSession: every ephemeral of the session goes
        original.stop()
        moved.stop()
        for sid in mix.running():
            pinned = kazoo_factory(mix[sid].address)
            pinned.sync(root_path)
            assert pinned.get_children(root_path) == [], (sid, pinned.get_children(root_path))
            pinned.stop()
    try:
        reader.get(f"{root_path}/of-{zkref_sid}")
    except NoNodeError:
        pass
    else:
        raise AssertionError("the closed session's ephemeral is still there")


def test_the_leader_killed_three_times_writes_resume_and_none_acknowledged_is_lost(
    mix: MixedEnsemble,
) -> None:
    """Three times: kill -9 of the leader while a client writes through the connect string,
    then restart it. Afterwards every acknowledged write is on every server and the servers
    agree, whichever kinds led."""

    async def run() -> tuple[list[Any], set[str], dict[int, set[str]]]:
        writer = Writer(mix.addresses)
        await writer.start()
        try:
            failovers = await kill_during_writes(mix, writer, rounds=KILLS)
        finally:
            await writer.stop()
        return failovers, writer.acknowledged(), await node_contents(mix)

    failovers, acknowledged, contents = asyncio.run(asyncio.wait_for(run(), 240))
    leaders = [f"{mix.kind_of(f.leader)} {f.leader}" for f in failovers]
    times = ", ".join(f"{f.kill_to_ack_s:.2f}" for f in failovers)
    print(
        f"\n{_kinds(mix)}: killed leaders {leaders}, then {mix.leader()} led; kill -> first "
        f"new write acknowledged: {times} s; {len(acknowledged)} writes acknowledged"
    )
    assert len(contents) == 3
    for sid, paths in contents.items():
        assert acknowledged <= paths, f"server {sid} lacks {sorted(acknowledged - paths)[:5]}"
    assert len({frozenset(paths) for paths in contents.values()}) == 1, "the servers differ"
