"""The watch manager: which connection watches which path, and who a change notifies.

Owns two ``WatchManager`` tables per data tree (data watches and child watches) exactly as
``spec.watches`` describes them; a connection is named by an integer ``conn_id``. Modes are
bit flags so a connection may hold several on one path (3.9) or only the last one set (3.8).
Must not know about sockets, sessions or ACLs: the data tree filters deliveries by ACL.

A path is ``None`` when a client watched the null path (addWatch or setWatches2 with a null
path, which 3.9's manager keeps like any other key); no change ever fires it. Under the 3.8
profile such watches never get here (``reference.core.ZooKeeperCore.watch_null_path``).
"""

from __future__ import annotations

from spec.acl import java_string_hash

STANDARD = 1
PERSISTENT = 2
PERSISTENT_RECURSIVE = 4


class WatchManager:
    """One watch table: path -> {conn_id: mode bits}, with a reverse index per connection."""

    __slots__ = ("_by_conn", "_by_path", "_keep_all_modes", "_recursive")

    def __init__(self, keep_all_modes: bool) -> None:
        self._by_path: dict[str | None, dict[int, int]] = {}
        self._by_conn: dict[int, set[str | None]] = {}
        self._recursive = 0  # count of (path, conn) entries holding a recursive mode
        self._keep_all_modes = keep_all_modes

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_path.values())

    def add(self, path: str | None, conn_id: int, mode: int) -> None:
        per_path = self._by_path.get(path)
        if per_path is None:
            per_path = self._by_path[path] = {}
        old = per_path.get(conn_id, 0)
        new = (old | mode) if self._keep_all_modes else mode
        per_path[conn_id] = new
        self._by_conn.setdefault(conn_id, set()).add(path)
        self._recursive += bool(new & PERSISTENT_RECURSIVE) - bool(old & PERSISTENT_RECURSIVE)

    def _set(
        self, path: str | None, conn_id: int, per_path: dict[int, int], old: int, new: int
    ) -> None:
        self._recursive += bool(new & PERSISTENT_RECURSIVE) - bool(old & PERSISTENT_RECURSIVE)
        if new:
            per_path[conn_id] = new
            return
        del per_path[conn_id]
        if not per_path:
            del self._by_path[path]
        paths = self._by_conn.get(conn_id)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self._by_conn[conn_id]

    def trigger(self, path: str, children_changed: bool = False) -> set[int]:
        """Fire for a change at ``path``: every watch on it, recursive ones on its ancestors.

        Standard watches on ``path`` are removed; the connections notified are returned. A
        recursive watch never fires for NodeChildrenChanged (``children_changed``).
        """
        fired: set[int] = set()
        per_path = self._by_path.get(path)
        if per_path is not None:
            for conn_id, modes in list(per_path.items()):
                if not (children_changed and modes == PERSISTENT_RECURSIVE):
                    fired.add(conn_id)
                if modes & STANDARD:
                    self._set(path, conn_id, per_path, modes, modes & ~STANDARD)
        if self._recursive and path != "/" and not children_changed:
            at = path
            while at != "/":
                at = at[: at.rindex("/")] or "/"
                above = self._by_path.get(at)
                if above:
                    for conn_id, modes in above.items():
                        if modes & PERSISTENT_RECURSIVE:
                            fired.add(conn_id)
        return fired

    def modes(self, path: str | None, conn_id: int) -> int:
        return self._by_path.get(path, {}).get(conn_id, 0)

    def remove(self, path: str | None, conn_id: int, mode: int | None) -> bool:
        """Remove ``mode`` (or every mode when None) of the connection on ``path``."""
        per_path = self._by_path.get(path)
        old = 0 if per_path is None else per_path.get(conn_id, 0)
        if not old or (mode is not None and not old & mode):
            return False
        assert per_path is not None
        self._set(path, conn_id, per_path, old, 0 if mode is None else old & ~mode)
        return True

    def remove_connection(self, conn_id: int) -> None:
        for path in self._by_conn.pop(conn_id, set()):
            per_path = self._by_path.get(path)
            if per_path is None:
                continue
            old = per_path.pop(conn_id, 0)
            self._recursive -= bool(old & PERSISTENT_RECURSIVE)
            if not per_path:
                del self._by_path[path]

    def keeps_mode_of_zero_hash_path(self, conn_id: int) -> bool:
        """Whether the connection holds a persistent or recursive watch on a path whose Java
        ``String.hashCode()`` is 0 (``""`` is one): 3.8 keys such a watch's mode like the
        null path's (``reference.core.ZooKeeperCore.watch_null_path``)."""
        for path in self._by_conn.get(conn_id, ()):
            if path is None or java_string_hash(path) != 0:
                continue
            if self._by_path[path][conn_id] & (PERSISTENT | PERSISTENT_RECURSIVE):
                return True
        return False

    def watchers_by_path(self) -> dict[str, list[int]]:
        """path -> watching connections; the null path is named ``null``, as Java prints it."""
        return {"null" if p is None else p: sorted(w) for p, w in self._by_path.items()}
