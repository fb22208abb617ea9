"""Apache's snapshot as sent after SNAP, its mapping to zkref's tree
(``reference.quorum.apache_snapshot``), and Apache's tree digest (``apache_digest``)."""

from __future__ import annotations

import struct
import zlib

import pytest

from reference import txn as zk
from reference.datatree import DataTree
from reference.jute import JuteError
from reference.persistence import SessionImage
from reference.quorum import apache_snapshot as snap
from reference.quorum.apache_digest import node_digest, snapshot_digest, tree_digest
from spec.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id

SESSION = 0x0100_0000_0000_0007
DIGEST_ACL = (ACL(31, Id("digest", "u:hash")),)
MIN_LONG = -(1 << 63)


def a_tree() -> tuple[DataTree, list[SessionImage]]:
    """A zkref tree with every kind of znode, built by applying txns."""
    tree = DataTree()
    zxid = 0x1_0000_0000

    def apply(body: zk.TxnBody, type_: int) -> None:
        nonlocal zxid
        zxid += 1
        tree.apply(zk.Txn(zk.TxnHeader(SESSION, 1, zxid, 1_700_000 + zxid, type_), body), [])

    def create(path: str, kind: str, opcode: int, data: bytes | None = b"x", **kw: int) -> None:
        parent = tree.nodes[path[: path.rindex("/")] or "/"]
        owner = SESSION if kind == "ephemeral" else 0
        body = zk.CreateTxn(
            path,
            data,
            DIGEST_ACL if "acl" in kw else OPEN_ACL_UNSAFE,
            kind,
            owner,
            kw.get("ttl", 0),
            parent.cversion + 1,
            opcode,
        )
        apply(body, opcode)

    apply(zk.CreateSessionTxn(4000), -10)
    create("/a", "persistent", 1)
    create("/a/b", "persistent", 1, None, acl=1)
    create("/a/e", "ephemeral", 1)
    create("/c", "container", 19)
    create("/c/child", "persistent", 1, acl=1)
    create("/t", "ttl", 21, ttl=60_000)
    create("/r", "persistent", 1, data=b"")
    apply(zk.SetDataTxn("/a", b"y" * 300, 1), 5)
    apply(zk.SetACLTxn("/r", READ_ACL_UNSAFE, 1), 7)
    apply(zk.DeleteTxn("/r"), 2)
    return tree, [SessionImage(SESSION, 4000), SessionImage(SESSION + 1, 30000)]


def assert_same_tree(left: DataTree, right: DataTree) -> None:
    assert list(left.nodes) == list(right.nodes)
    for path, node in left.nodes.items():
        other = right.nodes[path]
        assert snap.stat_persisted(other) == snap.stat_persisted(node), path
        fields = ("data", "acl", "kind", "ephemeral_owner", "ttl", "children")
        assert [getattr(other, f) for f in fields] == [getattr(node, f) for f in fields], path
    assert {k: set(v) for k, v in left.ephemerals.items() if v} == {
        k: set(v) for k, v in right.ephemerals.items() if v
    }
    assert (left.containers, left.ttls) == (right.containers, right.ttls)
    assert left.last_processed_zxid == right.last_processed_zxid


def test_a_zkref_tree_goes_to_apache_bytes_and_back_unchanged() -> None:
    tree, sessions = a_tree()
    snapshot = snap.from_zkref(tree, sessions)
    data = snap.encode_snapshot_transfer(snapshot)
    assert data.endswith(struct.pack(">i", 10) + b"BenWasHere")
    assert snap.decode_snapshot_transfer(data) == snapshot
    again, sessions_again = snap.to_zkref(
        snap.decode_snapshot_transfer(data),
        tree.last_processed_zxid,
        extended_types_enabled=True,
    )
    assert sessions_again == sessions
    assert_same_tree(tree, again)


def test_the_snapshot_carries_kinds_in_the_owner_and_acls_by_index() -> None:
    tree, sessions = a_tree()
    snapshot = snap.from_zkref(tree, sessions)
    nodes = {n.path: n for n in snapshot.nodes}
    assert snapshot.nodes[0].path == ""  # the root
    assert nodes["/a/e"].stat.ephemeralOwner == SESSION
    assert nodes["/c"].stat.ephemeralOwner == MIN_LONG
    assert (
        nodes["/t"].stat.ephemeralOwner == struct.unpack(">q", bytes.fromhex("ff0000000000ea60"))[0]
    )
    assert nodes["/a"].stat.ephemeralOwner == 0
    assert nodes["/a"].acl == snap.OPEN_ACL_UNSAFE_INDEX
    assert nodes["/a/b"].acl == nodes["/c/child"].acl == 2
    assert [(e.index, e.acl) for e in snapshot.acl_cache] == [(1, READ_ACL_UNSAFE), (2, DIGEST_ACL)]
    assert nodes["/a/b"].data is None and nodes["/a"].data == b"y" * 300


def test_a_ttl_owner_is_a_session_unless_extended_types_are_enabled() -> None:
    ttl_owner = -(1 << 56) | 60_000  # 0xff00_0000_0000_ea60
    assert snap.node_kind(ttl_owner, True) == ("ttl", 0, 60_000)
    assert snap.node_kind(ttl_owner, False) == ("ephemeral", ttl_owner, 0)
    assert snap.node_kind(MIN_LONG, False) == ("container", 0, 0)
    assert snap.node_kind(0, True) == ("persistent", 0, 0)
    with pytest.raises(snap.UnmappableSnapshot, match="invalid ephemeralOwner"):
        snap.node_kind(-(1 << 56) | (1 << 40), True)


def test_the_parser_reads_a_snapshot_arriving_a_byte_at_a_time() -> None:
    tree, sessions = a_tree()
    snapshot = snap.from_zkref(tree, sessions)
    data = snap.encode_snapshot_transfer(snapshot)
    parser = snap.SnapshotParser(signed=True)
    buffer = bytearray()
    position = 0
    for byte in data:
        buffer.append(byte)
        position = parser.parse(buffer, position)
    assert parser.done and position == len(data)
    assert parser.result() == snapshot


def node(path: str, acl: int = -1) -> snap.SnapshotNode:
    return snap.SnapshotNode(path, b"", acl, snap.StatPersisted(*[0] * 9))


@pytest.mark.parametrize(
    ("nodes", "reason"),
    [
        ((node(""), node("/a/b")), "no parent"),
        ((node(""), node("/a"), node("/a")), "seen twice"),
        ((node(""), node("/a", acl=7)), "ACL index 7"),
        ((node("/a"),), "no parent"),
        ((), "no root"),
        ((node(""), node("/a"), node("")), "root is not the first"),
    ],
)
def test_a_snapshot_apache_could_not_load_is_refused(
    nodes: tuple[snap.SnapshotNode, ...], reason: str
) -> None:
    with pytest.raises(snap.UnmappableSnapshot, match=reason):
        snap.to_zkref(snap.ApacheSnapshot((), (), nodes), 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (struct.pack(">i", -1), "negative session count"),
        (struct.pack(">iiqi", 0, 1, 1, -1), "null ACL vector"),
        (struct.pack(">iii", 0, 0, -1), "null ustring"),
        (struct.pack(">iii", 0, 0, 1) + b"/" + struct.pack(">i", 3) + b"Ben", "missing signature"),
        (struct.pack(">ii", 0, 0), "truncated snapshot"),
    ],
)
def test_malformed_snapshot_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        snap.decode_snapshot_transfer(data)


def test_a_fresh_trees_digest_is_the_root_and_zookeeper_znodes() -> None:
    zeros = bytes(60)
    expected = zlib.crc32(zeros) + zlib.crc32(b"/zookeeper" + zeros)
    assert tree_digest(DataTree()) == expected


def test_a_znode_digest_covers_path_data_and_stored_stat_but_not_under_zookeeper() -> None:
    stat = snap.StatPersisted(1, 2, 3, 4, 5, 6, 7, 8, 9)
    fields = struct.pack(">qqqqqiiiq", 1, 2, 9, 3, 4, 5, 6, 7, 8)  # czxid mzxid pzxid first
    assert node_digest("/a", b"xy", stat) == zlib.crc32(b"/axy" + fields)
    assert node_digest("/a", None, stat) == zlib.crc32(b"/a" + fields)
    assert node_digest("/", b"", stat) == node_digest("", b"", stat)
    assert node_digest("/zookeeper/quota", b"", stat) == 0
    assert node_digest("/zookeeper", b"", stat) != 0


def test_a_trees_digest_is_its_snapshots_digest_and_moves_with_every_change() -> None:
    tree, sessions = a_tree()
    before = tree_digest(tree)
    assert before == snapshot_digest(snap.from_zkref(tree, sessions))
    tree.nodes["/a"].version += 1
    assert tree_digest(tree) != before
