"""Chapter 15 (spec/limits.py): jute.maxbuffer and request sizes."""

from __future__ import annotations

from conformance.scenarios.base import Ctx, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq


@scenario("limits")
async def large_data_round_trips(ctx: Ctx) -> None:
    """Data of 512 KiB, well under jute.maxbuffer, is stored and read back whole."""
    client = await ctx.client()
    data = bytes(range(256)) * 2048
    await ctx.create(client, ctx.path("big"), data)
    reply = await ctx.ok(client, rq.GetData(ctx.path("big")))
    same(body(reply, rq.GetDataResponse).data == data, True, "data read back")
