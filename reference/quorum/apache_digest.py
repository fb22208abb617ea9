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
  (``PrepRequestProcessor.setTxnDigest``); a learner compares after applying
  (``DataTree.compareDigest``) and on a mismatch only logs and counts
  (``digest_mismatches_count``).
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from reference.datatree import DataTree
from reference.quorum.apache_snapshot import ApacheSnapshot, StatPersisted, stat_persisted
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
