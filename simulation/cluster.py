"""An ensemble in one process: real quorum peers, a virtual clock, a network and disks.

Each ``Replica`` is a real ``reference.quorum.peer.QuorumPeer`` driven under the Ready
contract (``reference.ready``): what it asks to persist goes to its ``Disk``, where it becomes
durable after a delay (and is lost if the replica crashes first); what it asks to send goes
on the network through the server's ``SendGate``: a send that claims something about the disk
(an ACKEPOCH, the ACK of NEWLEADER, a vote) waits until everything asked to persist before it
is durable, one that claims nothing (a leader's PROPOSAL, a follower's forwarded request)
goes at once, and none overtakes an earlier send on its connection. The
network carries election messages between every pair of servers and quorum connections with
TCP's promises: bytes arrive in order, nothing arrives after a close, a connection that the
network cuts delivers nothing more. Every quorum packet and election message travels as the
bytes Apache's codec writes (``reference.quorum.wire``, ``election_wire``), read back by the
stream readers a server uses. Clients reach servers through ``ClientEndpoint``s, also in order.

Faults (``Faults``): message latency with jitter (order kept per direction), election
messages lost, slow disks, and the operations ``crash``/``start``, ``pause``/``resume``,
``partition`` (symmetric groups) and ``cut`` (one direction), ``heal``.

Everything happens at a virtual time, in an order decided by the events' times and, for
equal times, by the order they were scheduled; randomness comes from one seeded
``random.Random``: the same seed and inputs give the same run, byte for byte.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

from reference.core import Role
from reference.persistence import encode_txn
from reference.quorum.apache_snapshot import ApacheSnapshot, encode_snapshot_transfer
from reference.quorum.election_wire import ServerState, decode_notification, encode_notification
from reference.quorum.follower import FollowerPhase
from reference.quorum.messages import (
    ElectionSend,
    QuorumClose,
    QuorumConnect,
    QuorumSend,
    Send,
    SendGate,
)
from reference.quorum.peer import PeerConfig, QuorumPeer
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket, encode_packet
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
from simulation.invariants import InvariantViolation
from spec.state import Config

log = logging.getLogger("zkref.simulation")

START_TIME_MS = 1_700_000_000_000
# A server's timer firing this often at one instant is a server spinning (a bug).
TIMER_SPINS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class Faults:
    """How hostile the world is (0 everywhere: a perfect network and disk)."""

    latency_ms: int = 1  # every message takes at least this long
    jitter_ms: int = 0  # ... plus up to this much more (order kept per direction)
    election_loss: float = 0.0  # chance an election message is lost
    fsync_ms: int = 1  # a disk write takes at least this long
    fsync_jitter_ms: int = 0  # ... plus up to this much more


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
    # Called with each write as it becomes durable, the last logged zxid before it, and
    # (for a WriteCurrentEpoch) the writes still pending behind it (the invariants watch the
    # disk).
    on_durable: Callable[[Persist, int, tuple[Persist, ...]], None] | None = None

    def make_durable(self, count: int) -> int:
        """The oldest ``count`` pending writes reach the disk; the last txn zxid among
        them (0 if none)."""
        done, self.pending = self.pending[:count], self.pending[count:]
        last_zxid = 0
        for index, item in enumerate(done):
            previous = self.last_logged
            behind: tuple[Persist, ...] = ()
            if isinstance(item, Txn):
                zxid = item.header.zxid
                if self.log and self.log[-1][0] >= zxid:
                    raise InvariantViolation(
                        "a log went backwards",
                        f"{zxid:#x} asked to be logged after {self.log[-1][0]:#x}",
                    )
                self.log.append((zxid, encode_txn(item)))
                last_zxid = zxid
            elif isinstance(item, WriteAcceptedEpoch):
                self.accepted_epoch = item.epoch
            elif isinstance(item, WriteCurrentEpoch):
                self.current_epoch = item.epoch
                behind = (*done[index + 1 :], *self.pending)
            elif isinstance(item, TruncateLog):
                self.log = [(z, b) for z, b in self.log if z <= item.zxid]
            elif isinstance(item, InstallSnapshot):
                self.snapshot = item.blob
                self.snapshot_zxid = item.zxid
                self.log = []
            if self.on_durable is not None:
                self.on_durable(item, previous, behind)
        self.persists_done += len(done)
        return last_zxid

    def crash(self) -> None:
        """What was not durable is lost."""
        self.pending = []
        self.persists_asked = self.persists_done

    @property
    def last_logged(self) -> int:
        return self.log[-1][0] if self.log else self.snapshot_zxid


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
class ClientEndpoint:
    """A client's TCP connection to one server, as the client sees it."""

    cluster: Cluster
    sid: int
    conn_id: int
    on_frame: Callable[[bytes], None] | None = None
    on_close: Callable[[], None] | None = None
    frames: list[bytes] = field(default_factory=list)
    closed: bool = False
    # Frames from the server arrive at once, not after the network's latency (for tests that
    # step the peers by hand).
    immediate: bool = False

    def send(self, payload: bytes) -> None:
        """A complete frame (without its length) to the server, in order."""
        if self.closed:
            return
        self.cluster._client_send(self, payload)

    def close(self) -> None:
        """The client hangs up."""
        if self.closed:
            return
        self.closed = True
        self.cluster._client_close(self)

    def _frame(self, data: bytes) -> None:
        if self.closed:
            return
        if self.on_frame is not None:
            self.on_frame(data)
        else:
            self.frames.append(data)

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.on_close is not None:
            self.on_close()


@dataclass(eq=False)
class Replica:
    """One server: its peer (None while crashed), its disk, its held-back sends."""

    sid: int
    disk: Disk
    peer: QuorumPeer | None = None
    held: SendGate = field(default_factory=SendGate)  # sends waiting for the disk
    paused: bool = False
    backlog: list[Callable[[], None]] = field(default_factory=list)  # deliveries while paused
    clients: dict[int, ClientEndpoint] = field(default_factory=dict)
    restarts: int = 0
    incarnation: int = 0
    syncing: bool = False  # following, between ACKEPOCH and UPTODATE (for a coverage count)


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
        seed: int = 0,
        faults: Faults | None = None,
        session_timeout_ms: tuple[int, int] | None = None,
        quorum_sync: bool = False,
    ) -> None:
        self.now = START_TIME_MS
        self.faults = faults or Faults(latency_ms=latency_ms, fsync_ms=fsync_ms)
        self.rng = random.Random(seed)
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
        low, high = session_timeout_ms or (2 * tick_time_ms, 20 * tick_time_ms)
        self.core_config = {
            sid: Config(
                tick_time_ms=tick_time_ms,
                min_session_timeout_ms=low,
                max_session_timeout_ms=high,
                server_id=sid,
                start_time_ms=START_TIME_MS,
                quorum_sync=quorum_sync,
            )
            for sid in self.voters
        }
        self.replicas = {sid: Replica(sid, Disk()) for sid in self.voters}
        self.links: list[QuorumLink] = []
        # Directed pairs (a, b): nothing from a reaches b.
        self.cut_pairs: set[tuple[int, int]] = set()
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._next_accept_conn = 1
        self._next_client_conn = 1
        self._timers: dict[int, int] = {}
        self._spins: dict[tuple[int, int], int] = {}
        # The last delivery time per direction, so jitter never reorders a stream.
        self._last_delivery: dict[object, int] = {}
        # The last election message each server sent to each other one: a new election
        # connection starts by sending it again (below).
        self._last_vote: dict[tuple[int, int], bytes] = {}
        self._last_ns = 0
        # Called after every event (the invariants), with the cluster.
        self.after_event: Callable[[Cluster], None] | None = None
        # Called when a peer is created (start, restart), to attach observers.
        self.on_peer: Callable[[int, QuorumPeer], None] | None = None
        self.counters: dict[str, int] = {}
        for sid in self.voters:
            self.start(sid)

    # --- time ------------------------------------------------------------------------------

    def clock_ns(self) -> int:
        """A strictly increasing time in ns (history events need a total order)."""
        ns = max(self.now * 1_000_000, self._last_ns + 1)
        self._last_ns = ns
        return ns

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, sid: int) -> None:
        """Start (or restart) a server from its disk."""
        replica = self.replicas[sid]
        assert replica.peer is None, f"server {sid} is running"
        disk = replica.disk
        replica.peer = QuorumPeer.restore(
            self.peer_configs[sid],
            # Session ids start from the start time (SessionTrackerImpl.initializeNextSessionId):
            # a restarted server must not hand out the ids of sessions it closed before.
            replace(self.core_config[sid], start_time_ms=self.now),
            self.now,
            disk.snapshot,
            [blob for _, blob in disk.log],
            disk.accepted_epoch,
            disk.current_epoch,
        )
        replica.paused = False
        replica.incarnation += 1
        if self.on_peer is not None:
            self.on_peer(sid, replica.peer)
        self._after_input(replica)
        self._revote([(other, sid) for other in self.replicas if other != sid])

    def running(self, sid: int) -> bool:
        return self.replicas[sid].peer is not None

    def crash(self, sid: int) -> None:
        """kill -9: the process and what its disk had not made durable are gone; its
        connections close (the kernel closes a dead process's sockets)."""
        replica = self.replicas[sid]
        if replica.peer is None:
            return
        replica.peer = None
        replica.held = SendGate()
        replica.backlog = []
        replica.paused = False
        replica.syncing = False
        # Writes reach the disk in the order they were asked, and a crash may cut that
        # sequence anywhere: some of what was pending may have made it (a write-ahead order
        # that relies on a batch being atomic shows here; zkref's never does).
        disk = replica.disk
        disk.make_durable(self.rng.randint(0, len(disk.pending)))
        disk.crash()
        replica.restarts += 1
        self.count("crash")
        for link in self.links:
            if link.closed or sid not in (link.follower, link.leader):
                continue
            link.closed = True
            if sid == link.leader:
                self._deliver_close(link.follower, link.follower_conn, link)
            else:
                self._deliver_close(link.leader, link.leader_conn, link)
        for endpoint in list(replica.clients.values()):
            self._schedule(self._latency(("client-close", endpoint.conn_id)), endpoint._lost)
        replica.clients.clear()

    def pause(self, sid: int) -> None:
        """SIGSTOP: nothing reaches the process or happens in it until ``resume``."""
        replica = self.replicas[sid]
        if replica.peer is not None:
            replica.paused = True
            self.count("pause")

    def resume(self, sid: int) -> None:
        replica = self.replicas[sid]
        if not replica.paused:
            return
        replica.paused = False
        backlog, replica.backlog = replica.backlog, []
        for delivery in backlog:
            delivery()
        if replica.peer is not None:
            self._after_input(replica)

    # --- the network -----------------------------------------------------------------------

    def partition(self, *groups: set[int]) -> None:
        """Only servers in the same group reach each other; connections across are cut."""
        self.cut_pairs = {
            (a, b)
            for a in self.voters
            for b in self.voters
            if a != b and not any(a in g and b in g for g in groups)
        }
        self._cut_links()
        self.count("partition")

    def cut(self, source: int, target: int) -> None:
        """Nothing from ``source`` reaches ``target`` (the other way still works)."""
        self.cut_pairs.add((source, target))
        self._cut_links()
        self.count("cut")

    def _cut_links(self) -> None:
        for link in self.links:
            if not link.closed and (
                (link.follower, link.leader) in self.cut_pairs
                or (link.leader, link.follower) in self.cut_pairs
            ):
                # A TCP connection needs both directions: it stops delivering.
                link.cut = True

    def heal(self) -> None:
        cut, self.cut_pairs = self.cut_pairs, set()
        self._revote(sorted(cut))

    def _revote(self, pairs: list[tuple[int, int]]) -> None:
        """Election connections that form again (a server restarted, a cut healed) start
        with the last notification the sender sent the other: Apache's ``SendWorker`` sends
        ``lastMessageSent`` when its queue is empty on a new connection
        (``QuorumCnxManager``), so a vote sent while the other could not hear is not lost
        for good. A sender that is down sends nothing."""
        for source, to in pairs:
            data = self._last_vote.get((source, to))
            if data is None or self.replicas[source].peer is None or self._blocked(source, to):
                continue
            self._schedule(
                self._latency(("election", source, to)), self._vote_delivery(source, to, data)
            )

    def _vote_delivery(self, source: int, to: int, data: bytes) -> Callable[[], None]:
        return lambda: self._deliver_vote(source, to, data)

    def _deliver_vote(self, source: int, to: int, data: bytes) -> None:
        if self._blocked(source, to):
            return
        self._deliver_to(
            to, lambda peer: peer.election_received(self.now, source, decode_notification(data))
        )

    def _blocked(self, source: int, target: int) -> bool:
        return (source, target) in self.cut_pairs

    def _latency(self, stream: object) -> int:
        """The delay of the next message on ``stream``, never before its predecessor."""
        faults = self.faults
        delay = faults.latency_ms
        if faults.jitter_ms:
            delay += self.rng.randint(0, faults.jitter_ms)
        at = max(self.now + delay, self._last_delivery.get(stream, 0))
        self._last_delivery[stream] = at
        return at - self.now

    def _schedule(self, delay_ms: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay_ms, next(self._order), action))

    def _deliver_to(self, sid: int, action: Callable[[QuorumPeer], None]) -> None:
        """Run ``action`` on server ``sid``'s peer now, or when it resumes."""
        replica = self.replicas[sid]
        peer = replica.peer
        if peer is None:
            return
        incarnation = replica.incarnation

        def run() -> None:
            current = replica.peer
            if current is None or replica.incarnation != incarnation:
                return
            action(current)
            self._after_input(replica)

        if replica.paused:
            replica.backlog.append(run)
        else:
            run()

    def _deliver_close(self, sid: int, conn: int, link: QuorumLink) -> None:
        def deliver() -> None:
            if not link.cut:
                self._deliver_to(sid, lambda peer: peer.quorum_closed(self.now, conn))

        self._schedule(self._latency((link, sid)), deliver)

    def _send(self, replica: Replica, message: object) -> None:
        sid = replica.sid
        if isinstance(message, ElectionSend):
            data = encode_notification(message.notification)
            to = message.to
            self._last_vote[(sid, to)] = data
            if self._blocked(sid, to):
                return
            if self.faults.election_loss and self.rng.random() < self.faults.election_loss:
                self.count("election message lost")
                return
            self._schedule(
                self._latency(("election", sid, to)),
                lambda: self._deliver_vote(sid, to, data),
            )
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
        incarnation = replica.incarnation

        def deliver_connect() -> None:
            follower_replica = self.replicas[sid]
            if follower_replica.peer is None or follower_replica.incarnation != incarnation:
                return
            leader_peer = self.replicas[leader].peer
            if leader_peer is None or self._blocked(sid, leader) or self._blocked(leader, sid):
                # Refused, or (a partition) the dial times out: the follower hears it failed.
                self._deliver_to(sid, lambda peer: peer.quorum_closed(self.now, message.conn))
                return
            link = QuorumLink(sid, message.conn, leader, self._next_accept_conn)
            self._next_accept_conn += 1
            self.links.append(link)
            self._deliver_to(leader, lambda peer: peer.quorum_accepted(self.now, link.leader_conn))
            self._deliver_to(sid, lambda peer: peer.quorum_connected(self.now, message.conn))

        self._schedule(self._latency(("connect", sid, leader)), deliver_connect)

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
        if isinstance(packet, QuorumPacket):
            data = encode_packet(packet)
            if packet.type in (PacketType.TRUNC, PacketType.SNAP, PacketType.DIFF):
                self.count(f"{PacketType(packet.type).name} sent")
                leader = replica.peer.leader if replica.peer is not None else None
                if packet.type == PacketType.DIFF and leader is not None and leader.outstanding:
                    # The learner joins while proposals are in flight: they must reach it
                    # between the DIFF and NEWLEADER (the gap Remix found).
                    self.count("DIFF with proposals in flight")
            elif packet.type == PacketType.REVALIDATE and replica.sid == link.leader:
                self.count("REVALIDATE answered")
        else:
            data = encode_snapshot_transfer(packet)
        if replica.sid == link.leader:
            to, to_conn, reader = link.follower, link.follower_conn, link.to_follower
        else:
            to, to_conn, reader = link.leader, link.leader_conn, link.to_leader

        def deliver() -> None:
            if link.cut:
                return

            def feed(peer: QuorumPeer) -> None:
                for event in reader.feed(data):
                    if self.replicas[to].peer is not peer:
                        return
                    peer.quorum_received(self.now, to_conn, event)

            self._deliver_to(to, feed)

        self._schedule(self._latency((link, replica.sid)), deliver)

    # --- clients ---------------------------------------------------------------------------

    def connect_client(
        self,
        sid: int,
        on_frame: Callable[[bytes], None] | None = None,
        on_close: Callable[[], None] | None = None,
        address: str = "127.0.0.1",
    ) -> ClientEndpoint:
        """A client's new connection to server ``sid`` (lost at once if it is down)."""
        conn_id = self._next_client_conn
        self._next_client_conn += 1
        endpoint = ClientEndpoint(self, sid, conn_id, on_frame, on_close)
        replica = self.replicas[sid]
        if replica.peer is None:
            self._schedule(self._latency(("client-close", conn_id)), endpoint._lost)
            return endpoint
        replica.clients[conn_id] = endpoint
        self._deliver_to(sid, lambda peer: peer.connection_made(conn_id, address))
        return endpoint

    def _client_send(self, endpoint: ClientEndpoint, payload: bytes) -> None:
        sid, conn_id = endpoint.sid, endpoint.conn_id

        def deliver() -> None:
            self._deliver_to(sid, lambda peer: peer.receive(conn_id, payload, self.now))

        self._schedule(self._latency(("client-in", conn_id)), deliver)

    def _client_close(self, endpoint: ClientEndpoint) -> None:
        sid, conn_id = endpoint.sid, endpoint.conn_id
        self.replicas[sid].clients.pop(conn_id, None)

        def deliver() -> None:
            self._deliver_to(sid, lambda peer: peer.connection_lost(conn_id))

        self._schedule(self._latency(("client-in", conn_id)), deliver)

    def _client_outputs(self, replica: Replica, outputs: list[Output]) -> None:
        for out in outputs:
            endpoint = replica.clients.get(out.conn_id)
            if endpoint is None:
                continue
            if endpoint.immediate:
                if out.close:
                    replica.clients.pop(out.conn_id, None)
                    endpoint._lost()
                elif out.data is not None:
                    endpoint._frame(out.data[4:])
                continue
            delay = self._latency(("client-out", out.conn_id))
            if out.close:
                replica.clients.pop(out.conn_id, None)
                self._schedule(delay, endpoint._lost)
            elif out.data is not None:
                data = out.data[4:]  # the frame without its length prefix

                def deliver(endpoint: ClientEndpoint = endpoint, data: bytes = data) -> None:
                    endpoint._frame(data)

                self._schedule(delay, deliver)

    # --- the Ready contract ---------------------------------------------------------------

    def _after_input(self, replica: Replica) -> None:
        """Carry out what the peer asked: persist (durable after an fsync), hold the sends
        behind it, hand client frames over, and re-arm its timer."""
        peer = replica.peer
        if peer is None:
            return
        self._note_sync_interrupted(replica, peer)
        ready = peer.ready()
        disk = replica.disk
        if ready.persist:
            disk.pending.extend(ready.persist)
            disk.persists_asked += len(ready.persist)
            count = len(ready.persist)
            delay = self.faults.fsync_ms
            if self.faults.fsync_jitter_ms:
                delay += self.rng.randint(0, self.faults.fsync_jitter_ms)
            delay = max(self.now + delay, self._last_delivery.get(("disk", replica.sid), 0))
            self._last_delivery[("disk", replica.sid)] = delay
            incarnation = replica.incarnation

            def flush() -> None:
                if replica.peer is not peer or replica.incarnation != incarnation:
                    return  # crashed meanwhile: those writes are lost
                if replica.paused:
                    replica.backlog.append(flush)
                    return
                last = disk.make_durable(count)
                if last:
                    peer.persisted(last)
                self._release(replica)
                self._after_input(replica)

            self._schedule(delay - self.now, flush)
        if ready.send:
            # The server's contract (``SendGate``): a send that claims something about the
            # disk waits for the persists asked before it, none overtakes its connection's.
            sends = cast(list[Send], ready.send)
            for message in replica.held.admit(sends, disk.persists_asked, disk.persists_done):
                self._send(replica, message)
        if ready.clients:
            self._client_outputs(replica, ready.clients)
        self._release(replica)
        self._arm(replica)

    def _note_sync_interrupted(self, replica: Replica, peer: QuorumPeer) -> None:
        """Count a follower that went back to looking in the middle of synchronizing (an
        election during sync: the leader died, or the link broke, between DIFF/TRUNC/SNAP
        and UPTODATE)."""
        follower = peer.follower
        syncing = follower is not None and (
            FollowerPhase.SYNC_WAIT <= follower.phase <= FollowerPhase.UPTODATE_WAIT
        )
        if replica.syncing and follower is None and peer.state == ServerState.LOOKING:
            self.count("election during sync")
        replica.syncing = syncing

    def _release(self, replica: Replica) -> None:
        disk = replica.disk
        if replica.held.held:
            for message in replica.held.release(disk.persists_done):
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
            if replica.paused:
                replica.backlog.append(fire)
                return
            del self._timers[replica.sid]
            key = (replica.sid, self.now)
            spins = self._spins.get(key, 0) + 1
            self._spins = {key: spins}
            if spins > TIMER_SPINS_MAX:
                raise AssertionError(
                    f"server {replica.sid}'s timer fires again and again at {self.now} without "
                    f"moving on (state {peer.state.name}, next deadline {peer.next_deadline()})"
                )
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
        if self.after_event is not None:
            self.after_event(self)
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


class SimClient:
    """A raw-frame client connection to one server, polled by tests."""

    def __init__(self, cluster: Cluster, sid: int) -> None:
        self.cluster = cluster
        self.sid = sid
        self.endpoint = cluster.connect_client(sid)
        self.endpoint.immediate = True
        self.conn_id = self.endpoint.conn_id
        self.session_id = 0
        self.password = bytes(16)
        self.frames: list[bytes] = []
        self.next_xid = 1
        self.last_zxid = 0

    @property
    def closed(self) -> bool:
        return self.endpoint.closed

    def _take(self) -> None:
        # Frames as a server writes them: with their length prefix.
        for data in self.endpoint.frames:
            self.frames.append(len(data).to_bytes(4, "big") + data)
        self.endpoint.frames = []

    def send(self, payload: bytes) -> None:
        """Deliver at once (no latency): tests that step the peers by hand rely on it."""
        endpoint = self.endpoint
        if endpoint.closed:
            return
        self.cluster._deliver_to(
            endpoint.sid, lambda peer: peer.receive(endpoint.conn_id, payload, self.cluster.now)
        )

    def poll(self) -> list[bytes]:
        """Frames received since the last poll (each with its length prefix)."""
        self._take()
        frames, self.frames = self.frames, []
        return frames


def open_client(cluster: Cluster, sid: int) -> SimClient:
    """A new client connection to server ``sid`` (closed at once if it does not serve)."""
    return SimClient(cluster, sid)


def quorum_config(voters: tuple[int, ...], host: str = "127.0.0.1") -> bytes:
    """``QuorumMaj.toString`` of an ensemble on loopback (ports are notional here)."""
    lines = [
        f"server.{sid}={host}:{2887 + sid}:{3887 + sid}:participant;{host}:{2180 + sid}"
        for sid in voters
    ]
    return ("\n".join(lines) + "\nversion=0").encode()
