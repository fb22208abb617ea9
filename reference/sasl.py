"""SASL for the client port: the DIGEST-MD5 server mechanism (RFC 2831), as Apache ZooKeeper
runs it, with no I/O.

Owns ``DigestMD5Server``: one login's state, tokens in and tokens out. The core creates one per
connection that sends a SASL token to a server with SASL settings (``spec.acl.SaslSettings``,
which the server reads from the JAAS ``Server`` section: the mechanism never reads a file),
and turns its outcome into ids (``spec.acl.sasl_ids``) and replies
(``ZooKeeperCore._sasl``). Must not read clocks, files or randomness: each login's nonce is
given to it (``nonce_for``: derived from the server's secret and the connection).

Theory of operation
-------------------
Apache ZooKeeper hands each connection a ``javax.security.sasl.SaslServer`` for DIGEST-MD5
(``ZooKeeperSaslServer``; protocol ``zookeeper``, server name and realm ``zk-sasl-md5``,
``SecurityUtils.createSaslServer``), the JDK's ``DigestMD5Server``, and what a client observes
is that class's behaviour. This module is that behaviour, step for step:

1. The first token (whatever it holds: an initial response is ignored) is answered with the
   challenge ``realm="zk-sasl-md5",nonce="…",charset=utf-8,algorithm=md5-sess``. The only
   quality of protection is ``auth`` (no ``qop`` directive is sent, which means ``auth``).
2. The second token is the digest-response. Its directives are parsed as the JDK parses
   them (``parse_directives``) and checked in the JDK's order (``_validate``); the
   response-value is recomputed with the user's password (``SaslSettings.password_of``) and
   compared; on success the answer is ``rspauth=…`` and the login is complete, with the
   authorization id ``spec.acl.sasl_authorization_id`` gives.
3. Any token after that, or after a failed second step, fails ("server at illegal state").

How a step fails decides what the client sees (``ZooKeeperServer.processSasl``): a
``SaslException`` (``SaslFailure`` here) is answered AUTHFAILED and the connection closed; a
Java exception of another kind (a ``maxbuf`` or ``nonce-count`` that is not a number, a
malformed Kerberos name) escapes ``processSasl`` and the connection is closed without a reply
(``SaslAbort``).

Quirks of the JDK kept because clients observe them: the ``nc`` directive of RFC 2831 is not
read (the JDK looks for ``nonce-count``); the client's ``digest-uri`` is compared ignoring
case and then used as sent; an ``authzid`` the client sends enters the digest but not the
identity (the callback handler authorizes the authenticated user). One is not kept: Apache's
callback handler is shared by all connections and remembers the last known user, so a login
as a user the JAAS section does not have is checked against that earlier user's password;
here an unknown user always fails (``spec/DIVERGENCES.md``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import IntEnum

from reference.jute.primitives import java_utf8
from spec.acl import SaslSettings, sasl_authorization_id

MECHANISM = "DIGEST-MD5"
PROTOCOL = "zookeeper"  # ZooKeeperSaslServer: the SASL protocol (service) name
SERVER_NAME = "zk-sasl-md5"  # ... and the server name, which is also the only realm
DIGEST_URI = f"{PROTOCOL}/{SERVER_NAME}"
# DigestMD5Base: a longer token fails before anything else is looked at.
RESPONSE_BYTES_MAX = 4096
# DigestMD5Base.generateNonce: 30 random bytes, base64: 40 characters.
NONCE_RAW_BYTES = 30
NONCE_COUNT = 1  # the only nonce-count a server accepts (one authentication per nonce)
# The directives a digest-response may carry (DigestMD5Server.DIRECTIVE_KEY), in the JDK's
# spelling: "nonce-count", not RFC 2831's "nc", which the JDK never reads.
DIRECTIVES = (
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nonce-count",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
    "auth-param",
)
_LWS = b"\r\n \t"


class SaslFailure(Exception):
    """A step failed as a ``SaslException`` fails it: AUTHFAILED, connection closed."""


class SaslAbort(Exception):
    """A step failed with a Java exception that is no ``SaslException``: the connection is
    closed without a reply."""


class _Step(IntEnum):
    CHALLENGE = 1  # the next token is answered with the challenge
    RESPONSE = 3  # the next token is the digest-response
    DONE = 0  # complete, or failed: any further token fails


def nonce_for(secret: bytes, conn_id: int) -> bytes:
    """The nonce of the SASL login on connection ``conn_id`` (one per connection): 40
    base64 characters, as the JDK's, derived from the server's secret so that nonces never
    repeat for one secret and cannot be guessed without it."""
    assert conn_id >= 0, conn_id
    digest = hmac.new(secret, conn_id.to_bytes(8, "big"), hashlib.sha256).digest()
    nonce = base64.b64encode(digest[:NONCE_RAW_BYTES])
    assert len(nonce) == 40 and b"=" not in nonce
    return nonce


def java_parse_int(text: str, radix: int = 10) -> int:
    """``Integer.parseInt(text, radix)``; ``ValueError`` where Java throws
    ``NumberFormatException`` (an optional sign, then digits of ``radix`` only, in range)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or any(_digit_value(c) >= radix for c in digits):
        raise ValueError(f"not a number in radix {radix}: {text!r}")
    value = int(text, radix)
    if not -(1 << 31) <= value < 1 << 31:
        raise ValueError(f"out of int range: {text!r}")
    return value


def _digit_value(char: str) -> int:
    """``Character.digit`` for ASCII digits and letters; 99 for anything else."""
    if "0" <= char <= "9":
        return ord(char) - ord("0")
    lowered = char.lower()
    if "a" <= lowered <= "z" and char.isascii():
        return ord(lowered) - ord("a") + 10
    return 99


def java_equals_ignore_case(left: str, right: str) -> bool:
    """``String.equalsIgnoreCase``: same length, each pair of characters equal, or equal in
    upper case, or equal in lower case."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if a == b:
            continue
        upper_a, upper_b = a.upper(), b.upper()
        if upper_a == upper_b and len(upper_a) == 1:
            continue
        if a.lower() != b.lower():
            return False
    return True


def latin1_or_utf8(text: str) -> bytes:
    """``DigestMD5Base.stringToByte_8859_1``: ISO-8859-1 when every character fits, else
    UTF-8 (user names, realms and passwords enter the digest this way; RFC 2831 2.1.2.1)."""
    if all(ord(c) <= 0xFF for c in text):
        return text.encode("latin-1")
    return text.encode("utf-8", "replace")


def quote_value(value: bytes) -> bytes:
    """``writeQuotedStringValue``: ``"`` and ``\\`` escaped, and control characters but CR,
    HT and LF."""
    out = bytearray()
    for byte in value:
        if byte in (0x22, 0x5C, 0x7F) or (byte <= 31 and byte not in (9, 10, 13)):
            out.append(0x5C)
        out.append(byte)
    return bytes(out)


def parse_directives(token: bytes) -> dict[str, bytes]:
    """The directives of a digest-response, as ``DigestMD5Base.parseDirectives`` reads them:
    ``key=value`` or ``key="quoted value"`` separated by commas and linear white space; keys
    compared ignoring case; unknown keys ignored. ``SaslFailure`` for what the JDK refuses: a
    key with a comma or without a value, an empty key, a quote left open, text after a closing
    quote, a known directive given twice.
    """
    values: dict[str, bytes] = {}
    key = bytearray()
    value = bytearray()
    getting_key = True
    quoted = False
    expect_separator = False
    i = _skip_lws(token, 0)
    while i < len(token):
        byte = token[i]
        if getting_key:
            if byte == 0x2C:  # ','
                if key:
                    raise SaslFailure(f"directive key contains a ',': {bytes(key)!r}")
                i = _skip_lws(token, i + 1)
            elif byte == 0x3D:  # '='
                if not key:
                    raise SaslFailure("empty directive key")
                getting_key = False
                i = _skip_lws(token, i + 1)
                if i >= len(token):
                    raise SaslFailure(f"valueless directive found: {bytes(key)!r}")
                if token[i] == 0x22:
                    quoted = True
                    i += 1
            elif byte in _LWS:
                i = _skip_lws(token, i + 1)
                if i >= len(token) or token[i] != 0x3D:
                    raise SaslFailure(f"'=' expected after key: {bytes(key)!r}")
            else:
                key.append(byte)
                i += 1
        elif quoted:
            if byte == 0x5C:  # '\\': the next byte stands for itself
                i += 1
                if i >= len(token):
                    raise SaslFailure(f"unmatched quote for directive {bytes(key)!r}")
                value.append(token[i])
                i += 1
            elif byte == 0x22:
                i += 1
                quoted = False
                expect_separator = True
            else:
                value.append(byte)
                i += 1
        elif byte in _LWS or byte == 0x2C:
            _extract(bytes(key), bytes(value), values)
            key.clear()
            value.clear()
            getting_key = True
            quoted = expect_separator = False
            i = _skip_lws(token, i + 1)
        elif expect_separator:
            raise SaslFailure(f"comma or white space expected after {bytes(value)!r}")
        else:
            value.append(byte)
            i += 1
    if quoted:
        raise SaslFailure(f"unmatched quote for directive {bytes(key)!r}")
    if key:
        _extract(bytes(key), bytes(value), values)
    return values


def _skip_lws(token: bytes, start: int) -> int:
    while start < len(token) and token[start] in _LWS:
        start += 1
    return start


def _extract(key: bytes, value: bytes, values: dict[str, bytes]) -> None:
    name = java_utf8(key)
    for directive in DIRECTIVES:
        if java_equals_ignore_case(name, directive):
            if directive in values:
                raise SaslFailure(f"more than one {directive} directive")
            values[directive] = value
            return


def response_value(
    method: str,
    digest_uri: str,
    qop: str,
    username: str,
    realm: str,
    password: str,
    nonce: bytes,
    cnonce: bytes,
    authzid: bytes | None,
) -> bytes:
    """``DigestMD5Base.generateResponseValue`` (RFC 2831 2.1.2.1): ``AUTHENTICATE`` for the
    client's response, ``""`` for the server's ``rspauth``; 32 lower-case hex digits."""
    a2 = f"{method}:{digest_uri}".encode()
    if qop in ("auth-int", "auth-conf"):
        a2 += b":00000000000000000000000000000000"
    secret = hashlib.md5(
        latin1_or_utf8(username) + b":" + latin1_or_utf8(realm) + b":" + latin1_or_utf8(password)
    ).digest()
    a1 = secret + b":" + nonce + b":" + cnonce
    if authzid is not None:
        a1 += b":" + authzid
    hex_a1 = hashlib.md5(a1).hexdigest().encode()
    hex_a2 = hashlib.md5(a2).hexdigest().encode()
    kd = b":".join((hex_a1, nonce, b"%08x" % NONCE_COUNT, cnonce, qop.encode(), hex_a2))
    return hashlib.md5(kd).hexdigest().encode()


class DigestMD5Server:
    """One DIGEST-MD5 login on one connection (see the module docstring)."""

    __slots__ = ("_digest_uri", "_step", "authorization_id", "nonce", "settings")

    def __init__(self, settings: SaslSettings, nonce: bytes) -> None:
        assert nonce and b'"' not in nonce, "a nonce is sent quoted"
        self.settings = settings
        self.nonce = nonce
        self._step = _Step.CHALLENGE
        self._digest_uri = DIGEST_URI
        self.authorization_id: str | None = None

    @property
    def complete(self) -> bool:
        return self.authorization_id is not None

    def evaluate_response(self, token: bytes) -> bytes:
        """The token to send back for ``token``; ``SaslFailure`` or ``SaslAbort`` if the
        login fails (see the module docstring for which)."""
        if len(token) > RESPONSE_BYTES_MAX:
            raise SaslFailure(f"digest response of {len(token)} bytes: at most 4096")
        if self._step == _Step.CHALLENGE:
            self._step = _Step.RESPONSE
            return self._challenge()
        if self._step == _Step.RESPONSE:
            self._step = _Step.DONE  # whatever happens, this login is over
            return self._validate(parse_directives(token))
        raise SaslFailure("DIGEST-MD5: server at illegal state")

    def _challenge(self) -> bytes:
        """``DigestMD5Server.generateChallenge`` with Apache ZooKeeper's properties: one
        realm, no qop (auth), the default maxbuf, UTF-8, no ciphers."""
        realm = quote_value(SERVER_NAME.encode())
        nonce = quote_value(self.nonce)
        return b'realm="%s",nonce="%s",charset=utf-8,algorithm=md5-sess' % (realm, nonce)

    def _validate(self, values: dict[str, bytes]) -> bytes:
        """``DigestMD5Server.validateClientResponse``, check for check in its order."""
        charset = values.get("charset")
        if charset is not None and java_utf8(charset) != "utf-8":
            raise SaslFailure(f"incompatible charset value: {charset!r}")
        maxbuf = values.get("maxbuf")
        if maxbuf is not None:
            _parse_or_abort(java_utf8(maxbuf), 10)
        username_bytes = values.get("username")
        if username_bytes is None:
            raise SaslFailure("missing username")
        username = java_utf8(username_bytes)
        realm = java_utf8(values.get("realm", b""))
        if realm != SERVER_NAME:
            raise SaslFailure(f"nonexistent realm: {realm!r}")
        if values.get("nonce") is None:
            raise SaslFailure("missing nonce")
        if values["nonce"] != self.nonce:
            raise SaslFailure("mismatched nonce")
        cnonce = values.get("cnonce")
        if cnonce is None:
            raise SaslFailure("missing cnonce")
        nonce_count = values.get("nonce-count")
        if nonce_count is not None and _parse_or_abort(java_utf8(nonce_count), 16) != NONCE_COUNT:
            raise SaslFailure("nonce count does not match")
        qop = java_utf8(values.get("qop", b"auth"))
        if qop != "auth":
            # auth-int and auth-conf are valid but not offered; anything else is invalid.
            raise SaslFailure(f"quality of protection {qop!r} is not supported")
        uri_bytes = values.get("digest-uri")
        uri = None if uri_bytes is None else java_utf8(uri_bytes)
        if uri is None or not java_equals_ignore_case(self._digest_uri, uri):
            raise SaslFailure(f"mismatched URI: {uri!r}; expecting {self._digest_uri!r}")
        self._digest_uri = uri  # the JDK goes on with the client's spelling
        response = values.get("response")
        if response is None:
            raise SaslFailure("missing response")
        authzid = values.get("authzid")
        requested = username if authzid is None else java_utf8(authzid)
        password = self.settings.password_of(username)
        if password is None:
            raise SaslFailure(f"cannot acquire password for {username!r}")
        expected = response_value(
            "AUTHENTICATE", uri, qop, username, realm, password, self.nonce, cnonce, authzid
        )
        if not hmac.compare_digest(response, expected):
            raise SaslFailure("mismatched response")
        try:
            authorized = sasl_authorization_id(
                username,
                requested,
                self.settings.remove_host_from_principal,
                self.settings.remove_realm_from_principal,
            )
        except ValueError as error:
            raise SaslAbort(str(error)) from None
        rspauth = response_value(
            "", uri, qop, username, realm, password, self.nonce, cnonce, authzid
        )
        self.authorization_id = authorized
        return b"rspauth=" + rspauth


def _parse_or_abort(text: str, radix: int) -> int:
    try:
        return java_parse_int(text, radix)
    except ValueError as error:
        raise SaslAbort(str(error)) from None
