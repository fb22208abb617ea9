"""Chapter: time — session expiry and the reaping of containers and TTL nodes.

Rules
-----
* Time only moves forward. When the clock passes a session's deadline (``spec.sessions``)
  the session expires: one closeSession transaction at the deadline's time.
* Every ``znode.container.checkIntervalMs`` (default 60 s; first check one interval after
  start) the server looks for nodes to reap and deletes each with its own transaction
  (``deleteContainer``, one zxid each), firing the usual NodeDeleted and NodeChildrenChanged:
  - a container with no children that has had a child (stored child-create count > 0);
    a never-used container only if ``znode.container.maxNeverUsedIntervalMs`` is non-zero
    and it is older (since its last modification) than that;
  - a TTL node with no children whose last modification (``mtime``: create or setData) is
    more than its TTL ago. A TTL node with children is never reaped.
  Nodes are reaped in path order in the spec (ZooKeeper's order is a hash set's).
  ZooKeeper also limits reaping to ``znode.container.maxPerMinute`` (default 10000) per
  minute; the spec does not model that limit.
* Expiries and checks due at the same instant: expiries first.

Source: ``SessionTrackerImpl.run``, ``ExpiryQueue``, ``ContainerManager.checkContainers``/
``getCandidates``; programmer's guide "Container Nodes", "TTL Nodes".
"""

from __future__ import annotations

from spec.events import WatchEvent
from spec.modes import NodeKind
from spec.sessions import kill_session
from spec.state import State
from spec.tree import delete_node


def reap_candidates(state: State) -> list[str]:
    """Paths the container manager would delete now (``ContainerManager.getCandidates``)."""
    never_used_max = state.config.container_max_never_used_interval_ms
    out: list[str] = []
    for path, node in state.nodes.items():
        if node.children:
            continue
        elapsed = state.now - node.mtime
        if node.kind is NodeKind.CONTAINER:
            if node.child_creates > 0 or (never_used_max != 0 and elapsed > never_used_max):
                out.append(path)
        elif node.kind is NodeKind.TTL and node.ttl_ms != 0 and elapsed > node.ttl_ms:
            out.append(path)
    return sorted(out)


def advance(state: State, now_ms: int, events: list[WatchEvent]) -> list[int]:
    """Move the clock to ``now_ms``, expiring and reaping on the way; returns zxids used."""
    if now_ms < state.now:
        raise ValueError(f"time moves forward only: {now_ms} < {state.now}")
    zxids: list[int] = []
    while True:
        due_sessions = [s.expires_at for s in state.sessions.values() if s.expires_at <= now_ms]
        next_expiry = min(due_sessions) if due_sessions else None
        next_check = state.next_container_check if state.next_container_check <= now_ms else None
        if next_expiry is None and next_check is None:
            break
        if next_expiry is not None and (next_check is None or next_expiry <= next_check):
            state.now = max(state.now, next_expiry)
            for session_id in sorted(
                s for s, v in state.sessions.items() if v.expires_at == next_expiry
            ):
                zxid = state.next_zxid()
                zxids.append(zxid)
                kill_session(state, session_id, zxid, events)
            continue
        assert next_check is not None
        interval = state.config.container_check_interval_ms
        if not any(n.kind in (NodeKind.CONTAINER, NodeKind.TTL) for n in state.nodes.values()):
            # Nothing to reap, and a tick creates no containers: skip the idle checks.
            state.next_container_check += interval * ((now_ms - next_check) // interval + 1)
            continue
        state.now = max(state.now, next_check)
        for path in reap_candidates(state):
            zxid = state.next_zxid()
            zxids.append(zxid)
            delete_node(state, path, zxid, events)
        state.next_container_check += state.config.container_check_interval_ms
    state.now = now_ms
    return zxids
