"""Chapter: watches — notifications instead of polling.

Rules
-----
* Watches belong to a *connection*: when it closes they are gone, and the client re-arms them
  on its next connection with setWatches (below). The server keeps two tables, one for data
  watches (set by getData and exists) and one for child watches (set by getChildren/2).
  Data and exist watches share a table, so a connection holds at most one standard watch
  per path per table.
* Which read sets which watch: exists sets a data watch whether or not the node exists
  (that is how absence is watched); getData and getChildren set one only when they succeed
  (a NONODE or NOAUTH reply sets nothing).
* Which write fires what (standard, one-shot watches; ``DataTree``):
  - create of P: data watches on P get NodeCreated, then child watches on parent(P) get
    NodeChildrenChanged;
  - delete of P: data watches on P get NodeDeleted, then child watches on P get NodeDeleted
    (a connection already notified by the data table is not notified twice), then child
    watches on parent(P) get NodeChildrenChanged;
  - setData of P: data watches on P get NodeDataChanged (even if the bytes are the same);
  - setACL, sync, reads and failed writes fire nothing.
  A standard watch is removed when it fires: it fires at most once.
* Persistent watches (addWatch mode 0) sit in both tables and stay after firing: NodeCreated,
  NodeDeleted, NodeDataChanged of the path and NodeChildrenChanged of its children.
  Persistent recursive watches (mode 1) sit in the data table (3.8: in both tables) and also
  fire for every descendant: NodeCreated, NodeDeleted and NodeDataChanged, never
  NodeChildrenChanged.
  addWatch on a missing path is fine.
* One trigger notifies each connection at most once, however many of its watches match.
* Event order: a connection receives the events of a change before the reply to any later
  request; the writer's own events come before its own reply. Within a change, the order is
  the order above.
* ACL filter (CVE-2024-23944): an event is delivered only if the watcher's connection holds
  READ on the ACL of the node the event is about (the parent's ACL for NodeChildrenChanged,
  the deleted node's ACL for NodeDeleted). A watch that fires but is filtered is still used up.
* removeWatches / checkWatches (``type``: 1 Children, 2 Data, 3 Any; 3.9 adds 4 Persistent,
  5 PersistentRecursive): remove (or test for) the connection's watches of that type on the
  path; when nothing matches the answer is NOWATCHER. In 3.9 Data and Children mean the
  standard watches only; Any means all. The server sends no event for a removal (clients
  make the …WatchRemoved events themselves).
* setWatches(relativeZxid, data, exist, child, persistent, recursive), sent after a reconnect:
  - data path: missing → NodeDeleted now; ``mzxid > relativeZxid`` → NodeDataChanged now;
    else re-armed;
  - exist path: exists → NodeCreated now (no zxid comparison); else re-armed;
  - child path: missing → NodeDeleted now; ``pzxid > relativeZxid`` → NodeChildrenChanged
    now; else re-armed;
  - persistent and recursive paths are re-armed without looking at the tree.
  These events are not ACL-filtered and carry zxid -1; they come before the reply.
  A node created and deleted while the client was away is missed by an exist watch.
  Paths are looked up as reads look them up (``""`` names the root, ``DataTree.getNode``)
  and watched as given.

Source: ``DataTree.createNode``/``deleteNode``/``setData``/``addWatch``/``setWatches``/
``containsWatcher``/``removeWatch``, ``watch.WatchManager.triggerWatch``,
``ServerCnxn.process`` (ACL filter); programmer's guide "ZooKeeper Watches".
"""

from __future__ import annotations

from spec.acl import ACL, Perms, acl_permits
from spec.events import EventType, WatcherType, WatchEvent
from spec.paths import ROOT, ancestors, read_lookup_key
from spec.state import State, WatchMode, WatchTable


def add_watch(state: State, table: WatchTable, path: str, session_id: int, mode: str) -> None:
    """Arm a watch. 3.9 keeps every mode; 3.8 keeps only the mode set last."""
    per_path = table.setdefault(path, {})
    modes = per_path.get(session_id, frozenset())
    if state.config.profile.watch_mode_set:
        per_path[session_id] = modes | {mode}
    else:
        per_path[session_id] = frozenset({mode})


def add_recursive_watch(state: State, path: str, session_id: int) -> None:
    """A persistent recursive watch: the data table (3.8: both tables, see ``spec.profiles``)."""
    add_watch(state, state.data_watches, path, session_id, WatchMode.PERSISTENT_RECURSIVE)
    if not state.config.profile.watch_mode_set:
        add_watch(state, state.child_watches, path, session_id, WatchMode.PERSISTENT_RECURSIVE)


def _has_recursive(table: WatchTable) -> bool:
    return any(WatchMode.PERSISTENT_RECURSIVE in m for w in table.values() for m in w.values())


def trigger(table: WatchTable, path: str, event_type: EventType) -> list[int]:
    """Fire the watches of one table for a change at ``path``; return the sessions notified.

    Every watch on ``path`` itself fires (standard ones are removed); watches on ancestors
    fire only if they are persistent recursive; a recursive watch never fires for
    NodeChildrenChanged. The result is in session-id order (the server's order is a hash
    set's, so none is promised).
    """
    fired: set[int] = set()
    recursive_only = frozenset({WatchMode.PERSISTENT_RECURSIVE})
    children_changed = event_type is EventType.NodeChildrenChanged
    candidates = [path] + (ancestors(path) if path != ROOT and _has_recursive(table) else [])
    for at in candidates:
        per_path = table.get(at)
        if not per_path:
            continue
        for session_id, modes in list(per_path.items()):
            if at == path:
                if not (children_changed and modes <= recursive_only):
                    fired.add(session_id)
                left = modes - {WatchMode.STANDARD}
                if left:
                    per_path[session_id] = left
                else:
                    del per_path[session_id]
            elif WatchMode.PERSISTENT_RECURSIVE in modes and not children_changed:
                fired.add(session_id)
        if not per_path:
            del table[at]
    return sorted(fired)


def deliver(
    state: State,
    sessions: list[int],
    event_type: EventType,
    path: str,
    zxid: int,
    acl: tuple[ACL, ...],
    events: list[WatchEvent],
) -> None:
    """Queue the event for each session whose connection may READ a node with ``acl``."""
    ipv6 = state.config.profile.ipv6_acl
    providers = state.config.auth_providers
    for session_id in sessions:
        session = state.sessions.get(session_id)
        if session is None or not session.connected:
            continue
        if not acl_permits(acl, Perms.READ, session.auth_ids, ipv6, providers):
            continue
        events.append(WatchEvent(session_id, event_type, path, zxid))


def drop_connection_watches(state: State, session_id: int) -> None:
    """A connection closed: every watch it held is gone."""
    for table in (state.data_watches, state.child_watches):
        for path in list(table):
            table[path].pop(session_id, None)
            if not table[path]:
                del table[path]


def _modes(table: WatchTable, path: str, session_id: int) -> frozenset[str]:
    return table.get(path, {}).get(session_id, frozenset())


def _remove(table: WatchTable, path: str, session_id: int, mode: str | None) -> bool:
    modes = _modes(table, path, session_id)
    if not modes or (mode is not None and mode not in modes):
        return False
    left = frozenset() if mode is None else modes - {mode}
    if left:
        table[path][session_id] = left
    else:
        del table[path][session_id]
        if not table[path]:
            del table[path]
    return True


def contains_watch(state: State, path: str, watcher_type: WatcherType, session_id: int) -> bool:
    """checkWatches: does the connection hold a watch of this type on ``path``?"""
    data = _modes(state.data_watches, path, session_id)
    child = _modes(state.child_watches, path, session_id)
    if not state.config.profile.watch_mode_set:
        # 3.8: one mode per path and table; Data/Children look at the table only.
        return {
            WatcherType.Children: bool(child),
            WatcherType.Data: bool(data),
            WatcherType.Any: bool(child or data),
        }.get(watcher_type, False)
    if watcher_type is WatcherType.Children:
        return WatchMode.STANDARD in child
    if watcher_type is WatcherType.Data:
        return WatchMode.STANDARD in data
    if watcher_type is WatcherType.Persistent:
        return WatchMode.PERSISTENT in data
    if watcher_type is WatcherType.PersistentRecursive:
        return WatchMode.PERSISTENT_RECURSIVE in data
    return bool(child or data)


def remove_watch(state: State, path: str, watcher_type: WatcherType, session_id: int) -> bool:
    """removeWatches: remove the connection's watches of this type on ``path``."""
    data, child = state.data_watches, state.child_watches
    if not state.config.profile.watch_mode_set:
        if watcher_type is WatcherType.Children:
            return _remove(child, path, session_id, None)
        if watcher_type is WatcherType.Data:
            return _remove(data, path, session_id, None)
        removed_child = _remove(child, path, session_id, None)
        removed_data = _remove(data, path, session_id, None)
        return removed_child or removed_data
    if watcher_type is WatcherType.Children:
        return _remove(child, path, session_id, WatchMode.STANDARD)
    if watcher_type is WatcherType.Data:
        return _remove(data, path, session_id, WatchMode.STANDARD)
    if watcher_type is WatcherType.Persistent:
        removed_child = _remove(child, path, session_id, WatchMode.PERSISTENT)
        removed_data = _remove(data, path, session_id, WatchMode.PERSISTENT)
        return removed_child or removed_data
    if watcher_type is WatcherType.PersistentRecursive:
        return _remove(data, path, session_id, WatchMode.PERSISTENT_RECURSIVE)
    removed_child = _remove(child, path, session_id, None)
    removed_data = _remove(data, path, session_id, None)
    return removed_child or removed_data


def set_watches(
    state: State,
    session_id: int,
    relative_zxid: int,
    data: tuple[str, ...],
    exist: tuple[str, ...],
    child: tuple[str, ...],
    persistent: tuple[str, ...],
    recursive: tuple[str, ...],
    events: list[WatchEvent],
) -> None:
    """Re-arm watches after a reconnect, firing now what changed since ``relative_zxid``.

    Paths are looked up as reads look them up (``""`` is the root), and watched as given.
    """
    for path in data:
        node = state.nodes.get(read_lookup_key(path))
        if node is None:
            events.append(WatchEvent(session_id, EventType.NodeDeleted, path, -1))
        elif node.mzxid > relative_zxid:
            events.append(WatchEvent(session_id, EventType.NodeDataChanged, path, -1))
        else:
            add_watch(state, state.data_watches, path, session_id, WatchMode.STANDARD)
    for path in exist:
        if read_lookup_key(path) in state.nodes:
            events.append(WatchEvent(session_id, EventType.NodeCreated, path, -1))
        else:
            add_watch(state, state.data_watches, path, session_id, WatchMode.STANDARD)
    for path in child:
        node = state.nodes.get(read_lookup_key(path))
        if node is None:
            events.append(WatchEvent(session_id, EventType.NodeDeleted, path, -1))
        elif node.pzxid > relative_zxid:
            events.append(WatchEvent(session_id, EventType.NodeChildrenChanged, path, -1))
        else:
            add_watch(state, state.child_watches, path, session_id, WatchMode.STANDARD)
    for path in persistent:
        add_watch(state, state.child_watches, path, session_id, WatchMode.PERSISTENT)
        add_watch(state, state.data_watches, path, session_id, WatchMode.PERSISTENT)
    for path in recursive:
        add_recursive_watch(state, path, session_id)


def watch_count(state: State) -> int:
    """Total (path, connection) watch entries, as ``wchs`` counts them."""
    return sum(len(w) for t in (state.data_watches, state.child_watches) for w in t.values())
