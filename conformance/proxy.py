"""TCP proxies between the servers of an ensemble, so a nemesis can partition them.

Every election and quorum connection of an ensemble the suite starts goes through a proxy
that the suite controls: server ``i``'s zoo.cfg names, for every other server ``j``, not
``j``'s ports but the ports of the proxy ``i→j`` (``PeerProxies.port(i, j, kind)``), which
forwards to ``j``'s real quorum or election port. There is one proxy per directed pair and
per kind (quorum, election), so ``3 × 2 × 2 = 12`` for three servers. No root, no iptables,
and the same for zkref and Apache ZooKeeper, because both only ever dial the addresses of
their zoo.cfg — with one exception, handled here: Apache's ``QuorumCnxManager`` dials a lower
id back at the election address that id *announced* in its initial message
(``receiveConnection`` → ``connectOne(sid, electionAddr)``), which is its own listening
address. The proxy ``i→j`` rewrites that address to the one of the proxy ``j→i``, so the
dial back is proxied too (zkref dials back at its zoo.cfg's address and ignores it).

What a cut is: the network of ``iptables -j DROP`` between two servers, not a reset.
A *link* is a direction ``(source, destination)``; while it is cut, bytes that ``source``
sends to ``destination`` on any connection between the two are held, not delivered and not
lost (TCP would retransmit them), and delivered in order when it heals; the other direction
of the same connection flows unless it is cut too (a one-way partition). A connection cannot
be set up while either direction is cut (a handshake needs both): the proxy accepts it, holds
what the dialer sends (at most ``HELD_BYTES_MAX``) and dials the destination only once both
directions are whole; if the dialer hangs up first, nothing reaches the destination. A server
that is killed closes its sockets, and the proxy passes the close on, as the kernel would.
Nothing here looks at the bytes except the election initial message above.

The proxies run on an event loop of their own, in a thread of their own
(``PeerProxies.start``), so they keep moving bytes while the caller blocks (the model checker
drives its clients step by step); ``cut``, ``heal`` and ``close`` may be called from any other
thread and return once the proxies have taken the change. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

HOST: Final = "127.0.0.1"
KINDS: Final = ("quorum", "election")
CHUNK_BYTES: Final = 64 * 1024
# What a dialer may send before its connection can be set up (an initial message, a
# FOLLOWERINFO); past it the proxy stops reading, as a full socket buffer would.
HELD_BYTES_MAX: Final = 64 * 1024
DIAL_TIMEOUT_S: Final = 5.0
CONTROL_TIMEOUT_S: Final = 10.0
START_TIMEOUT_S: Final = 10.0
# QuorumCnxManager.PROTOCOL_VERSION_V1/_V2: an initial message that names an address.
ELECTION_PROTOCOL_VERSIONS: Final = (-65536, -65535)
ELECTION_ADDRESS_BYTES_MAX: Final = 2048  # QuorumCnxManager.maxBuffer

T = TypeVar("T")
Link = tuple[int, int]


class ProxyError(RuntimeError):
    """The proxies could not start, or did not answer a change in time."""


@dataclass(eq=False)  # one per connection, kept in a set by identity
class _Connection:
    """One proxied connection: the dialer's end and (once set up) the destination's."""

    source: int
    destination: int
    kind: str
    dialer: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.dialer, self.upstream):
            if writer is not None:
                writer.transport.abort()


def rewrite_initial_message(data: bytes, address: str) -> tuple[bytes, bytes] | None:
    """Split off an election initial message from ``data`` with its address replaced by
    ``address``: (the new message, the bytes after it); None while ``data`` is not yet a whole
    message. A message that names no address (an old-style bare server id) is passed as it is.

    The format (``QuorumCnxManager.startConnection`` / ``InitialMessage.parse``): long
    protocol version (-65536 or -65535), long server id, int length, that many bytes of
    ``host:port`` (several joined by ``|`` in version -65535)."""
    if len(data) < 8:
        return None
    (version,) = struct.unpack_from(">q", data)
    if version not in ELECTION_PROTOCOL_VERSIONS:
        return data[:8], data[8:]  # a bare server id (protocol before 3.5): nothing to rewrite
    if len(data) < 20:
        return None
    sid, length = struct.unpack_from(">qi", data, 8)
    if not 0 < length <= ELECTION_ADDRESS_BYTES_MAX:
        return data, b""  # malformed: the destination refuses it, as it would without us
    if len(data) < 20 + length:
        return None
    encoded = address.encode("ascii")
    message = struct.pack(">qqi", version, sid, len(encoded)) + encoded
    return message, data[20 + length :]


class PeerProxies:
    """The proxies of one ensemble (see the module docstring).

    ``sids`` are the servers' ids; ``set_targets`` tells, before any server starts, each
    one's real (quorum port, election port) on 127.0.0.1. (The proxies bind first, so that the
    servers' ports, chosen free afterwards, cannot be theirs.)
    """

    def __init__(self, sids: Iterable[int]) -> None:
        self.sids = sorted(set(sids))
        assert len(self.sids) >= 2, "an ensemble has at least two servers"
        self.targets: dict[int, tuple[int, int]] = {}
        self._ports: dict[tuple[int, int, str], int] = {}
        self._cut: frozenset[Link] = frozenset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._connections: set[_Connection] = set()
        self._changed: asyncio.Event | None = None
        self.connections_accepted = 0
        self.connections_refused = 0  # the destination did not take the dial
        self.connections_abandoned = 0  # the dialer hung up before a heal let it through

    # --- control, from any thread --------------------------------------------------------

    def start(self) -> None:
        """Bind every proxy (ports chosen by the kernel) and start moving bytes."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._bind())
            except BaseException as error:  # handed to the caller
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="peer-proxies", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S) or failure:
            raise ProxyError(f"the peer proxies did not start: {failure or 'timeout'}")

    def set_targets(self, targets: dict[int, tuple[int, int]]) -> None:
        """Each server's real (quorum port, election port)."""
        assert sorted(targets) == self.sids, "a target for every server"
        self.targets = dict(targets)

    def port(self, source: int, destination: int, kind: str) -> int:
        """The port server ``source`` dials to reach ``destination``'s ``kind`` port."""
        return self._ports[(source, destination, kind)]

    @property
    def cut_links(self) -> frozenset[Link]:
        return self._cut

    def cut(self, links: Iterable[Link]) -> None:
        """Hold every byte sent over these links (directions) from now on, on top of those
        already cut."""
        chosen = frozenset(links)
        for source, destination in chosen:
            assert source in self.sids and destination in self.sids and source != destination
        self._call(self._set_cut(self._cut | chosen))

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between servers of different groups, both ways."""
        sets = [set(group) for group in groups]
        links = {
            (a, b)
            for i, first in enumerate(sets)
            for j, second in enumerate(sets)
            if i != j
            for a in first
            for b in second
        }
        self.cut(links)

    def heal(self) -> None:
        """Every link whole again; what was held is delivered."""
        self._call(self._set_cut(frozenset()))

    def close(self) -> None:
        """Close every proxy and connection and stop the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CONTROL_TIMEOUT_S)

    def __enter__(self) -> PeerProxies:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None or not self._thread.is_alive():
            coroutine.close()
            raise ProxyError("the peer proxies are not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(CONTROL_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise ProxyError("the peer proxies did not take a change in time") from None

    # --- the proxies' own loop -----------------------------------------------------------

    async def _bind(self) -> None:
        self._changed = asyncio.Event()
        for source in self.sids:
            for destination in self.sids:
                if source == destination:
                    continue
                for kind in KINDS:
                    server = await asyncio.start_server(
                        self._handler(source, destination, kind), HOST, 0
                    )
                    self._servers.append(server)
                    self._ports[(source, destination, kind)] = server.sockets[0].getsockname()[1]

    async def _set_cut(self, links: frozenset[Link]) -> None:
        self._cut = links
        assert self._changed is not None
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # wakes everything waiting for a link

    def _open(self, source: int, destination: int) -> bool:
        return (source, destination) not in self._cut

    async def _wait_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()

    def _handler(self, source: int, destination: int, kind: str) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections_accepted += 1
            connection = _Connection(source, destination, kind, writer)
            self._connections.add(connection)
            try:
                await self._serve(connection, reader)
            except (OSError, asyncio.IncompleteReadError):
                connection.abort()
            finally:
                self._connections.discard(connection)

        return handle

    async def _serve(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        source, destination = connection.source, connection.destination
        held = await self._hold(source, destination, reader)
        if held is None:  # the dialer hung up before the connection could be set up
            self.connections_abandoned += 1
            connection.dialer.transport.abort()
            return
        quorum_port, election_port = self.targets[destination]
        port = quorum_port if connection.kind == "quorum" else election_port
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, port), DIAL_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            self.connections_refused += 1
            connection.dialer.transport.abort()  # as a refused connection: a reset
            return
        connection.upstream = up_writer
        if connection.kind == "election":
            held = await self._rewrite_initial(connection, reader, held)
            if held is None:
                connection.abort()
                return
        if held:
            up_writer.write(held)  # the initial message in one write (Apache read()s it once)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, source, destination)),
            asyncio.create_task(self._pump(up_reader, connection.dialer, destination, source)),
        ]
        connection.tasks = pumps
        await asyncio.gather(*pumps, return_exceptions=True)
        connection.abort()

    async def _hold(
        self, source: int, destination: int, reader: asyncio.StreamReader
    ) -> bytes | None:
        """Read what the dialer sends (bounded) until both directions are whole; None if it
        hung up first."""
        held = bytearray()
        while not (self._open(source, destination) and self._open(destination, source)):
            change = asyncio.ensure_future(self._wait_change())
            waits: set[asyncio.Future[Any]] = {change}
            read: asyncio.Future[bytes] | None = None
            if len(held) < HELD_BYTES_MAX:
                read = asyncio.ensure_future(reader.read(HELD_BYTES_MAX - len(held)))
                waits.add(read)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            change.cancel()
            if read is not None:
                if read.done():
                    data = read.result()
                    if not data:
                        return None
                    held += data
                else:
                    read.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await read
        return bytes(held)

    async def _rewrite_initial(
        self, connection: _Connection, reader: asyncio.StreamReader, held: bytes
    ) -> bytes | None:
        """The held bytes with the election initial message's address made the proxy's for
        the way back; None if the dialer hung up before the message was whole."""
        back = self.port(connection.destination, connection.source, "election")
        data = held
        while (split := rewrite_initial_message(data, f"{HOST}:{back}")) is None:
            more = await asyncio.wait_for(reader.read(CHUNK_BYTES), DIAL_TIMEOUT_S)
            if not more:
                return None
            data += more
        message, rest = split
        return message + rest

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: int,
        destination: int,
    ) -> None:
        """Bytes from ``source`` to ``destination``, held while that link is cut."""
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                while not self._open(source, destination):
                    await self._wait_change()
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            writer.transport.abort()

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.abort()
            for task in connection.tasks:
                task.cancel()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["KINDS", "PeerProxies", "ProxyError", "rewrite_initial_message"]
