"""Security settings under Apache ZooKeeper's names, from zoo.cfg and system properties
(``-D``): the JAAS file, the ``ssl.*`` keys, ``authProvider.N`` and the properties of SASL
and x509 logins, and what zkref refuses at start instead of accepting and ignoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import (
    ConfigError,
    ServerConfig,
    apply_system_properties,
    parse_system_property,
    parse_zoo_cfg,
    read_sasl_users,
)
from server.tls import ClientAuth, StoreSettings

HARNESS_JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"""
NETTY = "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"


def test_the_jaas_file_named_by_the_system_property_gives_the_server_its_users(
    tmp_path: Path,
) -> None:
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(HARNESS_JAAS)
    config = apply_system_properties(
        ServerConfig(), [("java.security.auth.login.config", str(jaas))]
    )
    config = read_sasl_users(config)
    assert config.sasl_users is not None and len(config.sasl_users) == 2
    core = config.core_config(1)
    assert core.sasl is not None and core.sasl.password_of("jaasuser") == "jaas_password"
    assert len(core.sasl.nonce_secret) == 32
    assert "jaas_password" not in repr(config) and "jaas_password" not in repr(core)
    section = parse_zoo_cfg("zookeeper.sasl.serverconfig=Other\n", config)
    assert read_sasl_users(section).sasl_users is None
    with pytest.raises(ConfigError, match="cannot read it"):
        read_sasl_users(ServerConfig(jaas_config=tmp_path / "missing.conf"))


# --- zoo.cfg and system properties ----------------------------------------------------------------


def test_zoo_cfg_s_security_keys_are_read_under_apache_s_names(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    config = parse_zoo_cfg(
        NETTY + "secureClientPort=2281\n"
        "secureClientPortAddress=127.0.0.2\n"
        "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
        "ssl.keyStore.location=/k.jks\n"
        f"ssl.keyStore.passwordPath={secret}\n"
        "zookeeper.ssl.trustStore.location=/t.pem\n"
        "ssl.trustStore.type=PEM\n"
        "ssl.clientAuth=want\n"
        "ssl.enabledProtocols=TLSv1.2,TLSv1.3\n"
        "zookeeper.superUser=bob\n"
        "zookeeper.superUser.2=carol\n"
        "zookeeper.X509AuthenticationProvider.superUser=CN=admin\n"
        "zookeeper.letAnySaslUserDoX=anyone\n"
        "zookeeper.allowSaslFailedClients=TRUE\n"
        "zookeeper.kerberos.removeRealmFromPrincipal=true\n"
        "ssl.hostnameVerification=false\n"
    )
    config.check_secure_port()
    assert (config.secure_host_effective, config.secure_port) == ("127.0.0.2", 2281)
    assert config.tls.key_store == StoreSettings(Path("/k.jks"), "", secret)
    assert config.tls.key_store.resolved_password("k") == "from-file"
    assert config.tls.trust_store == StoreSettings(Path("/t.pem"), type_name="PEM")
    assert config.tls.client_auth is ClientAuth.WANT
    assert config.tls.enabled_protocols == ("TLSv1.2", "TLSv1.3")
    providers = config.auth_providers
    assert providers.schemes == {"ip", "digest", "sasl", "x509"}
    assert (providers.sasl_any_user, providers.x509_super_user) == ("anyone", "CN=admin")
    assert config.sasl_super_users == {"bob", "carol"}
    assert config.allow_sasl_failed_clients and config.kerberos_remove_realm
    assert config.unknown_keys == ()
    assert parse_zoo_cfg("secureClientPort=0\n").secure_port is None  # 0: not set (Apache)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("secureClientPort=2281\n", "needs serverCnxnFactory"),
        ("secureClientPortAddress=127.0.0.1\n", "secureClientPort is not set"),
        ("serverCnxnFactory=com.example.Factory\n", "not supported"),
        ("authProvider.1=com.example.Provider\n", "no such authentication provider"),
        ("ssl.crl=true\n", "revocation"),
        ("zookeeper.ssl.ocsp=true\n", "revocation"),
        ("ssl.context.supplier.class=com.example.S\n", "SSLContext supplier"),
        ("ssl.authProvider=custom\n", "x509 provider only"),
        ("client.portUnification=true\n", "one port"),
        ("sslQuorum=true\n", "between ensemble servers"),
        ("ssl.clientAuth=sometimes\n", "none, want or need"),
        ("sessionRequireClientSASLAuth=true\n", "requiring SASL"),
        ("enforce.auth.enabled=true\n", "enforcing authentication"),
        ("zookeeper.security.auth_to_local=RULE:[1:$1]\n", "only DEFAULT"),
        ("DigestAuthenticationProvider.enabled=false\n", "digest provider off"),
        ("DigestAuthenticationProvider.digestAlg=SHA-256\n", "SHA1 only"),
    ],
)
def test_settings_zkref_cannot_honour_are_refused_not_ignored(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_zoo_cfg(text).check_secure_port()


def test_settings_that_change_nothing_here_are_accepted_without_a_warning() -> None:
    config = parse_zoo_cfg(
        "ssl.crl=false\nclient.portUnification=false\nsslQuorum=false\n"
        "ssl.quorum.keyStore.location=/q.jks\nssl.handshakeDetectionTimeoutMillis=5000\n"
    )
    assert config.unknown_keys == () and config.secure_port is None


def test_system_properties_are_read_as_java_reads_them(tmp_path: Path) -> None:
    assert parse_system_property("a.b=c=d") == ("a.b", "c=d")
    assert parse_system_property("flag") == ("flag", "")
    config = apply_system_properties(
        parse_zoo_cfg(NETTY + "secureClientPort=2281\n"),
        [("zookeeper.ssl.keyStore.location", "/k.jks"), ("jute.maxbuffer", "4096")],
    )
    assert config.tls.key_store.location == Path("/k.jks") and config.jute_max_buffer == 4096
    assert config.secure_port == 2281  # zoo.cfg's settings stay
    with pytest.raises(ConfigError, match=r"reads clientPort from zoo\.cfg only"):
        apply_system_properties(ServerConfig(), [("zookeeper.clientPort", "1")])
    with pytest.raises(ConfigError, match="not a ZooKeeper server setting"):
        apply_system_properties(ServerConfig(), [("java.awt.headless", "true")])
