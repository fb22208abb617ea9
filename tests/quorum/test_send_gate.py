"""The Ready contract's hold on sends (``reference.quorum.messages.SendGate``), and which of a
peer's sends promise something about its disk: a leader's PROPOSAL goes out in the same Ready
that asks to log it, and a follower acks a proposal only once ``persisted`` says it is
durable — as Apache's leader and learners do (``Leader.propose``, ``SendAckRequestProcessor``)."""

from __future__ import annotations

from collections.abc import Callable

from reference.quorum.election_wire import Notification, ServerState
from reference.quorum.messages import ElectionSend, QuorumClose, QuorumSend, SendGate
from reference.quorum.wire import PacketType, QuorumPacket
from reference.ready import Ready
from reference.txn import Txn
from simulation.cluster import Cluster
from tests.quorum.test_cluster import connect, create, stable


def _packet(zxid: int) -> QuorumPacket:
    return QuorumPacket(PacketType.PING, zxid, None, None)


def test_a_send_waits_for_the_persists_asked_before_it_and_an_at_once_send_does_not() -> None:
    gate = SendGate()
    waits = QuorumSend(1, _packet(1))
    at_once = QuorumSend(2, _packet(2), after_persists=False)
    assert gate.admit([waits, at_once], asked=5, done=3) == [at_once]
    assert gate.release(4) == []
    assert gate.release(5) == [waits]
    assert len(gate) == 0


def test_an_at_once_send_never_overtakes_an_earlier_send_on_its_connection() -> None:
    gate = SendGate()
    first = QuorumSend(1, _packet(1))
    second = QuorumSend(1, _packet(2), after_persists=False)
    close = QuorumClose(1)
    elsewhere = QuorumSend(-1, _packet(3), after_persists=False)
    assert gate.admit([first, second, close, elsewhere], asked=2, done=1) == [elsewhere]
    assert gate.release(2) == [first, second, close]


def test_election_notifications_always_wait_for_the_log() -> None:
    gate = SendGate()
    vote = ElectionSend(2, Notification(ServerState.LOOKING, 1, 0x100, 1, 1))
    assert gate.admit([vote], asked=1, done=0) == []
    assert gate.admit([], asked=1, done=1) == []
    assert gate.release(1) == [vote]


def _recording(cluster: Cluster) -> dict[int, list[Ready]]:
    """Every Ready each peer gives from now on."""
    seen: dict[int, list[Ready]] = {sid: [] for sid in cluster.voters}
    for sid in cluster.voters:
        peer = cluster.peer(sid)
        original = peer.ready

        def ready(original: Callable[[], Ready] = original, sid: int = sid) -> Ready:
            result = original()
            seen[sid].append(Ready(list(result.persist), list(result.send), list(result.clients)))
            return result

        peer.ready = ready  # type: ignore[method-assign]
    return seen


def _quorum_packets(ready: Ready, kind: int) -> list[QuorumSend]:
    return [
        s
        for s in ready.send
        if isinstance(s, QuorumSend)
        and isinstance(s.packet, QuorumPacket)
        and s.packet.type == kind
    ]


def test_the_leader_sends_a_proposal_with_its_own_log_write_and_a_follower_acks_once_durable() -> (
    None
):
    cluster = Cluster(3)
    leader = stable(cluster)
    follower = 1 if leader != 1 else 2
    client = connect(cluster, follower)
    seen = _recording(cluster)
    err, zxid = create(cluster, client, "/a")
    assert err == 0
    # The follower forwards the request without waiting for its log.
    forwarded = [s for r in seen[follower] for s in _quorum_packets(r, PacketType.REQUEST)]
    assert forwarded and not any(s.after_persists for s in forwarded)
    # The leader: the PROPOSAL leaves in the Ready that asks to log the txn, not after it.
    (proposing,) = [r for r in seen[leader] if _quorum_packets(r, PacketType.PROPOSAL)]
    assert [t.header.zxid for t in proposing.persist if isinstance(t, Txn)] == [zxid]
    assert not any(s.after_persists for s in _quorum_packets(proposing, PacketType.PROPOSAL))
    # The follower: the Ready that logs the proposal acks nothing; the ack comes later (after
    # ``persisted``), needing no further wait.
    logging = [r for r in seen[follower] if any(isinstance(t, Txn) for t in r.persist)]
    assert logging and not any(_quorum_packets(r, PacketType.ACK) for r in logging)
    acks = [
        (i, s)
        for i, r in enumerate(seen[follower])
        for s in _quorum_packets(r, PacketType.ACK)
        if isinstance(s.packet, QuorumPacket) and s.packet.zxid == zxid
    ]
    assert len(acks) == 1
    index, ack = acks[0]
    assert index > seen[follower].index(logging[0]) and not ack.after_persists
