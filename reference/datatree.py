"""The data tree: znodes in memory, the indices over them, and the transaction applier.

Owns the znodes (``DataNode``: mutable, ``__slots__``), the ephemerals-per-session index
(sorted, so a closing session deletes in a stable order), the container and TTL sets, the
two watch tables and ``last_processed_zxid``. ``apply`` executes a prepared ``Txn`` and can
no longer fail; it returns what the reply needs and the watch events to deliver.
Must not check permissions or versions (``reference.prep`` did) and must not do I/O.
Semantics: ``spec.tree``, ``spec.watches`` (Apache ZooKeeper's ``DataTree``).
"""

from __future__ import annotations

from collections.abc import Callable

from sortedcontainers import SortedSet

from reference.jute.primitives import write_string_vector
from reference.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    Txn,
)
from reference.watchmanager import STANDARD, WatchManager
from spec.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from spec.events import EventType
from spec.modes import NodeKind
from spec.opcodes import OpCode
from spec.stat import Stat, int32

EPHEMERAL = NodeKind.EPHEMERAL.value
CONTAINER = NodeKind.CONTAINER.value
TTL = NodeKind.TTL.value
PERSISTENT = NodeKind.PERSISTENT.value


class DataNode:
    """One znode. ``cversion`` is the *stored* child-create count (``spec.stat``)."""

    __slots__ = (
        "acl",
        "aversion",
        "children",
        "children_wire",
        "ctime",
        "cversion",
        "czxid",
        "data",
        "ephemeral_owner",
        "kind",
        "mtime",
        "mzxid",
        "pzxid",
        "ttl",
        "version",
    )

    def __init__(
        self,
        data: bytes | None,
        acl: tuple[ACL, ...],
        zxid: int,
        time: int,
        kind: str = PERSISTENT,
        ephemeral_owner: int = 0,
        ttl: int = 0,
    ) -> None:
        self.data = data
        self.acl = acl
        self.czxid = self.mzxid = self.pzxid = zxid
        self.ctime = self.mtime = time
        self.version = self.cversion = self.aversion = 0
        self.kind = kind
        self.ephemeral_owner = ephemeral_owner
        self.ttl = ttl
        self.children: set[str] = set()
        # The sorted child names as a jute string vector, built on the first getChildren
        # after a change (encoding 1,000 names per read dominated getChildren).
        self.children_wire: bytes | None = None

    def encoded_children(self) -> bytes:
        """The child names, sorted, as a jute ``vector<ustring>`` (cached until they change)."""
        wire = self.children_wire
        if wire is None:
            out = bytearray()
            write_string_vector(out, sorted(self.children))
            wire = self.children_wire = bytes(out)
        return wire

    def stat(self) -> Stat:
        """The Stat a client sees (``DataNode.copyStat``)."""
        return Stat(*self.stat_values())

    def stat_values(self) -> tuple[int, int, int, int, int, int, int, int, int, int, int]:
        """The Stat's fields in wire order (what the fast read paths pack directly)."""
        num_children = len(self.children)
        return (
            self.czxid,
            self.mzxid,
            self.ctime,
            self.mtime,
            self.version,
            int32(2 * self.cversion - num_children),
            self.aversion,
            self.ephemeral_owner if self.kind == EPHEMERAL else 0,
            0 if self.data is None else len(self.data),
            num_children,
            self.pzxid,
        )


# A watch event to deliver: the connections that fired, the type, the path, and the ACL
# of the node it is about (deliveries are filtered by READ on it).
Event = tuple[set[int], EventType, str, tuple[ACL, ...]]


class ApplyResult:
    """What applying one txn produced, for the reply: path, stat, error, multi results."""

    __slots__ = ("err", "opcode", "path", "results", "stat")

    def __init__(self) -> None:
        self.path: str | None = None
        self.stat: Stat | None = None
        self.err = 0
        self.opcode = 0
        self.results: list[ApplyResult] | None = None


def _parent(path: str) -> str:
    return path[: path.rindex("/")] or "/"


def _name(path: str) -> str:
    return path[path.rindex("/") + 1 :]


class DataTree:
    """The znodes, their indices and watches, and ``last_processed_zxid``."""

    def __init__(self, keep_all_watch_modes: bool = True) -> None:
        # In insertion order, which is parents before children (a znode is entered after
        # its parent; a parent goes, or comes back, only with no children): snapshots are
        # written in this order (``reference.persistence.SnapshotWriter``).
        self.nodes: dict[str, DataNode] = {}
        self.ephemerals: dict[int, SortedSet] = {}
        self.containers: set[str] = set()
        self.ttls: set[str] = set()
        self.data_watches = WatchManager(keep_all_watch_modes)
        self.child_watches = WatchManager(keep_all_watch_modes)
        self.last_processed_zxid = 0
        # Called with a znode's path and node just before the znode changes or goes: how an
        # open ``reference.persistence.SnapshotWriter`` keeps the state it must write.
        self.before_change: Callable[[str, DataNode], None] | None = None
        # Txns up to this zxid may already be in the tree, in part or whole: the tree came
        # from a snapshot its leader streamed while applying txns (Apache's SNAP is such a
        # "fuzzy" snapshot, as its snapshots on disk are), and those txns come again. They
        # are applied as Apache replays a log over a snapshot (``replays``).
        self.replay_until = -1
        root = DataNode(b"", OPEN_ACL_UNSAFE, 0, 0)
        zookeeper = DataNode(b"", OPEN_ACL_UNSAFE, 0, 0)
        root.children.add("zookeeper")
        zookeeper.children.update(("quota", "config"))
        self.nodes["/"] = root
        self.nodes["/zookeeper"] = zookeeper
        self.nodes["/zookeeper/quota"] = DataNode(b"", OPEN_ACL_UNSAFE, 0, 0)
        config = self.nodes["/zookeeper/config"] = DataNode(b"", READ_ACL_UNSAFE, 0, 0)
        config.aversion = -1  # DataTree.addConfigNode sets its ACL with version -1

    def index(self, path: str, node: DataNode) -> None:
        """Enter a node loaded from a snapshot into the ephemeral, container and TTL indices."""
        if node.kind == EPHEMERAL:
            owned = self.ephemerals.get(node.ephemeral_owner)
            if owned is None:
                owned = self.ephemerals[node.ephemeral_owner] = SortedSet()
            owned.add(path)
        elif node.kind == CONTAINER:
            self.containers.add(path)
        elif node.kind == TTL:
            self.ttls.add(path)

    def get(self, path: str) -> DataNode | None:
        """Look a path up as reads do: unvalidated, ``""`` meaning the root."""
        return self.nodes.get(path or "/")

    # --- applying ------------------------------------------------------------------------

    def apply(self, txn: Txn, events: list[Event]) -> ApplyResult:
        """Apply a prepared txn; append the watch events it fires, in delivery order."""
        header, body = txn.header, txn.body
        result = ApplyResult()
        result.opcode = header.type
        replaying = header.zxid <= self.replay_until
        if isinstance(body, MultiTxn):
            result.results = self._apply_multi(body, header.zxid, header.time, events, replaying)
        elif isinstance(body, CloseSessionTxn):
            self.kill_session(header.session_id, body.paths, header.zxid, events)
        elif isinstance(body, CreateSessionTxn):
            pass
        elif not replaying or self.replays(body):
            self._apply_one(body, header.zxid, header.time, result, events)
        if header.zxid > self.last_processed_zxid:
            self.last_processed_zxid = header.zxid
        return result

    def replays(self, body: object) -> bool:
        """Whether a txn that may already be in the tree applies (``replay_until``): not a
        create of a znode that exists or whose parent does not, nor a delete, setData or
        setACL of a znode that does not exist; ``DataTree.processTxn`` fails those with
        NODEEXISTS or NONODE and changes nothing. (A closeSession deletes only what is
        there anyway; each sub-txn of a multi is judged on its own, in order, as
        ``processTxn`` applies them.)"""
        nodes = self.nodes
        if isinstance(body, CreateTxn):
            return body.path not in nodes and _parent(body.path) in nodes
        if isinstance(body, (DeleteTxn, SetDataTxn, SetACLTxn)):
            return body.path in nodes
        return True

    def _apply_multi(
        self, body: MultiTxn, zxid: int, time: int, events: list[Event], replaying: bool = False
    ) -> list[ApplyResult]:
        failed = any(isinstance(t, ErrorTxn) for t in body.txns)
        results: list[ApplyResult] = []
        for sub in body.txns:
            result = ApplyResult()
            if failed:
                # Sub-ops before the failing one report OK (0), later ones carry their
                # RUNTIMEINCONSISTENCY error txns from prep; nothing is applied.
                result.opcode = OpCode.error
                result.err = sub.err if isinstance(sub, ErrorTxn) else 0
            elif not replaying or self.replays(sub):
                self._apply_one(sub, zxid, time, result, events)
            results.append(result)
        return results

    def _apply_one(
        self,
        body: CreateTxn | DeleteTxn | SetDataTxn | SetACLTxn | CheckTxn | ErrorTxn,
        zxid: int,
        time: int,
        result: ApplyResult,
        events: list[Event],
    ) -> None:
        if isinstance(body, CreateTxn):
            result.opcode = body.opcode
            result.path = body.path
            result.stat = self.create_node(body, zxid, time, events).stat()
        elif isinstance(body, DeleteTxn):
            result.opcode = OpCode.delete
            result.path = body.path
            self.delete_node(body.path, zxid, events)
        elif isinstance(body, SetDataTxn):
            result.opcode = OpCode.setData
            result.path = body.path
            result.stat = self.set_data(body, zxid, time, events).stat()
        elif isinstance(body, SetACLTxn):
            result.opcode = OpCode.setACL
            node = self.nodes[body.path]
            if self.before_change is not None:
                self.before_change(body.path, node)
            node.acl = body.acl
            node.aversion = body.aversion
            result.path = body.path
            result.stat = node.stat()
        elif isinstance(body, CheckTxn):
            result.opcode = OpCode.check
            result.path = body.path
        else:
            result.opcode = OpCode.error
            result.err = body.err

    def create_node(self, txn: CreateTxn, zxid: int, time: int, events: list[Event]) -> DataNode:
        path = txn.path
        parent_path = _parent(path)
        parent = self.nodes[parent_path]
        if self.before_change is not None:
            self.before_change(parent_path, parent)
        node = DataNode(txn.data, txn.acl, zxid, time, txn.kind, txn.ephemeral_owner, txn.ttl)
        self.nodes[path] = node
        # Only a larger count is stored, and only then pzxid moves (DataTree.createNode).
        if txn.parent_cversion > parent.cversion:
            parent.cversion = txn.parent_cversion
            parent.pzxid = zxid
        parent.children.add(_name(path))
        parent.children_wire = None
        self.index(path, node)
        fired = self.data_watches.trigger(path)
        if fired:
            events.append((fired, EventType.NodeCreated, path, node.acl))
        fired = self.child_watches.trigger(parent_path, True)
        if fired:
            events.append((fired, EventType.NodeChildrenChanged, parent_path, parent.acl))
        return node

    def delete_node(self, path: str, zxid: int, events: list[Event]) -> None:
        parent_path = _parent(path)
        parent = self.nodes[parent_path]
        if self.before_change is not None:
            self.before_change(parent_path, parent)
            self.before_change(path, self.nodes[path])
        node = self.nodes.pop(path)
        parent.children.discard(_name(path))
        parent.children_wire = None
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        if node.kind == EPHEMERAL:
            owned = self.ephemerals.get(node.ephemeral_owner)
            if owned is not None:
                # Kept when empty, until its session ends: a session that creates and deletes
                # an ephemeral over and over (a lock, a lease) would otherwise build a new
                # SortedSet each time, 8 % of the server's time under that load.
                owned.discard(path)
        elif node.kind == CONTAINER:
            self.containers.discard(path)
        elif node.kind == TTL:
            self.ttls.discard(path)
        fired_data = self.data_watches.trigger(path)
        if fired_data:
            events.append((fired_data, EventType.NodeDeleted, path, node.acl))
        fired_child = self.child_watches.trigger(path) - fired_data
        if fired_child:
            events.append((fired_child, EventType.NodeDeleted, path, node.acl))
        fired = self.child_watches.trigger(parent_path, True)
        if fired:
            events.append((fired, EventType.NodeChildrenChanged, parent_path, parent.acl))

    def set_data(self, txn: SetDataTxn, zxid: int, time: int, events: list[Event]) -> DataNode:
        node = self.nodes[txn.path]
        if self.before_change is not None:
            self.before_change(txn.path, node)
        node.data = txn.data
        node.version = txn.version
        node.mzxid = zxid
        node.mtime = time
        fired = self.data_watches.trigger(txn.path)
        if fired:
            events.append((fired, EventType.NodeDataChanged, txn.path, node.acl))
        return node

    def kill_session(
        self, session_id: int, paths: tuple[str, ...], zxid: int, events: list[Event]
    ) -> None:
        for path in paths:
            if path in self.nodes:
                self.delete_node(path, zxid, events)
        self.ephemerals.pop(session_id, None)

    # --- watches -------------------------------------------------------------------------

    def add_data_watch(self, path: str, conn_id: int) -> None:
        self.data_watches.add(path, conn_id, STANDARD)

    def add_child_watch(self, path: str, conn_id: int) -> None:
        self.child_watches.add(path, conn_id, STANDARD)

    def remove_connection(self, conn_id: int) -> None:
        self.data_watches.remove_connection(conn_id)
        self.child_watches.remove_connection(conn_id)

    # --- queries -------------------------------------------------------------------------

    def ephemerals_of(self, session_id: int) -> list[str]:
        owned = self.ephemerals.get(session_id)
        return list(owned) if owned is not None else []

    def all_children_number(self, path: str) -> int:
        if path == "/":
            return len(self.nodes) - 1
        if path == "":
            return len(self.nodes)
        prefix = path + "/"
        return sum(1 for p in self.nodes if p.startswith(prefix))

    def approximate_data_size(self) -> int:
        return sum(len(p) + (len(n.data) if n.data else 0) for p, n in self.nodes.items())
