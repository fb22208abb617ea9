"""Chapters 11-12 (spec/events.py, spec/watches.py): which read arms which watch, which write
fires which event, persistent and recursive watches, re-arming after a reconnect."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from spec import requests as rq
from spec.errors import Code
from spec.events import EventType


@scenario("watches")
async def data_watch_fires_once(ctx: Ctx) -> None:
    """getData arms a one-shot data watch: one NodeDataChanged, then nothing."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("n"))
    await ctx.ok(watcher, rq.GetData(ctx.path("n"), watch=True))
    first = await ctx.ok(writer, rq.SetData(ctx.path("n"), b"1"))
    await ctx.ok(writer, rq.SetData(ctx.path("n"), b"2"))
    note = await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("n"))
    expected_zxid = first.zxid if ctx.profile.notification_zxid else -1
    ctx.expect(
        note.zxid == expected_zxid,
        f"notification zxid {note.zxid}, {expected_zxid} expected under profile {ctx.profile.name}",
    )
    await ctx.no_event(watcher)


@scenario("watches")
async def exists_watch_sees_creation(ctx: Ctx) -> None:
    """exists on a missing znode arms a watch that fires NodeCreated."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.call(watcher, rq.Exists(ctx.path("n"), watch=True), Code.NONODE)
    await ctx.create(writer, ctx.path("n"))
    await ctx.event(watcher, EventType.NodeCreated, ctx.path("n"))


@scenario("watches")
async def child_and_data_watches_on_delete(ctx: Ctx) -> None:
    """Creating a child fires NodeChildrenChanged; deleting a watched znode fires NodeDeleted."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("p"))
    await ctx.ok(watcher, rq.GetChildren(ctx.path("p"), watch=True))
    await ctx.create(writer, ctx.path("p", "c"))
    await ctx.event(watcher, EventType.NodeChildrenChanged, ctx.path("p"))
    await ctx.ok(watcher, rq.GetData(ctx.path("p", "c"), watch=True))
    await ctx.ok(watcher, rq.GetChildren(ctx.path("p"), watch=True))
    await ctx.ok(writer, rq.Delete(ctx.path("p", "c")))
    await ctx.event(watcher, EventType.NodeDeleted, ctx.path("p", "c"))
    await ctx.event(watcher, EventType.NodeChildrenChanged, ctx.path("p"))


@scenario("watches")
async def persistent_watch_fires_every_time(ctx: Ctx) -> None:
    """addWatch PERSISTENT fires for every change of the znode and its children list."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("n"))
    await ctx.ok(watcher, rq.AddWatch(ctx.path("n"), 0))
    for value in (b"1", b"2", b"3"):
        await ctx.ok(writer, rq.SetData(ctx.path("n"), value))
    for _ in range(3):
        await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("n"))
    await ctx.create(writer, ctx.path("n", "c"))
    await ctx.event(watcher, EventType.NodeChildrenChanged, ctx.path("n"))


@scenario("watches")
async def recursive_watch_sees_descendants(ctx: Ctx) -> None:
    """addWatch PERSISTENT_RECURSIVE fires for changes anywhere below, without child events."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("r"))
    await ctx.ok(watcher, rq.AddWatch(ctx.path("r"), 1))
    await ctx.create(writer, ctx.path("r", "a"))
    await ctx.create(writer, ctx.path("r", "a", "b"))
    await ctx.ok(writer, rq.SetData(ctx.path("r", "a", "b"), b"x"))
    await ctx.ok(writer, rq.Delete(ctx.path("r", "a", "b")))
    await ctx.event(watcher, EventType.NodeCreated, ctx.path("r", "a"))
    await ctx.event(watcher, EventType.NodeCreated, ctx.path("r", "a", "b"))
    await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("r", "a", "b"))
    await ctx.event(watcher, EventType.NodeDeleted, ctx.path("r", "a", "b"))


@scenario("watches")
async def remove_watches(ctx: Ctx) -> None:
    """removeWatches of a watch the connection holds succeeds; of none, NOWATCHER."""
    watcher = await ctx.client("watcher")
    await ctx.create(watcher, ctx.path("n"))
    await ctx.call(watcher, rq.RemoveWatches(ctx.path("n"), 2), Code.NOWATCHER)
    await ctx.ok(watcher, rq.GetData(ctx.path("n"), watch=True))
    await ctx.ok(watcher, rq.CheckWatches(ctx.path("n"), 2))
    await ctx.ok(watcher, rq.RemoveWatches(ctx.path("n"), 2))
    await ctx.call(watcher, rq.CheckWatches(ctx.path("n"), 2), Code.NOWATCHER)
    await ctx.ok(watcher, rq.SetData(ctx.path("n"), b"x"))
    await ctx.no_event(watcher)


@scenario("watches")
async def watches_survive_a_reconnect(ctx: Ctx) -> None:
    """After a lost connection setWatches re-arms the watches: a missed change fires at once."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("n"))
    await ctx.ok(watcher, rq.GetData(ctx.path("n"), watch=True))
    await watcher.drop_connection()
    await ctx.ok(writer, rq.SetData(ctx.path("n"), b"changed while away"))
    await watcher.wait_connected(5)
    await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("n"))


@scenario("watches")
async def standard_and_persistent_watch_on_one_path(ctx: Ctx) -> None:
    """3.9 keeps a persistent and a standard watch side by side; in 3.8 the last set wins."""
    watcher = await ctx.client("watcher")
    writer = await ctx.client("writer")
    await ctx.create(writer, ctx.path("n"))
    await ctx.ok(watcher, rq.AddWatch(ctx.path("n"), 0))
    await ctx.ok(watcher, rq.GetData(ctx.path("n"), watch=True))
    await ctx.ok(writer, rq.SetData(ctx.path("n"), b"1"))
    await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("n"))
    await ctx.ok(writer, rq.SetData(ctx.path("n"), b"2"))
    if ctx.profile.watch_mode_set:
        await ctx.event(watcher, EventType.NodeDataChanged, ctx.path("n"))
    else:
        await ctx.no_event(watcher)


@scenario("watches")
async def persistent_watcher_types_follow_the_profile(ctx: Ctx) -> None:
    """removeWatches type Persistent (4): accepted from 3.9 (ZOOKEEPER-4472)."""
    watcher = await ctx.client("watcher", reconnect=False)
    await ctx.create(watcher, ctx.path("n"))
    await ctx.ok(watcher, rq.AddWatch(ctx.path("n"), 0))
    if ctx.profile.persistent_watcher_types:
        await ctx.ok(watcher, rq.RemoveWatches(ctx.path("n"), 4))
    else:
        await ctx.call(watcher, rq.RemoveWatches(ctx.path("n"), 4), Code.MARSHALLINGERROR)
