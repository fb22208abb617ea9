"""Chapter: the znode operations — create, delete, setData, setACL, check and the reads.

Rules (the first failing check wins; this order is ZooKeeper's, ``PrepRequestProcessor``)
-----
* create: flags not a CreateMode → BADARGUMENTS; TTL mode while extended types are off →
  UNIMPLEMENTED; bad TTL for the mode → BADARGUMENTS; path without ``/`` or with NUL →
  BADARGUMENTS; ACL list invalid → INVALIDACL; parent missing → NONODE; no CREATE on the
  parent → NOAUTH; (sequential: append the suffix); full path invalid → BADARGUMENTS; node
  exists → NODEEXISTS; parent ephemeral → NOCHILDRENFOREPHEMERALS. Consequences: ``/p//a``
  is NONODE (its parent ``/p/`` does not exist), ``/p/`` is BADARGUMENTS but sequential
  ``/p/`` is fine (``/p/0000000004``), ``/`` is NODEEXISTS.
  Effect: the node gets ``czxid = mzxid = pzxid = zxid`` and ``ctime = mtime = now``; the
  parent's stored child-create count goes up by one and its ``pzxid`` becomes ``zxid``
  (its ``mzxid``, ``version`` and ``mtime`` do not change).
* delete: path without ``/``, with NUL, or special → BADARGUMENTS; parent missing → NONODE;
  no DELETE on the parent → NOAUTH (even when the node itself is missing); node missing →
  NONODE; version mismatch → BADVERSION; node has children → NOTEMPTY.
  Effect: the parent's ``pzxid`` becomes ``zxid``; its stored count does not change, so the
  ``cversion`` clients see still goes up by one.
* setData: invalid path → BADARGUMENTS; node missing → NONODE; no WRITE → NOAUTH; version
  mismatch → BADVERSION. Effect: ``version + 1``, ``mzxid = zxid``, ``mtime = now``.
* setACL: invalid path → BADARGUMENTS; ACL list invalid → INVALIDACL; node missing → NONODE;
  no ADMIN → NOAUTH; ``aversion`` mismatch → BADVERSION. Effect: ``aversion + 1`` only.
* check (inside multi): invalid path → BADARGUMENTS; node missing → NONODE; no READ →
  NOAUTH; version mismatch → BADVERSION. No effect.
* Versions: ``-1`` matches any version; any other value must equal the current one (-2 is
  just a mismatch). Version counters are Java ints and wrap.
* Reads (getData, getChildren/2, getACL, getAllChildrenNumber) look the path up without
  validating it: missing → NONODE, then the ACL check (READ; getACL: READ or ADMIN) →
  NOAUTH, and only then is a watch set. exists sets its watch even when the node is missing;
  from 3.9 it checks READ on an existing node first (``spec.profiles``).
* getAllChildrenNumber counts all descendants, not the node itself.
* getEphemerals(prefix) lists the calling session's own ephemerals: all of them for ``""``
  or ``/`` (after Java's ``trim``, which strips characters up to U+0020), else those whose
  path starts with the prefix as a plain string (``/p/e`` matches ``/p/eph``).
* Write requests take a zxid whether they succeed or fail.

Source: ``PrepRequestProcessor.pRequest2Txn``/``pRequest2TxnCreate``/``checkAndIncVersion``,
``DataTree.createNode``/``deleteNode``/``setData``/``setACL``/``getAllChildrenNumber``,
``FinalRequestProcessor`` (reads), ``DataTree.getEphemerals``.
"""

from __future__ import annotations

from dataclasses import replace

from spec.acl import ACL, Perms, acl_permits, fixup_acl, redact_acl
from spec.errors import Code, ZooKeeperError
from spec.events import EventType, WatchEvent
from spec.modes import CreateMode, NodeKind, node_kind_for, sequence_suffix, ttl_is_valid
from spec.opcodes import OpCode
from spec.paths import (
    ROOT,
    SPECIAL_PATHS,
    child_path,
    is_valid_path,
    node_name,
    parent_path,
    read_lookup_key,
)
from spec.requests import (
    Check,
    Create,
    Delete,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    SetACL,
    SetData,
)
from spec.stat import Stat, int32
from spec.state import Session, State, WatchMode, Znode
from spec.watches import add_watch, deliver, trigger


class Applied:
    """What a successful write did, for its reply (path and the node's new Stat)."""

    __slots__ = ("path", "stat")

    def __init__(self, path: str, stat: Stat | None) -> None:
        self.path = path
        self.stat = stat


def _require(condition: bool, code: Code, detail: str = "") -> None:
    if not condition:
        raise ZooKeeperError(code, detail)


def _node(state: State, path: str) -> Znode:
    node = state.nodes.get(path)
    if node is None:
        raise ZooKeeperError(Code.NONODE, path)
    return node


def _check_acl(state: State, acl: tuple[ACL, ...], perm: int, session: Session) -> None:
    config = state.config
    if not acl_permits(acl, perm, session.auth_ids, config.profile.ipv6_acl, config.auth_providers):
        raise ZooKeeperError(Code.NOAUTH)


def _check_version(current: int, expected: int, path: str) -> int:
    """``checkAndIncVersion``: -1 matches anything; returns the next version (int32)."""
    if expected != -1 and expected != current:
        raise ZooKeeperError(Code.BADVERSION, path)
    return int32(current + 1)


def _fixup(state: State, acl: tuple[ACL, ...] | None, session: Session) -> tuple[ACL, ...]:
    """``fixupACL``: INVALIDACL, or ``MalformedRequest`` for a null field (``spec.acl``)."""
    try:
        config = state.config
        return fixup_acl(acl, session.auth_ids, config.profile.ipv6_acl, config.auth_providers)
    except ValueError as error:
        raise ZooKeeperError(Code.INVALIDACL, str(error)) from None


def _parent_for_write(path: str) -> str:
    _require("/" in path and "\0" not in path, Code.BADARGUMENTS, path)
    return parent_path(path)


# --- writes -----------------------------------------------------------------------------


def create(
    state: State, session: Session, op: Create, opcode: OpCode, zxid: int, events: list[WatchEvent]
) -> Applied:
    """Prepare and apply a create of any mode (``opcode`` is the effective one)."""
    try:
        mode = CreateMode(op.flags)
    except ValueError:
        raise ZooKeeperError(Code.BADARGUMENTS, f"flags {op.flags}") from None
    _require(not mode.is_ttl or state.config.extended_types_enabled, Code.UNIMPLEMENTED)
    ttl = op.ttl if opcode == OpCode.createTTL else -1
    _require(ttl_is_valid(mode, ttl), Code.BADARGUMENTS, f"ttl {ttl} for {mode.name}")
    # createTTL of a non-TTL mode passes ZooKeeper's prep but cannot be applied: see
    # DIVERGENCES.md. The spec refuses it here.
    _require(opcode != OpCode.createTTL or mode.is_ttl, Code.BADARGUMENTS, "createTTL mode")
    parent = _parent_for_write(op.path)
    acl = _fixup(state, op.acl, session)
    parent_node = _node(state, parent)
    _check_acl(state, parent_node.acl, Perms.CREATE, session)
    path = op.path + (sequence_suffix(parent_node.child_creates) if mode.is_sequential else "")
    _require(is_valid_path(path), Code.BADARGUMENTS, path)
    _require(path not in state.nodes, Code.NODEEXISTS, path)
    _require(parent_node.kind is not NodeKind.EPHEMERAL, Code.NOCHILDRENFOREPHEMERALS, path)

    kind = node_kind_for(opcode, mode)
    node = Znode(
        data=op.data,
        acl=acl,
        czxid=zxid,
        mzxid=zxid,
        pzxid=zxid,
        ctime=state.now,
        mtime=state.now,
        kind=kind,
        ephemeral_owner=session.session_id if kind is NodeKind.EPHEMERAL else 0,
        ttl_ms=ttl if kind is NodeKind.TTL else 0,
    )
    state.nodes[path] = node
    creates = int32(parent_node.child_creates + 1)
    # DataTree.createNode only stores a larger count (and only then moves pzxid), so at the
    # int32 limit the count stops and the next sequential name repeats (ZOOKEEPER-3249).
    if creates > parent_node.child_creates:
        parent_node = replace(parent_node, child_creates=creates, pzxid=zxid)
    state.nodes[parent] = replace(parent_node, children=parent_node.children | {node_name(path)})
    sessions = trigger(state.data_watches, path, EventType.NodeCreated)
    deliver(state, sessions, EventType.NodeCreated, path, zxid, node.acl, events)
    sessions = trigger(state.child_watches, parent, EventType.NodeChildrenChanged)
    deliver(state, sessions, EventType.NodeChildrenChanged, parent, zxid, parent_node.acl, events)
    return Applied(path, node.stat())


def delete_node(state: State, path: str, zxid: int, events: list[WatchEvent]) -> None:
    """Apply a delete to the tree and fire its watches (``DataTree.deleteNode``).

    Used by delete, by closing sessions (their ephemerals) and by the container reaper.
    """
    parent = parent_path(path)
    parent_node = state.nodes[parent]
    node = state.nodes.pop(path)
    state.nodes[parent] = replace(
        parent_node,
        children=parent_node.children - {node_name(path)},
        pzxid=max(zxid, parent_node.pzxid),
    )
    data_fired = trigger(state.data_watches, path, EventType.NodeDeleted)
    deliver(state, data_fired, EventType.NodeDeleted, path, zxid, node.acl, events)
    child_fired = trigger(state.child_watches, path, EventType.NodeDeleted)
    rest = [s for s in child_fired if s not in data_fired]
    deliver(state, rest, EventType.NodeDeleted, path, zxid, node.acl, events)
    sessions = trigger(state.child_watches, parent, EventType.NodeChildrenChanged)
    deliver(state, sessions, EventType.NodeChildrenChanged, parent, zxid, parent_node.acl, events)


def delete(
    state: State, session: Session, op: Delete, zxid: int, events: list[WatchEvent]
) -> Applied:
    parent = _parent_for_write(op.path)
    _require(op.path not in SPECIAL_PATHS, Code.BADARGUMENTS, op.path)
    parent_node = _node(state, parent)
    _check_acl(state, parent_node.acl, Perms.DELETE, session)
    node = _node(state, op.path)
    _check_version(node.version, op.version, op.path)
    _require(not node.children, Code.NOTEMPTY, op.path)
    delete_node(state, op.path, zxid, events)
    return Applied(op.path, None)


def set_data(
    state: State, session: Session, op: SetData, zxid: int, events: list[WatchEvent]
) -> Applied:
    _require(is_valid_path(op.path), Code.BADARGUMENTS, op.path)
    node = _node(state, op.path)
    _check_acl(state, node.acl, Perms.WRITE, session)
    version = _check_version(node.version, op.version, op.path)
    node = replace(node, data=op.data, version=version, mzxid=zxid, mtime=state.now)
    state.nodes[op.path] = node
    sessions = trigger(state.data_watches, op.path, EventType.NodeDataChanged)
    deliver(state, sessions, EventType.NodeDataChanged, op.path, zxid, node.acl, events)
    return Applied(op.path, node.stat())


def set_acl(state: State, session: Session, op: SetACL) -> Applied:
    _require(is_valid_path(op.path), Code.BADARGUMENTS, op.path)
    acl = _fixup(state, op.acl, session)
    node = _node(state, op.path)
    _check_acl(state, node.acl, Perms.ADMIN, session)
    aversion = _check_version(node.aversion, op.version, op.path)
    node = replace(node, acl=acl, aversion=aversion)
    state.nodes[op.path] = node
    return Applied(op.path, node.stat())


def check(state: State, session: Session, op: Check) -> Applied:
    _require(is_valid_path(op.path), Code.BADARGUMENTS, op.path)
    node = _node(state, op.path)
    _check_acl(state, node.acl, Perms.READ, session)
    _check_version(node.version, op.version, op.path)
    return Applied(op.path, None)


# --- reads ------------------------------------------------------------------------------


def _readable(state: State, session: Session, path: str, perm: int = Perms.READ) -> Znode:
    node = _node(state, read_lookup_key(path))
    _check_acl(state, node.acl, perm, session)
    return node


def exists(state: State, session: Session, op: Exists) -> Stat:
    """exists: the Stat or NONODE; a watch is set either way (unless refused by ACL)."""
    profile = state.config.profile
    _require("\0" not in op.path, Code.BADARGUMENTS)
    key = read_lookup_key(op.path)
    node = state.nodes.get(key)
    if node is not None and profile.exists_checks_read:
        _check_acl(state, node.acl, Perms.READ, session)
    if op.watch:
        add_watch(state, state.data_watches, op.path, session.session_id, WatchMode.STANDARD)
    if node is None:
        raise ZooKeeperError(Code.NONODE, op.path)
    return node.stat()


def get_data(state: State, session: Session, op: GetData) -> tuple[bytes | None, Stat]:
    node = _readable(state, session, op.path)
    if op.watch:
        add_watch(state, state.data_watches, op.path, session.session_id, WatchMode.STANDARD)
    return node.data, node.stat()


def get_children(state: State, session: Session, op: GetChildren) -> tuple[tuple[str, ...], Stat]:
    node = _readable(state, session, op.path)
    if op.watch:
        add_watch(state, state.child_watches, op.path, session.session_id, WatchMode.STANDARD)
    return tuple(sorted(node.children)), node.stat()


def get_acl(state: State, session: Session, op: GetACL) -> tuple[tuple[ACL, ...], Stat]:
    node = _readable(state, session, op.path, Perms.READ | Perms.ADMIN)
    ipv6 = state.config.profile.ipv6_acl
    if acl_permits(node.acl, Perms.ADMIN, session.auth_ids, ipv6, state.config.auth_providers):
        return node.acl, node.stat()
    return redact_acl(node.acl), node.stat()


def get_all_children_number(state: State, session: Session, op: GetAllChildrenNumber) -> int:
    _readable(state, session, op.path)
    if op.path == ROOT:
        return len(state.nodes) - 1
    if op.path == "":
        # Java counts keys starting with "/": every node, the root's "/" key included.
        return len(state.nodes)
    prefix = op.path + "/"
    return sum(1 for p in state.nodes if p.startswith(prefix))


def get_ephemerals(state: State, session: Session, prefix: str) -> tuple[str, ...]:
    own = sorted(
        p
        for p, n in state.nodes.items()
        if n.kind is NodeKind.EPHEMERAL and n.ephemeral_owner == session.session_id
    )
    if java_trim(prefix) in ("", ROOT):
        return tuple(own)
    return tuple(p for p in own if p.startswith(prefix))


def java_trim(text: str) -> str:
    """``String.trim()``: strips characters up to U+0020 from both ends (not all Unicode blanks)."""
    return text.strip("".join(chr(c) for c in range(0x21)))


def subtree(state: State, path: str) -> list[str]:
    """``path`` and its descendants, parents before children (for dumps and tests)."""
    out = [path]
    for name in sorted(state.nodes[path].children):
        out.extend(subtree(state, child_path(path, name)))
    return out
