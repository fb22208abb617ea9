"""A history, indexed for checking: operations by kind, connections, sessions, and what each
session had seen before each of its requests.

Nothing here judges the history; it only derives facts the checks share:

* which operations are writes (they take a zxid: create in every mode, delete, setData,
  setACL, multi, reconfig, closeSession) and which replies are *positioned* — a write's reply
  zxid is its transaction, a read's reply zxid is the last transaction the server had applied,
  so both place the reply in the single order of transactions; auth replies (zxid 0) and
  unimplemented requests (zxid -1) are not positioned;
* per session, the newest zxid it had seen before each request (from replies that had arrived
  before the request was sent), and the operation that showed it;
* per connection, the auth identities each request was judged with (``ip:<address>`` plus
  what earlier addAuth packets on that connection added, computed by the spec);
* session lives: created by which handshake, on which connections, closed by which request,
  and the time by which a re-attach proved it expired.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from conformance.history import ConnectEvent, History, NotificationEvent, OpEvent
from spec import requests as rq
from spec.acl import Id
from spec.errors import Code
from spec.machine import InputError, step
from spec.state import Config, Session, initial_state

WRITE_OPS = (rq.Create, rq.Delete, rq.SetData, rq.SetACL, rq.Multi, rq.Reconfig, rq.CloseSession)


@dataclass(eq=False, slots=True)
class Op:
    """One operation of the history with what the checks derive about it."""

    event: OpEvent
    is_write: bool
    positioned: bool
    auth_ids: tuple[Id, ...] = ()
    seen: int = 0  # newest zxid the session had seen before sending this request
    seen_by: Op | None = None
    conn_floor: int = 0  # newest zxid of earlier requests on the same connection
    auth_reply: rq.Reply | None = None  # what the spec answers an addAuth
    auth_after: tuple[Id, ...] = ()  # an addAuth: the connection's auth ids once it is done
    # the auth ids including addAuths sent after this request but answered before it: the
    # server adds an identity on arrival, so a request still in its pipeline may see it
    auth_alternative: tuple[Id, ...] | None = None

    @property
    def id(self) -> int:
        return self.event.id

    @property
    def op(self) -> rq.Operation:
        return self.event.op

    @property
    def session(self) -> int:
        return self.event.session_id

    @property
    def conn(self) -> int:
        return self.event.conn

    @property
    def invoke(self) -> int:
        return self.event.invoke_ns

    @property
    def complete(self) -> int | None:
        return self.event.complete_ns

    @property
    def reply(self) -> rq.Reply | None:
        return self.event.reply

    @property
    def zxid(self) -> int:
        """The reply header's zxid (-1 when there is no reply)."""
        return self.event.reply.zxid if self.event.reply is not None else -1

    @property
    def outcome(self) -> str:
        return self.event.outcome


@dataclass(eq=False, slots=True)
class Connection:
    conn: int
    session: int
    client: str
    server: str
    client_address: str
    connect: ConnectEvent | None
    ops: list[Op] = field(default_factory=list)  # in the order they were sent
    notifications: list[NotificationEvent] = field(default_factory=list)  # in arrival order


@dataclass(eq=False, slots=True)
class SessionInfo:
    session: int
    password: bytes
    timeout_ms: int
    client_address: str
    created: ConnectEvent | None
    conns: list[int] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)  # in the order they were sent
    closed_by: Op | None = None  # the closeSession that was answered OK
    expired_ns: int | None = None  # a re-attach was answered "expired" by this time
    expired_conn: int | None = None


class HistoryIndex:
    """Everything the checks need, derived once from a ``History``."""

    def __init__(self, history: History, config: Config) -> None:
        self.history = history
        self.config = config
        self.ops = [_classify(event) for event in history.ops]
        self.by_id = {op.id: op for op in self.ops}
        self.connections: dict[int, Connection] = {}
        self.sessions: dict[int, SessionInfo] = {}
        self.duplicate_sessions: list[tuple[ConnectEvent, ConnectEvent]] = []
        self._index_connects()
        self._index_ops()
        for note in sorted(history.notifications, key=lambda n: (n.conn, n.recv)):
            self._connection_for(note.conn, note.session_id, note.client).notifications.append(note)
        for info in self.sessions.values():
            info.ops.sort(key=lambda o: (o.invoke, o.id))
            _derive_seen(info.ops)
        for conn in self.connections.values():
            conn.ops.sort(key=lambda o: (o.invoke, o.id))
            _derive_conn_floor(conn.ops)
            self._derive_auth(conn)
        self.writes = sorted(
            (o for o in self.ops if o.is_write and o.positioned), key=lambda o: (o.zxid, o.id)
        )
        self.write_zxids = [o.zxid for o in self.writes]
        self._completed = _CompletedWrites(self.writes)
        self.start_ns = min(
            [o.invoke for o in self.ops] + [c.invoke_ns for c in history.connects], default=0
        )

    # --- building ------------------------------------------------------------------------

    def _index_connects(self) -> None:
        for connect in sorted(self.history.connects, key=lambda c: (c.invoke_ns, c.conn)):
            if connect.outcome == "ok":
                session = connect.session_id
                info = self.sessions.get(session)
                if connect.requested_session_id == 0:
                    if info is not None and info.created is not None:
                        self.duplicate_sessions.append((info.created, connect))
                        continue
                    info = SessionInfo(
                        session,
                        connect.password or bytes(16),
                        connect.negotiated_timeout_ms,
                        connect.client_address,
                        connect,
                    )
                    self.sessions[session] = info
                elif info is None:
                    # A re-attach of a session created before the history began.
                    info = SessionInfo(
                        session,
                        connect.password or bytes(16),
                        connect.negotiated_timeout_ms,
                        connect.client_address,
                        None,
                    )
                    self.sessions[session] = info
                info.conns.append(connect.conn)
                self.connections[connect.conn] = Connection(
                    connect.conn,
                    session,
                    connect.client,
                    connect.server,
                    connect.client_address,
                    connect,
                )
            elif connect.outcome == "expired" and connect.complete_ns is not None:
                info = self.sessions.get(connect.requested_session_id)
                if info is not None and (
                    info.expired_ns is None or connect.complete_ns < info.expired_ns
                ):
                    info.expired_ns = connect.complete_ns
                    info.expired_conn = connect.conn
        for event in self.history.sessions:
            info = self.sessions.get(event.session_id)
            if (
                event.kind == "expired"
                and info is not None
                and (info.expired_ns is None or event.time_ns < info.expired_ns)
            ):
                info.expired_ns = event.time_ns
                info.expired_conn = event.conn

    def _connection_for(self, conn: int, session: int, client: str) -> Connection:
        found = self.connections.get(conn)
        if found is None:
            found = Connection(conn, session, client, "?", "127.0.0.1", None)
            self.connections[conn] = found
        return found

    def _index_ops(self) -> None:
        for op in self.ops:
            conn = self._connection_for(op.conn, op.session, op.event.client)
            if conn.server == "?":
                conn.server = op.event.server
            conn.ops.append(op)
            info = self.sessions.get(op.session)
            if info is None:
                info = SessionInfo(op.session, bytes(16), 0, conn.client_address, None)
                self.sessions[op.session] = info
            if op.conn not in info.conns:
                info.conns.append(op.conn)
            info.ops.append(op)
            closes = isinstance(op.op, rq.CloseSession) and op.outcome == "ok"
            if closes and (info.closed_by is None or op.zxid < info.closed_by.zxid):
                info.closed_by = op

    def _derive_auth(self, conn: Connection) -> None:
        """The auth ids each request on ``conn`` was judged with, by the spec's addAuth.

        A server adds an identity when the auth packet arrives, outside the request pipeline:
        requests sent after it are judged with it; a request sent before it but answered
        after it may have been judged with or without it (``auth_alternative``).
        """
        ids: tuple[Id, ...] = (Id("ip", conn.client_address),)
        granted: list[tuple[Op, tuple[Id, ...]]] = []  # accepted addAuths, in send order
        for op in conn.ops:
            if isinstance(op.op, rq.AddAuth):
                reply, after = _add_auth(self.config, conn.client_address, ids, op.op)
                op.auth_reply = reply
                if op.outcome != "unknown" and reply is not None and reply.err == Code.OK:
                    ids = after
                    granted.append((op, ids))
                op.auth_after = ids
        base: tuple[Id, ...] = (Id("ip", conn.client_address),)
        for op in conn.ops:
            sent = answered = base
            for auth, after in granted:
                if auth.invoke < op.invoke or (auth.invoke == op.invoke and auth.id < op.id):
                    sent = answered = after
                elif (
                    auth.event.recv is not None
                    and op.event.recv is not None
                    and auth.event.recv < op.event.recv
                ):
                    answered = after
            if not isinstance(op.op, rq.AddAuth):
                op.auth_ids = sent
                op.auth_alternative = answered if answered != sent else None

    # --- queries -------------------------------------------------------------------------

    def max_write_completed_before(self, time_ns: int) -> Op | None:
        """The write with the largest zxid among those whose reply arrived before ``time_ns``."""
        return self._completed.best_before(time_ns)

    def relative_ms(self, time_ns: int | None) -> str:
        if time_ns is None:
            return "-"
        return f"{(time_ns - self.start_ns) / 1e6:.3f} ms"


class _CompletedWrites:
    """Prefix maxima of write zxids by completion time, for 'what had completed by then'."""

    def __init__(self, writes: list[Op]) -> None:
        done = sorted((w for w in writes if w.complete is not None), key=lambda w: w.complete or 0)
        self.times = [w.complete or 0 for w in done]
        self.best: list[Op] = []
        for write in done:
            if not self.best or write.zxid > self.best[-1].zxid:
                self.best.append(write)
            else:
                self.best.append(self.best[-1])

    def best_before(self, time_ns: int) -> Op | None:
        index = bisect_right(self.times, time_ns - 1)
        return self.best[index - 1] if index > 0 else None


def _classify(event: OpEvent) -> Op:
    is_write = isinstance(event.op, WRITE_OPS)
    reply = event.reply
    if reply is None:
        positioned = False
    elif is_write:
        positioned = reply.zxid > 0
    else:
        positioned = reply.zxid >= 0 and not isinstance(event.op, rq.AddAuth)
    return Op(event, is_write, positioned)


def _derive_seen(ops: list[Op]) -> None:
    """For each op of one session: the newest positioned reply that had arrived before it."""
    done = sorted(
        (o for o in ops if o.positioned and o.complete is not None), key=lambda o: o.complete or 0
    )
    best: Op | None = None
    cursor = 0
    for op in ops:  # in invoke order
        while cursor < len(done) and (done[cursor].complete or 0) < op.invoke:
            candidate = done[cursor]
            if best is None or candidate.zxid > best.zxid:
                best = candidate
            cursor += 1
        op.seen = best.zxid if best is not None else 0
        op.seen_by = best


def _derive_conn_floor(ops: list[Op]) -> None:
    floor = 0
    for op in ops:  # in the order they were sent
        op.conn_floor = floor
        if op.positioned:
            floor = max(floor, op.zxid)


def _add_auth(
    config: Config, address: str, ids: tuple[Id, ...], op: rq.AddAuth
) -> tuple[rq.Reply | None, tuple[Id, ...]]:
    """The spec's answer to an addAuth on a connection holding ``ids``, and the ids after."""
    state = initial_state(config)
    session = Session(1, bytes(16), 10_000, 1 << 62, True, ids, address)
    state.sessions[1] = session
    try:
        after, outcome = step(state, rq.Call(1, op))
    except InputError:
        return None, ids
    new = after.sessions.get(1)
    return outcome.reply, (new.auth_ids if new is not None else ids)
