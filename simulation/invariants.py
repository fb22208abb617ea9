"""What must hold at every step of a simulated ensemble (white-box: it sees every replica).

The properties of ZAB as its TLA+ specifications state them (``zookeeper-specifications``,
``Zab.tla``; the Remix specifications), checked as the simulation runs:

* **A zxid names one transaction** (zxids unique; agreement; prefix consistency of logs):
  every txn a replica logs or applies under a zxid is the same txn under that zxid anywhere.
  Two leaders of one epoch, or a reused epoch, show up here.
* **At most one leader establishes an epoch** (Leadership), and at most one gathers a quorum
  of ACKEPOCHs for it (Leadership at discovery: a new epoch is one more than the largest its
  quorum accepted).
* **Each replica applies the committed txns in order, none skipped** (total order, primary
  order, ProcessConsistency): when a replica applies a txn, no committed txn lies between its
  previous state and that txn.
* **A new leader holds every committed txn** (LeaderLogCompleteness), and so **no committed
  txn is lost** (CommittedLogDurability): when a leader establishes its epoch, its tree is at
  or past every txn any replica has applied.
* **A log has no gap**: what a replica logs follows its last logged zxid, in the same epoch
  or as the first txn of a later one (ProcessConsistency: a log is a prefix of the history).
* **Epochs on disk**: acceptedEpoch ≥ currentEpoch, and neither goes down.
* **Every ephemeral is owned by a live session** (on every replica, its tree against its
  session table).
* **Every replica's tree has the digest its leader's proposals said** (no digest mismatch,
  ``reference.quorum.apache_digest``), and at the end of a run the digest each keeps as it
  applies txns is its tree's digest computed afresh.

A txn is *committed* once any replica applies it (replicas apply only committed txns; a
restart's replay of its own log is not counted). Monotonic reads per session, and everything
clients saw, are judged afterwards by the conformance checker on the recorded history.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field

from reference.quorum.apache_digest import tree_digest
from reference.quorum.peer import QuorumPeer
from reference.ready import (
    InstallSnapshot,
    Persist,
    TruncateLog,
    WriteAcceptedEpoch,
    WriteCurrentEpoch,
)
from reference.txn import Txn


def follows(zxid: int, previous: int) -> bool:
    """Whether ``zxid`` may come right after ``previous`` in a log: the next counter of the
    same epoch, or the first txn (counter 1) of a later epoch. A log has no gap."""
    epoch, counter = zxid >> 32, zxid & 0xFFFFFFFF
    if epoch == previous >> 32:
        return counter == (previous & 0xFFFFFFFF) + 1
    return epoch > previous >> 32 and counter == 1


class InvariantViolation(AssertionError):
    """A property of ZAB failed: ``kind`` names it, the message shows the evidence."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass
class Invariants:
    """Watches a ``simulation.cluster.Cluster`` (``attach``) and raises on a violation."""

    txn_at: dict[int, Txn] = field(default_factory=dict)  # zxid -> the txn it names
    committed: list[int] = field(default_factory=list)  # sorted committed zxids
    leaders: dict[int, int] = field(default_factory=dict)  # epoch -> the sid that established it
    agreed: dict[int, int] = field(default_factory=dict)  # epoch -> the sid a quorum acked it to
    epochs: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    checks: int = 0

    # --- what the replicas tell (PeerObserver and the disks) -------------------------------

    def name(self, zxid: int, txn: Txn, where: str) -> None:
        known = self.txn_at.get(zxid)
        if known is None:
            self.txn_at[zxid] = txn
        elif known != txn:
            raise InvariantViolation(
                "zxid names two transactions",
                f"{where}: zxid {zxid:#x} is {txn}, but elsewhere it is {known}",
            )

    def applied(self, sid: int, txn: Txn, previous_zxid: int) -> None:
        zxid = txn.header.zxid
        self.name(zxid, txn, f"server {sid} applied it")
        if zxid <= previous_zxid:
            raise InvariantViolation(
                "applied out of order",
                f"server {sid} applied {zxid:#x} after {previous_zxid:#x}",
            )
        committed = self.committed
        index = bisect_right(committed, previous_zxid)
        if index < len(committed) and committed[index] < zxid:
            raise InvariantViolation(
                "a committed txn skipped",
                f"server {sid} went from {previous_zxid:#x} to {zxid:#x}, skipping the "
                f"committed {committed[index]:#x} ({self.txn_at.get(committed[index])})",
            )
        if not committed or committed[-1] < zxid:
            committed.append(zxid)
        else:
            at = bisect_right(committed, zxid)
            if at == 0 or committed[at - 1] != zxid:
                insort(committed, zxid)

    def epoch_agreed(self, sid: int, epoch: int) -> None:
        """A quorum acked ``sid``'s LEADERINFO of ``epoch``. Quorums intersect, and a server
        acks an epoch only above the one it accepted last (or the same epoch again, −1), so
        a leader that chose its epoch as one more than the largest its quorum had accepted
        is the only one ever to gather a quorum for it (ZAB's Leadership, at discovery;
        ZOOKEEPER-582)."""
        other = self.agreed.get(epoch)
        if other is not None and other != sid:
            raise InvariantViolation(
                "two leaders of one epoch",
                f"servers {other} and {sid} both had a quorum acknowledge epoch {epoch}",
            )
        self.agreed[epoch] = sid

    def established(self, sid: int, epoch: int, peer: QuorumPeer) -> None:
        other = self.leaders.get(epoch)
        if other is not None and other != sid:
            raise InvariantViolation(
                "two leaders of one epoch", f"servers {other} and {sid} both established {epoch}"
            )
        self.leaders[epoch] = sid
        # It applies its log only now: what was committed must be in the tree or the log.
        if self.committed and peer.log_last < self.committed[-1]:
            raise InvariantViolation(
                "a new leader lacks committed txns",
                f"server {sid} established epoch {epoch} with its log at {peer.log_last:#x}, "
                f"but {self.committed[-1]:#x} was committed",
            )
        logged = {t.header.zxid for t in peer.pending}
        for zxid in reversed(self.committed):
            if zxid <= peer.core.last_zxid:
                break
            if zxid not in logged:
                raise InvariantViolation(
                    "a new leader lacks committed txns",
                    f"server {sid} established epoch {epoch} without {zxid:#x}, committed",
                )

    def durable(
        self, sid: int, item: Persist, previous_logged: int, behind: tuple[Persist, ...] = ()
    ) -> None:
        if isinstance(item, Txn):
            zxid = item.header.zxid
            self.name(zxid, item, f"server {sid} logged it")
            if not follows(zxid, previous_logged):
                raise InvariantViolation(
                    "a gap in a log",
                    f"server {sid} logged {zxid:#x} right after {previous_logged:#x}",
                )
            return
        accepted, current = self.epochs.get(sid, (None, None))
        if isinstance(item, WriteAcceptedEpoch):
            if accepted is not None and item.epoch < accepted:
                raise InvariantViolation(
                    "acceptedEpoch went down", f"server {sid}: {accepted} -> {item.epoch}"
                )
            accepted = item.epoch
        elif isinstance(item, WriteCurrentEpoch):
            if current is not None and item.epoch < current:
                raise InvariantViolation(
                    "currentEpoch went down", f"server {sid}: {current} -> {item.epoch}"
                )
            current = item.epoch
            self._history_durable_before(sid, item.epoch, behind)
        elif isinstance(item, (TruncateLog, InstallSnapshot)):
            return
        if accepted is not None and current is not None and accepted < current:
            raise InvariantViolation(
                "acceptedEpoch behind currentEpoch",
                f"server {sid}: accepted {accepted}, current {current}",
            )
        self.epochs[sid] = (accepted, current)

    @staticmethod
    def _history_durable_before(sid: int, epoch: int, behind: tuple[Persist, ...]) -> None:
        """currentEpoch ``epoch`` is durable: the history it vouches for must be too. A
        follower writes it at NEWLEADER, after the txns of its synchronization (all of older
        epochs); a txn of an older epoch still waiting behind it, before the next discovery
        (a ``WriteAcceptedEpoch``), is one that a crash now would lose while the disk says
        the server holds epoch ``epoch``'s initial history (ZK-4643)."""
        for later in behind:
            if isinstance(later, WriteAcceptedEpoch):
                return
            if isinstance(later, Txn) and later.header.zxid >> 32 < epoch:
                raise InvariantViolation(
                    "currentEpoch durable before its history",
                    f"server {sid}: currentEpoch {epoch} is durable while txn "
                    f"{later.header.zxid:#x} of its synchronization is not",
                )

    # --- after every event -----------------------------------------------------------------

    def check_replicas(self, peers: dict[int, QuorumPeer]) -> None:
        """The per-replica state properties (ephemerals owned by live sessions)."""
        self.checks += 1
        for sid, peer in peers.items():
            if peer.digest_mismatches:
                raise InvariantViolation(
                    "a replica's tree is not its leader's",
                    f"server {sid}: {peer.digest_mismatches} proposals' digests did not match "
                    "its tree once applied",
                )
            core = peer.core
            sessions = core.tracker.sessions
            for owner, paths in core.tree.ephemerals.items():
                if paths and owner not in sessions:
                    raise InvariantViolation(
                        "an ephemeral outlived its session",
                        f"server {sid}: {sorted(paths)[:3]} owned by {owner:#x}, "
                        "which it does not know as a live session",
                    )

    def check_digest(self, sid: int, peer: QuorumPeer) -> None:
        """At the end of a run: the digest a replica kept is its tree's."""
        if peer.digest is not None and peer.digest.value != tree_digest(peer.core.tree):
            raise InvariantViolation(
                "a replica's digest is not its tree's",
                f"server {sid}: kept {peer.digest.value}, its tree's is "
                f"{tree_digest(peer.core.tree)}",
            )

    def check_durability(self, sid: int, peer: QuorumPeer) -> None:
        """At the end of a run: a serving leader holds every committed txn."""
        if self.committed and peer.core.last_zxid < self.committed[-1]:
            raise InvariantViolation(
                "a committed txn was lost",
                f"the leader {sid} is at {peer.core.last_zxid:#x}, but {self.committed[-1]:#x} "
                "was committed",
            )
