"""Regressions found by running real ensembles (tests/ensemble), reproduced in one process
with ``simulation.cluster``: each test is the situation a real run hit, made deterministic."""

from __future__ import annotations

from reference import jute
from reference.quorum.election_wire import ServerState
from reference.ready import WriteCurrentEpoch
from simulation.cluster import Cluster
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.quorum.test_cluster import connect, create, stable, stable_among


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
    # The cut ends with what was sent across it lost (not ``heal``, whose new election
    # connections would send the last votes again: server 2 would hear server 1 adopt it).
    cluster.cut_pairs.clear()
    assert cluster.run_until(lambda: follower.state == ServerState.FOLLOWING, 1_000)
    assert leader.state == ServerState.LOOKING
    assert stable(cluster, 5_000) == 2
    assert follower.elections == elections, "the follower gave up on its leader and re-elected"


def test_a_leader_elected_with_an_uncommitted_tail_that_never_establishes_is_truncated() -> None:
    # The simulator's seed 1020 (before the fix): a server elected with a proposal only it
    # had logged applied it at election; it never established its epoch (cut off before a
    # quorum acked NEWLEADER), the others went on without the proposal, and the TRUNC that
    # would have removed it was refused forever ("below what we applied"). Nothing is
    # applied before an epoch is established now, so the TRUNC cuts the log and it follows.
    cluster = Cluster(3)
    leader = stable(cluster)
    followers = [s for s in (1, 2, 3) if s != leader]
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/committed")[0] == 0
    # A proposal only the leader logs.
    cluster.partition({leader}, set(followers))
    writer.send(
        jute.encode_request(
            jute.RequestHeader(writer.next_xid, OpCode.create),
            jute.CreateRequest("/uncommitted", b"", OPEN_ACL_UNSAFE, 0),
        )[4:]
    )
    cluster.run_for(50)
    assert cluster.peer(leader).log_last > cluster.peer(followers[0]).log_last
    # The others crash and come back while it looks for a leader: its longer log wins.
    for sid in followers:
        cluster.crash(sid)
    cluster.heal()
    assert cluster.run_until(lambda: cluster.peer(leader).leader is None, 20_000)
    for sid in followers:
        cluster.start(sid)
    assert cluster.run_until(lambda: cluster.peer(leader).leader is not None, 20_000)
    old = cluster.peer(leader)
    assert old.core.role.name == "NOT_SERVING"
    assert "/uncommitted" not in old.core.tree.nodes, "applied before its epoch is established"
    # Cut off before a quorum acks NEWLEADER: the others elect one of themselves.
    cluster.partition({leader}, set(followers))
    new = stable_among(cluster, followers)
    assert create(cluster, connect(cluster, new), "/new-epoch")[0] == 0
    cluster.heal()
    stable(cluster)
    old = cluster.peer(leader)
    assert "/uncommitted" not in old.core.tree.nodes
    assert "/committed" in old.core.tree.nodes and "/new-epoch" in old.core.tree.nodes


def test_a_follower_crashed_after_logging_new_epoch_txns_of_its_sync_restarts_and_catches_up() -> (
    None
):
    # Found by the simulator's state machine (a crash at the moment a follower synchronizes):
    # a follower joining an established epoch logs that epoch's txns from its DIFF before
    # NEWLEADER makes the epoch current. Killed between the two, its data directory has a
    # log ahead of its currentEpoch, and it refused to start (as Apache's loadDataBase
    # does), for good. Nothing of it was acked: it starts, and the leader syncs it.
    cluster = Cluster(3)
    leader = stable(cluster)
    follower = next(s for s in (1, 2, 3) if s != leader)
    cluster.crash(follower)
    # A new epoch without it: the leader restarts, the other two elect again.
    cluster.crash(leader)
    cluster.start(leader)
    leader = stable_among(cluster, [s for s in (1, 2, 3) if s != follower])
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/while-it-was-down")[0] == 0
    epoch = cluster.peer(leader).current_epoch
    assert (cluster.replicas[follower].disk.current_epoch or 0) < epoch
    cluster.start(follower)
    disk = cluster.replicas[follower].disk

    def current_epoch_asked() -> int | None:
        return next(
            (i for i, item in enumerate(disk.pending) if isinstance(item, WriteCurrentEpoch)),
            None,
        )

    assert cluster.run_until(lambda: current_epoch_asked() is not None, 10_000)
    at = current_epoch_asked()
    assert at is not None
    # The disk gets as far as the synchronized txns, the process dies before currentEpoch.
    disk.make_durable(at)
    assert disk.last_logged >> 32 == epoch and (disk.current_epoch or 0) < epoch
    disk.crash()
    cluster.crash(follower)
    cluster.start(follower)  # raised StartupError: "the current epoch ... is older than ..."
    assert cluster.peer(follower).current_epoch < epoch
    assert stable(cluster, 30_000) == leader
    assert cluster.peer(follower).core.tree.get("/while-it-was-down") is not None
