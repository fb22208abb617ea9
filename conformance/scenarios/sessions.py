"""Chapter 13 (spec/sessions.py): handshake, re-attach, expiry."""

from __future__ import annotations

import time

from conformance.client import Client, ConnectionLoss, OutcomeUnknown, SessionExpired
from conformance.scenarios.base import Ctx, ScenarioFailure, scenario
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.events import EventType


@scenario("sessions")
async def a_session_survives_a_reconnect(ctx: Ctx) -> None:
    """Re-attaching with the session id and password keeps the session and its ephemerals."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("e"), flags=1)
    session = client.session_id
    await client.drop_connection()
    await client.wait_connected(5)
    ctx.expect(client.session_id == session, "the session id changed")
    await ctx.ok(client, rq.Exists(ctx.path("e")))


@scenario("sessions")
async def a_wrong_password_is_refused(ctx: Ctx) -> None:
    """A re-attach with a wrong password is refused; it may cost the owner its connection
    (the server closes the session's live connection first), never its session."""
    owner = await ctx.client("owner")
    impostor = Client(
        list(ctx.target.hosts), name="impostor", recorder=ctx.recorder, reconnect=False
    )
    ctx.clients.append(impostor)
    try:
        await impostor.resume(owner.session_id, bytes(16), owner.last_zxid_seen)
    except (SessionExpired, ConnectionLoss):
        pass  # refused: told expired (zkref), or the connection closed (Apache 3.8)
    else:
        raise ScenarioFailure("a session re-attached with a wrong password")
    session = owner.session_id
    for attempt in range(2):
        try:
            await ctx.ok(owner, rq.Exists("/"))
            break
        except (OutcomeUnknown, ConnectionLoss):
            if attempt:
                raise
            await owner.wait_connected(5)
    ctx.expect(owner.session_id == session and not owner.expired, "the owner lost its session")


@scenario("sessions")
async def close_deletes_ephemerals_and_fires_watches(ctx: Ctx) -> None:
    """closeSession deletes the session's ephemerals and fires their watches."""
    owner = await ctx.client("owner")
    watcher = await ctx.client("watcher")
    await ctx.create(owner, ctx.path("e1"), flags=1)
    await ctx.ok(watcher, rq.Exists(ctx.path("e1"), watch=True))
    await owner.close()
    await ctx.event(watcher, EventType.NodeDeleted, ctx.path("e1"))
    await ctx.call(watcher, rq.Exists(ctx.path("e1")), Code.NONODE)


@scenario("sessions")
async def an_abandoned_session_expires(ctx: Ctx) -> None:
    """A session nobody pings expires after its timeout; its ephemerals go; it cannot return."""
    owner = await ctx.client("owner", session_timeout_ms=1000)
    watcher = await ctx.client("watcher")
    await ctx.ok(owner, rq.Create(ctx.path("e"), b"", OPEN_ACL_UNSAFE, 1))
    await ctx.ok(watcher, rq.Exists(ctx.path("e"), watch=True))
    session, password, seen = owner.session_id, owner.password, owner.last_zxid_seen
    timeout_s = owner.negotiated_timeout_ms / 1000
    started = time.monotonic()
    await owner.abandon()
    await ctx.event(watcher, EventType.NodeDeleted, ctx.path("e"), timeout_s * 3 + 5)
    ctx.expect(
        time.monotonic() - started >= timeout_s * 0.5,
        f"expired after {time.monotonic() - started:.2f} s of a {timeout_s} s timeout",
    )
    ghost = Client(list(ctx.target.hosts), name="ghost", recorder=ctx.recorder, reconnect=False)
    ctx.clients.append(ghost)
    try:
        await ghost.resume(session, password, seen)
    except SessionExpired:
        return
    raise ScenarioFailure("an expired session re-attached")


@scenario("sessions")
async def session_timeouts_are_negotiated_into_bounds(ctx: Ctx) -> None:
    """A 1 ms session timeout is raised to the server's minimum, a day lowered to its maximum."""
    short = await ctx.client("short", session_timeout_ms=1)
    long = await ctx.client("long", session_timeout_ms=86_400_000)
    low, high = short.negotiated_timeout_ms, long.negotiated_timeout_ms
    ctx.expect(1 < low <= high < 86_400_000, f"negotiated {low} ms and {high} ms")
