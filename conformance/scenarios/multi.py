"""Chapter 10 (spec/multi.py): atomic multi and its result layout; multiRead."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode


@scenario("multi")
async def multi_applies_all(ctx: Ctx) -> None:
    """A multi of create, setData, check and delete applies every op at one zxid."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("old"))
    reply = await ctx.ok(
        client,
        rq.Multi(
            (
                rq.Create(ctx.path("a"), b"1", OPEN_ACL_UNSAFE, 0),
                rq.SetData(ctx.path("a"), b"2", 0),
                rq.Check(ctx.path("a"), 1),
                rq.Delete(ctx.path("old")),
            )
        ),
    )
    results = body(reply, rq.MultiResponse).results
    same(
        [type(r).__name__ for r in results],
        ["CreateResult", "SetDataResult", "CheckResult", "DeleteResult"],
        "result kinds",
    )
    data = await ctx.ok(client, rq.GetData(ctx.path("a")))
    stat = body(data, rq.GetDataResponse).stat
    same((stat.czxid, stat.mzxid), (reply.zxid, reply.zxid), "one zxid for the multi")


@scenario("multi")
async def multi_fails_atomically(ctx: Ctx) -> None:
    """A failing sub-op fails the multi (header OK): its error, RUNTIMEINCONSISTENCY after,
    OK before, and nothing is applied."""
    client = await ctx.client()
    reply = await ctx.ok(
        client,
        rq.Multi(
            (
                rq.Create(ctx.path("a"), b"", OPEN_ACL_UNSAFE, 0),
                rq.Check(ctx.path("a"), 4),
                rq.Create(ctx.path("b"), b"", OPEN_ACL_UNSAFE, 0),
            )
        ),
    )
    results = body(reply, rq.MultiResponse).results
    errs = [getattr(r, "err", None) for r in results]
    same(errs, [Code.OK, Code.BADVERSION, Code.RUNTIMEINCONSISTENCY], "sub-op errors")
    await ctx.call(client, rq.Exists(ctx.path("a")), Code.NONODE)


@scenario("multi")
async def empty_multi_and_multi_read(ctx: Ctx) -> None:
    """An empty multi succeeds; multiRead answers each read, errors in place."""
    client = await ctx.client()
    await ctx.ok(client, rq.Multi(()))
    await ctx.create(client, ctx.path("a"), b"x")
    reply = await ctx.ok(
        client,
        rq.MultiRead(
            (rq.GetData(ctx.path("a")), rq.GetChildren(ctx.root), rq.GetData(ctx.path("no")))
        ),
    )
    results = body(reply, rq.MultiResponse).results
    same(getattr(results[0], "data", None), b"x", "first read")
    same(getattr(results[1], "children", None), ("a",), "second read")
    same(getattr(results[2], "err", None), Code.NONODE, "third read")


@scenario("multi")
async def create2_in_multi_follows_the_profile(ctx: Ctx) -> None:
    """create2 inside multi: path and stat from 3.9 (ZOOKEEPER-4026), path only in 3.8."""
    client = await ctx.client()
    reply = await ctx.ok(
        client, rq.Multi((rq.Create(ctx.path("a"), b"", OPEN_ACL_UNSAFE, 0, OpCode.create2),))
    )
    result = body(reply, rq.MultiResponse).results[0]
    has_stat = getattr(result, "stat", None) is not None
    same(has_stat, ctx.profile.multi_create2_result, "create2 result carries a stat")


@scenario("multi")
async def bad_create_flags_in_multi_follow_the_profile(ctx: Ctx) -> None:
    """A create sub-op with flags that are no mode: MARSHALLINGERROR in 3.9, BADARGUMENTS in 3.8."""
    client = await ctx.client()
    reply = await client.call(rq.Multi((rq.Create(ctx.path("a"), b"", OPEN_ACL_UNSAFE, 9),)))
    if ctx.profile.multi_rejects_bad_create_flags:
        same(reply.err, Code.MARSHALLINGERROR, "multi err")
    else:
        results = body(reply, rq.MultiResponse).results
        same(getattr(results[0], "err", None), Code.BADARGUMENTS, "sub-op err")
