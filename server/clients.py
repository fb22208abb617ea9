"""Client connections: TCP bytes in to the node, its frames out, within bounds.

Theory of operation
-------------------
One ``ClientConnection`` (an ``asyncio.Protocol``) per TCP connection; ``ClientConnections``
keeps them and their bookkeeping for the server. ``data_received`` splits the bytes into
frames (``reference.jute.FrameReader``, bounded by ``jute.maxbuffer``) and feeds every
complete frame to the node in that one call; there is no coroutine or task per request.
After feeding, the server's ``flush`` carries out the node's effects (``server.server``), and
hands the client frames back to ``deliver``: one ``transport.writelines`` per connection.

Before the first frame a connection may instead send a four-letter word (``ruok``,
``srvr``, ...): the server answers it as plain text (``server.fourletter``) and the
connection is closed, as Apache ZooKeeper does (``NIOServerCnxn.checkFourLetterWord``).

Bounds
------
* A frame longer than ``jute.maxbuffer`` closes its connection (after the frames before
  it are answered); at most ``maxClientCnxns`` connections per client IP
  (``NIOServerCnxnFactory``: "Too many connections from ... - max is ...").
* Backpressure per connection: once its send buffer passes the high-water mark
  (``client_send_buffer_bytes_high``) it is no longer read, and the frames already read
  wait in ``backlog``. Frames are fed ``frames_per_flush`` at a time, so one read of small
  requests for large replies adds at most that many replies before the check. A connection
  whose send buffer still grows past ``client_send_buffer_bytes_max`` (notifications,
  replies released by durability) is closed: a client that never reads cannot make the
  server buffer without bound.
* Backpressure for the whole server: when more than ``globalOutstandingLimit`` requests, or
  ``outstanding_bytes_max`` bytes of them, wait in the core's session queues for their
  writes to commit, no connection is read (nor its backlog fed) until that falls to half
  (``update_throttle``).

Must not decide anything about the protocol: it moves frames between sockets and the node,
and counts them.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Protocol, cast

from reference.core import ZooKeeperCore
from reference.jute import FrameLengthError, FrameReader
from reference.quorum.peer import QuorumPeer
from reference.ready import Output
from server.clock import Clock
from server.config import FOUR_LETTER_WORDS, ServerConfig

log = logging.getLogger("zkref.server")

_AWAITING_FIRST_WORD = 0  # nothing or fewer than 4 bytes received yet
_FRAMES = 1  # speaking the jute protocol
_CLOSING = 2  # no more input accepted; queued output still goes out
_CLOSED = 3

_WORDS = {word.encode("ascii"): word for word in FOUR_LETTER_WORDS}
_STMK_BYTES = 12  # "stmk" is followed by an 8-byte trace mask
_XID_ZXID = struct.Struct(">iq")  # ReplyHeader.xid, .zxid after the 4-byte length
_NOTIFICATION_XID = -1


class ClientHost(Protocol):
    """What the server gives this module. ``node`` and ``clock`` may be replaced (recovery,
    a test's virtual clock): always read them here, never keep them."""

    config: ServerConfig
    clock: Clock
    node: ZooKeeperCore | QuorumPeer
    internal_errors: int


class ServerStats:
    """Counters for ``srvr``/``mntr`` (``ServerStats`` in Apache ZooKeeper)."""

    __slots__ = (
        "latency_count",
        "latency_max_ms",
        "latency_min_ms",
        "latency_total_ms",
        "packets_received",
        "packets_sent",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.packets_received = 0
        self.packets_sent = 0
        self.latency_count = 0
        self.latency_total_ms = 0
        self.latency_min_ms = 0
        self.latency_max_ms = 0

    def record_latency(self, latency_ms: int, count: int) -> None:
        if self.latency_count == 0 or latency_ms < self.latency_min_ms:
            self.latency_min_ms = latency_ms
        if latency_ms > self.latency_max_ms:
            self.latency_max_ms = latency_ms
        self.latency_count += count
        self.latency_total_ms += latency_ms * count

    @property
    def latency_avg_ms(self) -> float:
        if self.latency_count == 0:
            return 0.0
        return round(self.latency_total_ms / self.latency_count, 4)


class ClientConnection(asyncio.Protocol):
    """One client TCP connection: bytes in to the node, the node's frames out."""

    __slots__ = (
        "address",
        "backlog",
        "backlog_error",
        "clients",
        "conn_id",
        "counted",
        "established_ms",
        "ip",
        "last_header",
        "last_latency_ms",
        "last_response_ms",
        "last_zxid",
        "latency_count",
        "latency_max_ms",
        "latency_min_ms",
        "latency_total_ms",
        "prefix",
        "reader",
        "reading_paused",
        "received",
        "sent",
        "state",
        "transport",
        "write_paused",
    )

    def __init__(self, clients: ClientConnections, conn_id: int) -> None:
        self.clients = clients
        self.conn_id = conn_id
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.address = ""
        self.state = _AWAITING_FIRST_WORD
        self.prefix = b""
        self.reader = FrameReader(clients.config.jute_max_buffer)
        self.counted = False
        self.write_paused = False
        self.reading_paused = False
        self.established_ms = 0
        # Frames read but not yet fed to the node because the send buffer was full, and the
        # framing error (if any) that ends them.
        self.backlog: list[bytes] = []
        self.backlog_error: str | None = None
        self.reset_stats()

    def reset_stats(self) -> None:
        self.received = 0
        self.sent = 0
        self.last_header = b""
        self.last_zxid = -1
        self.last_response_ms = 0
        self.last_latency_ms = 0
        self.latency_count = 0
        self.latency_total_ms = 0
        self.latency_min_ms = 0
        self.latency_max_ms = 0

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.clients.connection_made(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == _FRAMES:
            self.clients.frames_received(self, data)
        elif state == _AWAITING_FIRST_WORD:
            self._first_bytes(data)

    def eof_received(self) -> bool | None:
        return None  # close, as Apache ZooKeeper does when a client shuts its side

    def connection_lost(self, exc: Exception | None) -> None:
        self.clients.connection_lost(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.update_reading()

    # --- helpers -------------------------------------------------------------------------

    def _first_bytes(self, data: bytes) -> None:
        """Before the first frame: a four-letter word, or the start of the handshake."""
        buffered = self.prefix + data
        if len(buffered) < 4:
            self.prefix = buffered
            return
        word = _WORDS.get(buffered[:4])
        if word is not None:
            if word == "stmk" and len(buffered) < _STMK_BYTES:
                self.prefix = buffered
                return
            self.prefix = b""
            self.clients.four_letter_word(self, word, buffered[4:_STMK_BYTES])
            return
        self.prefix = b""
        self.state = _FRAMES
        self.clients.frames_received(self, buffered)

    def update_reading(self) -> None:
        """Read from the socket unless its send buffer is full or the server is throttled;
        when neither holds any more, first feed the frames left waiting (``backlog``)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.state >= _CLOSING:
            return
        # A throttled server still reads a connection's first bytes: a four-letter word is
        # answered at once (monitoring must work when it matters most); anything else is
        # parked in the backlog by process_frames.
        held = self.write_paused or (self.clients.throttled and self.state == _FRAMES)
        if not held and (self.backlog or self.backlog_error is not None):
            self.clients.resume_backlog(self)
            return  # process_frames called update_reading again
        pause = held or bool(self.backlog)
        if pause != self.reading_paused:
            self.reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def send(self, chunks: list[bytes], latency_ms: int, now_ms: int) -> None:
        """Write frames in one call; enforce the send-buffer bound."""
        transport = self.transport
        if transport is None or self.state == _CLOSED:
            return
        transport.writelines(chunks)
        count = len(chunks)
        self.sent += count
        self.last_response_ms = now_ms
        self.last_latency_ms = latency_ms
        if self.latency_count == 0 or latency_ms < self.latency_min_ms:
            self.latency_min_ms = latency_ms
        if latency_ms > self.latency_max_ms:
            self.latency_max_ms = latency_ms
        self.latency_count += count
        self.latency_total_ms += latency_ms * count
        last = chunks[-1]
        if len(last) >= 16 and self.sent > count:
            xid, zxid = _XID_ZXID.unpack_from(last, 4)
            if xid != _NOTIFICATION_XID:
                self.last_zxid = zxid
        if self.write_paused:
            limit = self.clients.config.client_send_buffer_bytes_max
            if transport.get_write_buffer_size() > limit:
                log.warning(
                    "closing connection from %s: more than %d bytes wait to be sent "
                    "(the client does not read its socket)",
                    self.address,
                    limit,
                )
                self.clients.abort(self)


class ClientConnections:
    """The server's client connections: accepted, limited per IP, fed to the node in
    bounded steps, throttled together, answered.

    ``flush`` is the server's: it carries out the node's effects and calls ``deliver``.
    ``answer`` gives the text of a four-letter word (``server.fourletter``).
    """

    def __init__(
        self,
        host: ClientHost,
        flush: Callable[[], None],
        answer: Callable[[ClientConnection, str, bytes], str],
    ) -> None:
        self.host = host
        self.config = host.config
        self._flush = flush
        self._answer = answer
        self.stats = ServerStats()
        self.connections: dict[int, ClientConnection] = {}
        self.connections_per_ip: dict[str, int] = {}
        self.throttled = False
        self.rejected_connections = 0
        self._next_conn_id = 1
        # Closes asked by this module (a framing error, a failing frame), queued behind
        # everything the node produced for the connection so far, like the node's own:
        # the server's flush takes them (``take_closes``).
        self._closes: list[Output] = []
        config = self.config
        # Frames fed to the node between two flushes: at most this many replies of up to
        # jute.maxbuffer bytes each can land in one send buffer past its high-water mark.
        self.frames_per_flush = max(
            1,
            (config.client_send_buffer_bytes_max - config.client_send_buffer_bytes_high)
            // config.jute_max_buffer,
        )

    # --- accepting and closing -----------------------------------------------------------

    def new_connection(self) -> ClientConnection:
        """The listener's protocol factory."""
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        return ClientConnection(self, conn_id)

    def connection_made(self, conn: ClientConnection) -> None:
        transport = conn.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        conn.ip = str(peer[0]) if peer else "?"
        conn.address = f"/{conn.ip}:{peer[1]}" if peer else "/?"
        conn.established_ms = self.host.clock.now_ms()
        limit = self.config.max_client_connections_per_ip
        count = self.connections_per_ip.get(conn.ip, 0)
        if limit and count >= limit:
            log.warning("Too many connections from /%s - max is %d", conn.ip, limit)
            self.rejected_connections += 1
            conn.state = _CLOSED
            transport.close()
            return
        conn.counted = True
        self.connections_per_ip[conn.ip] = count + 1
        self.connections[conn.conn_id] = conn
        transport.set_write_buffer_limits(high=self.config.client_send_buffer_bytes_high)
        node = self.host.node
        node.connection_made(conn.conn_id, conn.ip)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            # A secure port's connection: the handshake is over (asyncio calls
            # connection_made after it) and the certificate, if the client sent one, is
            # verified against the trust store.
            certificate = ssl_object.getpeercert(binary_form=True)
            core = node if isinstance(node, ZooKeeperCore) else node.core
            if certificate is not None and not core.authenticate_certificate(
                conn.conn_id, certificate
            ):
                log.warning("closing %s: its certificate's subject cannot be read", conn.address)
                self.abort(conn)

    def connection_lost(self, conn: ClientConnection) -> None:
        conn.state = _CLOSED
        if not conn.counted:
            return
        conn.counted = False
        self.connections.pop(conn.conn_id, None)
        remaining = self.connections_per_ip.get(conn.ip, 1) - 1
        if remaining > 0:
            self.connections_per_ip[conn.ip] = remaining
        else:
            self.connections_per_ip.pop(conn.ip, None)
        self.host.node.connection_lost(conn.conn_id)

    def abort(self, conn: ClientConnection) -> None:
        """Drop a connection at once, unsent output included."""
        if conn.transport is not None:
            conn.transport.abort()
        self.connection_lost(conn)

    def abort_all(self) -> None:
        """Drop every connection (the server is closing)."""
        for conn in list(self.connections.values()):
            self.abort(conn)

    def close_after_output(self, conn: ClientConnection, reason: str) -> None:
        """Stop reading ``conn``; close it after the output already queued for it."""
        log.info("closing connection from %s: %s", conn.address, reason)
        conn.state = _CLOSING
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.pause_reading()
        self.host.node.connection_lost(conn.conn_id)
        self._closes.append(Output(conn.conn_id, None, True))

    def take_closes(self) -> list[Output]:
        """The closes this module asked for since the last call, in order."""
        closes = self._closes
        if closes:
            self._closes = []
        return closes

    # --- input ---------------------------------------------------------------------------

    def four_letter_word(self, conn: ClientConnection, word: str, argument: bytes) -> None:
        conn.state = _CLOSING
        self.stats.packets_received += 1
        conn.received += 1
        try:
            text = self._answer(conn, word, argument)
        except Exception:
            self.host.internal_errors += 1
            log.exception("four-letter word %s failed", word)
            text = ""
        transport = conn.transport
        assert transport is not None
        if text:
            transport.write(text.encode("utf-8", "replace"))
            self.stats.packets_sent += 1
        transport.close()

    def frames_received(self, conn: ClientConnection, data: bytes) -> None:
        error: str | None = None
        try:
            frames = conn.reader.feed(data)
        except FrameLengthError as length_error:
            frames = length_error.frames
            error = str(length_error)
        self.process_frames(conn, frames, error)

    def resume_backlog(self, conn: ClientConnection) -> None:
        frames, error = conn.backlog, conn.backlog_error
        conn.backlog, conn.backlog_error = [], None
        self.process_frames(conn, frames, error)

    def process_frames(
        self, conn: ClientConnection, frames: list[bytes], error: str | None
    ) -> None:
        """Feed frames to the node, flushing every ``frames_per_flush``; stop feeding while
        the connection's send buffer is full or the server is throttled (what is left waits
        in ``conn.backlog`` until ``update_reading`` resumes it), so one read of small
        requests for large replies cannot make us buffer without bound. ``error`` (a
        framing error after the frames) closes the connection once they are fed."""
        total = len(frames)
        step = self.frames_per_flush
        start = 0
        while start < total:
            if conn.write_paused or self.throttled:
                conn.backlog, conn.backlog_error = frames[start:], error
                conn.update_reading()
                return
            stop = min(total, start + step)
            failure = self._feed(conn, frames if stop - start == total else frames[start:stop])
            start = stop
            if failure is not None:
                error = failure
                break
            if start < total:
                self._flush()
                if conn.state != _FRAMES:
                    return
        if error is not None:
            self.close_after_output(conn, error)
        self._flush()
        if conn.reading_paused:
            conn.update_reading()  # a backlog was fed: read again

    def _feed(self, conn: ClientConnection, frames: list[bytes]) -> str | None:
        """Hand frames to the node; a description of the failure if the node raised."""
        count = len(frames)
        if count == 0:
            return None
        now = self.host.clock.now_ms()
        receive = self.host.node.receive
        conn_id = conn.conn_id
        failure = None
        try:
            for payload in frames:
                receive(conn_id, payload, now)
        except Exception as error:
            # A bug in the core: keep the server up, drop only this connection.
            self.host.internal_errors += 1
            log.exception("internal error on a frame from %s", conn.address)
            failure = f"internal error: {error!r}"
        if conn.received or count > 1:
            conn.last_header = frames[-1][:8]
        conn.received += count
        self.stats.packets_received += count
        return failure

    # --- output --------------------------------------------------------------------------

    def deliver(self, outputs: list[Output], latency_ms: int, now_ms: int) -> None:
        """Write outputs, one call per connection, then do the closes they ask for."""
        batches: dict[int, list[bytes]] = {}
        closes: list[int] = []
        for out in outputs:
            data = out.data
            if data is not None:
                chunks = batches.get(out.conn_id)
                if chunks is None:
                    batches[out.conn_id] = [data]
                else:
                    chunks.append(data)
            if out.close:
                closes.append(out.conn_id)
        connections = self.connections
        stats = self.stats
        for conn_id, chunks in batches.items():
            conn = connections.get(conn_id)
            if conn is not None:
                conn.send(chunks, latency_ms, now_ms)
                stats.packets_sent += len(chunks)
                stats.record_latency(latency_ms, len(chunks))
        for conn_id in closes:
            conn = connections.get(conn_id)
            if conn is not None and conn.transport is not None:
                conn.state = _CLOSING
                conn.transport.close()

    def update_throttle(self, outstanding: int, outstanding_bytes: int) -> None:
        """Stop reading every connection past ``globalOutstandingLimit`` requests (or
        ``outstanding_bytes_max`` bytes) waiting for their writes; read again at half."""
        config = self.config
        if not self.throttled and (
            outstanding > config.outstanding_requests_max
            or outstanding_bytes > config.outstanding_bytes_max
        ):
            log.warning(
                "%d replies (%d bytes) wait for the transaction log: not reading from clients",
                outstanding,
                outstanding_bytes,
            )
            self._set_throttled(True)
        elif (
            self.throttled
            and outstanding <= config.outstanding_requests_max // 2
            and outstanding_bytes <= config.outstanding_bytes_max // 2
        ):
            self._set_throttled(False)

    def _set_throttled(self, throttled: bool) -> None:
        self.throttled = throttled
        for conn in list(self.connections.values()):
            conn.update_reading()
