"""The leader: discovery, synchronization and broadcast from the leading server's side.

This is Apache ZooKeeper's ``Leader`` and its ``LearnerHandler`` threads as one state
machine, driven by the quorum peer (``reference.quorum.peer``): packets from learners, the
clock and durability come in; packets to send, things to persist and commits (which the
client core applies and answers) go out.

Theory of operation
-------------------
*Discovery* (``Leader.getEpochToPropose``, ``waitForEpochAck``). Each connecting learner
announces the last epoch it accepted (FOLLOWERINFO); once a quorum, the leader included, has
announced, the new epoch is one more than the largest of them and the leader accepts it
(``WriteAcceptedEpoch``). Every learner is told the epoch (LEADERINFO) and answers with its
current epoch and last logged zxid (ACKEPOCH); a learner that says it already accepted this
epoch (current epoch −1) does not count, and one whose (current epoch, last zxid) is ahead of
the leader's is refused — its connection is closed. With a quorum of acks the leader makes
the epoch current (``WriteCurrentEpoch``).

*Synchronization* (``LearnerHandler.syncFollower``). Each acked learner gets, in one step so
that nothing can fall between: DIFF and the committed txns it lacks (PROPOSAL and COMMIT
pairs), or TRUNC to the leader's last committed zxid (and then a DIFF from there), or SNAP
and the whole tree; then every proposal still outstanding; then it joins the forwarding set,
which receives every later PROPOSAL and COMMIT; then NEWLEADER. Once a quorum (the leader
included) acked NEWLEADER, the leader starts serving and sends UPTODATE to each learner that
acked it.

*Broadcast* (``Leader.propose``, ``processAck``, ``tryToCommit``). A proposal goes to every
forwarding learner and is persisted here; the leader's own ack is its durability
(``persisted``). A proposal commits once a quorum acked it *and* every proposal before it
committed; COMMIT then goes to every forwarding learner, and the core applies the txn.

*sync*. A sync a learner forwards is answered with SYNC once every proposal made before it
arrived has committed (``Leader.processSync``), without asking whether this server still
leads: a leader cut off in a minority answers until it notices (ZOOKEEPER-1675).

*quorumSync* (zkref's setting, off by default: ``spec.ensemble``, ``DIVERGENCES.md``). A
sync — forwarded, or of the leader's own client — is also held until a quorum, the leader
included, has shown *after the sync arrived* that it still follows this leader: when a sync
arrives every synchronized learner is sent a PING, and a learner counts once it has answered
a PING sent after that moment. Learners answer every PING, in order, on their one connection
(``Learner.ping``), so the leader needs only count, per connection, the pings sent and the
answers received. This is etcd's ReadIndex (Raft thesis §6.4: note the commit point, confirm
leadership with a round of heartbeats, answer once applied) with ZAB's pings as heartbeats.
It suffices: a write acknowledged before the sync was sent was committed either by this
leader — then it is at or below the last proposal, whose COMMIT reaches the learner before
the SYNC — or by a newer leader, after a quorum acked that leader's NEWLEADER; that quorum
and the confirming one share a server, which had left this leader before the sync arrived
and, having accepted a newer epoch, cannot follow it again, so it cannot have answered a
PING sent since. Pings rather than a no-op proposal: a proposal takes a zxid, which clients
see in reply headers and for which Apache's learners have no txn type; pings change nothing
in the log or on the wire, so Apache followers serve a zkref leader's quorum round too. The
cost is one PING per synchronized learner per sync and a round trip of latency.

*Liveness*. Every tickTime/2 the leader pings its learners; every tickTime it counts the
learners heard from within syncLimit ticks and steps down if they and it are no quorum.
Each stage before broadcast must finish within initLimit ticks. A learner silent for longer
than its limit is dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from reference.jute import JuteError, Request, decode_request
from reference.quorum import apache_txn, plants
from reference.quorum.apache_snapshot import from_zkref
from reference.quorum.election import Quorum
from reference.quorum.messages import QuorumClose, QuorumSend
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket
from reference.quorum.wire_payloads import (
    ALREADY_ACKED_EPOCH,
    ZAB_PROTOCOL_VERSION,
    AckEpoch,
    ForwardedRequest,
    LeaderInfo,
    LearnerInfo,
    RevalidateRequest,
    RevalidateResponse,
    SessionTouches,
    decode_payload,
)
from reference.ready import WriteAcceptedEpoch, WriteCurrentEpoch
from reference.sessions import SessionState
from reference.txn import CreateSessionTxn, ErrorTxn, Txn
from spec.acl import Id
from spec.errors import Code
from spec.opcodes import OpCode
from spec.zxid import EPOCH_MAX, Zxid

if TYPE_CHECKING:
    from reference.quorum.peer import QuorumPeer

log = logging.getLogger("zkref.quorum.leader")


class LearnerPhase(IntEnum):
    """Where one learner's connection is (the steps of ``LearnerHandler.run``)."""

    CONNECTED = 0  # waiting for FOLLOWERINFO
    EPOCH_WAIT = 1  # announced; waiting for a quorum to announce
    ACKEPOCH_WAIT = 2  # LEADERINFO sent, waiting for ACKEPOCH
    ELECTING = 3  # acked; waiting for a quorum of acks
    NEWLEADER_WAIT = 4  # synchronized; waiting for its ACK of NEWLEADER
    BROADCAST = 5  # UPTODATE sent


@dataclass(slots=True)
class LearnerHandler:
    """The leader's view of one learner connection."""

    conn: int
    phase: LearnerPhase = LearnerPhase.CONNECTED
    sid: int = -1
    accepted_epoch: int = -1
    last_zxid: int = -1
    # The leader tick by which this learner must have been heard from again.
    ack_deadline_tick: int = 0
    newleader_acked: bool = False
    sync_mode: str = ""
    # PINGs sent on this connection, and answers received: the k-th answer is to the k-th.
    pings_sent: int = 0
    pings_answered: int = 0


@dataclass(slots=True)
class Proposal:
    """A txn proposed and not yet committed, and the voters that acked it."""

    txn: Txn
    packet: QuorumPacket
    acks: set[int] = field(default_factory=set)


@dataclass(slots=True)
class ProposalSizes:
    """Bytes of the proposals sent, last/min/max (``BufferStats``; -1 before the first),
    for ``srvr`` and ``mntr``."""

    last_bytes: int = -1
    min_bytes: int = -1
    max_bytes: int = -1

    def record(self, size_bytes: int) -> None:
        self.last_bytes = size_bytes
        if self.min_bytes == -1 or size_bytes < self.min_bytes:
            self.min_bytes = size_bytes
        if size_bytes > self.max_bytes:
            self.max_bytes = size_bytes

    def reset(self) -> None:
        self.last_bytes = self.min_bytes = self.max_bytes = -1


@dataclass(slots=True)
class QuorumSyncWait:
    """A sync waiting for the quorum round of quorumSync (module docstring)."""

    conn: int | None  # the learner connection that forwarded it; None: our own client's
    session_id: int
    after: int  # answered once every proposal up to this zxid committed (-1: none was open)
    marks: dict[int, int]  # per learner connection: the PINGs sent before the sync arrived
    confirmed: set[int]  # servers shown to follow us after it arrived (we are one)


class StepDown(Exception):
    """The leader must stop leading (a stage timed out, the quorum is lost)."""


class Leader:
    """The leading server's half of ZAB (see the module docstring)."""

    def __init__(self, peer: QuorumPeer, now_ms: int) -> None:
        self.peer = peer
        self.my_id = peer.config.my_id
        self.quorum = Quorum(peer.config.voters)
        self.tick_time_ms = peer.config.tick_time_ms
        self.init_limit = peer.config.init_limit
        self.sync_limit = peer.config.sync_limit
        self.handlers: dict[int, LearnerHandler] = {}
        # Discovery: the epoch to propose and who announced; who acked it.
        self.epoch = -1
        self.waiting_for_new_epoch = True
        self.connecting: set[int] = set()
        self.election_finished = False
        self.electing: set[int] = set()
        # Synchronization: who acked NEWLEADER.
        self.quorum_formed = False
        self.newleader_acks: set[int] = set()
        # Broadcast: proposals not yet committed, in zxid order (the order they were made).
        self.outstanding: dict[int, Proposal] = {}
        self.last_committed = peer.core.last_zxid
        self.pending_syncs: dict[int, list[int]] = {}
        # quorumSync: syncs waiting for their quorum round, in the order they arrived.
        self.quorum_sync = peer.core.config.quorum_sync
        self.quorum_syncs: deque[QuorumSyncWait] = deque()
        # The leader's own summary at election: (current epoch, last zxid).
        self.summary = (peer.current_epoch, peer.log_last)
        # Time: the leader's tick count, the next half tick, and the stage deadline.
        self.tick = 0
        self.tick_skip = True
        self.next_half_tick_ms = now_ms + self.tick_time_ms // 2
        self.stage_deadline_ms = now_ms + self.init_limit * self.tick_time_ms
        self.established = False
        # For monitoring: when the leader started serving (``leaderStartTime``, set in
        # ``startZkServer``) and the sizes of its proposals (``proposalStats``).
        self.established_ms: int | None = None
        self.proposal_sizes = ProposalSizes()
        self._epoch_request(self.my_id, peer.accepted_epoch)

    # --- helpers -----------------------------------------------------------------------------

    def _send(self, handler: LearnerHandler, packet: QuorumPacket, at_once: bool = False) -> None:
        """Send ``packet`` to a learner; ``at_once`` when it claims nothing about our disk
        (``QuorumSend.after_persists``), so it need not wait for our log."""
        self.peer.send(QuorumSend(handler.conn, packet, after_persists=not at_once))

    def _packet(
        self,
        type_: int,
        zxid: int,
        data: bytes | None = None,
        authinfo: tuple[Id, ...] | None = None,
    ) -> QuorumPacket:
        return QuorumPacket(type_, zxid, data, authinfo)

    def _drop(self, handler: LearnerHandler, why: str) -> None:
        """Close a learner's connection (``LearnerHandler.shutdown``)."""
        log.warning("dropping learner %s (connection %d): %s", handler.sid, handler.conn, why)
        self.handlers.pop(handler.conn, None)
        self.peer.send(QuorumClose(handler.conn))

    def forwarding(self) -> list[LearnerHandler]:
        """Learners that receive every PROPOSAL and COMMIT (synchronized or synchronizing)."""
        phases = (
            (LearnerPhase.BROADCAST,)
            if plants.LATE_FORWARDING
            else (LearnerPhase.NEWLEADER_WAIT, LearnerPhase.BROADCAST)
        )
        return [h for h in self.handlers.values() if h.phase in phases]

    def synced_learners(self) -> list[int]:
        """Voters heard from in time (``LearnerHandler.synced``)."""
        return [
            h.sid
            for h in self.handlers.values()
            if h.phase == LearnerPhase.BROADCAST and h.ack_deadline_tick > self.tick
        ]

    # --- connections -------------------------------------------------------------------------

    def accepted(self, conn: int) -> None:
        self.handlers[conn] = LearnerHandler(
            conn, ack_deadline_tick=self.tick + self.init_limit + self.sync_limit
        )

    def closed(self, conn: int) -> None:
        handler = self.handlers.pop(conn, None)
        if handler is not None:
            log.info("learner %s closed its connection", handler.sid)

    def received(self, conn: int, packet: QuorumPacket, now_ms: int) -> None:
        """A packet from a learner (``LearnerHandler.run``); bad ones close its connection."""
        handler = self.handlers.get(conn)
        if handler is None:
            return
        try:
            self._received(handler, packet, now_ms)
        except (JuteError, ValueError, apache_txn.UnmappableTxn) as error:
            self._drop(handler, f"bad packet {packet.type}: {error}")

    def _received(self, handler: LearnerHandler, packet: QuorumPacket, now_ms: int) -> None:
        if handler.phase >= LearnerPhase.NEWLEADER_WAIT:
            handler.ack_deadline_tick = self.tick + self.sync_limit
        else:
            handler.ack_deadline_tick = self.tick + self.init_limit + self.sync_limit
        phase = handler.phase
        kind = packet.type
        if phase == LearnerPhase.CONNECTED:
            if kind == PacketType.OBSERVERINFO:
                self._drop(handler, "an observer (OBSERVERINFO): a zkref leader takes none")
                return
            if kind != PacketType.FOLLOWERINFO:
                self._drop(handler, f"first packet is {kind}, not FOLLOWERINFO")
                return
            info = decode_payload(packet, PacketSender.LEARNER)
            assert isinstance(info, LearnerInfo)
            if info.serverid not in self.quorum.voters:
                self._drop(handler, f"server {info.serverid} is not in the ensemble")
                return
            if info.protocolVersion is None or info.protocolVersion < ZAB_PROTOCOL_VERSION:
                self._drop(handler, "learners before ZAB 1.0 (protocol 0x10000) are refused")
                return
            if info.configVersion:
                # Learner.registerWithLeader sends its QuorumVerifier's version: not 0 once
                # it was established with reconfigEnabled (Leader.lead) or reconfigured.
                self._drop(
                    handler,
                    f"server {info.serverid}'s configuration has version "
                    f"{info.configVersion:#x}: it is dynamic (reconfigEnabled); zkref supports "
                    "only the static server.N lines of zoo.cfg (version 0)",
                )
                return
            if Zxid(packet.zxid).epoch >= EPOCH_MAX:
                # getEpochToPropose would make the next epoch one past what LEADERINFO and
                # ACKEPOCH can carry (a signed 32-bit epoch).
                self._drop(handler, f"it accepted epoch {Zxid(packet.zxid).epoch}, the last one")
                return
            for other in list(self.handlers.values()):
                if other is not handler and other.sid == info.serverid:
                    self._drop(other, "the same server connected again")
            handler.sid = info.serverid
            handler.accepted_epoch = Zxid(packet.zxid).epoch
            handler.phase = LearnerPhase.EPOCH_WAIT
            self._epoch_request(handler.sid, handler.accepted_epoch)
            if not self.waiting_for_new_epoch and handler.phase == LearnerPhase.EPOCH_WAIT:
                self._send_leader_info(handler)
            return
        if phase == LearnerPhase.ACKEPOCH_WAIT:
            if kind != PacketType.ACKEPOCH:
                self._drop(handler, f"{kind} instead of ACKEPOCH")
                return
            ack = decode_payload(packet, PacketSender.LEARNER)
            assert isinstance(ack, AckEpoch)
            handler.last_zxid = packet.zxid
            handler.phase = LearnerPhase.ELECTING
            if not self.election_finished:
                if ack.currentEpoch != ALREADY_ACKED_EPOCH:
                    if (ack.currentEpoch, packet.zxid) > self.summary:
                        # StateSummary.isMoreRecentThan: a learner ahead of its leader would
                        # lose what it has (ZK-1154 class): refuse it.
                        self._drop(handler, "the follower is ahead of the leader")
                        return
                    if packet.zxid != -1:
                        self.electing.add(handler.sid)
                elif plants.EPOCH_NOT_MAX_OVER_QUORUM and packet.zxid != -1:
                    self.electing.add(handler.sid)
                self._check_electing()
            if self.election_finished and handler.phase == LearnerPhase.ELECTING:
                self._synchronize(handler)
            return
        if phase == LearnerPhase.NEWLEADER_WAIT:
            if kind == PacketType.ACK and packet.zxid == Zxid.first_of(self.epoch):
                handler.newleader_acked = True
                if not self.quorum_formed:
                    self.newleader_acks.add(handler.sid)
                    self._check_newleader_quorum()
                # The ack that formed the quorum got its UPTODATE from the check above.
                if self.quorum_formed and handler.phase == LearnerPhase.NEWLEADER_WAIT:
                    self._up_to_date(handler)
                return
            if kind == PacketType.ACK:
                self._ack(handler.sid, packet.zxid)
                return
            self._drop(handler, f"{kind} instead of the ACK of NEWLEADER")
            return
        if phase == LearnerPhase.BROADCAST:
            self._broadcast_packet(handler, packet, now_ms)
            return
        self._drop(handler, f"{kind} out of phase ({phase.name})")

    def _broadcast_packet(self, handler: LearnerHandler, packet: QuorumPacket, now_ms: int) -> None:
        kind = packet.type
        if kind == PacketType.ACK:
            self._ack(handler.sid, packet.zxid)
        elif kind == PacketType.PING:
            handler.pings_answered += 1
            if self.quorum_syncs:
                self._confirmed_by(handler)
            touches = decode_payload(packet, PacketSender.LEARNER)
            assert isinstance(touches, SessionTouches)
            tracker = self.peer.core.tracker
            for touch in touches.touches:
                tracker.touch_remote(touch.sessionId, touch.timeout, now_ms)
        elif kind == PacketType.REVALIDATE:
            request = decode_payload(packet, PacketSender.LEARNER)
            assert isinstance(request, RevalidateRequest)
            self._revalidate(handler, request, now_ms)
        elif kind == PacketType.REQUEST:
            forwarded = decode_payload(packet, PacketSender.LEARNER)
            assert isinstance(forwarded, ForwardedRequest)
            self._forwarded(handler, forwarded, tuple(packet.authinfo or ()))
        else:
            log.warning("unexpected quorum packet %s from learner %s", kind, handler.sid)

    # --- discovery ---------------------------------------------------------------------------

    def _epoch_request(self, sid: int, accepted_epoch: int) -> None:
        """``getEpochToPropose``: a server announced the last epoch it accepted."""
        if not self.waiting_for_new_epoch:
            return
        if accepted_epoch >= self.epoch and (
            sid == self.my_id or not plants.EPOCH_NOT_MAX_OVER_QUORUM
        ):
            self.epoch = accepted_epoch + 1
        if sid in self.quorum.voters:
            self.connecting.add(sid)
        if self.my_id in self.connecting and self.quorum.contains_quorum(self.connecting):
            self.waiting_for_new_epoch = False
            self.peer.accepted_epoch = self.epoch
            self.peer.persist(WriteAcceptedEpoch(self.epoch))
            self.peer.core.last_proposed = Zxid.first_of(self.epoch)
            self.stage_deadline_ms = self.peer.now + self.init_limit * self.tick_time_ms
            log.info(
                "leader %d: new epoch %d agreed by %s",
                self.my_id,
                self.epoch,
                sorted(self.connecting),
            )
            self.electing.add(self.my_id)  # waitForEpochAck(self)
            for handler in list(self.handlers.values()):
                if handler.phase == LearnerPhase.EPOCH_WAIT:
                    self._send_leader_info(handler)
            self._check_electing()

    def _send_leader_info(self, handler: LearnerHandler) -> None:
        handler.phase = LearnerPhase.ACKEPOCH_WAIT
        data = LeaderInfo(ZAB_PROTOCOL_VERSION).encode()
        self._send(handler, self._packet(PacketType.LEADERINFO, Zxid.first_of(self.epoch), data))

    def _check_electing(self) -> None:
        if self.election_finished or self.waiting_for_new_epoch:
            return
        if self.my_id in self.electing and self.quorum.contains_quorum(self.electing):
            self.election_finished = True
            observer = self.peer.observer
            if observer is not None:
                observer.epoch_agreed(self.my_id, self.epoch)
            self.peer.current_epoch = self.epoch
            self.peer.persist(WriteCurrentEpoch(self.epoch))
            self.stage_deadline_ms = self.peer.now + self.init_limit * self.tick_time_ms
            self.newleader_acks.add(self.my_id)  # waitForNewLeaderAck(self)
            for handler in list(self.handlers.values()):
                if handler.phase == LearnerPhase.ELECTING:
                    self._synchronize(handler)
            self._check_newleader_quorum()

    # --- synchronization ---------------------------------------------------------------------

    def _synchronize(self, handler: LearnerHandler) -> None:
        """``syncFollower`` + ``startForwarding`` + NEWLEADER, in one step: no proposal can
        fall between the sync and the forwarding (the gap Remix found)."""
        peer = self.peer
        peer_zxid = handler.last_zxid
        history = self._history()
        last = history[-1].header.zxid if history else peer.core.last_zxid
        min_committed = history[0].header.zxid if history else last
        max_committed = last
        new_epoch_zxid = Zxid(peer_zxid).is_epoch_start if peer_zxid >= 0 else False
        packets: list[QuorumPacket] = []
        mode = "SNAP"
        if peer_zxid == last:
            packets.append(self._packet(PacketType.DIFF, peer_zxid))
            mode = "DIFF"
        elif peer_zxid > max_committed and not new_epoch_zxid:
            if plants.DIFF_INSTEAD_OF_TRUNC:
                packets.append(self._packet(PacketType.DIFF, max_committed))
                mode = "DIFF"
            else:
                packets.append(self._packet(PacketType.TRUNC, max_committed))
                mode = "TRUNC"
        elif min_committed <= peer_zxid <= max_committed:
            diff = self._diff_from(peer_zxid, max_committed)
            if diff is not None:
                packets.extend(diff)
                mode = "TRUNC+DIFF" if diff and diff[0].type == PacketType.TRUNC else "DIFF"
        handler.sync_mode = mode
        log.info(
            "leader %d: synchronizing learner %d (last zxid %#x) by %s",
            self.my_id,
            handler.sid,
            peer_zxid,
            mode,
        )
        peer.syncs_sent[mode] = peer.syncs_sent.get(mode, 0) + 1
        if mode == "SNAP":
            # The tree, then the txns of our log not applied to it yet (before we establish
            # our epoch: the log we lead with), as a DIFF after the snapshot would send them.
            packets = [self._packet(PacketType.SNAP, peer.core.last_zxid)]
            for txn in history:
                if txn.header.zxid > peer.core.last_zxid:
                    packets.append(peer.proposal_packet(txn))
                    packets.append(self._packet(PacketType.COMMIT, txn.header.zxid))
        for packet in packets:
            self._send(handler, packet)
            if packet.type == PacketType.SNAP:
                snapshot = from_zkref(peer.core.tree, peer.core.session_images())
                peer.send(QuorumSend(handler.conn, snapshot))
        # startForwarding: every outstanding proposal after what the learner now has.
        for zxid in sorted(self.outstanding):
            self._send(handler, self.outstanding[zxid].packet)
        handler.phase = LearnerPhase.NEWLEADER_WAIT
        handler.ack_deadline_tick = self.tick + self.init_limit + self.sync_limit
        newleader = self._packet(
            PacketType.NEWLEADER, Zxid.first_of(self.epoch), peer.config.quorum_config
        )
        self._send(handler, newleader)

    def _diff_from(self, peer_zxid: int, max_committed: int) -> list[QuorumPacket] | None:
        """``queueCommittedProposals``: the committed txns after ``peer_zxid``, preceded by
        DIFF, or by TRUNC when the learner holds a txn the leader's log does not (then only
        within one epoch); None when neither works (a SNAP then)."""
        packets: list[QuorumPacket] = []
        new_epoch_zxid = Zxid(peer_zxid).is_epoch_start
        need_op = True
        previous = -1
        for txn in self._history():
            zxid = txn.header.zxid
            if zxid < peer_zxid:
                previous = zxid
                continue
            if need_op:
                if zxid == peer_zxid:
                    packets.append(self._packet(PacketType.DIFF, max_committed))
                    need_op = False
                    continue
                if new_epoch_zxid:
                    packets.append(self._packet(PacketType.DIFF, max_committed))
                    need_op = False
                elif zxid > peer_zxid:
                    if Zxid(zxid).epoch != Zxid(peer_zxid).epoch or previous < 0:
                        return None
                    packets.append(self._packet(PacketType.TRUNC, previous))
                    need_op = False
            packets.append(self.peer.proposal_packet(txn))
            packets.append(self._packet(PacketType.COMMIT, zxid))
        if need_op:
            if new_epoch_zxid:
                packets.append(self._packet(PacketType.DIFF, max_committed))
                return packets
            return None
        return packets

    def _history(self) -> list[Txn]:
        """The txns a learner may be synchronized from, in zxid order: the last applied
        (``committed_log``), then our log's txns not applied yet that are no open proposal
        (before we establish our epoch, the log we lead with; Apache loads it all into its
        tree at ``lead``)."""
        pending = [t for t in self.peer.pending if t.header.zxid not in self.outstanding]
        return [*self.peer.committed_log, *pending]

    def _check_newleader_quorum(self) -> None:
        if self.quorum_formed or not self.election_finished:
            return
        if self.quorum.contains_quorum(self.newleader_acks):
            self.quorum_formed = True
            self.established = True
            self.established_ms = self.peer.now
            log.info(
                "leader %d: epoch %d established with %s",
                self.my_id,
                self.epoch,
                sorted(self.newleader_acks),
            )
            self.peer.leader_established(self.epoch)
            self.last_committed = self.peer.core.last_zxid
            for handler in list(self.handlers.values()):
                if handler.phase == LearnerPhase.NEWLEADER_WAIT and handler.newleader_acked:
                    self._up_to_date(handler)

    def _up_to_date(self, handler: LearnerHandler) -> None:
        handler.phase = LearnerPhase.BROADCAST
        handler.ack_deadline_tick = self.tick + self.sync_limit
        self._send(handler, self._packet(PacketType.UPTODATE, -1))

    # --- broadcast ---------------------------------------------------------------------------

    def propose(self, txn: Txn) -> None:
        """``Leader.propose``: to every forwarding learner, and to our own log."""
        assert self.established, "a leader proposes only once established"
        zxid = txn.header.zxid
        assert zxid > self.last_committed and zxid not in self.outstanding
        assert not self.outstanding or zxid > next(reversed(self.outstanding)), "zxid order"
        packet = self.peer.new_proposal_packet(txn)
        self.proposal_sizes.record(len(packet.data or b""))
        self.outstanding[zxid] = Proposal(txn, packet)
        # Sent before our own log has it, as Apache does: our ack waits for ``persisted``,
        # and a quorum of durable acks is what commits.
        for handler in self.forwarding():
            self._send(handler, packet, at_once=True)
        self.peer.append(txn)

    def persisted(self, zxid: int) -> None:
        """Our own log has everything up to ``zxid``: our ack of each proposal it covers."""
        for proposal_zxid, proposal in self.outstanding.items():
            if proposal_zxid > zxid:
                break
            proposal.acks.add(self.my_id)
        self._try_to_commit()

    def _ack(self, sid: int, zxid: int) -> None:
        """``processAck``: acks of epoch starts, of committed or unknown zxids are ignored."""
        if Zxid(zxid).is_epoch_start or zxid <= self.last_committed:
            return
        proposal = self.outstanding.get(zxid)
        if proposal is None or sid not in self.quorum.voters:
            return
        proposal.acks.add(sid)
        self._try_to_commit()

    def _try_to_commit(self) -> None:
        """``tryToCommit``: strictly in zxid order, each once a quorum acked it."""
        while self.outstanding:
            zxid = next(iter(self.outstanding))  # the oldest: they are kept in zxid order
            proposal = self.outstanding[zxid]
            if not self.quorum.contains_quorum(proposal.acks):
                break
            del self.outstanding[zxid]
            self.last_committed = zxid
            commit = self._packet(PacketType.COMMIT, zxid)
            # A quorum has it durable: that does not depend on our own log.
            for handler in self.forwarding():
                self._send(handler, commit, at_once=True)
            self.peer.commit(proposal.txn)
            for conn in self.pending_syncs.pop(zxid, []):
                waiting = self.handlers.get(conn)
                if waiting is not None:
                    self._send(waiting, self._packet(PacketType.SYNC, 0), at_once=True)
        if self.quorum_syncs:
            self._answer_quorum_syncs()

    def _forwarded(
        self, handler: LearnerHandler, request: ForwardedRequest, auth: tuple[Id, ...]
    ) -> None:
        """A client request a learner forwarded (``submitLearnerRequest``)."""
        core = self.peer.core
        session_id, cxid, kind = request.sessionId, request.cxid, request.type
        if kind == OpCode.sync:
            if self.quorum_sync:
                self._start_quorum_sync(handler.conn, session_id)
                return
            # processSync: answered once everything proposed so far has committed.
            if self.outstanding:
                last = next(reversed(self.outstanding))
                self.pending_syncs.setdefault(last, []).append(handler.conn)
            else:
                self._send(handler, self._packet(PacketType.SYNC, 0), at_once=True)
            return
        session = core.tracker.get(session_id)
        if kind == OpCode.createSession:
            timeout = int.from_bytes(request.request[:4], "big", signed=True)
            if session is None:
                session = core.tracker.add(session_id, timeout, self.peer.now)
                session.state = SessionState.CREATING
            session.owner = handler.sid
            core.propose_txn(session_id, cxid, OpCode.createSession, CreateSessionTxn(timeout))
            return
        if session is not None and session.owner != handler.sid and kind != OpCode.closeSession:
            # PrepRequestProcessor: checkSession(owner) -> SessionMovedException.
            core.propose_txn(session_id, cxid, kind, ErrorTxn(Code.SESSIONMOVED))
            return
        if kind == OpCode.closeSession:
            if session is None or session.state == SessionState.CLOSING:
                core.propose_txn(session_id, cxid, kind, ErrorTxn(Code.SESSIONEXPIRED))
                return
            core.propose_close(session, cxid)
            return
        payload = cxid.to_bytes(4, "big", signed=True) + kind.to_bytes(4, "big", signed=True)
        decoded: Request | None
        try:
            read = decode_request(payload + request.request)
            decoded = read if isinstance(read, Request) else None
        except JuteError:
            decoded = None  # a MARSHALLINGERROR txn, as PrepRequestProcessor makes
        core.prepare_and_propose(session_id, cxid, kind, decoded, list(auth))

    # --- quorumSync --------------------------------------------------------------------------

    def local_sync(self, session_id: int) -> None:
        """quorumSync: a sync of one of our own clients. The core holds the session's later
        requests until it is answered (``ZooKeeperCore.synced``)."""
        assert self.quorum_sync and self.established, (
            "a leader's own syncs wait only with quorumSync"
        )
        self._start_quorum_sync(None, session_id)

    def _start_quorum_sync(self, conn: int | None, session_id: int) -> None:
        """A sync arrived: note the commit point and the pings sent so far, ping every
        synchronized learner, and answer once a quorum answered (module docstring)."""
        self.quorum_syncs.append(
            QuorumSyncWait(
                conn,
                session_id,
                max(self.outstanding) if self.outstanding else -1,
                {h.conn: h.pings_sent for h in self.handlers.values()},
                {self.my_id},
            )
        )
        for handler in list(self.handlers.values()):
            if handler.phase == LearnerPhase.BROADCAST:
                self._ping(handler)
        self._answer_quorum_syncs()

    def _confirmed_by(self, handler: LearnerHandler) -> None:
        """A learner answered a PING: it follows us for every sync that arrived before that
        PING was sent. A learner that connected after a sync arrived was pinged only since."""
        for wait in self.quorum_syncs:
            if handler.pings_answered > wait.marks.get(handler.conn, 0):
                wait.confirmed.add(handler.sid)
        self._answer_quorum_syncs()

    def _answer_quorum_syncs(self) -> None:
        """Answer the syncs whose round is complete, in the order they arrived (a learner
        matches SYNCs to its syncs in order). A later sync is never ready before an earlier
        one: every PING answer that counts for it counts for the earlier one, and whatever
        was proposed before the earlier one arrived was proposed before it too."""
        while self.quorum_syncs:
            wait = self.quorum_syncs[0]
            if wait.after > self.last_committed or not self.quorum.contains_quorum(wait.confirmed):
                return
            self.quorum_syncs.popleft()
            if wait.conn is None:
                self.peer.core.synced(wait.session_id)
                continue
            waiting = self.handlers.get(wait.conn)
            if waiting is not None:
                self._send(waiting, self._packet(PacketType.SYNC, 0), at_once=True)

    def _revalidate(self, handler: LearnerHandler, request: RevalidateRequest, now_ms: int) -> None:
        """``revalidateSession``: is the session alive? If so it now belongs to that learner."""
        tracker = self.peer.core.tracker
        valid = tracker.touch_remote(request.sessionId, request.timeout, now_ms)
        if valid:
            session = tracker.get(request.sessionId)
            assert session is not None
            session.owner = handler.sid
        data = RevalidateResponse(request.sessionId, valid).encode()
        self._send(handler, self._packet(PacketType.REVALIDATE, -1, data), at_once=True)

    # --- time --------------------------------------------------------------------------------

    def next_deadline(self) -> int:
        if not self.established:
            return min(self.stage_deadline_ms, self.next_half_tick_ms)
        return self.next_half_tick_ms

    def on_tick(self, now_ms: int) -> None:
        """Raises ``StepDown`` when a stage timed out or the quorum is lost."""
        if not self.established and now_ms >= self.stage_deadline_ms:
            stage = (
                "a quorum of FOLLOWERINFO"
                if self.waiting_for_new_epoch
                else "a quorum of ACKEPOCH"
                if not self.election_finished
                else "a quorum of NEWLEADER acks"
            )
            raise StepDown(f"timed out waiting for {stage} ({sorted(self._stage_set())})")
        while now_ms >= self.next_half_tick_ms:
            self.next_half_tick_ms += self.tick_time_ms // 2
            if self.established:
                if not self.tick_skip:
                    self.tick += 1
                    synced = {self.my_id, *self.synced_learners()}
                    if not self.quorum.contains_quorum(synced):
                        raise StepDown(f"not sufficient followers synced, only {sorted(synced)}")
                self.tick_skip = not self.tick_skip
                for handler in list(self.handlers.values()):
                    if handler.phase == LearnerPhase.BROADCAST:
                        self._ping(handler)
            else:
                self.tick_skip = not self.tick_skip
                if not self.tick_skip:
                    self.tick += 1
            for handler in list(self.handlers.values()):
                # The socket timeout of a learner handler: its deadline already allows
                # syncLimit ticks (initLimit + syncLimit before it is synchronized).
                if handler.ack_deadline_tick <= self.tick:
                    self._drop(handler, "silent for too long")

    def _ping(self, handler: LearnerHandler) -> None:
        """PING a synchronized learner (``LearnerHandler.ping``: the last proposed zxid)."""
        handler.pings_sent += 1
        self._send(
            handler, self._packet(PacketType.PING, self.peer.core.last_proposed), at_once=True
        )

    def _stage_set(self) -> set[int]:
        if self.waiting_for_new_epoch:
            return self.connecting
        if not self.election_finished:
            return self.electing
        return self.newleader_acks

    def learner_count(self) -> int:
        return len(self.handlers)

    def pending_sync_count(self) -> int:
        return sum(len(conns) for conns in self.pending_syncs.values()) + len(self.quorum_syncs)

    def committed_queue(self) -> deque[Txn]:
        return self.peer.committed_log
