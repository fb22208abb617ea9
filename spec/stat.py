"""Chapter: the Stat — the bookkeeping every znode carries and many replies return.

Rules
-----
* A Stat has eleven fields in this order (the wire order): czxid, mzxid, ctime, mtime,
  version, cversion, aversion, ephemeralOwner, dataLength, numChildren, pzxid.
* ``czxid``/``ctime``: the zxid and time of the create. ``mzxid``/``mtime``: of the last
  create or setData (setACL and child changes do not touch them). ``pzxid``: the zxid of
  the last create or delete of a direct child (or the node's own create).
* ``version`` counts setData calls, ``aversion`` setACL calls, both from 0.
* ``cversion`` as clients see it is ``2 * child_creates - numChildren``: the number of
  creates plus deletes of children. The server stores only ``child_creates`` (which also
  drives sequential names, see ``spec.modes``) and derives the rest when copying the Stat
  out (``DataNode.copyStat``). The arithmetic is Java int32, so it wraps.
* ``ephemeralOwner`` is the owning session id for ephemerals and 0 otherwise; containers
  and TTL nodes store markers internally but clients see 0.
* ``dataLength`` is the data's length (0 for null data); ``numChildren`` the number of
  direct children.

Source: ``org.apache.zookeeper.data.Stat`` (zookeeper.jute), ``DataNode.copyStat``,
``DataTree.createNode``/``deleteNode``/``setData``/``setACL``.
"""

from __future__ import annotations

from spec.record import record


def int32(value: int) -> int:
    """Wrap ``value`` to a Java ``int`` (two's complement, 32 bits)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def int64(value: int) -> int:
    """Wrap ``value`` to a Java ``long`` (two's complement, 64 bits)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


@record
class Stat:
    """The Stat of a znode as a client receives it (68 bytes on the wire)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


def client_cversion(child_creates: int, num_children: int) -> int:
    """The ``cversion`` a client sees: creates plus deletes of children, as Java int32."""
    return int32(2 * child_creates - num_children)
