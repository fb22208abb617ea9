"""Tests of ``spec.acl``: who may do what to a znode."""

from __future__ import annotations

import pytest

from spec.acl import (
    ACL,
    ANYONE_ID_UNSAFE,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Perms,
    acl_permits,
    fixup_acl,
    generate_digest,
    ip_address_bytes,
    ip_matches,
    java_split,
    redact_acl,
    scheme_id_is_valid,
)
from spec.errors import Code
from spec.profiles import V3_8, V3_9, Profile
from spec.requests import (
    AddAuth,
    Check,
    Delete,
    ErrorResult,
    Exists,
    GetACL,
    GetACLResponse,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    Multi,
    MultiResponse,
    SetACL,
    SetData,
    WhoAmI,
    WhoAmIResponse,
)
from tests.spec.helpers import PROFILES, USER_PASS_DIGEST, Server, body, create, reply_of

ALICE = generate_digest("alice:secret")
BOB = generate_digest("bob:secret")


def acl(perms: int, scheme: str = "world", ident: str = "anyone") -> tuple[ACL, ...]:
    return (ACL(perms, Id(scheme, ident)),)


def server_with_node(perms: int, profile: Profile = V3_9) -> tuple[Server, int, int]:
    """A server with ``/n`` (ACL ``world:anyone`` ``perms``, child ``/n/c``) and two sessions.

    The first session is authenticated as alice and holds ALL on ``/n`` through its digest;
    the second is anonymous.
    """
    server = Server(profile)
    owner = server.connect()
    anonymous = server.connect()
    server.ok(owner, AddAuth("digest", b"alice:secret"))
    node_acl = (ACL(perms, ANYONE_ID_UNSAFE), ACL(Perms.ALL, Id("digest", ALICE)))
    server.ok(owner, create("/n", b"data", acl=node_acl))
    server.ok(owner, create("/n/c", b"child", acl=node_acl))
    return server, owner, anonymous


# --- permission bits and the check --------------------------------------------------------


def test_permission_bits() -> None:
    bits = [Perms.READ, Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN, Perms.ALL]
    assert [int(p) for p in bits] == [1, 2, 4, 8, 16, 31]


def test_an_empty_acl_list_permits_everything() -> None:
    assert acl_permits((), Perms.ADMIN, (), ipv6=False)


def test_a_super_id_passes_every_check() -> None:
    assert acl_permits(acl(0, "digest", ALICE), Perms.ALL, (Id("super", ""),), ipv6=False)


def test_world_anyone_matches_everyone_holding_the_bit() -> None:
    assert acl_permits(acl(Perms.READ), Perms.READ, (), ipv6=False)
    assert not acl_permits(acl(Perms.READ), Perms.WRITE, (), ipv6=False)


def test_other_ids_match_by_scheme_and_value() -> None:
    entry = acl(Perms.READ, "digest", ALICE)
    assert acl_permits(entry, Perms.READ, (Id("digest", ALICE),), ipv6=False)
    assert not acl_permits(entry, Perms.READ, (Id("digest", BOB),), ipv6=False)
    assert not acl_permits(entry, Perms.READ, (Id("ip", ALICE),), ipv6=False)
    # Any entry with the bit may grant it.
    two = (ACL(Perms.WRITE, Id("digest", ALICE)), ACL(Perms.READ, Id("digest", BOB)))
    assert acl_permits(two, Perms.READ, (Id("digest", BOB),), ipv6=False)
    assert not acl_permits(two, Perms.READ, (Id("digest", ALICE),), ipv6=False)


@pytest.mark.parametrize(
    ("client", "expression", "expected"),
    [
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "10.1.2.4", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("10.1.2.3", "10.1.2.0/24", True),
        ("10.1.3.3", "10.1.2.0/24", False),
        ("10.1.2.3", "0.0.0.0/0", True),
        ("10.1.2.3", "10.1.2.3/33", False),
        ("10.1.2.3", "10.1.2", False),
        ("10.1.2.3", "10.1.2.300", False),
        ("10.1.2.3", "10.1.2.3/x", False),
    ],
)
def test_ip_ids_match_the_address_under_the_mask(
    client: str, expression: str, expected: bool
) -> None:
    assert ip_matches(client, expression, ipv6=False) is expected


def test_ipv6_ip_ids_are_understood_only_from_3_9() -> None:
    assert ip_address_bytes("::1", ipv6=False) is None
    assert ip_address_bytes("::1", ipv6=True) == bytes(15) + b"\x01"
    assert ip_matches("fe80::1", "fe80::/16", ipv6=True)
    assert not ip_matches("fe81::1", "fe80::/16", ipv6=True)
    assert not ip_matches("fe80::1", "fe80::/16", ipv6=False)
    assert not ip_matches("10.0.0.1", "::/0", ipv6=True)  # families never match


def test_java_split_drops_trailing_empty_strings() -> None:
    assert java_split("a:b", ":") == ["a", "b"]
    assert java_split("a:b:", ":") == ["a", "b"]
    assert java_split(":b", ":") == ["", "b"]
    assert java_split("a::", ":") == ["a"]
    assert java_split("::", ":") == []
    assert java_split("", ":") == [""]


@pytest.mark.parametrize(
    ("scheme", "ident", "valid"),
    [
        ("world", "anyone", True),
        ("world", "everyone", False),
        ("digest", "user:hash", True),
        ("digest", "user:hash:", True),  # trailing empty part dropped, as Java does
        ("digest", "user", False),
        ("digest", "a:b:c", False),
        ("digest", "user::", False),
        ("ip", "1.2.3.4", True),
        ("ip", "1.2.3.0/24", True),
        ("ip", "1.2.3.4/33", False),
        ("ip", "1.2.3", False),
        ("ip", "host.example", False),
        ("super", "", False),
        ("sasl", "user", False),
        ("foo", "bar", False),
    ],
)
def test_scheme_id_validity(scheme: str, ident: str, valid: bool) -> None:
    assert scheme_id_is_valid(scheme, ident, ipv6=False) is valid


# --- which bit each request needs ---------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        GetData("/n"),
        GetChildren("/n"),
        GetChildren("/n", with_stat=True),
        GetAllChildrenNumber("/n"),
    ],
)
def test_reads_need_read(op: GetData | GetChildren | GetAllChildrenNumber) -> None:
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.READ)
    assert server.err(anonymous, op) == Code.NOAUTH
    server, _, anonymous = server_with_node(Perms.READ)
    assert server.err(anonymous, op) == Code.OK


def test_check_in_multi_needs_read() -> None:
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.READ)
    response = body(server.call(anonymous, Multi((Check("/n", -1),))), MultiResponse)
    assert response.results == (ErrorResult(Code.NOAUTH),)


def test_exists_needs_read_from_3_9_but_not_in_3_8_0() -> None:
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.READ, V3_9)
    assert server.err(anonymous, Exists("/n")) == Code.NOAUTH
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.READ, V3_8)
    assert server.err(anonymous, Exists("/n")) == Code.OK


def test_set_data_needs_write() -> None:
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.WRITE)
    assert server.err(anonymous, SetData("/n", b"x")) == Code.NOAUTH
    server, _, anonymous = server_with_node(Perms.WRITE)
    assert server.err(anonymous, SetData("/n", b"x")) == Code.OK


def test_create_needs_create_on_the_parent() -> None:
    server, owner, anonymous = server_with_node(Perms.ALL & ~Perms.CREATE)
    assert server.err(anonymous, create("/n/x")) == Code.NOAUTH
    # The new node's own ACL does not matter, nor the grandparent's.
    server.ok(owner, create("/n/c/x", acl=acl(0)))
    server, _, anonymous = server_with_node(Perms.CREATE)
    assert server.err(anonymous, create("/n/x")) == Code.OK


def test_delete_needs_delete_on_the_parent_not_on_the_node() -> None:
    server, owner, anonymous = server_with_node(Perms.ALL & ~Perms.DELETE)
    assert server.err(anonymous, Delete("/n/c")) == Code.NOAUTH
    server, owner, anonymous = server_with_node(Perms.DELETE)
    server.ok(owner, SetACL("/n/c", acl(0)))
    assert server.err(anonymous, Delete("/n/c")) == Code.OK


def test_set_acl_needs_admin() -> None:
    server, _, anonymous = server_with_node(Perms.ALL & ~Perms.ADMIN)
    assert server.err(anonymous, SetACL("/n", OPEN_ACL_UNSAFE)) == Code.NOAUTH
    server, _, anonymous = server_with_node(Perms.ADMIN)
    assert server.err(anonymous, SetACL("/n", OPEN_ACL_UNSAFE)) == Code.OK


def test_get_acl_needs_read_or_admin() -> None:
    for perms, expected in [
        (Perms.READ, Code.OK),
        (Perms.ADMIN, Code.OK),
        (Perms.WRITE | Perms.CREATE | Perms.DELETE, Code.NOAUTH),
    ]:
        server, _, anonymous = server_with_node(perms)
        assert server.err(anonymous, GetACL("/n")) == expected


def test_get_acl_without_admin_shows_digest_ids_with_the_hash_replaced_by_x() -> None:
    server, owner, anonymous = server_with_node(Perms.READ)
    shown = body(server.call(anonymous, GetACL("/n")), GetACLResponse)
    assert shown.acl == (
        ACL(Perms.READ, ANYONE_ID_UNSAFE),
        ACL(Perms.ALL, Id("digest", "alice:x")),
    )
    assert shown.stat == server.stat("/n")
    full = body(server.call(owner, GetACL("/n")), GetACLResponse)
    assert full.acl == server.node("/n").acl
    assert redact_acl(acl(1, "ip", "1.2.3.4")) == acl(1, "ip", "1.2.3.4")


def test_acls_are_not_inherited_by_children() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/locked", acl=acl(Perms.CREATE)))
    server.ok(sid, create("/locked/open"))
    assert server.err(sid, GetData("/locked")) == Code.NOAUTH
    assert server.err(sid, GetData("/locked/open")) == Code.OK


@pytest.mark.parametrize("perms", [0, 32, 255, -1])
def test_perms_are_stored_as_given(perms: int) -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/n", acl=acl(perms)))
    assert server.node("/n").acl == acl(perms)


def test_perms_zero_grants_nothing() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/n", acl=acl(0)))
    assert server.err(sid, GetData("/n")) == Code.NOAUTH
    assert server.err(sid, SetData("/n", b"")) == Code.NOAUTH
    assert server.err(sid, GetACL("/n")) == Code.NOAUTH


def test_ip_acl_matches_the_connection_address() -> None:
    server = Server()
    local = server.connect(client_address="10.0.0.7")
    remote = server.connect(client_address="192.168.1.1")
    server.ok(local, create("/n", acl=acl(Perms.ALL, "ip", "10.0.0.0/8")))
    assert server.err(local, GetData("/n")) == Code.OK
    assert server.err(remote, GetData("/n")) == Code.NOAUTH


def test_super_digest_bypasses_every_acl() -> None:
    server = Server(super_digest=generate_digest("super:admin"))
    sid = server.connect()
    server.ok(sid, create("/n", acl=acl(0)))
    assert server.err(sid, GetData("/n")) == Code.NOAUTH
    server.ok(sid, AddAuth("digest", b"super:admin"))
    assert server.err(sid, GetData("/n")) == Code.OK
    assert server.err(sid, SetACL("/n", OPEN_ACL_UNSAFE)) == Code.OK
    ids = server.state.sessions[sid].auth_ids
    assert Id("super", "") in ids
    assert ids.index(Id("super", "")) < ids.index(Id("digest", generate_digest("super:admin")))


# --- validating the ACL list of create and setACL -----------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        (),
        acl(Perms.ALL, "world", "everyone"),
        acl(Perms.ALL, "digest", "alice"),
        acl(Perms.ALL, "ip", "10.0.0.1/40"),
        acl(Perms.ALL, "ip", "::1"),  # IPv6 only parses from 3.9
        acl(Perms.ALL, "foo", "bar"),
        acl(Perms.ALL, "super", ""),
        OPEN_ACL_UNSAFE + acl(Perms.ALL, "foo", "bar"),
    ],
)
def test_invalid_acl_lists_are_invalidacl(bad: tuple[ACL, ...]) -> None:
    server = Server(V3_8)
    sid = server.connect()
    server.ok(sid, create("/n"))
    assert server.err(sid, create("/m", acl=bad)) == Code.INVALIDACL
    assert server.err(sid, SetACL("/n", bad)) == Code.INVALIDACL
    assert not server.exists("/m")


def test_ipv6_ip_acl_is_valid_from_3_9() -> None:
    server = Server(V3_9)
    sid = server.connect()
    server.ok(sid, create("/m", acl=acl(Perms.ALL, "ip", "::1")))


def test_auth_scheme_without_an_authenticated_id_is_invalidacl() -> None:
    server = Server()
    sid = server.connect()  # holds only ip:127.0.0.1, which is not "authenticated"
    assert server.err(sid, create("/n", acl=CREATOR_ALL_ACL)) == Code.INVALIDACL


def test_auth_scheme_expands_to_every_authenticated_id_of_the_caller() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"alice:secret"))
    server.ok(sid, AddAuth("digest", b"bob:secret"))
    server.ok(sid, create("/n", acl=(ACL(Perms.READ | Perms.ADMIN, AUTH_IDS),)))
    assert set(server.node("/n").acl) == {
        ACL(Perms.READ | Perms.ADMIN, Id("digest", ALICE)),
        ACL(Perms.READ | Perms.ADMIN, Id("digest", BOB)),
    }


def test_auth_scheme_ignores_the_id_it_carries() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"alice:secret"))
    server.ok(sid, create("/n", acl=acl(Perms.ALL, "auth", "whatever")))
    assert server.node("/n").acl == acl(Perms.ALL, "digest", ALICE)


def test_duplicate_acl_entries_are_dropped_first_kept() -> None:
    entries = (
        ACL(Perms.READ, ANYONE_ID_UNSAFE),
        ACL(Perms.ALL, Id("digest", ALICE)),
        ACL(Perms.READ, ANYONE_ID_UNSAFE),
    )
    assert fixup_acl(entries, (), ipv6=False) == entries[:2]


def test_auth_scheme_does_not_expand_to_the_super_id() -> None:
    server = Server(super_digest=generate_digest("super:admin"))
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"super:admin"))
    server.ok(sid, create("/n", acl=CREATOR_ALL_ACL))
    assert server.node("/n").acl == acl(Perms.ALL, "digest", generate_digest("super:admin"))


def test_duplicates_are_removed_before_the_auth_expansion() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"alice:secret"))
    entries = (ACL(Perms.ALL, AUTH_IDS), ACL(Perms.ALL, Id("digest", ALICE)))
    server.ok(sid, create("/n", acl=entries))
    assert server.node("/n").acl == (
        ACL(Perms.ALL, Id("digest", ALICE)),
        ACL(Perms.ALL, Id("digest", ALICE)),
    )


# --- authentication -----------------------------------------------------------------------


def test_digest_is_base64_of_sha1_of_user_colon_password() -> None:
    assert generate_digest("user:pass") == USER_PASS_DIGEST
    assert generate_digest("user:pa:ss").startswith("user:")


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_add_auth_digest_adds_the_digest_id(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    outcome = server.ok(sid, AddAuth("digest", b"user:pass"))
    assert reply_of(outcome).zxid == 0
    assert Id("digest", USER_PASS_DIGEST) in server.state.sessions[sid].auth_ids
    server.ok(sid, create("/n", acl=acl(Perms.ALL, "digest", USER_PASS_DIGEST)))
    assert server.err(sid, GetData("/n")) == Code.OK
    other = server.connect()
    assert server.err(other, GetData("/n")) == Code.NOAUTH


def test_every_connection_holds_its_ip_id() -> None:
    server = Server()
    sid = server.connect(client_address="10.9.8.7")
    assert server.state.sessions[sid].auth_ids == (Id("ip", "10.9.8.7"),)
    who = body(server.call(sid, WhoAmI()), WhoAmIResponse)
    assert who.client_info == (("ip", "10.9.8.7"),)


def test_add_auth_ip_adds_the_connection_address_again() -> None:
    server = Server()
    sid = server.connect(client_address="10.9.8.7")
    server.ok(sid, AddAuth("ip", b"ignored"))
    assert server.state.sessions[sid].auth_ids == (Id("ip", "10.9.8.7"),)


def test_add_auth_accumulates_and_who_am_i_lists_users() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, AddAuth("digest", b"a:1"))
    server.ok(sid, AddAuth("digest", b"c:2"))
    server.ok(sid, AddAuth("digest", b"a:1"))
    who = body(server.call(sid, WhoAmI()), WhoAmIResponse)
    # ZooKeeper keeps a connection's ids in a hash set: compare as a set.
    assert set(who.client_info) == {("digest", "a"), ("digest", "c"), ("ip", "127.0.0.1")}
    assert len(who.client_info) == 3


@pytest.mark.parametrize("scheme", ["foo", "world", "super", "sasl", "auth"])
def test_add_auth_with_an_unknown_scheme_fails_and_closes(scheme: str) -> None:
    server = Server()
    sid = server.connect()
    outcome = server.call(sid, AddAuth(scheme, b"x:y"))
    assert outcome.reply is not None
    assert (outcome.reply.zxid, outcome.reply.err) == (0, Code.AUTHFAILED)
    assert outcome.close
    assert not server.state.sessions[sid].connected


def test_read_acl_unsafe_and_creator_all_constants() -> None:
    assert (ACL(Perms.READ, Id("world", "anyone")),) == READ_ACL_UNSAFE
    assert (ACL(Perms.ALL, Id("auth", "")),) == CREATOR_ALL_ACL
    assert (ACL(Perms.ALL, Id("world", "anyone")),) == OPEN_ACL_UNSAFE
