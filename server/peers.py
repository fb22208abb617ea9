"""An ensemble's server-to-server connections: the election port and the quorum port.

The quorum peer (``reference.quorum.peer``) names what it sends by server id (election
notifications) or by connection id (quorum packets); this module owns the sockets.

Election connections (``QuorumCnxManager``). One TCP connection per pair of servers, owned by
the server with the *higher* id: a server dials a lower id and keeps the connection; to
reach a higher id it dials, sends its initial message and hangs up, and the other side, seeing
a lower id, dials back. A connection from an unknown id, or a malformed initial message or
frame, is logged and closed. While no connection is up, only the latest notification for a
server is kept (``SEND_CAPACITY`` is 1): the election resends anyway.

Quorum connections. The peer dials its leader's quorum port when it follows
(``QuorumConnect``) and is told when the dial succeeded or the connection ended; every
server listens on its own quorum port and tells its peer of each learner that connects (a peer
that does not lead closes them). Bytes are read by ``QuorumStreamReader`` (packets, and after
a leader's SNAP the snapshot); a malformed stream closes the connection. A connection whose
send buffer grows past ``QUORUM_SEND_BUFFER_BYTES_MAX`` (a learner that does not read) is
closed rather than buffered without bound. Either way the peer is told the connection closed
(``quorum_closed``), as it is when the other end closes.

Writes are corked: the packets sent on a quorum connection while the server carries out one
Ready go out in one ``writelines`` when it is done (``flush``; at the latest at the end of
the loop pass): a leader sends a PROPOSAL and a COMMIT per write to every learner, and one
system call per packet was a quarter of a busy leader's time. A packet sent to several
learners (the same ``QuorumPacket``) is encoded once.

Must not decide anything about the protocol: it moves bytes and reports connection events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, Protocol, cast

from reference.jute import JuteError
from reference.quorum.apache_snapshot import ApacheSnapshot, encode_snapshot_transfer
from reference.quorum.election_wire import (
    PROTOCOL_VERSION_V1,
    ElectionStreamReader,
    InitialMessage,
    Notification,
    decode_notification,
    encode_initial_message,
    encode_notification,
    frame_message,
)
from reference.quorum.messages import ElectionSend, QuorumClose, QuorumConnect, QuorumSend
from reference.quorum.wire import PacketSender, QuorumPacket, encode_packet
from reference.quorum.wire_stream import QuorumStreamReader
from server.config import QuorumServer

log = logging.getLogger("zkref.peers")

# A learner that does not read cannot make its leader buffer more than this.
QUORUM_SEND_BUFFER_BYTES_MAX: Final = 256 << 20
# How long a dial may take before it counts as failed (the peer retries).
DIAL_TIMEOUT_S: Final = 5.0


class PeerHost(Protocol):
    """What the server gives this module: the peer's inputs, at the server's clock."""

    def election_received(self, sid: int, notification: Notification) -> None: ...

    def quorum_accepted(self, conn: int) -> None: ...

    def quorum_connected(self, conn: int) -> None: ...

    def quorum_closed(self, conn: int) -> None: ...

    def quorum_received(
        self, conn: int, events: Sequence[QuorumPacket | ApacheSnapshot]
    ) -> None: ...


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _ElectionConnection(asyncio.Protocol):
    """One election connection; ``sid`` is the other server (known once it said so)."""

    def __init__(self, network: PeerNetwork, sid: int | None, dialed: bool) -> None:
        self.network = network
        self.sid = sid
        self.dialed = dialed
        self.transport: asyncio.Transport | None = None
        # What we read: from a dialer, its initial message first.
        self.reader = ElectionStreamReader(from_dialer=not dialed)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.dialed:
            self.network._dialed_election(self)

    def data_received(self, data: bytes) -> None:
        try:
            items = self.reader.feed(data)
        except JuteError as error:
            log.warning("election connection from %s: %s; closing", self.sid, error)
            self.close()
            return
        for item in items:
            if self.closed:
                return
            if isinstance(item, InitialMessage):
                self.network._initial_message(self, item)
                continue
            try:
                notification = decode_notification(item)
            except JuteError as error:
                # WorkerReceiver drops a malformed notification and keeps the connection.
                log.warning("dropping a malformed notification from %s: %s", self.sid, error)
                continue
            if self.sid is not None:
                self.network.host.election_received(self.sid, notification)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.network._election_lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _QuorumConnection(asyncio.Protocol):
    """One quorum connection: ``conn`` is its id; ``sender`` who writes what we read."""

    def __init__(self, network: PeerNetwork, conn: int, sender: PacketSender) -> None:
        self.network = network
        self.conn = conn
        self.reader = QuorumStreamReader(sender)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.outgoing: list[bytes] = []  # corked until the end of this loop pass

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.conn > 0:
            self.network.quorum[self.conn] = self
            self.network.host.quorum_accepted(self.conn)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.reader.feed(data)
        except JuteError as error:
            self.abort(f"{error}")
            return
        if events and not self.closed:
            # All the packets of one read at once: the server answers what they release
            # with one write per client, not one per packet.
            self.network.host.quorum_received(self.conn, events)

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed = self.closed
        self.closed = True
        if self.network.quorum.get(self.conn) is self:
            del self.network.quorum[self.conn]
        if not was_closed:
            self.network.host.quorum_closed(self.conn)

    def write(self, data: bytes) -> None:
        if self.transport is None or self.closed:
            return
        if not self.outgoing:
            self.network._cork(self)
        self.outgoing.append(data)

    def flush(self) -> None:
        """Write what was corked, in one call."""
        transport = self.transport
        outgoing, self.outgoing = self.outgoing, []
        if transport is None or self.closed or not outgoing:
            return
        transport.writelines(outgoing)
        if transport.get_write_buffer_size() > QUORUM_SEND_BUFFER_BYTES_MAX:
            self.abort("it does not read")

    def close(self) -> None:
        """Close on the peer's word (``QuorumClose``), once what was sent before is written:
        the peer is not told again."""
        if not self.closed:
            self.flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self, why: str) -> None:
        """Close on this module's word (bytes that can never be valid, a peer that does not
        read) and tell the peer, as Apache's reading thread ends the learner handler or the
        learner: a leader forgets the learner at once, a follower looks for a leader. Told
        on the next turn of the loop: this may run inside the server's flush of the peer's
        sends."""
        if self.closed:
            return
        log.warning("quorum connection %d: %s; closing it", self.conn, why)
        self.close()
        asyncio.get_running_loop().call_soon(self.network.host.quorum_closed, self.conn)


class PeerNetwork:
    """The election and quorum sockets of one server of an ensemble (module docstring)."""

    def __init__(self, my_id: int, servers: tuple[QuorumServer, ...], host: PeerHost) -> None:
        self.my_id = my_id
        self.servers = {s.sid: s for s in servers}
        self.me = self.servers[my_id]
        self.host = host
        self.election: dict[int, _ElectionConnection] = {}
        self.election_waiting: dict[int, bytes] = {}
        self._dialing: set[int] = set()
        self.quorum: dict[int, _QuorumConnection] = {}
        self._next_accept = 1
        self._listeners: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._corked: list[_QuorumConnection] = []
        self._last_packet: QuorumPacket | None = None
        self._last_encoded = b""
        self.election_port = self.me.election_port
        self.quorum_port = self.me.quorum_port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        election = await loop.create_server(
            lambda: _ElectionConnection(self, None, dialed=False),
            self.me.host,
            self.me.election_port,
            reuse_address=True,
        )
        quorum = await loop.create_server(
            self._accept_quorum, self.me.host, self.me.quorum_port, reuse_address=True
        )
        self._listeners = [election, quorum]
        self.election_port = election.sockets[0].getsockname()[1]
        self.quorum_port = quorum.sockets[0].getsockname()[1]

    def _accept_quorum(self) -> _QuorumConnection:
        conn = self._next_accept
        self._next_accept += 1
        return _QuorumConnection(self, conn, PacketSender.LEARNER)

    async def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        for connection in list(self.election.values()):
            connection.close()
        for quorum in list(self.quorum.values()):
            quorum.close()
        for task in list(self._tasks):
            task.cancel()
        for listener in self._listeners:
            await listener.wait_closed()

    def _spawn(self, coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: object) -> None:
        """Carry out one of the peer's sends (``reference.quorum.messages``)."""
        if isinstance(message, QuorumSend):
            connection = self.quorum.get(message.conn)
            if connection is None:
                return
            packet = message.packet
            if not isinstance(packet, QuorumPacket):
                connection.write(encode_snapshot_transfer(packet))
                return
            # The same packet to every learner in turn (PROPOSAL, COMMIT, PING): encode once.
            if packet is not self._last_packet:
                self._last_packet = packet
                self._last_encoded = encode_packet(packet)
            connection.write(self._last_encoded)
        elif isinstance(message, ElectionSend):
            self._send_election(message.to, encode_notification(message.notification))
        elif isinstance(message, QuorumConnect):
            self._spawn(lambda: self._dial_quorum(message.conn, message.leader))
        elif isinstance(message, QuorumClose):
            quorum = self.quorum.pop(message.conn, None)
            if quorum is not None:
                quorum.close()
        else:
            raise AssertionError(f"unknown send {message!r}")

    def _cork(self, connection: _QuorumConnection) -> None:
        """``connection`` has output: it is written at the next ``flush``, at the latest at
        the end of this pass of the loop."""
        if not self._corked:
            asyncio.get_running_loop().call_soon(self.flush)
        self._corked.append(connection)

    def flush(self) -> None:
        """Write what was sent since the last flush, one call per connection. The server
        calls this once it has carried out a Ready, so a packet does not wait for the end of
        the loop pass (a hop each way of every write)."""
        corked, self._corked = self._corked, []
        self._last_packet = None
        for connection in corked:
            connection.flush()

    def _send_election(self, sid: int, notification: bytes) -> None:
        frame = frame_message(notification)
        connection = self.election.get(sid)
        if connection is not None and not connection.closed:
            connection.write(frame)
            return
        self.election_waiting[sid] = frame
        self._dial_election(sid)

    # --- election connections ------------------------------------------------------------------

    def _dial_election(self, sid: int) -> None:
        if sid in self._dialing or sid not in self.servers:
            return
        self._dialing.add(sid)
        server = self.servers[sid]

        async def dial() -> None:
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _ElectionConnection(self, sid, dialed=True),
                        server.host,
                        server.election_port,
                    ),
                    DIAL_TIMEOUT_S,
                )
            except (OSError, TimeoutError) as error:
                log.debug("cannot reach server %d's election port: %s", sid, error)
            finally:
                self._dialing.discard(sid)

        self._spawn(dial)

    def _initial_bytes(self) -> bytes:
        me = self.me
        address = _address(me.host, self.election_port)
        return encode_initial_message(InitialMessage(PROTOCOL_VERSION_V1, self.my_id, (address,)))

    def _dialed_election(self, connection: _ElectionConnection) -> None:
        sid = connection.sid
        assert sid is not None
        connection.write(self._initial_bytes())
        if sid > self.my_id:
            # The higher id owns the connection: we only said who we are; it dials back.
            connection.close()
            return
        self._use_election(sid, connection)

    def _initial_message(self, connection: _ElectionConnection, message: InitialMessage) -> None:
        sid = message.sid
        if sid not in self.servers or sid == self.my_id:
            log.warning("election connection from unknown server id %d: closing", sid)
            connection.close()
            return
        connection.sid = sid
        if sid < self.my_id:
            # handleConnection: a lower id dialed us; we own the pair's connection.
            connection.close()
            if sid not in self.election or self.election[sid].closed:
                self._dial_election(sid)
            return
        self._use_election(sid, connection)

    def _use_election(self, sid: int, connection: _ElectionConnection) -> None:
        old = self.election.get(sid)
        if old is not None and old is not connection:
            old.close()
        self.election[sid] = connection
        waiting = self.election_waiting.pop(sid, None)
        if waiting is not None:
            connection.write(waiting)

    def _election_lost(self, connection: _ElectionConnection) -> None:
        sid = connection.sid
        if sid is not None and self.election.get(sid) is connection:
            del self.election[sid]

    # --- quorum connections --------------------------------------------------------------------

    async def _dial_quorum(self, conn: int, leader: int) -> None:
        server = self.servers.get(leader)
        if server is None:
            self.host.quorum_closed(conn)
            return
        loop = asyncio.get_running_loop()
        connection = _QuorumConnection(self, conn, PacketSender.LEADER)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: connection, server.host, server.quorum_port),
                DIAL_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as error:
            log.info("cannot reach leader %d's quorum port: %s", leader, error)
            self.host.quorum_closed(conn)
            return
        if connection.closed:
            # Closed before the dial returned (a server that does not lead closes a learner
            # at once): connection_lost has told the peer, for whom the dial failed.
            return
        self.quorum[conn] = connection
        self.host.quorum_connected(conn)
