"""SESSIONMOVED as Apache ZooKeeper answers it (``spec.ensemble.moved_session_request``), in
simulated ensembles: a session re-attaches at another server while its old connection is
still open, and the old connection goes on sending.

The error code never reaches the wire: the old server closes the old connection without a
reply (``FinalRequestProcessor``: ``cnxn.sendCloseSession()``), after a write has taken its
zxid as an error transaction. At the leader, every request of a moved session is checked
(``PrepRequestProcessor``: ``checkSession``); at a follower only what it forwards — writes;
its reads are answered from its own state and a forwarded sync is answered OK.
"""

from __future__ import annotations

import struct

import pytest

from reference import jute
from simulation.cluster import Cluster, SimClient, open_client
from spec.acl import OPEN_ACL_UNSAFE
from spec.ensemble import moved_session_request
from spec.errors import Code
from spec.opcodes import OpCode
from tests.quorum.test_cluster import call, connect, create, get_data, stable, sync


def send(client: SimClient, opcode: int, record: jute.RequestRecord | None) -> int:
    xid = client.next_xid
    client.next_xid += 1
    client.send(jute.encode_request(jute.RequestHeader(xid, opcode), record)[4:])
    return xid


def outcome(cluster: Cluster, client: SimClient, xid: int) -> tuple[int, int] | None:
    """(err, zxid) of the reply to ``xid``, or None if the connection closed without one."""
    replies: list[bytes] = []

    def done() -> bool:
        replies.extend(f for f in client.poll() if struct.unpack_from(">i", f, 4)[0] == xid)
        return bool(replies) or client.closed

    assert cluster.run_until(done, 5_000), "neither a reply nor a close"
    if not replies:
        return None
    _, zxid, err = struct.unpack_from(">iqi", replies[0], 4)
    return err, zxid


def moved(cluster: Cluster, old_at: int, new_at: int) -> tuple[SimClient, SimClient]:
    """A session created at ``old_at`` that re-attached at ``new_at``; the old connection
    is left open."""
    old = connect(cluster, old_at)
    assert create(cluster, old, "/mine", b"v")[0] == Code.OK
    new = connect(cluster, new_at, old.session_id, old.password)
    assert new.session_id == old.session_id
    return old, new


def last_zxid(cluster: Cluster, sid: int) -> int:
    return cluster.peer(sid).core.last_zxid


def roles(cluster: Cluster) -> tuple[int, int, int]:
    leader = stable(cluster)
    first, second = (s for s in (1, 2, 3) if s != leader)
    return leader, first, second


@pytest.mark.parametrize("old_at_leader", [False, True], ids=["at-a-follower", "at-the-leader"])
def test_a_write_on_the_old_connection_takes_a_zxid_and_closes_it_without_a_reply(
    old_at_leader: bool,
) -> None:
    cluster = Cluster(3)
    leader, first, second = roles(cluster)
    old_at = leader if old_at_leader else first
    old, new = moved(cluster, old_at, second)
    before = last_zxid(cluster, leader)
    xid = send(old, OpCode.setData, jute.SetDataRequest("/mine", b"stale", -1))
    assert outcome(cluster, old, xid) is None and old.closed
    assert cluster.run_until(lambda: last_zxid(cluster, second) == before + 1, 1_000)
    assert get_data(cluster, new, "/mine") == (Code.OK, b"v")  # the write did nothing
    expected = moved_session_request(OpCode.setData, old_at_leader)
    assert not expected.answered and expected.takes_zxid and expected.connection_closed


def test_at_a_follower_reads_and_sync_on_the_old_connection_are_answered() -> None:
    cluster = Cluster(3)
    _, first, second = roles(cluster)
    old, _ = moved(cluster, first, second)
    assert get_data(cluster, old, "/mine") == (Code.OK, b"v")
    assert sync(cluster, old) == Code.OK
    assert not old.closed
    for opcode in (OpCode.getData, OpCode.sync):
        assert moved_session_request(opcode, at_leader=False).answered


def test_at_the_leader_a_read_on_the_old_connection_closes_it_taking_no_zxid() -> None:
    cluster = Cluster(3)
    leader, _, second = roles(cluster)
    old, new = moved(cluster, leader, second)
    before = last_zxid(cluster, leader)
    xid = send(old, OpCode.getData, jute.GetDataRequest("/mine", False))
    assert outcome(cluster, old, xid) is None and old.closed
    assert last_zxid(cluster, leader) == before
    assert get_data(cluster, new, "/mine") == (Code.OK, b"v")  # the session lives on
    answer = moved_session_request(OpCode.getData, at_leader=True)
    assert not answer.answered and not answer.takes_zxid and answer.connection_closed


def test_at_the_leader_the_old_connection_is_closed_after_the_replies_before_it() -> None:
    """A write sent before the session moved is answered; a read sent after the move closes
    the connection, in the session's order: after that reply."""
    cluster = Cluster(3)
    leader, _, second = roles(cluster)
    old = connect(cluster, leader)
    write = send(old, OpCode.create, jute.CreateRequest("/x", b"", OPEN_ACL_UNSAFE, 0))
    new = open_client(cluster, second)  # re-attach while the write is still being proposed
    request = jute.ConnectRequest(0, 0, 10_000, old.session_id, old.password, False)
    new.send(jute.encode_connect_request(request)[4:])
    session = cluster.peer(leader).core.tracker.get(old.session_id)
    assert session is not None
    assert cluster.run_until(lambda: session.owner == second, 2)  # REVALIDATE arrived
    assert session.pending, "the write must still wait for its commit"
    read = send(old, OpCode.getData, jute.GetDataRequest("/x", False))
    assert outcome(cluster, old, write) == (Code.OK, last_zxid(cluster, leader))
    assert outcome(cluster, old, read) is None and old.closed


def test_close_session_on_the_old_connection_ends_the_session_everywhere() -> None:
    cluster = Cluster(3)
    _, first, second = roles(cluster)
    old, new = moved(cluster, first, second)
    xid = send(old, OpCode.closeSession, None)
    assert outcome(cluster, old, xid) == (Code.OK, last_zxid(cluster, first))
    assert cluster.run_until(lambda: bool(new.poll()) or new.closed, 1_000) and new.closed
    assert moved_session_request(OpCode.closeSession, at_leader=False).session_closed


def test_a_session_that_stays_put_is_never_moved() -> None:
    cluster = Cluster(3)
    leader, first, _ = roles(cluster)
    for sid in (leader, first):
        client = connect(cluster, sid)
        assert create(cluster, client, f"/stay-{sid}")[0] == Code.OK
        assert (
            call(cluster, client, OpCode.getData, jute.GetDataRequest(f"/stay-{sid}", False))[0]
            == 0
        )
