"""The files behind SASL and TLS, read as the JDK reads them: JAAS login configurations
(``server.jaas``), JKS and PEM key and trust stores (``server.keystore``), and the secure
client port's ``ssl.SSLContext`` (``server.tls``)."""

from __future__ import annotations

import ssl
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from server.jaas import JaasError, parse_jaas, server_users
from server.keystore import KeyStoreError, StoreType, read_store
from server.tls import ClientAuth, StoreSettings, TlsError, TlsSettings, server_context
from tests.support.certificates import (
    STORE_PASSWORD,
    CertificateAuthority,
    ServerStores,
    _keytool,
    name,
    write_stores,
)

HARNESS_JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"""


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority) -> ServerStores:
    server = ca.issue(name((NameOID.COMMON_NAME, "localhost")))
    return write_stores(tmp_path_factory.mktemp("stores"), ca, server)


# --- JAAS -----------------------------------------------------------------------------------------


def test_the_jaas_file_kazoo_s_harness_writes_gives_its_users_in_order() -> None:
    sections = parse_jaas(HARNESS_JAAS)
    assert server_users(sections, "Server") == (
        ("super", "super_secret"),
        ("jaasuser", "jaas_password"),
    )
    assert server_users(sections, "Other") is None  # no section: no SASL
    assert server_users(parse_jaas(""), "Server") is None  # the harness's empty file


def test_jaas_syntax_is_read_as_the_jdk_reads_it() -> None:
    text = """
    // a comment
    /* a block
       comment */ Server {
      org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED
        "user_bob@REALM"='p\\"w' user_x=plain user_x="later wins"
        debug=true;
    };
    Client { org.apache.zookeeper.server.auth.DigestLoginModule optional username="u"; };
    """
    sections = parse_jaas(text)
    assert set(sections) == {"Server", "Client"}
    assert server_users(sections, "Server") == (("bob@REALM", 'p"w'), ("x", "later wins"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Server { m required a=b; }", "expected \\[;\\]"),
        ("Server { m sometimes; };", "invalid control flag"),
        ("Server { m required a=; };", "option value"),
        ("Server { m required a=1; };", "option value"),
        ("S {}; S {};", "given twice"),
        ("/* open", "not closed"),
        ('Server { m required a="${user.home}"; };', "expansion is not supported"),
    ],
)
def test_a_jaas_file_that_does_not_parse_is_refused(text: str, message: str) -> None:
    with pytest.raises(JaasError, match=message):
        parse_jaas(text)


def test_kerberos_and_unknown_login_modules_are_refused() -> None:
    kerberos = 'Server { com.sun.security.auth.module.Krb5LoginModule required keyTab="k"; };'
    with pytest.raises(JaasError, match="Kerberos"):
        server_users(parse_jaas(kerberos), "Server")
    with pytest.raises(JaasError, match="not supported"):
        server_users(parse_jaas("Server { com.example.Login required; };"), "Server")


# --- key and trust stores -------------------------------------------------------------------------


def test_jks_stores_written_by_keytool_are_read(stores: ServerStores) -> None:
    key_store = read_store(stores.key_store, STORE_PASSWORD)
    assert key_store.store_type is StoreType.JKS
    ((key, chain),) = key_store.private_keys
    assert len(chain) == 2 and key.startswith(b"\x30")  # the server's and the CA's
    trust_store = read_store(stores.trust_store, STORE_PASSWORD)
    assert len(trust_store.trusted_certificates) == 1 and not trust_store.private_keys


def test_a_wrong_store_password_is_refused_as_java_refuses_it(stores: ServerStores) -> None:
    with pytest.raises(KeyStoreError, match="tampered with, or password was incorrect"):
        read_store(stores.key_store, "wrong")


def test_the_store_type_comes_from_the_setting_or_the_extension(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="cannot tell the store type"):
        read_store(tmp_path / "store.bin", "")
    for path, kind in ((tmp_path / "s.p12", None), (tmp_path / "s.bin", "bcfks")):
        path.write_bytes(b"0")
        with pytest.raises(KeyStoreError, match="not supported by zkref; convert"):
            read_store(path, "", kind)


def test_pkcs12_and_jceks_contents_are_refused_with_a_hint(
    tmp_path: Path, stores: ServerStores
) -> None:
    disguised = tmp_path / "pkcs12.jks"
    disguised.write_bytes((stores.key_store.parent / "server.p12").read_bytes())
    with pytest.raises(KeyStoreError, match="PKCS12"):
        read_store(disguised, STORE_PASSWORD)
    jceks = tmp_path / "trust.jceks"
    _keytool(
        "-importkeystore", "-noprompt",
        "-srckeystore", str(stores.trust_store), "-srcstoretype", "JKS",
        "-srcstorepass", STORE_PASSWORD,
        "-destkeystore", str(jceks), "-deststoretype", "JCEKS",
        "-deststorepass", STORE_PASSWORD,
    )  # fmt: skip
    with pytest.raises(KeyStoreError, match="JCEKS"):
        read_store(jceks, STORE_PASSWORD, "JKS")


# --- the TLS context ------------------------------------------------------------------------------


def tls(stores: ServerStores, **changes: Any) -> TlsSettings:
    settings = TlsSettings(
        StoreSettings(stores.key_store, STORE_PASSWORD),
        StoreSettings(stores.trust_store, STORE_PASSWORD),
    )
    return replace(settings, **changes)


def test_the_context_has_apache_s_defaults(stores: ServerStores) -> None:
    context = server_context(tls(stores))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_2
    names = {cipher["name"] for cipher in context.get_ciphers() if cipher["protocol"] != "TLSv1.3"}
    assert "ECDHE-RSA-AES128-GCM-SHA256" in names and "AES128-SHA" not in names


def test_a_pem_key_store_with_an_encrypted_key_is_read(
    tmp_path: Path, ca: CertificateAuthority, stores: ServerStores
) -> None:
    issued = ca.issue(name((NameOID.COMMON_NAME, "pem")))
    pem = tmp_path / "server.pem"
    pem.write_bytes(
        issued.certificate.public_bytes(serialization.Encoding.PEM)
        + issued.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pem-password"),
        )
    )
    settings = tls(stores, key_store=StoreSettings(pem, "pem-password"))
    assert server_context(settings).verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(TlsError, match=r"ssl\.keyStore"):
        server_context(tls(stores, key_store=StoreSettings(pem, "wrong")))


def test_settings_that_cannot_work_are_refused_naming_the_setting(
    stores: ServerStores, tmp_path: Path
) -> None:
    cases = [
        (tls(stores, key_store=StoreSettings()), "ssl.keyStore.location"),
        (tls(stores, trust_store=StoreSettings()), "ssl.trustStore.location"),
        (tls(stores, protocol="SSLv3"), "ssl.protocol"),
        (tls(stores, enabled_protocols=("TLSv1.1", "TLSv1.3")), "contiguous"),
        (tls(stores, cipher_suites=("TLS_AES_128_GCM_SHA256",)), "ssl.ciphersuites"),
        (tls(stores, key_store=StoreSettings(stores.key_store, "x")), "ssl.keyStore"),
    ]
    for settings, message in cases:
        with pytest.raises(TlsError, match=message):
            server_context(settings)
    # Clients need not present a certificate: no trust store is needed.
    assert server_context(tls(stores, trust_store=StoreSettings(), client_auth=ClientAuth.NONE))


def test_a_key_store_with_two_keys_is_refused(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = tmp_path / "two.jks"
    for alias in ("one", "two"):
        issued = ca.issue(name((NameOID.COMMON_NAME, alias)))
        bundle = tmp_path / f"{alias}.p12"
        bundle.write_bytes(
            pkcs12.serialize_key_and_certificates(
                alias.encode(),
                issued.key,
                issued.certificate,
                None,
                serialization.BestAvailableEncryption(STORE_PASSWORD.encode()),
            )
        )
        _keytool(
            "-importkeystore", "-noprompt",
            "-srckeystore", str(bundle), "-srcstoretype", "PKCS12",
            "-srcstorepass", STORE_PASSWORD,
            "-destkeystore", str(path), "-deststoretype", "JKS",
            "-deststorepass", STORE_PASSWORD,
        )  # fmt: skip
    settings = TlsSettings(StoreSettings(path, STORE_PASSWORD), client_auth=ClientAuth.NONE)
    with pytest.raises(TlsError, match="2 private keys"):
        server_context(settings)
