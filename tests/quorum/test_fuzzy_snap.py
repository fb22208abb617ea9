"""A follower synchronized by an Apache ZooKeeper leader's SNAP, whose snapshot is fuzzy.

Apache's ``LearnerHandler`` chooses what to forward (the proposals after the tree's zxid
at that moment, ``syncFollower``), then names the tree's zxid again in SNAP and streams
the live tree while its leader goes on applying txns (``run``: ``serializeSnapshot``). So
after SNAP come proposals the snapshot already holds, whole (at or below the zxid SNAP
names) or in part (the txns applied while it streamed), and its learners apply them again
as a log is replayed over a snapshot (``DataTree.processTxn``: a create of a znode that
exists, a delete or change of one that does not, changes nothing). A zkref follower must
end with its leader's tree, in memory and after a restart from its disk, and must not take
the replay for a divergence (no digest is compared until the replay is over).
"""

from __future__ import annotations

from reference.datatree import DataTree
from reference.quorum import apache_txn
from reference.quorum.apache_digest import tree_digest
from reference.quorum.apache_snapshot import from_zkref
from reference.quorum.peer import QuorumPeer
from reference.quorum.wire import PacketType, QuorumPacket
from reference.txn import CreateTxn, DeleteTxn, MultiTxn, SetDataTxn, Txn, TxnBody, TxnHeader
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.quorum.conversation import FollowerConversation, packet

EPOCH_1 = 1 << 32


def _txn(counter: int, opcode: int, body: TxnBody) -> Txn:
    return Txn(TxnHeader(0, counter, EPOCH_1 | counter, 1_000 * counter, opcode), body)


def _create(path: str, parent_cversion: int, data: bytes = b"x") -> CreateTxn:
    return CreateTxn(
        path, data, OPEN_ACL_UNSAFE, "persistent", 0, 0, parent_cversion, OpCode.create
    )


# The leader's history. The snapshot it streams names 0x100000003 but already holds up to
# 0x100000005 (two txns applied while it streamed); it forwards from 0x100000003 on.
HISTORY = [
    _txn(1, OpCode.create, _create("/a", 1)),
    _txn(2, OpCode.create, _create("/a/b", 1)),
    _txn(3, OpCode.setData, SetDataTxn("/a", b"v3", 1)),
    _txn(4, OpCode.delete, DeleteTxn("/a/b")),
    _txn(5, OpCode.create, _create("/c", 2)),
    _txn(6, OpCode.multi, MultiTxn((_create("/m", 3), SetDataTxn("/a", b"v6", 2)))),
    _txn(7, OpCode.create, _create("/d", 4)),
]
SNAP_ZXID = EPOCH_1 | 3
STREAMED_UP_TO = 5
AFTER = _txn(8, OpCode.setData, SetDataTxn("/d", b"live", 1))


def _tree_after(txns: list[Txn]) -> DataTree:
    tree = DataTree()
    for txn in txns:
        tree.apply(txn, [])
    return tree


def _digested(txn: Txn, history: list[Txn]) -> QuorumPacket:
    """The PROPOSAL with the digest the leader's tree has once it is applied."""
    digest = apache_txn.TxnDigest(apache_txn.DIGEST_VERSION, tree_digest(_tree_after(history)))
    data = apache_txn.encode_txn_entry(apache_txn.from_zkref(txn, digest))
    return QuorumPacket(PacketType.PROPOSAL, txn.header.zxid, data, None)


def _znodes(tree: DataTree) -> dict[str, tuple[bytes | None, tuple[int, ...]]]:
    return {path: (node.data, node.stat_values()) for path, node in tree.nodes.items()}


def test_a_fuzzy_snapshot_and_the_proposals_it_holds_end_in_the_leaders_tree() -> None:
    follower = FollowerConversation()
    follower.discovery()
    fuzzy = from_zkref(_tree_after(HISTORY[:STREAMED_UP_TO]), [])
    follower.leader_sends(packet(PacketType.SNAP, SNAP_ZXID), fuzzy)
    for index, txn in enumerate(HISTORY[2:], start=2):
        follower.leader_sends(_digested(txn, HISTORY[: index + 1]))
        if txn is not HISTORY[-1]:
            follower.leader_sends(packet(PacketType.COMMIT, txn.header.zxid))
    follower.leader_sends(packet(PacketType.NEWLEADER, EPOCH_1, b"version=0"))
    assert not follower.gave_up
    assert follower.sent[-1] == packet(PacketType.ACK, HISTORY[-1].header.zxid)
    # Logged: what came after the zxid SNAP named; in the snapshot (at or below it): not.
    assert follower.logged_zxids() == [t.header.zxid for t in HISTORY[3:]]
    follower.leader_sends(packet(PacketType.UPTODATE, -1))
    follower.leader_sends(packet(PacketType.COMMIT, HISTORY[-1].header.zxid))
    follower.leader_sends(_digested(AFTER, [*HISTORY, AFTER]))
    follower.leader_sends(packet(PacketType.COMMIT, AFTER.header.zxid))
    assert follower.serving
    peer = follower.peer
    expected = _tree_after([*HISTORY, AFTER])
    assert _znodes(peer.core.tree) == _znodes(expected)
    # The replayed txns' digests were not compared; the first one after them was, and
    # matched.
    assert peer.digest_mismatches == 0 and peer.digests_compared == 1
    assert peer.digest is not None and peer.digest.value == tree_digest(expected)

    # After a restart from its disk (the fuzzy snapshot, then its log), the same tree.
    disk = follower.disk
    restarted = QuorumPeer.restore(
        peer.config,
        peer.core.config,
        follower.now,
        disk.snapshot,
        [blob for _, blob in disk.log],
        disk.accepted_epoch,
        disk.current_epoch,
    )
    restarted.apply_pending(restarted.log_last)
    assert _znodes(restarted.core.tree) == _znodes(expected)
    assert restarted.digest is not None and restarted.digest.value == tree_digest(expected)
