"""What zkref cannot do beside Apache ZooKeeper servers is refused at the handshake, with a
log line that says what and why, and nothing changes on its disk: dynamic reconfiguration
(a learner's or leader's configuration version other than 0, COMMITANDACTIVATE, a reconfig
txn), hierarchical quorums, observers, a configuration naming other servers, quorum SASL
and TLS on the quorum and election ports. A zkref leader's refusal drops the learner and
the ensemble goes on; a zkref follower's refusal sends it back to look for a leader."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator

import pytest

from reference.jute import JuteError
from reference.quorum import apache_txn
from reference.quorum.election_wire import (
    PROTOCOL_VERSION_V1,
    ElectionStreamReader,
    InitialMessage,
    encode_initial_message,
)
from reference.quorum.wire import (
    QUORUM_AUTH_MAGIC_NUMBER,
    PacketSender,
    PacketType,
    QuorumPacket,
)
from reference.quorum.wire_payloads import LearnerInfo
from reference.quorum.wire_stream import QuorumStreamReader
from reference.txn import SetDataTxn, Txn, TxnHeader
from server.config import ConfigError, parse_zoo_cfg
from simulation.cluster import quorum_config
from spec.opcodes import OpCode
from tests.quorum.conversation import (
    SYNC_LIMIT,
    TICK_TIME_MS,
    VOTERS,
    FollowerConversation,
    create_txn,
    packet,
)
from tests.quorum.interaction import InteractionEnv
from tests.quorum.test_peer_bad_input import (
    assert_committed_everywhere,
    hex_packet,
    stranger_connected,
)

EPOCH_1 = 1 << 32
SASL_AUTH_PACKET = struct.pack(">qi", QUORUM_AUTH_MAGIC_NUMBER, 0) + struct.pack(">i", 0)
TLS_CLIENT_HELLO = bytes.fromhex("160301020001000100")  # a record header, then a ClientHello


# --- a zkref leader ----------------------------------------------------------------------------


@pytest.fixture
def env() -> Iterator[InteractionEnv]:
    """Three zkref servers, 3 leading epoch 1, /committed written (as test_peer_bad_input's)."""
    environment = InteractionEnv()
    for command in (
        "add-servers 3",
        "stabilize quiet",
        "advance 200ms quiet",
        "client a connect 1",
        "client a create /committed 1",
        "stabilize quiet",
    ):
        environment.run(command)
    yield environment
    environment.close()


def test_a_learner_with_a_dynamic_configuration_is_dropped(env: InteractionEnv) -> None:
    stranger_connected(env)
    info = LearnerInfo(2, 0x10000, 0x100000000).encode()
    env.run(f"inject-bytes 9->3 {hex_packet(PacketType.FOLLOWERINFO, 0, info)}")
    out = env.run("stabilize")
    assert "server 2's configuration has version 0x100000000: it is dynamic" in out, out
    assert "send 3->9 close the quorum connection" in out
    assert_committed_everywhere(env)


def test_an_observer_is_dropped(env: InteractionEnv) -> None:
    stranger_connected(env)
    info = LearnerInfo(2).encode()
    env.run(f"inject-bytes 9->3 {hex_packet(PacketType.OBSERVERINFO, 0, info)}")
    out = env.run("stabilize")
    assert "an observer (OBSERVERINFO): a zkref leader takes none" in out, out
    assert_committed_everywhere(env)


@pytest.mark.parametrize(
    ("first", "says"),
    [(SASL_AUTH_PACKET, "quorum SASL authentication"), (TLS_CLIENT_HELLO, "a TLS handshake")],
    ids=["sasl", "tls"],
)
def test_a_learner_speaking_sasl_or_tls_is_closed_with_a_reason(
    env: InteractionEnv, first: bytes, says: str
) -> None:
    stranger_connected(env)
    env.run(f"inject-bytes 9->3 {first.hex()}")
    out = env.run("stabilize")
    assert f"WARN quorum connection from 9: {says}" in out, out
    assert_committed_everywhere(env)


# --- a zkref follower --------------------------------------------------------------------------


def assert_refused(
    follower: FollowerConversation, caplog: pytest.LogCaptureFixture, *says: str
) -> None:
    """The follower closed the connection saying why, and looks for a leader again only
    after syncLimit ticks (its election would name the same leader: no tight loop)."""
    assert "follower 1: refusing leader 3: " in caplog.text, caplog.text
    for words in says:
        assert words in caplog.text, caplog.text
    assert follower.closed and not follower.gave_up
    follower.advance(SYNC_LIMIT * TICK_TIME_MS - 1)
    assert not follower.gave_up
    follower.advance(1)
    assert follower.gave_up


def _config(*lines: str, version: str = "0") -> bytes:
    return "\n".join([*lines, f"version={version}"]).encode()


SERVERS = [f"server.{sid}=127.0.0.1:{2000 + sid}:{3000 + sid}:participant" for sid in VOTERS]


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (_config(*SERVERS, version="100000000"), "version 0x100000000: it is dynamic"),
        (_config(*SERVERS[:2]), "has servers [1, 2], ours [1, 2, 3]"),
        (_config(*SERVERS, "server.4=127.0.0.1:2004:3004:observer"), "observers [4]"),
        (_config(*SERVERS, "group.1=1:2:3", "weight.1=1"), "hierarchical quorums"),
    ],
    ids=["dynamic", "other-servers", "observer", "hierarchical"],
)
def test_a_newleader_with_a_configuration_zkref_cannot_follow_is_refused(
    config: bytes, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    follower = FollowerConversation()
    follower.discovery()
    follower.leader_sends(packet(PacketType.DIFF, 0))
    with caplog.at_level(logging.WARNING):
        follower.leader_sends(packet(PacketType.NEWLEADER, EPOCH_1, config))
    assert_refused(follower, caplog, "the leader's configuration ", says)
    # Nothing of the new epoch: not current, not acked.
    assert follower.peer.current_epoch == 0 and follower.disk.current_epoch in (None, 0)
    assert PacketType.ACK not in [p.type for p in follower.sent]


def test_a_newleader_with_apaches_text_of_the_same_servers_is_followed() -> None:
    follower = FollowerConversation()
    follower.discovery()
    follower.leader_sends(packet(PacketType.DIFF, 0))
    follower.leader_sends(packet(PacketType.NEWLEADER, EPOCH_1, _config(*SERVERS)))
    assert follower.sent[-1] == packet(PacketType.ACK, EPOCH_1)
    follower.leader_sends(packet(PacketType.UPTODATE, -1))
    assert follower.serving


def test_a_newleader_with_client_addresses_in_its_server_lines_is_followed() -> None:
    follower = FollowerConversation()
    follower.discovery()
    follower.leader_sends(packet(PacketType.DIFF, 0))
    follower.leader_sends(packet(PacketType.NEWLEADER, EPOCH_1, quorum_config(VOTERS)))
    assert follower.sent[-1] == packet(PacketType.ACK, EPOCH_1)


def test_a_reconfiguration_from_the_leader_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    follower = FollowerConversation()
    follower.synchronize(create_txn(0x100000001, "/a"))
    with caplog.at_level(logging.WARNING):
        follower.leader_sends(packet(PacketType.COMMITANDACTIVATE, 0x100000002, bytes(8)))
    assert_refused(follower, caplog, "COMMITANDACTIVATE: the leader reconfigures the ensemble")


def test_a_reconfig_txn_from_the_leader_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    follower = FollowerConversation()
    follower.synchronize(create_txn(0x100000001, "/a"))
    reconfig = Txn(
        TxnHeader(1, 2, 0x100000002, 1_000, OpCode.reconfig),
        SetDataTxn("/zookeeper/config", _config(*SERVERS, version="100000002"), 1),
    )
    data = apache_txn.encode_txn_entry(apache_txn.from_zkref(reconfig))
    with caplog.at_level(logging.WARNING):
        follower.leader_sends(QuorumPacket(PacketType.PROPOSAL, 0x100000002, data, None))
    assert_refused(follower, caplog, "a reconfig txn (dynamic reconfiguration)")
    assert follower.logged_zxids() == [0x100000001]


def test_a_leader_speaking_tls_is_named_as_such() -> None:
    reader = QuorumStreamReader(PacketSender.LEADER)
    with pytest.raises(JuteError, match=r"a TLS alert \(sslQuorum"):
        reader.feed(bytes.fromhex("15030300020250"))


# --- the election port -------------------------------------------------------------------------


def test_a_tls_dialer_on_the_election_port_is_named_as_such() -> None:
    with pytest.raises(JuteError, match="a TLS handshake"):
        ElectionStreamReader(from_dialer=True).feed(TLS_CLIENT_HELLO)


def test_a_dialer_that_authenticates_after_its_initial_message_is_named_as_such() -> None:
    initial = encode_initial_message(InitialMessage(PROTOCOL_VERSION_V1, 2, ("127.0.0.1:3002",)))
    reader = ElectionStreamReader(from_dialer=True)
    assert reader.feed(initial)[0] == InitialMessage(PROTOCOL_VERSION_V1, 2, ("127.0.0.1:3002",))
    with pytest.raises(JuteError, match="quorum SASL authentication"):
        reader.feed(SASL_AUTH_PACKET)


def test_a_notification_after_the_initial_message_is_read() -> None:
    initial = encode_initial_message(InitialMessage(PROTOCOL_VERSION_V1, 2, ("127.0.0.1:3002",)))
    reader = ElectionStreamReader(from_dialer=True)
    # Split anywhere: the check waits for four bytes after the initial message.
    items = reader.feed(initial + b"\x00\x00") + reader.feed(b"\x00\x03abc")
    assert items[1:] == [b"abc"]


# --- zoo.cfg ---------------------------------------------------------------------------------


def test_an_ensemble_with_hierarchical_quorums_is_refused() -> None:
    text = "\n".join([*SERVERS, "group.1=1:2:3", "weight.1=1", "initLimit=10", "syncLimit=5"])
    with pytest.raises(ConfigError, match="hierarchical quorums are not supported"):
        parse_zoo_cfg(text)
