"""The server's one clock: wall-clock milliseconds that never go backwards.

The core takes time only as arguments (``now_ms``); this is where the shell reads it. The
value is the wall clock at start plus the monotonic time elapsed since, so znode
``ctime``/``mtime`` look like Apache ZooKeeper's (epoch milliseconds) while session
deadlines are immune to wall-clock steps. ``loop_time`` converts one of these instants into
the event loop's own (monotonic) time base for ``loop.call_at``.
"""

from __future__ import annotations

import time


class Clock:
    """Milliseconds since the epoch, monotonic after construction."""

    __slots__ = ("_monotonic_start", "_wall_start_ms")

    def __init__(self) -> None:
        self._wall_start_ms = time.time_ns() // 1_000_000
        self._monotonic_start = time.monotonic()

    def now_ms(self) -> int:
        return self._wall_start_ms + int((time.monotonic() - self._monotonic_start) * 1000)

    def loop_time(self, instant_ms: int) -> float:
        """``instant_ms`` on the ``time.monotonic`` scale asyncio's loop uses."""
        return self._monotonic_start + (instant_ms - self._wall_start_ms) / 1000
