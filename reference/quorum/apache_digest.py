"""Apache ZooKeeper's tree digest (3.6+): what a ``TxnDigest`` in a PROPOSAL holds.

Rules (``DigestCalculator.calculateDigest``, ``NodeHashMapImpl``, ``AdHash``)
---------------------------------------------------------------------------
* A znode's digest is the CRC-32 of its path's bytes ("/" counts as ""), then its data (if
  not null), then 60 bytes: czxid, mzxid, pzxid, ctime, mtime (longs), version, cversion,
  aversion (ints), ephemeralOwner (long) — big-endian, the *stored* cversion and owner
  (``reference.quorum.apache_snapshot.StatPersisted``). Digest version 2.
* Znodes under ``/zookeeper/`` count 0 (their data changes locally: quotas, the config);
  ``/zookeeper`` itself counts.
* The tree's digest is the sum of its znodes' digests as a Java ``long`` (wrapping).
* A leader puts the digest the tree will have *after* the txn into the txn
  (``PrepRequestProcessor.setTxnDigest``; an error txn gets none); a learner compares after
  applying (``DataTree.compareDigest``) and on a mismatch only logs and counts
  (``digest_mismatches_count``).
* Both keep the digest as the tree changes rather than walking the tree: every put and
  remove of a znode adds or takes away its digest (``NodeHashMapImpl``). ``TreeDigest``
  does that for a tree that txns change (a learner's, and the leader's committed one);
  ``ProposalDigests`` for the tree a leader's outstanding proposals will make.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Final

from reference.datatree import DataNode, DataTree
from reference.quorum.apache_snapshot import (
    ApacheSnapshot,
    StatPersisted,
    ephemeral_owner_of,
    stat_persisted,
)
from reference.txn import (
    CloseSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    Txn,
)
from spec.stat import int64

ZOOKEEPER_NODE_SUBTREE: Final = "/zookeeper/"
_FIELDS: Final = struct.Struct(">qqqqqiiiq")


def node_digest(path: str, data: bytes | None, stat: StatPersisted) -> int:
    """One znode's digest (0 under ``/zookeeper/``)."""
    if path.startswith(ZOOKEEPER_NODE_SUBTREE):
        return 0
    crc = zlib.crc32(b"" if path == "/" else path.encode("utf-8"))
    if data is not None:
        crc = zlib.crc32(data, crc)
    fields = _FIELDS.pack(
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.ctime,
        stat.mtime,
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.ephemeralOwner,
    )
    return zlib.crc32(fields, crc)


def tree_digest(tree: DataTree) -> int:
    """The digest of a zkref tree as Apache would compute it for the same znodes."""
    total = 0
    for path, node in tree.nodes.items():
        total += node_digest(path, node.data, stat_persisted(node))
    return int64(total)


def snapshot_digest(snapshot: ApacheSnapshot) -> int:
    """The digest of the tree a snapshot holds."""
    return int64(sum(node_digest(n.path, n.data, n.stat) for n in snapshot.nodes))


# --- a running digest, as Apache keeps it ----------------------------------------------------


def znode_digest(path: str, node: DataNode) -> int:
    """``node_digest`` of a zkref znode, without building its ``StatPersisted``."""
    if path.startswith(ZOOKEEPER_NODE_SUBTREE):
        return 0
    crc = zlib.crc32(b"" if path == "/" else path.encode("utf-8"))
    if node.data is not None:
        crc = zlib.crc32(node.data, crc)
    fields = _FIELDS.pack(
        node.czxid,
        node.mzxid,
        node.pzxid,
        node.ctime,
        node.mtime,
        node.version,
        node.cversion,
        node.aversion,
        ephemeral_owner_of(node),
    )
    return zlib.crc32(fields, crc)


def _parent(path: str) -> str:
    return path[: path.rindex("/")] or "/"


def _sub_paths(body: object, out: set[str]) -> None:
    if isinstance(body, (CreateTxn, DeleteTxn)):
        out.add(body.path)
        out.add(_parent(body.path))
    elif isinstance(body, (SetDataTxn, SetACLTxn)):
        out.add(body.path)


def touched_paths(txn: Txn) -> frozenset[str]:
    """The znodes ``DataTree.apply`` changes, adds or removes for ``txn``: a create's or a
    delete's znode and its parent, a setData's or setACL's znode, a closeSession's
    ephemerals and their parents, a multi's sub-ops' (none when it failed)."""
    body = txn.body
    out: set[str] = set()
    if isinstance(body, MultiTxn):
        if not any(isinstance(sub, ErrorTxn) for sub in body.txns):
            for sub in body.txns:
                _sub_paths(sub, out)
    elif isinstance(body, CloseSessionTxn):
        for path in body.paths:
            out.add(path)
            out.add(_parent(path))
    else:
        _sub_paths(body, out)
    return frozenset(out)


def paths_digest(nodes: Mapping[str, DataNode], paths: Iterable[str]) -> int:
    """The sum of the digests of those of ``paths`` that are znodes in ``nodes``."""
    total = 0
    for path in paths:
        node = nodes.get(path)
        if node is not None:
            total += znode_digest(path, node)
    return total


class TreeDigest:
    """The digest of a tree that changes only by ``DataTree.apply``, kept up to date by
    adding and taking away the digests of the znodes each txn touches, as Apache's
    ``NodeHashMapImpl`` does on every put and remove. ``before`` just before applying a
    txn, ``after`` just after."""

    __slots__ = ("value",)

    def __init__(self, tree: DataTree) -> None:
        self.value = tree_digest(tree)

    def before(self, tree: DataTree, txn: Txn) -> tuple[frozenset[str], int]:
        paths = touched_paths(txn)
        return paths, paths_digest(tree.nodes, paths) if paths else 0

    def after(self, tree: DataTree, touched: tuple[frozenset[str], int]) -> None:
        paths, before = touched
        if paths:
            self.value = int64(self.value - before + paths_digest(tree.nodes, paths))


def copy_znode(node: DataNode) -> DataNode:
    """A znode's data, ACL and stat, without its children (the digest does not cover them)."""
    copy = DataNode(
        node.data, node.acl, node.czxid, node.ctime, node.kind, node.ephemeral_owner, node.ttl
    )
    copy.mzxid = node.mzxid
    copy.pzxid = node.pzxid
    copy.mtime = node.mtime
    copy.version = node.version
    copy.cversion = node.cversion
    copy.aversion = node.aversion
    return copy


class ProposalDigests:
    """What a leader puts in each proposal's ``TxnDigest``: the digest its tree will have
    once that proposal and every one before it are applied (``PrepRequestProcessor``:
    ``precalculateDigest`` over ``outstandingChanges``, ``setTxnDigest``).

    The committed tree stays as it is; the znodes that outstanding proposals change are
    kept as they will be (``_changed``, with the zxid of the last proposal that changed
    each), and each new proposal is applied by ``DataTree.apply`` itself to copies of the
    znodes it touches, in a scratch tree: the digest moves by what that changed. A COMMIT
    makes the tree catch up (``committed``), and what it holds is forgotten here.
    """

    __slots__ = ("_changed", "_order", "_scratch", "tree", "value")

    def __init__(self, tree: DataTree, value: int) -> None:
        self.tree = tree
        self.value = value  # the digest once every proposal so far is applied
        self._changed: dict[str, tuple[DataNode | None, int]] = {}
        self._order: deque[tuple[int, frozenset[str]]] = deque()
        self._scratch = DataTree()

    def _view(self, path: str) -> DataNode | None:
        changed = self._changed.get(path)
        if changed is not None:
            return changed[0]
        return self.tree.nodes.get(path)

    def propose(self, txn: Txn) -> int:
        """The digest after ``txn``, proposed after every proposal before it."""
        paths = touched_paths(txn)
        if not paths:
            return self.value
        scratch = self._scratch
        scratch.nodes = {}
        for path in paths:
            node = self._view(path)
            if node is not None:
                scratch.nodes[path] = copy_znode(node)
        before = paths_digest(scratch.nodes, paths)
        scratch.ephemerals.clear()
        scratch.containers.clear()
        scratch.ttls.clear()
        scratch.apply(txn, [])
        self.value = int64(self.value - before + paths_digest(scratch.nodes, paths))
        zxid = txn.header.zxid
        for path in paths:
            self._changed[path] = (scratch.nodes.get(path), zxid)
        self._order.append((zxid, paths))
        return self.value

    def committed(self, zxid: int) -> None:
        """Every proposal up to ``zxid`` is in the tree."""
        order = self._order
        changed = self._changed
        while order and order[0][0] <= zxid:
            change_zxid, paths = order.popleft()
            for path in paths:
                held = changed.get(path)
                if held is not None and held[1] == change_zxid:
                    del changed[path]
