"""What the requests that do not change the tree do: reads, watches, the session-local
requests, and the reply a committed write gets.

Each handler takes the core, the connection and the decoded record and returns the reply
record (or None for an empty body), or raises ``ZooKeeperError`` with the error code to
answer. Handlers read the committed tree only; the core runs them in the session's order
(after the session's earlier writes have committed). Semantics: ``spec/`` (reads in
``spec.tree``, watches in ``spec.watches``), Apache ZooKeeper's ``FinalRequestProcessor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from reference.datatree import ApplyResult, DataNode, DataTree
from reference.jute import (
    AddWatchRequest,
    CheckWatchesRequest,
    ClientInfo,
    Create2Response,
    CreateResponse,
    ErrorResponse,
    ExistsRequest,
    ExistsResponse,
    GetACLRequest,
    GetACLResponse,
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    GetChildren2Request,
    GetChildrenRequest,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    MultiRequest,
    MultiResponse,
    MultiResult,
    RemoveWatchesRequest,
    ReplyHeader,
    SetACLResponse,
    SetDataResponse,
    SetWatches,
    SetWatches2,
    SyncRequest,
    SyncResponse,
    WatcherEvent,
    WhoAmIResponse,
    encode_reply,
)
from reference.jute.messages import ReplyRecord
from reference.jute.primitives import write_stat
from reference.watchmanager import PERSISTENT, PERSISTENT_RECURSIVE, STANDARD
from spec.acl import ADMIN, READ, acl_permits, held_id_order, redact_acl, user_name
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.events import EventType, KeeperState, WatcherType
from spec.opcodes import OpCode, Xid
from spec.paths import read_lookup_key

if TYPE_CHECKING:
    from reference.core import Connection, ZooKeeperCore

_JAVA_BLANKS = "".join(chr(c) for c in range(0x21))  # what String.trim() strips
# Which watch table a removeWatches/checkWatches type names, in the order 3.8 tries them.
CHILD_TABLE, DATA_TABLE = "child", "data"
_CHILD_TABLE, _DATA_TABLE = CHILD_TABLE, DATA_TABLE
_WATCHER_TYPE_TABLES_38 = {
    WatcherType.Children: (_CHILD_TABLE,),
    WatcherType.Data: (_DATA_TABLE,),
    WatcherType.Any: (_CHILD_TABLE, _DATA_TABLE),
}


def readable(core: ZooKeeperCore, conn: Connection, path: str | None, perm: int = READ) -> DataNode:
    """The znode at ``path`` if the connection may ``perm`` it; NONODE or NOAUTH otherwise."""
    if path is None:
        raise ZooKeeperError(Code.MARSHALLINGERROR, "null path")
    node = core.tree.get(path)
    if node is None:
        raise ZooKeeperError(Code.NONODE, path)
    if not acl_permits(node.acl, perm, conn.auth_ids, core.profile.ipv6_acl, core.providers):
        raise ZooKeeperError(Code.NOAUTH, path)
    return node


def _exists(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, ExistsRequest)
    path = record.path
    if path is None:
        raise ZooKeeperError(Code.MARSHALLINGERROR, "null path")
    if "\0" in path:
        raise ZooKeeperError(Code.BADARGUMENTS, path)
    node = core.tree.get(path)
    readable = node is None or acl_permits(
        node.acl, READ, conn.auth_ids, core.profile.ipv6_acl, core.providers
    )
    if core.profile.exists_checks_read and not readable:
        raise ZooKeeperError(Code.NOAUTH, path)
    if record.watch:
        core.tree.add_data_watch(path, conn.conn_id)
    if node is None:
        raise ZooKeeperError(Code.NONODE, path)
    return ExistsResponse(node.stat())


def _get_data(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetDataRequest)
    node = readable(core, conn, record.path)
    if record.watch:
        assert record.path is not None
        core.tree.add_data_watch(record.path, conn.conn_id)
    return GetDataResponse(node.data, node.stat())


def _get_children(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, (GetChildrenRequest, GetChildren2Request))
    node = readable(core, conn, record.path)
    if record.watch:
        assert record.path is not None
        core.tree.add_child_watch(record.path, conn.conn_id)
    body = node.encoded_children()
    if isinstance(record, GetChildren2Request):
        stat = bytearray()
        write_stat(stat, node.stat())
        body += stat
    # Same bytes as GetChildren(2)Response with sorted children, without a record per name.
    return cast(ReplyRecord, _Encoded(body))


class _Encoded:
    """A reply body already in wire form (``encode_reply`` only calls ``write``)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def write(self, out: bytearray) -> None:
        out += self.body


def _get_acl(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetACLRequest)
    node = readable(core, conn, record.path, READ | ADMIN)
    if acl_permits(node.acl, ADMIN, conn.auth_ids, core.profile.ipv6_acl, core.providers):
        return GetACLResponse(node.acl, node.stat())
    return GetACLResponse(redact_acl(node.acl), node.stat())


def _get_all_children_number(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetAllChildrenNumberRequest)
    readable(core, conn, record.path)
    assert record.path is not None
    return GetAllChildrenNumberResponse(core.tree.all_children_number(record.path))


def _get_ephemerals(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetEphemeralsRequest)
    own = core.tree.ephemerals_of(conn.session_id)
    prefix = record.prefixPath
    if prefix is None or prefix.strip(_JAVA_BLANKS) in ("", "/"):
        return GetEphemeralsResponse(tuple(own))
    return GetEphemeralsResponse(tuple(p for p in own if p.startswith(prefix)))


def _sync(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, SyncRequest)
    return SyncResponse(record.path)


def _who_am_i(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    infos: list[ClientInfo] = []
    for held in held_id_order(conn.auth_ids):
        assert held.scheme is not None, "held ids are never null"
        infos.append(ClientInfo(held.scheme, user_name(held, core.providers)))
    return WhoAmIResponse(tuple(infos))


def _watcher_type(core: ZooKeeperCore, value: int) -> WatcherType:
    try:
        watcher_type = WatcherType(value)
    except ValueError:
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"watcher type {value}") from None
    persistent = (WatcherType.Persistent, WatcherType.PersistentRecursive)
    if watcher_type in persistent and not core.profile.persistent_watcher_types:
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"watcher type {value}")
    return watcher_type


# What each watcher type means in the two tables: (child-table mode, data-table mode);
# None = any mode, 0 = not that table. 3.8 keeps one mode per path: Data/Children mean any.
_WATCHER_TYPE_MODES_39: dict[WatcherType, tuple[int | None, int | None]] = {
    WatcherType.Children: (STANDARD, 0),
    WatcherType.Data: (0, STANDARD),
    WatcherType.Persistent: (PERSISTENT, PERSISTENT),
    WatcherType.PersistentRecursive: (0, PERSISTENT_RECURSIVE),
    WatcherType.Any: (None, None),
}
_WATCHER_TYPE_MODES_38: dict[WatcherType, tuple[int | None, int | None]] = {
    WatcherType.Children: (None, 0),
    WatcherType.Data: (0, None),
    WatcherType.Any: (None, None),
}


def _watch_modes(core: ZooKeeperCore, value: int) -> tuple[int | None, int | None]:
    table = _WATCHER_TYPE_MODES_39 if core.profile.watch_mode_set else _WATCHER_TYPE_MODES_38
    return table[_watcher_type(core, value)]


def _check_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    assert isinstance(record, CheckWatchesRequest)
    child_mode, data_mode = _watch_modes(core, record.type)
    path = record.path
    if core.profile.check_watches_walks_parents:
        if path is None or (path and "/" not in path):
            # PathParentIterator: path.isEmpty(), then path.substring(0, lastIndexOf('/')).
            raise MalformedRequest(f"checkWatches of {path!r}: no parent to walk to")
        if path == "":
            raise ZooKeeperError(Code.NOWATCHER, "")  # the iterator yields nothing
    found = False
    for manager, mode in (
        (core.tree.child_watches, child_mode),
        (core.tree.data_watches, data_mode),
    ):
        if mode == 0:
            continue
        held = manager.modes(path, conn.conn_id)
        if held and (mode is None or held & mode):
            found = True
    if not found:
        raise ZooKeeperError(Code.NOWATCHER, str(path))
    return None


def _remove_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    assert isinstance(record, RemoveWatchesRequest)
    child_mode, data_mode = _watch_modes(core, record.type)
    path = record.path
    if path is None and core.profile.null_path_watch_breaks_modes:
        if core.unwatch_null_path(conn, _WATCHER_TYPE_TABLES_38[WatcherType(record.type)]):
            return None
        raise ZooKeeperError(Code.NOWATCHER, "null")
    removed = False
    for manager, mode in (
        (core.tree.child_watches, child_mode),
        (core.tree.data_watches, data_mode),
    ):
        if mode != 0 and manager.remove(path, conn.conn_id, mode):
            removed = True
    if not removed:
        raise ZooKeeperError(Code.NOWATCHER, str(path))
    return None


def _add_watch(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, AddWatchRequest)
    path = record.path
    if record.mode not in (0, 1):
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"addWatch mode {record.mode}")
    if path is None and core.profile.null_path_watch_breaks_modes:
        core.watch_null_path(conn, (_DATA_TABLE, _CHILD_TABLE))  # DataTree.addWatch's order
    elif record.mode == 0:
        core.tree.data_watches.add(path, conn.conn_id, PERSISTENT)
        core.tree.child_watches.add(path, conn.conn_id, PERSISTENT)
    else:
        core.add_recursive_watch(path, conn.conn_id)
    return ErrorResponse(0)


def _watch_list(paths: tuple[str | None, ...] | None) -> tuple[str | None, ...]:
    if paths is None:
        raise MalformedRequest("null watch list")  # for (String path : list)
    return paths


def _watched_node(tree: DataTree, path: str | None) -> DataNode | None:
    if path is None:
        raise MalformedRequest("null path in a watch list")  # DataTree.getNode(null)
    return tree.nodes.get(read_lookup_key(path))


def _set_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    """``DataTree.setWatches``: the lists in order, firing what changed since
    ``relativeZxid``; a null list or a null path in the first three lists stops it there
    (MARSHALLINGERROR), after the events fired so far are sent and the watches set stay."""
    assert isinstance(record, (SetWatches, SetWatches2))
    fire: list[tuple[EventType, str]] = []
    try:
        _arm_watches(core, conn, record, fire)
    finally:
        for event_type, path in fire:
            event = WatcherEvent(event_type, KeeperState.SyncConnected, path)
            frame = encode_reply(ReplyHeader(Xid.NOTIFICATION, -1, 0), event)
            core.send(conn.conn_id, frame)
    return None


def _arm_watches(
    core: ZooKeeperCore,
    conn: Connection,
    record: SetWatches | SetWatches2,
    fire: list[tuple[EventType, str]],
) -> None:
    tree, conn_id, relative = core.tree, conn.conn_id, record.relativeZxid
    for path in _watch_list(record.dataWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is None:
            fire.append((EventType.NodeDeleted, path))
        elif node.mzxid > relative:
            fire.append((EventType.NodeDataChanged, path))
        else:
            tree.data_watches.add(path, conn_id, STANDARD)
    for path in _watch_list(record.existWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is not None:
            fire.append((EventType.NodeCreated, path))
        else:
            tree.data_watches.add(path, conn_id, STANDARD)
    for path in _watch_list(record.childWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is None:
            fire.append((EventType.NodeDeleted, path))
        elif node.pzxid > relative:
            fire.append((EventType.NodeChildrenChanged, path))
        else:
            tree.child_watches.add(path, conn_id, STANDARD)
    if not isinstance(record, SetWatches2):
        return
    breaks = core.profile.null_path_watch_breaks_modes
    for path in _watch_list(record.persistentWatches):
        if path is None and breaks:
            core.watch_null_path(conn, (_CHILD_TABLE, _DATA_TABLE))
            continue
        tree.child_watches.add(path, conn_id, PERSISTENT)
        tree.data_watches.add(path, conn_id, PERSISTENT)
    for path in _watch_list(record.persistentRecursiveWatches):
        if path is None and breaks:
            core.watch_null_path(conn, (_CHILD_TABLE, _DATA_TABLE))
            continue
        core.add_recursive_watch(path, conn_id)


class FailedWithBody(ZooKeeperError):
    """A read that fails with ``code`` after building part of its reply, which is sent."""

    def __init__(self, code: Code, body: ReplyRecord) -> None:
        super().__init__(code)
        self.body = body


def _multi_read(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    """Each read on its own; a sub-op that is no read, or a null path, stops the request:
    MARSHALLINGERROR, sent with the results built before it (``FinalRequestProcessor``)."""
    assert isinstance(record, MultiRequest)
    results: list[MultiResult] = []
    for op in record.ops:
        path = getattr(op.request, "path", None)
        if op.type not in (OpCode.getData, OpCode.getChildren) or path is None:
            raise FailedWithBody(Code.MARSHALLINGERROR, MultiResponse(tuple(results)))
        try:
            node = readable(core, conn, path)
        except ZooKeeperError as error:
            results.append(MultiResult(OpCode.error, ErrorResponse(error.code)))
            continue
        if op.type == OpCode.getData:
            results.append(MultiResult(OpCode.getData, GetDataResponse(node.data, node.stat())))
        else:
            children = tuple(sorted(node.children))
            results.append(MultiResult(OpCode.getChildren, GetChildrenResponse(children)))
    return MultiResponse(tuple(results))


ReadHandler = Callable[["ZooKeeperCore", "Connection", object], "ReplyRecord | None"]

READ_HANDLERS: dict[int, ReadHandler] = {
    OpCode.exists: _exists,
    OpCode.getData: _get_data,
    OpCode.getChildren: _get_children,
    OpCode.getChildren2: _get_children,
    OpCode.getACL: _get_acl,
    OpCode.getAllChildrenNumber: _get_all_children_number,
    OpCode.getEphemerals: _get_ephemerals,
    OpCode.sync: _sync,
    OpCode.whoAmI: _who_am_i,
    OpCode.checkWatches: _check_watches,
    OpCode.removeWatches: _remove_watches,
    OpCode.addWatch: _add_watch,
    OpCode.setWatches: _set_watches,
    OpCode.setWatches2: _set_watches,
    OpCode.multiRead: _multi_read,
}


def write_reply(opcode: int, result: ApplyResult) -> ReplyRecord | None:
    """The reply body of a successful write (or of any multi)."""
    if opcode == OpCode.multi:
        return MultiResponse(tuple(_multi_result(r) for r in result.results or ()))
    if opcode == OpCode.create:
        return CreateResponse(result.path)
    if opcode in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
        assert result.stat is not None
        return Create2Response(result.path, result.stat)
    if opcode == OpCode.setData:
        assert result.stat is not None
        return SetDataResponse(result.stat)
    if opcode == OpCode.setACL:
        assert result.stat is not None
        return SetACLResponse(result.stat)
    return None


def _multi_result(result: ApplyResult) -> MultiResult:
    opcode = result.opcode
    if opcode == OpCode.error:
        return MultiResult(OpCode.error, ErrorResponse(result.err))
    if opcode == OpCode.create:
        return MultiResult(OpCode.create, CreateResponse(result.path))
    if opcode in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
        assert result.stat is not None
        return MultiResult(OpCode.create2, Create2Response(result.path, result.stat))
    if opcode == OpCode.setData:
        assert result.stat is not None
        return MultiResult(OpCode.setData, SetDataResponse(result.stat))
    return MultiResult(opcode, None)  # delete, check
