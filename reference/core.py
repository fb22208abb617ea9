"""The standalone server core: frames in, frames out, with no I/O, clock or threads.

``ZooKeeperCore`` is one Apache ZooKeeper standalone server as a state machine. The server
shell (``server/``) feeds it each complete frame a connection receives (``receive``), tells it
when a connection closes (``connection_lost``) and when time passes (``tick``), and drains
``outbox`` (frames to write, connections to close) and ``log`` (transactions to make durable).

Every output carries a *watermark* zxid: it may reach the client only once every transaction
up to that zxid is durable. Writes are applied to the tree at once — later requests see
them — but nobody hears of them before they are on disk; replies on one connection never
overtake each other because watermarks only grow. This gives ZooKeeper's guarantees with
one applier and group commit in the shell.

Semantics are ``spec/``'s, rule for rule; a differential test holds the two together.

Odd frames (what the wire allows and no client library sends) are answered where and as
Apache ZooKeeper 3.8's server answers them, since the spec models only what clients send
(``spec.requests``). The codec decodes every record as Apache's jute does, nulls included
(``reference.jute.primitives``); then:

* a frame too short for its header, or an auth or sasl packet whose body does not decode,
  closes the connection without a reply (``ZooKeeperServer.processPacket`` reads those);
  any other body that does not decode is MARSHALLINGERROR, with a zxid used for the writes
  ``PrepRequestProcessor`` reads after taking one (``_undecodable``);
* a null met where Apache's code dereferences it is MARSHALLINGERROR (a NullPointerException
  caught as any exception): null paths in reads, create and delete; where ``PathUtils``
  checks it, BADARGUMENTS (setData, setACL, check); null ACL fields follow ``spec.acl``;
  sync echoes a null path and getEphemerals takes it as "all"; a multi with a null path
  fails before it has a txn (``_burn``); multiRead and setWatches stop at the first null and
  send what they had built or fired before it;
* 3.8's watch manager cannot hold the null path: ``watch_null_path``;
* pings are answered with xid -2, SASL tokens as a server without SASL, deleteContainer
  with BADARGUMENTS, opcodes Apache does not serve with UNIMPLEMENTED and a close.

The raw-frame fuzzer (``tests/differential/test_frames_against_apache.py``) sends the same
mutated frames to Apache ZooKeeper 3.8 and to this core; ``spec/DIVERGENCES.md`` lists the
differences kept.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from reference.datatree import ApplyResult, DataNode, DataTree, Event
from reference.jute import (
    AddWatchRequest,
    AuthPacket,
    CheckWatchesRequest,
    ClientInfo,
    ConnectResponse,
    Create2Response,
    CreateResponse,
    ErrorResponse,
    ExistsRequest,
    ExistsResponse,
    GetACLRequest,
    GetACLResponse,
    GetAllChildrenNumberRequest,
    GetAllChildrenNumberResponse,
    GetChildren2Request,
    GetChildrenRequest,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    GetEphemeralsRequest,
    GetEphemeralsResponse,
    GetSASLRequest,
    JuteError,
    MultiRequest,
    MultiResponse,
    MultiResult,
    RemoveWatchesRequest,
    ReplyHeader,
    Request,
    SetACLResponse,
    SetDataResponse,
    SetSASLResponse,
    SetWatches,
    SetWatches2,
    SyncRequest,
    SyncResponse,
    WatcherEvent,
    WhoAmIResponse,
    decode_connect_request,
    decode_request,
    encode_connect_response,
    encode_reply,
)
from reference.jute.messages import ReplyRecord
from reference.jute.primitives import STAT, write_stat
from reference.persistence import (
    SessionImage,
    Snapshot,
    SnapshotWriter,
    decode_snapshot,
    decode_txn,
    encode_snapshot,
)
from reference.prep import Caller, Preparer
from reference.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    ErrorTxn,
    Txn,
    TxnBody,
    TxnHeader,
)
from reference.watchmanager import PERSISTENT, PERSISTENT_RECURSIVE, STANDARD
from spec.acl import (
    ADMIN,
    READ,
    Id,
    acl_permits,
    generate_digest,
    held_id_order,
    redact_acl,
)
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.events import EventType, KeeperState, WatcherType
from spec.opcodes import OpCode, Xid
from spec.paths import read_lookup_key
from spec.sessions import initial_session_id, password_for, signed64
from spec.state import Config

_WRITE_OPCODES = frozenset(
    {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
        OpCode.delete,
        OpCode.setData,
        OpCode.setACL,
    }
)
# Writes whose body Apache reads in PrepRequestProcessor after it has taken a zxid for them:
# a body that does not decode is an error txn (MARSHALLINGERROR that uses the zxid).
_BODY_READ_WITH_ZXID = _WRITE_OPCODES | {OpCode.multi}
# Packets ZooKeeperServer.processPacket reads itself: a body that does not decode closes
# the connection without a reply.
_BODY_READ_BY_CONNECTION = frozenset({OpCode.auth, OpCode.sasl})
# Which watch table a removeWatches/checkWatches type names, in the order 3.8 tries them.
_CHILD_TABLE, _DATA_TABLE = "child", "data"
_WATCHER_TYPE_TABLES_38 = {
    WatcherType.Children: (_CHILD_TABLE,),
    WatcherType.Data: (_DATA_TABLE,),
    WatcherType.Any: (_CHILD_TABLE, _DATA_TABLE),
}
_ZERO_PASSWORD = bytes(16)
# The getData fast path: request header + path length; reply length, header, data length
# (the Stat is packed with reference.jute's own STAT).
_GET_DATA_OPCODE = struct.pack(">i", OpCode.getData)
_EXISTS_OPCODE = struct.pack(">i", OpCode.exists)
_XID_OPCODE_LENGTH = struct.Struct(">iii")
_FRAME_HEAD = struct.Struct(">iiqii")  # length, xid, zxid, err, data length
_EXISTS_HEAD = struct.Struct(">iiqi")  # length, xid, zxid, err
_JAVA_BLANKS = "".join(chr(c) for c in range(0x21))  # what String.trim() strips


@dataclass(slots=True)
class Output:
    """Write ``data`` to the connection (or close it, when ``close``) once ``zxid`` is durable."""

    conn_id: int
    data: bytes | None
    close: bool
    zxid: int


class Connection:
    """A client connection: its address, its session once handshaken, and its auth ids.

    ``null_path_listed`` and ``null_path_keyed`` are 3.8's watches on the null path, per
    watch table (``_CHILD_TABLE``, ``_DATA_TABLE``; see ``ZooKeeperCore.watch_null_path``):
    whether the table lists the null path for this connection, and whether its mode map
    holds a (connection, null) key, which no removal ever takes out.
    """

    __slots__ = (
        "address",
        "auth_ids",
        "conn_id",
        "handshaken",
        "null_path_keyed",
        "null_path_listed",
        "session_id",
    )

    def __init__(self, conn_id: int, address: str) -> None:
        self.conn_id = conn_id
        self.address = address
        self.session_id = 0
        self.handshaken = False
        self.auth_ids: list[Id] = [Id("ip", address)]
        self.null_path_listed: set[str] = set()
        self.null_path_keyed: set[str] = set()


class Session:
    """A live session: password, negotiated timeout, deadline, and its connection (if any)."""

    __slots__ = ("conn_id", "expires_at", "password", "session_id", "timeout_ms")

    def __init__(self, session_id: int, timeout_ms: int, expires_at: int) -> None:
        self.session_id = session_id
        self.password = password_for(session_id)
        self.timeout_ms = timeout_ms
        self.expires_at = expires_at
        self.conn_id: int | None = None


class ZooKeeperCore:
    """One standalone ZooKeeper server, sans I/O (see the module docstring)."""

    def __init__(self, config: Config, now_ms: int, epoch: int = 0) -> None:
        self.config = config
        self.profile = config.profile
        self.tree = DataTree(keep_all_watch_modes=config.profile.watch_mode_set)
        self.tree.last_processed_zxid = epoch << 32
        self.preparer = Preparer(self.tree, config.profile, config.extended_types_enabled)
        self.now = now_ms
        self.connections: dict[int, Connection] = {}
        self.sessions: dict[int, Session] = {}
        self._buckets: dict[int, set[int]] = {}
        self.next_session_id = signed64(initial_session_id(config.server_id, now_ms))
        self.next_container_check = now_ms + config.container_check_interval_ms
        self.outbox: list[Output] = []
        self.log: list[Txn] = []
        self._burned: list[tuple[int, int]] = []  # (session id, xid) of each burned zxid

    # --- persistence ---------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The tree and session table as a sealed blob (``reference.persistence``)."""
        return encode_snapshot(self.tree, self._session_images(), self.next_session_id)

    def snapshot_writer(self) -> SnapshotWriter:
        """Start the same snapshot, to be written in slices while requests go on
        (``SnapshotWriter``: ``step`` until it returns True, then ``finish``)."""
        return SnapshotWriter(self.tree, self._session_images(), self.next_session_id)

    def _session_images(self) -> list[SessionImage]:
        return [SessionImage(s.session_id, s.timeout_ms) for s in self.sessions.values()]

    @classmethod
    def restore(
        cls,
        config: Config,
        now_ms: int,
        snapshot: bytes | Snapshot | None,
        txns: Iterable[bytes],
    ) -> ZooKeeperCore:
        """Rebuild a server from a snapshot and the log after it (``FileTxnSnapLog.restore``).

        Txns at or below the snapshot's zxid are skipped; the rest must follow each other
        without a gap. Sessions come back with fresh deadlines (``now + timeout``): a client
        that reconnects in time keeps its session and ephemerals, others expire.
        Raises ``CorruptRecord`` for a blob that does not check out.
        """
        core = cls(config, now_ms)
        if snapshot is not None:
            image = (
                snapshot
                if isinstance(snapshot, Snapshot)
                else decode_snapshot(snapshot, config.profile.watch_mode_set)
            )
            core.tree = image.tree
            core.preparer.tree = image.tree
            for session in image.sessions:
                core.sessions[session.session_id] = Session(
                    session.session_id, session.timeout_ms, 0
                )
            core.next_session_id = max(core.next_session_id, image.next_session_id)
        for blob in txns:
            txn = decode_txn(blob)
            if txn.header.zxid <= core.last_zxid:
                continue
            core._replay(txn)
        for live in core.sessions.values():
            live.expires_at = 0
            core._touch(live)
        if core.sessions:
            core.next_session_id = max(core.next_session_id, max(core.sessions) + 1)
        core.log.clear()
        return core

    def _replay(self, txn: Txn) -> None:
        body = txn.body
        if isinstance(body, CreateSessionTxn):
            session_id = txn.header.session_id
            self.sessions[session_id] = Session(session_id, body.timeout_ms, 0)
        self.tree.apply(txn, [])
        if isinstance(body, CloseSessionTxn):
            self.sessions.pop(txn.header.session_id, None)

    # --- zxids ---------------------------------------------------------------------------

    @property
    def last_zxid(self) -> int:
        return self.tree.last_processed_zxid

    def _next_zxid(self) -> int:
        """The zxid of the next txn, after any zxid handed out without a txn (``_burn``)."""
        while self._burned:
            session_id, xid = self._burned.pop(0)
            zxid = self._following_zxid()
            header = TxnHeader(session_id, xid, zxid, self.now, OpCode.error)
            self._apply(Txn(header, ErrorTxn(Code.MARSHALLINGERROR)), [])
        return self._following_zxid()

    def _following_zxid(self) -> int:
        zxid = self.tree.last_processed_zxid
        return ((zxid >> 32) << 32) | ((zxid + 1) & 0xFFFFFFFF)

    def _burn(self, session_id: int, xid: int) -> None:
        """Use up a zxid without a txn, as Apache does when a request fails after
        ``getNextZxid`` and before it has a txn header.

        The zxid is not visible until the next write, whose zxid skips it. zkref's log has no
        gaps, so the burned zxid is logged (an error txn) just before that next write: the
        client sees the same zxids, and a restart forgets a burned zxid no write followed,
        as Apache's does (its next zxid is the last logged one's successor).
        """
        self._burned.append((session_id, xid))

    # --- output --------------------------------------------------------------------------

    def _send(self, conn_id: int, data: bytes, zxid: int) -> None:
        self.outbox.append(Output(conn_id, data, False, zxid))

    def _reply(
        self,
        conn_id: int,
        xid: int,
        zxid: int,
        err: int,
        record: ReplyRecord | None = None,
        body_with_error: bool = False,
    ) -> None:
        """Send a reply; a body goes with a non-zero ``err`` only if ``body_with_error``
        (Apache sends the multi response it had built when a multi or multiRead failed)."""
        body = record if err == 0 or body_with_error else None
        frame = encode_reply(ReplyHeader(xid, zxid, err), body)
        # The watermark is everything applied so far, not the header's zxid (which is -1 or
        # 0 for some replies): watermarks must only grow along a connection.
        self._send(conn_id, frame, self.last_zxid)

    def _close(self, conn_id: int) -> None:
        """Close a connection after what was queued for it; forget its watches."""
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self.tree.remove_connection(conn_id)
        session = self.sessions.get(conn.session_id)
        if session is not None and session.conn_id == conn_id:
            session.conn_id = None
        self.outbox.append(Output(conn_id, None, True, self.last_zxid))

    def drain(self) -> list[Output]:
        out, self.outbox = self.outbox, []
        return out

    def take_log(self) -> list[Txn]:
        out, self.log = self.log, []
        return out

    # --- connections ---------------------------------------------------------------------

    def connection_made(self, conn_id: int, address: str) -> None:
        self.connections[conn_id] = Connection(conn_id, address)

    def connection_lost(self, conn_id: int) -> None:
        """The client or the network closed the connection; the session lives on."""
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self.tree.remove_connection(conn_id)
        session = self.sessions.get(conn.session_id)
        if session is not None and session.conn_id == conn_id:
            session.conn_id = None

    def receive(self, conn_id: int, payload: bytes, now_ms: int) -> None:
        """Handle one complete frame received on ``conn_id``."""
        self.now = max(self.now, now_ms)
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        if not conn.handshaken:
            self._handshake(conn, payload)
            return
        session = self.sessions.get(conn.session_id)
        if session is None:
            self._close(conn_id)
            return
        self._touch(session)
        opcode = payload[4:8]
        if opcode in (_GET_DATA_OPCODE, _EXISTS_OPCODE) and self._read_fast(
            conn, payload, opcode == _GET_DATA_OPCODE
        ):
            return
        try:
            request = decode_request(payload)
        except JuteError as error:
            self._undecodable(conn, session, error)
            return
        if not isinstance(request, Request):
            if request.header.type == OpCode.deleteContainer:
                # Apache reads the whole frame as the path: the header's zero bytes are NULs.
                zxid = self._log_error(session.session_id, request.header.xid, Code.BADARGUMENTS)
                self._reply(conn_id, request.header.xid, zxid, Code.BADARGUMENTS)
                return
            self._unimplemented(conn_id, request.header.xid)
            return
        self._dispatch(conn, session, request)

    def _undecodable(self, conn: Connection, session: Session, error: JuteError) -> None:
        """A frame whose body does not decode, handled where Apache reads that body.

        No whole header, or an auth or sasl packet (``ZooKeeperServer.processPacket`` reads
        those itself): the connection is closed without a reply. A write that
        ``PrepRequestProcessor`` reads after taking a zxid: MARSHALLINGERROR, and the zxid is
        used (an error txn). Anything else (reads, watch requests, reconfig, multiRead, read
        in ``FinalRequestProcessor``): MARSHALLINGERROR with the last zxid.
        """
        header = error.request_header
        if header is None or header.type in _BODY_READ_BY_CONNECTION:
            self._close(conn.conn_id)
            return
        if header.type == OpCode.check:
            self._unimplemented(conn.conn_id, header.xid)  # whatever the body (DIVERGENCES 1)
            return
        zxid = self.last_zxid
        if header.type in _BODY_READ_WITH_ZXID:
            zxid = self._log_error(session.session_id, header.xid, Code.MARSHALLINGERROR)
        self._reply(conn.conn_id, header.xid, zxid, Code.MARSHALLINGERROR)

    def _read_fast(self, conn: Connection, payload: bytes, get_data: bool) -> bool:
        """getData or exists of a readable znode, parsed and answered with precompiled
        structs.

        The hot read path: the same reply bytes as the general path (the differential test
        holds them equal), without a record per request. Anything unusual (a malformed or
        null path, a missing node, no READ) returns False and takes the general path.
        """
        if len(payload) < 13:
            return False
        xid, _, length = _XID_OPCODE_LENGTH.unpack_from(payload, 0)
        end = 12 + length
        if length < 0 or end >= len(payload):
            return False
        try:
            path = payload[12:end].decode("utf-8")
        except UnicodeDecodeError:
            return False
        node = self.tree.nodes.get(path or "/")
        if node is None or not acl_permits(node.acl, READ, conn.auth_ids, self.profile.ipv6_acl):
            return False
        if payload[end]:
            self.tree.add_data_watch(path, conn.conn_id)
        data = node.data
        data_length = -1 if data is None else len(data)
        zxid = self.tree.last_processed_zxid
        stat = STAT.pack(*node.stat_values())
        if get_data:
            frame = b"".join(
                (
                    _FRAME_HEAD.pack(20 + max(data_length, 0) + 68, xid, zxid, 0, data_length),
                    data or b"",
                    stat,
                )
            )
        else:
            frame = _EXISTS_HEAD.pack(16 + 68, xid, zxid, 0) + stat
        self.outbox.append(Output(conn.conn_id, frame, False, zxid))
        return True

    # --- sessions ------------------------------------------------------------------------

    def _deadline(self, timeout_ms: int) -> int:
        tick = self.config.tick_time_ms
        return ((self.now + timeout_ms) // tick + 1) * tick

    def _touch(self, session: Session) -> None:
        deadline = self._deadline(session.timeout_ms)
        if deadline == session.expires_at:
            return
        bucket = self._buckets.get(session.expires_at)
        if bucket is not None:
            bucket.discard(session.session_id)
            if not bucket:
                del self._buckets[session.expires_at]
        session.expires_at = deadline
        self._buckets.setdefault(deadline, set()).add(session.session_id)

    def _forget_session(self, session: Session) -> None:
        bucket = self._buckets.get(session.expires_at)
        if bucket is not None:
            bucket.discard(session.session_id)
            if not bucket:
                del self._buckets[session.expires_at]
        self.sessions.pop(session.session_id, None)

    def _handshake(self, conn: Connection, payload: bytes) -> None:
        try:
            request = decode_connect_request(payload)
        except JuteError:
            self._close(conn.conn_id)
            return
        if request.lastZxidSeen > self.last_zxid:
            # The client has seen a newer state than ours: it must try another server.
            self._close(conn.conn_id)
            return
        timeout = min(max(request.timeOut, self.config.min_timeout), self.config.max_timeout)
        read_only = None if request.readOnly is None else False
        if request.sessionId == 0:
            session_id = self.next_session_id
            self.next_session_id += 1
            self._apply(
                Txn(
                    TxnHeader(session_id, 0, self._next_zxid(), self.now, OpCode.createSession),
                    CreateSessionTxn(timeout),
                ),
                [],
            )
            session = Session(session_id, timeout, 0)
            self.sessions[session_id] = session
            self._touch(session)
            self._attach(conn, session)
            response = ConnectResponse(0, timeout, session_id, session.password, read_only)
            self._send(conn.conn_id, encode_connect_response(response), self.last_zxid)
            return
        existing = self.sessions.get(request.sessionId)
        if existing is not None and existing.conn_id is not None:
            self._close(existing.conn_id)
        if existing is None or request.passwd != existing.password:
            refused = ConnectResponse(0, 0, 0, _ZERO_PASSWORD, read_only)
            self._send(conn.conn_id, encode_connect_response(refused), self.last_zxid)
            self._close(conn.conn_id)
            return
        existing.timeout_ms = timeout
        self._touch(existing)
        self._attach(conn, existing)
        response = ConnectResponse(0, timeout, existing.session_id, existing.password, read_only)
        self._send(conn.conn_id, encode_connect_response(response), self.last_zxid)

    def _attach(self, conn: Connection, session: Session) -> None:
        conn.handshaken = True
        conn.session_id = session.session_id
        session.conn_id = conn.conn_id

    # --- applying ------------------------------------------------------------------------

    def _apply(self, txn: Txn, events: list[Event]) -> tuple[ApplyResult, int]:
        """Apply and log a txn; returns its result and zxid."""
        result = self.tree.apply(txn, events)
        self.log.append(txn)
        return result, txn.header.zxid

    def _log_error(self, session_id: int, xid: int, err: int) -> int:
        txn = Txn(
            TxnHeader(session_id, xid, self._next_zxid(), self.now, OpCode.error), ErrorTxn(err)
        )
        return self._apply(txn, [])[1]

    def _deliver(self, events: list[Event], zxid: int) -> None:
        """Send each event to the connections that fired and may READ the node."""
        wire_zxid = zxid if self.profile.notification_zxid else -1
        ipv6 = self.profile.ipv6_acl
        for conn_ids, event_type, path, acl in events:
            frame: bytes | None = None
            for conn_id in sorted(conn_ids):
                conn = self.connections.get(conn_id)
                if conn is None or not acl_permits(acl, READ, conn.auth_ids, ipv6):
                    continue
                if frame is None:
                    event = WatcherEvent(event_type, KeeperState.SyncConnected, path)
                    frame = encode_reply(ReplyHeader(Xid.NOTIFICATION, wire_zxid, 0), event)
                self._send(conn_id, frame, self.last_zxid)

    def _write(
        self, conn: Connection, session: Session, xid: int, opcode: int, body: TxnBody
    ) -> None:
        zxid = self._next_zxid()
        txn_type = OpCode.error if isinstance(body, ErrorTxn) else opcode
        events: list[Event] = []
        result, _ = self._apply(
            Txn(TxnHeader(session.session_id, xid, zxid, self.now, txn_type), body), events
        )
        self._deliver(events, zxid)
        if isinstance(body, ErrorTxn):
            self._reply(conn.conn_id, xid, zxid, body.err)
            return
        self._reply(conn.conn_id, xid, zxid, 0, _write_reply(opcode, result))

    # --- dispatch ------------------------------------------------------------------------

    def _unimplemented(self, conn_id: int, xid: int) -> None:
        self._reply(conn_id, xid, -1, Code.UNIMPLEMENTED)
        self._close(conn_id)

    def _dispatch(self, conn: Connection, session: Session, request: Request) -> None:
        xid, opcode = request.header.xid, request.header.type
        record = request.record
        caller = Caller(session.session_id, conn.auth_ids)
        if opcode in _WRITE_OPCODES:
            body: TxnBody = self.preparer.prepare_one(opcode, record, caller)
            self._write(conn, session, xid, opcode, body)
        elif opcode == OpCode.multi:
            assert isinstance(record, MultiRequest)
            if any(op.request.path is None for op in record.ops):
                # PrepRequestProcessor takes a zxid, then getPendingChanges fails on the null
                # path before the multi has a txn header; FinalRequestProcessor then fails on
                # the missing results after it has started the (empty) response.
                self._burn(session.session_id, xid)
                self._reply(
                    conn.conn_id,
                    xid,
                    self.last_zxid,
                    Code.MARSHALLINGERROR,
                    MultiResponse(()),
                    body_with_error=True,
                )
                return
            self._write(conn, session, xid, opcode, self.preparer.prepare_multi(record, caller))
        elif opcode == OpCode.ping:
            # FinalRequestProcessor answers every ping with the ping xid.
            self._reply(conn.conn_id, Xid.PING, self.last_zxid, 0)
        elif opcode == OpCode.closeSession:
            self._close_session(session, xid)
        elif opcode == OpCode.auth:
            assert isinstance(record, AuthPacket)
            self._add_auth(conn, xid, record)
        elif opcode == OpCode.sasl:
            assert isinstance(record, GetSASLRequest)
            if record.token is None:
                self._close(conn.conn_id)  # processSasl: clientToken.length
                return
            # No SASL server: processSasl answers OK with no token and keeps the connection.
            self._reply(conn.conn_id, xid, 0, 0, SetSASLResponse(None))
        elif opcode == OpCode.reconfig:
            err = Code.UNIMPLEMENTED if self.config.reconfig_enabled else Code.RECONFIGDISABLED
            zxid = self._log_error(session.session_id, xid, err)
            self._reply(conn.conn_id, xid, zxid, err)
        elif opcode in _READ_HANDLERS:
            try:
                response = _READ_HANDLERS[opcode](self, conn, record)
            except _FailedWithBody as failure:
                self._reply(conn.conn_id, xid, self.last_zxid, failure.code, failure.body, True)
                return
            except ZooKeeperError as error:
                self._reply(conn.conn_id, xid, self.last_zxid, error.code)
                return
            self._reply(conn.conn_id, xid, self.last_zxid, 0, response)
        else:
            # check outside multi (ZOOKEEPER-2623), and anything unknown
            self._unimplemented(conn.conn_id, xid)

    def _close_session(self, session: Session, xid: int) -> None:
        conn_id = session.conn_id
        zxid = self._expire(session)
        if conn_id is not None:
            self._reply(conn_id, xid, zxid, 0)
            self._close(conn_id)

    def _expire(self, session: Session) -> int:
        """Log and apply a closeSession txn: the session's ephemerals go, then the session."""
        paths = tuple(self.tree.ephemerals_of(session.session_id))
        zxid = self._next_zxid()
        events: list[Event] = []
        self._apply(
            Txn(
                TxnHeader(session.session_id, 0, zxid, self.now, OpCode.closeSession),
                CloseSessionTxn(paths),
            ),
            events,
        )
        self._deliver(events, zxid)
        self._forget_session(session)
        return zxid

    def _add_auth(self, conn: Connection, xid: int, packet: AuthPacket) -> None:
        new_ids: list[Id] = []
        if packet.scheme == "digest" and packet.auth is not None:
            digest = generate_digest(packet.auth.decode("utf-8", "replace"))
            if self.config.super_digest is not None and digest == self.config.super_digest:
                new_ids.append(Id("super", ""))
            new_ids.append(Id("digest", digest))
        elif packet.scheme == "ip":
            new_ids.append(Id("ip", conn.address))
        else:
            self._reply(conn.conn_id, xid, 0, Code.AUTHFAILED)
            self._close(conn.conn_id)
            return
        for ident in new_ids:
            if ident not in conn.auth_ids:
                conn.auth_ids.append(ident)
        self._reply(conn.conn_id, xid, 0, 0)

    # --- time ----------------------------------------------------------------------------

    def next_deadline(self) -> int:
        """The next time ``tick`` has work: a session deadline or a container check."""
        deadlines = [self.next_container_check]
        if self._buckets:
            deadlines.append(min(self._buckets))
        return min(deadlines)

    def tick(self, now_ms: int) -> None:
        """Move the clock to ``now_ms``: expire sessions and reap containers that are due."""
        while True:
            next_expiry = min(self._buckets) if self._buckets else None
            due_expiry = next_expiry is not None and next_expiry <= now_ms
            due_check = self.next_container_check <= now_ms
            if not due_expiry and not due_check:
                break
            if (
                next_expiry is not None
                and due_expiry
                and (not due_check or next_expiry <= self.next_container_check)
            ):
                self.now = max(self.now, next_expiry)
                for session_id in sorted(self._buckets.pop(next_expiry)):
                    session = self.sessions[session_id]
                    conn_id = session.conn_id
                    self._expire(session)
                    if conn_id is not None:
                        self._close(conn_id)
                continue
            interval = self.config.container_check_interval_ms
            if not self.tree.containers and not self.tree.ttls:
                # Nothing to reap, and a tick creates no containers: skip the idle checks.
                skipped = (now_ms - self.next_container_check) // interval + 1
                self.next_container_check += interval * skipped
                continue
            self.now = max(self.now, self.next_container_check)
            self._reap()
            self.next_container_check += self.config.container_check_interval_ms
        self.now = max(self.now, now_ms)

    def _reap(self) -> None:
        never_used_max = self.config.container_max_never_used_interval_ms
        candidates: list[str] = []
        for path in self.tree.containers:
            node = self.tree.nodes[path]
            if node.children:
                continue
            if node.cversion > 0 or (never_used_max and self.now - node.mtime > never_used_max):
                candidates.append(path)
        for path in self.tree.ttls:
            node = self.tree.nodes[path]
            if not node.children and node.ttl and self.now - node.mtime > node.ttl:
                candidates.append(path)
        for path in sorted(candidates):
            body = self.preparer.prepare_delete_container(path)
            zxid = self._next_zxid()
            txn_type = OpCode.error if isinstance(body, ErrorTxn) else OpCode.deleteContainer
            events: list[Event] = []
            self._apply(Txn(TxnHeader(0, 0, zxid, self.now, txn_type), body), events)
            self._deliver(events, zxid)

    # --- reads ---------------------------------------------------------------------------

    def add_recursive_watch(self, path: str | None, conn_id: int) -> None:
        """The data table; in 3.8 the child table too (``spec.profiles``)."""
        self.tree.data_watches.add(path, conn_id, PERSISTENT_RECURSIVE)
        if not self.profile.watch_mode_set:
            self.tree.child_watches.add(path, conn_id, PERSISTENT_RECURSIVE)

    def watch_null_path(self, conn: Connection, tables: tuple[str, ...]) -> None:
        """3.8: a persistent or recursive watch on the null path, table by table, in order.

        3.8's ``WatchManager.addWatch`` lists the path for the connection, then keeps the
        watch's mode in a map under ``Key(connection, path)``, whose ``equals`` calls
        ``path.equals`` on the key looked up. With a null path that is a NullPointerException
        (MARSHALLINGERROR) as soon as the map holds another key of the same connection and
        hash: its own null key, or a key of a path whose ``hashCode`` is 0 (``_collides``).
        Such a watch never fires (no znode has a null path), so only this matters.
        """
        for table in tables:
            conn.null_path_listed.add(table)
            if self._collides(conn, table):
                raise MalformedRequest("the null path's watch mode key collides")
            conn.null_path_keyed.add(table)

    def unwatch_null_path(self, conn: Connection, tables: tuple[str, ...]) -> bool:
        """3.8: removeWatches of the null path (see ``watch_null_path``): a table that does
        not list it answers false; one that does unlists it, then looks its key up."""
        removed = False
        for table in tables:
            if table not in conn.null_path_listed:
                continue
            conn.null_path_listed.discard(table)
            if self._collides(conn, table):
                raise MalformedRequest("the null path's watch mode key collides")
            removed = True
        return removed

    def _collides(self, conn: Connection, table: str) -> bool:
        if table in conn.null_path_keyed:
            return True
        manager = self.tree.child_watches if table == _CHILD_TABLE else self.tree.data_watches
        return manager.keeps_mode_of_zero_hash_path(conn.conn_id)

    def _readable(self, conn: Connection, path: str | None, perm: int = READ) -> DataNode:
        if path is None:
            raise ZooKeeperError(Code.MARSHALLINGERROR, "null path")
        node = self.tree.get(path)
        if node is None:
            raise ZooKeeperError(Code.NONODE, path)
        if not acl_permits(node.acl, perm, conn.auth_ids, self.profile.ipv6_acl):
            raise ZooKeeperError(Code.NOAUTH, path)
        return node


def _exists(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, ExistsRequest)
    path = record.path
    if path is None:
        raise ZooKeeperError(Code.MARSHALLINGERROR, "null path")
    if "\0" in path:
        raise ZooKeeperError(Code.BADARGUMENTS, path)
    node = core.tree.get(path)
    readable = node is None or acl_permits(node.acl, READ, conn.auth_ids, core.profile.ipv6_acl)
    if core.profile.exists_checks_read and not readable:
        raise ZooKeeperError(Code.NOAUTH, path)
    if record.watch:
        core.tree.add_data_watch(path, conn.conn_id)
    if node is None:
        raise ZooKeeperError(Code.NONODE, path)
    return ExistsResponse(node.stat())


def _get_data(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetDataRequest)
    node = core._readable(conn, record.path)
    if record.watch:
        assert record.path is not None
        core.tree.add_data_watch(record.path, conn.conn_id)
    return GetDataResponse(node.data, node.stat())


def _get_children(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, (GetChildrenRequest, GetChildren2Request))
    node = core._readable(conn, record.path)
    if record.watch:
        assert record.path is not None
        core.tree.add_child_watch(record.path, conn.conn_id)
    body = node.encoded_children()
    if isinstance(record, GetChildren2Request):
        stat = bytearray()
        write_stat(stat, node.stat())
        body += stat
    # Same bytes as GetChildren(2)Response with sorted children, without a record per name.
    return cast(ReplyRecord, _Encoded(body))


class _Encoded:
    """A reply body already in wire form (``encode_reply`` only calls ``write``)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def write(self, out: bytearray) -> None:
        out += self.body


def _get_acl(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetACLRequest)
    node = core._readable(conn, record.path, READ | ADMIN)
    if acl_permits(node.acl, ADMIN, conn.auth_ids, core.profile.ipv6_acl):
        return GetACLResponse(node.acl, node.stat())
    return GetACLResponse(redact_acl(node.acl), node.stat())


def _get_all_children_number(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetAllChildrenNumberRequest)
    core._readable(conn, record.path)
    assert record.path is not None
    return GetAllChildrenNumberResponse(core.tree.all_children_number(record.path))


def _get_ephemerals(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, GetEphemeralsRequest)
    own = core.tree.ephemerals_of(conn.session_id)
    prefix = record.prefixPath
    if prefix is None or prefix.strip(_JAVA_BLANKS) in ("", "/"):
        return GetEphemeralsResponse(tuple(own))
    return GetEphemeralsResponse(tuple(p for p in own if p.startswith(prefix)))


def _sync(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, SyncRequest)
    return SyncResponse(record.path)


def _who_am_i(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    infos: list[ClientInfo] = []
    for held in held_id_order(conn.auth_ids):
        assert held.scheme is not None and held.id is not None, "held ids are never null"
        user = held.id.split(":", 1)[0] if held.scheme == "digest" else held.id
        infos.append(ClientInfo(held.scheme, user))
    return WhoAmIResponse(tuple(infos))


def _watcher_type(core: ZooKeeperCore, value: int) -> WatcherType:
    try:
        watcher_type = WatcherType(value)
    except ValueError:
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"watcher type {value}") from None
    persistent = (WatcherType.Persistent, WatcherType.PersistentRecursive)
    if watcher_type in persistent and not core.profile.persistent_watcher_types:
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"watcher type {value}")
    return watcher_type


# What each watcher type means in the two tables: (child-table mode, data-table mode);
# None = any mode, 0 = not that table. 3.8 keeps one mode per path: Data/Children mean any.
_WATCHER_TYPE_MODES_39: dict[WatcherType, tuple[int | None, int | None]] = {
    WatcherType.Children: (STANDARD, 0),
    WatcherType.Data: (0, STANDARD),
    WatcherType.Persistent: (PERSISTENT, PERSISTENT),
    WatcherType.PersistentRecursive: (0, PERSISTENT_RECURSIVE),
    WatcherType.Any: (None, None),
}
_WATCHER_TYPE_MODES_38: dict[WatcherType, tuple[int | None, int | None]] = {
    WatcherType.Children: (None, 0),
    WatcherType.Data: (0, None),
    WatcherType.Any: (None, None),
}


def _watch_modes(core: ZooKeeperCore, value: int) -> tuple[int | None, int | None]:
    table = _WATCHER_TYPE_MODES_39 if core.profile.watch_mode_set else _WATCHER_TYPE_MODES_38
    return table[_watcher_type(core, value)]


def _check_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    assert isinstance(record, CheckWatchesRequest)
    child_mode, data_mode = _watch_modes(core, record.type)
    path = record.path
    if core.profile.check_watches_walks_parents:
        if path is None or (path and "/" not in path):
            # PathParentIterator: path.isEmpty(), then path.substring(0, lastIndexOf('/')).
            raise MalformedRequest(f"checkWatches of {path!r}: no parent to walk to")
        if path == "":
            raise ZooKeeperError(Code.NOWATCHER, "")  # the iterator yields nothing
    found = False
    for manager, mode in (
        (core.tree.child_watches, child_mode),
        (core.tree.data_watches, data_mode),
    ):
        if mode == 0:
            continue
        held = manager.modes(path, conn.conn_id)
        if held and (mode is None or held & mode):
            found = True
    if not found:
        raise ZooKeeperError(Code.NOWATCHER, str(path))
    return None


def _remove_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    assert isinstance(record, RemoveWatchesRequest)
    child_mode, data_mode = _watch_modes(core, record.type)
    path = record.path
    if path is None and core.profile.null_path_watch_breaks_modes:
        if core.unwatch_null_path(conn, _WATCHER_TYPE_TABLES_38[WatcherType(record.type)]):
            return None
        raise ZooKeeperError(Code.NOWATCHER, "null")
    removed = False
    for manager, mode in (
        (core.tree.child_watches, child_mode),
        (core.tree.data_watches, data_mode),
    ):
        if mode != 0 and manager.remove(path, conn.conn_id, mode):
            removed = True
    if not removed:
        raise ZooKeeperError(Code.NOWATCHER, str(path))
    return None


def _add_watch(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    assert isinstance(record, AddWatchRequest)
    path = record.path
    if record.mode not in (0, 1):
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"addWatch mode {record.mode}")
    if path is None and core.profile.null_path_watch_breaks_modes:
        core.watch_null_path(conn, (_DATA_TABLE, _CHILD_TABLE))  # DataTree.addWatch's order
    elif record.mode == 0:
        core.tree.data_watches.add(path, conn.conn_id, PERSISTENT)
        core.tree.child_watches.add(path, conn.conn_id, PERSISTENT)
    else:
        core.add_recursive_watch(path, conn.conn_id)
    return ErrorResponse(0)


def _watch_list(paths: tuple[str | None, ...] | None) -> tuple[str | None, ...]:
    if paths is None:
        raise MalformedRequest("null watch list")  # for (String path : list)
    return paths


def _watched_node(tree: DataTree, path: str | None) -> DataNode | None:
    if path is None:
        raise MalformedRequest("null path in a watch list")  # DataTree.getNode(null)
    return tree.nodes.get(read_lookup_key(path))


def _set_watches(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord | None:
    """``DataTree.setWatches``: the lists in order, firing what changed since
    ``relativeZxid``; a null list or a null path in the first three lists stops it there
    (MARSHALLINGERROR), after the events fired so far are sent and the watches set stay."""
    assert isinstance(record, (SetWatches, SetWatches2))
    fire: list[tuple[EventType, str]] = []
    try:
        _arm_watches(core, conn, record, fire)
    finally:
        for event_type, path in fire:
            event = WatcherEvent(event_type, KeeperState.SyncConnected, path)
            frame = encode_reply(ReplyHeader(Xid.NOTIFICATION, -1, 0), event)
            core._send(conn.conn_id, frame, core.last_zxid)
    return None


def _arm_watches(
    core: ZooKeeperCore,
    conn: Connection,
    record: SetWatches | SetWatches2,
    fire: list[tuple[EventType, str]],
) -> None:
    tree, conn_id, relative = core.tree, conn.conn_id, record.relativeZxid
    for path in _watch_list(record.dataWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is None:
            fire.append((EventType.NodeDeleted, path))
        elif node.mzxid > relative:
            fire.append((EventType.NodeDataChanged, path))
        else:
            tree.data_watches.add(path, conn_id, STANDARD)
    for path in _watch_list(record.existWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is not None:
            fire.append((EventType.NodeCreated, path))
        else:
            tree.data_watches.add(path, conn_id, STANDARD)
    for path in _watch_list(record.childWatches):
        node = _watched_node(tree, path)
        assert path is not None
        if node is None:
            fire.append((EventType.NodeDeleted, path))
        elif node.pzxid > relative:
            fire.append((EventType.NodeChildrenChanged, path))
        else:
            tree.child_watches.add(path, conn_id, STANDARD)
    if not isinstance(record, SetWatches2):
        return
    breaks = core.profile.null_path_watch_breaks_modes
    for path in _watch_list(record.persistentWatches):
        if path is None and breaks:
            core.watch_null_path(conn, (_CHILD_TABLE, _DATA_TABLE))
            continue
        tree.child_watches.add(path, conn_id, PERSISTENT)
        tree.data_watches.add(path, conn_id, PERSISTENT)
    for path in _watch_list(record.persistentRecursiveWatches):
        if path is None and breaks:
            core.watch_null_path(conn, (_CHILD_TABLE, _DATA_TABLE))
            continue
        core.add_recursive_watch(path, conn_id)


class _FailedWithBody(ZooKeeperError):
    """A read that fails with ``code`` after building part of its reply, which is sent."""

    def __init__(self, code: Code, body: ReplyRecord) -> None:
        super().__init__(code)
        self.body = body


def _multi_read(core: ZooKeeperCore, conn: Connection, record: object) -> ReplyRecord:
    """Each read on its own; a sub-op that is no read, or a null path, stops the request:
    MARSHALLINGERROR, sent with the results built before it (``FinalRequestProcessor``)."""
    assert isinstance(record, MultiRequest)
    results: list[MultiResult] = []
    for op in record.ops:
        path = getattr(op.request, "path", None)
        if op.type not in (OpCode.getData, OpCode.getChildren) or path is None:
            raise _FailedWithBody(Code.MARSHALLINGERROR, MultiResponse(tuple(results)))
        try:
            node = core._readable(conn, path)
        except ZooKeeperError as error:
            results.append(MultiResult(OpCode.error, ErrorResponse(error.code)))
            continue
        if op.type == OpCode.getData:
            results.append(MultiResult(OpCode.getData, GetDataResponse(node.data, node.stat())))
        else:
            children = tuple(sorted(node.children))
            results.append(MultiResult(OpCode.getChildren, GetChildrenResponse(children)))
    return MultiResponse(tuple(results))


_ReadHandler = Callable[[ZooKeeperCore, Connection, object], "ReplyRecord | None"]

_READ_HANDLERS: dict[int, _ReadHandler] = {
    OpCode.exists: _exists,
    OpCode.getData: _get_data,
    OpCode.getChildren: _get_children,
    OpCode.getChildren2: _get_children,
    OpCode.getACL: _get_acl,
    OpCode.getAllChildrenNumber: _get_all_children_number,
    OpCode.getEphemerals: _get_ephemerals,
    OpCode.sync: _sync,
    OpCode.whoAmI: _who_am_i,
    OpCode.checkWatches: _check_watches,
    OpCode.removeWatches: _remove_watches,
    OpCode.addWatch: _add_watch,
    OpCode.setWatches: _set_watches,
    OpCode.setWatches2: _set_watches,
    OpCode.multiRead: _multi_read,
}


def _write_reply(opcode: int, result: ApplyResult) -> ReplyRecord | None:
    """The reply body of a successful write (or of any multi)."""
    if opcode == OpCode.multi:
        return MultiResponse(tuple(_multi_result(r) for r in result.results or ()))
    if opcode == OpCode.create:
        return CreateResponse(result.path)
    if opcode in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
        assert result.stat is not None
        return Create2Response(result.path, result.stat)
    if opcode == OpCode.setData:
        assert result.stat is not None
        return SetDataResponse(result.stat)
    if opcode == OpCode.setACL:
        assert result.stat is not None
        return SetACLResponse(result.stat)
    return None


def _multi_result(result: ApplyResult) -> MultiResult:
    opcode = result.opcode
    if opcode == OpCode.error:
        return MultiResult(OpCode.error, ErrorResponse(result.err))
    if opcode == OpCode.create:
        return MultiResult(OpCode.create, CreateResponse(result.path))
    if opcode in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
        assert result.stat is not None
        return MultiResult(OpCode.create2, Create2Response(result.path, result.stat))
    if opcode == OpCode.setData:
        assert result.stat is not None
        return MultiResult(OpCode.setData, SetDataResponse(result.stat))
    return MultiResult(opcode, None)  # delete, check
