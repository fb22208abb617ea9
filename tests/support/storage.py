"""Storage doubles for tests: a transaction log whose fsync can be held back at will."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reference.ready import PersistAction
from reference.txn import Txn

if TYPE_CHECKING:
    from tests.support.servers import InProcessServer


class GatedStorage:
    """A log whose appends wait while the gate is shut (a very slow fsync)."""

    def __init__(self) -> None:
        self.generation = 0
        self.batches: list[list[Txn]] = []
        self.is_open = True
        self._waiters: list[asyncio.Future[None]] = []

    async def append(self, txns: Sequence[Txn]) -> None:
        while not self.is_open:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        self.batches.append(list(txns))

    @property
    def waiting(self) -> int:
        """Appends in progress, held at the shut gate."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def apply(self, action: PersistAction) -> None:
        raise AssertionError(f"a standalone server persists txns only, not {action}")

    async def close(self) -> None:
        self.set_open(True)

    def set_open(self, value: bool) -> None:
        """Call on the server's loop."""
        self.is_open = value
        if value:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()


@contextmanager
def log_held_back(server: InProcessServer, storage: GatedStorage) -> Iterator[None]:
    """Hold the log's appends back inside the block (and always let them go after it)."""
    server.call(lambda: storage.set_open(False))
    try:
        yield
    finally:
        server.call(lambda: storage.set_open(True))
