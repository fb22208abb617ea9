"""The quorum peer: one server of an ensemble, sans I/O — election, role, log and clients.

This is Apache ZooKeeper's ``QuorumPeer`` (``run``: look for a leader, then lead or follow,
then look again) around the client core (``reference.core``). Everything that changes a
peer's state (LOOKING, FOLLOWING, LEADING) lives in this file, in ``TRANSITIONS``.

Inputs: election notifications, quorum packets and connection events, client frames, the
clock (``tick``), and durability (``persisted``). Output: one ``reference.ready.Ready`` at a
time (``ready``), carried out under the contract stated there: persist, then send, clients
now. Nothing this peer decides is hidden from its outputs.

The log as this peer sees it:

* ``log_last``: the zxid of the last txn in the log, as asked to persist (after a TRUNC or a
  SNAP, what is left). Votes and ACKEPOCH carry it; they are sent only once it is durable.
* ``pending``: txns logged and not known to be committed, in zxid order: a follower's
  proposals before their COMMIT, everything a synchronization brings until UPTODATE, a
  leader's own log until it establishes its epoch, and after a restart the whole log past the
  snapshot (Apache loads it into its tree, ``ZKDatabase.loadDataBase``; zkref keeps it aside).
* The tree holds committed txns only: nothing is applied before a leader has established its
  epoch with it (a leader applies its log when a quorum acked NEWLEADER; a follower applies
  what it synchronized at UPTODATE). So a TRUNC only ever cuts ``pending``, and no state needs
  rolling back, where Apache reloads its database from disk (``ZKDatabase.truncateLog``).
* ``committed_log``: the last ``commit_log_count`` txns applied, from which (with
  ``pending``) a leader sends DIFFs (``ZKDatabase.committedLog``; ``zookeeper.commitLogCount``).

The tree's digest (``reference.quorum.apache_digest``; ``digest.enabled``, on by default as
in Apache ZooKeeper 3.6+). Every txn applied moves it (``digest``). A leader puts in each
proposal the digest its tree will have once that proposal is applied (``proposal_digests``);
a follower keeps the digest each proposal from its leader carries (``expect_digest``) and
compares it with its own once it applies that txn, as Apache's ``DataTree.compareDigest``
does: a mismatch means the two trees differ. It is logged and counted
(``digest_mismatches``, ``zk_digest_mismatches_count`` in ``mntr``), as Apache does; the
follower goes on. A leader checks its own proposals' digests the same way.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from reference.core import Role, ZooKeeperCore
from reference.persistence import (
    SessionImage,
    Snapshot,
    decode_snapshot,
    decode_txn,
    encode_snapshot,
)
from reference.quorum import apache_txn, plants
from reference.quorum.apache_digest import ProposalDigests, TreeDigest
from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election import Election, Quorum, Vote, reply_to
from reference.quorum.election_wire import Notification, ServerState
from reference.quorum.follower import Follower, GiveUp
from reference.quorum.leader import Leader, StepDown
from reference.quorum.messages import ElectionSend, Send
from reference.quorum.wire import PacketType, QuorumPacket
from reference.ready import InstallSnapshot, PersistAction, Ready, TruncateLog
from reference.txn import ErrorTxn, Txn
from spec.acl import Id
from spec.opcodes import OpCode
from spec.state import Config
from spec.zxid import CounterExhausted

log = logging.getLogger("zkref.quorum.peer")

COMMIT_LOG_COUNT_DEFAULT: Final = 500  # zookeeper.commitLogCount

# The peer's states and what moves it between them (QuorumPeer.run): an election ends in
# leading or following; leading or following ends (a stage times out, the quorum or the
# leader is lost, bad input) back in looking.
TRANSITIONS: Final[dict[ServerState, dict[str, ServerState]]] = {
    ServerState.LOOKING: {
        "elected self": ServerState.LEADING,
        "elected other": ServerState.FOLLOWING,
    },
    ServerState.LEADING: {"step down": ServerState.LOOKING},
    ServerState.FOLLOWING: {"give up": ServerState.LOOKING},
}


class PeerObserver(Protocol):
    """What a simulator watches that no output shows: each txn applied to the tree, each epoch
    this peer leads through discovery and each it establishes (for the invariants of
    ``simulation``)."""

    def applied(self, sid: int, txn: Txn, previous_zxid: int) -> None:
        """``txn`` was applied on server ``sid``, whose tree was at ``previous_zxid``."""

    def epoch_agreed(self, sid: int, epoch: int) -> None:
        """Server ``sid``, as leader, has a quorum of ACKEPOCHs for ``epoch`` (discovery is
        over: ``Leader.waitForEpochAck`` returned)."""

    def established(self, sid: int, epoch: int) -> None:
        """Server ``sid`` established ``epoch`` as its leader (a quorum acked NEWLEADER)."""


class StartupError(Exception):
    """The data directory is not a state a peer may start from (``loadDataBase``)."""


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """What one server of an ensemble is told (zoo.cfg names in comments)."""

    my_id: int  # myid
    voters: tuple[int, ...]  # the ids of the server.N lines
    tick_time_ms: int = 2000  # tickTime
    init_limit: int = 10  # initLimit (ticks)
    sync_limit: int = 5  # syncLimit (ticks)
    commit_log_count: int = COMMIT_LOG_COUNT_DEFAULT
    # The ensemble's configuration as QuorumVerifier.toString writes it: sent in every
    # notification and in NEWLEADER.
    quorum_config: bytes = b""
    digest_enabled: bool = True  # digest.enabled (zookeeper.digest.enabled)

    def __post_init__(self) -> None:
        assert self.my_id in self.voters, f"myid {self.my_id} is not one of {self.voters}"
        assert self.init_limit > 0 and self.sync_limit > 0 and self.tick_time_ms > 1


class QuorumPeer:
    """One server of an ensemble (see the module docstring)."""

    def __init__(
        self,
        config: PeerConfig,
        core: ZooKeeperCore,
        now_ms: int,
        accepted_epoch: int,
        current_epoch: int,
        logged: Iterable[Txn] = (),
    ) -> None:
        self.config = config
        self.core = core
        self.now = now_ms
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        # What the log holds past the tree (after a restart: everything past the snapshot).
        self.pending: deque[Txn] = deque(logged)
        self.log_last = self.pending[-1].header.zxid if self.pending else core.last_zxid
        self.committed_log: deque[Txn] = deque(maxlen=config.commit_log_count)
        self.state = ServerState.LOOKING
        self.election = Election(config.my_id, Quorum(config.voters), config.quorum_config)
        self.vote = Vote(config.my_id, self.log_last, 0, current_epoch)
        self.leader: Leader | None = None
        self.follower: Follower | None = None
        self._next_quorum_conn = -1
        # How many of each sync this peer took as a follower, and sent as a leader.
        self.sync_counts: dict[str, int] = {}
        self.syncs_sent: dict[str, int] = {}
        self.observer: PeerObserver | None = None
        self.elections = 0
        # The tree's digest, the digests our leader's proposals carry (by zxid), the
        # mismatches found, and (leading) the digests of our own proposals.
        self.digest = TreeDigest(core.tree) if config.digest_enabled else None
        self.expected_digests: dict[int, int] = {}
        self.digests_compared = 0
        self.digest_mismatches = 0
        self.proposal_digests: ProposalDigests | None = None
        core.role = Role.NOT_SERVING
        core.tracker.stop_deciding_expiry()
        core.broadcast = self
        self._look(now_ms)

    @classmethod
    def restore(
        cls,
        config: PeerConfig,
        core_config: Config,
        now_ms: int,
        snapshot: bytes | None,
        txns: list[bytes],
        accepted_epoch: int | None,
        current_epoch: int | None,
    ) -> QuorumPeer:
        """A peer from its data directory (``QuorumPeer.loadDataBase``): the tree from the
        snapshot, the log past it kept aside (not applied: which of it is committed, the next
        leader decides), the epochs from their files.

        A missing currentEpoch is the epoch of the last zxid; a missing acceptedEpoch is the
        currentEpoch. ``StartupError`` when acceptedEpoch is behind currentEpoch, as Apache
        refuses to start then; a log ahead of currentEpoch is a synchronization a crash cut
        short, and the server starts (Apache refuses).
        """
        core = ZooKeeperCore(core_config, now_ms)
        if snapshot is not None:
            image = decode_snapshot(snapshot, core_config.profile.watch_mode_set)
            core.load_snapshot(image, now_ms)
        logged: list[Txn] = []
        for blob in txns:
            txn = decode_txn(blob)
            if txn.header.zxid <= core.last_zxid:
                continue
            logged.append(txn)
        core.restart_sessions(now_ms)
        core.last_proposed = core.last_zxid
        last_logged = logged[-1].header.zxid if logged else core.last_zxid
        # The snapshot may be a leader's fuzzy one (``Follower``, SNAP): the log after it is
        # replayed as Apache replays its log over a snapshot (``DataTree.replay_until``).
        core.tree.replay_until = last_logged
        epoch_of_zxid = last_logged >> 32
        if current_epoch is None:
            current_epoch = epoch_of_zxid
        if epoch_of_zxid > current_epoch:
            # A follower logs what its synchronization brings (txns of the new epoch too, when
            # it joins an established one) before it makes the new epoch current at NEWLEADER;
            # a crash between the two leaves this. Nothing of it was acked (the ACKs wait for
            # the currentEpoch), so the server starts and under-claims: its votes carry the
            # older epoch. Apache refuses to start here (``loadDataBase``: "The current epoch
            # ... is older than the last zxid") unless currentEpoch.tmp exists
            # (spec/DIVERGENCES.md 16).
            log.warning(
                "the current epoch, %d, is older than the last zxid, %#x: a synchronization "
                "was cut short by a crash; starting with the current epoch as it is",
                current_epoch,
                last_logged,
            )
        if accepted_epoch is None:
            accepted_epoch = current_epoch
        if accepted_epoch < current_epoch:
            raise StartupError(
                f"the current epoch, {current_epoch}, is after the accepted epoch, {accepted_epoch}"
            )
        return cls(config, core, now_ms, accepted_epoch, current_epoch, logged)

    # --- effects -------------------------------------------------------------------------

    @property
    def out(self) -> Ready:
        return self.core.out

    def ready(self) -> Ready:
        return self.core.ready()

    def send(self, message: Send) -> None:
        self.core.out.send.append(message)

    def persist(self, action: PersistAction) -> None:
        self.core.out.persist.append(action)

    def persist_txn(self, txn: Txn) -> None:
        """Log a txn already appended in memory (only a planted bug needs this)."""
        self.core.out.persist.append(txn)

    def append(self, txn: Txn, log: bool = True) -> None:
        """Log a txn (not yet applied); with ``log`` False only a planted bug does not."""
        assert txn.header.zxid > self.log_last, "the log only grows"
        if log:
            self.core.out.persist.append(txn)
        self.pending.append(txn)
        self.log_last = txn.header.zxid

    def new_quorum_conn(self) -> int:
        conn = self._next_quorum_conn
        self._next_quorum_conn -= 1
        return conn

    def proposal_packet(self, txn: Txn, digest: int | None = None) -> QuorumPacket:
        """The PROPOSAL of a txn, in Apache's serialization, with a ``TxnDigest`` if given."""
        entry = apache_txn.from_zkref(
            txn, None if digest is None else apache_txn.TxnDigest(apache_txn.DIGEST_VERSION, digest)
        )
        data = apache_txn.encode_txn_entry(entry)
        return QuorumPacket(PacketType.PROPOSAL, txn.header.zxid, data, None)

    def new_proposal_packet(self, txn: Txn) -> QuorumPacket:
        """A leader's PROPOSAL of a txn it has just prepared: with the digest its tree will
        have once the txn is applied, which we check ourselves when it is; an error txn has
        none (``PrepRequestProcessor``)."""
        digests = self.proposal_digests
        if digests is None or isinstance(txn.body, ErrorTxn):
            return self.proposal_packet(txn)
        digest = digests.propose(txn)
        self.expected_digests[txn.header.zxid] = digest
        return self.proposal_packet(txn, digest)

    def expect_digest(self, zxid: int, digest: apache_txn.TxnDigest) -> None:
        """The leader's proposal of ``zxid`` says our tree's digest once it is applied;
        one of another digest version is not compared (``DataTree.compareDigest``)."""
        if self.digest is not None and digest.version == apache_txn.DIGEST_VERSION:
            self.expected_digests[zxid] = digest.treeDigest

    # --- the log and the tree -------------------------------------------------------------

    def commit(self, txn: Txn) -> None:
        """A txn committed (the leader's quorum): apply it and answer its client."""
        assert self.pending and self.pending[0] is txn, "commits apply the log in order"
        self.pending.popleft()
        self.committed_log.append(txn)
        previous = self.core.last_zxid
        self._apply(txn)
        if self.observer is not None:
            self.observer.applied(self.config.my_id, txn, previous)

    def _apply(self, txn: Txn) -> None:
        """Apply a committed txn to the tree, moving its digest and comparing it with the
        one the txn's proposal carried."""
        digest = self.digest
        if digest is None:
            self.core.commit(txn)
            return
        touched = digest.before(self.core.tree, txn)
        self.core.commit(txn)
        digest.after(self.core.tree, touched)
        zxid = txn.header.zxid
        if self.proposal_digests is not None:
            self.proposal_digests.committed(zxid)
        expected = self.expected_digests.pop(zxid, None)
        if expected is None or zxid <= self.core.tree.replay_until:
            # Replayed over a fuzzy snapshot, the tree is at no one zxid until the replay
            # ends (Apache compares nothing while its tree is fuzzy: ``compareDigest``).
            return
        self.digests_compared += 1
        if expected != digest.value:
            self.digest_mismatches += 1
            count = self.digest_mismatches
            if count & (count - 1) == 0:  # the first, then ever more rarely
                log.error(
                    "server %d: digest mismatch %d at zxid %#x (%s): the proposal says %d, "
                    "our tree is %d: our tree differs from the leader's",
                    self.config.my_id,
                    count,
                    zxid,
                    type(txn.body).__name__,
                    expected,
                    digest.value,
                )

    def apply_pending(self, zxid: int, exactly: bool = False) -> None:
        """Apply the logged txns up to ``zxid`` (a COMMIT, or a leader's DIFF saying our
        log is in its history). With ``exactly``, the next pending txn must be ``zxid``."""
        if exactly and (not self.pending or self.pending[0].header.zxid != zxid):
            head = self.pending[0].header.zxid if self.pending else None
            raise GiveUp(f"COMMIT {zxid:#x} but the next proposal is {head}")
        while self.pending and self.pending[0].header.zxid <= zxid:
            txn = self.pending.popleft()
            self.committed_log.append(txn)
            previous = self.core.last_zxid
            self._apply(txn)
            if self.observer is not None:
                self.observer.applied(self.config.my_id, txn, previous)

    def truncate(self, zxid: int) -> None:
        """The leader's TRUNC: drop the logged txns after ``zxid``.

        Only ``pending`` can be cut: the tree holds committed txns, which no leader may take
        back. A TRUNC past the end of our log, below what we applied, or to a zxid our log
        does not hold, gives up before anything is persisted (Apache's learner exits when
        ``truncateLog`` fails): a log said to end where it does not would be voted with.
        """
        if not 0 <= zxid <= self.log_last:
            raise GiveUp(f"TRUNC to {zxid:#x} but our log ends at {self.log_last:#x}")
        if zxid < self.core.last_zxid:
            raise GiveUp(f"TRUNC to {zxid:#x} below what we applied, {self.core.last_zxid:#x}")
        kept = [t for t in self.pending if t.header.zxid <= zxid]
        if max([self.core.last_zxid, *(t.header.zxid for t in kept)]) != zxid:
            # Not a txn of our log (what we applied, then what we logged after it).
            raise GiveUp(f"TRUNC to {zxid:#x}, which our log cannot end at")
        self.persist(TruncateLog(zxid))
        self.pending = deque(kept)
        self.log_last = zxid
        for cut in [z for z in self.expected_digests if z > zxid]:
            del self.expected_digests[cut]

    def install_snapshot(self, snapshot: Snapshot) -> None:
        """A leader's SNAP, at NEWLEADER: the tree becomes the snapshot, and so does the log."""
        self.core.load_snapshot(snapshot, self.now)
        self.pending.clear()
        self.committed_log.clear()
        self.log_last = snapshot.zxid
        if self.digest is not None:
            self.digest = TreeDigest(self.core.tree)
        self.expected_digests.clear()
        images = [SessionImage(s.session_id, s.timeout_ms) for s in snapshot.sessions]
        if plants.SNAP_NOT_PERSISTED:
            return
        blob = encode_snapshot(self.core.tree, images, self.core.tracker.next_session_id)
        self.persist(InstallSnapshot(snapshot.zxid, blob))

    def update_vote_epoch(self, epoch: int) -> None:
        """``updateElectionVote``: the vote we answer with carries the new epoch."""
        vote = self.vote
        self.vote = Vote(vote.leader, vote.zxid, vote.election_epoch, epoch, vote.state)

    # --- looking -----------------------------------------------------------------------------

    def _look(self, now_ms: int) -> None:
        """Start an election round (``lookForLeader``) with our last logged zxid."""
        self.state = ServerState.LOOKING
        self.elections += 1
        zxid = self.core.last_zxid if plants.VOTE_APPLIED_ZXID else self.log_last
        step = self.election.start(now_ms, zxid, self.current_epoch)
        for out in step.sends:
            self.send(ElectionSend(out.to, out.notification))
        if step.elected is not None:
            self._elected(step.elected.vote, now_ms)

    def _elected(self, vote: Vote, now_ms: int) -> None:
        self.vote = Vote(
            vote.leader, vote.zxid, vote.election_epoch, vote.peer_epoch, ServerState.LOOKING
        )
        if vote.leader == self.config.my_id:
            self.state = TRANSITIONS[ServerState.LOOKING]["elected self"]
            log.info("server %d: LEADING (election %d)", self.config.my_id, vote.election_epoch)
            # Our whole log is the new epoch's history; it is applied once the epoch is
            # established (a quorum acked NEWLEADER), not before: until then it may be cut.
            self.leader = Leader(self, now_ms)
        else:
            self.state = TRANSITIONS[ServerState.LOOKING]["elected other"]
            log.info(
                "server %d: FOLLOWING %d (election %d)",
                self.config.my_id,
                vote.leader,
                vote.election_epoch,
            )
            self.follower = Follower(self, vote.leader, self.new_quorum_conn(), now_ms)

    def _stop_role(self, why: str, now_ms: int) -> None:
        """Leave leading or following (``QuorumPeer.run``'s finally): no clients, no role."""
        log.warning("server %d: %s; looking for a leader", self.config.my_id, why)
        core = self.core
        if self.leader is not None:
            for handler in list(self.leader.handlers.values()):
                self.leader._drop(handler, "the leader steps down")
            self.leader = None
            core.preparer.clear_outstanding()
            # Proposed and not committed: the next leader decides; they stay in our log.
        if self.follower is not None:
            self.follower.close()
            self.follower = None
        self.proposal_digests = None
        self.expected_digests.clear()
        core.close_all_connections()
        core.forget_uncommitted()
        core.role = Role.NOT_SERVING
        core.tracker.stop_deciding_expiry()
        self._look(now_ms)

    # --- inputs ------------------------------------------------------------------------------

    def election_received(self, now_ms: int, sender: int, n: Notification) -> None:
        """An election notification from server ``sender`` (``WorkerReceiver``)."""
        self.now = max(self.now, now_ms)
        if sender not in self.config.voters:
            return
        if self.state == ServerState.LOOKING:
            step = self.election.receive(self.now, sender, n)
            for out in step.sends:
                self.send(ElectionSend(out.to, out.notification))
            answer = reply_to(
                self.state,
                self.election.proposal(),
                self.election.logical_clock,
                n.state,
                n.electionEpoch,
                self.config.quorum_config,
            )
            if answer is not None and step.elected is None:
                self.send(ElectionSend(sender, answer))
            if step.elected is not None:
                self._elected(step.elected.vote, self.now)
            return
        answer = reply_to(
            self.state,
            self.vote,
            self.election.logical_clock,
            n.state,
            n.electionEpoch,
            self.config.quorum_config,
        )
        if answer is not None:
            self.send(ElectionSend(sender, answer))

    def quorum_accepted(self, now_ms: int, conn: int) -> None:
        """A learner connected to our quorum port."""
        self.now = max(self.now, now_ms)
        if self.leader is None:
            from reference.quorum.messages import QuorumClose

            self.send(QuorumClose(conn))
            return
        self.leader.accepted(conn)

    def quorum_connected(self, now_ms: int, conn: int) -> None:
        """Our dial to the leader succeeded."""
        self.now = max(self.now, now_ms)
        if self.follower is not None and self.follower.conn == conn:
            self.follower.connected(self.now)

    def quorum_closed(self, now_ms: int, conn: int) -> None:
        """A quorum connection closed (or a dial failed)."""
        self.now = max(self.now, now_ms)
        if self.leader is not None:
            self.leader.closed(conn)
        elif self.follower is not None and self.follower.conn == conn:
            try:
                self.follower.connection_failed(self.now)
            except GiveUp as why:
                self._stop_role(str(why), self.now)

    def quorum_received(self, now_ms: int, conn: int, event: QuorumPacket | ApacheSnapshot) -> None:
        """A packet (or a SNAP's snapshot) on a quorum connection."""
        self.now = max(self.now, now_ms)
        if self.leader is not None:
            if isinstance(event, QuorumPacket):
                try:
                    self.leader.received(conn, event, self.now)
                except StepDown as why:
                    self._stop_role(str(why), self.now)
                except CounterExhausted as why:
                    self._stop_role(f"zxid counter exhausted: {why}", self.now)
            return
        if self.follower is not None and self.follower.conn == conn:
            try:
                self.follower.received(event, self.now)
            except GiveUp as why:
                self._stop_role(str(why), self.now)

    def persisted(self, zxid: int) -> None:
        """Every txn this peer asked to log, up to ``zxid``, is durable."""
        if self.leader is not None and self.leader.established:
            try:
                self.leader.persisted(zxid)
            except CounterExhausted as why:
                self._stop_role(f"zxid counter exhausted: {why}", self.now)
        elif self.follower is not None:
            self.follower.persisted(zxid)

    def tick(self, now_ms: int) -> bool:
        """Time passed: election timers, leader pings and quorum checks, follower timeouts,
        and the core's session expiry and container checks. True if more may be due."""
        self.now = max(self.now, now_ms)
        if self.state == ServerState.LOOKING:
            step = self.election.tick(self.now)
            for out in step.sends:
                self.send(ElectionSend(out.to, out.notification))
            if step.elected is not None:
                self._elected(step.elected.vote, self.now)
            return False
        if self.leader is not None:
            try:
                self.leader.on_tick(self.now)
            except StepDown as why:
                self._stop_role(str(why), self.now)
                return False
        elif self.follower is not None:
            try:
                self.follower.on_tick(self.now)
            except GiveUp as why:
                self._stop_role(str(why), self.now)
                return False
        if self.core.role in (Role.LEADING, Role.FOLLOWING):
            try:
                return self.core.tick(self.now)
            except CounterExhausted as why:
                self._stop_role(f"zxid counter exhausted: {why}", self.now)
        return False

    def next_deadline(self) -> int:
        deadlines = []
        if self.state == ServerState.LOOKING:
            election = self.election.next_deadline()
            if election is not None:
                deadlines.append(election)
        if self.leader is not None:
            deadlines.append(self.leader.next_deadline())
        if self.follower is not None:
            deadlines.append(self.follower.next_deadline())
        if self.core.role in (Role.LEADING, Role.FOLLOWING):
            deadlines.append(self.core.next_deadline())
        return min(deadlines) if deadlines else self.now + self.config.tick_time_ms

    # --- clients -------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        return self.core.role in (Role.LEADING, Role.FOLLOWING)

    def connection_made(self, conn_id: int, address: str) -> None:
        self.core.connection_made(conn_id, address)
        if not self.serving:
            # ZooKeeperServer not running: the connection is closed at once.
            self.core.close_connection(conn_id)

    def receive(self, conn_id: int, payload: bytes, now_ms: int) -> None:
        self.now = max(self.now, now_ms)
        try:
            self.core.receive(conn_id, payload, self.now)
        except CounterExhausted as why:
            self._stop_role(f"zxid counter exhausted: {why}", self.now)

    def connection_lost(self, conn_id: int) -> None:
        self.core.connection_lost(conn_id)

    # --- roles, called by the leader and the follower ------------------------------------

    def leader_established(self, epoch: int) -> None:
        """A quorum acked NEWLEADER: serve clients, decide session expiry."""
        core = self.core
        if self.observer is not None:
            self.observer.established(self.config.my_id, epoch)
        core.role = Role.LEADING
        # The new epoch's history is committed: apply what we logged (before the sessions'
        # timeouts start, so that those created in it are known).
        self.apply_pending(self.log_last)
        if self.digest is not None:
            self.proposal_digests = ProposalDigests(core.tree, self.digest.value)
        core.tracker.decide_expiry(self.now)
        # startZkServer: every member reports the same vote to servers that join late
        # (ZOOKEEPER-1732).
        self.update_vote_epoch(epoch)
        for session in core.tracker.sessions.values():
            session.owner = session.owner or self.config.my_id

    def follower_serving(self) -> None:
        """UPTODATE: serve clients."""
        self.core.role = Role.FOLLOWING

    # --- the core's broadcast ---------------------------------------------------------------

    def propose(self, txn: Txn) -> None:
        assert self.leader is not None, "only a leader proposes"
        self.leader.propose(txn)

    def forward(
        self, session_id: int, cxid: int, opcode: int, body: bytes, auth_ids: list[Id]
    ) -> None:
        if self.leader is not None:
            # quorumSync: our own client's sync takes the leader's quorum round.
            assert opcode == OpCode.sync, "a leader forwards nothing but its own clients' syncs"
            self.leader.local_sync(session_id)
            return
        assert self.follower is not None, "only a follower forwards"
        self.follower.forward(session_id, cxid, opcode, body, auth_ids)

    def revalidate(self, session_id: int, timeout_ms: int) -> None:
        assert self.follower is not None, "only a follower revalidates"
        self.follower.revalidate(session_id, timeout_ms)

    # --- status ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``Mode:`` as ``srvr`` prints it."""
        return {
            ServerState.LOOKING: "looking",
            ServerState.FOLLOWING: "follower",
            ServerState.LEADING: "leader",
            ServerState.OBSERVING: "observer",
        }[self.state]


def snapshot_images(snapshot: Snapshot) -> list[SessionImage]:
    return list(snapshot.sessions)


__all__ = ["TRANSITIONS", "ApacheSnapshot", "PeerConfig", "QuorumPeer", "StartupError"]
