"""Tree digests in an ensemble (``reference.quorum.apache_digest``): a leader puts in each
proposal the digest its tree will have once the proposal is applied, as Apache's
``PrepRequestProcessor`` does, and every server compares its own tree's digest with it once
it applies the txn (``DataTree.compareDigest``), so a follower whose tree differs from its
leader's says so, whichever kind either is."""

from __future__ import annotations

from reference import jute
from reference.datatree import DataTree
from reference.quorum import apache_txn
from reference.quorum.apache_digest import ProposalDigests, TreeDigest, touched_paths, tree_digest
from reference.txn import (
    CloseSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
    TxnHeader,
)
from simulation.cluster import Cluster
from spec.acl import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.quorum.test_cluster import call, connect, create, stable

SESSION = 0x100


def _txn(zxid: int, body: object, opcode: int = OpCode.create) -> Txn:
    return Txn(TxnHeader(SESSION, 1, zxid, 1_000 + zxid, opcode), body)  # type: ignore[arg-type]


def _create(
    path: str, parent_cversion: int, kind: str = "persistent", data: bytes = b"d"
) -> CreateTxn:
    owner = SESSION if kind == "ephemeral" else 0
    return CreateTxn(path, data, OPEN_ACL_UNSAFE, kind, owner, 0, parent_cversion, OpCode.create)


def test_the_znodes_a_txn_touches_are_its_znode_and_parent_and_none_for_a_failed_multi() -> None:
    assert touched_paths(_txn(1, _create("/a/b", 1))) == {"/a/b", "/a"}
    assert touched_paths(_txn(1, _create("/a", 1))) == {"/a", "/"}
    assert touched_paths(_txn(1, SetDataTxn("/a", b"", 1))) == {"/a"}
    assert touched_paths(_txn(1, CloseSessionTxn(("/a/e",)))) == {"/a/e", "/a"}
    ok = MultiTxn((_create("/m", 1), DeleteTxn("/a/b")))
    assert touched_paths(_txn(1, ok, OpCode.multi)) == {"/m", "/", "/a/b", "/a"}
    failed = MultiTxn((ErrorTxn(0), ErrorTxn(-101)))
    assert touched_paths(_txn(1, failed, OpCode.multi)) == frozenset()


def test_proposal_digests_over_outstanding_proposals_are_the_trees_digest_once_applied() -> None:
    """Proposals made one after another on a tree that has applied none of them: each
    digest is the digest the tree has once it has applied them up to that one."""
    tree = DataTree()
    digests = ProposalDigests(tree, tree_digest(tree))
    txns = [
        _txn(1, _create("/a", 1)),
        _txn(2, _create("/a/e", 1, "ephemeral")),
        _txn(3, SetDataTxn("/a", b"changed", 1), OpCode.setData),
        _txn(4, MultiTxn((_create("/m", 2), SetDataTxn("/a", b"again", 2))), OpCode.multi),
        _txn(5, CloseSessionTxn(("/a/e",)), OpCode.closeSession),
        _txn(6, DeleteTxn("/m"), OpCode.delete),
        _txn(7, _create("/c", 4, "container", b""), OpCode.createContainer),
    ]
    proposed = [digests.propose(txn) for txn in txns]
    running = TreeDigest(tree)
    for txn, digest in zip(txns, proposed, strict=True):
        touched = running.before(tree, txn)
        tree.apply(txn, [])
        running.after(tree, touched)
        digests.committed(txn.header.zxid)
        assert running.value == tree_digest(tree) == digest, txn
    assert len(set(proposed)) == len(proposed)  # each txn moved it


def _put(cluster: Cluster, client: object, opcode: int, record: jute.RequestRecord | None) -> int:
    return call(cluster, client, opcode, record)[0]  # type: ignore[arg-type]


def test_in_an_ensemble_every_follower_compares_every_proposals_digest_and_they_match() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    followers = [sid for sid in (1, 2, 3) if sid != leader]
    writer = connect(cluster, followers[0])
    assert create(cluster, writer, "/d", b"one")[0] == 0
    owner = connect(cluster, leader)
    ephemeral = jute.CreateRequest("/d/e", b"", OPEN_ACL_UNSAFE, 1)
    assert _put(cluster, owner, OpCode.create, ephemeral) == 0
    assert _put(cluster, writer, OpCode.setData, jute.SetDataRequest("/d", b"two", -1)) == 0
    assert _put(cluster, writer, OpCode.setACL, jute.SetACLRequest("/d", READ_ACL_UNSAFE, -1)) == 0
    multi = jute.MultiRequest(
        (
            jute.MultiOp(OpCode.create, jute.CreateRequest("/m", b"", OPEN_ACL_UNSAFE, 0)),
            jute.MultiOp(OpCode.check, jute.CheckVersionRequest("/m", 0)),
        )
    )
    assert _put(cluster, writer, OpCode.multi, multi) == 0
    assert _put(cluster, owner, OpCode.closeSession, None) == 0  # deletes /d/e
    assert create(cluster, writer, "/after", b"x")[0] == 0
    cluster.run_for(1_000)
    for sid in (1, 2, 3):
        peer = cluster.peer(sid)
        assert peer.digest is not None and peer.digest.value == tree_digest(peer.core.tree)
        assert peer.digest_mismatches == 0, sid
        # Every txn past the election carried a digest, checked here (the leader checks
        # its own proposals the same way).
        assert peer.digests_compared >= 7, (sid, peer.digests_compared)


def test_a_follower_whose_tree_differs_from_its_leaders_counts_a_digest_mismatch() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    follower = next(sid for sid in (1, 2, 3) if sid != leader)
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/x", b"same")[0] == 0
    cluster.run_for(500)
    # The follower's tree drifts from its leader's (as if it had applied a txn the leader
    # never made); its digest follows its tree.
    diverged = cluster.peer(follower)
    diverged.core.tree.nodes["/x"].data = b"diverged"
    diverged.digest = TreeDigest(diverged.core.tree)
    assert create(cluster, writer, "/y")[0] == 0
    cluster.run_for(500)
    assert diverged.digest_mismatches == 1
    others = [cluster.peer(sid) for sid in (1, 2, 3) if sid != follower]
    assert [peer.digest_mismatches for peer in others] == [0, 0]


def test_a_proposal_carries_apaches_txn_digest_and_an_error_txn_none() -> None:
    cluster = Cluster(3)
    leader = stable(cluster)
    peer = cluster.peer(leader)
    writer = connect(cluster, leader)
    assert create(cluster, writer, "/p", b"")[0] == 0
    txn = _txn(peer.core.last_proposed + 1, _create("/q", 2))
    packet = peer.new_proposal_packet(txn)
    assert packet.data is not None
    entry = apache_txn.decode_txn_entry(packet.data)
    assert entry.digest is not None and entry.digest.version == apache_txn.DIGEST_VERSION
    tree = peer.core.tree
    running = TreeDigest(tree)
    tree.apply(txn, [])
    assert entry.digest.treeDigest == tree_digest(tree) != running.value
    error = peer.new_proposal_packet(_txn(txn.header.zxid + 1, ErrorTxn(-101), OpCode.error))
    assert error.data is not None and apache_txn.decode_txn_entry(error.data).digest is None
