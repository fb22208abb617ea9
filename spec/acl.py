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
  set's order, not in the order they were added (``held_id_order``). whoAmI shows each as
  its scheme and its provider's user name: a digest id's user, any other id itself, and
  ``""`` for a scheme without a provider, ``super`` always (``user_name``).
* Authentication (``addAuth``): scheme ``digest`` with ``user:password`` adds the id
  ``digest:user:BASE64(SHA1("user:password"))`` (SHA1 despite docs saying MD5); if that
  digest equals the configured super digest, ``super:`` is added first. Every connection
  also holds ``ip:<client address>``. Any other scheme fails with AUTHFAILED and the
  connection is closed.
* Providers (``ProviderRegistry``): a server knows the schemes ``ip`` and ``digest``, plus
  ``sasl`` when zoo.cfg names ``SASLAuthenticationProvider`` (``authProvider.N``), and
  ``x509`` when it has a secure client port (``QuorumPeerConfig.configureSSLAuth``) or
  names ``X509AuthenticationProvider``. Only a known scheme's ACL entries can be set, and
  only they ever match: a stored entry of a scheme the server does not know grants nothing.
  Its ids are checked by the provider's ``isValid``: a ``sasl`` id is a Kerberos name
  (``KerberosName``: ``service[/host]@realm``, or anything without ``@``); an ``x509`` id
  is an X.500 distinguished name (``X500Principal``).
* SASL (``ZooKeeperServer.processSasl``): a completed SASL login adds
  ``sasl:<authorization id>``, and ``super:`` (empty id) after it when that id is one of
  the ``zookeeper.superUser`` properties. A ``sasl`` entry matches a held ``sasl`` id equal
  to its own, any entry when the held id is ``super``, and every ``sasl`` id when the entry
  is ``zookeeper.letAnySaslUserDoX`` (``SASLAuthenticationProvider.matches``). The
  authorization id of a DIGEST-MD5 login is the user's name as a Kerberos short name
  (``SaslServerCallbackHandler.handleAuthorizeCallback``, ``sasl_authorization_id``).
* TLS client certificates (``X509AuthenticationProvider``): a connection on the secure
  client port that presents a trusted certificate holds ``x509:<subject DN>`` (RFC 2253, as
  ``X500Principal.getName()`` prints it), and ``super:<subject DN>`` too when the DN is
  ``zookeeper.X509AuthenticationProvider.superUser``. An ``x509`` entry matches a held
  ``x509`` id equal to its own, and any entry when the held id is the super user's.

Source: ``PrepRequestProcessor.checkACL``/``fixupACL``, ``ZooKeeperServer.checkACL``,
``DigestAuthenticationProvider``, ``IPAuthenticationProvider``, ``SASLAuthenticationProvider``,
``X509AuthenticationProvider``, ``KerberosName``, ``ProviderRegistry``,
``FinalRequestProcessor`` (getACL redaction); programmer's guide "ZooKeeper access control
using ACLs".
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import field
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
# Schemes whose provider a server's configuration can add (``authProvider.N``, a secure
# client port).
OPTIONAL_PROVIDER_SCHEMES = frozenset({"sasl", "x509"})


@record
class AuthProviders:
    """The authentication providers a server runs, and the settings that change what their
    ids match (see the module docstring)."""

    schemes: frozenset[str] = PROVIDER_SCHEMES
    # zookeeper.letAnySaslUserDoX: a sasl ACL entry with this id matches every sasl id.
    sasl_any_user: str | None = None
    # zookeeper.X509AuthenticationProvider.superUser: this subject matches every x509 entry.
    x509_super_user: str | None = None

    def __post_init__(self) -> None:
        unknown = self.schemes - PROVIDER_SCHEMES - OPTIONAL_PROVIDER_SCHEMES
        assert not unknown, f"no such authentication provider: {sorted(unknown)}"
        assert self.schemes >= PROVIDER_SCHEMES, "ip and digest are always there"


DEFAULT_AUTH_PROVIDERS = AuthProviders()


@record
class SaslSettings:
    """A server that runs SASL: the DIGEST-MD5 users of its JAAS ``Server`` section and the
    system properties that change what a SASL login yields.

    ``nonce_secret`` is not a setting but randomness: the server draws it when it starts (a
    test or a simulation fixes it), and the DIGEST-MD5 nonces are derived from it, so the
    core that runs the mechanism stays deterministic.
    """

    # user_<name>="<password>" options of the JAAS section, in file order (a later one wins).
    users: tuple[tuple[str, str], ...] = field(repr=False)
    nonce_secret: bytes = field(repr=False)
    # zookeeper.SASLAuthenticationProvider.superPassword: the password of user "super",
    # when the JAAS section has that user.
    super_password: str | None = field(default=None, repr=False)
    # zookeeper.superUser and zookeeper.superUser.*: authorization ids that also get super.
    super_users: frozenset[str] = frozenset()
    # zookeeper.allowSaslFailedClients: a failed login keeps its connection (without ids).
    allow_failed_clients: bool = False
    # zookeeper.kerberos.removeHostFromPrincipal / removeRealmFromPrincipal
    remove_host_from_principal: bool = False
    remove_realm_from_principal: bool = False

    def password_of(self, user: str) -> str | None:
        """The password a login as ``user`` must prove (``SaslServerCallbackHandler``:
        ``super`` takes the super password when the section has ``super`` and the property
        is set), or None for a user the section does not have."""
        passwords = dict(self.users)
        if user not in passwords:
            return None
        if user == "super" and self.super_password is not None:
            return self.super_password
        return passwords[user]


_KERBEROS_NAME = re.compile(r"([^/@]*)(/([^/@]*))?@([^/@]*)", re.DOTALL)


def kerberos_name(name: str) -> tuple[str, str | None, str | None]:
    """``new KerberosName(name)``: (service, host, realm). A name that is not
    ``service[/host]@realm`` is all service when it has no ``@``, else ``ValueError``."""
    match = _KERBEROS_NAME.fullmatch(name)
    if match is None:
        if "@" in name:
            raise ValueError(f"malformed Kerberos name: {name!r}")
        return name, None, None
    return match.group(1), match.group(3), match.group(4)


def sasl_authorization_id(
    user: str,
    requested: str,
    remove_host: bool = False,
    remove_realm: bool = False,
) -> str:
    """The authorization id a SASL login as ``user`` gets (``requested``: the authzid the
    client asked for, or ``user``).

    ``SaslServerCallbackHandler.handleAuthorizeCallback`` authorizes every login and
    replaces the id by ``user``'s Kerberos short name, then ``/host`` and ``@realm`` unless
    removed. The short name comes from the ``DEFAULT`` rule with the default realm of a host
    without Kerberos configuration, ``""``: a name without realm is itself, one with the
    empty realm is its service. Any other realm matches no rule, and the id stays the one
    requested. A malformed name (``ValueError``) fails the login outside SASL's error path.
    """
    service, host, realm = kerberos_name(user)
    if realm is not None and realm != "":
        return requested
    authorized = service
    if host is not None and not remove_host:
        authorized += "/" + host
    if realm is not None and not remove_realm:
        authorized += "@" + realm
    return authorized


def sasl_ids(authorization_id: str, super_users: frozenset[str]) -> tuple[Id, ...]:
    """The ids a completed SASL login adds (``ZooKeeperServer.processSasl``)."""
    ids = [Id("sasl", authorization_id)]
    if authorization_id and authorization_id in super_users:
        ids.append(SUPER_ID)
    return tuple(ids)


def user_name(held: Id, providers: AuthProviders = DEFAULT_AUTH_PROVIDERS) -> str:
    """What whoAmI shows of a held id (``AuthUtil.getClientInfos``): its provider's
    ``getUserName`` (a digest id's user; any other id itself), or ``""`` when its scheme has
    no provider (``super``, or ``sasl`` without ``SASLAuthenticationProvider``)."""
    assert held.scheme is not None and held.id is not None, "held ids are never null"
    if held.scheme not in providers.schemes:
        return ""
    return held.id.split(":", 1)[0] if held.scheme == "digest" else held.id


def x509_ids(subject: str, super_user: str | None) -> tuple[Id, ...]:
    """The ids a trusted client certificate with this subject DN adds
    (``X509AuthenticationProvider.handleAuthentication``: super first)."""
    if super_user is not None and subject == super_user:
        return (Id("super", subject), Id("x509", subject))
    return (Id("x509", subject),)


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


# X.500 attribute keywords ``X500Principal(String)`` reads (``AVAKeyword``, upper case).
X500_KEYWORDS = frozenset(
    {
        "CN",
        "C",
        "L",
        "S",
        "ST",
        "O",
        "OU",
        "T",
        "IP",
        "STREET",
        "DC",
        "DNQUALIFIER",
        "DNQ",
        "SURNAME",
        "GIVENNAME",
        "INITIALS",
        "GENERATION",
        "EMAIL",
        "EMAILADDRESS",
        "UID",
        "SERIALNUMBER",
    }
)
_X500_ESCAPABLE = ',=\n+<>#;\\" '  # specialCharsDefault
_X500_MUST_ESCAPE = ',+<>;"'  # escapedDefault
_X500_QUOTED_ESCAPABLE = ',=\n+<>#;\\"'  # specialChars1779
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _x500_split(text: str, separators: str) -> list[str]:
    """Split where a separator is neither escaped nor inside quotes, as ``X500Name.parseDN``
    (``,`` and ``;``) and ``RDN`` (``+``) do: a separator counts unless an odd run of
    backslashes precedes it or exactly one quote was seen since the last split."""
    parts: list[str] = []
    start = 0
    quotes = 0
    for at, char in enumerate(text):
        if char == '"' and (at == start or text[at - 1] != "\\"):
            quotes += 1
        if char not in separators:
            continue
        backslashes = len(text[start:at]) - len(text[start:at].rstrip("\\"))
        if quotes != 1 and backslashes % 2 == 0:
            parts.append(text[start:at])
            start = at + 1
            quotes = 0
    parts.append(text[start:])
    return parts


def _oid_is_valid(text: str) -> bool:
    """``ObjectIdentifier.of``: two or more numeric components, the first 0..2, the second
    below 40 when the first is 0 or 1."""
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isascii() and p.isdigit() for p in parts):
        return False
    first, second = int(parts[0]), int(parts[1])
    return first <= 2 and (first == 2 or second < 40)


def _der_is_one_value(data: bytes) -> bool:
    """Whether ``data`` is exactly one DER tag-length-value (``new DerValue(bytes)``)."""
    if len(data) < 2 or data[0] & 0x1F == 0x1F:
        return False
    length, at = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            return False
        length, at = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    return at + length == len(data)


def _x500_value_is_valid(value: str) -> bool:
    """An attribute value as ``AVA`` reads it in the default (RFC 1779) format: ``#`` and
    hex digits that make one DER value, a quoted string, or a string whose special
    characters are escaped (``\\`` and a special character, or two hex digits)."""
    value = value.lstrip(" \n")
    if not value:
        return True
    if value[0] == "#":
        digits = value[1:]
        if not digits or len(digits) % 2 or not set(digits) <= _HEX_DIGITS:
            return False
        return _der_is_one_value(bytes.fromhex(digits))
    if value[0] == '"':
        at = 1
        while True:
            if at >= len(value):
                return False
            char = value[at]
            if char == '"':
                return not value[at + 1 :].strip(" \n")
            if char == "\\":
                at += 1
                if at >= len(value):
                    return False
                if value[at] in _HEX_DIGITS:
                    if at + 1 >= len(value) or value[at + 1] not in _HEX_DIGITS:
                        return False
                    at += 1
                elif value[at] not in _X500_QUOTED_ESCAPABLE:
                    return False
            at += 1
    at = 0
    while at < len(value):
        char = value[at]
        if char == "\\":
            at += 1
            if at >= len(value):
                return False
            if value[at] in _HEX_DIGITS:
                if at + 1 >= len(value) or value[at + 1] not in _HEX_DIGITS:
                    return False
                at += 1
            elif value[at] not in _X500_ESCAPABLE:
                return False
        elif char in _X500_MUST_ESCAPE:
            return False
        at += 1
    return True


def x500_name_is_valid(name: str) -> bool:
    """Whether ``new X500Principal(name)`` accepts ``name`` (``X500Name.parseDN``, ``RDN``
    and ``AVA`` in the default format): relative names separated by ``,`` or ``;``, each one
    or more ``keyword=value`` joined by ``+``; the keyword one of ``X500_KEYWORDS`` (any
    case) or an object identifier (``OID.`` optional). The empty name is valid.
    """
    if not name:
        return True
    for rdn in _x500_split(name, ",;"):
        for ava in _x500_split(rdn, "+"):
            if not ava:
                return False
            keyword, equals, value = ava.partition("=")
            if not equals:
                return False
            keyword = keyword.strip().upper()
            if keyword not in X500_KEYWORDS:
                oid = keyword[4:] if keyword.startswith("OID.") else keyword
                if not _oid_is_valid(oid):
                    return False
            if not _x500_value_is_valid(value):
                return False
    return True


def scheme_id_is_valid(
    scheme: str, ident: str, ipv6: bool, providers: AuthProviders = DEFAULT_AUTH_PROVIDERS
) -> bool:
    """``AuthenticationProvider.isValid`` for the schemes a server knows; False for a scheme
    it has no provider for."""
    if scheme == "world":
        return ident == "anyone"
    if scheme not in providers.schemes:
        return False
    if scheme == "digest":
        return len(java_split(ident, ":")) == 2
    if scheme == "ip":
        return _ip_expression(ident, ipv6) is not None
    if scheme == "sasl":
        try:
            kerberos_name(ident)
        except ValueError:
            return False
        return True
    if scheme == "x509":
        return x500_name_is_valid(ident)
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


def fixup_acl(
    acl: Sequence[ACL] | None,
    auth_ids: Sequence[Id],
    ipv6: bool,
    providers: AuthProviders = DEFAULT_AUTH_PROVIDERS,
) -> tuple[ACL, ...]:
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
            # Only ids whose scheme has a provider that says it authenticates.
            expanded = [
                i
                for i in held_id_order(auth_ids)
                if i.scheme in AUTHENTICATED_SCHEMES and i.scheme in providers.schemes
            ]
            if not expanded:
                raise ValueError("auth scheme but the caller holds no authenticated id")
            out.extend(ACL(entry.perms, ident) for ident in expanded)
        elif scheme not in providers.schemes:
            raise ValueError(f"no authentication provider for ACL scheme {scheme!r}")
        elif ident is None:
            raise MalformedRequest(f"{scheme} ACL entry with a null id")
        elif scheme_id_is_valid(scheme, ident, ipv6, providers):
            out.append(entry)
        else:
            raise ValueError(f"invalid ACL id {scheme}:{ident}")
    return tuple(out)


def id_matches(
    held: Id, acl_id: Id, ipv6: bool, providers: AuthProviders = DEFAULT_AUTH_PROVIDERS
) -> bool:
    """Whether an identity the caller holds matches an ACL entry's identity (the scheme's
    provider's ``matches``; no provider, no match)."""
    if acl_id.scheme == "world" and acl_id.id == "anyone":
        return True
    scheme = held.scheme
    if scheme != acl_id.scheme or scheme not in providers.schemes:
        return False
    if scheme == "ip":
        assert held.id is not None and acl_id.id is not None, "a null id is never held or stored"
        return ip_matches(held.id, acl_id.id, ipv6)
    if scheme == "sasl":
        any_user = providers.sasl_any_user
        return (
            held.id == "super"
            or held.id == acl_id.id
            or (any_user is not None and acl_id.id == any_user)
        )
    if scheme == "x509":
        super_user = providers.x509_super_user
        return (super_user is not None and held.id == super_user) or held.id == acl_id.id
    return held.id == acl_id.id


def acl_permits(
    acl: Sequence[ACL],
    perm: int,
    auth_ids: Sequence[Id],
    ipv6: bool,
    providers: AuthProviders = DEFAULT_AUTH_PROVIDERS,
) -> bool:
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
        if any(id_matches(held, entry.id, ipv6, providers) for held in auth_ids):
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
