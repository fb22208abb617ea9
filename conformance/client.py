"""An asyncio ZooKeeper client for conformance testing, recording everything it does.

``Client`` is one session. It speaks the wire protocol through ``reference.jute`` and takes its
requests as ``spec.requests`` operations, so that every request and reply it records
(``conformance.history``) can be replayed through the spec by the checker. It is a test client:
it does exactly what it is told, hides nothing, and prefers clarity to speed — but requests are
pipelined (many in flight on one connection, replies matched to xids in FIFO order) because
ordering under pipelining is one of the things being tested.

What it does, following Apache ZooKeeper's Java client (``ClientCnxn``):

* connects to one of a list of ``host:port`` servers and sends a ``ConnectRequest`` (with the
  readOnly byte); the negotiated session timeout sets the ping interval (a third of it, when
  nothing else was sent) and the read timeout (two thirds: a silent server is a lost
  connection);
* matches replies to requests in order, as ``ClientCnxn.SendThread.readResponse`` does: a
  reply whose xid is not the oldest outstanding request's ("Xid out of order"), or a reply
  when nothing is outstanding, is a protocol violation: recorded, the connection dropped,
  and every request in flight fails at once with ``ProtocolViolation`` — never a wait for a
  timeout. The reserved xids have their own rules: notifications (-1) come at any time;
  auth replies (-4) are matched among auth packets only, because the server answers them
  as they arrive, ahead of requests still in its pipeline (``ZooKeeperServer.processPacket``);
  pings (-2) and setWatches (-8) travel the pipeline like any request
  (``FinalRequestProcessor``), so their replies are matched in order with the rest. (The
  Java client does not queue pings and so never notices a ping reply that overtook a request;
  this client does, so a server that reorders replies is caught even when only one request
  is in flight.)
* hands notifications (xid -1) out in arrival order (``notifications``, ``next_notification``);
* on a lost connection, every request in flight ends with outcome *unknown* (it may or may not
  have taken effect), and — unless told otherwise — the client re-attaches the session on the
  next server of the list with the session id, password and the last zxid it has seen, then
  re-sends its auth packets and re-arms its watches with setWatches / setWatches2;
* ``close`` sends closeSession; ``abandon`` just closes the socket (the session expires later).

Every wait is bounded: connecting (``connect_timeout_s``), each request
(``request_timeout_s``: the connection is dropped and the request's outcome is unknown), and
giving up on re-attaching (``reconnect_attempts_max``). Nothing here retries a request: a
request whose outcome is unknown is reported as such, never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from conformance import wire
from conformance.history import (
    ConnectEvent,
    DisconnectEvent,
    HistoryRecorder,
    NotificationEvent,
    OpEvent,
    ProtocolErrorEvent,
    SessionEvent,
)
from reference.jute import (
    FrameReader,
    JuteError,
    WatcherEvent,
    decode_connect_response,
    decode_reply,
)
from reference.jute.framing import JUTE_MAXBUFFER
from spec import requests as rq
from spec.errors import Code
from spec.events import EventType, WatcherType
from spec.opcodes import OpCode, Xid

READ_CHUNK_BYTES = 64 * 1024
SET_WATCHES_BYTES_MAX = 128 * 1024  # the Java client batches setWatches at 128 KiB
NOTIFICATIONS_MAX = 1_000_000
PASSWORD_BYTES = 16


class ClientError(Exception):
    """Base of the client's errors."""


class ConnectionLoss(ClientError):
    """The request was not sent: there is no connection (it did not take effect)."""


class OutcomeUnknown(ClientError):
    """The request was sent but no reply came (timeout or lost connection)."""

    def __init__(self, op_id: int, reason: str) -> None:
        super().__init__(f"operation {op_id}: outcome unknown ({reason})")
        self.op_id = op_id
        self.reason = reason


class ProtocolViolation(OutcomeUnknown):
    """The connection broke the wire protocol (a reply out of order, a frame that does not
    decode): it was dropped, and the request's outcome is unknown."""

    def __init__(self, op_id: int, detail: str) -> None:
        super().__init__(op_id, f"protocol violation: {detail}")
        self.detail = detail


class SessionExpired(ClientError):
    """The server says the session no longer exists."""


class ClientClosed(ClientError):
    """The client was closed (closeSession sent, or abandoned)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A watch event as it arrived."""

    conn: int
    session_id: int
    recv: int
    time_ns: int
    zxid: int
    type: int
    state: int
    path: str


@dataclass(slots=True)
class _Pending:
    op_id: int
    op: rq.Operation
    xid: int
    opcode: int
    future: asyncio.Future[rq.Reply]
    invoke_ns: int
    deadline: float
    recorded: bool = True  # False for the keeper's pings, which the history leaves out


class _Connection:
    """One TCP connection of the session: its socket, framing and requests in flight."""

    def __init__(
        self,
        conn_id: int,
        server: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.conn_id = conn_id
        self.server = server
        self.reader = reader
        self.writer = writer
        self.frames = FrameReader(JUTE_MAXBUFFER)
        self.pending: deque[_Pending] = deque()
        # Auth packets are answered when they arrive, outside the request pipeline, so their
        # replies (xid -4) may overtake earlier requests' (the Java client keeps them out of
        # its pending queue too): they are matched in their own order.
        self.pending_auth: deque[_Pending] = deque()
        self.received = 0
        now = asyncio.get_running_loop().time()
        self.last_send = now
        self.last_recv = now
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        sockname = writer.get_extra_info("sockname")
        self.client_address = str(sockname[0]) if sockname else "127.0.0.1"


class _Watches:
    """The watches this session holds, to re-arm after a reconnect (``ZKWatchManager``)."""

    def __init__(self) -> None:
        self.data: set[str] = set()
        self.exist: set[str] = set()
        self.child: set[str] = set()
        self.persistent: set[str] = set()
        self.recursive: set[str] = set()

    def armed(self, op: rq.Operation, reply: rq.Reply) -> None:
        """Note the watch a successful (or, for exists, NONODE) request armed."""
        ok = reply.err == Code.OK
        if isinstance(op, rq.Exists) and op.watch:
            if ok:
                self.data.add(op.path)
            elif reply.err == Code.NONODE:
                self.exist.add(op.path)
        elif isinstance(op, rq.GetData) and op.watch and ok:
            self.data.add(op.path)
        elif isinstance(op, rq.GetChildren) and op.watch and ok:
            self.child.add(op.path)
        elif isinstance(op, rq.AddWatch) and ok:
            (self.persistent if op.mode == 0 else self.recursive).add(op.path)
        elif isinstance(op, rq.RemoveWatches) and ok:
            self.removed(op.path, op.type)

    def removed(self, path: str, watcher_type: int) -> None:
        if watcher_type in (WatcherType.Children, WatcherType.Any):
            self.child.discard(path)
        if watcher_type in (WatcherType.Data, WatcherType.Any):
            self.data.discard(path)
            self.exist.discard(path)
        if watcher_type in (WatcherType.Persistent, WatcherType.Any):
            self.persistent.discard(path)
        if watcher_type in (WatcherType.PersistentRecursive, WatcherType.Any):
            self.recursive.discard(path)

    def fired(self, event_type: int, path: str) -> None:
        if event_type in (EventType.NodeCreated, EventType.NodeDataChanged, EventType.NodeDeleted):
            self.data.discard(path)
            self.exist.discard(path)
        if event_type in (EventType.NodeChildrenChanged, EventType.NodeDeleted):
            self.child.discard(path)

    def set_watches(self, relative_zxid: int) -> list[rq.SetWatches]:
        """setWatches requests re-arming everything, each under ``SET_WATCHES_BYTES_MAX``."""
        lists = [
            sorted(self.data),
            sorted(self.exist),
            sorted(self.child),
            sorted(self.persistent),
            sorted(self.recursive),
        ]
        batches: list[rq.SetWatches] = []
        current: list[list[str]] = [[] for _ in lists]
        size = 0
        for kind, paths in enumerate(lists):
            for path in paths:
                cost = 4 + len(path.encode("utf-8", "surrogatepass"))
                if size + cost > SET_WATCHES_BYTES_MAX and size > 0:
                    batches.append(_set_watches(relative_zxid, current))
                    current, size = [[] for _ in lists], 0
                current[kind].append(path)
                size += cost
        if size > 0:
            batches.append(_set_watches(relative_zxid, current))
        return batches


def _set_watches(relative_zxid: int, lists: list[list[str]]) -> rq.SetWatches:
    data, exist, child, persistent, recursive = (tuple(x) for x in lists)
    return rq.SetWatches(relative_zxid, data, exist, child, persistent, recursive)


def _split_host(host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit():
        raise ValueError(f"not a host:port: {host!r}")
    return name.strip("[]"), int(port)


class Client:
    """One ZooKeeper session over a list of servers (see the module docstring).

    ``hosts`` are ``host:port`` strings; the first connection goes to ``hosts[start_host]``.
    ``recorder`` receives the history; ``name`` labels this client in it.
    """

    def __init__(
        self,
        hosts: Sequence[str],
        *,
        name: str = "client",
        recorder: HistoryRecorder | None = None,
        session_timeout_ms: int = 10_000,
        request_timeout_s: float = 5.0,
        connect_timeout_s: float | None = None,
        reconnect: bool = True,
        reconnect_attempts_max: int = 6,
        start_host: int = 0,
        read_only: bool = False,
        on_notification: Callable[[Notification], None] | None = None,
    ) -> None:
        if not hosts:
            raise ValueError("at least one host:port is needed")
        for host in hosts:
            _split_host(host)
        self.hosts = list(hosts)
        self.name = name
        self.recorder = recorder
        self.session_timeout_ms = session_timeout_ms
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s or max(
            0.5, session_timeout_ms / 1000 / len(self.hosts)
        )
        self.reconnect_enabled = reconnect
        self.reconnect_attempts_max = reconnect_attempts_max
        self.read_only = read_only
        self.on_notification = on_notification
        self.session_id = 0
        self.password = bytes(PASSWORD_BYTES)
        self.negotiated_timeout_ms = 0
        self.last_zxid_seen = 0
        self.host_index = start_host % len(self.hosts)
        self.notifications: list[Notification] = []
        self.notifications_dropped = 0
        self.protocol_errors: list[str] = []
        # The first protocol violation that made this client drop a connection.
        self.protocol_violation: str | None = None
        self.expired = False
        self.closed = False
        self._auth: list[rq.AddAuth] = []
        self._watches = _Watches()
        self._conn: _Connection | None = None
        self._ready = asyncio.Event()
        self._next_xid = 1
        self._local_op_id = 0
        self._new_notification = asyncio.Event()
        self._taken: set[int] = set()
        self._reconnecting: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    # --- public API ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed and self._ready.is_set()

    @property
    def server(self) -> str:
        return self.hosts[self.host_index]

    @property
    def conn_id(self) -> int:
        return self._conn.conn_id if self._conn is not None else 0

    async def start(self) -> None:
        """Create a new session on the first server that answers (bounded attempts)."""
        if self.session_id != 0:
            raise ClientError("start() creates a session; this client already has one")
        for attempt in range(len(self.hosts)):
            index = (self.host_index + attempt) % len(self.hosts)
            if await self._connect(index):
                return
            if self.expired:
                break
        raise ConnectionLoss(f"{self.name}: no server of {self.hosts} granted a session")

    async def resume(self, session_id: int, password: bytes, last_zxid_seen: int = 0) -> None:
        """Re-attach an existing session (as a restarted client would), bounded attempts.

        Raises ``SessionExpired`` if the server says the session is gone.
        """
        if self.session_id != 0:
            raise ClientError("resume() needs a client without a session")
        self.session_id, self.password, self.last_zxid_seen = session_id, password, last_zxid_seen
        for attempt in range(len(self.hosts)):
            if await self._connect((self.host_index + attempt) % len(self.hosts)):
                return
            if self.expired:
                raise SessionExpired(f"session 0x{session_id:x} expired")
        raise ConnectionLoss(f"{self.name}: no server re-attached session 0x{session_id:x}")

    async def submit(self, op: rq.Operation) -> asyncio.Future[rq.Reply]:
        """Send ``op`` now and return the future of its reply (pipelining).

        Waits (at most ``request_timeout_s``) for a connection if the client is re-attaching.
        The future fails with ``OutcomeUnknown`` if the reply never comes.
        """
        conn = await self._wait_connected()
        return self._send(conn, op)

    async def call(self, op: rq.Operation) -> rq.Reply:
        """Send ``op`` and wait for its reply (bounded)."""
        future = await self.submit(op)
        return await self._await(future)

    async def close(self) -> rq.Reply | None:
        """Send closeSession, wait for its reply (bounded), and close the connection."""
        if self.closed:
            return None
        self.reconnect_enabled = False
        reply: rq.Reply | None = None
        try:
            if self.connected:
                reply = await self.call(rq.CloseSession())
        except ClientError:
            reply = None
        finally:
            self.closed = True
            await self._shutdown("closed by the client")
        return reply

    async def abandon(self) -> None:
        """Close the connection without closeSession: the session lives on until it expires."""
        self.reconnect_enabled = False
        self.closed = True
        await self._shutdown("abandoned by the client")

    async def drop_connection(self, reason: str = "dropped by the test") -> None:
        """Lose the connection as a network failure would; re-attach if enabled."""
        conn = self._conn
        if conn is not None:
            self._lose(conn, reason)
        await asyncio.sleep(0)

    async def reconnect(self, host_index: int | None = None) -> None:
        """Move the session to another server (the next one, or ``hosts[host_index]``)."""
        conn = self._conn
        if conn is not None:
            self._lose(conn, "moving to another server", reconnect=False)
        await self._reattach(host_index)
        if not self.connected:
            raise ConnectionLoss(f"{self.name}: could not re-attach session 0x{self.session_id:x}")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait (bounded) until the session has a connection again."""
        await self._wait_connected(timeout_s)

    async def next_notification(
        self, predicate: Callable[[Notification], bool] | None = None, timeout_s: float = 5.0
    ) -> Notification:
        """The first notification not yet taken that satisfies ``predicate`` (bounded wait)."""

        def find() -> Notification | None:
            for note in self.notifications:
                if id(note) not in self._taken and (predicate is None or predicate(note)):
                    return note
            return None

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = find()
            if found is not None:
                self._taken.add(id(found))
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no matching notification within {timeout_s} s")
            self._new_notification.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_notification.wait(), remaining)

    # --- connecting ----------------------------------------------------------------------

    async def _open(self, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        host, port = _split_host(self.hosts[index])
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(host, port), self.connect_timeout_s
            )
        except (OSError, TimeoutError):
            return None

    async def _connect(self, index: int) -> bool:
        """One handshake with ``hosts[index]``; True if the session is (re-)attached."""
        opened = await self._open(index)
        if opened is None:
            return False
        reader, writer = opened
        conn = _Connection(self._new_conn_id(), self.hosts[index], reader, writer)
        request = rq.Connect(
            timeout_ms=self.session_timeout_ms,
            session_id=self.session_id,
            password=self.password,
            last_zxid_seen=self.last_zxid_seen,
            client_address=conn.client_address,
            read_only=self.read_only,
        )
        invoke_ns = time.monotonic_ns()
        writer.write(wire.connect_frame(request))
        response = None
        detail = "no answer"
        try:
            payload = await asyncio.wait_for(self._read_frame(conn), self.connect_timeout_s)
            if payload is not None:
                response = decode_connect_response(payload)
        except TimeoutError:
            detail = "handshake timed out"
        except (OSError, JuteError) as error:
            detail = f"handshake failed: {error}"
        complete_ns = time.monotonic_ns() if response is not None else None
        # What was asked for; what was answered (if anything) is added below.
        asked = ConnectEvent(
            conn.conn_id,
            self.name,
            conn.server,
            self.session_id,
            self.last_zxid_seen,
            self.session_timeout_ms,
            invoke_ns,
            complete_ns,
            "unknown",
            client_address=conn.client_address,
        )
        if response is None:
            self._record(asked)
            self._record_disconnect(conn, detail)
            await _close_writer(writer)
            return False
        expired = response.timeOut <= 0
        outcome = "expired" if expired else "ok"
        self._record(
            replace(
                asked,
                outcome=outcome,
                session_id=response.sessionId,
                password=response.passwd,
                negotiated_timeout_ms=response.timeOut,
                read_only=response.readOnly,
            )
        )
        if expired:
            self.expired = True
            self._record(SessionEvent("expired", self.session_id, conn.conn_id, complete_ns or 0))
            self._record_disconnect(conn, "session expired")
            await _close_writer(writer)
            self._lost.set()
            return False
        if self.session_id not in (0, response.sessionId):
            self._protocol_error(
                conn, f"re-attach of 0x{self.session_id:x} answered with 0x{response.sessionId:x}"
            )
            await _close_writer(writer)
            return False
        new_session = self.session_id == 0
        self.session_id = response.sessionId
        self.password = response.passwd or bytes(PASSWORD_BYTES)
        self.negotiated_timeout_ms = response.timeOut
        self.host_index = index
        if new_session:
            self._record(SessionEvent("created", self.session_id, conn.conn_id, complete_ns or 0))
        self._conn = conn
        loop = asyncio.get_running_loop()
        conn.last_recv = loop.time()
        conn.tasks.append(asyncio.create_task(self._read_loop(conn)))
        conn.tasks.append(asyncio.create_task(self._keeper(conn)))
        try:
            self._prime(conn)
        except ConnectionLoss:
            self._lose(conn, "lost while re-arming", reconnect=False)
            return False
        self._ready.set()
        self._lost.clear()
        return True

    def _prime(self, conn: _Connection) -> None:
        """After a re-attach: auth packets first, then setWatches (``primeConnection``)."""
        for auth in self._auth:
            self._send(conn, auth)
        for set_watches in self._watches.set_watches(self.last_zxid_seen):
            self._send(conn, set_watches)

    async def _read_frame(self, conn: _Connection) -> bytes | None:
        while True:
            data = await conn.reader.read(READ_CHUNK_BYTES)
            if not data:
                return None
            frames = conn.frames.feed(data)
            if frames:
                if len(frames) > 1:
                    raise JuteError("the server sent frames before the handshake answer", 0)
                conn.received += 1
                return frames[0]

    async def _reattach(self, host_index: int | None = None) -> None:
        self._ready.clear()
        start = self.host_index + 1 if host_index is None else host_index
        for attempt in range(self.reconnect_attempts_max):
            if self.closed or self.expired:
                break
            index = (start + attempt) % len(self.hosts)
            if await self._connect(index):
                return
            await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
        self._lost.set()

    def _start_reattach(self) -> None:
        if self._reconnecting is not None and not self._reconnecting.done():
            return
        self._reconnecting = asyncio.create_task(self._reattach())

    async def _wait_connected(self, timeout_s: float | None = None) -> _Connection:
        if self.closed:
            raise ClientClosed(f"{self.name} is closed")
        if self.expired:
            raise SessionExpired(f"session 0x{self.session_id:x} expired")
        if not self._ready.is_set():
            waiter = asyncio.ensure_future(self._ready.wait())
            lost = asyncio.ensure_future(self._lost.wait())
            try:
                await asyncio.wait(
                    {waiter, lost},
                    timeout=timeout_s or self.request_timeout_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()
                lost.cancel()
        if self.expired:
            raise SessionExpired(f"session 0x{self.session_id:x} expired")
        conn = self._conn
        if conn is None or conn.closed or not self._ready.is_set():
            raise ConnectionLoss(f"{self.name}: not connected")
        return conn

    # --- requests ------------------------------------------------------------------------

    def _send(self, conn: _Connection, op: rq.Operation) -> asyncio.Future[rq.Reply]:
        if conn.closed or conn.writer.is_closing():
            raise ConnectionLoss(f"{self.name}: the connection is closing")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[rq.Reply] = loop.create_future()
        xid = self._next_xid
        self._next_xid = self._next_xid + 1 if self._next_xid < 0x7FFFFFFF else 1
        frame = wire.request_frame(op, xid)
        pending = _Pending(
            op_id=self._new_op_id(),
            op=op,
            xid=wire.request_xid(op, xid),
            opcode=wire.opcode_of(op),
            future=future,
            invoke_ns=time.monotonic_ns(),
            deadline=loop.time() + self.request_timeout_s,
        )
        (conn.pending_auth if isinstance(op, rq.AddAuth) else conn.pending).append(pending)
        conn.writer.write(frame)
        conn.last_send = loop.time()
        if isinstance(op, rq.AddAuth) and op not in self._auth:
            self._auth.append(op)
        return future

    async def _await(self, future: asyncio.Future[rq.Reply]) -> rq.Reply:
        # The keeper fails the request after request_timeout_s; this is the backstop.
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.request_timeout_s * 2 + 1)
        except TimeoutError:
            raise OutcomeUnknown(0, "no reply and no failure: client bug") from None

    # --- receiving -----------------------------------------------------------------------

    async def _read_loop(self, conn: _Connection) -> None:
        reason = "connection closed by the server"
        try:
            while not conn.closed:
                data = await conn.reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                conn.last_recv = asyncio.get_running_loop().time()
                for payload in conn.frames.feed(data):
                    conn.received += 1
                    if not self._on_frame(conn, payload):
                        return
        except JuteError as error:
            self._violation(conn, f"bad frame: {error}")
            return
        except (OSError, asyncio.IncompleteReadError) as error:
            reason = f"connection error: {error}"
        if not conn.closed:
            self._lose(conn, reason)

    def _on_frame(self, conn: _Connection, payload: bytes) -> bool:
        """Handle one frame; False if the connection was dropped."""
        if len(payload) < 16:  # a ReplyHeader: int xid, long zxid, int err
            return self._violation(conn, f"a frame of {len(payload)} bytes, not a reply")
        xid = int.from_bytes(payload[:4], "big", signed=True)
        if xid == Xid.NOTIFICATION:
            return self._on_notification(conn, payload)
        err = int.from_bytes(payload[12:16], "big", signed=True)
        auth = xid == Xid.AUTH
        queue = conn.pending_auth if auth else conn.pending
        if not queue:
            outstanding = "auth packet" if auth else "request"
            return self._violation(
                conn, f"a reply with xid {xid} (err {err}) while no {outstanding} is outstanding"
            )
        if queue[0].xid != xid:
            expected = queue[0]
            return self._violation(
                conn,
                f"xid out of order: got xid {xid} (err {err}), expected xid {expected.xid} "
                f"(the reply to {_describe(expected.op)}, the oldest request outstanding)",
            )
        pending = queue.popleft()
        try:
            decoded = decode_reply(payload, pending.opcode)
            reply, anomalies = wire.reply_of(pending.op, decoded)
        except (JuteError, ValueError) as error:
            queue.appendleft(pending)
            return self._violation(conn, f"undecodable reply to xid {xid}: {error}")
        for anomaly in anomalies:
            self._protocol_error(conn, f"xid {xid}: {anomaly.field}: {anomaly.detail}")
        self._complete(conn, pending, reply)
        return True

    def _on_notification(self, conn: _Connection, payload: bytes) -> bool:
        try:
            decoded = decode_reply(payload, OpCode.notification)
        except JuteError as error:
            return self._violation(conn, f"undecodable notification: {error}")
        event = decoded.record
        assert isinstance(event, WatcherEvent)
        if event.path is None:
            self._protocol_error(conn, "notification with a null path")
        note = Notification(
            conn.conn_id,
            self.session_id,
            conn.received,
            time.monotonic_ns(),
            decoded.header.zxid,
            event.type,
            event.state,
            event.path or "",
        )
        self._watches.fired(note.type, note.path)
        if len(self.notifications) < NOTIFICATIONS_MAX:
            self.notifications.append(note)
        else:
            self.notifications_dropped += 1
        self._record(
            NotificationEvent(
                note.conn,
                self.name,
                note.session_id,
                note.recv,
                note.time_ns,
                note.zxid,
                note.type,
                note.state,
                note.path,
            )
        )
        if self.on_notification is not None:
            self.on_notification(note)
        self._new_notification.set()
        return True

    def _complete(self, conn: _Connection, pending: _Pending, reply: rq.Reply) -> None:
        if not pending.recorded:  # the keeper's ping: in order, and that is all
            pending.future.set_result(reply)
            return
        op = pending.op
        if not isinstance(op, rq.AddAuth | rq.Ping) and reply.zxid > self.last_zxid_seen:
            self.last_zxid_seen = reply.zxid
        self._watches.armed(op, reply)
        complete_ns = time.monotonic_ns()
        outcome = "ok" if reply.err == Code.OK else "error"
        self._record(
            OpEvent(
                pending.op_id,
                self.name,
                conn.conn_id,
                conn.server,
                self.session_id,
                pending.xid,
                op,
                pending.invoke_ns,
                complete_ns,
                outcome,
                reply,
                conn.received,
            )
        )
        if isinstance(op, rq.CloseSession) and reply.err == Code.OK:
            self.closed = True
            self.reconnect_enabled = False
            self._record(SessionEvent("closed", self.session_id, conn.conn_id, complete_ns))
        if isinstance(op, rq.AddAuth) and reply.err != Code.OK and op in self._auth:
            self._auth.remove(op)
        if not pending.future.done():
            pending.future.set_result(reply)

    # --- keeping the connection alive ----------------------------------------------------

    async def _keeper(self, conn: _Connection) -> None:
        """Pings when idle, fails requests past their deadline, notices a silent server."""
        loop = asyncio.get_running_loop()
        timeout_s = self.negotiated_timeout_ms / 1000
        ping_interval_s = max(timeout_s / 3, 0.01)
        read_timeout_s = max(timeout_s * 2 / 3, 0.02)
        while not conn.closed:
            now = loop.time()
            oldest = [q[0].deadline for q in (conn.pending, conn.pending_auth) if q]
            if oldest and min(oldest) <= now:
                self._lose(conn, f"request timed out after {self.request_timeout_s} s")
                return
            if now - conn.last_recv >= read_timeout_s:
                self._lose(conn, f"server silent for {read_timeout_s:.2f} s")
                return
            if now - conn.last_send >= ping_interval_s and not conn.writer.is_closing():
                self._ping(conn)
            wake = min(
                conn.last_send + ping_interval_s,
                conn.last_recv + read_timeout_s,
                min(oldest) if oldest else now + ping_interval_s,
            )
            await asyncio.sleep(max(wake - loop.time(), 0.001))

    def _ping(self, conn: _Connection) -> None:
        """Send a ping; its reply is expected in order with the requests' (not recorded)."""
        loop = asyncio.get_running_loop()
        conn.pending.append(
            _Pending(
                op_id=0,
                op=rq.Ping(),
                xid=Xid.PING,
                opcode=OpCode.ping,
                future=loop.create_future(),
                invoke_ns=time.monotonic_ns(),
                deadline=loop.time() + self.request_timeout_s,
                recorded=False,
            )
        )
        conn.writer.write(wire.request_frame(rq.Ping(), Xid.PING))
        conn.last_send = loop.time()

    # --- losing the connection -----------------------------------------------------------

    def _violation(self, conn: _Connection, detail: str) -> bool:
        """The server broke the wire protocol on ``conn``: record it and drop the connection;
        what was in flight fails now with ``ProtocolViolation``. Returns False (stop reading)."""
        self._protocol_error(conn, detail)
        if self.protocol_violation is None:
            self.protocol_violation = detail
        self._lose(conn, f"protocol violation: {detail}", violation=detail)
        return False

    def _lose(
        self,
        conn: _Connection,
        reason: str,
        *,
        reconnect: bool = True,
        violation: str | None = None,
    ) -> None:
        """The connection is gone: fail what was in flight, then re-attach if allowed."""
        if conn.closed:
            return
        conn.closed = True
        if self._conn is conn:
            self._conn = None
            self._ready.clear()
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()
        conn.writer.close()
        in_flight = sorted([*conn.pending, *conn.pending_auth], key=lambda p: p.invoke_ns)
        conn.pending.clear()
        conn.pending_auth.clear()
        for pending in in_flight:
            if not pending.recorded:
                pending.future.cancel()
                continue
            self._record(
                OpEvent(
                    pending.op_id,
                    self.name,
                    conn.conn_id,
                    conn.server,
                    self.session_id,
                    pending.xid,
                    pending.op,
                    pending.invoke_ns,
                    None,
                    "unknown",
                    None,
                    None,
                    reason,
                )
            )
            if not pending.future.done():
                failure = (
                    OutcomeUnknown(pending.op_id, reason)
                    if violation is None
                    else ProtocolViolation(pending.op_id, violation)
                )
                pending.future.set_exception(failure)
                pending.future.exception()  # retrieved here so an unawaited future stays quiet
        self._record_disconnect(conn, reason)
        if reconnect and self.reconnect_enabled and not self.closed and not self.expired:
            self._start_reattach()
        else:
            self._lost.set()

    async def _shutdown(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            self._lose(conn, reason, reconnect=False)
            await _close_writer(conn.writer)
            for task in conn.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 1.0)
        if self._reconnecting is not None and not self._reconnecting.done():
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reconnecting
        self._lost.set()

    # --- recording -----------------------------------------------------------------------

    def _new_conn_id(self) -> int:
        if self.recorder is not None:
            return self.recorder.next_conn()
        self._local_op_id += 1
        return self._local_op_id

    def _new_op_id(self) -> int:
        if self.recorder is not None:
            return self.recorder.next_op_id()
        self._local_op_id += 1
        return self._local_op_id

    def _record(self, event: ConnectEvent | SessionEvent | OpEvent | NotificationEvent) -> None:
        if self.recorder is not None:
            self.recorder.record(event)

    def _record_disconnect(self, conn: _Connection, reason: str) -> None:
        if self.recorder is not None:
            self.recorder.record(
                DisconnectEvent(
                    conn.conn_id, self.name, self.session_id, time.monotonic_ns(), reason
                )
            )

    def _protocol_error(self, conn: _Connection, detail: str) -> None:
        self.protocol_errors.append(detail)
        if self.recorder is not None:
            self.recorder.record(
                ProtocolErrorEvent(
                    conn.conn_id, self.name, self.session_id, time.monotonic_ns(), detail
                )
            )


def _describe(op: rq.Operation) -> str:
    path = getattr(op, "path", None)
    return f"{type(op).__name__}({path})" if path is not None else type(op).__name__


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
