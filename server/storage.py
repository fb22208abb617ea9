"""Durability: where transactions go before anyone hears of them, and group commit.

``Storage`` is the interface a transaction log implements: ``append`` returns once every
txn it was given is durable. ``MemoryStorage`` is a server without a dataDir: it keeps
nothing, and nothing survives a restart; ``server.sqlite_storage.SQLiteStorage`` keeps them
on disk. ``GroupCommitter`` is the one writer: the server ``submit``s each pass's txns without
waiting; while an ``append`` is running, new txns pile up and go to storage together in the
next call, so a slow fsync commits many requests at once. It is one long-lived task for the
whole server, never a task per request. When a batch is durable it calls
``on_durable(zxid)`` and the server releases the replies that were waiting for it.

Must not know about connections or replies: it moves txns to storage and reports zxids.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from reference.txn import Txn

log = logging.getLogger("zkref.storage")

# How many txns one append may carry: bounds the memory and the latency of one commit.
COMMIT_BATCH_TXNS_MAX = 10_000


class Storage(Protocol):
    """A transaction log: ``append`` returns when the txns are durable, in order."""

    async def append(self, txns: Sequence[Txn]) -> None: ...

    async def close(self) -> None: ...


class MemoryStorage:
    """Transactions in memory: durable as soon as appended, gone when the process ends.

    Keeps nothing but the last zxid, to assert that txns arrive in order: the tree in the
    core is the only copy.
    """

    def __init__(self) -> None:
        self.last_zxid = 0

    async def append(self, txns: Sequence[Txn]) -> None:
        assert txns, "append of an empty batch"
        assert txns[0].header.zxid > self.last_zxid, "txns must arrive in zxid order"
        self.last_zxid = txns[-1].header.zxid

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
        self._queued: deque[Txn] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0
        self.committed_txns = 0
        self.durable_zxid = 0

    @property
    def queued_txns(self) -> int:
        return len(self._queued)

    def start(self) -> None:
        assert self._task is None, "started twice"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    def submit(self, txns: list[Txn]) -> None:
        """Queue txns (in zxid order) for the next commit; never blocks."""
        self._queued.extend(txns)
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
                count = min(len(queued), self._batch_txns_max)
                batch = [queued.popleft() for _ in range(count)]
                await self._storage.append(batch)
                self.batches += 1
                self.committed_txns += count
                self.durable_zxid = batch[-1].header.zxid
                self._on_durable(self.durable_zxid)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a failed write: nothing more may be acknowledged
            log.critical("transaction log write failed: %r; the server must stop", error)
            self._on_failure(error)
