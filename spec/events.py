"""Chapter: watch events — what a server tells a client that changed.

Rules
-----
* A notification is ``ReplyHeader{xid=-1, zxid, err=0}`` followed by
  ``WatcherEvent{type, state, path}``. Servers always send ``state = SyncConnected`` (3).
  ``zxid`` is -1 up to 3.8 and the zxid of the triggering transaction from 3.9.0
  (ZOOKEEPER-4655); see ``spec.profiles``.
* Event types sent by servers: NodeCreated=1, NodeDeleted=2, NodeDataChanged=3,
  NodeChildrenChanged=4. Types 5-7 (…WatchRemoved) and None=-1 are made by clients.
* ``WatcherType`` names what removeWatches/checkWatches act on: Children=1, Data=2, Any=3;
  3.9 adds Persistent=4 and PersistentRecursive=5.
* ``AddWatchMode``: PERSISTENT=0, PERSISTENT_RECURSIVE=1; any other mode is refused with
  MARSHALLINGERROR.

Source: ``Watcher.Event.EventType``/``KeeperState``, ``Watcher.WatcherType``,
``AddWatchMode``, ``WatchedEvent``; ZOOKEEPER-4655, ZOOKEEPER-4472.
"""

from __future__ import annotations

from enum import IntEnum

from spec.record import record


class EventType(IntEnum):
    """``Watcher.Event.EventType``."""

    None_ = -1
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(IntEnum):
    """``Watcher.Event.KeeperState``; only SyncConnected travels from server to client."""

    Unknown = -1
    Disconnected = 0
    NoSyncConnected = 1
    SyncConnected = 3
    AuthFailed = 4
    ConnectedReadOnly = 5
    SaslAuthenticated = 6
    Expired = -112
    Closed = 7


class WatcherType(IntEnum):
    """``Watcher.WatcherType``: the ``type`` of removeWatches and checkWatches."""

    Children = 1
    Data = 2
    Any = 3
    Persistent = 4
    PersistentRecursive = 5


class AddWatchMode(IntEnum):
    """``AddWatchMode``: the ``mode`` of addWatch."""

    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


@record
class WatchEvent:
    """A notification delivered to one session: what changed, where, at which zxid.

    ``zxid`` is the triggering transaction's zxid; a profile that sends -1 on the wire
    (3.8) still records the real zxid here, and the wire layer writes what the profile says.
    """

    session_id: int
    type: EventType
    path: str
    zxid: int
