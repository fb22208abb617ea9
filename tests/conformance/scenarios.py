"""Small recorded scenarios against the in-process core, and ways to falsify their histories.

``record(scenario)`` runs ``scenario(hosts, recorder, ensemble)`` against a fresh
``InProcessEnsemble`` and returns the recorded ``History``. The mutation helpers change one
fact of a history the way a broken server would (a wrong reply, a duplicated or missing
notification, ...) so the checker's teeth can be tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from conformance.client import Client
from conformance.history import History, HistoryRecorder, NotificationEvent, OpEvent
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.profiles import V3_9, Profile
from spec.state import Config
from tests.conformance.inprocess import InProcessEnsemble
from tests.conformance.workload import header_for

SCENARIO_TIMEOUT_S = 30.0

Scenario = Callable[[list[str], HistoryRecorder, InProcessEnsemble], Awaitable[None]]


def config_for(profile: Profile = V3_9) -> Config:
    return Config(
        tick_time_ms=100,
        min_session_timeout_ms=200,
        container_check_interval_ms=200,
        extended_types_enabled=True,
        profile=profile,
    )


def record(scenario: Scenario, *, profile: Profile = V3_9, listeners: int = 1) -> History:
    async def main() -> History:
        async with InProcessEnsemble(config_for(profile), listeners) as ensemble:
            recorder = HistoryRecorder(header=header_for(ensemble))
            await asyncio.wait_for(scenario(ensemble.hosts, recorder, ensemble), SCENARIO_TIMEOUT_S)
            return recorder.history()

    return asyncio.run(main())


async def clients(hosts: list[str], recorder: HistoryRecorder, *names: str) -> list[Client]:
    out = [Client(hosts, name=name, recorder=recorder) for name in names]
    for client in out:
        await client.start()
    return out


def create(path: str, data: bytes | None = b"", flags: int = 0) -> rq.Create:
    return rq.Create(path, data, OPEN_ACL_UNSAFE, flags)


async def write_then_sync_then_read(
    hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble
) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(create("/x", b"1"))
    await b.call(rq.Sync("/"))
    await b.call(rq.GetData("/x"))
    await a.close()
    await b.close()


# --- finding things in a history -----------------------------------------------------------


def find_op(
    history: History, client: str, kind: type, nth: int = 0, path: str | None = None
) -> OpEvent:
    found = [
        o
        for o in history.ops
        if o.client == client
        and isinstance(o.op, kind)
        and (path is None or getattr(o.op, "path", None) == path)
    ]
    found.sort(key=lambda o: o.invoke_ns)
    return found[nth]


def notifications_of(history: History, client: str) -> list[NotificationEvent]:
    return sorted((n for n in history.notifications if n.client == client), key=lambda n: n.recv)


# --- mutations ------------------------------------------------------------------------------


def with_reply(history: History, op: OpEvent, reply: rq.Reply) -> History:
    """``history`` with ``op`` answered by ``reply`` instead."""
    outcome = "ok" if reply.err == Code.OK else "error"
    changed = replace(op, reply=reply, outcome=outcome)
    return replace(history, ops=[changed if o is op else o for o in history.ops])


def with_ops(history: History, ops: list[OpEvent]) -> History:
    return replace(history, ops=ops)


def shift_frames(history: History, conn: int, from_recv: int, by: int = 1) -> History:
    """Renumber the frames of ``conn`` at or after ``from_recv`` (to make room for one)."""
    ops = [
        replace(o, recv=o.recv + by)
        if o.conn == conn and o.recv is not None and o.recv >= from_recv
        else o
        for o in history.ops
    ]
    notes = [
        replace(n, recv=n.recv + by) if n.conn == conn and n.recv >= from_recv else n
        for n in history.notifications
    ]
    return replace(history, ops=ops, notifications=notes)


def duplicate_notification(history: History, note: NotificationEvent) -> History:
    """The notification arrives twice, back to back."""
    shifted = shift_frames(history, note.conn, note.recv + 1)
    copy = replace(note, recv=note.recv + 1, time_ns=note.time_ns + 1)
    return replace(shifted, notifications=[*shifted.notifications, copy])


def without_notification(history: History, note: NotificationEvent) -> History:
    return replace(history, notifications=[n for n in history.notifications if n != note])


def move_notification(history: History, note: NotificationEvent, recv: int) -> History:
    """The notification arrives as frame ``recv`` instead (the frames keep their order)."""
    rest = without_notification(history, note)
    shifted = shift_frames(rest, note.conn, recv)
    return replace(shifted, notifications=[*shifted.notifications, replace(note, recv=recv)])


def stale_sync_then_read(history: History) -> tuple[History, list[int]]:
    """``write_then_sync_then_read`` as a leader cut off in a minority answers it
    (ZOOKEEPER-1675): the sync and the read after it come from the state before the write,
    consistently with their zxids. Returns the history and the ids (write, sync, read)."""
    write = find_op(history, "a", rq.Create)
    sync, read = find_op(history, "b", rq.Sync), find_op(history, "b", rq.GetData)
    assert write.reply is not None and sync.reply is not None and read.reply is not None
    before = write.reply.zxid - 1  # the state the old leader still serves
    history = with_reply(history, sync, replace(sync.reply, zxid=before))
    history = with_reply(history, read, rq.Reply(before, Code.NONODE))
    return history, [write.id, sync.id, read.id]
