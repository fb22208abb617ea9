"""Chapter 14 (spec/reaping.py): container and TTL reaping (bounded waits).

A reaping happens at the server's next container check (``znode.container.checkIntervalMs``,
60 s by default); these scenarios wait that long and a little more (``Target.reap_wait_s``)
if the suite may wait so long (``--reap-wait``), and are reported "not checked" otherwise.
"""

from __future__ import annotations

from conformance.scenarios.base import REAPING, TTL_NODES, Ctx, scenario
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode


@scenario("reaping", needs=(REAPING,))
async def an_emptied_container_is_reaped(ctx: Ctx) -> None:
    """A container whose last child is deleted is deleted by the server."""
    client = await ctx.client()
    path = ctx.path("k")
    await ctx.ok(client, rq.Create(path, b"", OPEN_ACL_UNSAFE, 4, OpCode.createContainer))
    await ctx.create(client, ctx.path("k", "c"))
    await ctx.ok(client, rq.Delete(ctx.path("k", "c")))

    async def gone() -> bool:
        return (await client.call(rq.Exists(path))).err == Code.NONODE

    await ctx.eventually(gone, ctx.target.reap_wait_s, f"the emptied container {_reaped(ctx)}")


@scenario("reaping", needs=(TTL_NODES, REAPING))
async def an_expired_ttl_node_is_reaped(ctx: Ctx) -> None:
    """A TTL node without children, unmodified for longer than its TTL, is deleted."""
    client = await ctx.client()
    path = ctx.path("t")
    await ctx.ok(client, rq.Create(path, b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 200))

    async def gone() -> bool:
        return (await client.call(rq.Exists(path))).err == Code.NONODE

    await ctx.eventually(gone, ctx.target.reap_wait_s, f"the expired TTL node {_reaped(ctx)}")


def _reaped(ctx: Ctx) -> str:
    interval = ctx.target.container_check_interval_ms
    return (
        f"was not reaped, though the suite was told the server reaps every {interval} ms "
        "(--container-check-interval)"
    )
