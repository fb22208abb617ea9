"""The DIGEST-MD5 server mechanism (``reference.sasl``) does what the JDK's does for Apache
ZooKeeper: the same challenge, the same checks in the same order, the same failures.

Each outcome in ``STEP_TWO`` was observed on Apache ZooKeeper 3.8 (on JDK 17); the interop
test ``tests/interop/test_sasl_tls.py`` sends the same tokens to both servers.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from reference.sasl import (
    DIGEST_URI,
    DigestMD5Server,
    SaslAbort,
    SaslFailure,
    java_equals_ignore_case,
    java_parse_int,
    nonce_for,
    parse_directives,
    response_value,
)
from spec.acl import SaslSettings
from tests.support.digest_md5 import CNONCE, digest_response, parse_challenge, rfc2831_response

USERS = (("super", "super_secret"), ("jaasuser", "jaas_password"), ("jörg", "pé"))
SETTINGS = SaslSettings(users=USERS, nonce_secret=b"fixed secret for tests")


def login(settings: SaslSettings = SETTINGS) -> tuple[DigestMD5Server, bytes]:
    server = DigestMD5Server(settings, nonce_for(settings.nonce_secret, 7))
    return server, server.evaluate_response(b"")


def test_rfc_2831_s_example_response_and_rspauth_are_reproduced() -> None:
    """RFC 2831 section 4: chris/secret at elwood.innosoft.com."""
    args = ("imap/elwood.innosoft.com", "auth", "chris", "elwood.innosoft.com", "secret")
    nonces = (b"OA6MG9tEQGm2hh", b"OA6MHXh6VqTrRk")
    assert response_value("AUTHENTICATE", *args, *nonces, None) == (
        b"d388dad90d4bbd760a152321f2143af7"
    )
    assert response_value("", *args, *nonces, None) == b"ea40f60335c427b5527b84dbabcdfffd"


def test_the_challenge_is_the_one_apache_zookeeper_sends() -> None:
    _, challenge = login()
    assert re.fullmatch(
        rb'realm="zk-sasl-md5",nonce="[A-Za-z0-9+/]{40}",charset=utf-8,algorithm=md5-sess',
        challenge,
    )


def test_an_initial_response_is_ignored_and_answered_with_the_challenge() -> None:
    server = DigestMD5Server(SETTINGS, nonce_for(SETTINGS.nonce_secret, 0))
    assert server.evaluate_response(b"hello").startswith(b'realm="zk-sasl-md5"')


def test_nonces_are_derived_from_the_secret_and_never_repeat_for_one_secret() -> None:
    nonces = {nonce_for(b"secret", conn_id) for conn_id in range(1000)}
    assert len(nonces) == 1000
    assert nonce_for(b"secret", 5) == nonce_for(b"secret", 5) != nonce_for(b"other", 5)


def test_pure_sasl_the_client_kazoo_uses_logs_in_and_verifies_the_server() -> None:
    client_module = pytest.importorskip("puresasl.client")
    client = client_module.SASLClient(
        "zk-sasl-md5",
        service="zookeeper",
        mechanism="DIGEST-MD5",
        username="jaasuser",
        password="jaas_password",
    )
    server, challenge = login()
    answer = server.evaluate_response(client.process(challenge))
    assert answer.startswith(b"rspauth=") and server.authorization_id == "jaasuser"
    assert client.process(answer) is None and client.complete  # rspauth checked by pure-sasl


def test_a_login_completes_with_rspauth_computed_over_the_client_s_uri() -> None:
    server, challenge = login()
    answer = server.evaluate_response(digest_response(challenge, b"jaasuser", b"jaas_password"))
    nonce = parse_challenge(challenge)["nonce"]
    expected = rfc2831_response(
        b"jaasuser",
        b"zk-sasl-md5",
        b"jaas_password",
        nonce,
        CNONCE,
        DIGEST_URI.encode(),
        method=b"",
    )
    assert answer == b"rspauth=" + expected
    assert server.complete and server.authorization_id == "jaasuser"


def _uri_case(challenge: bytes) -> bytes:
    return digest_response(
        challenge,
        b"jaasuser",
        b"jaas_password",
        replace={"digest-uri": b'"ZooKeeper/ZK-sasl-md5"'},
        response_uri=b"ZooKeeper/ZK-sasl-md5",
    )


Token = Callable[[bytes], bytes]


def _ok(**changes: bytes | None) -> Token:
    """jaasuser's right response, with ``changes`` to its directives."""
    return lambda challenge: digest_response(
        challenge, b"jaasuser", b"jaas_password", replace=dict(changes)
    )


# What the second token gets, as Apache ZooKeeper 3.8 answered it: "ok" (rspauth, logged in
# as jaasuser), "failed" (AUTHFAILED, connection closed) or "closed" (no reply).
STEP_TWO: dict[str, tuple[Token, str]] = {
    "well formed": (_ok(), "ok"),
    "wrong password": (lambda c: digest_response(c, b"jaasuser", b"nope"), "failed"),
    "unknown user": (lambda c: digest_response(c, b"nobody", b"nope"), "failed"),
    "digest-uri in another case": (_uri_case, "ok"),
    "another digest-uri": (
        lambda c: digest_response(
            c,
            b"jaasuser",
            b"jaas_password",
            replace={"digest-uri": b'"zookeeper/other"'},
            response_uri=b"zookeeper/other",
        ),
        "failed",
    ),
    "no digest-uri": (_ok(**{"digest-uri": None}), "failed"),
    "another realm": (
        lambda c: digest_response(
            c,
            b"jaasuser",
            b"jaas_password",
            replace={"realm": b'"other"'},
            response_realm=b"other",
        ),
        "failed",
    ),
    "no realm": (
        lambda c: digest_response(
            c, b"jaasuser", b"jaas_password", replace={"realm": None}, response_realm=b""
        ),
        "failed",
    ),
    "nc is never read": (_ok(nc=b"zz"), "ok"),
    "nonce-count 2": (_ok(**{"nonce-count": b"00000002"}), "failed"),
    "nonce-count not hex": (_ok(**{"nonce-count": b"zz"}), "closed"),
    "maxbuf not a number": (_ok(maxbuf=b"abc"), "closed"),
    "qop auth-int": (_ok(qop=b"auth-int"), "failed"),
    "qop unknown": (_ok(qop=b"weird"), "failed"),
    "no qop": (_ok(qop=None), "ok"),
    "charset latin1": (_ok(charset=b"iso-8859-1"), "failed"),
    "no charset": (_ok(charset=None), "ok"),
    "another nonce": (_ok(nonce=b'"xyz"'), "failed"),
    "qop twice": (_ok(qop=b"auth,qop=auth"), "failed"),
    "no response": (_ok(response=None), "failed"),
    "no username": (_ok(username=None), "failed"),
    "no cnonce": (_ok(cnonce=None), "failed"),
    "an open quote": (lambda c: b'username="x', "failed"),
    "more than 4096 bytes": (lambda c: _ok()(c) + b"," + b"x" * 5000 + b"=1", "failed"),
    "an authzid": (
        lambda c: digest_response(c, b"jaasuser", b"jaas_password", authzid=b"super"),
        "ok",
    ),
}


@pytest.mark.parametrize("case", sorted(STEP_TWO))
def test_the_second_token_is_judged_as_apache_zookeeper_judges_it(case: str) -> None:
    make_token, expected = STEP_TWO[case]
    server, challenge = login()
    token = make_token(challenge)
    if expected == "ok":
        assert server.evaluate_response(token).startswith(b"rspauth=")
        # An authzid enters the digest, not the identity: the handler authorizes the user.
        assert server.authorization_id == "jaasuser"
    else:
        with pytest.raises(SaslFailure if expected == "failed" else SaslAbort):
            server.evaluate_response(token)
        assert not server.complete


@pytest.mark.parametrize("token", [b"", b"rspauth=anything"])
def test_a_token_after_a_completed_login_fails(token: bytes) -> None:
    server, challenge = login()
    server.evaluate_response(digest_response(challenge, b"jaasuser", b"jaas_password"))
    with pytest.raises(SaslFailure, match="illegal state"):
        server.evaluate_response(token)


def test_a_failed_login_cannot_be_retried_on_the_same_mechanism() -> None:
    server, challenge = login()
    with pytest.raises(SaslFailure):
        server.evaluate_response(digest_response(challenge, b"jaasuser", b"nope"))
    with pytest.raises(SaslFailure, match="illegal state"):
        server.evaluate_response(digest_response(challenge, b"jaasuser", b"jaas_password"))


def test_non_ascii_names_and_passwords_enter_the_digest_as_latin1() -> None:
    """RFC 2831 and the JDK: ISO-8859-1 when every character fits, so a client hashing
    UTF-8 fails (as pure-sasl does against Apache ZooKeeper) and one hashing Latin-1 works."""
    user = "jörg".encode()
    server, challenge = login()
    with pytest.raises(SaslFailure):
        server.evaluate_response(digest_response(challenge, user, "pé".encode()))
    server, challenge = login()
    nonce = parse_challenge(challenge)["nonce"]
    value = rfc2831_response(
        "jörg".encode("latin-1"),
        b"zk-sasl-md5",
        "pé".encode("latin-1"),
        nonce,
        CNONCE,
        DIGEST_URI.encode(),
    )
    token = digest_response(challenge, user, b"", replace={"response": value})
    assert server.evaluate_response(token).startswith(b"rspauth=")
    assert server.authorization_id == "jörg"


def test_the_super_password_counts_only_for_a_super_user_the_jaas_section_has() -> None:
    with_super = SaslSettings(users=USERS, nonce_secret=b"s", super_password="sp")
    server, challenge = login(with_super)
    assert server.evaluate_response(digest_response(challenge, b"super", b"sp"))
    server, challenge = login(with_super)
    with pytest.raises(SaslFailure):
        server.evaluate_response(digest_response(challenge, b"super", b"super_secret"))
    without = SaslSettings(users=(("bob", "b"),), nonce_secret=b"s", super_password="sp")
    server, challenge = login(without)
    with pytest.raises(SaslFailure):
        server.evaluate_response(digest_response(challenge, b"super", b"sp"))


@pytest.mark.parametrize(
    ("user", "authorized"),
    [("bob@", "bob@"), ("a/b", "a/b"), ("h/host@", "h/host@"), ("x@EX.COM", "x@EX.COM")],
)
def test_kerberos_shaped_user_names_are_authorized_as_on_apache(user: str, authorized: str) -> None:
    settings = SaslSettings(users=((user, "pw"),), nonce_secret=b"s")
    server, challenge = login(settings)
    server.evaluate_response(digest_response(challenge, user.encode(), b"pw"))
    assert server.authorization_id == authorized


def test_a_malformed_kerberos_user_name_closes_the_connection_after_the_password() -> None:
    settings = SaslSettings(users=(("a@b@c", "pw"),), nonce_secret=b"s")
    server, challenge = login(settings)
    with pytest.raises(SaslAbort):
        server.evaluate_response(digest_response(challenge, b"a@b@c", b"pw"))
    server, challenge = login(settings)
    with pytest.raises(SaslFailure):  # a wrong password fails before the name is read
        server.evaluate_response(digest_response(challenge, b"a@b@c", b"nope"))


def test_directives_are_parsed_as_the_jdk_parses_them() -> None:
    parsed = parse_directives(b' USERNAME = "a\\"b" ,, realm=r\t,x-unknown="y",nonce="n"')
    assert parsed == {"username": b'a"b', "realm": b"r", "nonce": b"n"}
    for bad in (b'a="x"y', b"=x", b"a b=c", b"a=", b'a="x', b"a,b=c", b"realm=a,realm=b"):
        with pytest.raises(SaslFailure):
            parse_directives(bad)


def test_java_parse_int_and_equals_ignore_case_match_java() -> None:
    assert java_parse_int("+12") == 12 and java_parse_int("-0") == 0
    assert java_parse_int("7fffffff", 16) == 2**31 - 1
    for bad in ("", "+", "1_0", " 1", "80000000", "0x1"):
        with pytest.raises(ValueError):
            java_parse_int(bad, 16 if bad == "80000000" else 10)
    assert java_equals_ignore_case("ZooKeeper/ZK", "zookeeper/zk")
    assert java_equals_ignore_case("uſername", "USERNAME")  # Java folds the long s too
    assert not java_equals_ignore_case("ß", "SS")
