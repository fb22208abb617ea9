"""Bad input on a real ensemble's peer ports (``server.peers``): three in-process servers on
loopback, and a stranger's socket writing what no server would. Each bad connection is
closed; the ensemble keeps its leader, keeps serving and loses nothing; no server counts an
internal error. The sans-I/O side of the same inputs is tests/quorum/test_peer_bad_input.py.

Apache analogue: QuorumPeerMainTest.testBadPackets (a 1 GiB length on the election ports,
then the ensemble serves a write), CnxManagerTest.testInitialMessage.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from reference import jute
from reference.core import Role
from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import (
    PROTOCOL_VERSION_V1,
    InitialMessage,
    Notification,
    encode_initial_message,
)
from reference.quorum.messages import QuorumSend
from reference.quorum.peer import QuorumPeer
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket, encode_packet
from reference.quorum.wire_payloads import LearnerInfo
from server import peers
from server.config import FOUR_LETTER_WORDS, QuorumServer, ServerConfig
from spec.errors import Code
from spec.opcodes import OpCode
from tests.support.rawclient import connected
from tests.support.servers import HOST, InProcessServer, wait_until

ENSEMBLE_START_S = 20.0
CLOSED_WITHIN_S = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Ensemble:
    """Three in-process servers of one ensemble (tickTime 1 s, initLimit 10, syncLimit 5: a
    learner handler that is never told its connection closed lives 15 s)."""

    def __init__(self, root: Path) -> None:
        self.lines = tuple(QuorumServer(sid, HOST, free_port(), free_port()) for sid in (1, 2, 3))
        self.servers: dict[int, InProcessServer] = {}
        for line in self.lines:
            data_dir = root / str(line.sid)
            data_dir.mkdir()
            config = ServerConfig(
                data_dir=data_dir,
                tick_time_ms=1000,
                init_limit=10,
                sync_limit=5,
                servers=self.lines,
                my_id=line.sid,
                four_letter_whitelist=FOUR_LETTER_WORDS,
            )
            self.servers[line.sid] = InProcessServer(config)

    def start(self) -> None:
        for server in self.servers.values():
            server.start()
        wait_until(self.stable, ENSEMBLE_START_S, 0.05)

    def stop(self) -> None:
        for server in self.servers.values():
            if server.server is not None:
                server.stop()

    def mode(self, sid: int) -> str:
        server = self.servers[sid]

        def mode() -> str:
            node = server.zk.node
            return node.mode if isinstance(node, QuorumPeer) else "standalone"

        return server.call(mode)

    def stable(self) -> bool:
        modes = sorted(self.mode(sid) for sid in self.servers)
        return modes == ["follower", "follower", "leader"] and all(
            self.serving(sid) for sid in self.servers
        )

    def serving(self, sid: int) -> bool:
        server = self.servers[sid]
        return server.call(lambda: server.zk.core.role != Role.NOT_SERVING)

    def leader(self) -> int:
        (sid,) = [s for s in self.servers if self.mode(s) == "leader"]
        return sid

    def learners(self, sid: int) -> int:
        """The learner connections server ``sid`` leads (0 if it does not lead)."""
        server = self.servers[sid]

        def count() -> int:
            leader = getattr(server.zk.node, "leader", None)
            return 0 if leader is None else int(leader.learner_count())

        return server.call(count)

    def internal_errors(self) -> dict[int, int]:
        return {sid: server.zk.internal_errors for sid, server in self.servers.items()}

    def line(self, sid: int) -> QuorumServer:
        return self.lines[sid - 1]

    def serves_a_write_everywhere(self, path: str) -> None:
        """A write at a follower is read at every server after sync."""
        follower = next(s for s in self.servers if self.mode(s) == "follower")
        with connected(HOST, self.servers[follower].port) as writer:
            assert writer.create(path, b"x").header.err == Code.OK
        for sid, server in self.servers.items():
            with connected(HOST, server.port) as reader:
                reader.call(OpCode.sync, jute.SyncRequest("/"))
                assert reader.get_data(path).header.err == Code.OK, sid


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ensemble]:
    """One ensemble for the module: every test leaves it stable, and checks that it did."""
    running = Ensemble(tmp_path_factory.mktemp("ensemble"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def closed_by_peer(sock: socket.socket, within_s: float = CLOSED_WITHIN_S) -> bool:
    """The other end closed: EOF (or a reset) within ``within_s``; data before it is read."""
    sock.settimeout(within_s)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_huge_length_on_the_election_port_is_closed_and_the_ensemble_serves(
    ensemble: Ensemble,
) -> None:
    # QuorumPeerMainTest.testBadPackets: a 1 GiB length where the initial message goes.
    for sid in (1, 2, 3):
        line = ensemble.line(sid)
        with socket.create_connection((HOST, line.election_port)) as sock:
            sock.sendall(struct.pack(">q", 1 << 30))
            assert closed_by_peer(sock), sid
    ensemble.serves_a_write_everywhere("/after-election-garbage")
    assert ensemble.stable()
    assert ensemble.internal_errors() == {1: 0, 2: 0, 3: 0}


def test_an_election_connection_from_an_unknown_server_id_is_closed(ensemble: Ensemble) -> None:
    hello = InitialMessage(PROTOCOL_VERSION_V1, 9, (f"{HOST}:1",))
    with socket.create_connection((HOST, ensemble.line(1).election_port)) as sock:
        sock.sendall(encode_initial_message(hello))
        assert closed_by_peer(sock)
    assert ensemble.stable()
    assert ensemble.internal_errors() == {1: 0, 2: 0, 3: 0}


def test_a_malformed_notification_keeps_a_known_servers_election_connection(
    ensemble: Ensemble,
) -> None:
    # WorkerReceiver drops a notification it cannot read and keeps the connection. Server 3
    # dialing 1 keeps its connection (the higher id owns the pair's connection).
    hello = InitialMessage(PROTOCOL_VERSION_V1, 3, (f"{HOST}:{ensemble.line(3).election_port}",))
    with socket.create_connection((HOST, ensemble.line(1).election_port)) as sock:
        sock.sendall(encode_initial_message(hello) + struct.pack(">i", 3) + b"\x00\x00\x01")
        assert not closed_by_peer(sock, 0.5)
    assert ensemble.stable()
    assert ensemble.internal_errors() == {1: 0, 2: 0, 3: 0}


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 64,  # packets of type -1 (null data and authinfo): not FOLLOWERINFO
        struct.pack(">iqi", PacketType.PROPOSAL, 1, -5),  # a data length of -5
        struct.pack(">iqi", PacketType.FOLLOWERINFO, 0, 0x7FFF_FFFF),  # a 2 GiB buffer
    ],
    ids=["not-followerinfo", "negative-length", "2-gib-buffer"],
)
def test_garbage_on_the_leaders_quorum_port_is_closed(ensemble: Ensemble, garbage: bytes) -> None:
    leader = ensemble.leader()
    with socket.create_connection((HOST, ensemble.line(leader).quorum_port)) as sock:
        wait_until(lambda: ensemble.learners(leader) == 3)
        sock.sendall(garbage)
        assert closed_by_peer(sock)
    # The leader is told at once, not when the learner's silence runs out (15 s).
    wait_until(lambda: ensemble.learners(leader) == 2, 3.0)
    assert ensemble.leader() == leader
    ensemble.serves_a_write_everywhere(f"/after-quorum-garbage-{garbage[:16].hex()}")
    assert ensemble.internal_errors() == {1: 0, 2: 0, 3: 0}


@pytest.mark.parametrize(
    ("sid", "version"),
    [(9, 0x10000), (2, 0xFFFF)],
    ids=["unknown-server-id", "before-zab-1.0"],
)
def test_a_followerinfo_the_leader_refuses_is_closed(
    ensemble: Ensemble, sid: int, version: int
) -> None:
    leader = ensemble.leader()
    info = LearnerInfo(sid, version, 0).encode()
    packet = encode_packet(QuorumPacket(PacketType.FOLLOWERINFO, 0, info, None))
    with socket.create_connection((HOST, ensemble.line(leader).quorum_port)) as sock:
        sock.sendall(packet)
        assert closed_by_peer(sock)
    assert ensemble.leader() == leader and ensemble.stable()
    assert ensemble.internal_errors() == {1: 0, 2: 0, 3: 0}


def test_a_followers_quorum_port_closes_learners(ensemble: Ensemble) -> None:
    # Only a leader accepts learners: a follower's quorum port closes what connects.
    follower = next(s for s in (1, 2, 3) if ensemble.mode(s) == "follower")
    with socket.create_connection((HOST, ensemble.line(follower).quorum_port)) as sock:
        assert closed_by_peer(sock)
    assert ensemble.stable()


def test_a_quorum_connection_that_does_not_read_is_closed_and_the_peer_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A learner that stops reading cannot make its leader buffer without bound: past
    ``QUORUM_SEND_BUFFER_BYTES_MAX`` the connection is closed, and the peer is told, once."""
    told: list[int] = []

    class Host:
        def election_received(self, sid: int, notification: Notification) -> None: ...

        def quorum_accepted(self, conn: int) -> None: ...

        def quorum_connected(self, conn: int) -> None: ...

        def quorum_closed(self, conn: int) -> None:
            told.append(conn)

        def quorum_received(
            self, conn: int, events: Sequence[QuorumPacket | ApacheSnapshot]
        ) -> None: ...

    class Stalled(asyncio.Transport):
        """A transport whose other end never reads: everything written stays buffered."""

        def __init__(self) -> None:
            super().__init__()
            self.buffered = 0
            self.closed = False

        def write(self, data: bytes | bytearray | memoryview) -> None:
            self.buffered += len(data)

        def get_write_buffer_size(self) -> int:
            return self.buffered

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(peers, "QUORUM_SEND_BUFFER_BYTES_MAX", 1000)
    ping = QuorumPacket(PacketType.PING, 0, b"\x00" * 400, None)

    async def scenario() -> None:
        network = peers.PeerNetwork(1, (QuorumServer(1, HOST, 1, 2),), Host())
        transport = Stalled()
        connection = peers._QuorumConnection(network, 7, PacketSender.LEARNER)
        connection.connection_made(transport)
        for _ in range(2):
            network.send(QuorumSend(7, ping))
            network.flush()
        assert not transport.closed and told == []
        network.send(QuorumSend(7, ping))
        network.flush()
        assert transport.closed
        written = transport.buffered
        network.send(QuorumSend(7, ping))
        network.flush()
        assert transport.buffered == written, "nothing more is written"
        await asyncio.sleep(0)
        connection.connection_lost(None)
        await asyncio.sleep(0)
        assert told == [7]

    asyncio.run(scenario())
