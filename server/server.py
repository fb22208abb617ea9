"""The standalone server: TCP connections, group-committed storage and the timer around the core.

Theory of operation
-------------------
One ``ClientConnection`` (an ``asyncio.Protocol``) per TCP connection and one
``ZooKeeperCore`` for the server. ``data_received`` splits the bytes into frames
(``reference.jute.FrameReader``, bounded by ``jute.maxbuffer``) and feeds every complete
frame to the core in that one call; there is no coroutine or task per request. After the
frames (and after each timer tick) ``_flush`` carries out the core's effects
(``reference.ready.Ready``, the same contract every driver of the core follows):

1. the transactions to persist go to the ``GroupCommitter``, which writes them to
   ``Storage`` in batches while the loop goes on; when a batch is durable, ``_on_durable``
   tells the core (``core.persisted``), which commits it: only then do the replies to those
   writes, and the reads queued behind them in their sessions, exist;
2. the client frames go out at once, one ``transport.writelines`` per connection: they show
   committed state only, so nothing in the shell holds them back.

Before the first frame a connection may instead send a four-letter word (``ruok``,
``srvr``, ...): it is answered as plain text (``server.fourletter``) and closed, as
Apache ZooKeeper does.

Bounds
------
* A frame longer than ``jute.maxbuffer`` closes its connection (after the frames before
  it are answered); at most ``maxClientCnxns`` connections per client IP.
* Backpressure per connection: once its send buffer passes the high-water mark
  (``client_send_buffer_bytes_high``) it is no longer read, and the frames already read
  wait in ``backlog``. Frames are fed ``frames_per_flush`` at a time, so one read of small
  requests for large replies adds at most that many replies before the check. A connection
  whose send buffer still grows past ``client_send_buffer_bytes_max`` (notifications,
  replies released by durability) is closed: a client that never reads cannot make the
  server buffer without bound.
* Backpressure for the whole server: when more than ``globalOutstandingLimit`` requests, or
  ``outstanding_bytes_max`` bytes of them, wait in the core's session queues for their
  writes to commit, no connection is read (nor its backlog fed) until that falls to half.

Time: ``server.clock`` is the only clock. A single ``loop.call_at`` timer, re-armed after
each pass, calls ``core.tick`` at ``core.next_deadline()`` so sessions expire and
containers/TTL nodes are reaped.

The version we report (the profile's release: ``3.9.3-zkref`` or ``3.8.0-zkref``), and why:
``server.version``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import struct
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from reference.core import ZooKeeperCore
from reference.jute import FrameLengthError, FrameReader
from reference.persistence import SnapshotWriter
from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import Notification
from reference.quorum.messages import Send, SendGate
from reference.quorum.peer import QuorumPeer
from reference.quorum.wire import QuorumPacket
from reference.ready import InstallSnapshot, Output, TruncateLog
from reference.txn import Txn
from server import fourletter
from server.clock import Clock
from server.config import FOUR_LETTER_WORDS, ServerConfig
from server.peers import PeerNetwork
from server.sqlite_storage import SQLiteStorage
from server.storage import GroupCommitter, MemoryStorage, Storage

log = logging.getLogger("zkref.server")

# Znodes a snapshot encodes per loop iteration: about 3 ms of work between two passes
# over the clients (a whole 200k-znode snapshot at once paused them for 0.27 s).
SNAPSHOT_NODES_PER_STEP = 2_000
# gc.set_threshold: young collections every 50k allocations instead of 700.
GC_THRESHOLDS = (50_000, 20, 100)

_AWAITING_FIRST_WORD = 0  # nothing or fewer than 4 bytes received yet
_FRAMES = 1  # speaking the jute protocol
_CLOSING = 2  # no more input accepted; queued output still goes out
_CLOSED = 3

_WORDS = {word.encode("ascii"): word for word in FOUR_LETTER_WORDS}
_STMK_BYTES = 12  # "stmk" is followed by an 8-byte trace mask
_XID_ZXID = struct.Struct(">iq")  # ReplyHeader.xid, .zxid after the 4-byte length
_NOTIFICATION_XID = -1


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
    """One client TCP connection: bytes in to the core, the core's frames out."""

    __slots__ = (
        "address",
        "backlog",
        "backlog_error",
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
        "server",
        "state",
        "transport",
        "write_paused",
    )

    def __init__(self, server: ZooKeeperServer, conn_id: int) -> None:
        self.server = server
        self.conn_id = conn_id
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.address = ""
        self.state = _AWAITING_FIRST_WORD
        self.prefix = b""
        self.reader = FrameReader(server.config.jute_max_buffer)
        self.counted = False
        self.write_paused = False
        self.reading_paused = False
        self.established_ms = 0
        # Frames read but not yet fed to the core because the send buffer was full, and the
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
        self.server._connection_made(self)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == _FRAMES:
            self.server._frames_received(self, data)
        elif state == _AWAITING_FIRST_WORD:
            self._first_bytes(data)

    def eof_received(self) -> bool | None:
        return None  # close, as Apache ZooKeeper does when a client shuts its side

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connection_lost(self)

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
            self.server._four_letter_word(self, word, buffered[4:_STMK_BYTES])
            return
        self.prefix = b""
        self.state = _FRAMES
        self.server._frames_received(self, buffered)

    def update_reading(self) -> None:
        """Read from the socket unless its send buffer is full or the server is throttled;
        when neither holds any more, first feed the frames left waiting (``backlog``)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.state >= _CLOSING:
            return
        # A throttled server still reads a connection's first bytes: a four-letter word is
        # answered at once (monitoring must work when it matters most); anything else is
        # parked in the backlog by _process_frames.
        held = self.write_paused or (self.server.throttled and self.state == _FRAMES)
        if not held and (self.backlog or self.backlog_error is not None):
            self.server._resume_backlog(self)
            return  # _process_frames called update_reading again
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
            limit = self.server.config.client_send_buffer_bytes_max
            if transport.get_write_buffer_size() > limit:
                log.warning(
                    "closing connection from %s: more than %d bytes wait to be sent "
                    "(the client does not read its socket)",
                    self.address,
                    limit,
                )
                self.server._abort(self)


class ZooKeeperServer:
    """A standalone zkref server: ``await start()``, then ``await close()``."""

    def __init__(self, config: ServerConfig, storage: Storage | None = None) -> None:
        self.config = config
        self.clock = Clock()
        self.started_ms = self.clock.now_ms()
        # What the server drives: a standalone core, or (an ensemble's server) a quorum peer
        # around one. Both take client frames, time and durability, and give a Ready.
        self.node: ZooKeeperCore | QuorumPeer = ZooKeeperCore(
            config.core_config(self.started_ms), self.started_ms
        )
        self.peers: PeerNetwork | None = None
        # Sends held back until the persists asked before them are durable (the Ready
        # contract), each connection's in order.
        self._send_gate = SendGate()
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.committer = GroupCommitter(self.storage, self._on_durable, self._on_storage_failure)
        # Snapshots (with a data dir): txns since the last one, the one being encoded a
        # slice per loop iteration, and one encoded that waits until every txn it contains
        # is durable before it is written.
        self._txns_since_snapshot = 0
        self._snapshot_writer: SnapshotWriter | None = None
        self._snapshot_generation = 0
        self._snapshot_waiting: tuple[int, bytes | bytearray] | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self.snapshots_saved = 0
        self.durable_zxid = self.core.last_zxid
        self.stats = ServerStats()
        self.connections: dict[int, ClientConnection] = {}
        self.connections_per_ip: dict[str, int] = {}
        self.throttled = False
        self.internal_errors = 0
        self.rejected_connections = 0
        self.trace_mask = 0b100110010  # Apache ZooKeeper's default, for gtmk/stmk
        self.host = config.host
        self.port = config.port
        self._next_conn_id = 1
        # Frames fed to the core between two flushes: at most this many replies of up to
        # jute.maxbuffer bytes each can land in one send buffer past its high-water mark.
        self.frames_per_flush = max(
            1,
            (config.client_send_buffer_bytes_max - config.client_send_buffer_bytes_high)
            // config.jute_max_buffer,
        )
        # Batches handed to storage and not yet durable: (last zxid, time handed, ms).
        self._submitted: deque[tuple[int, int]] = deque()
        self._latency_ms = 0
        self._server_closes: list[Output] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0
        self._stopped: asyncio.Event | None = None
        self.failure: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured address; returns once connections are accepted."""
        assert self._loop is None, "started twice"
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if self.config.data_dir is not None and isinstance(self.storage, MemoryStorage):
            await self._recover(self.config.data_dir)
        assert not self.config.is_ensemble or isinstance(self.node, QuorumPeer), (
            "an ensemble's server needs its dataDir"
        )
        # The recovered tree lives as long as the server: keep the collector from walking it
        # again and again, and collect young objects less often (full collections of a
        # large tree paused the loop for hundreds of ms).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.committer.start()
        try:
            self._listener = await self._loop.create_server(
                self._new_connection,
                self.config.host,
                self.config.port,
                backlog=self.config.listen_backlog_effective,
                reuse_address=True,
            )
        except BaseException:
            # Not serving after all: stop the writer and close the database (its thread
            # would otherwise keep the process alive).
            await self.committer.close()
            raise
        sockname = self._listener.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]
        if isinstance(self.node, QuorumPeer):
            self.peers = PeerNetwork(self.config.my_id, self.config.servers, self)
            try:
                await self.peers.start()
            except BaseException:
                self._listener.close()
                await self.committer.close()
                raise
        # The peer's first election notifications (and anything else recovery asked for).
        self._flush()
        self._arm_timer()

    async def _recover(self, data_dir: Path) -> None:
        """Open the data dir's database and rebuild the core from its snapshot and log.

        Raises ``StorageCorrupt`` (with what is wrong) rather than start from an empty tree.
        """
        storage = await SQLiteStorage.open(data_dir, self.config.snap_retain_count)
        now = self.clock.now_ms()
        core_config = self.config.core_config(now)
        try:
            recovered = await storage.load(core_config.profile.watch_mode_set)
            if self.config.is_ensemble:
                self.node = QuorumPeer.restore(
                    self.config.peer_config(),
                    core_config,
                    now,
                    recovered.snapshot_blob,
                    recovered.txns,
                    recovered.accepted_epoch,
                    recovered.current_epoch,
                )
            else:
                self.node = ZooKeeperCore.restore(
                    core_config, now, recovered.snapshot, recovered.txns
                )
        except BaseException:
            await storage.close()
            raise
        log.info(
            "recovered zxid 0x%x from %s (snapshot at 0x%x, %d txns replayed)",
            self.core.last_zxid,
            storage.path,
            recovered.snapshot_zxid,
            len(recovered.txns),
        )
        self.storage = storage
        self.committer = GroupCommitter(storage, self._on_durable, self._on_storage_failure)
        self.durable_zxid = self.core.last_zxid
        self.committer.durable_zxid = self.durable_zxid
        self._txns_since_snapshot = len(recovered.txns)

    def _maybe_snapshot(self, new_txns: int) -> None:
        """Every ``snapCount`` txns, start a snapshot of the tree as it is now.

        It is encoded ``SNAPSHOT_NODES_PER_STEP`` znodes per loop iteration
        (``reference.persistence.SnapshotWriter``), so requests keep being answered while
        it is made, and written once every txn it contains is durable.
        """
        if not isinstance(self.storage, SQLiteStorage):
            return
        self._txns_since_snapshot += new_txns
        if self._txns_since_snapshot < self.config.snap_count:
            return
        if self._snapshot_writer is not None or self._snapshot_waiting is not None:
            return
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        self._txns_since_snapshot = 0
        self._snapshot_writer = self.core.snapshot_writer()
        self._snapshot_generation = self.storage.generation
        assert self._loop is not None
        self._loop.call_soon(self._snapshot_step)

    def _snapshot_step(self) -> None:
        writer = self._snapshot_writer
        if writer is None:
            return  # abandoned by close()
        try:
            done = writer.step(SNAPSHOT_NODES_PER_STEP)
        except Exception:
            # A bug: give this snapshot up (the log still holds every txn) and detach it
            # from the tree, rather than leave it collecting pre-images for ever.
            self.internal_errors += 1
            log.exception("encoding the snapshot at 0x%x failed", writer.zxid)
            writer.close()
            self._snapshot_writer = None
            return
        if not done:
            assert self._loop is not None
            self._loop.call_soon(self._snapshot_step)
            return
        self._snapshot_writer = None
        self._snapshot_waiting = (writer.zxid, writer.finish())
        self._save_waiting_snapshot()

    def _abandon_snapshot(self) -> None:
        """A TRUNC or a SNAP changes the log under a snapshot being made: drop it (its save,
        if already running, is dropped by the storage: another generation)."""
        if self._snapshot_writer is not None:
            self._snapshot_writer.close()
            self._snapshot_writer = None
        self._snapshot_waiting = None
        self._txns_since_snapshot = 0

    def _save_waiting_snapshot(self) -> None:
        waiting = self._snapshot_waiting
        if waiting is None or waiting[0] > self.durable_zxid:
            return
        self._snapshot_waiting = None
        storage = self.storage
        assert isinstance(storage, SQLiteStorage)
        generation = self._snapshot_generation

        async def save() -> None:
            try:
                await storage.save_snapshot(*waiting, generation=generation)
                self.snapshots_saved += 1
            except Exception:
                log.exception("saving the snapshot at 0x%x failed", waiting[0])

        self._snapshot_task = asyncio.get_running_loop().create_task(save())

    async def close(self) -> None:
        """Stop accepting, close every connection, commit what is queued, stop the timer."""
        if self.peers is not None:
            await self.peers.close()
        if self._snapshot_writer is not None:
            self._snapshot_writer.close()
            self._snapshot_writer = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.abort()
            self._connection_lost(conn)
        if self._snapshot_task is not None:
            await self._snapshot_task
        await self.committer.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return when ``close`` has run or storage failed (``failure`` says why)."""
        assert self._stopped is not None, "not started"
        await self._stopped.wait()

    @property
    def outstanding(self) -> int:
        """Outputs waiting for their transactions to become durable."""
        return self.core.outstanding

    # --- connections ---------------------------------------------------------------------

    def _new_connection(self) -> ClientConnection:
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        return ClientConnection(self, conn_id)

    def _connection_made(self, conn: ClientConnection) -> None:
        transport = conn.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        conn.ip = str(peer[0]) if peer else "?"
        conn.address = f"/{conn.ip}:{peer[1]}" if peer else "/?"
        conn.established_ms = self.clock.now_ms()
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
        self.node.connection_made(conn.conn_id, conn.ip)

    def _connection_lost(self, conn: ClientConnection) -> None:
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
        self.node.connection_lost(conn.conn_id)

    def _abort(self, conn: ClientConnection) -> None:
        """Drop a connection at once, unsent output included."""
        if conn.transport is not None:
            conn.transport.abort()
        self._connection_lost(conn)

    def _close_after_output(self, conn: ClientConnection, reason: str) -> None:
        """Stop reading ``conn``; close it after the output already queued for it."""
        log.info("closing connection from %s: %s", conn.address, reason)
        conn.state = _CLOSING
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.pause_reading()
        self.node.connection_lost(conn.conn_id)
        # Queued behind everything the core produced for it so far, like the core's closes.
        self._server_closes.append(Output(conn.conn_id, None, True))

    # --- input ---------------------------------------------------------------------------

    def _four_letter_word(self, conn: ClientConnection, word: str, argument: bytes) -> None:
        conn.state = _CLOSING
        self.stats.packets_received += 1
        conn.received += 1
        try:
            text = fourletter.answer(self, conn, word, argument)
        except Exception:
            self.internal_errors += 1
            log.exception("four-letter word %s failed", word)
            text = ""
        transport = conn.transport
        assert transport is not None
        if text:
            transport.write(text.encode("utf-8", "replace"))
            self.stats.packets_sent += 1
        transport.close()

    def _frames_received(self, conn: ClientConnection, data: bytes) -> None:
        error: str | None = None
        try:
            frames = conn.reader.feed(data)
        except FrameLengthError as length_error:
            frames = length_error.frames
            error = str(length_error)
        self._process_frames(conn, frames, error)

    def _resume_backlog(self, conn: ClientConnection) -> None:
        frames, error = conn.backlog, conn.backlog_error
        conn.backlog, conn.backlog_error = [], None
        self._process_frames(conn, frames, error)

    def _process_frames(
        self, conn: ClientConnection, frames: list[bytes], error: str | None
    ) -> None:
        """Feed frames to the core, flushing every ``frames_per_flush``; stop feeding while
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
            self._close_after_output(conn, error)
        self._flush()
        if conn.reading_paused:
            conn.update_reading()  # a backlog was fed: read again

    def _feed(self, conn: ClientConnection, frames: list[bytes]) -> str | None:
        """Hand frames to the core; a description of the failure if the core raised."""
        count = len(frames)
        if count == 0:
            return None
        now = self.clock.now_ms()
        receive = self.node.receive
        conn_id = conn.conn_id
        failure = None
        try:
            for payload in frames:
                receive(conn_id, payload, now)
        except Exception as error:
            # A bug in the core: keep the server up, drop only this connection.
            self.internal_errors += 1
            log.exception("internal error on a frame from %s", conn.address)
            failure = f"internal error: {error!r}"
        if conn.received or count > 1:
            conn.last_header = frames[-1][:8]
        conn.received += count
        self.stats.packets_received += count
        return failure

    # --- output --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Carry out the node's effects (``reference.ready``): what to persist to the group
        commit, sends once what was asked before them is durable, client frames out now;
        then throttle reading if too many requests wait."""
        ready = self.node.ready()
        committer = self.committer
        if ready.persist:
            if not self.config.is_ensemble:
                assert all(isinstance(item, Txn) for item in ready.persist), ready.persist
            committer.submit(ready.persist)
            last_txn = next((i for i in reversed(ready.persist) if isinstance(i, Txn)), None)
            if last_txn is not None:
                self._submitted.append((last_txn.header.zxid, self.clock.now_ms()))
                self._maybe_snapshot(sum(1 for i in ready.persist if isinstance(i, Txn)))
            if any(isinstance(i, (TruncateLog, InstallSnapshot)) for i in ready.persist):
                self._abandon_snapshot()
        if ready.send:
            now = self._send_gate.admit(
                cast(list[Send], ready.send),
                committer.persists_submitted,
                committer.persists_done,
            )
            if self.peers is not None:
                for message in now:
                    self.peers.send(message)
                self.peers.flush()
        if self._server_closes:
            ready.clients.extend(self._server_closes)
            self._server_closes = []
        if ready.clients:
            self._deliver(ready.clients, self._latency_ms, self.clock.now_ms())
        core = self.core
        if not self.throttled and (
            core.outstanding > self.config.outstanding_requests_max
            or core.outstanding_bytes > self.config.outstanding_bytes_max
        ):
            self._set_throttled(True)
        elif (
            self.throttled
            and core.outstanding <= self.config.outstanding_requests_max // 2
            and core.outstanding_bytes <= self.config.outstanding_bytes_max // 2
        ):
            self._set_throttled(False)
        self._arm_timer()

    def _release_sends(self) -> None:
        """Send what no longer waits for a persist, each connection's in the order asked."""
        if not self._send_gate.held:
            return
        peers = self.peers
        if peers is None:
            return
        for message in self._send_gate.release(self.committer.persists_done):
            peers.send(message)
        peers.flush()

    def _on_durable(self, zxid: int) -> None:
        """The committer made more durable (txns up to ``zxid``, or another change): the
        node commits what it may, and the replies and sends that waited go out."""
        assert zxid >= self.durable_zxid, "durability went backwards"
        self.durable_zxid = zxid
        if self._snapshot_waiting is not None:
            self._save_waiting_snapshot()
        # The latency of what this releases: since its oldest txn was handed to storage.
        submitted = self._submitted
        now = self.clock.now_ms()
        self._latency_ms = now - submitted[0][1] if submitted else 0
        while submitted and submitted[0][0] <= zxid:
            submitted.popleft()
        self.node.persisted(zxid)
        self._release_sends()
        self._flush()
        self._latency_ms = 0

    @property
    def core(self) -> ZooKeeperCore:
        """The client core (an ensemble's peer may replace its core: always ask)."""
        node = self.node
        return node if isinstance(node, ZooKeeperCore) else node.core

    # --- the peer's inputs (an ensemble's server) -------------------------------------------

    def election_received(self, sid: int, notification: Notification) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.election_received(self.clock.now_ms(), sid, notification))

    def quorum_accepted(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_accepted(self.clock.now_ms(), conn))

    def quorum_connected(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_connected(self.clock.now_ms(), conn))

    def quorum_closed(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_closed(self.clock.now_ms(), conn))

    def quorum_received(self, conn: int, events: Sequence[QuorumPacket | ApacheSnapshot]) -> None:
        """Packets read together on one connection, then one flush for all of them."""
        peer = self.node
        assert isinstance(peer, QuorumPeer)

        now = self.clock.now_ms()
        for event in events:
            try:
                peer.quorum_received(now, conn, event)
            except Exception:
                # A bug: keep the server up; the peer's timeouts bring it back to an election.
                self.internal_errors += 1
                log.exception("internal error in the quorum peer")
        self._flush()

    def _peer_input(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            # A bug: keep the server up; the peer's timeouts bring it back to an election.
            self.internal_errors += 1
            log.exception("internal error in the quorum peer")
        self._flush()

    def _deliver(self, outputs: list[Output], latency_ms: int, now_ms: int) -> None:
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

    def _set_throttled(self, throttled: bool) -> None:
        if throttled:
            log.warning(
                "%d replies (%d bytes) wait for the transaction log: not reading from clients",
                self.core.outstanding,
                self.core.outstanding_bytes,
            )
        self.throttled = throttled
        for conn in list(self.connections.values()):
            conn.update_reading()

    def _on_storage_failure(self, error: BaseException) -> None:
        self.failure = error
        loop = self._loop
        assert loop is not None
        loop.create_task(self.close())

    # --- time ----------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        deadline = self.node.next_deadline()
        if self._timer is not None:
            if deadline >= self._timer_deadline:
                return
            self._timer.cancel()
        loop = self._loop
        if loop is None:
            return
        self._timer_deadline = deadline
        # One millisecond late rather than early: the clock rounds down.
        self._timer = loop.call_at(self.clock.loop_time(deadline + 1), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.node.tick(self.clock.now_ms())
        except Exception:
            self.internal_errors += 1
            log.exception("internal error in the session/container timer")
        self._flush()
