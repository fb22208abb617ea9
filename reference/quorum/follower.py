"""The follower: discovery, synchronization and broadcast from a following server's side.

Apache ZooKeeper's ``Learner``/``Follower`` (``connectToLeader``, ``registerWithLeader``,
``syncWithLeader``, ``processPacket``) as a state machine driven by the quorum peer.

Theory of operation
-------------------
*Discovery.* The follower dials the leader's quorum port (a few tries, 100 ms apart, within
initLimit ticks; a connection the leader closes before answering is a refused try) and
announces its accepted epoch (FOLLOWERINFO). The leader answers with the new epoch
(LEADERINFO). A newer epoch is accepted — made durable (``WriteAcceptedEpoch``)
*before* ACKEPOCH tells the leader so — and ACKEPOCH carries the current epoch and the last
logged zxid; the epoch already accepted is answered with −1; an older one ends the attempt.

*Synchronization.* DIFF, TRUNC or SNAP, then proposals (and commits of some of them) until
NEWLEADER, then more until UPTODATE. Nothing reaches the tree before UPTODATE: the synced
txns are logged as they arrive, a SNAP's tree is kept aside until NEWLEADER, and the commits
only move the point up to which the log will be applied. Until UPTODATE the leader's epoch
is not established (a quorum has not acked NEWLEADER), and a leader that never establishes
it may leave behind, uncommitted, txns its history held; the next leader TRUNCs them, and
only what was never applied can be cut. If the leader goes away before NEWLEADER the server
is exactly as its disk says (a snapshot only in memory must not be voted with: ZK-3642,
ZK-3104). At NEWLEADER, in this order (the order the fixes of ZK-3911, ZK-4394, ZK-4643 and
ZK-4646 settled): the snapshot is installed and persisted, the epoch becomes current
(``WriteCurrentEpoch``), and only then — after all of it is durable — the ACK of NEWLEADER
and the acks of the proposals received so far go out. UPTODATE applies the log up to the
last commit and starts serving clients. (Apache applies the commits it receives before
NEWLEADER at once and rolls its tree back by reloading it from disk should a TRUNC come
later; zkref applies nothing it may have to take back.)

*Broadcast.* A PROPOSAL is logged, and acked when the driver says it is durable
(``persisted``, as Apache's ``SendAckRequestProcessor`` acks after ``SyncRequestProcessor``
flushed); a COMMIT applies the next proposal (commits come in zxid order); PING is answered
with the sessions touched since the last one; SYNC answers the oldest sync forwarded — every
COMMIT the leader sent before it is applied by then, as commits are applied on arrival (with
the leader's quorumSync, this is what makes sync-then-read linearizable); REVALIDATE answers
a re-attaching session. What the follower sends in broadcast claims nothing about a disk
that is not yet durable, so none of it waits for the log (``QuorumSend.after_persists``): a
forwarded request does not queue behind an fsync.

*Liveness.* With no packet from the leader for syncLimit ticks (initLimit before NEWLEADER) the
follower gives up on it and looks for a leader again.
"""

from __future__ import annotations

import logging
from collections import deque
from enum import IntEnum
from typing import TYPE_CHECKING

from reference.jute import JuteError
from reference.persistence import Snapshot
from reference.quorum import apache_txn, plants
from reference.quorum.apache_snapshot import ApacheSnapshot, UnmappableSnapshot, to_zkref
from reference.quorum.messages import QuorumClose, QuorumConnect, QuorumSend
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket
from reference.quorum.wire_payloads import (
    ALREADY_ACKED_EPOCH,
    ZAB_PROTOCOL_VERSION,
    AckEpoch,
    ForwardedRequest,
    LearnerInfo,
    QuorumConfig,
    RevalidateRequest,
    RevalidateResponse,
    SessionTouch,
    SessionTouches,
    decode_payload,
)
from reference.ready import WriteAcceptedEpoch, WriteCurrentEpoch
from reference.txn import Txn
from reference.watchmanager import WatchManager
from spec.acl import Id
from spec.opcodes import OpCode
from spec.zxid import Zxid

if TYPE_CHECKING:
    from reference.quorum.peer import QuorumPeer

log = logging.getLogger("zkref.quorum.follower")

# Learner.connectToLeader: tries, and the pause between them (leaderConnectDelayDuringRetryMs).
CONNECT_TRIES_MAX = 5
CONNECT_RETRY_DELAY_MS = 100


def _unexpected(kind: int, where: str) -> Exception:
    """What a packet the follower does not expect ends in: a reconfiguration is refused
    (``Leader.commitAndActivate``, ``buildInformAndActivePacket``: dynamic reconfiguration,
    which zkref's static configuration does not do), anything else gives up."""
    if kind in (PacketType.COMMITANDACTIVATE, PacketType.INFORMANDACTIVATE):
        return Refusal(
            f"{PacketType(kind).name}: the leader reconfigures the ensemble; zkref supports "
            "only the static server.N lines of zoo.cfg"
        )
    try:
        name = PacketType(kind).name
    except ValueError:
        name = f"packet type {kind}"
    return GiveUp(f"{name} {where}" if where.startswith("while") else f"unexpected {name} {where}")


class FollowerPhase(IntEnum):
    CONNECTING = 0
    LEADERINFO_WAIT = 1  # FOLLOWERINFO sent
    SYNC_WAIT = 2  # ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP
    SYNCING = 3  # until NEWLEADER
    UPTODATE_WAIT = 4  # NEWLEADER acked
    BROADCAST = 5
    REFUSED = 6  # the leader asks what zkref cannot do: connection closed, waiting to retry


class GiveUp(Exception):
    """The follower stops following this leader (it goes back to looking)."""


class Refusal(Exception):
    """The leader asks what zkref cannot do (``Follower.received``)."""


class Follower:
    """The following server's half of ZAB (see the module docstring)."""

    def __init__(self, peer: QuorumPeer, leader_id: int, conn: int, now_ms: int) -> None:
        self.peer = peer
        self.leader_id = leader_id
        self.conn = conn
        self.phase = FollowerPhase.CONNECTING
        self.tries = 1
        tick = peer.config.tick_time_ms
        self.connect_deadline_ms = now_ms + peer.config.init_limit * tick
        self.retry_at_ms: int | None = None
        self.read_deadline_ms = now_ms + peer.config.init_limit * tick
        self.new_epoch = -1
        self.sync_mode = ""
        self.refused = ""  # why, once REFUSED
        # Synchronization: a SNAP's state kept aside until NEWLEADER, and whether the
        # proposals received since are committed.
        self.sync_snapshot: Snapshot | None = None
        self.sync_proposals: list[Txn] = []
        self.sync_committed: set[int] = set()
        self.snap_zxid = -1
        self.awaiting_snapshot = False
        # The log is applied up to here at UPTODATE: what the synchronization says is in
        # the leader's history, then each COMMIT.
        self.commit_point = -1
        # Syncs forwarded to the leader, oldest first: the session of each.
        self.pending_syncs: deque[int] = deque()
        # Proposals logged in broadcast and not yet acked (acked once durable), in order.
        self.unacked: deque[int] = deque()
        peer.send(QuorumConnect(conn, leader_id))

    # --- helpers -----------------------------------------------------------------------------

    def _send(self, packet: QuorumPacket, at_once: bool = False) -> None:
        """Send ``packet`` to the leader; ``at_once`` when it claims nothing about a disk
        not yet durable (``QuorumSend.after_persists``)."""
        self.peer.send(QuorumSend(self.conn, packet, after_persists=not at_once))

    def close(self) -> None:
        self.peer.send(QuorumClose(self.conn))

    # --- connection --------------------------------------------------------------------------

    def connected(self, now_ms: int) -> None:
        """The dial succeeded: announce ourselves (``registerWithLeader``)."""
        assert self.phase == FollowerPhase.CONNECTING
        self.phase = FollowerPhase.LEADERINFO_WAIT
        self.read_deadline_ms = now_ms + self.peer.config.init_limit * self.peer.config.tick_time_ms
        info = LearnerInfo(self.peer.config.my_id, ZAB_PROTOCOL_VERSION, 0).encode()
        accepted = Zxid.first_of(self.peer.accepted_epoch)
        self._send(QuorumPacket(PacketType.FOLLOWERINFO, accepted, info, None))

    def connection_failed(self, now_ms: int) -> None:
        """The dial failed, or the connection closed: retry while we may, else give up.

        A connection that closes before the leader said anything counts as a failed dial:
        a server that has not yet finished its own election accepts on its quorum port and
        closes at once, where Apache's is not listening yet and refuses the connection, and
        the learner retries (``Learner.LeaderConnector``). Giving up instead started a new
        election round that the new leader, still in the old one, could not join: both
        waited initLimit ticks. A leader that closes once it has spoken is gone.
        """
        if self.phase == FollowerPhase.REFUSED:
            return  # we closed it
        if self.phase not in (FollowerPhase.CONNECTING, FollowerPhase.LEADERINFO_WAIT):
            raise GiveUp("the leader closed the connection")
        self.phase = FollowerPhase.CONNECTING
        if (
            self.tries >= CONNECT_TRIES_MAX
            or now_ms + CONNECT_RETRY_DELAY_MS >= self.connect_deadline_ms
        ):
            raise GiveUp(f"cannot connect to leader {self.leader_id}")
        self.phase = FollowerPhase.CONNECTING
        self.retry_at_ms = now_ms + CONNECT_RETRY_DELAY_MS

    def next_deadline(self) -> int:
        if self.retry_at_ms is not None:
            return self.retry_at_ms
        if self.phase == FollowerPhase.CONNECTING:
            return self.connect_deadline_ms
        return self.read_deadline_ms

    def on_tick(self, now_ms: int) -> None:
        if self.retry_at_ms is not None and now_ms >= self.retry_at_ms:
            self.retry_at_ms = None
            self.tries += 1
            self.conn = self.peer.new_quorum_conn()
            self.peer.send(QuorumConnect(self.conn, self.leader_id))
            return
        if self.phase == FollowerPhase.CONNECTING:
            if now_ms >= self.connect_deadline_ms:
                # The dial neither succeeded nor failed in initLimit ticks.
                raise GiveUp(f"cannot connect to leader {self.leader_id} in time")
            return
        if now_ms >= self.read_deadline_ms:
            if self.phase == FollowerPhase.REFUSED:
                raise GiveUp(f"refused leader {self.leader_id}: {self.refused}")
            raise GiveUp(f"no packet from leader {self.leader_id} in time")

    # --- packets -----------------------------------------------------------------------------

    def received(self, event: QuorumPacket | ApacheSnapshot, now_ms: int) -> None:
        tick = self.peer.config.tick_time_ms
        limit = (
            self.peer.config.sync_limit
            if self.phase >= FollowerPhase.UPTODATE_WAIT
            else self.peer.config.init_limit
        )
        if self.phase == FollowerPhase.REFUSED:
            return
        self.read_deadline_ms = now_ms + limit * tick
        try:
            if isinstance(event, ApacheSnapshot):
                self._snapshot(event)
            else:
                self._packet(event, now_ms)
        except Refusal as refusal:
            self._refuse(str(refusal), now_ms)
        except apache_txn.UnmappableTxn as error:
            self._refuse(f"it sent what zkref cannot apply: {error}", now_ms)
        except (JuteError, UnmappableSnapshot) as error:
            raise GiveUp(f"bad packet from the leader: {error}") from None

    def _refuse(self, why: str, now_ms: int) -> None:
        """A leader zkref cannot follow (a dynamic or hierarchical configuration, a
        reconfiguration, a txn it cannot apply): close the connection, say why, and give up
        only after syncLimit ticks, so that a server refused again and again — its election
        will name the same leader — does not dial it in a tight loop. Nothing of this leader's
        epoch is current: NEWLEADER was not acked."""
        config = self.peer.config
        delay_ms = config.sync_limit * config.tick_time_ms
        log.warning(
            "follower %d: refusing leader %d: %s; trying again in %d ms",
            config.my_id,
            self.leader_id,
            why,
            delay_ms,
        )
        self.close()
        self.phase = FollowerPhase.REFUSED
        self.refused = why
        self.read_deadline_ms = now_ms + delay_ms

    def _packet(self, packet: QuorumPacket, now_ms: int) -> None:
        kind = packet.type
        phase = self.phase
        if phase == FollowerPhase.LEADERINFO_WAIT:
            if kind != PacketType.LEADERINFO:
                raise GiveUp(f"first packet from the leader is {kind}, not LEADERINFO")
            self._leader_info(packet)
        elif phase == FollowerPhase.SYNC_WAIT:
            self._sync_start(packet)
        elif phase == FollowerPhase.SYNCING:
            self._syncing(packet)
        elif phase == FollowerPhase.UPTODATE_WAIT:
            if kind == PacketType.UPTODATE:
                # The leader's epoch is established: what it committed is ours to apply.
                self.peer.apply_pending(self.commit_point)
                self.phase = FollowerPhase.BROADCAST
                self.peer.follower_serving()
            elif kind == PacketType.PROPOSAL:
                self._broadcast(packet, now_ms)
            elif kind == PacketType.COMMIT:
                self._commit_before_uptodate(packet.zxid)
            else:
                self._broadcast(packet, now_ms)
        elif phase == FollowerPhase.BROADCAST:
            self._broadcast(packet, now_ms)
        else:
            raise GiveUp(f"packet {kind} before the connection is up")

    def _leader_info(self, packet: QuorumPacket) -> None:
        peer = self.peer
        new_epoch = Zxid(packet.zxid).epoch
        self.new_epoch = new_epoch
        if new_epoch > peer.accepted_epoch:
            data = AckEpoch(peer.current_epoch).encode()
            peer.accepted_epoch = new_epoch
            peer.persist(WriteAcceptedEpoch(new_epoch))
        elif new_epoch == peer.accepted_epoch:
            data = AckEpoch(ALREADY_ACKED_EPOCH).encode()
        else:
            raise GiveUp(
                f"leader's epoch {new_epoch} is older than our accepted {peer.accepted_epoch}"
            )
        self.phase = FollowerPhase.SYNC_WAIT
        self._send(QuorumPacket(PacketType.ACKEPOCH, peer.log_last, data, None))

    def _sync_start(self, packet: QuorumPacket) -> None:
        peer = self.peer
        kind = packet.type
        log_end = peer.log_last
        if kind == PacketType.DIFF:
            self.sync_mode = "DIFF"
            # Our whole log is in the leader's history: committed once its epoch is.
            self.commit_point = peer.log_last
        elif kind == PacketType.TRUNC:
            self.sync_mode = "TRUNC"
            if plants.TRUNC_IGNORED:
                self.commit_point = peer.log_last
            else:
                peer.truncate(packet.zxid)
                self.commit_point = packet.zxid
        elif kind == PacketType.SNAP:
            self.sync_mode = "SNAP"
            self._log_sync(packet.zxid, log_end)
            self.snap_zxid = packet.zxid
            self.phase = FollowerPhase.SYNCING
            self.awaiting_snapshot = True
            return
        else:
            raise GiveUp(f"{kind} instead of DIFF, TRUNC or SNAP")
        self._log_sync(packet.zxid, log_end)
        peer.sync_counts[self.sync_mode] = peer.sync_counts.get(self.sync_mode, 0) + 1
        self.awaiting_snapshot = False
        self.phase = FollowerPhase.SYNCING

    def _log_sync(self, zxid: int, log_end: int) -> None:
        """What Apache's learner logs at the same point (``Learner.syncWithLeader``: "Getting
        a diff from the leader", "Truncating log", "Getting a snapshot")."""
        log.info(
            "follower %d: leader %d synchronizes us by %s (zxid %#x; our log ended at %#x)",
            self.peer.config.my_id,
            self.leader_id,
            self.sync_mode,
            zxid,
            log_end,
        )

    def _snapshot(self, snapshot: ApacheSnapshot) -> None:
        if self.phase != FollowerPhase.SYNCING or not self.awaiting_snapshot:
            raise GiveUp("a snapshot without SNAP")
        self.awaiting_snapshot = False
        peer = self.peer
        tree, sessions = to_zkref(
            snapshot, self.snap_zxid, extended_types_enabled=peer.core.config.extended_types_enabled
        )
        keep_all = peer.core.profile.watch_mode_set
        tree.data_watches = WatchManager(keep_all)
        tree.child_watches = WatchManager(keep_all)
        self.sync_snapshot = Snapshot(self.snap_zxid, tree, list(sessions), 0)
        peer.sync_counts["SNAP"] = peer.sync_counts.get("SNAP", 0) + 1

    def _syncing(self, packet: QuorumPacket) -> None:
        kind = packet.type
        if self.awaiting_snapshot:
            raise GiveUp(f"{kind} where the snapshot should be")
        if kind == PacketType.PROPOSAL:
            txn = self._proposal(packet)
            if self.sync_mode == "SNAP" and txn.header.zxid <= self.snap_zxid:
                # In the snapshot already: Apache's leader chooses what to forward, then
                # names the zxid its tree has reached when it starts the snapshot
                # (``LearnerHandler.syncFollower``, then ``run``), so the first proposals
                # after SNAP may be in it; its learner applies them again, harmlessly.
                return
            # Each after the last: after our log (DIFF, TRUNC) or the snapshot (SNAP).
            if self.sync_proposals:
                floor = self.sync_proposals[-1].header.zxid
            else:
                floor = self.snap_zxid if self.sync_mode == "SNAP" else self.peer.log_last
            if txn.header.zxid <= floor:
                raise GiveUp(f"proposal {txn.header.zxid:#x} during sync, at or below {floor:#x}")
            self.sync_proposals.append(txn)
            if self.sync_mode != "SNAP" and not plants.CURRENT_EPOCH_BEFORE_TXNS:
                # After a SNAP the log starts at the snapshot, persisted at NEWLEADER.
                self.peer.append(txn, log=not plants.DIFF_TXNS_NOT_LOGGED)
        elif kind == PacketType.COMMIT:
            if self.sync_mode == "SNAP" and packet.zxid <= self.snap_zxid:
                return  # of a proposal the snapshot holds
            # Commits come in zxid order, each after its proposal (the leader's DIFF pairs,
            # then commits of the proposals it forwards): anything else is a broken leader.
            done = len(self.sync_committed)
            if done == len(self.sync_proposals):
                raise GiveUp(f"COMMIT {packet.zxid:#x} of no proposal")
            head = self.sync_proposals[done].header.zxid
            if packet.zxid != head:
                raise GiveUp(f"COMMIT {packet.zxid:#x} but the next proposal is {head:#x}")
            self.sync_committed.add(packet.zxid)
            self.commit_point = packet.zxid
        elif kind == PacketType.NEWLEADER:
            self._new_leader(packet)
        else:
            raise _unexpected(kind, "while synchronizing")

    def _proposal(self, packet: QuorumPacket) -> Txn:
        entry = decode_payload(packet, PacketSender.LEADER)
        assert isinstance(entry, apache_txn.TxnEntry)
        txn = apache_txn.to_zkref(entry)
        if txn.header.zxid != packet.zxid:
            raise GiveUp(f"PROPOSAL {packet.zxid:#x} carries txn {txn.header.zxid:#x}")
        if entry.digest is not None:
            self.peer.expect_digest(txn.header.zxid, entry.digest)
        return txn

    def _new_leader(self, packet: QuorumPacket) -> None:
        """NEWLEADER, in the order that keeps every acked txn durable (module docstring).

        Its data is the leader's configuration (``Leader.getQuorumVerifierBytes``; none from
        a leader before Zab 1.0): one zkref cannot follow — dynamic (a version other than 0),
        hierarchical, with observers, or other servers than ours — is refused before
        anything is persisted (``ParsedQuorumConfig.differs_from``)."""
        peer = self.peer
        if Zxid(packet.zxid).epoch != self.new_epoch:
            raise GiveUp(f"NEWLEADER {packet.zxid:#x} is not of epoch {self.new_epoch}")
        config = decode_payload(packet, PacketSender.LEADER)
        if isinstance(config, QuorumConfig) and len(config.text) > 1:
            refused = config.parse().differs_from(peer.config.voters)
            if refused is not None:
                raise Refusal(refused)
        if plants.CURRENT_EPOCH_BEFORE_TXNS and self.sync_mode != "SNAP":
            peer.current_epoch = self.new_epoch
            peer.persist(WriteCurrentEpoch(self.new_epoch))
            for txn in self.sync_proposals:
                peer.append(txn)
        if self.sync_mode == "SNAP":
            if self.sync_snapshot is None:
                raise GiveUp("NEWLEADER before the snapshot")
            peer.install_snapshot(self.sync_snapshot)
            self.sync_snapshot = None
            self.commit_point = max(self.commit_point, self.snap_zxid)
            if self.sync_proposals:
                # Apache streams its snapshot while it applies txns: the proposals sent
                # before NEWLEADER may be in it already, in part (``DataTree.replay_until``).
                peer.core.tree.replay_until = self.sync_proposals[-1].header.zxid
            for txn in self.sync_proposals:
                peer.append(txn)
        committed = [t for t in self.sync_proposals if t.header.zxid in self.sync_committed]
        # Commits come in order and only for proposals sent: a prefix.
        assert self.sync_proposals[: len(committed)] == committed, "commits out of order"
        uncommitted = self.sync_proposals[len(committed) :]
        self.sync_proposals = []
        self.sync_committed = set()
        peer.current_epoch = self.new_epoch
        peer.persist(WriteCurrentEpoch(self.new_epoch))
        peer.update_vote_epoch(self.new_epoch)
        self.phase = FollowerPhase.UPTODATE_WAIT
        self._send(QuorumPacket(PacketType.ACK, packet.zxid, None, None))
        for txn in uncommitted:
            self._send(QuorumPacket(PacketType.ACK, txn.header.zxid, None, None))

    def _commit_before_uptodate(self, zxid: int) -> None:
        """A COMMIT between NEWLEADER and UPTODATE: of the next logged txn not committed
        yet; applied at UPTODATE."""
        nxt = next(
            (t.header.zxid for t in self.peer.pending if t.header.zxid > self.commit_point), None
        )
        if zxid != nxt:
            raise GiveUp(f"COMMIT {zxid:#x} but the next proposal is {nxt}")
        self.commit_point = zxid

    def _broadcast(self, packet: QuorumPacket, now_ms: int) -> None:
        peer = self.peer
        kind = packet.type
        if kind == PacketType.PROPOSAL:
            txn = self._proposal(packet)
            expected = Zxid(peer.log_last)
            if txn.header.zxid <= peer.log_last:
                raise GiveUp(f"proposal {txn.header.zxid:#x} at or below our log {expected.hex()}")
            if plants.ACK_BEFORE_LOG:
                self._send(QuorumPacket(PacketType.ACK, txn.header.zxid, None, None), at_once=True)
                peer.append(txn, log=False)
                return
            peer.append(txn)
            self.unacked.append(txn.header.zxid)  # acked in ``persisted``
        elif kind == PacketType.COMMIT:
            if (
                plants.ACK_BEFORE_LOG
                and peer.pending
                and peer.pending[0].header.zxid == packet.zxid
            ):
                peer.persist_txn(peer.pending[0])
            peer.apply_pending(packet.zxid, exactly=True)
        elif kind == PacketType.PING:
            touches = peer.core.tracker.take_touches()
            data = SessionTouches(
                tuple(SessionTouch(sid, timeout) for sid, timeout in touches.items())
            ).encode()
            self._send(
                QuorumPacket(PacketType.PING, packet.zxid, data, packet.authinfo), at_once=True
            )
        elif kind == PacketType.SYNC:
            if not self.pending_syncs:
                raise GiveUp("SYNC from the leader with no sync outstanding")
            session_id = self.pending_syncs.popleft()
            peer.core.synced(session_id)
        elif kind == PacketType.REVALIDATE:
            answer = decode_payload(packet, PacketSender.LEADER)
            assert isinstance(answer, RevalidateResponse)
            peer.core.revalidated(answer.sessionId, answer.valid)
        elif kind == PacketType.UPTODATE:
            pass
        else:
            raise _unexpected(kind, "from the leader")
        del now_ms

    # --- the core's broadcast ----------------------------------------------------------------

    def forward(
        self, session_id: int, cxid: int, opcode: int, body: bytes, auth_ids: list[Id]
    ) -> None:
        """``Learner.request``: a client's write, session create/close or sync."""
        if opcode == OpCode.sync:
            self.pending_syncs.append(session_id)
        data = ForwardedRequest(session_id, cxid, opcode, body).encode()
        self._send(QuorumPacket(PacketType.REQUEST, -1, data, tuple(auth_ids)), at_once=True)

    def revalidate(self, session_id: int, timeout_ms: int) -> None:
        data = RevalidateRequest(session_id, timeout_ms).encode()
        self._send(QuorumPacket(PacketType.REVALIDATE, -1, data, None), at_once=True)

    def persisted(self, zxid: int) -> None:
        """Our log has every txn up to ``zxid``: ack the proposals it covers, in order."""
        unacked = self.unacked
        while unacked and unacked[0] <= zxid:
            self._send(QuorumPacket(PacketType.ACK, unacked.popleft(), None, None), at_once=True)
