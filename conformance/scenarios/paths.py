"""Chapter 3 (spec/paths.py): which paths a server accepts."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code


@scenario("paths")
async def invalid_paths_are_refused(ctx: Ctx) -> None:
    """Creating a path with a trailing slash, an empty or a dot segment is refused."""
    client = await ctx.client()
    for bad in (ctx.root + "/", ctx.path("", "x"), ctx.path("."), ctx.path("..")):
        reply = await client.call(rq.Create(bad, b"", OPEN_ACL_UNSAFE, 0))
        ctx.expect(reply.err != Code.OK, f"create {bad!r} succeeded")  # the checker: which


@scenario("paths")
async def unicode_names_round_trip(ctx: Ctx) -> None:
    """A path with non-ASCII characters is created and listed as sent."""
    client = await ctx.client()
    name = "zn\u00f6de-\u4e2d"
    await ctx.create(client, ctx.path(name))
    reply = await ctx.ok(client, rq.GetChildren(ctx.root))
    ctx.expect(getattr(reply.body, "children", ()) == (name,), f"children {reply.body!r}")


@scenario("paths")
async def the_zookeeper_subtree_exists(ctx: Ctx) -> None:
    """/zookeeper exists on every server and / lists it."""
    client = await ctx.client()
    await ctx.ok(client, rq.Exists("/zookeeper"))
    reply = await ctx.ok(client, rq.GetChildren("/"))
    ctx.expect("zookeeper" in getattr(reply.body, "children", ()), "/ does not list zookeeper")
