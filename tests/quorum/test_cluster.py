"""Whole ensembles of real quorum peers in one process (``simulation.cluster``): election,
establishment, replication through any server, leader failure, lost quorum, and the three
ways a server catches up (DIFF, TRUNC, SNAP)."""

from __future__ import annotations

import struct

from reference import jute
from reference.quorum.election_wire import ServerState
from simulation.cluster import Cluster, SimClient, open_client
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode
from spec.zxid import Zxid

_HEADER = struct.Struct(">iqi")  # xid, zxid, err


def connect(
    cluster: Cluster, sid: int, session_id: int = 0, password: bytes = bytes(16)
) -> SimClient:
    client = open_client(cluster, sid)
    request = jute.ConnectRequest(0, client.last_zxid, 10_000, session_id, password, False)
    client.send(jute.encode_connect_request(request)[4:])
    cluster.run_until(lambda: _has_frames(client), 5_000)
    frames = client.poll()
    assert frames, f"no answer to the handshake at server {sid}"
    response = jute.decode_connect_response(frames[0][4:])
    client.session_id, client.password = response.sessionId, response.passwd or bytes(16)
    return client


def _has_frames(client: SimClient) -> bool:
    client._take()
    return bool(client.frames) or client.closed


def call(
    cluster: Cluster, client: SimClient, opcode: int, record: jute.RequestRecord | None
) -> tuple[int, int, bytes]:
    """Send one request, run until its reply: (err, zxid, frame)."""
    xid = client.next_xid
    client.next_xid += 1
    client.send(jute.encode_request(jute.RequestHeader(xid, opcode), record)[4:])
    replies: list[bytes] = []

    def answered() -> bool:
        for frame in client.poll():
            if struct.unpack_from(">i", frame, 4)[0] == xid:
                replies.append(frame)
        return bool(replies) or client.closed

    assert cluster.run_until(answered, 5_000), f"no reply to {opcode} at server {client.sid}"
    assert replies, f"connection closed instead of answering {opcode}"
    got_xid, zxid, err = _HEADER.unpack_from(replies[0], 4)
    assert got_xid == xid
    client.last_zxid = max(client.last_zxid, zxid)
    return err, zxid, replies[0]


def create(cluster: Cluster, client: SimClient, path: str, data: bytes = b"") -> tuple[int, int]:
    err, zxid, _ = call(
        cluster, client, OpCode.create, jute.CreateRequest(path, data, OPEN_ACL_UNSAFE, 0)
    )
    return err, zxid


def get_data(cluster: Cluster, client: SimClient, path: str) -> tuple[int, bytes | None]:
    err, _, frame = call(cluster, client, OpCode.getData, jute.GetDataRequest(path, False))
    if err:
        return err, None
    reply = jute.decode_reply(frame[4:], OpCode.getData)
    assert isinstance(reply.record, jute.GetDataResponse)
    return err, reply.record.data


def sync(cluster: Cluster, client: SimClient, path: str = "/") -> int:
    return call(cluster, client, OpCode.sync, jute.SyncRequest(path))[0]


def stable(cluster: Cluster, limit_ms: int = 20_000) -> int:
    assert cluster.run_until(cluster.stable, limit_ms), (
        f"no stable ensemble: leaders {cluster.leaders()}, serving {cluster.serving()}"
    )
    (leader,) = cluster.leaders()
    return leader


def test_three_fresh_servers_elect_server_3_and_establish_epoch_1() -> None:
    cluster = Cluster(3)
    assert stable(cluster) == 3
    for sid in (1, 2, 3):
        peer = cluster.peer(sid)
        assert peer.current_epoch == 1 and peer.accepted_epoch == 1
        assert cluster.replicas[sid].disk.current_epoch == 1
    assert cluster.peer(3).state == ServerState.LEADING
    assert {cluster.peer(s).state for s in (1, 2)} == {ServerState.FOLLOWING}


def test_a_write_at_a_follower_is_committed_everywhere_and_read_after_sync() -> None:
    cluster = Cluster(3)
    stable(cluster)
    writer = connect(cluster, 1)
    err, zxid = create(cluster, writer, "/a", b"hello")
    assert err == 0 and Zxid(zxid).epoch == 1
    for sid in (1, 2, 3):
        reader = connect(cluster, sid)
        assert sync(cluster, reader) == 0
        assert get_data(cluster, reader, "/a") == (0, b"hello")


def test_the_leader_killed_a_new_one_is_elected_and_nothing_acknowledged_is_lost() -> None:
    cluster = Cluster(3)
    old = stable(cluster)
    writer = connect(cluster, 1)
    acknowledged = []
    for i in range(5):
        err, _ = create(cluster, writer, f"/before-{i}")
        assert err == 0
        acknowledged.append(f"/before-{i}")
    cluster.crash(old)
    new = stable(cluster)
    assert new != old
    writer = connect(cluster, 1 if new != 1 else 2)
    err, zxid = create(cluster, writer, "/after")
    assert err == 0 and Zxid(zxid).epoch == 2
    acknowledged.append("/after")
    cluster.start(old)
    stable(cluster)
    for sid in (1, 2, 3):
        tree = cluster.peer(sid).core.tree
        assert all(path in tree.nodes for path in acknowledged), sid


def test_two_of_three_down_no_write_is_acknowledged_until_one_returns() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    survivor = 1 if leader != 1 else 2
    others = [s for s in (1, 2, 3) if s != survivor]
    client = connect(cluster, survivor)
    for sid in others:
        cluster.crash(sid)
    cluster.run_for(5_000)
    assert cluster.leaders() == []
    assert not cluster.peer(survivor).serving
    assert client.closed or not cluster.peer(survivor).serving
    cluster.start(others[0])
    stable(cluster)
    writer = connect(cluster, survivor)
    assert create(cluster, writer, "/back")[0] == 0


def test_a_restarted_follower_catches_up_by_diff() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    follower = 1 if leader != 1 else 2
    writer = connect(cluster, leader)
    create(cluster, writer, "/one")
    cluster.crash(follower)
    for i in range(3):
        create(cluster, writer, f"/while-down-{i}")
    cluster.start(follower)
    stable(cluster)
    assert cluster.peer(follower).sync_counts.get("DIFF", 0) >= 1
    assert "/while-down-2" in cluster.peer(follower).core.tree.nodes


def test_a_follower_behind_the_committed_log_window_catches_up_by_snap() -> None:
    cluster = Cluster(3, commit_log_count=5)
    leader = stable(cluster)
    follower = 1 if leader != 1 else 2
    writer = connect(cluster, leader)
    cluster.crash(follower)
    for i in range(12):
        assert create(cluster, writer, f"/n{i}", b"x")[0] == 0
    cluster.start(follower)
    stable(cluster)
    assert cluster.peer(follower).sync_counts.get("SNAP", 0) >= 1
    tree = cluster.peer(follower).core.tree
    assert all(f"/n{i}" in tree.nodes for i in range(12))
    # The snapshot is on its disk: after another restart it still has everything.
    cluster.crash(follower)
    cluster.start(follower)
    stable(cluster)
    assert "/n11" in cluster.peer(follower).core.tree.nodes


def test_a_server_with_an_uncommitted_proposal_is_truncated_by_the_next_leader() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    followers = [s for s in (1, 2, 3) if s != leader]
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/committed")[0] == 0
    # Cut the leader off; its next proposal reaches only its own log.
    cluster.partition({leader}, set(followers))
    xid = writer.next_xid
    writer.send(
        jute.encode_request(
            jute.RequestHeader(xid, OpCode.create),
            jute.CreateRequest("/lost", b"", OPEN_ACL_UNSAFE, 0),
        )[4:]
    )
    cluster.run_for(50)
    assert cluster.peer(leader).log_last > cluster.peer(followers[0]).log_last
    new = stable_among(cluster, followers)
    # The old leader comes back before the new epoch commits anything: it is ahead of the
    # new leader's last committed zxid, in the same epoch, so it is truncated.
    cluster.heal()
    stable(cluster)
    old = cluster.peer(leader)
    assert old.sync_counts.get("TRUNC", 0) == 1
    assert cluster.peer(new).syncs_sent.get("TRUNC", 0) == 1
    assert "/lost" not in old.core.tree.nodes
    writer2 = connect(cluster, new)
    assert create(cluster, writer2, "/new-epoch")[0] == 0
    assert cluster.run_until(lambda: "/new-epoch" in old.core.tree.nodes, 1_000)


def test_a_server_with_an_uncommitted_proposal_of_an_older_epoch_is_sent_a_snap() -> None:
    # Once the new epoch committed a txn, the old leader's extra txn sits between two
    # epochs of the new leader's log: no TRUNC across an epoch (queueCommittedProposals).
    cluster = Cluster(3)
    leader = stable(cluster)
    followers = [s for s in (1, 2, 3) if s != leader]
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/committed")[0] == 0
    cluster.partition({leader}, set(followers))
    writer.send(
        jute.encode_request(
            jute.RequestHeader(writer.next_xid, OpCode.create),
            jute.CreateRequest("/lost", b"", OPEN_ACL_UNSAFE, 0),
        )[4:]
    )
    cluster.run_for(50)
    new = stable_among(cluster, followers)
    assert create(cluster, connect(cluster, new), "/new-epoch")[0] == 0
    cluster.heal()
    stable(cluster)
    old = cluster.peer(leader)
    assert old.sync_counts.get("SNAP", 0) == 1
    assert "/lost" not in old.core.tree.nodes and "/new-epoch" in old.core.tree.nodes


def stable_among(cluster: Cluster, sids: list[int], limit_ms: int = 20_000) -> int:
    def ok() -> bool:
        leaders = [s for s in cluster.leaders() if s in sids]
        return len(leaders) == 1 and all(cluster.peer(s).serving for s in sids)

    assert cluster.run_until(ok, limit_ms), "the majority side did not elect a leader"
    return next(s for s in cluster.leaders() if s in sids)


def test_a_session_created_at_one_server_reattaches_at_another() -> None:
    cluster = Cluster(3)
    stable(cluster)
    first = connect(cluster, 1)
    create(cluster, first, "/mine")
    moved = connect(cluster, 2, first.session_id, first.password)
    assert moved.session_id == first.session_id
    assert get_data(cluster, moved, "/mine")[0] == 0


def test_a_wrong_password_is_refused_at_a_follower() -> None:
    cluster = Cluster(3)
    stable(cluster)
    first = connect(cluster, 1)
    refused = connect(cluster, 2, first.session_id, bytes(16))
    assert refused.session_id == 0


def test_five_servers_tolerate_two_failures() -> None:
    cluster = Cluster(5)
    leader = stable(cluster)
    down = [s for s in (1, 2, 3, 4, 5) if s != leader][:2]
    for sid in down:
        cluster.crash(sid)
    up = [s for s in (1, 2, 3, 4, 5) if s not in down]
    writer = connect(cluster, up[0])
    assert create(cluster, writer, "/five")[0] == Code.OK
