"""Chapter: ACLs — who may do what to a znode.

Rules
-----
* An ACL is a list of ``(perms, Id(scheme, id))`` entries attached to one znode; it is not
  inherited by children. Permission bits: READ=1, WRITE=2, CREATE=4, DELETE=8, ADMIN=16,
  ALL=31. Perms are stored as given (0 and values above 31 are accepted).
* Which bit each request needs: getData, getChildren(2), getAllChildrenNumber, check (in
  multi) and, from 3.8.4/3.9.2, exists need READ on the node; setData needs WRITE; create
  needs CREATE on the *parent*; delete needs DELETE on the *parent*; setACL needs ADMIN;
  getACL needs READ or ADMIN (without ADMIN, digest ids are shown with the hash replaced by
  ``x``).
* A check passes when the ACL list is empty, when the caller holds a ``super`` id, or when
  some entry has the bit and matches one of the caller's ids: ``world:anyone`` matches
  everyone; otherwise the schemes must be equal and the scheme's ``matches`` must hold
  (digest and auth ids: string equality; ip: address under mask).
* Validating an ACL list given to create/setACL (``PrepRequestProcessor.fixupACL``):
  null or empty → INVALIDACL; ``world`` only with id ``anyone``; ``auth`` entries are
  replaced by one entry per *authenticated* id the caller holds (digest, sasl, x509; not
  ip, not super), and if it holds none → INVALIDACL; ``digest`` ids must split on ``:`` into
  exactly two parts (Java's ``split`` drops trailing empty parts); ``ip`` ids must parse
  (IPv4 dotted quad with an optional ``/bits``; IPv6 too from 3.9); any other scheme →
  INVALIDACL (a server knows only the ``ip`` and ``digest`` providers unless configured).
  Duplicate entries are dropped *before* ``auth`` is expanded (first occurrence kept), so
  the expansion can still produce duplicates, which are stored as they are.
* Null fields: on the wire either field of an ``Id`` can be null (kazoo sends its
  ``CREATOR_ALL_ACL`` as ``auth`` with a null id). An ``auth`` entry's id is never looked
  at, so a null one is fine. Java compares entries with the generated ``equals``, which
  calls ``scheme.equals``/``id.equals`` on the entry being checked; so a null field meets
  Java code in three places, and each time the server answers MARSHALLINGERROR
  (``MalformedRequest``) instead of INVALIDACL: (1) dropping duplicates, when an entry with a
  null scheme has the perms of an entry kept before it, or an entry with a null id has the
  perms and the scheme of one; (2) a ``world`` entry with a null id; (3) a null id for a
  scheme that has a provider (``ip``, ``digest``: ``isValid`` splits it). A null scheme met
  anywhere else is INVALIDACL, and so is a null id of an unknown scheme. Entries are judged
  in order, and the first failure decides. A stored ACL never holds a null.
* The ids a connection holds are a set to Apache (``ServerCnxn.authInfo``, a
  ConcurrentHashMap): whoAmI lists them, and an ``auth`` entry expands to them, in that
  set's order, not in the order they were added (``held_id_order``).
* Authentication (``addAuth``): scheme ``digest`` with ``user:password`` adds the id
  ``digest:user:BASE64(SHA1("user:password"))`` (SHA1 despite docs saying MD5); if that
  digest equals the configured super digest, ``super:`` is added first. Every connection
  also holds ``ip:<client address>``. Any other scheme fails with AUTHFAILED and the
  connection is closed.

Source: ``PrepRequestProcessor.checkACL``/``fixupACL``, ``ZooKeeperServer.checkACL``,
``DigestAuthenticationProvider``, ``IPAuthenticationProvider``, ``FinalRequestProcessor``
(getACL redaction); programmer's guide "ZooKeeper access control using ACLs".
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from enum import IntFlag

from spec.errors import MalformedRequest
from spec.record import record


class Perms(IntFlag):
    """Permission bits of an ACL entry (``ZooDefs.Perms``)."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


@record
class Id:
    """An identity: ``scheme`` (world, auth, digest, ip, super, ...) and ``id``.

    Either field is ``None`` only in an ACL entry as a client sent it (see the module
    docstring); the ids a session holds and the ACLs stored on znodes never hold ``None``.
    """

    scheme: str | None
    id: str | None


@record
class ACL:
    """One ACL entry: the permission bits granted to an identity."""

    perms: int
    id: Id


# The bits as plain ints, for hot paths (IntFlag arithmetic is slow).
READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16

ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")
SUPER_ID = Id("super", "")

# Plain ints for perms (equal to the Perms values): the system znodes carry these ACLs, and
# IntFlag arithmetic in every ACL check of a request was measurable.
OPEN_ACL_UNSAFE: tuple[ACL, ...] = (ACL(int(Perms.ALL), ANYONE_ID_UNSAFE),)
CREATOR_ALL_ACL: tuple[ACL, ...] = (ACL(int(Perms.ALL), AUTH_IDS),)
READ_ACL_UNSAFE: tuple[ACL, ...] = (ACL(int(Perms.READ), ANYONE_ID_UNSAFE),)

# Schemes whose provider says ``isAuthenticated()``: only their ids replace an ``auth``
# entry (``ip`` is not authenticated; ``super`` has no provider and is skipped).
AUTHENTICATED_SCHEMES = frozenset({"digest", "sasl", "x509"})
# Schemes with an authentication provider in a server started without extra providers
# (``ProviderRegistry.initialize``): only their ids can be validated.
PROVIDER_SCHEMES = frozenset({"ip", "digest"})


def java_split(text: str, separator: str) -> list[str]:
    """``String.split`` with no limit: trailing empty strings are removed."""
    parts = text.split(separator)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if parts == [""] and text != "":
        return []
    return parts


def java_string_hash(text: str) -> int:
    """``String.hashCode()``: ``31 * h + unit`` over the UTF-16 units, as a signed int32."""
    units = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for at in range(0, len(units), 2):
        value = (31 * value + (units[at] << 8 | units[at + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _java_id_hash(ident: Id) -> int:
    """The jute-generated ``Id.hashCode()`` (17, then ``37 * result + field.hashCode()``)."""
    assert ident.scheme is not None and ident.id is not None, "held ids are never null"
    result = (37 * 17 + java_string_hash(ident.scheme)) & 0xFFFFFFFF
    return (37 * result + java_string_hash(ident.id)) & 0xFFFFFFFF


def held_id_order(held: Sequence[Id]) -> list[Id]:
    """The ids a connection holds, in the order Apache lists them (whoAmI, and the ACL
    entries an ``auth`` entry expands to): a server keeps them in
    ``Collections.newSetFromMap(new ConcurrentHashMap<>())`` (``ServerCnxn.authInfo``), whose
    order is its table's: by ``spread(hashCode)`` modulo the table size (16, doubled when
    three quarters full), then by insertion within a bin. ``held`` is in insertion order.
    """
    size = 16
    bins: list[list[tuple[int, Id]]] = [[] for _ in range(size)]
    for count, ident in enumerate(held, start=1):
        code = _java_id_hash(ident)
        spread = (code ^ (code >> 16)) & 0x7FFFFFFF
        bins[spread & (size - 1)].append((spread, ident))
        if count >= size - (size >> 2):
            bins, size = _transfer(bins, size), size * 2
    return [ident for entries in bins for _, ident in entries]


def _transfer(bins: list[list[tuple[int, Id]]], size: int) -> list[list[tuple[int, Id]]]:
    """``ConcurrentHashMap.transfer``: each bin splits in two; the nodes after the last
    change of side keep their order, the ones before it are prepended, so come out reversed."""
    grown: list[list[tuple[int, Id]]] = [[] for _ in range(size * 2)]
    for index, entries in enumerate(bins):
        if not entries:
            continue
        last_run = len(entries) - 1
        side = entries[-1][0] & size
        while last_run > 0 and entries[last_run - 1][0] & size == side:
            last_run -= 1
        low: list[tuple[int, Id]] = []
        high: list[tuple[int, Id]] = []
        (high if side else low).extend(entries[last_run:])
        for entry in entries[:last_run]:
            (high if entry[0] & size else low).insert(0, entry)
        grown[index] = low
        grown[index + size] = high
    return grown


def generate_digest(user_password: str) -> str:
    """``user:BASE64(SHA1("user:password"))`` as ``DigestAuthenticationProvider`` makes it."""
    user = user_password.split(":", 1)[0]
    digest = hashlib.sha1(user_password.encode("utf-8")).digest()
    return user + ":" + base64.b64encode(digest).decode("ascii")


def _ipv4_bytes(address: str) -> bytes | None:
    parts = address.split(".")
    if len(parts) != 4:
        return None
    out = bytearray()
    for part in parts:
        # Integer.parseInt accepts a leading sign; a value outside 0..255 is refused.
        try:
            value = int(part, 10) if part.strip() == part and part else None
        except ValueError:
            return None
        if value is None or not 0 <= value <= 255:
            return None
        out.append(value)
    return bytes(out)


def _ipv6_bytes(address: str) -> bytes | None:
    parts = address.split("::")
    if len(parts) == 1:
        head, tail = parts[0].split(":"), []
        if len(head) != 8:
            return None
    elif len(parts) == 2:
        head = parts[0].split(":") if parts[0] else []
        tail = parts[1].split(":") if parts[1] else []
        if len(head) + len(tail) >= 8:
            return None
    else:
        return None
    result = bytearray(16)

    def fill(at: int, segments: list[str]) -> bool:
        for segment in segments:
            if not segment or len(segment) > 4:
                return False
            try:
                value = int(segment, 16)
            except ValueError:
                return False
            result[at] = (value >> 8) & 0xFF
            result[at + 1] = value & 0xFF
            at += 2
        return True

    if not fill(0, head) or not fill(16 - 2 * len(tail), tail):
        return None
    return bytes(result)


def ip_address_bytes(address: str, ipv6: bool) -> bytes | None:
    """The bytes of an address as ``IPAuthenticationProvider.addr2Bytes`` parses it.

    Before 3.9 only IPv4 parses; from 3.9 a string containing ``:`` is read as IPv6.
    """
    if ipv6 and ":" in address:
        return _ipv6_bytes(address)
    if "." in address:
        return _ipv4_bytes(address)
    return None


def _mask(raw: bytes, bits: int) -> bytes:
    out = bytearray(raw)
    for i in range(len(out)):
        keep = max(0, min(8, bits - 8 * i))
        out[i] &= (0xFF << (8 - keep)) & 0xFF
    return bytes(out)


def _ip_expression(expression: str, ipv6: bool) -> tuple[bytes, int] | None:
    address, _, bits_text = expression.partition("/")
    raw = ip_address_bytes(address, ipv6)
    if raw is None:
        return None
    bits = len(raw) * 8
    if "/" in expression:
        try:
            bits = int(bits_text, 10)
        except ValueError:
            return None
        if not 0 <= bits <= len(raw) * 8:
            return None
    return raw, bits


def ip_matches(client_address: str, expression: str, ipv6: bool) -> bool:
    """Whether ``ip:<expression>`` (``a.b.c.d[/bits]``) covers ``client_address``."""
    parsed = _ip_expression(expression, ipv6)
    if parsed is None:
        return False
    acl_bytes, bits = parsed
    remote = ip_address_bytes(client_address, ipv6)
    if remote is None or len(remote) != len(acl_bytes):
        return False
    return _mask(remote, bits) == _mask(acl_bytes, bits)


def scheme_id_is_valid(scheme: str, ident: str, ipv6: bool) -> bool:
    """``AuthenticationProvider.isValid`` for the schemes a server knows."""
    if scheme == "world":
        return ident == "anyone"
    if scheme == "digest":
        return len(java_split(ident, ":")) == 2
    if scheme == "ip":
        return _ip_expression(ident, ipv6) is not None
    return False


def _java_equals(entry: ACL, kept: ACL) -> bool:
    """``entry.equals(kept)`` as jute generates it: perms, then ``scheme.equals``, then
    ``id.equals``, each called on ``entry``'s field (a null one is a NullPointerException)."""
    if entry.perms != kept.perms:
        return False
    if entry.id.scheme is None:
        raise MalformedRequest("null Id.scheme compared while dropping duplicate ACL entries")
    if entry.id.scheme != kept.id.scheme:
        return False
    if entry.id.id is None:
        raise MalformedRequest("null Id.id compared while dropping duplicate ACL entries")
    return entry.id.id == kept.id.id


def remove_duplicates(acl: Sequence[ACL] | None) -> list[ACL]:
    """``PrepRequestProcessor.removeDuplicates``: first occurrences, in order.

    Raises ``MalformedRequest`` where Java's comparison meets a null field.
    """
    unique: list[ACL] = []
    for entry in acl or ():
        if not any(_java_equals(entry, kept) for kept in unique):
            unique.append(entry)
    return unique


def fixup_acl(acl: Sequence[ACL] | None, auth_ids: Sequence[Id], ipv6: bool) -> tuple[ACL, ...]:
    """Validate and expand an ACL list given to create or setACL.

    Returns the list to store; raises ``ValueError`` where ZooKeeper answers INVALIDACL and
    ``MalformedRequest`` where a null field makes it fail (MARSHALLINGERROR).
    """
    unique = remove_duplicates(acl)
    if not unique:
        raise ValueError("empty or null ACL list")
    out: list[ACL] = []
    for entry in unique:
        scheme, ident = entry.id.scheme, entry.id.id
        if scheme is None:
            raise ValueError("null ACL scheme")
        if scheme == "world" and ident is None:
            raise MalformedRequest("world ACL entry with a null id")
        if scheme == "world" and ident == "anyone":
            out.append(entry)
        elif scheme == "auth":
            expanded = [i for i in held_id_order(auth_ids) if i.scheme in AUTHENTICATED_SCHEMES]
            if not expanded:
                raise ValueError("auth scheme but the caller holds no authenticated id")
            out.extend(ACL(entry.perms, ident) for ident in expanded)
        elif scheme not in PROVIDER_SCHEMES:
            raise ValueError(f"no authentication provider for ACL scheme {scheme!r}")
        elif ident is None:
            raise MalformedRequest(f"{scheme} ACL entry with a null id")
        elif scheme_id_is_valid(scheme, ident, ipv6):
            out.append(entry)
        else:
            raise ValueError(f"invalid ACL id {scheme}:{ident}")
    return tuple(out)


def id_matches(held: Id, acl_id: Id, ipv6: bool) -> bool:
    """Whether an identity the caller holds matches an ACL entry's identity."""
    if acl_id.scheme == "world" and acl_id.id == "anyone":
        return True
    if held.scheme != acl_id.scheme:
        return False
    if held.scheme == "ip":
        assert held.id is not None and acl_id.id is not None, "a null id is never held or stored"
        return ip_matches(held.id, acl_id.id, ipv6)
    return held.id == acl_id.id


def acl_permits(acl: Sequence[ACL], perm: int, auth_ids: Sequence[Id], ipv6: bool) -> bool:
    """The ACL check: empty list, super, or an entry with ``perm`` matching a held id."""
    if not acl:
        return True
    if any(i.scheme == "super" for i in auth_ids):
        return True
    for entry in acl:
        if entry.perms & perm == 0:
            continue
        if entry.id.scheme == "world" and entry.id.id == "anyone":
            return True
        if any(id_matches(held, entry.id, ipv6) for held in auth_ids):
            return True
    return False


def redact_acl(acl: Sequence[ACL]) -> tuple[ACL, ...]:
    """getACL without ADMIN: each digest id's hash is replaced by ``x``."""
    return tuple(
        ACL(e.perms, Id("digest", _digest_user(e.id) + ":x")) if e.id.scheme == "digest" else e
        for e in acl
    )


def _digest_user(ident: Id) -> str:
    assert ident.id is not None, "stored ACLs never hold a null id"
    return ident.id.split(":", 1)[0]
