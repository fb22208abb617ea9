"""Tests of ``spec.acl``'s providers: the ``sasl`` and ``x509`` schemes a server's
configuration adds, their super users, and the SASL authorization id.

Which ids Apache ZooKeeper 3.8 accepts is also checked against a real server
(``tests/interop/test_sasl_tls.py``, ``ACL_IDS``)."""

from __future__ import annotations

import pytest

from spec.acl import (
    ACL,
    AUTH_IDS,
    DEFAULT_AUTH_PROVIDERS,
    SUPER_ID,
    AuthProviders,
    Id,
    SaslSettings,
    acl_permits,
    fixup_acl,
    kerberos_name,
    sasl_authorization_id,
    sasl_ids,
    scheme_id_is_valid,
    user_name,
    x500_name_is_valid,
    x509_ids,
)

ALL = frozenset({"ip", "digest", "sasl", "x509"})
PROVIDERS = AuthProviders(ALL)
IP = Id("ip", "127.0.0.1")


def permits(acl_id: Id, held: Id, providers: AuthProviders = PROVIDERS) -> bool:
    return acl_permits((ACL(31, acl_id),), 1, (IP, held), False, providers)


@pytest.mark.parametrize("scheme", ["sasl", "x509"])
def test_a_scheme_without_its_provider_is_invalid_and_never_matches(scheme: str) -> None:
    entry = ACL(31, Id(scheme, "CN=u" if scheme == "x509" else "u"))
    with pytest.raises(ValueError, match="no authentication provider"):
        fixup_acl((entry,), (IP,), False)
    assert fixup_acl((entry,), (IP,), False, PROVIDERS) == (entry,)
    assert not permits(entry.id, entry.id, DEFAULT_AUTH_PROVIDERS)  # stored before a restart
    assert permits(entry.id, entry.id)


def test_auth_expands_to_sasl_and_x509_ids_only_when_their_providers_run() -> None:
    held = (IP, Id("sasl", "u"), Id("x509", "CN=u"))
    assert set(fixup_acl((ACL(31, AUTH_IDS),), held, False, PROVIDERS)) == {
        ACL(31, Id("sasl", "u")),
        ACL(31, Id("x509", "CN=u")),
    }
    with pytest.raises(ValueError, match="no authenticated id"):
        fixup_acl((ACL(31, AUTH_IDS),), held, False)


@pytest.mark.parametrize(
    ("ident", "valid"),
    [
        ("jaasuser", True),
        ("a/b/c", True),
        ("x/y@Z", True),
        ("bob@", True),
        ("", True),
        ("a@b@c", False),
        ("a/b/c@R", False),
    ],
)
def test_a_sasl_id_is_a_kerberos_name(ident: str, valid: bool) -> None:
    assert scheme_id_is_valid("sasl", ident, False, PROVIDERS) is valid


def test_kerberos_names_split_as_apache_splits_them() -> None:
    assert kerberos_name("zk/host@REALM") == ("zk", "host", "REALM")
    assert kerberos_name("user@") == ("user", None, "")
    assert kerberos_name("a/b") == ("a/b", None, None)
    with pytest.raises(ValueError):
        kerberos_name("a@b@c")


@pytest.mark.parametrize(
    ("ident", "valid"),
    [
        ("CN=client", True),
        ("cn=a, o=b", True),
        ("CN=a+OU=b;C=US", True),
        ("OID.2.5.4.3=x", True),
        ("2.5.4.3=#04024869", True),
        ('CN="a,b"', True),
        ("CN=a\\,b", True),
        ("CN=a=b", True),
        ("EMAILADDRESS=a@b.c", True),
        ("", True),
        ("CN=#0402", False),
        ("CN=a,b", False),
        ("CN=a,", False),
        ("foo", False),
        ("x=1", False),
        ("CN=a\\q", False),
        ("CN=a<b", False),
        ("3.1=x", False),
    ],
)
def test_an_x509_id_is_an_x500_name(ident: str, valid: bool) -> None:
    assert x500_name_is_valid(ident) is valid
    assert scheme_id_is_valid("x509", ident, False, PROVIDERS) is valid


def test_a_sasl_entry_matches_its_own_id_the_sasl_user_super_and_the_any_user_entry() -> None:
    entry = Id("sasl", "alice")
    assert permits(entry, Id("sasl", "alice"))
    assert not permits(entry, Id("sasl", "bob"))
    assert permits(entry, Id("sasl", "super"))  # SASLAuthenticationProvider.matches
    anyone = AuthProviders(ALL, sasl_any_user="everyone")
    assert permits(Id("sasl", "everyone"), Id("sasl", "bob"), anyone)
    assert not permits(Id("sasl", "alice"), Id("sasl", "bob"), anyone)


def test_an_x509_entry_matches_its_own_id_and_the_super_user_s() -> None:
    entry = Id("x509", "CN=alice")
    assert permits(entry, Id("x509", "CN=alice"))
    assert not permits(entry, Id("x509", "CN=admin"))
    with_super = AuthProviders(ALL, x509_super_user="CN=admin")
    assert permits(entry, Id("x509", "CN=admin"), with_super)


def test_logins_and_certificates_give_their_ids_and_super_to_super_users() -> None:
    assert sasl_ids("bob", frozenset({"bob"})) == (Id("sasl", "bob"), SUPER_ID)
    assert sasl_ids("alice", frozenset({"bob"})) == (Id("sasl", "alice"),)
    assert sasl_ids("", frozenset({""})) == (Id("sasl", ""),)  # isSaslSuperUser: never empty
    assert x509_ids("CN=a", "CN=a") == (Id("super", "CN=a"), Id("x509", "CN=a"))
    assert x509_ids("CN=a", None) == (Id("x509", "CN=a"),)


@pytest.mark.parametrize(
    ("user", "host", "realm", "expected"),
    [
        ("jaasuser", False, False, "jaasuser"),
        ("bob@", False, False, "bob@"),
        ("bob@", False, True, "bob"),
        ("h/host@", False, False, "h/host@"),
        ("h/host@", True, True, "h"),
        ("a/b", True, True, "a/b"),  # no realm: the whole name is the service
        ("x@EX.COM", True, True, "requested"),  # no rule for a realm: the id asked for
    ],
)
def test_the_sasl_authorization_id_is_the_user_s_kerberos_short_name(
    user: str, host: bool, realm: bool, expected: str
) -> None:
    assert sasl_authorization_id(user, "requested", host, realm) == expected


def test_who_am_i_shows_the_provider_s_user_name() -> None:
    assert user_name(Id("digest", "u:hash")) == "u"
    assert user_name(Id("super", "CN=a"), PROVIDERS) == ""
    assert user_name(Id("sasl", "u")) == ""  # no SASLAuthenticationProvider
    assert user_name(Id("sasl", "u"), PROVIDERS) == "u"


def test_the_super_password_applies_to_a_super_user_of_the_jaas_section_only() -> None:
    settings = SaslSettings(
        users=(("super", "secret-a"), ("u", "b")), nonce_secret=b"", super_password="secret-s"
    )
    assert settings.password_of("super") == "secret-s"
    assert settings.password_of("u") == "b"
    assert settings.password_of("nobody") is None
    assert "secret" not in repr(settings) and "nonce" not in repr(settings)
