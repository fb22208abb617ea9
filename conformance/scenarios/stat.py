"""Chapter 4 (spec/stat.py): the Stat fields and how each moves, relative to observed zxids."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from conformance.scenarios.util import same, stat_of
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode


@scenario("stat")
async def create2_stat_is_the_creating_zxid(ctx: Ctx) -> None:
    """create2 returns czxid = mzxid = pzxid = the reply's zxid, versions 0, the data length."""
    client = await ctx.client()
    reply = await ctx.ok(
        client, rq.Create(ctx.path("n"), b"abc", OPEN_ACL_UNSAFE, 0, OpCode.create2)
    )
    stat = stat_of(reply)
    same((stat.czxid, stat.mzxid, stat.pzxid), (reply.zxid,) * 3, "czxid, mzxid, pzxid")
    same((stat.version, stat.cversion, stat.aversion), (0, 0, 0), "versions")
    same((stat.dataLength, stat.numChildren, stat.ephemeralOwner), (3, 0, 0), "length etc")


@scenario("stat")
async def set_data_moves_version_and_mzxid(ctx: Ctx) -> None:
    """setData increments version, sets mzxid to its zxid and keeps czxid."""
    client = await ctx.client()
    created = await ctx.create(client, ctx.path("n"), b"")
    first = await ctx.ok(client, rq.SetData(ctx.path("n"), b"12345", 0))
    stat = stat_of(first)
    same((stat.version, stat.mzxid, stat.czxid), (1, first.zxid, created.zxid), "after set")
    same(stat.dataLength, 5, "dataLength")
    second = await ctx.ok(client, rq.SetData(ctx.path("n"), None, 1))
    same((stat_of(second).version, stat_of(second).dataLength), (2, 0), "after set(null)")


@scenario("stat")
async def children_move_cversion_and_pzxid(ctx: Ctx) -> None:
    """Creating and deleting a child each increment cversion and set pzxid to their zxid."""
    client = await ctx.client()
    made = await ctx.create(client, ctx.path("c"))
    after_create = stat_of(await ctx.ok(client, rq.Exists(ctx.root)))
    same((after_create.cversion, after_create.numChildren), (1, 1), "cversion, numChildren")
    same(after_create.pzxid, made.zxid, "pzxid after create")
    gone = await ctx.ok(client, rq.Delete(ctx.path("c")))
    after_delete = stat_of(await ctx.ok(client, rq.Exists(ctx.root)))
    same((after_delete.cversion, after_delete.numChildren), (2, 0), "cversion, numChildren")
    same(after_delete.pzxid, gone.zxid, "pzxid after delete")
    same(after_delete.mzxid, after_create.mzxid, "mzxid (children do not change it)")


@scenario("stat")
async def set_acl_moves_aversion(ctx: Ctx) -> None:
    """setACL increments aversion only."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("n"))
    reply = await ctx.ok(client, rq.SetACL(ctx.path("n"), OPEN_ACL_UNSAFE, 0))
    stat = stat_of(reply)
    same((stat.aversion, stat.version, stat.cversion), (1, 0, 0), "versions after setACL")
