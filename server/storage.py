"""Durability: where transactions go before anyone hears of them, and group commit.

``Storage`` is the interface a transaction log implements: ``append`` returns once every
txn it was given is durable. ``MemoryStorage`` is a server without a dataDir: it keeps
nothing, and nothing survives a restart; ``server.sqlite_storage.SQLiteStorage`` keeps them
on disk. ``GroupCommitter`` is the one writer: the server ``submit``s each pass's txns without
waiting; while an ``append`` is running, new txns pile up and go to storage together in the
next call, so a slow fsync commits many requests at once. It is one long-lived task for the
whole server, never a task per request. When a batch is durable it calls
``on_durable(zxid)`` and the server releases the replies that were waiting for it.

The other durable changes of an ensemble's server (``reference.ready.PersistAction``: the
accepted and current epochs, a TRUNC, a SNAP's snapshot) go through the same queue, in the
order they were asked, each on its own (``Storage.apply``); ``persists_done`` counts every
item made durable, which is what the server waits for before it sends what depends on it.

Must not know about connections or replies: it moves txns to storage and reports zxids.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from reference.ready import PersistAction
from reference.txn import Txn

log = logging.getLogger("zkref.storage")

# How many txns one append may carry: bounds the memory and the latency of one commit.
COMMIT_BATCH_TXNS_MAX = 10_000


class Storage(Protocol):
    """A transaction log: ``append`` returns when the txns are durable, in order; ``apply``
    when another durable change is."""

    async def append(self, txns: Sequence[Txn]) -> None: ...

    async def apply(self, action: PersistAction) -> None: ...

    async def close(self) -> None: ...

    # How many times the log was rewritten (a TRUNC, a SNAP): a snapshot started in an
    # older generation is not saved.
    generation: int


class MemoryStorage:
    """Transactions in memory: durable as soon as appended, gone when the process ends.

    Keeps nothing but the last zxid, to assert that txns arrive in order: the tree in the
    core is the only copy.
    """

    def __init__(self) -> None:
        self.last_zxid = 0
        self.generation = 0

    async def append(self, txns: Sequence[Txn]) -> None:
        assert txns, "append of an empty batch"
        assert txns[0].header.zxid > self.last_zxid, "txns must arrive in zxid order"
        self.last_zxid = txns[-1].header.zxid

    async def apply(self, action: PersistAction) -> None:
        raise AssertionError(f"a server without a dataDir persists txns only, not {action}")

    async def close(self) -> None:
        return None


class GroupCommitter:
    """The single writer: batches submitted txns into ``Storage.append`` calls."""

    def __init__(
        self,
        storage: Storage,
        on_durable: Callable[[int], None],
        on_failure: Callable[[BaseException], None],
        batch_txns_max: int = COMMIT_BATCH_TXNS_MAX,
    ) -> None:
        assert batch_txns_max > 0
        self._storage = storage
        self._on_durable = on_durable
        self._on_failure = on_failure
        self._batch_txns_max = batch_txns_max
        self._queued: deque[Txn | PersistAction] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0
        self.committed_txns = 0
        self.durable_zxid = 0
        self.persists_submitted = 0
        self.persists_done = 0

    @property
    def queued_txns(self) -> int:
        return len(self._queued)

    def start(self) -> None:
        assert self._task is None, "started twice"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    def submit(self, items: list[Txn] | list[Txn | PersistAction]) -> None:
        """Queue txns (in zxid order) and other durable changes for the next commits, in
        this order; never blocks."""
        self._queued.extend(items)
        self.persists_submitted += len(items)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def close(self) -> None:
        """Commit what is queued, then stop the writer and close the storage."""
        self._stopping = True
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        if self._task is not None:
            await self._task
        await self._storage.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queued = self._queued
        try:
            while True:
                if not queued:
                    if self._stopping:
                        return
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                head = queued[0]
                if not isinstance(head, Txn):
                    queued.popleft()
                    await self._storage.apply(head)
                    self.persists_done += 1
                    self._on_durable(self.durable_zxid)
                    continue
                batch: list[Txn] = []
                while queued and len(batch) < self._batch_txns_max:
                    item = queued[0]
                    if not isinstance(item, Txn):
                        break
                    batch.append(item)
                    queued.popleft()
                await self._storage.append(batch)
                self.batches += 1
                self.committed_txns += len(batch)
                self.persists_done += len(batch)
                self.durable_zxid = batch[-1].header.zxid
                self._on_durable(self.durable_zxid)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a failed write: nothing more may be acknowledged
            log.critical("transaction log write failed: %r; the server must stop", error)
            self._on_failure(error)
