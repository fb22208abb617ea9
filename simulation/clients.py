"""Simulated ZooKeeper clients: a connect string, one session, failover, and a history.

A ``SessionClient`` behaves as a ZooKeeper client library does: it connects to the servers of
its connect string in turn, sends its lastZxidSeen so that no server older than what it saw
can take it, keeps its session alive with pings, notices a silent or lost connection, and
re-attaches the session at another server. Every handshake, operation, notification and
disconnection is recorded in the conformance history format (``conformance.history``), so
that ``conformance.checker`` judges the whole simulated run against the spec.

Requests are answered in order on a connection; a request in flight when its connection is
lost is recorded with an unknown outcome (it may or may not have taken effect), as a real
client must. Times are the simulation's virtual clock (``Cluster.clock_ns``).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

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
    JuteError,
    WatcherEvent,
    decode_connect_response,
    decode_reply,
)
from simulation.cluster import ClientEndpoint, Cluster
from simulation.invariants import InvariantViolation
from spec import requests as rq
from spec.errors import Code
from spec.opcodes import OpCode, Xid

# A client waits this long (a multiple of the session timeout) before it gives up on a
# request or a silent server, as ZooKeeper's client does (readTimeout = 2/3 sessionTimeout).
READ_TIMEOUT_FRACTION = 2 / 3
PING_FRACTION = 1 / 3
# Pause between two connection attempts (ms), drawn in [min, max] (ClientCnxn sleeps up to 1 s).
RECONNECT_DELAY_MS = (10, 200)


@dataclass(slots=True)
class _Pending:
    op_id: int
    op: rq.Operation
    xid: int
    opcode: int
    invoke_ns: int
    deadline_ms: int
    recorded: bool = True


class SessionClient:
    """One client session over the simulated ensemble (see the module docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        name: str,
        servers: list[int],
        recorder: HistoryRecorder,
        rng: random.Random,
        timeout_ms: int = 1500,
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.servers = servers
        self.recorder = recorder
        self.rng = rng
        self.timeout_ms = timeout_ms
        self.session_id = 0
        self.password = bytes(16)
        self.negotiated_timeout_ms = 0
        self.last_zxid_seen = 0
        self.endpoint: ClientEndpoint | None = None
        self.server = 0
        self.conn = 0  # the history's connection number
        self.received = 0
        self.handshaking = False
        self.handshake_invoke_ns = 0
        self.pending: deque[_Pending] = deque()
        self.next_xid = 1
        self.last_recv_ms = 0
        self.last_send_ms = 0
        self.expired = False
        self.closing = False
        self.closed = False
        self._next_server = rng.randrange(len(servers))
        self._alive_at: int | None = None
        self.acknowledged_writes: list[tuple[rq.Operation, rq.Reply]] = []
        self._connect()

    # --- connection ------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected with a session: requests may be sent."""
        return self.endpoint is not None and not self.handshaking and not self.done

    @property
    def done(self) -> bool:
        return self.expired or self.closed

    def _connect(self) -> None:
        if self.done:
            return
        sid = self.servers[self._next_server % len(self.servers)]
        self._next_server += 1
        self.server = sid
        self.conn = self.recorder.next_conn()
        self.received = 0
        self.handshaking = True
        endpoint = self.cluster.connect_client(sid)
        endpoint.on_frame = lambda data, e=endpoint: self._on_frame(e, data)
        endpoint.on_close = lambda e=endpoint: self._on_close(e)
        self.endpoint = endpoint
        self.handshake_invoke_ns = self.cluster.clock_ns()
        request = rq.Connect(
            self.timeout_ms, self.session_id, self.password, last_zxid_seen=self.last_zxid_seen
        )
        endpoint.send(wire.connect_frame(request)[4:])
        now = self.cluster.now
        self.last_recv_ms = self.last_send_ms = now
        self._arm(now + self.timeout_ms)

    def _on_close(self, endpoint: ClientEndpoint) -> None:
        if endpoint is self.endpoint:
            self._lose("connection closed by the server")

    def move_to(self, sid: int) -> None:
        """Drop the connection and re-attach the session at server ``sid`` (a client whose
        server went quiet moves on; kazoo's and the Java client's connect strings do)."""
        if self.done or self.endpoint is None or sid not in self.servers:
            return
        self._next_server = self.servers.index(sid)
        self._lose("moving to another server")

    def _lose(self, reason: str) -> None:
        """The connection is gone: what was in flight has an unknown outcome; reconnect."""
        endpoint = self.endpoint
        if endpoint is None:
            return
        self.endpoint = None
        endpoint.close()
        now_ns = self.cluster.clock_ns()
        if self.handshaking:
            self.handshaking = False
            self.recorder.record(
                ConnectEvent(
                    self.conn,
                    self.name,
                    f"server{self.server}",
                    self.session_id,
                    self.last_zxid_seen,
                    self.timeout_ms,
                    self.handshake_invoke_ns,
                    None,
                    "unknown",
                )
            )
        for pending in self.pending:
            if pending.recorded:
                self._record_op(pending, None, "unknown", None)
        self.pending.clear()
        self.recorder.record(DisconnectEvent(self.conn, self.name, self.session_id, now_ns, reason))
        if self.closing:
            # A closeSession in flight whose answer was lost: the session may be gone.
            self.closed = True
            return
        delay = self.rng.randint(*RECONNECT_DELAY_MS)
        self.cluster._schedule(delay, self._connect)

    # --- frames ----------------------------------------------------------------------------

    def _on_frame(self, endpoint: ClientEndpoint, data: bytes) -> None:
        if endpoint is not self.endpoint:
            return
        self.received += 1
        self.last_recv_ms = self.cluster.now
        if self.handshaking:
            self._handshake_answer(data)
            return
        if len(data) < 16:
            self._violation(f"a frame of {len(data)} bytes, not a reply")
            return
        xid = int.from_bytes(data[:4], "big", signed=True)
        if xid == Xid.NOTIFICATION:
            self._notification(data)
            return
        if not self.pending or self.pending[0].xid != xid:
            expected = self.pending[0].xid if self.pending else None
            self._violation(f"xid out of order: got {xid}, expected {expected}")
            return
        pending = self.pending.popleft()
        try:
            decoded = decode_reply(data, pending.opcode)
            reply, anomalies = wire.reply_of(pending.op, decoded)
        except (JuteError, ValueError) as error:
            self._violation(f"undecodable reply to xid {xid}: {error}")
            return
        for anomaly in anomalies:
            self.recorder.record(
                ProtocolErrorEvent(
                    self.conn,
                    self.name,
                    self.session_id,
                    self.cluster.clock_ns(),
                    f"{anomaly.field}: {anomaly.detail}",
                )
            )
        if not pending.recorded:
            return
        op = pending.op
        if not isinstance(op, rq.AddAuth | rq.Ping):
            if 0 <= reply.zxid < self.last_zxid_seen:
                # MonotonicRead: a session never sees an older state than it saw, on one
                # server or after moving (the server refuses a client ahead of it).
                raise InvariantViolation(
                    "a session read back in time",
                    f"{self.name} (session {self.session_id:#x}) saw {self.last_zxid_seen:#x}, "
                    f"then server {self.server} answered {type(op).__name__} at {reply.zxid:#x}",
                )
            self.last_zxid_seen = max(self.last_zxid_seen, reply.zxid)
        outcome = "ok" if reply.err == Code.OK else "error"
        self._record_op(pending, self.cluster.clock_ns(), outcome, reply)
        if outcome == "ok" and wire.opcode_of(op) in _WRITES:
            self.acknowledged_writes.append((op, reply))
        if isinstance(op, rq.CloseSession) and reply.err == Code.OK:
            self.closed = True
            self.recorder.record(
                SessionEvent("closed", self.session_id, self.conn, self.cluster.clock_ns())
            )

    def _handshake_answer(self, data: bytes) -> None:
        self.handshaking = False
        try:
            response = decode_connect_response(data)
        except JuteError as error:
            self._violation(f"undecodable ConnectResponse: {error}")
            return
        complete_ns = self.cluster.clock_ns()
        requested = self.session_id
        if response.timeOut <= 0:
            self.recorder.record(
                ConnectEvent(
                    self.conn,
                    self.name,
                    f"server{self.server}",
                    requested,
                    self.last_zxid_seen,
                    self.timeout_ms,
                    self.handshake_invoke_ns,
                    complete_ns,
                    "expired",
                )
            )
            if requested:
                self.recorder.record(SessionEvent("expired", requested, self.conn, complete_ns))
            self.expired = True
            endpoint, self.endpoint = self.endpoint, None
            if endpoint is not None:
                endpoint.close()
            return
        self.session_id = response.sessionId
        self.password = response.passwd or bytes(16)
        self.negotiated_timeout_ms = response.timeOut
        self.recorder.record(
            ConnectEvent(
                self.conn,
                self.name,
                f"server{self.server}",
                requested,
                self.last_zxid_seen,
                self.timeout_ms,
                self.handshake_invoke_ns,
                complete_ns,
                "ok",
                response.sessionId,
                self.password,
                response.timeOut,
                response.readOnly,
            )
        )
        if not requested:
            self.recorder.record(
                SessionEvent("created", response.sessionId, self.conn, complete_ns)
            )
        # The negotiated timeout sets the ping interval from now on (the connect's timer
        # was armed for the requested one).
        now = self.cluster.now
        self._arm(now + max(int(response.timeOut * PING_FRACTION), 10))

    def _notification(self, data: bytes) -> None:
        try:
            decoded = decode_reply(data, OpCode.notification)
        except JuteError as error:
            self._violation(f"undecodable notification: {error}")
            return
        event = decoded.record
        assert isinstance(event, WatcherEvent)
        self.recorder.record(
            NotificationEvent(
                self.conn,
                self.name,
                self.session_id,
                self.received,
                self.cluster.clock_ns(),
                decoded.header.zxid,
                event.type,
                event.state,
                event.path or "",
            )
        )

    def _violation(self, detail: str) -> None:
        self.recorder.record(
            ProtocolErrorEvent(
                self.conn, self.name, self.session_id, self.cluster.clock_ns(), detail
            )
        )
        self._lose(f"protocol violation: {detail}")

    def _record_op(
        self, pending: _Pending, complete_ns: int | None, outcome: str, reply: rq.Reply | None
    ) -> None:
        self.recorder.record(
            OpEvent(
                pending.op_id,
                self.name,
                self.conn,
                f"server{self.server}",
                self.session_id,
                pending.xid,
                pending.op,
                pending.invoke_ns,
                complete_ns,
                outcome,
                reply,
                self.received if reply is not None else None,
            )
        )

    # --- requests --------------------------------------------------------------------------

    def submit(self, op: rq.Operation) -> bool:
        """Send ``op`` now; False if this client cannot (not connected, or done)."""
        if not self.ready or self.closing:
            return False
        self._send(op, recorded=True)
        if isinstance(op, rq.CloseSession):
            self.closing = True
        return True

    def _send(self, op: rq.Operation, recorded: bool) -> None:
        endpoint = self.endpoint
        assert endpoint is not None
        xid = self.next_xid
        self.next_xid += 1
        frame = wire.request_frame(op, xid)
        now = self.cluster.now
        self.pending.append(
            _Pending(
                self.recorder.next_op_id() if recorded else 0,
                op,
                wire.request_xid(op, xid),
                wire.opcode_of(op),
                self.cluster.clock_ns(),
                now + self._read_timeout_ms(),
                recorded,
            )
        )
        self.last_send_ms = now
        endpoint.send(frame[4:])

    def _read_timeout_ms(self) -> int:
        timeout = self.negotiated_timeout_ms or self.timeout_ms
        return max(int(timeout * READ_TIMEOUT_FRACTION), 20)

    # --- liveness ----------------------------------------------------------------------------

    def _arm(self, at_ms: int) -> None:
        """Run ``_keep_alive`` at ``at_ms`` unless it is due to run sooner already."""
        if self._alive_at is not None and self._alive_at <= at_ms:
            return
        at_ms = max(at_ms, self.cluster.now + 1)
        self._alive_at = at_ms

        def fire() -> None:
            if self._alive_at == at_ms:  # else a sooner one replaced it
                self._alive_at = None
                self._keep_alive()

        self.cluster._schedule(at_ms - self.cluster.now, fire)

    def _keep_alive(self) -> None:
        """Ping when idle, give up on a silent server or an overdue request."""
        if self.done or self.endpoint is None:
            return
        now = self.cluster.now
        timeout = self.negotiated_timeout_ms or self.timeout_ms
        read_timeout = self._read_timeout_ms()
        if self.pending and self.pending[0].deadline_ms <= now:
            self._lose("request timed out")
            return
        if now - self.last_recv_ms >= read_timeout:
            self._lose(f"server silent for {read_timeout} ms")
            return
        ping_interval = max(int(timeout * PING_FRACTION), 10)
        if not self.handshaking and now - self.last_send_ms >= ping_interval:
            self._send(rq.Ping(), recorded=False)
        next_check = min(self.last_send_ms + ping_interval, self.last_recv_ms + read_timeout)
        if self.pending:
            next_check = min(next_check, self.pending[0].deadline_ms)
        self._arm(max(next_check, now + 1))


_WRITES = frozenset(
    {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
        OpCode.delete,
        OpCode.setData,
        OpCode.setACL,
        OpCode.multi,
    }
)
