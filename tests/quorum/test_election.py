"""Fast leader election, sans I/O: who wins, when, and what late servers learn.

The servers here exchange notifications through an in-memory queue (FIFO per pair, as TCP
gives) and a virtual clock; nothing sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.quorum.election import (
    FINALIZE_WAIT_MS,
    Election,
    Quorum,
    Step,
    Vote,
    reply_to,
    vote_is_better,
)
from reference.quorum.election_wire import Notification, ServerState


@dataclass
class Server:
    election: Election
    zxid: int
    epoch: int
    state: ServerState = ServerState.LOOKING
    vote: Vote | None = None


class Network:
    """Election servers joined by FIFO links; ``up`` says who is running."""

    def __init__(self, servers: dict[int, tuple[int, int]]) -> None:
        quorum = Quorum(servers)
        self.servers = {
            sid: Server(Election(sid, quorum), zxid, epoch)
            for sid, (zxid, epoch) in servers.items()
        }
        self.up = set(servers)
        self.queue: deque[tuple[int, int, Notification]] = deque()
        self.now = 0

    def start(self, sid: int) -> None:
        server = self.servers[sid]
        server.state = ServerState.LOOKING
        self._apply(sid, server.election.start(self.now, server.zxid, server.epoch))

    def _apply(self, sid: int, step: Step) -> None:
        for out in step.sends:
            self.queue.append((sid, out.to, out.notification))
        if step.elected is not None:
            server = self.servers[sid]
            server.state = step.elected.state
            server.vote = step.elected.vote

    def deliver_all(self) -> None:
        while self.queue:
            sender, to, n = self.queue.popleft()
            if to not in self.up or sender not in self.up:
                continue
            server = self.servers[to]
            if server.state == ServerState.LOOKING:
                self._apply(to, server.election.receive(self.now, sender, n))
                answer = reply_to(
                    server.state,
                    server.election.proposal(),
                    server.election.logical_clock,
                    n.state,
                    n.electionEpoch,
                    b"",
                )
            else:
                assert server.vote is not None
                answer = reply_to(
                    server.state,
                    server.vote,
                    server.election.logical_clock,
                    n.state,
                    n.electionEpoch,
                    b"",
                )
            if answer is not None:
                self.queue.append((to, sender, answer))

    def advance(self, ms: int) -> None:
        self.now += ms
        for sid in sorted(self.up):
            server = self.servers[sid]
            if server.state == ServerState.LOOKING:
                self._apply(sid, server.election.tick(self.now))

    def run(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            self.deliver_all()
            self.advance(FINALIZE_WAIT_MS)
            self.deliver_all()

    def leaders(self) -> set[int]:
        return {sid for sid in self.up if self.servers[sid].state == ServerState.LEADING}


def test_votes_order_by_epoch_then_zxid_then_server_id() -> None:
    assert vote_is_better(1, 5, 2, 3, 9, 1)  # higher epoch wins over a higher zxid
    assert vote_is_better(1, 9, 1, 3, 5, 1)  # same epoch: higher zxid wins over a higher id
    assert vote_is_better(3, 5, 1, 1, 5, 1)  # same epoch and zxid: higher id wins
    assert not vote_is_better(1, 5, 1, 1, 5, 1)


def test_three_fresh_servers_elect_the_highest_id() -> None:
    net = Network({1: (0, 0), 2: (0, 0), 3: (0, 0)})
    for sid in (1, 2, 3):
        net.start(sid)
    net.run()
    assert net.leaders() == {3}
    assert all(net.servers[s].vote == Vote(3, 0, 1, 0) for s in (1, 2))


def test_the_server_with_the_latest_logged_zxid_wins_over_a_higher_id() -> None:
    net = Network({1: (0x100000007, 1), 2: (0x100000005, 1), 3: (0x100000005, 1)})
    for sid in (1, 2, 3):
        net.start(sid)
    net.run()
    assert net.leaders() == {1}


def test_a_quorum_is_enough_and_the_round_waits_finalize_wait_before_deciding() -> None:
    net = Network({1: (0, 0), 2: (0, 0), 3: (0, 0)})
    net.up = {1, 2}
    net.start(1)
    net.start(2)
    net.deliver_all()
    # Server 2 has a quorum ({1, 2}) for itself, but decides only after finalizeWait.
    assert net.leaders() == set()
    net.advance(FINALIZE_WAIT_MS - 1)
    assert net.leaders() == set()
    net.advance(1)
    net.deliver_all()
    net.advance(FINALIZE_WAIT_MS)
    assert net.leaders() == {2}
    assert net.servers[1].state == ServerState.FOLLOWING


def test_a_lone_server_of_three_never_elects_itself() -> None:
    net = Network({1: (0, 0), 2: (0, 0), 3: (0, 0)})
    net.up = {3}
    net.start(3)
    net.run(rounds=50)
    assert net.leaders() == set()
    assert net.servers[3].state == ServerState.LOOKING


def test_a_late_server_follows_the_established_leader_it_learns_of() -> None:
    net = Network({1: (0, 0), 2: (0, 0), 3: (0, 0)})
    net.up = {1, 2}
    net.start(1)
    net.start(2)
    net.run()
    assert net.leaders() == {2}
    net.up.add(3)
    net.start(3)  # a higher id, but 1 and 2 already follow 2
    net.run()
    assert net.leaders() == {2}
    assert net.servers[3].state == ServerState.FOLLOWING
    assert net.servers[3].vote is not None and net.servers[3].vote.leader == 2


def test_notifications_are_resent_with_back_off_while_nobody_answers() -> None:
    quorum = Quorum({1, 2, 3})
    election = Election(1, quorum)
    sent_at: list[int] = []
    step = election.start(0, 0, 0)
    assert {o.to for o in step.sends} == {2, 3}
    now = 0
    for _ in range(12):
        deadline = election.next_deadline()
        assert deadline is not None
        now = deadline
        if election.tick(now).sends:
            sent_at.append(now)
    gaps = [b - a for a, b in zip([0, *sent_at], sent_at, strict=False)]
    assert gaps[:4] == [200, 400, 800, 1600]
    assert max(gaps) == 60_000


def test_votes_from_servers_outside_the_ensemble_are_ignored() -> None:
    election = Election(1, Quorum({1, 2, 3}))
    election.start(0, 0, 0)
    bogus = Notification(ServerState.LOOKING, 9, 0x500000000, 1, 5)
    assert election.receive(1, 9, bogus).sends == []
    assert election.receive(1, 2, bogus).sends == []  # a vote for a non-voter
    assert election.proposed_leader == 1


@settings(max_examples=60, deadline=None)
@given(
    zxids=st.lists(st.integers(0, 3), min_size=3, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_fresh_elections_agree_on_one_leader_with_the_best_vote(
    zxids: list[int], order: object
) -> None:
    import random

    assert isinstance(order, random.Random)
    servers = {sid: (zxid, 0) for sid, zxid in enumerate(zxids, start=1)}
    net = Network(servers)
    starts = list(servers)
    order.shuffle(starts)
    for sid in starts:
        net.start(sid)
    net.run(rounds=30)
    best = max(servers, key=lambda s: (servers[s][1], servers[s][0], s))
    assert net.leaders() == {best}
    for sid, server in net.servers.items():
        assert server.state != ServerState.LOOKING, sid
        assert server.vote is not None and server.vote.leader == best
