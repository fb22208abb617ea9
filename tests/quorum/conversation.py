"""A follower in conversation with a leader the test speaks for, sans I/O.

After Apache's ``Zab1_0Test.testFollowerConversation``: server 1 of the ensemble (1, 2, 3) is
a real ``QuorumPeer``; the test is its leader (server 3). It writes bytes on the follower's
quorum connection as a leader would (or as a broken one would), and reads what the follower
sends back. Bytes go through the stream reader a server uses (``QuorumStreamReader``); bytes
that can never be valid close the connection, as ``server.peers`` does. Every persist is
durable at once and the follower's sends are released after it (the Ready contract), kept
on a ``simulation.cluster.Disk`` so a test can ask what the disk holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from reference.jute import JuteError
from reference.persistence import encode_txn
from reference.quorum.apache_snapshot import ApacheSnapshot, encode_snapshot_transfer
from reference.quorum.election_wire import Notification, ServerState
from reference.quorum.messages import QuorumClose, QuorumConnect, QuorumSend
from reference.quorum.peer import PeerConfig, QuorumPeer
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket, encode_packet
from reference.quorum.wire_payloads import LeaderInfo
from reference.quorum.wire_stream import QuorumStreamReader
from reference.txn import CreateTxn, Txn, TxnHeader
from simulation.cluster import START_TIME_MS, Disk, quorum_config
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.state import Config
from spec.zxid import Zxid

FOLLOWER_ID = 1
LEADER_ID = 3
VOTERS = (1, 2, 3)
TICK_TIME_MS = 2000
INIT_LIMIT = 10
SYNC_LIMIT = 5


def create_txn(zxid: int, path: str, data: bytes = b"x", session_id: int = 0) -> Txn:
    """A txn creating ``path`` (persistent, open ACL), as a leader proposes it."""
    body = CreateTxn(path, data, OPEN_ACL_UNSAFE, "persistent", 0, -1, 0, OpCode.create)
    return Txn(TxnHeader(session_id, 1, zxid, START_TIME_MS, OpCode.create), body)


def proposal(txn: Txn) -> QuorumPacket:
    """The PROPOSAL of ``txn`` in Apache's serialization (what ``QuorumPeer`` sends)."""
    from reference.quorum import apache_txn

    data = apache_txn.encode_txn_entry(apache_txn.from_zkref(txn))
    return QuorumPacket(PacketType.PROPOSAL, txn.header.zxid, data, None)


def packet(type_: int, zxid: int, data: bytes | None = None) -> QuorumPacket:
    return QuorumPacket(type_, zxid, data, None)


class FollowerConversation:
    """Server 1, following server 3 (this test) from a fresh data directory."""

    def __init__(self, log: Sequence[Txn] = (), current_epoch: int | None = None) -> None:
        """From a fresh data directory, or one whose log holds ``log`` (a restart)."""
        self.now = START_TIME_MS
        self.disk = Disk(
            log=[(t.header.zxid, encode_txn(t)) for t in log],
            accepted_epoch=current_epoch,
            current_epoch=current_epoch,
        )
        config = PeerConfig(
            FOLLOWER_ID,
            VOTERS,
            TICK_TIME_MS,
            INIT_LIMIT,
            SYNC_LIMIT,
            quorum_config=quorum_config(VOTERS),
        )
        core_config = Config(
            tick_time_ms=TICK_TIME_MS, server_id=FOLLOWER_ID, start_time_ms=START_TIME_MS
        )
        self.peer = QuorumPeer.restore(
            config,
            core_config,
            self.now,
            None,
            [blob for _, blob in self.disk.log],
            current_epoch,
            current_epoch,
        )
        self.sent: list[QuorumPacket] = []
        self.closed = False
        self.reader = QuorumStreamReader(PacketSender.LEADER)
        self._drain()
        self.conn = 0
        self.follow_again()

    def follow_again(self) -> None:
        """Servers 2 and 3 say 3 leads (FastLeaderElection.checkLeader: a quorum, and the
        leader itself): the follower dials 3 again, on a new connection, and announces
        itself (FOLLOWERINFO)."""
        assert self.peer.state == ServerState.LOOKING
        config = self.peer.config
        for sid, state in ((LEADER_ID, ServerState.LEADING), (2, ServerState.FOLLOWING)):
            vote = Notification(state, LEADER_ID, 0, 1, 0, config=config.quorum_config)
            self.peer.election_received(self.now, sid, vote)
        assert self.peer.mode == "follower", self.peer.state
        dials = [s for s in self._drain() if isinstance(s, QuorumConnect)]
        assert len(dials) == 1 and dials[0].leader == LEADER_ID
        self.conn = dials[0].conn
        self.closed = False
        self.reader = QuorumStreamReader(PacketSender.LEADER)
        self.peer.quorum_connected(self.now, self.conn)
        self._drain()
        assert self.sent[-1].type == PacketType.FOLLOWERINFO

    # --- the follower's outputs ----------------------------------------------------------

    def _drain(self) -> list[object]:
        """Handle the peer's Ready: persist (durable at once), then its sends; what the
        durability releases (a proposal's ACK) comes in the next Ready, handled too."""
        sends: list[object] = []
        while True:
            ready = self.peer.ready()
            for message in ready.send:
                if isinstance(message, QuorumSend) and message.conn == self.conn:
                    assert isinstance(message.packet, QuorumPacket), "a follower sends no snapshot"
                    self.sent.append(message.packet)
                elif isinstance(message, QuorumClose) and message.conn == self.conn:
                    self.closed = True
            sends.extend(ready.send)
            if not ready.persist:
                return sends
            self.disk.pending.extend(ready.persist)
            self.disk.persists_asked += len(ready.persist)
            last = self.disk.make_durable(len(ready.persist))
            if last:
                self.peer.persisted(last)

    # --- the leader's side -----------------------------------------------------------------

    def leader_writes(self, data: bytes) -> None:
        """Bytes on the connection, read as a server reads them; a malformed stream closes
        the connection and the follower is told (``server.peers``)."""
        if self.closed:
            return
        try:
            events = self.reader.feed(data)
        except JuteError:
            self.closed = True
            self.peer.quorum_closed(self.now, self.conn)
            self._drain()
            return
        for event in events:
            if self.closed or self.peer.follower is None:
                return
            self.peer.quorum_received(self.now, self.conn, event)
            self._drain()

    def deliver(self, event: QuorumPacket | ApacheSnapshot) -> None:
        """An event handed to the peer as it is, past the stream reader (which would never
        make a snapshot of bytes that did not follow SNAP)."""
        self.peer.quorum_received(self.now, self.conn, event)
        self._drain()

    def leader_sends(self, *events: QuorumPacket | ApacheSnapshot) -> None:
        for event in events:
            if isinstance(event, QuorumPacket):
                self.leader_writes(encode_packet(event))
            else:
                self.leader_writes(encode_snapshot_transfer(event))

    def advance(self, ms: int) -> None:
        """Time passes; every timer due on the way runs."""
        end = self.now + ms
        for _ in range(10_000):
            deadline = self.peer.next_deadline()
            if deadline > end:
                break
            self.now = max(self.now, deadline)
            while self.peer.tick(self.now):
                pass
            self._drain()
        self.now = end

    # --- common conversations --------------------------------------------------------------

    def discovery(self, epoch: int = 1) -> None:
        """LEADERINFO for ``epoch``; the follower answers ACKEPOCH."""
        self.leader_sends(
            packet(PacketType.LEADERINFO, Zxid.first_of(epoch), LeaderInfo().encode())
        )
        assert self.sent[-1].type == PacketType.ACKEPOCH

    def synchronize(self, *committed: Txn, epoch: int = 1) -> None:
        """Discovery, then a DIFF with ``committed``, NEWLEADER and UPTODATE: the follower
        serves, with those txns committed."""
        self.discovery(epoch)
        last = committed[-1].header.zxid if committed else 0
        self.leader_sends(packet(PacketType.DIFF, last))
        for txn in committed:
            self.leader_sends(proposal(txn), packet(PacketType.COMMIT, txn.header.zxid))
        self.leader_sends(packet(PacketType.NEWLEADER, Zxid.first_of(epoch), b"version=0"))
        assert self.sent[-1] == packet(PacketType.ACK, Zxid.first_of(epoch))
        self.leader_sends(packet(PacketType.UPTODATE, -1))
        assert self.serving

    # --- what a test asks -----------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self.peer.state == ServerState.FOLLOWING and self.peer.serving

    @property
    def gave_up(self) -> bool:
        """Back to looking for a leader (and the connection closed)."""
        return self.peer.state == ServerState.LOOKING

    def logged_zxids(self) -> list[int]:
        return [zxid for zxid, _ in self.disk.log]

    def znodes(self) -> set[str]:
        return {p for p in self.peer.core.tree.nodes if not p.startswith("/zookeeper")} - {"/"}
