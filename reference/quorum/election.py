"""Fast leader election: how the servers of an ensemble agree on who leads, sans I/O.

This is Apache ZooKeeper's ``FastLeaderElection.lookForLeader`` and the part of its
``WorkerReceiver`` that answers other servers, as a state machine: notifications and the
clock come in as arguments, notifications to send and the outcome come out as values. The
driver owns the election connections (``QuorumCnxManager``); this module never sees one.

Theory of operation
-------------------
Every server starts an election round (``Election.start``) when it does not know a leader:
it increments its *logical clock* (the election epoch), proposes itself — its id, its last
*logged* zxid and its current epoch — and sends that vote to every voter. A server that hears
a better vote adopts it and tells everyone; "better" is the order of
``(peer epoch, zxid, server id)`` (``vote_is_better``, ``totalOrderPredicate``). Votes of
the current round are kept per sender (``recvset``); once a quorum of them equals our own
proposal, the server waits ``finalize_wait_ms`` (200 ms) for a better vote still in flight and,
hearing none, ends the round: it leads if it proposed itself, and follows otherwise.

A server that arrives late hears FOLLOWING or LEADING notifications instead. It counts them
(``outofelection``, which also keeps those of the current round: ZOOKEEPER-1732) and follows
once a quorum follows the same leader *and* that leader itself says it leads
(``checkLeader``); a vote for ourselves in our own round is taken on the others' word.

Rules that keep this safe, each from Apache's code:

* The compared zxid is the last *logged* one (what the server's disk holds), never merely the
  last applied (ZK-2845).
* A vote for a server that is not a voter, or from one, is ignored (``validVoter``).
* A LOOKING notification from an older round is ignored, from a newer round it moves our
  logical clock forward and restarts our tally with the better of its vote and our own.
* Without news for ``notification_timeout`` the notifications are sent again, and the wait
  doubles up to ``max_notification_interval_ms`` (60 s).
* Beyond Apache (timing only, never the outcome): a server that answered our proposal as
  FOLLOWING or LEADING had not taken it into a round of its own; if it later shows up
  LOOKING in our round with a worse vote, it gets our proposal at once rather than at our
  next resend. When a leader dies, the follower that notices first sends its vote to the
  other, which still follows and answers so; Apache's server then waits out its
  notification timeout (200 ms, then 400 ms, restarted by every vote it hears) before the
  better vote reaches the other: an election of 0.6 s instead of 0.2 s, about every other
  failover.

Who answers whom (``WorkerReceiver``) depends on the server's state, which the quorum peer
owns; ``reply_to`` says what a server answers in each case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from reference.quorum import plants
from reference.quorum.election_wire import NOTIFICATION_VERSION, Notification, ServerState

# Apache's FastLeaderElection.finalizeWait: how long a server waits, once its proposal has a
# quorum, for a better vote that may still be on its way (ms).
FINALIZE_WAIT_MS: Final = 200
# zookeeper.fastleader.minNotificationInterval / maxNotificationInterval (ms).
MIN_NOTIFICATION_INTERVAL_MS: Final = FINALIZE_WAIT_MS
MAX_NOTIFICATION_INTERVAL_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class Vote:
    """A vote as a server keeps it (``Vote``): for ``leader`` with its zxid and epochs."""

    leader: int
    zxid: int
    election_epoch: int
    peer_epoch: int
    state: ServerState = ServerState.LOOKING
    version: int = 0

    def same_as(self, other: Vote) -> bool:
        """``Vote.equals``: in a round, every field counts; out of one (neither LOOKING),
        only the leader and its epoch do, because servers see those zxids at different
        times (ZOOKEEPER-1805); across message versions only the leader (ZOOKEEPER-1732)."""
        if self.state == ServerState.LOOKING or other.state == ServerState.LOOKING:
            return (
                self.leader == other.leader
                and self.zxid == other.zxid
                and self.election_epoch == other.election_epoch
                and self.peer_epoch == other.peer_epoch
            )
        if (self.version > 0) != (other.version > 0):
            return self.leader == other.leader
        return self.leader == other.leader and self.peer_epoch == other.peer_epoch


def vote_is_better(
    new_leader: int,
    new_zxid: int,
    new_epoch: int,
    current_leader: int,
    current_zxid: int,
    current_epoch: int,
) -> bool:
    """``totalOrderPredicate``: a higher epoch wins, then a higher zxid, then a higher id."""
    return (new_epoch, new_zxid, new_leader) > (current_epoch, current_zxid, current_leader)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Send ``notification`` to server ``to``."""

    to: int
    notification: Notification


@dataclass(frozen=True, slots=True)
class Elected:
    """The round ended: ``vote.leader`` leads; ``state`` is ours (LEADING or FOLLOWING)."""

    vote: Vote
    state: ServerState


@dataclass(slots=True)
class Step:
    """What one input to an election produced."""

    sends: list[Outgoing] = field(default_factory=list)
    elected: Elected | None = None


class Quorum:
    """A majority of ``voters`` (``QuorumMaj``): more than half of them."""

    __slots__ = ("voters",)

    def __init__(self, voters: Iterable[int]) -> None:
        self.voters = frozenset(voters)
        assert self.voters, "an ensemble has at least one voter"

    def contains_quorum(self, sids: Iterable[int]) -> bool:
        """``QuorumMaj.containsQuorum``: the voters among ``sids`` are a majority."""
        count = len(self.voters.intersection(sids))
        if plants.HALF_IS_QUORUM:
            return count >= len(self.voters) // 2
        return 2 * count > len(self.voters)


class Election:
    """The election of one server; one ``start`` per round (``lookForLeader``).

    ``logical_clock`` survives rounds, as ``FastLeaderElection.logicalclock`` does.
    """

    def __init__(self, my_id: int, quorum: Quorum, config: bytes = b"") -> None:
        assert my_id in quorum.voters, f"server {my_id} is not a voter"
        self.my_id = my_id
        self.quorum = quorum
        self.config = config
        self.logical_clock = 0
        self.running = False
        # The round's state: our proposal, the votes of this round, what we know of
        # servers out of election, and the timers.
        self.proposed_leader = my_id
        self.proposed_zxid = -1
        self.proposed_epoch = -1
        self._init_zxid = -1
        self._init_epoch = -1
        self.recvset: dict[int, Vote] = {}
        self.outofelection: dict[int, Vote] = {}
        # Servers that answered this round as FOLLOWING or LEADING: our proposal reached
        # them outside a round of theirs (see the module docstring).
        self._answered_elsewhere: set[int] = set()
        self._notification_timeout_ms = MIN_NOTIFICATION_INTERVAL_MS
        self._resend_at = 0
        self._finalize_at: int | None = None

    # --- the round ---------------------------------------------------------------------

    def start(self, now_ms: int, last_logged_zxid: int, current_epoch: int) -> Step:
        """Begin a round: increment the logical clock, propose ourselves, tell everyone."""
        self.running = True
        self.logical_clock += 1
        self._init_zxid = last_logged_zxid
        self._init_epoch = current_epoch
        self.recvset = {}
        self.outofelection = {}
        self._answered_elsewhere = set()
        self._finalize_at = None
        self._notification_timeout_ms = MIN_NOTIFICATION_INTERVAL_MS
        self._resend_at = now_ms + self._notification_timeout_ms
        self._propose(self.my_id, last_logged_zxid, current_epoch)
        step = Step()
        self._send_notifications(step, now_ms)
        return step

    def stop(self) -> None:
        """Leave the round (``leaveInstance``): our state is decided elsewhere."""
        self.running = False
        self._finalize_at = None

    def next_deadline(self) -> int | None:
        """When ``tick`` has work: a finalize wait ending, or notifications to resend."""
        if not self.running:
            return None
        if self._finalize_at is not None:
            return min(self._finalize_at, self._resend_at)
        return self._resend_at

    def tick(self, now_ms: int) -> Step:
        """Time passed: end a finalize wait, or resend notifications with back-off."""
        step = Step()
        if not self.running:
            return step
        if self._finalize_at is not None and now_ms >= self._finalize_at:
            # No better vote arrived in finalizeWait: the round ends on our proposal.
            self._elect(step, self.proposal())
            return step
        if now_ms >= self._resend_at:
            self._notification_timeout_ms = min(
                self._notification_timeout_ms * 2, MAX_NOTIFICATION_INTERVAL_MS
            )
            self._send_notifications(step, now_ms)
        return step

    def receive(self, now_ms: int, sender: int, n: Notification) -> Step:
        """A notification from ``sender`` arrived while we look for a leader."""
        step = Step()
        if not self.running:
            return step
        if sender not in self.quorum.voters or n.leader not in self.quorum.voters:
            return step  # validVoter: from or for a server outside the ensemble
        # Any notification is news: the resend timer restarts (recvqueue.poll(notTimeout)).
        self._resend_at = now_ms + self._notification_timeout_ms
        if self._finalize_at is not None:
            # In the finalize wait only a better vote matters; anything else is dropped and
            # the wait starts again (the poll loop in lookForLeader).
            if not vote_is_better(
                n.leader,
                n.zxid,
                n.peerEpoch,
                self.proposed_leader,
                self.proposed_zxid,
                self.proposed_epoch,
            ):
                self._finalize_at = now_ms + FINALIZE_WAIT_MS
                return step
            self._finalize_at = None
        if n.state == ServerState.LOOKING:
            self._looking(step, now_ms, sender, n)
        elif n.state in (ServerState.FOLLOWING, ServerState.LEADING):
            self._following_or_leading(step, sender, n)
        return step

    # --- the cases of lookForLeader ------------------------------------------------------

    def _looking(self, step: Step, now_ms: int, sender: int, n: Notification) -> None:
        if self._init_zxid == -1 or n.zxid == -1:
            return  # a server without a log does not take part (observer-style votes)
        if n.electionEpoch > self.logical_clock:
            self.logical_clock = n.electionEpoch
            self.recvset = {}
            if vote_is_better(
                n.leader,
                n.zxid,
                n.peerEpoch,
                self.my_id,
                self._init_zxid,
                self._init_epoch,
            ):
                self._propose(n.leader, n.zxid, n.peerEpoch)
            else:
                self._propose(self.my_id, self._init_zxid, self._init_epoch)
            self._send_notifications(step, now_ms)
        elif n.electionEpoch < self.logical_clock:
            return
        elif vote_is_better(
            n.leader,
            n.zxid,
            n.peerEpoch,
            self.proposed_leader,
            self.proposed_zxid,
            self.proposed_epoch,
        ):
            self._propose(n.leader, n.zxid, n.peerEpoch)
            self._send_notifications(step, now_ms)
        elif sender in self._answered_elsewhere and n.leader != self.proposed_leader:
            # It missed our proposal while it followed: tell it now (module docstring).
            self._answered_elsewhere.discard(sender)
            step.sends.append(Outgoing(sender, self.current_notification()))
        self.recvset[sender] = Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch)
        if step.elected is None and self._has_quorum(self.recvset, self.proposal()):
            self._finalize_at = now_ms + FINALIZE_WAIT_MS

    def _following_or_leading(self, step: Step, sender: int, n: Notification) -> None:
        """``receivedFollowingNotification`` (LEADING adds only the two-node oracle, which
        zkref does not implement)."""
        self._answered_elsewhere.add(sender)
        if n.electionEpoch == self.logical_clock:
            self.recvset[sender] = Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch, n.state)
            vote = Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch, n.state, n.version)
            if self._has_quorum(self.recvset, vote) and self._check_leader(
                self.recvset, n.leader, n.electionEpoch
            ):
                self._elect(step, Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch))
                return
        vote = Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch, n.state, n.version)
        self.outofelection[sender] = vote
        if self._has_quorum(self.outofelection, vote) and self._check_leader(
            self.outofelection, n.leader, n.electionEpoch
        ):
            self.logical_clock = n.electionEpoch
            self._elect(step, Vote(n.leader, n.zxid, n.electionEpoch, n.peerEpoch))

    def _check_leader(self, votes: dict[int, Vote], leader: int, election_epoch: int) -> bool:
        """``checkLeader``: another leader must have told us it leads; we lead only if the
        round is ours."""
        if leader != self.my_id:
            told = votes.get(leader)
            return told is not None and told.state == ServerState.LEADING
        return self.logical_clock == election_epoch

    def _has_quorum(self, votes: dict[int, Vote], vote: Vote) -> bool:
        return self.quorum.contains_quorum(s for s, v in votes.items() if vote.same_as(v))

    # --- helpers ---------------------------------------------------------------------------

    def _propose(self, leader: int, zxid: int, epoch: int) -> None:
        self.proposed_leader, self.proposed_zxid, self.proposed_epoch = leader, zxid, epoch

    def proposal(self) -> Vote:
        return Vote(
            self.proposed_leader, self.proposed_zxid, self.logical_clock, self.proposed_epoch
        )

    def _elect(self, step: Step, vote: Vote) -> None:
        state = ServerState.LEADING if vote.leader == self.my_id else ServerState.FOLLOWING
        step.elected = Elected(vote, state)
        self.stop()

    def _send_notifications(self, step: Step, now_ms: int) -> None:
        """``sendNotifications``: our proposal to every voter. Our own copy is counted at
        once, as the connection manager loops it back to our receive queue."""
        self._resend_at = now_ms + self._notification_timeout_ms
        own = self.current_notification()
        for sid in sorted(self.quorum.voters):
            if sid != self.my_id:
                step.sends.append(Outgoing(sid, own))
        self.recvset[self.my_id] = Vote(own.leader, own.zxid, own.electionEpoch, own.peerEpoch)
        if (
            step.elected is None
            and self._finalize_at is None
            and self._has_quorum(self.recvset, self.proposal())
        ):
            self._finalize_at = now_ms + FINALIZE_WAIT_MS

    def current_notification(self) -> Notification:
        """Our proposal as a LOOKING notification of this round."""
        return Notification(
            ServerState.LOOKING,
            self.proposed_leader,
            self.proposed_zxid,
            self.logical_clock,
            self.proposed_epoch,
            NOTIFICATION_VERSION,
            self.config,
        )


def reply_to(
    my_state: ServerState,
    current_vote: Vote,
    logical_clock: int,
    sender_state: ServerState,
    sender_election_epoch: int,
    config: bytes,
) -> Notification | None:
    """What a server answers a notification with (``WorkerReceiver``), or None.

    * Looking ourselves: we answer a LOOKING sender of an older round with our current
      proposal, so that it catches up with the round.
    * Following or leading: we answer every LOOKING sender with the vote that made us so
      (its own election epoch), so a late or restarted server learns who leads.
    """
    if my_state == ServerState.LOOKING:
        if sender_state == ServerState.LOOKING and sender_election_epoch < logical_clock:
            return Notification(
                ServerState.LOOKING,
                current_vote.leader,
                current_vote.zxid,
                logical_clock,
                current_vote.peer_epoch,
                NOTIFICATION_VERSION,
                config,
            )
        return None
    if sender_state != ServerState.LOOKING:
        return None
    return Notification(
        my_state,
        current_vote.leader,
        current_vote.zxid,
        current_vote.election_epoch,
        current_vote.peer_epoch,
        NOTIFICATION_VERSION,
        config,
    )
