"""SASL (DIGEST-MD5) and TLS client ports: zkref and Apache ZooKeeper 3.8, started from the
same zoo.cfg and the same system properties, get the same tokens and certificates and must
answer alike.

Both servers: ``authProvider.1=SASLAuthenticationProvider``, a JAAS ``Server`` section of
DIGEST-MD5 users (``-Djava.security.auth.login.config``), ``-Dzookeeper.superUser=bob``,
``secureClientPort`` on Netty with JKS stores written by ``keytool`` (clients must present a
certificate: ``ssl.clientAuth`` is left at ``need``), and an x509 super user. Compared:

* each second SASL token of ``tests/reference/test_sasl.STEP_TWO``: the reply (error code,
  zxid, whether a token came back), whether the connection survives, the ids whoAmI lists;
* kazoo's own SASL client (``sasl_options``) and its legacy ``auth_data`` form, and a wrong
  password (``AuthFailedError``), as kazoo's suite tests them;
* which ``sasl`` and ``x509`` ACL ids a create accepts (INVALIDACL or OK);
* TLS: kazoo over TLS with a client certificate; the x509 ids of certificates with odd
  subjects, as whoAmI lists them; a client without a certificate, or with one from another
  CA, does not get a session.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError
from kazoo.security import make_acl

from conformance.nemesis import ApacheZooKeeperNode, NodeError, ServerNode, ZkrefNode, free_port
from reference import jute
from spec.acl import ACL, Id
from spec.opcodes import OpCode
from tests.reference.test_sasl import STEP_TWO
from tests.support.certificates import (
    CertificateAuthority,
    Issued,
    ServerStores,
    name,
    write_stores,
)
from tests.support.digest_md5 import digest_response
from tests.support.rawclient import ConnectionClosed, RawClient, four_letter_word

pytestmark = [pytest.mark.slow]

JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password"
    user_bob="bob_pw"
    "user_bob@"="p1"
    "user_a/b"="p2"
    "user_x@EX.COM"="p3"
    "user_a@b@c"="p4";
};
"""
X509_SUPER = "CN=admin,O=zkref"
KAZOO_TIMEOUT_S = 15.0
SUBJECTS: list[x509.Name] = [
    name((NameOID.COMMON_NAME, "client")),
    name(
        (NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Org"), (NameOID.COMMON_NAME, "n")
    ),
    name((NameOID.COMMON_NAME, 'a,b+c="d"<e>;f\\g#h=i')),
    name((NameOID.COMMON_NAME, " padded ")),
    name((NameOID.COMMON_NAME, "Jörg")),
    name((NameOID.DOMAIN_COMPONENT, "org"), (NameOID.USER_ID, "u1")),
    name((NameOID.COMMON_NAME, "c"), (NameOID.EMAIL_ADDRESS, "a@b.c")),
    name((NameOID.SERIAL_NUMBER, "42"), (NameOID.COMMON_NAME, "s")),
    name((NameOID.ORGANIZATION_NAME, "zkref"), (NameOID.COMMON_NAME, "admin")),
]


@dataclass
class Secure:
    """Both servers' shared setup: the CA and the stores."""

    home: Path
    ca: CertificateAuthority
    stores: ServerStores
    jaas: Path

    def zoo_cfg_lines(self, secure_port: int) -> list[str]:
        return [
            f"secureClientPort={secure_port}",
            "secureClientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            f"ssl.keyStore.location={self.stores.key_store}",
            "ssl.keyStore.password=apassword",
            f"ssl.trustStore.location={self.stores.trust_store}",
            "ssl.trustStore.password=apassword",
        ]

    def properties(self) -> list[str]:
        return [
            f"-Djava.security.auth.login.config={self.jaas}",
            "-Dzookeeper.superUser=bob",
            f"-Dzookeeper.X509AuthenticationProvider.superUser={X509_SUPER}",
        ]


class SecureApache(ApacheZooKeeperNode):
    def __init__(self, home: Path, secure: Secure) -> None:
        super().__init__(home)
        self.secure = secure
        self.secure_port = free_port()

    def prepare(self) -> None:
        super().prepare()
        with (self.home / "zoo.cfg").open("a") as config:
            config.write("\n".join(self.secure.zoo_cfg_lines(self.secure_port)) + "\n")

    def command(self) -> list[str]:
        command = super().command()
        main = command.index("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        return [*command[:main], *self.secure.properties(), *command[main:]]


class SecureZkref(ZkrefNode):
    def __init__(self, home: Path, secure: Secure) -> None:
        super().__init__(home)
        self.secure = secure
        self.secure_port = free_port()

    def prepare(self) -> None:
        super().prepare()
        with (self.home / "zoo.cfg").open("a") as config:
            lines = [*self.secure.zoo_cfg_lines(self.secure_port), "zkref.profile=3.8"]
            config.write("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [*super().command(), *self.secure.properties()]


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Secure:
    home = tmp_path_factory.mktemp("secure")
    ca = CertificateAuthority()
    server = ca.issue(name((NameOID.COMMON_NAME, "localhost")))
    stores = write_stores(home / "stores", ca, server)
    jaas = home / "jaas.conf"
    jaas.write_text(JAAS, encoding="utf-8")
    return Secure(home, ca, stores, jaas)


def _started(node: ServerNode) -> Iterator[ServerNode]:
    if isinstance(node, ApacheZooKeeperNode):
        missing = ApacheZooKeeperNode.available()
        if missing is not None:
            pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    try:
        node.start()
    except NodeError as error:
        pytest.fail(f"{node.kind} did not start: {error}\n{node.log_text()[-3000:]}")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def apache(secure: Secure) -> Iterator[ServerNode]:
    yield from _started(SecureApache(secure.home / "apache", secure))


@pytest.fixture(scope="module")
def zkref(secure: Secure) -> Iterator[ServerNode]:
    yield from _started(SecureZkref(secure.home / "zkref", secure))


# --- SASL, token by token ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one connection saw of a login: the second token's reply, and what is left."""

    reply: tuple[int, int, bool] | None  # (err, zxid, a token came back); None: closed
    alive: bool
    ids: frozenset[tuple[str, str]]


def _sasl(client: RawClient, token: bytes | None) -> jute.Reply | None:
    client.send_request(OpCode.sasl, jute.GetSASLRequest(token))
    try:
        return client.read_reply(OpCode.sasl)
    except ConnectionClosed:
        return None


def _who_am_i(client: RawClient) -> frozenset[tuple[str, str]] | None:
    try:
        reply = client.call(OpCode.whoAmI)
    except ConnectionClosed:
        return None
    assert isinstance(reply.record, jute.WhoAmIResponse)
    return frozenset((i.authScheme or "", i.user or "") for i in reply.record.clientInfo or ())


def sasl_outcome(node: ServerNode, second: Any, third: bytes | None = None) -> Outcome:
    with RawClient("127.0.0.1", node.port) as client:
        client.handshake()
        challenge = _sasl(client, b"")
        assert challenge is not None and isinstance(challenge.record, jute.SetSASLResponse)
        assert challenge.record.token is not None
        reply = _sasl(client, second(challenge.record.token))
        if reply is not None and third is not None and reply.header.err == 0:
            reply = _sasl(client, third)
        ids = _who_am_i(client)
    summary = None
    if reply is not None:
        token = isinstance(reply.record, jute.SetSASLResponse) and reply.record.token is not None
        summary = (reply.header.err, reply.header.zxid, token)
    return Outcome(summary, ids is not None, ids or frozenset())


@pytest.mark.parametrize("case", sorted(STEP_TWO))
def test_each_second_sasl_token_is_answered_as_apache_answers_it(
    apache: ServerNode, zkref: ServerNode, case: str
) -> None:
    make_token, _ = STEP_TWO[case]
    assert sasl_outcome(zkref, make_token) == sasl_outcome(apache, make_token)


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (b"bob", b"bob_pw"),
        (b"bob@", b"p1"),
        (b"a/b", b"p2"),
        (b"x@EX.COM", b"p3"),
        (b"a@b@c", b"p4"),
    ],
)
def test_users_get_the_same_ids_as_on_apache(
    apache: ServerNode, zkref: ServerNode, user: bytes, password: bytes
) -> None:
    def token(challenge: bytes) -> bytes:
        return digest_response(challenge, user, password)

    assert sasl_outcome(zkref, token) == sasl_outcome(apache, token)


@pytest.mark.parametrize("third", [b"", b"rspauth=x"])
def test_a_token_after_the_login_is_answered_as_apache_answers_it(
    apache: ServerNode, zkref: ServerNode, third: bytes
) -> None:
    make_token, _ = STEP_TWO["well formed"]
    assert sasl_outcome(zkref, make_token, third) == sasl_outcome(apache, make_token, third)


def test_the_sasl_failure_frame_is_byte_for_byte_apache_s(
    apache: ServerNode, zkref: ServerNode
) -> None:
    frames = []
    for node in (apache, zkref):
        with RawClient("127.0.0.1", node.port) as client:
            client.handshake()
            _sasl(client, b"")
            client.send_request(OpCode.sasl, jute.GetSASLRequest(b'username="jaasuser"'))
            frames.append(client.read_frame())
            assert client.is_closed_by_server()
    assert frames[0] == frames[1]


# --- kazoo's SASL client ----------------------------------------------------------------------


def _kazoo(node: ServerNode, **options: Any) -> Any:
    client = KazooClient(hosts=f"127.0.0.1:{node.port}", timeout=KAZOO_TIMEOUT_S, **options)
    client.start(timeout=KAZOO_TIMEOUT_S)
    return client


@pytest.mark.parametrize("server", ["apache", "zkref"])
@pytest.mark.parametrize("legacy", [False, True], ids=["sasl_options", "auth_data"])
def test_kazoo_logs_in_with_digest_md5_and_its_sasl_acl_keeps_others_out(
    request: pytest.FixtureRequest, server: str, legacy: bool
) -> None:
    node = request.getfixturevalue(server)
    credentials = {"mechanism": "DIGEST-MD5", "username": "jaasuser", "password": "jaas_password"}
    options: dict[str, Any] = (
        {"auth_data": [("sasl", "jaasuser:jaas_password")]}
        if legacy
        else {"sasl_options": credentials}
    )
    owner = _kazoo(node, **options)
    other = _kazoo(node)
    path = f"/sasl-{legacy}"
    try:
        owner.create(path, b"x", acl=[make_acl("sasl", "jaasuser", all=True)])
        assert owner.get(path)[0] == b"x"
        with pytest.raises(NoAuthError):
            other.get(path)
    finally:
        owner.delete(path)
        for client in (owner, other):
            client.stop()
            client.close()


@pytest.mark.parametrize("server", ["apache", "zkref"])
def test_kazoo_with_a_wrong_password_gets_auth_failed(
    request: pytest.FixtureRequest, server: str
) -> None:
    node = request.getfixturevalue(server)
    client = KazooClient(
        hosts=f"127.0.0.1:{node.port}/chroot",
        timeout=KAZOO_TIMEOUT_S,
        sasl_options={"mechanism": "DIGEST-MD5", "username": "jaasuser", "password": "bad"},
    )
    try:
        with pytest.raises(AuthFailedError):
            client.start(timeout=KAZOO_TIMEOUT_S)  # the chroot check runs after the login
    finally:
        client.stop()
        client.close()


# --- ACL ids ------------------------------------------------------------------------------------

ACL_IDS = [
    ("sasl", "jaasuser"),
    ("sasl", "a/b/c"),
    ("sasl", "x/y@Z"),
    ("sasl", "bob@"),
    ("sasl", "a@b@c"),
    ("sasl", "a/b/c@R"),
    ("sasl", ""),
    ("x509", "CN=client"),
    ("x509", "cn=a, o=b"),
    ("x509", "CN=a+OU=b;C=US"),
    ("x509", "OID.2.5.4.3=x"),
    ("x509", "2.5.4.3=#04024869"),
    ("x509", "CN=#0402"),
    ("x509", 'CN="a,b"'),
    ("x509", "CN=a\\,b"),
    ("x509", "CN=a,b"),
    ("x509", "CN=a,"),
    ("x509", "foo"),
    ("x509", "x=1"),
    ("x509", ""),
    ("x509", "CN=a\\q"),
    ("x509", "EMAILADDRESS=a@b.c"),
    ("x509", "CN=a=b"),
    ("x509", "CN=a<b"),
]


def _create_with(node: ServerNode, scheme: str, ident: str, index: int) -> int:
    with RawClient("127.0.0.1", node.port) as client:
        client.handshake()
        path = f"/acl-{scheme}-{index}"
        reply = client.create(path, acl=(ACL(31, Id(scheme, ident)),))
        if reply.header.err == 0:
            client.call(OpCode.delete, jute.DeleteRequest(path, -1))
        return reply.header.err


def test_sasl_and_x509_acl_ids_are_valid_where_apache_finds_them_valid(
    apache: ServerNode, zkref: ServerNode
) -> None:
    differing = {
        (scheme, ident): (apache_err, zkref_err)
        for index, (scheme, ident) in enumerate(ACL_IDS)
        if (apache_err := _create_with(apache, scheme, ident, index))
        != (zkref_err := _create_with(zkref, scheme, ident, index))
    }
    assert not differing


# --- TLS ----------------------------------------------------------------------------------------


def _tls_client(node: Any, secure: Secure, issued: Issued | None, tmp: Path) -> RawClient:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(str(secure.stores.ca_pem))
    if issued is not None:
        issued.write_pem(tmp / "cert.pem", tmp / "key.pem")
        context.load_cert_chain(str(tmp / "cert.pem"), str(tmp / "key.pem"))
    raw = socket.create_connection(("127.0.0.1", node.secure_port), timeout=5.0)
    return RawClient("127.0.0.1", node.secure_port, sock=context.wrap_socket(raw))


def _tls_ids(node: Any, secure: Secure, issued: Issued | None, tmp: Path) -> object:
    """The ids whoAmI lists over TLS, or the kind of failure."""
    try:
        with _tls_client(node, secure, issued, tmp) as client:
            client.handshake()
            return _who_am_i(client)
    except (ssl.SSLError, ConnectionClosed, ConnectionResetError, BrokenPipeError, struct.error):
        return "refused"


@pytest.mark.parametrize("index", range(len(SUBJECTS)))
def test_a_client_certificate_gives_the_x509_id_apache_gives(
    apache: Any, zkref: Any, secure: Secure, tmp_path: Path, index: int
) -> None:
    issued = secure.ca.issue(SUBJECTS[index])
    ids = _tls_ids(zkref, secure, issued, tmp_path)
    assert ids == _tls_ids(apache, secure, issued, tmp_path)
    assert isinstance(ids, frozenset) and any(scheme == "x509" for scheme, _ in ids)


def test_clients_without_a_trusted_certificate_get_no_session(
    apache: Any, zkref: Any, secure: Secure, tmp_path: Path
) -> None:
    stranger = CertificateAuthority("another CA").issue(name((NameOID.COMMON_NAME, "x")))
    for issued in (None, stranger):
        assert _tls_ids(zkref, secure, issued, tmp_path) == "refused"
        assert _tls_ids(apache, secure, issued, tmp_path) == "refused"


@pytest.mark.parametrize("server", ["apache", "zkref"])
def test_kazoo_over_tls_with_a_client_certificate_creates_and_reads(
    request: pytest.FixtureRequest, secure: Secure, tmp_path: Path, server: str
) -> None:
    """kazoo's ``TestSSLClient.test_create``, against each server."""
    node = request.getfixturevalue(server)
    issued = secure.ca.issue(name((NameOID.COMMON_NAME, "client")))
    issued.write_pem(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = KazooClient(
        hosts=f"127.0.0.1:{node.secure_port}",
        timeout=KAZOO_TIMEOUT_S,
        use_ssl=True,
        keyfile=str(tmp_path / "key.pem"),
        certfile=str(tmp_path / "cert.pem"),
        ca=str(secure.stores.ca_pem),
    )
    client.start(timeout=KAZOO_TIMEOUT_S)
    try:
        assert client.create("/tls") == "/tls"
        assert client.exists("/tls")
        # The x509 id opens an x509 ACL (and the x509 super user could open any).
        client.create("/tls/x509", b"", acl=[make_acl("x509", "CN=client", all=True)])
        assert client.get("/tls/x509")[0] == b""
        client.delete("/tls", recursive=True)
    finally:
        client.stop()
        client.close()


def _add_auth_x509(client: RawClient) -> tuple[int, frozenset[tuple[str, str]] | None]:
    client.send_request(OpCode.auth, jute.AuthPacket(0, "x509", b"anything"), xid=-4)
    err = client.read_reply(OpCode.auth).header.err
    return err, _who_am_i(client)


def test_add_auth_x509_is_ok_over_tls_with_a_certificate_and_fails_elsewhere(
    apache: Any, zkref: Any, secure: Secure, tmp_path: Path
) -> None:
    issued = secure.ca.issue(name((NameOID.COMMON_NAME, "client")))
    seen = []
    for node in (apache, zkref):
        with _tls_client(node, secure, issued, tmp_path) as client:
            client.handshake()
            over_tls = _add_auth_x509(client)
        with RawClient("127.0.0.1", node.port) as client:
            client.handshake()
            plain = _add_auth_x509(client)
        seen.append((over_tls, plain))
    assert seen[0] == seen[1]
    assert seen[1][0][0] == 0 and seen[1][1] == (-115, None)


def test_conf_reports_the_secure_port_as_apache_does(apache: Any, zkref: Any) -> None:
    for node in (apache, zkref):
        lines = four_letter_word("127.0.0.1", node.port, "conf").splitlines()
        assert f"secureClientPort={node.secure_port}" in lines
