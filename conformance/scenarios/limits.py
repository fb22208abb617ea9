"""Chapter 15 (spec/limits.py): jute.maxbuffer and request sizes."""

from __future__ import annotations

from conformance.client import ClientError
from conformance.scenarios.base import Ctx, ScenarioFailure, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE


@scenario("limits")
async def large_data_round_trips(ctx: Ctx) -> None:
    """Data of 512 KiB, well under jute.maxbuffer, is stored and read back whole."""
    client = await ctx.client()
    data = bytes(range(256)) * 2048
    await ctx.create(client, ctx.path("big"), data)
    reply = await ctx.ok(client, rq.GetData(ctx.path("big")))
    same(body(reply, rq.GetDataResponse).data == data, True, "data read back")


@scenario("limits")
async def an_oversized_request_closes_the_connection(ctx: Ctx) -> None:
    """A request larger than jute.maxbuffer (1 MiB) gets no reply: the connection is closed."""
    client = await ctx.client("big", reconnect=False)
    try:
        reply = await client.call(rq.Create(ctx.path("big"), bytes(1_100_000), OPEN_ACL_UNSAFE, 0))
    except ClientError:
        return
    raise ScenarioFailure(f"an oversized request was answered: {reply}")
