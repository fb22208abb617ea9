"""Regressions found by running real ensembles (tests/ensemble), reproduced in one process
with ``simulation.cluster``: each test is the situation a real run hit, made deterministic."""

from __future__ import annotations

from reference.quorum.election_wire import ServerState
from simulation.cluster import Cluster
from tests.quorum.test_cluster import stable


def test_a_follower_that_dials_its_leader_before_it_leads_dials_again_and_follows_it() -> None:
    """Two servers end an election round a moment apart (each after its own finalize
    wait): the follower's dial can reach the elected server before that one has ended its
    round and leads. Apache ZooKeeper's leader has no quorum listener yet then, so the
    follower's connect is refused and retried (``Learner.connectToLeader``: 5 tries, 100 ms
    apart); zkref's server listens always and closes the connection at once, which must be
    the same refusal: a retry, not a new election. (A new election left the leader waiting
    initLimit ticks for a follower in an older round that it could not join: 21 s of no
    service after a kill -9 of the leader in a real three-server run.)"""
    cluster = Cluster(3, tick_time_ms=2000)
    assert stable(cluster) == 3
    cluster.crash(3)
    # Server 1 hears server 2's vote, server 2 does not hear server 1 adopt it: server 1
    # ends the round 200 ms later and dials server 2, which is still looking.
    cluster.partition({1}, {2})
    cluster.run_for(50)
    follower, leader = cluster.peer(1), cluster.peer(2)
    elections = follower.elections
    follower.election_received(cluster.now, 2, leader.election.current_notification())
    cluster._after_input(cluster.replicas[1])
    cluster.heal()
    assert cluster.run_until(lambda: follower.state == ServerState.FOLLOWING, 1_000)
    assert leader.state == ServerState.LOOKING
    assert stable(cluster, 5_000) == 2
    assert follower.elections == elections, "the follower gave up on its leader and re-elected"
