"""Chapter 14 (spec/reaping.py): container and TTL reaping (bounded waits)."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode


@scenario("reaping")
async def an_emptied_container_is_reaped(ctx: Ctx) -> None:
    """A container whose last child is deleted is deleted by the server."""
    client = await ctx.client()
    path = ctx.path("k")
    await ctx.ok(client, rq.Create(path, b"", OPEN_ACL_UNSAFE, 4, OpCode.createContainer))
    await ctx.create(client, ctx.path("k", "c"))
    await ctx.ok(client, rq.Delete(ctx.path("k", "c")))

    async def gone() -> bool:
        return (await client.call(rq.Exists(path))).err == Code.NONODE

    await ctx.eventually(gone, ctx.target.reap_wait_s, "the emptied container was not reaped")


@scenario("reaping", extended=True)
async def an_expired_ttl_node_is_reaped(ctx: Ctx) -> None:
    """A TTL node without children, unmodified for longer than its TTL, is deleted."""
    client = await ctx.client()
    path = ctx.path("t")
    await ctx.ok(client, rq.Create(path, b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 200))

    async def gone() -> bool:
        return (await client.call(rq.Exists(path))).err == Code.NONODE

    await ctx.eventually(gone, ctx.target.reap_wait_s, "the expired TTL node was not reaped")
