"""The election after a leader dies, in virtual milliseconds: the two survivors of a
three-server ensemble decide one finalize wait after the later of them notices, whichever
notices first. A server that answered our vote as a follower is told it again when it shows
up looking with a worse one (``spec/DIVERGENCES.md``, election timing); a fresh election
sends what Apache's sends."""

from __future__ import annotations

from collections import deque

import pytest

from reference.quorum.election import FINALIZE_WAIT_MS, Election, Quorum, Step, Vote, reply_to
from reference.quorum.election_wire import Notification, ServerState

ZXID = 0x100000005
EPOCH = 1
ROUND = 3  # the election that made server 3 the leader


def _elect_after_leader_3_dies(noticed_at: dict[int, int], latency_ms: int) -> dict[int, int]:
    """Servers 1 and 2 followed 3 (same log), which died; each goes looking at the time it
    noticed, answering as a follower until then. When each decided (ms), all for leader 2."""
    quorum = Quorum({1, 2, 3})
    elections = {sid: Election(sid, quorum) for sid in (1, 2)}
    state = {sid: ServerState.FOLLOWING for sid in (1, 2)}
    following = Vote(3, ZXID, ROUND, EPOCH, ServerState.FOLLOWING)
    for election in elections.values():
        election.logical_clock = ROUND
    in_flight: deque[tuple[int, int, int, Notification]] = deque()
    decided: dict[int, int] = {}

    def carry_out(sid: int, step: Step, now: int) -> None:
        for out in step.sends:
            if out.to in elections:  # server 3 is dead
                in_flight.append((now + latency_ms, sid, out.to, out.notification))
        if step.elected is not None:
            assert step.elected.vote.leader == 2
            decided[sid] = now
            state[sid] = step.elected.state

    for now in range(10_000):
        for sid, at in noticed_at.items():
            if at == now:
                state[sid] = ServerState.LOOKING
                carry_out(sid, elections[sid].start(now, ZXID, EPOCH), now)
        while in_flight and in_flight[0][0] <= now:
            _, sender, to, n = in_flight.popleft()
            election = elections[to]
            if state[to] == ServerState.LOOKING:
                carry_out(to, election.receive(now, sender, n), now)
                current = election.proposal()
            else:
                current = following
            answer = reply_to(
                state[to], current, election.logical_clock, n.state, n.electionEpoch, b""
            )
            if answer is not None:
                in_flight.append((now + latency_ms, to, sender, answer))
        for sid, election in elections.items():
            deadline = election.next_deadline()
            if state[sid] == ServerState.LOOKING and deadline is not None and deadline <= now:
                carry_out(sid, election.tick(now), now)
        if len(decided) == 2:
            return decided
    raise AssertionError(f"no decision within 10 s: {decided}")


@pytest.mark.parametrize("latency_ms", [1, 3])
@pytest.mark.parametrize(
    "noticed_at", [{1: 0, 2: 0}, {1: 0, 2: 5}, {1: 5, 2: 0}, {1: 20, 2: 0}, {1: 0, 2: 50}]
)
def test_the_survivors_decide_one_finalize_wait_after_the_later_one_noticed(
    noticed_at: dict[int, int], latency_ms: int
) -> None:
    decided = _elect_after_leader_3_dies(noticed_at, latency_ms)
    later = max(noticed_at.values())
    # One finalize wait, plus a few message latencies for the votes to meet.
    assert max(decided.values()) <= later + FINALIZE_WAIT_MS + 4 * latency_ms, decided


def _looking(leader: int, election_epoch: int = 1) -> Notification:
    return Notification(ServerState.LOOKING, leader, ZXID, election_epoch, EPOCH)


def test_a_worse_vote_of_our_round_gets_no_answer_as_in_apache() -> None:
    election = Election(3, Quorum({1, 2, 3}))
    election.start(0, ZXID, EPOCH)
    assert election.receive(1, 1, _looking(1)).sends == []


def test_a_server_that_answered_as_a_follower_is_told_our_vote_when_it_looks() -> None:
    election = Election(2, Quorum({1, 2, 3}))
    election.start(0, ZXID, EPOCH)
    following = Notification(ServerState.FOLLOWING, 3, ZXID, 0, EPOCH)
    assert election.receive(1, 1, following).sends == []
    (told,) = election.receive(5, 1, _looking(1)).sends
    assert told.to == 1 and told.notification == election.current_notification()
    # Once: the next worse vote from it gets the usual silence.
    assert election.receive(6, 1, _looking(1)).sends == []
