"""Chapter 6 (spec/acl.py): permissions, schemes, validation."""

from __future__ import annotations

from conformance.scenarios.base import DIGEST_AUTH, Ctx, scenario
from conformance.scenarios.util import body, same
from spec import requests as rq
from spec.acl import ACL, OPEN_ACL_UNSAFE, Id, Perms
from spec.errors import Code

DIGEST_ACL = (ACL(Perms.ALL, Id("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20=")),)
READ_ONLY = (ACL(Perms.READ, Id("world", "anyone")),)


@scenario("acl")
async def digest_acl_needs_the_identity(ctx: Ctx) -> None:
    """A digest-protected znode refuses others (NOAUTH) until they add the identity."""
    owner = await ctx.client("owner")
    stranger = await ctx.client("stranger")
    await ctx.ok(owner, rq.Create(ctx.path("d"), b"secret", DIGEST_ACL, 0))
    await ctx.call(stranger, rq.GetData(ctx.path("d")), Code.NOAUTH)
    await ctx.call(stranger, rq.SetData(ctx.path("d"), b"x"), Code.NOAUTH)
    await ctx.ok(stranger, rq.AddAuth("digest", DIGEST_AUTH))
    reply = await ctx.ok(stranger, rq.GetData(ctx.path("d")))
    same(body(reply, rq.GetDataResponse).data, b"secret", "data after auth")
    await ctx.ok(stranger, rq.Delete(ctx.path("d")))


@scenario("acl")
async def read_only_acl_refuses_writes(ctx: Ctx) -> None:
    """world:anyone READ lets everybody read and nobody write or create children."""
    client = await ctx.client()
    await ctx.ok(client, rq.Create(ctx.path("r"), b"v", READ_ONLY, 0))
    await ctx.ok(client, rq.GetData(ctx.path("r")))
    await ctx.call(client, rq.SetData(ctx.path("r"), b"w"), Code.NOAUTH)
    await ctx.call(client, rq.Create(ctx.path("r", "c"), b"", OPEN_ACL_UNSAFE, 0), Code.NOAUTH)
    acl = body(await ctx.ok(client, rq.GetACL(ctx.path("r"))), rq.GetACLResponse)
    same(acl.acl, READ_ONLY, "getACL")
    await ctx.ok(client, rq.Delete(ctx.path("r")))  # delete needs DELETE on the parent


@scenario("acl")
async def invalid_acls_are_refused(ctx: Ctx) -> None:
    """An empty ACL, an unknown scheme and auth without an identity are INVALIDACL."""
    client = await ctx.client()
    for acl in (
        (),
        (ACL(Perms.ALL, Id("nosuchscheme", "x")),),
        (ACL(Perms.ALL, Id("auth", "")),),
    ):
        await ctx.call(client, rq.Create(ctx.path("i"), b"", acl, 0), Code.INVALIDACL)


@scenario("acl")
async def set_acl_checks_the_version(ctx: Ctx) -> None:
    """setACL with a wrong aversion is BADVERSION; with the right one it succeeds."""
    client = await ctx.client()
    await ctx.create(client, ctx.path("n"))
    await ctx.call(client, rq.SetACL(ctx.path("n"), OPEN_ACL_UNSAFE, 3), Code.BADVERSION)
    await ctx.ok(client, rq.SetACL(ctx.path("n"), OPEN_ACL_UNSAFE, 0))


@scenario("acl")
async def who_am_i_reports_identities(ctx: Ctx) -> None:
    """whoAmI lists the connection's identities (ip, then added digests)."""
    client = await ctx.client()
    await ctx.ok(client, rq.AddAuth("digest", DIGEST_AUTH))
    reply = body(await ctx.ok(client, rq.WhoAmI()), rq.WhoAmIResponse)
    ctx.expect(("digest", "user") in reply.client_info, f"whoAmI: {reply.client_info}")


@scenario("acl")
async def exists_without_read_follows_the_profile(ctx: Ctx) -> None:
    """exists on a znode without READ: NOAUTH from 3.9 (ZOOKEEPER-2590), answered in 3.8.0."""
    client = await ctx.client()
    write_only = (ACL(Perms.WRITE | Perms.DELETE, Id("world", "anyone")),)
    await ctx.ok(client, rq.Create(ctx.path("w"), b"", write_only, 0))
    expected = Code.NOAUTH if ctx.profile.exists_checks_read else Code.OK
    await ctx.call(client, rq.Exists(ctx.path("w")), expected)
    await ctx.call(client, rq.GetData(ctx.path("w")), Code.NOAUTH)
    await ctx.ok(client, rq.SetData(ctx.path("w"), b"x"))
