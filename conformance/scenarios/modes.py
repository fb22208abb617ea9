"""Chapter 5 (spec/modes.py): persistent, ephemeral, sequential, container and TTL znodes."""

from __future__ import annotations

from conformance.scenarios.base import NO_TTL_NODES, TTL_NODES, Ctx, scenario
from conformance.scenarios.util import body, same, stat_of
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode


@scenario("modes")
async def sequential_suffix_counts_child_creates(ctx: Ctx) -> None:
    """Sequential names get a 10-digit suffix: the parent's count of child creates."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("x"))
    await ctx.ok(client, rq.Delete(ctx.path("x")))
    first = body(await ctx.create(client, ctx.path("s-"), flags=2), rq.CreateResponse)
    second = body(await ctx.create(client, ctx.path("s-"), flags=3), rq.CreateResponse)
    same(first.path, ctx.path("s-0000000001"), "first sequential name")
    same(second.path, ctx.path("s-0000000002"), "second sequential name")


@scenario("modes")
async def ephemerals_belong_to_their_session(ctx: Ctx) -> None:
    """An ephemeral has the creator's ephemeralOwner, no children, and goes with the session."""
    owner = await ctx.client("owner")
    other = await ctx.client("other")
    reply = await ctx.ok(owner, rq.Create(ctx.path("e"), b"", OPEN_ACL_UNSAFE, 1, OpCode.create2))
    same(stat_of(reply).ephemeralOwner, owner.session_id, "ephemeralOwner")
    await ctx.call(
        owner,
        rq.Create(ctx.path("e", "c"), b"", OPEN_ACL_UNSAFE, 0),
        Code.NOCHILDRENFOREPHEMERALS,
    )
    listed = body(await ctx.ok(owner, rq.GetEphemerals(ctx.root)), rq.GetEphemeralsResponse)
    same(listed.ephemerals, (ctx.path("e"),), "getEphemerals")
    await owner.close()
    await ctx.call(other, rq.Exists(ctx.path("e")), Code.NONODE)


@scenario("modes", needs=(TTL_NODES,))
async def ttl_nodes_need_a_valid_ttl(ctx: Ctx) -> None:
    """createTTL makes a TTL node; a TTL of 0 or a TTL mode without createTTL is BADARGUMENTS."""
    client = await ctx.client()
    await ctx.ok(
        client, rq.Create(ctx.path("t"), b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 600_000)
    )
    await ctx.call(
        client,
        rq.Create(ctx.path("u"), b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 0),
        Code.BADARGUMENTS,
    )
    await ctx.call(client, rq.Create(ctx.path("v"), b"", OPEN_ACL_UNSAFE, 5), Code.BADARGUMENTS)
    seq = await ctx.ok(
        client, rq.Create(ctx.path("w-"), b"", OPEN_ACL_UNSAFE, 6, OpCode.createTTL, 600_000)
    )
    same(getattr(seq.body, "path", None), ctx.path("w-0000000001"), "sequential TTL name")


@scenario("modes", needs=(NO_TTL_NODES,))
async def ttl_modes_are_unimplemented_without_ttl_nodes(ctx: Ctx) -> None:
    """Without TTL nodes every create of a TTL mode is UNIMPLEMENTED, before its TTL or its
    parent is looked at; createTTL of a plain mode stays BADARGUMENTS."""
    client = await ctx.client()
    for op in (
        rq.Create(ctx.path("t"), b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 600_000),
        rq.Create(ctx.path("t-"), b"", OPEN_ACL_UNSAFE, 6, OpCode.createTTL, 600_000),
        rq.Create(ctx.path("t"), b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 0),
        rq.Create(ctx.path("missing", "t"), b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 1000),
        rq.Create(ctx.path("t"), b"", OPEN_ACL_UNSAFE, 5, OpCode.create2),
    ):
        await ctx.call(client, op, Code.UNIMPLEMENTED)  # a write: the checker sees its zxid
    await ctx.call(
        client,
        rq.Create(ctx.path("p"), b"", OPEN_ACL_UNSAFE, 0, OpCode.createTTL, 1000),
        Code.BADARGUMENTS,
    )
    await ctx.call(client, rq.Exists(ctx.path("t")), Code.NONODE)


@scenario("modes")
async def containers_are_created_with_create_container(ctx: Ctx) -> None:
    """createContainer (flags 4) makes a znode that may have children."""
    client = await ctx.client()
    await ctx.ok(client, rq.Create(ctx.path("k"), b"", OPEN_ACL_UNSAFE, 4, OpCode.createContainer))
    await ctx.create(client, ctx.path("k", "child"))
    await ctx.ok(client, rq.Delete(ctx.path("k", "child")))
    # Emptied, the container may be reaped before this delete (a short check interval).
    deleted = await client.call(rq.Delete(ctx.path("k")))
    ctx.expect(
        deleted.err in (Code.OK, Code.NONODE),
        f"delete of the emptied container: OK or NONODE expected, {deleted.err} observed",
    )
