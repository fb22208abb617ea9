"""A tiny in-process ZooKeeper for the conformance tests: ``reference.core`` behind asyncio.

``InProcessEnsemble`` runs one ``ZooKeeperCore`` behind one or more listeners on 127.0.0.1.
Several listeners on one core behave like an ensemble whose servers are always in sync, which
is enough to exercise a client's reconnect to "another server". Every output of the core is
written immediately (durability is not simulated); the core's clock is the monotonic clock.

Test hooks: ``drop(conn)`` closes a server-side connection as a network failure would,
``mute`` withholds every reply (to make requests time out), and ``connections_of(session)``
finds a session's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from reference.core import ZooKeeperCore, settle
from reference.jute import FrameLengthError, FrameReader
from spec.state import Config

TICK_INTERVAL_S = 0.02


@dataclass
class _Link:
    conn_id: int
    transport: asyncio.Transport
    reader: FrameReader = field(default_factory=FrameReader)


class _Protocol(asyncio.Protocol):
    def __init__(self, ensemble: InProcessEnsemble) -> None:
        self.ensemble = ensemble
        self.link: _Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.link = self.ensemble._attach(transport)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.ensemble._receive(self.link, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.ensemble._detach(self.link)
            self.link = None


class InProcessEnsemble:
    """One reference core behind ``listeners`` TCP ports on 127.0.0.1."""

    def __init__(self, config: Config | None = None, listeners: int = 1) -> None:
        self.config = config or Config(
            tick_time_ms=100, container_check_interval_ms=200, extended_types_enabled=True
        )
        self.listener_count = listeners
        self._t0 = time.monotonic()
        self.core = ZooKeeperCore(self.config, self.now_ms())
        self._servers: list[asyncio.Server] = []
        self._links: dict[int, _Link] = {}
        self._next_conn = 1
        self._ticker: asyncio.Task[None] | None = None
        self.hosts: list[str] = []
        self.mute = False
        self._held: list[tuple[int, bytes | None]] = []

    def now_ms(self) -> int:
        return self.config.start_time_ms + int((time.monotonic() - self._t0) * 1000)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.listener_count):
            server = await loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            self.hosts.append(f"127.0.0.1:{port}")
        self._ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for link in list(self._links.values()):
            link.transport.abort()
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> InProcessEnsemble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- test hooks ----------------------------------------------------------------------

    def connections_of(self, session_id: int) -> list[int]:
        return [
            conn_id
            for conn_id, conn in self.core.connections.items()
            if conn.session_id == session_id and conn_id in self._links
        ]

    def drop(self, conn_id: int) -> None:
        """Cut a connection without a goodbye (the core sees it lost)."""
        link = self._links.get(conn_id)
        if link is not None:
            link.transport.abort()

    def release(self) -> None:
        """Stop muting and send everything that was held back."""
        self.mute = False
        held, self._held = self._held, []
        for conn_id, data in held:
            self._write(conn_id, data)

    # --- plumbing ------------------------------------------------------------------------

    def _attach(self, transport: asyncio.Transport) -> _Link:
        conn_id = self._next_conn
        self._next_conn += 1
        link = _Link(conn_id, transport)
        self._links[conn_id] = link
        peer = transport.get_extra_info("peername")
        self.core.connection_made(conn_id, str(peer[0]) if peer else "127.0.0.1")
        return link

    def _detach(self, link: _Link) -> None:
        if self._links.pop(link.conn_id, None) is not None:
            self.core.connection_lost(link.conn_id)
            self._flush()

    def _receive(self, link: _Link, data: bytes) -> None:
        try:
            frames = link.reader.feed(data)
        except FrameLengthError as error:
            for payload in error.frames:
                self.core.receive(link.conn_id, payload, self.now_ms())
            self._flush()
            link.transport.close()
            return
        for payload in frames:
            self.core.receive(link.conn_id, payload, self.now_ms())
        self._flush()

    def _flush(self) -> None:
        for out in settle(self.core)[0]:
            data = None if out.close else out.data
            if self.mute:
                self._held.append((out.conn_id, data))
            else:
                self._write(out.conn_id, data)

    def _write(self, conn_id: int, data: bytes | None) -> None:
        link = self._links.get(conn_id)
        if link is None or link.transport.is_closing():
            return
        if data is None:
            link.transport.close()
        else:
            link.transport.write(data)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            while self.core.tick(self.now_ms()):
                self._flush()
            self._flush()
