"""An ensemble in one process: real quorum peers, a virtual clock, a network and disks.

Each ``Replica`` is a real ``reference.quorum.peer.QuorumPeer`` driven under the Ready
contract (``reference.ready``): what it asks to persist goes to its ``Disk``, where it becomes
durable after a delay (and is lost if the replica crashes first); what it asks to send waits
until everything it asked to persist before is durable, then goes on the ``Network``. The
network carries election messages between every pair of servers and quorum connections with
TCP's promises: bytes arrive in order, nothing arrives after a close, a connection that the
network cuts delivers nothing more. Every quorum packet and election message travels as the
bytes Apache's codec writes (``reference.quorum.wire``, ``election_wire``), read back by the
stream readers a server uses.

Everything happens at a virtual time, in an order decided by the events' times and, for
equal times, by the order they were scheduled: the same inputs give the same run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from reference.core import Role
from reference.persistence import encode_txn
from reference.quorum.apache_snapshot import ApacheSnapshot, encode_snapshot_transfer
from reference.quorum.election_wire import decode_notification, encode_notification
from reference.quorum.messages import (
    ElectionSend,
    QuorumClose,
    QuorumConnect,
    QuorumSend,
)
from reference.quorum.peer import PeerConfig, QuorumPeer
from reference.quorum.wire import PacketSender, QuorumPacket, encode_packet
from reference.quorum.wire_stream import QuorumStreamReader
from reference.ready import (
    InstallSnapshot,
    Output,
    Persist,
    TruncateLog,
    WriteAcceptedEpoch,
    WriteCurrentEpoch,
)
from reference.txn import Txn
from spec.state import Config

log = logging.getLogger("zkref.simulation")

START_TIME_MS = 1_700_000_000_000


@dataclass
class Disk:
    """A server's data directory: what is durable, and what was asked and is not yet."""

    snapshot: bytes | None = None
    snapshot_zxid: int = 0
    log: list[tuple[int, bytes]] = field(default_factory=list)  # (zxid, encoded txn)
    accepted_epoch: int | None = None
    current_epoch: int | None = None
    pending: list[Persist] = field(default_factory=list)
    persists_asked: int = 0
    persists_done: int = 0

    def make_durable(self, count: int) -> int:
        """The oldest ``count`` pending writes reach the disk; the last txn zxid among
        them (0 if none)."""
        done, self.pending = self.pending[:count], self.pending[count:]
        last_zxid = 0
        for item in done:
            if isinstance(item, Txn):
                zxid = item.header.zxid
                assert not self.log or self.log[-1][0] < zxid, "the log only grows"
                self.log.append((zxid, encode_txn(item)))
                last_zxid = zxid
            elif isinstance(item, WriteAcceptedEpoch):
                self.accepted_epoch = item.epoch
            elif isinstance(item, WriteCurrentEpoch):
                self.current_epoch = item.epoch
            elif isinstance(item, TruncateLog):
                self.log = [(z, b) for z, b in self.log if z <= item.zxid]
            elif isinstance(item, InstallSnapshot):
                self.snapshot = item.blob
                self.snapshot_zxid = item.zxid
                self.log = []
        self.persists_done += len(done)
        return last_zxid

    def crash(self) -> None:
        """What was not durable is lost."""
        self.pending = []
        self.persists_asked = self.persists_done


@dataclass(eq=False)
class QuorumLink:
    """One quorum connection: the follower's end and the leader's end."""

    follower: int
    follower_conn: int
    leader: int
    leader_conn: int
    # Readers of each direction (what the leader sends, what the learner sends).
    to_follower: QuorumStreamReader = field(
        default_factory=lambda: QuorumStreamReader(PacketSender.LEADER)
    )
    to_leader: QuorumStreamReader = field(
        default_factory=lambda: QuorumStreamReader(PacketSender.LEARNER)
    )
    cut: bool = False  # the network lost it: nothing more is delivered
    closed: bool = False


@dataclass(eq=False)
class Replica:
    """One server: its peer (None while crashed), its disk, its held-back sends."""

    sid: int
    disk: Disk
    peer: QuorumPeer | None = None
    held: list[tuple[int, object]] = field(default_factory=list)  # (persists needed, send)
    clients: list[Output] = field(default_factory=list)
    restarts: int = 0


class Cluster:
    """N replicas on a virtual clock (see the module docstring)."""

    def __init__(
        self,
        size: int,
        tick_time_ms: int = 100,
        init_limit: int = 10,
        sync_limit: int = 5,
        latency_ms: int = 1,
        fsync_ms: int = 1,
        commit_log_count: int = 500,
        quorum_sync: bool = False,
    ) -> None:
        self.now = START_TIME_MS
        self.latency_ms = latency_ms
        self.fsync_ms = fsync_ms
        self.voters = tuple(range(1, size + 1))
        self.peer_configs = {
            sid: PeerConfig(
                sid,
                self.voters,
                tick_time_ms,
                init_limit,
                sync_limit,
                commit_log_count,
                quorum_config(self.voters),
            )
            for sid in self.voters
        }
        self.core_config = {
            sid: Config(
                tick_time_ms=tick_time_ms,
                server_id=sid,
                start_time_ms=START_TIME_MS,
                quorum_sync=quorum_sync,
            )
            for sid in self.voters
        }
        self.replicas = {sid: Replica(sid, Disk()) for sid in self.voters}
        self.links: list[QuorumLink] = []
        self.cut_pairs: set[frozenset[int]] = set()
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._next_accept_conn = 1
        self._next_client_conn = 1
        self._timers: dict[int, int] = {}
        for sid in self.voters:
            self.start(sid)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, sid: int) -> None:
        """Start (or restart) a server from its disk."""
        replica = self.replicas[sid]
        assert replica.peer is None, f"server {sid} is running"
        disk = replica.disk
        replica.peer = QuorumPeer.restore(
            self.peer_configs[sid],
            self.core_config[sid],
            self.now,
            disk.snapshot,
            [blob for _, blob in disk.log],
            disk.accepted_epoch,
            disk.current_epoch,
        )
        self._after_input(replica)

    def crash(self, sid: int) -> None:
        """kill -9: the process and what its disk had not made durable are gone; its
        connections close (the kernel closes a dead process's sockets)."""
        replica = self.replicas[sid]
        replica.peer = None
        replica.held = []
        replica.disk.crash()
        replica.restarts += 1
        for link in self.links:
            if link.closed or sid not in (link.follower, link.leader):
                continue
            link.closed = True
            if sid == link.leader:
                self._deliver_close(link.follower, link.follower_conn, link)
            else:
                self._deliver_close(link.leader, link.leader_conn, link)

    # --- the network -----------------------------------------------------------------------

    def partition(self, *groups: set[int]) -> None:
        """Only servers in the same group reach each other; connections across are cut."""
        self.cut_pairs = {
            frozenset((a, b))
            for a in self.voters
            for b in self.voters
            if a < b and not any(a in g and b in g for g in groups)
        }
        for link in self.links:
            if not link.closed and self._cut(link.follower, link.leader):
                link.cut = True

    def heal(self) -> None:
        self.cut_pairs = set()

    def _cut(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.cut_pairs

    def _schedule(self, delay_ms: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay_ms, next(self._order), action))

    def _deliver_close(self, sid: int, conn: int, link: QuorumLink) -> None:
        def deliver() -> None:
            peer = self.replicas[sid].peer
            if peer is not None and not link.cut:
                peer.quorum_closed(self.now, conn)
                self._after_input(self.replicas[sid])

        self._schedule(self.latency_ms, deliver)

    def _send(self, replica: Replica, message: object) -> None:
        sid = replica.sid
        if isinstance(message, ElectionSend):
            data = encode_notification(message.notification)
            to = message.to
            if self._cut(sid, to):
                return

            def deliver_election() -> None:
                peer = self.replicas[to].peer
                if peer is None or self._cut(sid, to):
                    return
                peer.election_received(self.now, sid, decode_notification(data))
                self._after_input(self.replicas[to])

            self._schedule(self.latency_ms, deliver_election)
        elif isinstance(message, QuorumConnect):
            self._connect(replica, message)
        elif isinstance(message, QuorumSend):
            self._quorum_send(replica, message.conn, message.packet)
        elif isinstance(message, QuorumClose):
            link = self._link_of(sid, message.conn)
            if link is None or link.closed:
                return
            link.closed = True
            if sid == link.follower:
                self._deliver_close(link.leader, link.leader_conn, link)
            else:
                self._deliver_close(link.follower, link.follower_conn, link)
        else:
            raise AssertionError(f"unknown send {message!r}")

    def _connect(self, replica: Replica, message: QuorumConnect) -> None:
        sid, leader = replica.sid, message.leader

        def deliver_connect() -> None:
            follower_peer = self.replicas[sid].peer
            leader_peer = self.replicas[leader].peer
            if follower_peer is None:
                return
            if leader_peer is None or self._cut(sid, leader):
                follower_peer.quorum_closed(self.now, message.conn)
                self._after_input(self.replicas[sid])
                return
            link = QuorumLink(sid, message.conn, leader, self._next_accept_conn)
            self._next_accept_conn += 1
            self.links.append(link)
            leader_peer.quorum_accepted(self.now, link.leader_conn)
            self._after_input(self.replicas[leader])
            follower_peer.quorum_connected(self.now, message.conn)
            self._after_input(self.replicas[sid])

        self._schedule(self.latency_ms, deliver_connect)

    def _link_of(self, sid: int, conn: int) -> QuorumLink | None:
        for link in reversed(self.links):
            if (link.follower, link.follower_conn) == (sid, conn) or (
                link.leader,
                link.leader_conn,
            ) == (sid, conn):
                return link
        return None

    def _quorum_send(
        self, replica: Replica, conn: int, packet: QuorumPacket | ApacheSnapshot
    ) -> None:
        link = self._link_of(replica.sid, conn)
        if link is None or link.closed or link.cut:
            return
        data = (
            encode_packet(packet)
            if isinstance(packet, QuorumPacket)
            else encode_snapshot_transfer(packet)
        )
        if replica.sid == link.leader:
            to, to_conn, reader = link.follower, link.follower_conn, link.to_follower
        else:
            to, to_conn, reader = link.leader, link.leader_conn, link.to_leader

        def deliver() -> None:
            peer = self.replicas[to].peer
            if peer is None or link.cut:
                return
            for event in reader.feed(data):
                peer = self.replicas[to].peer
                if peer is None:
                    return
                peer.quorum_received(self.now, to_conn, event)
                self._after_input(self.replicas[to])

        self._schedule(self.latency_ms, deliver)

    # --- the Ready contract ---------------------------------------------------------------

    def _after_input(self, replica: Replica) -> None:
        """Carry out what the peer asked: persist (durable after fsync_ms), hold the sends
        behind it, hand client frames over, and re-arm its timer."""
        peer = replica.peer
        if peer is None:
            return
        ready = peer.ready()
        disk = replica.disk
        if ready.persist:
            disk.pending.extend(ready.persist)
            disk.persists_asked += len(ready.persist)
            count = len(ready.persist)

            def flush() -> None:
                if replica.peer is not peer:
                    return  # crashed meanwhile: those writes are lost
                last = disk.make_durable(count)
                if last:
                    peer.persisted(last)
                self._release(replica)
                self._after_input(replica)

            self._schedule(self.fsync_ms, flush)
        for message in ready.send:
            replica.held.append((disk.persists_asked, message))
        replica.clients.extend(ready.clients)
        self._release(replica)
        self._arm(replica)

    def _release(self, replica: Replica) -> None:
        disk = replica.disk
        while replica.held and replica.held[0][0] <= disk.persists_done:
            _, message = replica.held.pop(0)
            self._send(replica, message)

    def _arm(self, replica: Replica) -> None:
        peer = replica.peer
        if peer is None:
            return
        deadline = max(peer.next_deadline(), self.now)
        if self._timers.get(replica.sid) == deadline:
            return
        self._timers[replica.sid] = deadline

        def fire() -> None:
            if replica.peer is not peer or self._timers.get(replica.sid) != deadline:
                return
            del self._timers[replica.sid]
            while peer.tick(self.now):
                self._after_input(replica)
            self._after_input(replica)

        heapq.heappush(self._events, (deadline, next(self._order), fire))

    # --- running ---------------------------------------------------------------------------

    def step(self) -> bool:
        """Run the next event; False when there is none."""
        if not self._events:
            return False
        at, _, action = heapq.heappop(self._events)
        self.now = max(self.now, at)
        action()
        return True

    def run_for(self, ms: int) -> None:
        """Run every event up to ``ms`` from now."""
        end = self.now + ms
        while self._events and self._events[0][0] <= end:
            self.step()
        self.now = max(self.now, end)

    def run_until(self, condition: Callable[[], bool], limit_ms: int = 60_000) -> bool:
        """Run until ``condition`` holds (True) or ``limit_ms`` passed (False)."""
        end = self.now + limit_ms
        while not condition():
            if not self._events or self._events[0][0] > end:
                self.now = max(self.now, end)
                return condition()
            self.step()
        return True

    # --- observing -------------------------------------------------------------------------

    def peer(self, sid: int) -> QuorumPeer:
        peer = self.replicas[sid].peer
        assert peer is not None, f"server {sid} is down"
        return peer

    def leaders(self) -> list[int]:
        """Servers leading an established epoch (serving clients)."""
        return [
            sid
            for sid, r in self.replicas.items()
            if r.peer is not None and r.peer.core.role == Role.LEADING
        ]

    def serving(self) -> list[int]:
        return [sid for sid, r in self.replicas.items() if r.peer is not None and r.peer.serving]

    def stable(self) -> bool:
        """One established leader, and every running server serving."""
        running = [sid for sid, r in self.replicas.items() if r.peer is not None]
        return len(self.leaders()) == 1 and set(self.serving()) == set(running)


def quorum_config(voters: tuple[int, ...], host: str = "127.0.0.1") -> bytes:
    """``QuorumMaj.toString`` of an ensemble on loopback (ports are notional here)."""
    lines = [
        f"server.{sid}={host}:{2887 + sid}:{3887 + sid}:participant;{host}:{2180 + sid}"
        for sid in voters
    ]
    return ("\n".join(lines) + "\nversion=0").encode()


class SimClient:
    """A client connection to one server of the cluster, speaking raw jute frames."""

    def __init__(self, cluster: Cluster, sid: int, conn_id: int) -> None:
        self.cluster = cluster
        self.sid = sid
        self.conn_id = conn_id
        self.session_id = 0
        self.password = bytes(16)
        self.closed = False
        self.frames: list[bytes] = []
        self.next_xid = 1
        self.last_zxid = 0

    def _take(self) -> None:
        replica = self.cluster.replicas[self.sid]
        kept: list[Output] = []
        for out in replica.clients:
            if out.conn_id != self.conn_id:
                kept.append(out)
                continue
            if out.close:
                self.closed = True
            elif out.data is not None:
                self.frames.append(out.data)
        replica.clients = kept

    def send(self, payload: bytes) -> None:
        peer = self.cluster.replicas[self.sid].peer
        if peer is None or self.closed:
            self.closed = True
            return
        peer.receive(self.conn_id, payload, self.cluster.now)
        self.cluster._after_input(self.cluster.replicas[self.sid])

    def poll(self) -> list[bytes]:
        """Frames received since the last poll."""
        self._take()
        frames, self.frames = self.frames, []
        return frames


def open_client(cluster: Cluster, sid: int) -> SimClient:
    """A new client connection to server ``sid`` (closed at once if it does not serve)."""
    replica = cluster.replicas[sid]
    conn_id = cluster._next_client_conn
    cluster._next_client_conn += 1
    client = SimClient(cluster, sid, conn_id)
    if replica.peer is None:
        client.closed = True
        return client
    replica.peer.connection_made(conn_id, "127.0.0.1")
    cluster._after_input(replica)
    return client
