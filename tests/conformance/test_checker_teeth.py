"""The checker has teeth: real histories are allowed, and each one falsified the way a broken
server would falsify it is rejected with the right explanation.

Each test records a small scenario against the reference core, checks that the true history
is allowed, changes one fact, and asserts the kind of violation and the operations cited.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.checker import check
from conformance.client import Client
from conformance.history import Header, History, HistoryRecorder
from conformance.snapshot import take_snapshot
from spec import requests as rq
from spec.errors import Code
from spec.opcodes import OpCode
from tests.conformance.inprocess import InProcessEnsemble
from tests.conformance.scenarios import (
    clients,
    create,
    duplicate_notification,
    find_op,
    move_notification,
    notifications_of,
    record,
    stale_sync_then_read,
    with_reply,
    without_notification,
    write_then_sync_then_read,
)
from tests.conformance.servers import apache_ensemble


def allowed(history: History, mode: str = "zookeeper") -> None:
    verdict = check(history, mode=mode)
    assert verdict.allowed, verdict.render()


def rejected(history: History, kind: str, mode: str = "zookeeper") -> list[int]:
    """Assert a violation of ``kind``; return the ops it cites (its text must render)."""
    verdict = check(history, mode=mode)
    text = verdict.render()
    assert verdict.status == "violation", text
    assert kind in verdict.kinds(), text
    assert verdict.to_json()["violations"]
    return list(next(v for v in verdict.violations if v.kind == kind).ops)


# --- scenarios --------------------------------------------------------------------------------


async def two_writers(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(create("/s1"))
    await b.call(create("/s2"))
    await a.close()
    await b.close()


async def overwrite_then_read(
    hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble
) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(rq.Create("/y", b"1", create("/").acl, 0, OpCode.create2))
    await a.call(rq.SetData("/y", b"2"))
    await b.call(rq.GetData("/y"))
    await b.call(rq.GetData("/y"))
    await a.close()
    await b.close()


async def watched_change(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(create("/z1"))
    await a.call(create("/z2"))
    await b.call(rq.GetData("/z1", watch=True))
    await b.call(rq.GetData("/z2", watch=True))
    await a.call(rq.SetData("/z1", b"v"))
    await a.call(rq.SetData("/z2", b"v"))
    await b.call(rq.GetData("/z1"))
    await a.close()
    await b.close()


async def ephemeral_of_closed_session(
    hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble
) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(rq.Create("/e", b"", create("/").acl, 1, OpCode.create2))
    await a.close()
    await b.call(rq.Exists("/e"))
    await b.close()


async def sequential_children(
    hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble
) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(create("/q"))
    await a.call(create("/q/n-", flags=2))
    await b.call(create("/q/n-", flags=2))
    await a.close()
    await b.close()


# --- the true histories are allowed --------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        two_writers,
        write_then_sync_then_read,
        overwrite_then_read,
        watched_change,
        ephemeral_of_closed_session,
        sequential_children,
    ],
)
def test_an_unchanged_history_is_allowed(scenario: object) -> None:
    allowed(record(scenario))  # type: ignore[arg-type]


# --- and each falsified one is rejected -----------------------------------------------------


def test_two_writes_with_swapped_zxids_are_rejected() -> None:
    history = record(two_writers)
    first, second = find_op(history, "a", rq.Create), find_op(history, "b", rq.Create)
    assert first.reply is not None and second.reply is not None
    first_zxid, second_zxid = first.reply.zxid, second.reply.zxid
    history = with_reply(history, first, replace(first.reply, zxid=second_zxid))
    history = with_reply(history, second, replace(second.reply, zxid=first_zxid))
    assert set(rejected(history, "write-order")) == {first.id, second.id}


def test_a_read_after_sync_that_contradicts_its_own_zxid_is_rejected_in_every_mode() -> None:
    history = record(write_then_sync_then_read)
    read = find_op(history, "b", rq.GetData)
    assert read.reply is not None
    history = with_reply(history, read, rq.Reply(read.reply.zxid, Code.NONODE))
    write, sync = find_op(history, "a", rq.Create), find_op(history, "b", rq.Sync)
    assert rejected(history, "stale-read") == [sync.id, write.id, read.id]
    for mode in ("sync-linearizable", "linearizable"):
        assert rejected(history, "sync", mode=mode) == [write.id, sync.id, read.id]


def test_sync_then_read_missing_an_acknowledged_write_is_allowed_only_by_zookeeper() -> None:
    """Apache ZooKeeper's sync is no quorum operation: "sync, then read" may miss a write
    acknowledged before the sync was sent. The sync-linearizable mode (zkref's quorumSync)
    and the linearizable mode reject that; the plain mode allows it."""
    history, (write, sync, read) = stale_sync_then_read(record(write_then_sync_then_read))
    allowed(history)
    for mode in ("sync-linearizable", "linearizable"):
        verdict = check(history, mode=mode)
        assert verdict.kinds() == ["sync", "sync"], verdict.render()
        assert [list(v.ops) for v in verdict.violations] == [[write, sync], [write, sync, read]]


def test_a_read_pipelined_behind_a_sync_is_held_to_the_sync() -> None:
    """A read sent after the sync but before its reply is answered after it (a session's
    requests are answered in order), so it too must see what the sync must see."""

    async def scenario(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
        a, b = await clients(hosts, recorder, "a", "b")
        await a.call(create("/x", b"1"))
        synced = await b.submit(rq.Sync("/"))
        read = await b.submit(rq.GetData("/x"))
        await synced
        await read
        await a.close()
        await b.close()

    history = record(scenario)
    sync, read = find_op(history, "b", rq.Sync), find_op(history, "b", rq.GetData)
    assert sync.complete_ns is not None and read.invoke_ns < sync.complete_ns  # pipelined
    allowed(history, mode="sync-linearizable")
    stale, (write, sync_id, read_id) = stale_sync_then_read(history)
    allowed(stale)
    verdict = check(stale, mode="sync-linearizable")
    assert [list(v.ops) for v in verdict.violations] == [
        [write, sync_id],
        [write, sync_id, read_id],
    ]


def test_a_stale_read_without_a_sync_is_allowed_when_only_syncs_are_linearizable() -> None:
    history = record(overwrite_then_read)
    created = find_op(history, "a", rq.Create)
    read = find_op(history, "b", rq.GetData)
    history = replace(
        history, ops=[o for o in history.ops if o.id != find_op(history, "b", rq.GetData, 1).id]
    )
    assert created.reply is not None and isinstance(created.reply.body, rq.Create2Response)
    stale = rq.Reply(created.reply.zxid, Code.OK, rq.GetDataResponse(b"1", created.reply.body.stat))
    history = with_reply(history, read, stale)
    allowed(history, mode="sync-linearizable")
    assert "non-linearizable-read" in check(history, mode="linearizable").kinds()


def test_an_acknowledged_write_missing_from_a_later_read_is_rejected() -> None:
    history = record(overwrite_then_read)
    created, overwrite = find_op(history, "a", rq.Create), find_op(history, "a", rq.SetData)
    read = find_op(history, "b", rq.GetData)
    assert isinstance(created.reply and created.reply.body, rq.Create2Response)
    assert read.reply is not None
    old = rq.GetDataResponse(b"1", created.reply.body.stat)  # type: ignore[union-attr]
    history = with_reply(history, read, replace(read.reply, body=old))
    assert rejected(history, "lost-write") == [overwrite.id, read.id]


def test_a_read_older_than_what_its_session_had_seen_is_rejected() -> None:
    history = record(overwrite_then_read)
    created = find_op(history, "a", rq.Create)
    first, second = find_op(history, "b", rq.GetData, 0), find_op(history, "b", rq.GetData, 1)
    assert created.reply is not None and second.reply is not None
    assert isinstance(created.reply.body, rq.Create2Response)
    old = rq.Reply(created.reply.zxid, Code.OK, rq.GetDataResponse(b"1", created.reply.body.stat))
    history = with_reply(history, second, old)
    assert rejected(history, "stale-read") == [first.id, second.id]


def test_a_watch_that_fires_twice_is_rejected() -> None:
    history = record(watched_change)
    note = notifications_of(history, "b")[0]
    history = duplicate_notification(history, note)
    rejected(history, "watch-unexpected")


def test_a_watch_that_never_fires_is_rejected() -> None:
    history = record(watched_change)
    note = notifications_of(history, "b")[1]
    history = without_notification(history, note)
    arming = find_op(history, "b", rq.GetData, 1)
    fired_by = find_op(history, "a", rq.SetData, 1)
    cited = rejected(history, "watch-missing")
    assert arming.id in cited and fired_by.id in cited


def test_a_notification_after_the_reply_showing_the_change_is_rejected() -> None:
    history = record(watched_change)
    notes = notifications_of(history, "b")
    last_read = find_op(history, "b", rq.GetData, 2)
    assert last_read.recv is not None
    history = move_notification(history, notes[1], last_read.recv + 1)
    rejected(history, "watch-late")


def test_notifications_out_of_zxid_order_are_rejected() -> None:
    history = record(watched_change)
    first, second = notifications_of(history, "b")
    history = move_notification(history, first, second.recv + 1)
    rejected(history, "watch-order")


def test_an_ephemeral_that_outlives_its_session_is_rejected() -> None:
    history = record(ephemeral_of_closed_session)
    created, closed = find_op(history, "a", rq.Create), find_op(history, "a", rq.CloseSession)
    exists = find_op(history, "b", rq.Exists)
    assert isinstance(created.reply and created.reply.body, rq.Create2Response)
    assert exists.reply is not None
    stat = created.reply.body.stat  # type: ignore[union-attr]
    history = with_reply(
        history, exists, rq.Reply(exists.reply.zxid, Code.OK, rq.StatResponse(stat))
    )
    assert rejected(history, "ephemeral-outlived-session") == [created.id, closed.id, exists.id]


def test_a_sequence_number_given_twice_is_rejected() -> None:
    history = record(sequential_children)
    first, second = find_op(history, "a", rq.Create, 1), find_op(history, "b", rq.Create)
    assert first.reply is not None and second.reply is not None
    history = with_reply(history, second, replace(second.reply, body=first.reply.body))
    assert rejected(history, "sequence-reused") == [first.id, second.id]


def test_a_stale_read_is_allowed_by_zookeeper_but_not_when_linearizable() -> None:
    history = record(overwrite_then_read)
    created, overwrite = find_op(history, "a", rq.Create), find_op(history, "a", rq.SetData)
    read = find_op(history, "b", rq.GetData)
    history = replace(
        history, ops=[o for o in history.ops if o.id != find_op(history, "b", rq.GetData, 1).id]
    )
    assert created.reply is not None and isinstance(created.reply.body, rq.Create2Response)
    stale = rq.Reply(created.reply.zxid, Code.OK, rq.GetDataResponse(b"1", created.reply.body.stat))
    history = with_reply(history, read, stale)
    allowed(history)
    assert rejected(history, "non-linearizable-read", mode="linearizable") == [
        overwrite.id,
        read.id,
    ]


def test_a_changed_read_is_rejected_as_a_read_mismatch() -> None:
    history = record(overwrite_then_read)
    read = find_op(history, "b", rq.GetData)
    assert read.reply is not None and isinstance(read.reply.body, rq.GetDataResponse)
    forged = replace(read.reply, body=replace(read.reply.body, data=b"never written"))
    rejected(with_reply(history, read, forged), "read-mismatch")


def test_a_changed_write_reply_is_rejected_as_a_reply_mismatch() -> None:
    history = record(overwrite_then_read)
    write = find_op(history, "a", rq.SetData)
    assert write.reply is not None
    rejected(
        with_reply(history, write, replace(write.reply, err=Code.BADVERSION, body=None)),
        "reply-mismatch",
    )


def test_the_profile_decides_what_a_notification_carries() -> None:
    history = record(watched_change)  # a 3.9 server: notifications carry their zxid
    verdict = check(history, profile="3.8")
    assert verdict.status == "violation" and verdict.kinds()[0].startswith("watch-")


def test_a_session_served_after_its_close_is_rejected() -> None:
    async def scenario(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
        a, b = await clients(hosts, recorder, "a", "b")
        await a.call(create("/k"))
        await b.call(rq.GetData("/k"))
        await a.close()
        await b.close()

    history = record(scenario)
    read = find_op(history, "b", rq.GetData)
    close = find_op(history, "a", rq.CloseSession)
    assert close.reply is not None and read.reply is not None
    # The read is attributed to the closed session, after its close.
    moved = replace(
        read, session_id=close.session_id, reply=replace(read.reply, zxid=close.reply.zxid)
    )
    history = replace(history, ops=[moved if o is read else o for o in history.ops])
    verdict = check(history)
    assert verdict.status == "violation", verdict.render()


def test_a_session_moved_to_another_listener_of_one_core_reads_its_own_write_allowed() -> None:
    # Both listeners front the same core, so the read cannot miss the write: this shows only
    # that the checker follows a session from one connection to the next. The test below
    # runs the same scenario across separate servers.
    async def scenario(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
        client = Client(hosts, name="c", recorder=recorder)
        await client.start()
        await client.call(create("/m", b"1"))
        await client.reconnect()
        await client.call(rq.GetData("/m"))
        await client.close()

    allowed(record(scenario, listeners=2))


@pytest.mark.slow
def test_a_client_sees_its_own_write_across_separate_servers(tmp_path: Path) -> None:
    """Three Apache ZooKeeper 3.8 servers in one ensemble: a client writes through one,
    moves its session to another and reads. The history is allowed; the same history with
    the read answered as a server that had not seen the write (NONODE) is rejected, since a
    session never reads older than what it has seen (its lastZxidSeen)."""

    async def scenario(hosts: list[str]) -> History:
        reader = Client(hosts, name="snapshot")
        await reader.start()
        snapshot = await take_snapshot(reader)
        await reader.close()
        header = Header(profile="3.8", hosts=tuple(hosts), fresh=False, note="3 servers")
        recorder = HistoryRecorder(header=header)
        recorder.record(snapshot)
        client = Client(hosts, name="c", recorder=recorder)
        await client.start()
        written_on = client.server
        await client.call(create("/m", b"1"))
        await client.reconnect()
        assert client.server != written_on  # another server process
        await client.call(rq.GetData("/m"))
        await client.close()
        return recorder.history()

    with apache_ensemble(tmp_path) as servers:
        history = asyncio.run(asyncio.wait_for(scenario([s.address for s in servers]), 60))
    allowed(history)
    read = find_op(history, "c", rq.GetData)
    assert read.reply is not None and read.reply.err == Code.OK
    stale = with_reply(history, read, rq.Reply(read.reply.zxid, Code.NONODE))
    assert read.id in rejected(stale, "stale-read")
