"""SASL logins and TLS client certificates through the core: the ids a connection gets, the
replies, and when the connection is closed, as ``ZooKeeperServer.processSasl`` and
``X509AuthenticationProvider`` do (observed on Apache ZooKeeper 3.8; the interop test holds
zkref and Apache to the same transcript)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.x509.oid import NameOID

from reference.core import ZooKeeperCore, settle
from reference.jute import (
    AuthPacket,
    ConnectRequest,
    CreateRequest,
    GetDataRequest,
    GetSASLRequest,
    Reply,
    RequestHeader,
    SetSASLResponse,
    WhoAmIResponse,
    decode_connect_response,
    decode_reply,
    encode_connect_request,
    encode_request,
)
from reference.jute.messages import RequestRecord
from spec.acl import ACL, AuthProviders, Id, SaslSettings
from spec.errors import Code
from spec.opcodes import OpCode
from spec.profiles import V3_8
from spec.state import Config
from tests.support.certificates import CertificateAuthority, name
from tests.support.digest_md5 import digest_response

NOW = 1_700_000_000_000
SASL = SaslSettings(
    users=(("jaasuser", "jaas_password"), ("bob", "bob_pw")),
    nonce_secret=b"test secret",
    super_users=frozenset({"bob"}),
)
PROVIDERS = AuthProviders(frozenset({"ip", "digest", "sasl", "x509"}))


class Client:
    """One handshaken connection to a core: requests in, replies out."""

    def __init__(self, core: ZooKeeperCore, conn_id: int, certificate: bytes | None = None):
        self.core = core
        self.conn_id = conn_id
        core.connection_made(conn_id, "127.0.0.1")
        if certificate is not None:
            assert core.authenticate_certificate(conn_id, certificate)
        core.receive(
            conn_id,
            encode_connect_request(ConnectRequest(0, 0, 30_000, 0, bytes(16), False))[4:],
            NOW,
        )
        (frame,) = self.frames()
        decode_connect_response(frame[4:])
        self.closed = False
        self.xid = 0

    def frames(self) -> list[bytes]:
        frames = []
        for out in settle(self.core)[0]:
            assert out.conn_id == self.conn_id
            if out.close:
                self.closed = True
            if out.data is not None:
                frames.append(out.data)
        return frames

    def call(self, opcode: int, record: RequestRecord | None = None) -> Reply | None:
        """The reply, or None if the connection was closed without one."""
        self.xid += 1
        self.core.receive(
            self.conn_id, encode_request(RequestHeader(self.xid, opcode), record)[4:], NOW
        )
        frames = self.frames()
        if not frames:
            return None
        (frame,) = frames
        reply = decode_reply(frame[4:], opcode)
        assert reply.header.xid == self.xid
        return reply

    def sasl(self, token: bytes | None) -> Reply | None:
        return self.call(OpCode.sasl, GetSASLRequest(token))

    def who_am_i(self) -> set[tuple[str, str]]:
        reply = self.call(OpCode.whoAmI)
        assert reply is not None and isinstance(reply.record, WhoAmIResponse)
        return {(info.authScheme, info.user) for info in reply.record.clientInfo or ()}


def sasl_core(**changes: object) -> ZooKeeperCore:
    config = Config(profile=V3_8, auth_providers=PROVIDERS, sasl=replace(SASL, **changes))  # type: ignore[arg-type]
    return ZooKeeperCore(config, NOW)


def log_in(client: Client, user: bytes, password: bytes) -> Reply | None:
    challenge = client.sasl(b"")
    assert challenge is not None and challenge.header.err == 0
    assert isinstance(challenge.record, SetSASLResponse) and challenge.record.token
    return client.sasl(digest_response(challenge.record.token, user, password))


def test_a_login_adds_the_sasl_id_and_answers_rspauth_with_zxid_0() -> None:
    client = Client(sasl_core(), 1)
    reply = log_in(client, b"jaasuser", b"jaas_password")
    assert reply is not None and (reply.header.zxid, reply.header.err) == (0, 0)
    assert isinstance(reply.record, SetSASLResponse)
    assert reply.record.token is not None and reply.record.token.startswith(b"rspauth=")
    assert client.who_am_i() == {("ip", "127.0.0.1"), ("sasl", "jaasuser")}
    # The id opens a sasl ACL to this connection only.
    created = client.call(
        OpCode.create, CreateRequest("/mine", b"x", (ACL(31, Id("sasl", "jaasuser")),), 0)
    )
    assert created is not None and created.header.err == 0
    other = Client(client.core, 2)
    denied = other.call(OpCode.getData, GetDataRequest("/mine", False))
    assert denied is not None and denied.header.err == Code.NOAUTH


def test_a_super_user_login_also_gets_super() -> None:
    client = Client(sasl_core(), 1)
    log_in(client, b"bob", b"bob_pw")
    assert client.who_am_i() == {("ip", "127.0.0.1"), ("sasl", "bob"), ("super", "")}


def test_a_failed_login_is_authfailed_with_a_null_token_and_the_connection_closes() -> None:
    client = Client(sasl_core(), 1)
    reply = log_in(client, b"jaasuser", b"wrong")
    assert reply is not None and (reply.header.zxid, reply.header.err) == (0, Code.AUTHFAILED)
    assert reply.record == SetSASLResponse(None) or reply.record is None
    assert client.closed


def test_the_failure_frame_carries_a_null_token_as_apache_s_does() -> None:
    core = sasl_core()
    client = Client(core, 1)
    client.sasl(b"")
    client.xid += 1
    token = b'username="jaasuser",response=abc'
    core.receive(
        1, encode_request(RequestHeader(client.xid, OpCode.sasl), GetSASLRequest(token))[4:], NOW
    )
    (frame,) = client.frames()
    # ReplyHeader(xid, zxid 0, AUTHFAILED), then SetSASLResponse with a null token (-1).
    assert frame.hex() == "00000014" + f"{client.xid:08x}" + "0" * 16 + "ffffff8d" + "ffffffff"


def test_allow_sasl_failed_clients_keeps_the_connection_without_an_id() -> None:
    client = Client(sasl_core(allow_failed_clients=True), 1)
    reply = log_in(client, b"jaasuser", b"wrong")
    assert reply is not None and reply.header.err == 0 and not client.closed
    assert client.who_am_i() == {("ip", "127.0.0.1")}


def test_a_failure_outside_sasl_s_error_path_closes_without_a_reply() -> None:
    client = Client(sasl_core(), 1)
    challenge = client.sasl(b"")
    assert challenge is not None and isinstance(challenge.record, SetSASLResponse)
    assert challenge.record.token is not None
    token = digest_response(
        challenge.record.token, b"jaasuser", b"jaas_password", replace={"maxbuf": b"x"}
    )
    assert client.sasl(token) is None and client.closed


def test_a_null_token_closes_the_connection_without_a_reply() -> None:
    client = Client(sasl_core(), 1)
    assert client.sasl(None) is None and client.closed


def test_each_connection_has_its_own_login_and_nonce() -> None:
    core = sasl_core()
    first, second = Client(core, 1), Client(core, 2)
    one, two = first.sasl(b""), second.sasl(b"")
    assert one is not None and two is not None and one.record != two.record
    log_in_reply = second.sasl(digest_response(two.record.token, b"jaasuser", b"jaas_password"))  # type: ignore[union-attr, arg-type]
    assert log_in_reply is not None and log_in_reply.header.err == 0
    assert ("sasl", "jaasuser") not in first.who_am_i()


def test_without_sasl_settings_a_token_is_ok_with_a_null_token() -> None:
    client = Client(ZooKeeperCore(Config(profile=V3_8), NOW), 1)
    reply = client.sasl(b"")
    assert reply is not None and reply.header.err == 0 and reply.record == SetSASLResponse(None)
    assert client.who_am_i() == {("ip", "127.0.0.1")}


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


def test_a_client_certificate_gives_its_x509_id_and_the_super_user_super(
    ca: CertificateAuthority,
) -> None:
    core = ZooKeeperCore(
        Config(
            profile=V3_8,
            auth_providers=replace(PROVIDERS, x509_super_user="CN=admin,O=zk"),
        ),
        NOW,
    )
    plain = ca.issue(name((NameOID.COMMON_NAME, "client")))
    admin = ca.issue(name((NameOID.ORGANIZATION_NAME, "zk"), (NameOID.COMMON_NAME, "admin")))
    assert Client(core, 1, plain.der).who_am_i() == {("ip", "127.0.0.1"), ("x509", "CN=client")}
    assert Client(core, 2, admin.der).who_am_i() == {
        ("ip", "127.0.0.1"),
        ("x509", "CN=admin,O=zk"),
        ("super", ""),  # held as super:CN=admin,O=zk; whoAmI shows "" (no super provider)
    }


def test_a_certificate_that_cannot_be_read_is_refused() -> None:
    core = ZooKeeperCore(Config(profile=V3_8, auth_providers=PROVIDERS), NOW)
    core.connection_made(1, "127.0.0.1")
    assert not core.authenticate_certificate(1, b"\x30\x00")


def test_add_auth_x509_repeats_the_certificate_s_ids_and_fails_without_one(
    ca: CertificateAuthority,
) -> None:
    core = ZooKeeperCore(Config(profile=V3_8, auth_providers=PROVIDERS), NOW)
    with_certificate = Client(core, 1, ca.issue(name((NameOID.COMMON_NAME, "c"))).der)
    reply = with_certificate.call(OpCode.auth, AuthPacket(0, "x509", b"ignored"))
    assert reply is not None and reply.header.err == 0
    assert with_certificate.who_am_i() == {("ip", "127.0.0.1"), ("x509", "CN=c")}
    plain = Client(core, 2)
    reply = plain.call(OpCode.auth, AuthPacket(0, "x509", b"ignored"))
    assert reply is not None and reply.header.err == Code.AUTHFAILED and plain.closed
