"""Chapters 2 and 17 (spec/opcodes.py, spec/machine.py): unimplemented requests, reply zxids."""

from __future__ import annotations

from conformance.client import ClientError
from conformance.scenarios.base import Ctx, scenario
from spec import requests as rq
from spec.errors import Code


async def _unimplemented(ctx: Ctx, op: rq.Operation) -> None:
    client = await ctx.client("raw", reconnect=False)
    try:
        reply = await client.call(op)
    except ClientError:
        ctx.expect(False, f"{op}: no UNIMPLEMENTED reply before the connection closed")
        return
    ctx.expect(reply.err == Code.UNIMPLEMENTED, f"{op}: UNIMPLEMENTED expected, got {reply}")


@scenario("opcodes")
async def an_unknown_opcode_is_unimplemented(ctx: Ctx) -> None:
    """An opcode the server does not serve is answered UNIMPLEMENTED, then the connection
    closes."""
    await _unimplemented(ctx, rq.Unknown(99))


@scenario(
    "opcodes",
    skip={
        "3.8": "spec/DIVERGENCES.md §1: Apache ZooKeeper 3.8.0 does not answer a standalone "
        "check (ZOOKEEPER-2623); the spec gives 3.8.5's UNIMPLEMENTED"
    },
)
async def a_standalone_check_is_unimplemented(ctx: Ctx) -> None:
    """check outside multi is answered UNIMPLEMENTED, then the connection closes."""
    await _unimplemented(ctx, rq.Check(ctx.root, -1))


@scenario("opcodes")
async def reads_carry_the_last_zxid(ctx: Ctx) -> None:
    """A write's reply carries its own zxid; a later read on the session carries at least it."""
    client = await ctx.client()
    write = await ctx.ok(client, rq.SetData(ctx.root, b"x"))
    read = await ctx.ok(client, rq.GetData(ctx.root))
    ctx.expect(read.zxid >= write.zxid > 0, f"write zxid {write.zxid}, read zxid {read.zxid}")
