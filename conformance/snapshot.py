"""Reading the whole tree before a history begins, for servers that are not fresh.

The checker replays a history from the state the server was in when it began. On a freshly
started server that is the spec's initial state; on any other server the recorder first
reads the tree with ``take_snapshot`` (getChildren2, getData and getACL of every znode, while
nothing else runs) and records it as the history's ``snapshot`` event.

Bounded: at most ``SNAPSHOT_NODES_MAX`` znodes are read; a bigger tree is refused (use a
fresh server, or a server whose tree is small).
"""

from __future__ import annotations

from conformance.client import Client
from conformance.history import Snapshot, SnapshotNode
from spec import requests as rq
from spec.errors import Code
from spec.paths import child_path

SNAPSHOT_NODES_MAX = 10_000


class SnapshotError(RuntimeError):
    """The tree could not be read consistently (it changed, or it is too big)."""


async def take_snapshot(client: Client, root: str = "/") -> Snapshot:
    """Read every znode under ``root`` with ``client``; the tree must not change meanwhile."""
    nodes: list[SnapshotNode] = []
    zxids: set[int] = set()
    pending = [root]
    while pending:
        path = pending.pop()
        if len(nodes) >= SNAPSHOT_NODES_MAX:
            raise SnapshotError(f"more than {SNAPSHOT_NODES_MAX} znodes under {root}")
        data_reply = await client.call(rq.GetData(path))
        acl_reply = await client.call(rq.GetACL(path))
        children_reply = await client.call(rq.GetChildren(path, with_stat=True))
        replies = (data_reply, acl_reply, children_reply)
        if any(r.err == Code.NOAUTH for r in replies):
            raise SnapshotError(f"no permission to read {path}: add auth before the snapshot")
        data, acl, children = data_reply.body, acl_reply.body, children_reply.body
        if not (
            isinstance(data, rq.GetDataResponse)
            and isinstance(acl, rq.GetACLResponse)
            and isinstance(children, rq.GetChildren2Response)
        ):
            raise SnapshotError(f"{path} changed while the snapshot was taken")
        if not data.stat == acl.stat == children.stat:
            raise SnapshotError(f"{path} changed while the snapshot was taken")
        zxids.update(r.zxid for r in replies)
        nodes.append(SnapshotNode(path, data.data, acl.acl, data.stat))
        pending.extend(child_path(path, name) for name in sorted(children.children))
    if len(zxids) != 1:
        raise SnapshotError("the server's zxid moved while the snapshot was taken")
    return Snapshot(zxids.pop(), tuple(sorted(nodes, key=lambda n: n.path)))
