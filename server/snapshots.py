"""Snapshot scheduling: when to take a snapshot, encoding it in slices, saving it once durable.

Every ``snapCount`` transactions persisted (``SyncRequestProcessor`` in Apache ZooKeeper,
which rolls the log and starts a snapshot thread), the tree as it is now is snapshotted:
``reference.persistence.SnapshotWriter`` encodes it ``SNAPSHOT_NODES_PER_STEP`` znodes per
loop iteration, so requests keep being answered while it is made (a whole 200k-znode
snapshot at once paused the clients for 0.27 s). An encoded snapshot is written only once
every transaction it contains is durable (``durable``): a snapshot never holds a
transaction the log could still lose. One snapshot at a time.

A TRUNC or a SNAP from a leader rewrites the log under a snapshot being made: ``abandon``
drops it, and a save already running is refused by the storage (the storage's
``generation`` moved on since the snapshot started).

Must not change the tree: the writer only reads it (pre-images of what changes while it
encodes are kept by the tree for the writer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from reference.core import ZooKeeperCore
from reference.persistence import SnapshotWriter
from server.sqlite_storage import SQLiteStorage

log = logging.getLogger("zkref.server")

# Znodes a snapshot encodes per loop iteration: about 3 ms of work between two passes
# over the clients.
SNAPSHOT_NODES_PER_STEP = 2_000


class SnapshotScheduler:
    """Snapshots of the client core into ``storage`` every ``snap_count`` txns.

    ``core`` is asked for each snapshot (an ensemble's peer may replace its core);
    ``on_internal_error`` counts a snapshot given up because encoding it raised (a bug).
    """

    def __init__(
        self,
        storage: SQLiteStorage,
        snap_count: int,
        core: Callable[[], ZooKeeperCore],
        on_internal_error: Callable[[], None],
        durable_zxid: int,
        txns_since_snapshot: int,
    ) -> None:
        assert snap_count > 0, snap_count
        self.storage = storage
        self.snap_count = snap_count
        self._core = core
        self._on_internal_error = on_internal_error
        self.durable_zxid = durable_zxid
        # Txns since the last snapshot, the one being encoded a slice per loop iteration,
        # and one encoded that waits until every txn it contains is durable.
        self.txns_since_snapshot = txns_since_snapshot
        self._writer: SnapshotWriter | None = None
        self._generation = 0
        self._waiting: tuple[int, bytes | bytearray] | None = None
        self._task: asyncio.Task[None] | None = None
        self.saved = 0

    def txns_persisting(self, count: int) -> None:
        """``count`` more txns went to the log: start a snapshot when ``snap_count`` are
        there and none is under way."""
        self.txns_since_snapshot += count
        if self.txns_since_snapshot < self.snap_count:
            return
        if self._writer is not None or self._waiting is not None:
            return
        if self._task is not None and not self._task.done():
            return
        self.txns_since_snapshot = 0
        self._writer = self._core().snapshot_writer()
        self._generation = self.storage.generation
        asyncio.get_running_loop().call_soon(self._step)

    def durable(self, zxid: int) -> None:
        """Txns up to ``zxid`` are durable: save the snapshot that waited for them."""
        assert zxid >= self.durable_zxid, "durability went backwards"
        self.durable_zxid = zxid
        if self._waiting is not None:
            self._save_waiting()

    def abandon(self) -> None:
        """A TRUNC or a SNAP changes the log under a snapshot being made: drop it (its save,
        if already running, is dropped by the storage: another generation)."""
        self.stop()
        self._waiting = None
        self.txns_since_snapshot = 0

    def stop(self) -> None:
        """Stop encoding (the server is closing); a save under way goes on (``wait``)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def wait(self) -> None:
        """Return when the save under way (if any) is over."""
        if self._task is not None:
            await self._task

    def _step(self) -> None:
        writer = self._writer
        if writer is None:
            return  # abandoned, or the server is closing
        try:
            done = writer.step(SNAPSHOT_NODES_PER_STEP)
        except Exception:
            # A bug: give this snapshot up (the log still holds every txn) and detach it
            # from the tree, rather than leave it collecting pre-images for ever.
            self._on_internal_error()
            log.exception("encoding the snapshot at 0x%x failed", writer.zxid)
            writer.close()
            self._writer = None
            return
        if not done:
            asyncio.get_running_loop().call_soon(self._step)
            return
        self._writer = None
        self._waiting = (writer.zxid, writer.finish())
        self._save_waiting()

    def _save_waiting(self) -> None:
        waiting = self._waiting
        if waiting is None or waiting[0] > self.durable_zxid:
            return
        self._waiting = None
        storage = self.storage
        generation = self._generation

        async def save() -> None:
            try:
                await storage.save_snapshot(*waiting, generation=generation)
                self.saved += 1
            except Exception:
                log.exception("saving the snapshot at 0x%x failed", waiting[0])

        self._task = asyncio.get_running_loop().create_task(save())
