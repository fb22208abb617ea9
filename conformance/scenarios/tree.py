"""Chapter 9 (spec/tree.py): create, delete, setData and the reads, with their check order."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code


@scenario("tree")
async def create_errors(ctx: Ctx) -> None:
    """Create is NODEEXISTS for an existing path and NONODE under a missing parent."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("a"))
    await ctx.call(client, rq.Create(ctx.path("a"), b"", OPEN_ACL_UNSAFE, 0), Code.NODEEXISTS)
    await ctx.call(client, rq.Create(ctx.path("no", "x"), b"", OPEN_ACL_UNSAFE, 0), Code.NONODE)


@scenario("tree")
async def delete_errors(ctx: Ctx) -> None:
    """Delete is NONODE, BADVERSION, NOTEMPTY as documented, and OK with the right version."""
    client = await ctx.client()
    await ctx.call(client, rq.Delete(ctx.path("none")), Code.NONODE)
    await ctx.create(client, ctx.path("p"))
    await ctx.create(client, ctx.path("p", "c"))
    await ctx.call(client, rq.Delete(ctx.path("p"), 5), Code.BADVERSION)
    await ctx.call(client, rq.Delete(ctx.path("p")), Code.NOTEMPTY)
    await ctx.ok(client, rq.Delete(ctx.path("p", "c"), 0))
    await ctx.ok(client, rq.Delete(ctx.path("p")))


@scenario("tree")
async def data_round_trips_null_and_empty(ctx: Ctx) -> None:
    """Null and empty data are kept apart; setData with a wrong version is BADVERSION."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("n"), None)
    await ctx.create(client, ctx.path("e"), b"")
    same(
        body(await ctx.ok(client, rq.GetData(ctx.path("n"))), rq.GetDataResponse).data,
        None,
        "null data",
    )
    same(
        body(await ctx.ok(client, rq.GetData(ctx.path("e"))), rq.GetDataResponse).data,
        b"",
        "empty data",
    )
    await ctx.call(client, rq.SetData(ctx.path("e"), b"x", 7), Code.BADVERSION)
    await ctx.call(client, rq.SetData(ctx.path("missing"), b"x"), Code.NONODE)
    await ctx.call(client, rq.GetData(ctx.path("missing")), Code.NONODE)


@scenario("tree")
async def children_and_counts(ctx: Ctx) -> None:
    """getChildren lists names; getAllChildrenNumber counts every descendant."""
    client = await ctx.client()
    for name in ("a", "b", "a/x", "a/y"):
        await ctx.create(client, ctx.path(*name.split("/")))
    names = body(await ctx.ok(client, rq.GetChildren(ctx.root)), rq.GetChildrenResponse)
    same(sorted(names.children), ["a", "b"], "children")
    number = body(
        await ctx.ok(client, rq.GetAllChildrenNumber(ctx.root)), rq.GetAllChildrenNumberResponse
    )
    same(number.total_number, 4, "getAllChildrenNumber")
    await ctx.ok(client, rq.GetChildren(ctx.path("a"), with_stat=True))


@scenario("tree")
async def pipelined_requests_are_answered_in_order(ctx: Ctx) -> None:
    """Requests pipelined on one session are applied and answered in the order sent."""
    client = await ctx.client()
    futures = [
        await client.submit(rq.Create(ctx.path("s-"), str(i).encode(), OPEN_ACL_UNSAFE, 2))
        for i in range(20)
    ]
    futures.append(await client.submit(rq.Sync(ctx.root)))
    replies = [await f for f in futures]
    paths = [getattr(r.body, "path", "") for r in replies[:-1]]
    same(paths, [ctx.path(f"s-{i:010d}") for i in range(20)], "sequential names in order")
    zxids = [r.zxid for r in replies[:-1]]
    same(zxids, sorted(zxids), "zxids in order")
