"""Chapter 15 (spec/limits.py): jute.maxbuffer and request sizes."""

from __future__ import annotations

from conformance.client import ClientError
from conformance.scenarios.base import Ctx, ScenarioFailure, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE


@scenario("limits")
async def large_data_round_trips(ctx: Ctx) -> None:
    """Data of 512 KiB (or half of jute.maxbuffer if that is less) is stored and read back."""
    client = await ctx.client()
    size = min(512 * 1024, ctx.target.settings.jute_max_buffer // 2)
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    await ctx.create(client, ctx.path("big"), data)
    reply = await ctx.ok(client, rq.GetData(ctx.path("big")))
    same(body(reply, rq.GetDataResponse).data == data, True, "data read back")


@scenario("limits")
async def an_oversized_request_closes_the_connection(ctx: Ctx) -> None:
    """A request larger than jute.maxbuffer (1 MiB) gets no reply: the connection is closed."""
    client = await ctx.client("big", reconnect=False)
    data = bytes(ctx.target.settings.jute_max_buffer + 1)
    try:
        reply = await client.call(rq.Create(ctx.path("big"), data, OPEN_ACL_UNSAFE, 0))
    except ClientError:
        return
    raise ScenarioFailure(f"an oversized request was answered: {reply}")
