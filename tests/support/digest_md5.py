"""A DIGEST-MD5 client for tests that must send exactly the directives they mean.

``digest_response`` builds the second token of a login from the server's challenge, field by
field, so that a test can drop, change or add any directive (pure-sasl, the client kazoo
uses, only sends well-formed responses). The response value is RFC 2831's formula, written
out here from the RFC (2.1.2.1), not taken from ``reference.sasl``.
"""

from __future__ import annotations

import hashlib

DIGEST_URI = b"zookeeper/zk-sasl-md5"
CNONCE = b"OA6MHXh6VqTrRk"  # RFC 2831's example cnonce


def _hex_md5(data: bytes) -> bytes:
    return hashlib.md5(data).hexdigest().encode()


def rfc2831_response(
    user: bytes,
    realm: bytes,
    password: bytes,
    nonce: bytes,
    cnonce: bytes,
    digest_uri: bytes,
    *,
    method: bytes = b"AUTHENTICATE",
    authzid: bytes | None = None,
    nc: bytes = b"00000001",
    qop: bytes = b"auth",
) -> bytes:
    """RFC 2831 2.1.2.1: ``HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2))))``."""
    a1 = hashlib.md5(user + b":" + realm + b":" + password).digest() + b":" + nonce + b":" + cnonce
    if authzid is not None:
        a1 += b":" + authzid
    a2 = method + b":" + digest_uri
    return _hex_md5(b":".join((_hex_md5(a1), nonce, nc, cnonce, qop, _hex_md5(a2))))


def parse_challenge(challenge: bytes) -> dict[str, bytes]:
    """A challenge's directives (values unquoted; the server's never hold escapes)."""
    values: dict[str, bytes] = {}
    for part in challenge.split(b","):
        key, _, value = part.partition(b"=")
        values[key.decode()] = value.strip(b'"')
    return values


def digest_response(
    challenge: bytes,
    user: bytes,
    password: bytes,
    *,
    replace: dict[str, bytes | None] | None = None,
    response_realm: bytes | None = None,
    response_uri: bytes | None = None,
    authzid: bytes | None = None,
) -> bytes:
    """A digest-response to ``challenge``: the directives pure-sasl sends (qop, realm,
    username, nonce, cnonce, nc, digest-uri, response) plus charset, with ``replace``
    applied (a value of None drops the directive; values are written as given, so quote
    them). ``response_realm``/``response_uri``/``authzid`` change what the response value
    is computed over."""
    offered = parse_challenge(challenge)
    nonce, realm = offered["nonce"], offered["realm"]
    value = rfc2831_response(
        user,
        realm if response_realm is None else response_realm,
        password,
        nonce,
        CNONCE,
        DIGEST_URI if response_uri is None else response_uri,
        authzid=authzid,
    )
    fields: dict[str, bytes | None] = {
        "charset": b"utf-8",
        "qop": b"auth",
        "realm": b'"' + realm + b'"',
        "username": b'"' + user + b'"',
        "nonce": b'"' + nonce + b'"',
        "cnonce": b'"' + CNONCE + b'"',
        "nc": b"00000001",
        "digest-uri": b'"' + DIGEST_URI + b'"',
        "response": value,
    }
    if authzid is not None:
        fields["authzid"] = b'"' + authzid + b'"'
    fields.update(replace or {})
    return b",".join(k.encode() + b"=" + v for k, v in fields.items() if v is not None)
