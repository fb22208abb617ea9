"""The server core: one ZooKeeper server's client side, frames in and effects out, no I/O.

``ZooKeeperCore`` is what a client talks to: connections and their handshake, sessions, the
request pipeline, reads, watches and their delivery. The driver feeds it each complete frame
(``receive``), closed connections (``connection_lost``), time (``tick``) and durability
(``persisted``), and takes its effects as one ``reference.ready.Ready`` (``ready()``): what to
persist, what to send to other servers (after the persists), and what clients see now.

Theory of operation
-------------------
The tree holds committed state only. A write is *prepared* when it arrives
(``reference.prep``: against the tree plus the writes prepared before it), *proposed*, and
applied — its watch events delivered, its reply sent — only when it *commits* (``commit``).
Who proposes and when a proposal commits is the broadcast's business (``Broadcast``):

* a standalone server (``LocalBroadcast``, the default) is a leader with a quorum of one: a
  proposal is persisted, and commits once ``persisted`` says it is durable;
* in an ensemble, the leader's broadcast replicates proposals and commits on a quorum of
  acks; a follower's forwards writes to the leader and commits what the leader commits
  (``reference.quorum``).

Each session keeps its own order (``CommitProcessor``): a request that arrives while one of
the session's writes waits to commit waits behind it (``Session.pending``), so a session
reads its own writes and gets its replies in order. Requests of other sessions do not wait:
reads see the committed tree at once.

Semantics are ``spec/``'s, rule for rule; a differential test holds the two together.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from enum import IntEnum
from typing import Protocol

from reference.datatree import DataTree, Event
from reference.handlers import CHILD_TABLE, READ_HANDLERS, FailedWithBody, write_reply
from reference.jute import (
    AuthPacket,
    ConnectResponse,
    GetSASLRequest,
    JuteError,
    MultiRequest,
    MultiResponse,
    ReplyHeader,
    Request,
    SetSASLResponse,
    SyncResponse,
    WatcherEvent,
    decode_connect_request,
    decode_request,
    encode_connect_response,
    encode_reply,
)
from reference.jute.messages import ReplyRecord
from reference.jute.primitives import STAT
from reference.persistence import (
    SessionImage,
    Snapshot,
    SnapshotWriter,
    decode_snapshot,
    decode_txn,
    encode_snapshot,
)
from reference.prep import Caller, Preparer
from reference.ready import Output, Ready
from reference.sasl import DigestMD5Server, SaslAbort, SaslFailure, nonce_for
from reference.sessions import Session, SessionState, SessionTracker
from reference.txn import (
    CloseSessionTxn,
    CreateSessionTxn,
    ErrorTxn,
    Txn,
    TxnBody,
    TxnHeader,
)
from reference.watchmanager import PERSISTENT_RECURSIVE
from reference.x509 import CertificateError, certificate_subject
from spec.acl import READ, Id, acl_permits, generate_digest, sasl_ids, x509_ids
from spec.ensemble import moved_session_request
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.events import KeeperState
from spec.opcodes import OpCode, Xid
from spec.state import Config
from spec.zxid import Zxid

# Opcodes that change the tree: prepared, proposed, answered at commit.
WRITE_OPCODES = frozenset(
    {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
        OpCode.delete,
        OpCode.setData,
        OpCode.setACL,
        OpCode.multi,
        OpCode.reconfig,
    }
)
# Writes whose body Apache reads in PrepRequestProcessor after it has taken a zxid for them:
# a body that does not decode is an error txn (MARSHALLINGERROR that uses the zxid).
_BODY_READ_WITH_ZXID = frozenset(
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
# Packets ZooKeeperServer.processPacket reads itself: a body that does not decode closes
# the connection without a reply.
_BODY_READ_BY_CONNECTION = frozenset({OpCode.auth, OpCode.sasl})
_ZERO_PASSWORD = bytes(16)
# The getData fast path: request header + path length; reply length, header, data length
# (the Stat is packed with reference.jute's own STAT).
_GET_DATA_OPCODE = struct.pack(">i", OpCode.getData)
_EXISTS_OPCODE = struct.pack(">i", OpCode.exists)
_XID_OPCODE = struct.Struct(">ii")
_XID_OPCODE_LENGTH = struct.Struct(">iii")
_FRAME_HEAD = struct.Struct(">iiqii")  # length, xid, zxid, err, data length
_EXISTS_HEAD = struct.Struct(">iiqi")  # length, xid, zxid, err


class Role(IntEnum):
    """How this server takes part: which of the core's paths a write takes."""

    STANDALONE = 0  # a leader with a quorum of one, epoch from disk
    LEADING = 1
    FOLLOWING = 2
    NOT_SERVING = 3  # looking for a leader, or synchronizing: no clients


class Broadcast(Protocol):
    """Where a server's writes go, and how it learns they committed.

    A leading server calls ``propose`` for every txn it prepared (in zxid order) and hears
    back through ``ZooKeeperCore.commit``. A following server calls ``forward`` with the
    client's request as received and ``revalidate`` for a session that re-attaches here.
    """

    def propose(self, txn: Txn) -> None: ...

    def forward(
        self, session_id: int, cxid: int, opcode: int, body: bytes, auth_ids: list[Id]
    ) -> None: ...

    def revalidate(self, session_id: int, timeout_ms: int) -> None: ...


class Connection:
    """A client connection: its address, its session once handshaken, and its auth ids.

    ``waiting`` holds frames that arrived while the handshake waits for the leader (a
    session re-attaching at a follower is revalidated first). ``sasl`` is its SASL login,
    once it sent a token to a server that runs SASL (``ServerCnxn.zooKeeperSaslServer``).
    """

    __slots__ = (
        "address",
        "auth_ids",
        "certificate_ids",
        "conn_id",
        "handshaken",
        "null_path_keyed",
        "null_path_listed",
        "read_only",
        "sasl",
        "session_id",
        "waiting",
    )

    def __init__(self, conn_id: int, address: str) -> None:
        self.conn_id = conn_id
        self.address = address
        self.session_id = 0
        self.handshaken = False
        self.read_only: bool | None = None
        self.auth_ids: list[Id] = [Id("ip", address)]
        self.waiting: list[bytes] | None = None
        self.sasl: DigestMD5Server | None = None
        # The ids of the TLS client certificate it presented (``authenticate_certificate``).
        self.certificate_ids: tuple[Id, ...] = ()
        # 3.8's watches on the null path, per watch table (``ZooKeeperCore.watch_null_path``):
        # whether the table lists the null path for this connection, and whether its mode
        # map holds a (connection, null) key, which no removal ever takes out.
        self.null_path_listed: set[str] = set()
        self.null_path_keyed: set[str] = set()


class PendingWrite:
    """A request of the session waiting for its txn to commit (or, at a follower, for the
    leader's answer): the reply goes to ``conn_id`` with ``xid``.

    ``kind`` says what the answer is: a write's reply, a ConnectResponse, the reply to
    closeSession (then the connection closes), or a sync's reply.
    """

    WRITE = 0
    CONNECT = 1
    CLOSE = 2
    SYNC = 3

    __slots__ = ("conn_id", "kind", "opcode", "path", "size", "xid")

    def __init__(
        self,
        kind: int,
        conn_id: int,
        xid: int,
        opcode: int,
        size: int,
        path: str | None = None,
    ) -> None:
        self.kind = kind
        self.conn_id = conn_id
        self.xid = xid
        self.opcode = opcode
        self.size = size
        self.path = path


class QueuedRequest:
    """A request (or a reply already decided, or a close) that waits behind an earlier
    pending write."""

    __slots__ = ("auth_ids", "close", "conn_id", "frame", "request", "size")

    def __init__(
        self,
        conn_id: int,
        request: Request | None,
        size: int,
        auth_ids: list[Id],
        frame: bytes | None = None,
        close: bool = False,
    ) -> None:
        self.conn_id = conn_id
        self.request = request
        self.size = size
        # The connection's ids when the request arrived: it is checked with those, as
        # Apache's Request carries a copy of cnxn.getAuthInfo() taken on receipt.
        self.auth_ids = auth_ids
        self.frame = frame
        self.close = close


class LocalBroadcast:
    """A standalone server's broadcast: a quorum of one, so a txn commits once it is
    durable here (``persisted``)."""

    def __init__(self, core: ZooKeeperCore) -> None:
        self.core = core
        self.proposed: list[Txn] = []

    def propose(self, txn: Txn) -> None:
        self.core.out.persist.append(txn)
        self.proposed.append(txn)

    def persisted(self, zxid: int) -> None:
        proposed = self.proposed
        count = 0
        for txn in proposed:
            if txn.header.zxid > zxid:
                break
            count += 1
        if count == 0:
            return
        committed, self.proposed = proposed[:count], proposed[count:]
        for txn in committed:
            self.core.commit(txn)

    def forward(
        self, session_id: int, cxid: int, opcode: int, body: bytes, auth_ids: list[Id]
    ) -> None:
        raise AssertionError("a standalone server forwards nothing")

    def revalidate(self, session_id: int, timeout_ms: int) -> None:
        raise AssertionError("a standalone server revalidates nothing")


class ZooKeeperCore:
    """One ZooKeeper server's client side, sans I/O (see the module docstring)."""

    def __init__(self, config: Config, now_ms: int, epoch: int = 0) -> None:
        self.config = config
        self.profile = config.profile
        self.tree = DataTree(keep_all_watch_modes=config.profile.watch_mode_set)
        self.tree.last_processed_zxid = epoch << 32
        self.providers = config.auth_providers
        self.preparer = Preparer(
            self.tree, config.profile, config.extended_types_enabled, self.providers
        )
        self.now = now_ms
        self.connections: dict[int, Connection] = {}
        self.tracker = SessionTracker(config.server_id, now_ms, config.tick_time_ms, True)
        # Sessions re-attaching at a follower, waiting for the leader's REVALIDATE answer:
        # session id -> (connection, negotiated timeout).
        self.revalidating: dict[int, tuple[int, int]] = {}
        self.next_container_check = now_ms + config.container_check_interval_ms
        self.role = Role.STANDALONE
        self.local = LocalBroadcast(self)
        self.broadcast: Broadcast = self.local
        # The last zxid proposed by this server while it leads (lastProposed).
        self.last_proposed = self.tree.last_processed_zxid
        self.out = Ready()
        # Zxids used up without a txn, to be logged before the next write (``_next_zxid``).
        self._burned: list[tuple[int, int]] = []
        # Requests waiting in session queues (``globalOutstandingLimit``), and their bytes.
        self.outstanding = 0
        self.outstanding_bytes = 0

    # --- effects ---------------------------------------------------------------------------

    def ready(self) -> Ready:
        """The effects produced since the last call (``reference.ready``)."""
        out, self.out = self.out, Ready()
        return out

    def send(self, conn_id: int, data: bytes) -> None:
        """A frame for a client connection, visible now."""
        self.out.clients.append(Output(conn_id, data, False))

    def _reply(
        self, conn_id: int, xid: int, zxid: int, err: int, record: ReplyRecord | None = None
    ) -> None:
        self.send(conn_id, encode_reply(ReplyHeader(xid, zxid, err), record if err == 0 else None))

    def _close(self, conn_id: int) -> None:
        """Close a connection after what was queued for it; forget its watches."""
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self.tree.remove_connection(conn_id)
        session = self.tracker.get(conn.session_id)
        if session is not None and session.conn_id == conn_id:
            session.conn_id = None
        self.out.clients.append(Output(conn_id, None, True))

    @property
    def sessions(self) -> dict[int, Session]:
        return self.tracker.sessions

    @property
    def last_zxid(self) -> int:
        """The last committed (applied) zxid: what reads and pings report."""
        return self.tree.last_processed_zxid

    # --- durability ----------------------------------------------------------------------

    def persisted(self, zxid: int) -> None:
        """Every txn this server was asked to persist, up to ``zxid``, is durable."""
        if self.role == Role.STANDALONE:
            self.local.persisted(zxid)

    # --- persistence ---------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The committed tree and sessions as a sealed blob (``reference.persistence``)."""
        return encode_snapshot(self.tree, self.session_images(), self.tracker.next_session_id)

    def snapshot_writer(self) -> SnapshotWriter:
        """Start the same snapshot, to be written in slices while requests go on
        (``SnapshotWriter``: ``step`` until it returns True, then ``finish``)."""
        return SnapshotWriter(self.tree, self.session_images(), self.tracker.next_session_id)

    def session_images(self) -> list[SessionImage]:
        return [
            SessionImage(s.session_id, s.timeout_ms)
            for s in self.tracker.sessions.values()
            if s.state != SessionState.CREATING
        ]

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
            core.load_snapshot(image, now_ms)
        for blob in txns:
            txn = decode_txn(blob)
            if txn.header.zxid <= core.last_zxid:
                continue
            core.replay(txn)
        core.restart_sessions(now_ms)
        core.last_proposed = core.last_zxid
        return core

    def load_snapshot(self, image: Snapshot, now_ms: int) -> None:
        """Take the tree and sessions of a snapshot (at startup, or a leader's SNAP)."""
        self.tree = image.tree
        self.preparer.tree = image.tree
        self.preparer.clear_outstanding()
        self.tracker.sessions.clear()
        for session in image.sessions:
            self.tracker.sessions[session.session_id] = Session(
                session.session_id, session.timeout_ms
            )
        if self.tracker.created_here(image.next_session_id):
            # Our own snapshot (a leader's SNAP carries the leader's counter, not ours).
            self.tracker.next_session_id = max(self.tracker.next_session_id, image.next_session_id)
        self.last_proposed = max(self.last_proposed, self.tree.last_processed_zxid)
        del now_ms

    def replay(self, txn: Txn) -> None:
        """Apply a txn from the log or from the leader, with no client to answer."""
        body = txn.body
        if isinstance(body, CreateSessionTxn):
            session_id = txn.header.session_id
            if session_id not in self.tracker.sessions:
                self.tracker.sessions[session_id] = Session(session_id, body.timeout_ms)
        self.tree.apply(txn, [])
        if isinstance(body, CloseSessionTxn):
            self.tracker.remove(txn.header.session_id)

    def restart_sessions(self, now_ms: int) -> None:
        """Every session gets a full timeout from now (a restarted or new leader)."""
        for live in self.tracker.sessions.values():
            live.expires_at = 0
        if self.tracker.decides_expiry:
            for live in self.tracker.sessions.values():
                self.tracker.touch(live, now_ms)
        self.tracker.advance_past(self.tracker.sessions)

    # --- connections ---------------------------------------------------------------------

    def connection_made(self, conn_id: int, address: str) -> None:
        self.connections[conn_id] = Connection(conn_id, address)

    def authenticate_certificate(self, conn_id: int, certificate: bytes) -> bool:
        """The TLS client on ``conn_id`` presented ``certificate`` (DER), which the TLS layer
        verified against the trust store: the connection holds ``x509:<subject DN>``, and
        super too if the DN is the x509 super user (``X509AuthenticationProvider``, called by
        ``NettyServerCnxnFactory.CertificateVerifier`` before the connection reads a frame).
        False if the certificate's subject cannot be read: the driver closes the connection.
        """
        conn = self.connections.get(conn_id)
        if conn is None:
            return True
        assert not conn.handshaken, "a certificate is presented before any frame"
        try:
            subject = certificate_subject(certificate)
        except CertificateError:
            return False
        conn.certificate_ids = x509_ids(subject, self.providers.x509_super_user)
        self._add_ids(conn, conn.certificate_ids)
        return True

    def connection_lost(self, conn_id: int) -> None:
        """The client or the network closed the connection; the session lives on."""
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self.tree.remove_connection(conn_id)
        session = self.tracker.get(conn.session_id)
        if session is not None and session.conn_id == conn_id:
            session.conn_id = None

    def close_connection(self, conn_id: int) -> None:
        """Close a client connection (the server does not serve now)."""
        self._close(conn_id)

    def forget_uncommitted(self) -> None:
        """This server stops leading or following: what it proposed or forwarded will be
        decided by the next leader, and its clients are gone. Sessions not created yet are
        dropped, closing ones are open again, every queue is emptied."""
        for session in list(self.tracker.sessions.values()):
            while session.pending:
                self._dequeue(session)
            if session.state == SessionState.CREATING:
                self.tracker.remove(session.session_id)
            elif session.state == SessionState.CLOSING:
                session.state = SessionState.ESTABLISHED
        self.revalidating.clear()
        self.preparer.clear_outstanding()
        self._burned.clear()
        self.last_proposed = self.last_zxid

    def close_all_connections(self) -> None:
        """Stop serving: close every client connection (the sessions live on)."""
        for conn_id in sorted(self.connections):
            self._close(conn_id)

    def receive(self, conn_id: int, payload: bytes, now_ms: int) -> None:
        """Handle one complete frame received on ``conn_id``."""
        self.now = max(self.now, now_ms)
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        if conn.waiting is not None:
            conn.waiting.append(payload)
            return
        if not conn.handshaken:
            self._handshake(conn, payload)
            return
        session = self.tracker.get(conn.session_id)
        if session is None:
            self._close(conn_id)
            return
        self.tracker.touch(session, self.now)
        if (
            self.role == Role.LEADING
            and session.owner not in (None, self.config.server_id)
            and self._moved_away(conn, session, payload)
        ):
            return
        opcode = payload[4:8]
        if (
            not session.pending
            and opcode in (_GET_DATA_OPCODE, _EXISTS_OPCODE)
            and self._read_fast(conn, payload, opcode == _GET_DATA_OPCODE)
        ):
            return
        try:
            request = decode_request(payload)
        except JuteError as error:
            self._undecodable(conn, session, error, payload)
            return
        if not isinstance(request, Request):
            xid = request.header.xid
            if request.header.type == OpCode.deleteContainer:
                # Apache reads the whole frame as the path: the header's zero bytes are NULs,
                # so the path is invalid (BADARGUMENTS, a zxid used).
                self._submit_write(conn, session, xid, OpCode.deleteContainer, None, payload)
                return
            self._answer(conn, session, xid, -1, Code.UNIMPLEMENTED, close=True)
            return
        opcode_value = request.header.type
        if (
            opcode_value == OpCode.multi
            and self.role != Role.FOLLOWING
            and self._multi_has_null_path(request)
        ):
            # PrepRequestProcessor takes a zxid, then getPendingChanges fails on the null
            # path before the multi has a txn header; FinalRequestProcessor fails on the
            # missing results after it has started the (empty) response.
            self._burned.append((session.session_id, request.header.xid))
            self._answer(
                conn,
                session,
                request.header.xid,
                self.last_zxid,
                Code.MARSHALLINGERROR,
                body=MultiResponse(()),
            )
            return
        if opcode_value in WRITE_OPCODES:
            self._submit_write(conn, session, request.header.xid, opcode_value, request, payload)
        elif opcode_value == OpCode.closeSession:
            self._submit_close(conn, session, request.header.xid)
        elif opcode_value == OpCode.auth:
            record = request.record
            assert isinstance(record, AuthPacket)
            self._add_auth(conn, session, request.header.xid, record)
        elif (
            opcode_value == OpCode.sasl
            and self.config.sasl is not None
            and isinstance(request.record, GetSASLRequest)
            and request.record.token is not None
        ):
            self._sasl(conn, session, request.header.xid, request.record.token)
        elif opcode_value == OpCode.sync and (
            self.role == Role.FOLLOWING or (self.role == Role.LEADING and self.config.quorum_sync)
        ):
            self._submit_sync(conn, session, request, payload)
        elif session.pending:
            self._enqueue(session, QueuedRequest(conn_id, request, len(payload), conn.auth_ids))
        else:
            self._execute(conn, request)

    @staticmethod
    def _multi_has_null_path(request: Request) -> bool:
        record = request.record
        assert isinstance(record, MultiRequest)
        return any(getattr(op.request, "path", "") is None for op in record.ops)

    def _undecodable(
        self, conn: Connection, session: Session, error: JuteError, payload: bytes
    ) -> None:
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
            # Whatever the body, a standalone check is UNIMPLEMENTED (DIVERGENCES 1).
            self._answer(conn, session, header.xid, -1, Code.UNIMPLEMENTED, close=True)
            return
        if header.type in _BODY_READ_WITH_ZXID:
            self._submit_write(conn, session, header.xid, header.type, None, payload)
            return
        self._answer(conn, session, header.xid, self.last_zxid, Code.MARSHALLINGERROR)

    def _moved_away(self, conn: Connection, session: Session, payload: bytes) -> bool:
        """At the leader, a request on the old connection of a session that re-attached at
        a follower since (REVALIDATE made that follower its owner): ``PrepRequestProcessor``'s
        ``checkSession`` fails (``spec.ensemble.moved_session_request``). A write takes a zxid
        as an error txn SESSIONMOVED, which closes the connection when it commits; any other
        request closes it in the session's order, with no reply. True if handled here."""
        if len(payload) < 8:
            return False
        xid, opcode_value = _XID_OPCODE.unpack_from(payload, 0)
        try:
            answer = moved_session_request(OpCode(opcode_value), at_leader=True)
        except ValueError:
            return False  # no request of an established session: answered as anywhere
        if answer.answered:
            return False
        if answer.takes_zxid:
            self._enqueue(
                session,
                PendingWrite(PendingWrite.WRITE, conn.conn_id, xid, opcode_value, len(payload)),
            )
            self.propose_txn(session.session_id, xid, opcode_value, ErrorTxn(Code.SESSIONMOVED))
        elif session.pending:
            self._enqueue(session, QueuedRequest(conn.conn_id, None, 0, conn.auth_ids, close=True))
        else:
            self._close(conn.conn_id)
        return True

    def _answer(
        self,
        conn: Connection,
        session: Session,
        xid: int,
        zxid: int,
        err: int,
        close: bool = False,
        body: ReplyRecord | None = None,
    ) -> None:
        """A reply decided now, sent in the session's order (``body`` goes with a non-zero
        ``err`` too: Apache sends the multi response it had built when a multi failed)."""
        frame = encode_reply(ReplyHeader(xid, zxid, err), body)
        if session.pending:
            self._enqueue(
                session, QueuedRequest(conn.conn_id, None, len(frame), conn.auth_ids, frame, close)
            )
            return
        self.send(conn.conn_id, frame)
        if close:
            self._close(conn.conn_id)

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
        if node is None or not acl_permits(
            node.acl, READ, conn.auth_ids, self.profile.ipv6_acl, self.providers
        ):
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
        self.out.clients.append(Output(conn.conn_id, frame, False))
        return True

    # --- handshake -----------------------------------------------------------------------

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
        conn.read_only = None if request.readOnly is None else False
        if request.sessionId == 0:
            self._create_session(conn, timeout)
            return
        existing = self.tracker.get(request.sessionId)
        if existing is not None and existing.conn_id is not None:
            self._close(existing.conn_id)
        if request.passwd != Session(request.sessionId, 0).password:
            self._refuse(conn)
            return
        if self.role == Role.FOLLOWING:
            # Only the leader knows whether the session lives: ask it (REVALIDATE) and
            # hold this connection's frames until it answers.
            conn.session_id = request.sessionId
            conn.waiting = []
            self.broadcast.revalidate(request.sessionId, timeout)
            self.revalidating[request.sessionId] = (conn.conn_id, timeout)
            return
        if existing is None or existing.state == SessionState.CLOSING:
            self._refuse(conn)
            return
        existing.timeout_ms = timeout
        existing.owner = self.config.server_id
        self.tracker.touch(existing, self.now)
        self._attach(conn, existing)
        self._connected(conn, existing)

    def revalidated(self, session_id: int, valid: bool) -> None:
        """The leader answered a REVALIDATE: the session lives (or not)."""
        waiting = self.revalidating.pop(session_id, None)
        if waiting is None:
            return
        conn_id, timeout = waiting
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        frames = conn.waiting or []
        conn.waiting = None
        if not valid:
            self._refuse(conn)
            return
        session = self.tracker.get(session_id)
        if session is None:
            session = self.tracker.sessions[session_id] = Session(session_id, timeout)
        session.timeout_ms = timeout
        self.tracker.touch(session, self.now)
        self._attach(conn, session)
        self._connected(conn, session)
        for payload in frames:
            self.receive(conn_id, payload, self.now)

    def _refuse(self, conn: Connection) -> None:
        refused = ConnectResponse(0, 0, 0, _ZERO_PASSWORD, conn.read_only)
        self.send(conn.conn_id, encode_connect_response(refused))
        self._close(conn.conn_id)

    def _connected(self, conn: Connection, session: Session) -> None:
        response = ConnectResponse(
            0, session.timeout_ms, session.session_id, session.password, conn.read_only
        )
        self.send(conn.conn_id, encode_connect_response(response))

    def _create_session(self, conn: Connection, timeout: int) -> None:
        session_id = self.tracker.new_session_id()
        session = Session(session_id, timeout)
        session.state = SessionState.CREATING
        self.tracker.sessions[session_id] = session
        self.tracker.touch(session, self.now)
        self._attach(conn, session)
        session.owner = self.config.server_id
        self._enqueue(
            session, PendingWrite(PendingWrite.CONNECT, conn.conn_id, 0, OpCode.createSession, 0)
        )
        if self.role == Role.FOLLOWING:
            self.broadcast.forward(
                session_id, 0, OpCode.createSession, struct.pack(">i", timeout), []
            )
            return
        self.propose_txn(session_id, 0, OpCode.createSession, CreateSessionTxn(timeout))

    def _attach(self, conn: Connection, session: Session) -> None:
        conn.handshaken = True
        conn.session_id = session.session_id
        session.conn_id = conn.conn_id

    # --- writes --------------------------------------------------------------------------

    def _next_zxid(self) -> int:
        """The zxid of the next txn, after any zxid used up without a txn (``_burned``).

        A zxid Apache takes and never gives a txn (a multi with a null path) is skipped by the
        next write's zxid. zkref's log has no gaps, so the burned zxid is logged as an error
        txn just before that next write: clients see the same zxids, and a restart forgets a
        burned zxid no write followed, as Apache's does.
        """
        while self._burned:
            session_id, xid = self._burned.pop(0)
            zxid = self._following_zxid()
            self.last_proposed = zxid
            header = TxnHeader(session_id, xid, zxid, self.now, OpCode.error)
            self.broadcast.propose(Txn(header, ErrorTxn(Code.MARSHALLINGERROR)))
        return self._following_zxid()

    def _following_zxid(self) -> int:
        last = Zxid(self.last_proposed)
        if self.role == Role.STANDALONE:
            # A standalone server never changes epoch (ZooKeeperServer.getNextZxid).
            return int(last) + 1
        return last.next()

    def propose_txn(
        self, session_id: int, cxid: int, txn_type: int, body: TxnBody, zxid: int = 0
    ) -> int:
        """Propose a prepared txn; returns its zxid."""
        if not zxid:
            zxid = self._next_zxid()
        self.last_proposed = zxid
        header_type = OpCode.error if isinstance(body, ErrorTxn) else txn_type
        self.broadcast.propose(Txn(TxnHeader(session_id, cxid, zxid, self.now, header_type), body))
        return zxid

    def _submit_write(
        self,
        conn: Connection,
        session: Session,
        xid: int,
        opcode: int,
        request: Request | None,
        payload: bytes,
    ) -> None:
        """A write from a local client: prepare and propose it (leading) or forward it."""
        self._enqueue(
            session, PendingWrite(PendingWrite.WRITE, conn.conn_id, xid, opcode, len(payload))
        )
        if self.role == Role.FOLLOWING:
            self.broadcast.forward(session.session_id, xid, opcode, payload[8:], conn.auth_ids)
            return
        self.prepare_and_propose(session.session_id, xid, opcode, request, conn.auth_ids)

    def prepare_and_propose(
        self,
        session_id: int,
        xid: int,
        opcode: int,
        request: Request | None,
        auth_ids: list[Id],
    ) -> int:
        """Prepare a write (``reference.prep``) and propose its txn; returns the zxid.

        ``request`` is None for a multi whose body did not decode: it still takes a zxid,
        as a MARSHALLINGERROR error txn.
        """
        zxid = self._next_zxid()
        session = self.tracker.get(session_id)
        body: TxnBody
        if session is None or session.state == SessionState.CLOSING:
            # SessionTrackerImpl.checkSession: a closing or unknown session writes nothing.
            body = ErrorTxn(Code.SESSIONEXPIRED)
        elif request is None:
            # A body that does not decode (MARSHALLINGERROR), or a client's deleteContainer,
            # whose frame Apache reads as a path full of NULs (BADARGUMENTS).
            err = Code.BADARGUMENTS if opcode == OpCode.deleteContainer else Code.MARSHALLINGERROR
            body = ErrorTxn(err)
        elif opcode == OpCode.multi and self._multi_has_null_path(request):
            # Forwarded by a follower: where Apache uses up a zxid without a txn, the leader
            # logs an error txn (DIVERGENCES: in an ensemble the reply carries that zxid).
            body = ErrorTxn(Code.MARSHALLINGERROR)
        elif opcode == OpCode.reconfig:
            err = Code.UNIMPLEMENTED if self.config.reconfig_enabled else Code.RECONFIGDISABLED
            body = ErrorTxn(err)
        else:
            caller = Caller(session_id, auth_ids)
            record = request.record
            if opcode == OpCode.multi:
                assert isinstance(record, MultiRequest)
                body = self.preparer.prepare_multi(record, caller, zxid)
            else:
                body = self.preparer.prepare_one(opcode, record, caller, zxid)
        return self.propose_txn(session_id, xid, opcode, body, zxid)

    def _submit_close(self, conn: Connection, session: Session, xid: int) -> None:
        self._enqueue(
            session, PendingWrite(PendingWrite.CLOSE, conn.conn_id, xid, OpCode.closeSession, 0)
        )
        if self.role == Role.FOLLOWING:
            self.broadcast.forward(session.session_id, xid, OpCode.closeSession, b"", conn.auth_ids)
            return
        self.propose_close(session, xid)

    def propose_close(self, session: Session, cxid: int) -> int:
        """Propose closing a session: its ephemerals (as the view has them) go with it."""
        session.state = SessionState.CLOSING
        paths = tuple(self.preparer.ephemerals_of(session.session_id))
        return self.propose_txn(
            session.session_id, cxid, OpCode.closeSession, CloseSessionTxn(paths)
        )

    def _submit_sync(
        self, conn: Connection, session: Session, request: Request, payload: bytes
    ) -> None:
        """A follower's sync goes through the leader: it is answered when the leader's
        SYNC comes back, after every commit the leader sent before it. With quorumSync a
        leader's own client's sync goes to the leader's quorum round the same way
        (``reference.quorum.leader``) and is answered by ``synced``; without it, the
        leader answers a sync like a read (``CommitProcessor``: no ``matchSyncs``)."""
        path = getattr(request.record, "path", None)
        self._enqueue(
            session,
            PendingWrite(
                PendingWrite.SYNC, conn.conn_id, request.header.xid, OpCode.sync, len(payload), path
            ),
        )
        self.broadcast.forward(
            session.session_id, request.header.xid, OpCode.sync, payload[8:], conn.auth_ids
        )

    # --- session queues ------------------------------------------------------------------

    def _enqueue(self, session: Session, item: PendingWrite | QueuedRequest) -> None:
        session.pending.append(item)
        self.outstanding += 1
        self.outstanding_bytes += item.size

    def _dequeue(self, session: Session) -> PendingWrite | QueuedRequest:
        item = session.pending.popleft()
        assert isinstance(item, (PendingWrite, QueuedRequest))
        self.outstanding -= 1
        self.outstanding_bytes -= item.size
        assert self.outstanding >= 0 and self.outstanding_bytes >= 0
        return item

    # --- commit --------------------------------------------------------------------------

    def commit(self, txn: Txn) -> None:
        """A txn committed: apply it, deliver its events, answer the request it came from."""
        header = txn.header
        zxid = header.zxid
        events: list[Event] = []
        result = self.tree.apply(txn, events)
        self.preparer.committed(zxid)
        if zxid > self.last_proposed:
            self.last_proposed = zxid
        if events:
            self._deliver(events, zxid)
        body = txn.body
        session_id = header.session_id
        session = self.tracker.get(session_id)
        if isinstance(body, CreateSessionTxn):
            if session is None:
                session = self.tracker.add(session_id, body.timeout_ms, self.now)
            session.state = SessionState.ESTABLISHED
        elif isinstance(body, CloseSessionTxn):
            if session is not None:
                self._session_closed(session, header.cxid)
            return
        if session is None or not session.pending:
            return
        head = session.pending[0]
        if not isinstance(head, PendingWrite) or head.kind == PendingWrite.SYNC:
            return
        if head.kind == PendingWrite.CONNECT:
            if not isinstance(body, CreateSessionTxn):
                return
        elif head.xid != header.cxid:
            return
        self._dequeue(session)
        conn = self.connections.get(head.conn_id)
        if conn is not None and conn.session_id == session_id:
            if head.kind == PendingWrite.CONNECT:
                self._connected(conn, session)
            elif isinstance(body, ErrorTxn) and body.err == Code.SESSIONMOVED:
                # FinalRequestProcessor: "session moved is a connection level error" — the
                # connection is closed without a reply (spec.ensemble).
                self._close(conn.conn_id)
            elif isinstance(body, ErrorTxn):
                self._reply(conn.conn_id, head.xid, zxid, body.err)
            else:
                self._reply(conn.conn_id, head.xid, zxid, 0, write_reply(head.opcode, result))
        self._drain(session)

    def synced(self, session_id: int) -> None:
        """The leader answered this follower's oldest outstanding sync (its SYNC packet)."""
        session = self.tracker.get(session_id)
        if session is None or not session.pending:
            return
        head = session.pending[0]
        if not isinstance(head, PendingWrite) or head.kind != PendingWrite.SYNC:
            return
        self._dequeue(session)
        conn = self.connections.get(head.conn_id)
        if conn is not None and conn.session_id == session_id:
            self._reply(conn.conn_id, head.xid, self.last_zxid, 0, SyncResponse(head.path))
        self._drain(session)

    def _session_closed(self, session: Session, cxid: int) -> None:
        """A closeSession committed: answer the client that asked (if here), close its
        connection, forget the session and everything it had queued."""
        self.tracker.remove(session.session_id)
        pending = list(session.pending)
        while session.pending:
            self._dequeue(session)
        conn_id = session.conn_id
        for item in pending:
            if (
                isinstance(item, PendingWrite)
                and item.kind == PendingWrite.CLOSE
                and item.xid == cxid
                and item.conn_id == conn_id
            ):
                self._reply(item.conn_id, item.xid, self.last_zxid, 0)
                break
        if conn_id is not None:
            self._close(conn_id)

    def _drain(self, session: Session) -> None:
        """Run what waited behind the head of the session's queue, up to the next write."""
        pending = session.pending
        while pending and isinstance(pending[0], QueuedRequest):
            item = self._dequeue(session)
            assert isinstance(item, QueuedRequest)
            conn = self.connections.get(item.conn_id)
            if conn is None or conn.session_id != session.session_id:
                continue
            if item.frame is not None or item.request is None:
                if item.frame is not None:
                    self.send(conn.conn_id, item.frame)
                if item.close:
                    self._close(conn.conn_id)
                continue
            if item.auth_ids is not conn.auth_ids:
                # addAuth arrived after this request: check it with the ids it came with.
                as_received = Connection(conn.conn_id, conn.address)
                as_received.session_id = conn.session_id
                as_received.handshaken = True
                as_received.auth_ids = item.auth_ids
                self._execute(as_received, item.request)
                continue
            self._execute(conn, item.request)

    def _deliver(self, events: list[Event], zxid: int) -> None:
        """Send each event to the connections that fired and may READ the node."""
        wire_zxid = zxid if self.profile.notification_zxid else -1
        ipv6 = self.profile.ipv6_acl
        providers = self.providers
        clients = self.out.clients
        for conn_ids, event_type, path, acl in events:
            frame: bytes | None = None
            for conn_id in sorted(conn_ids):
                conn = self.connections.get(conn_id)
                if conn is None or not acl_permits(acl, READ, conn.auth_ids, ipv6, providers):
                    continue
                if frame is None:
                    event = WatcherEvent(event_type, KeeperState.SyncConnected, path)
                    frame = encode_reply(ReplyHeader(Xid.NOTIFICATION, wire_zxid, 0), event)
                clients.append(Output(conn_id, frame, False))

    # --- requests that do not change the tree ---------------------------------------------

    def _execute(self, conn: Connection, request: Request) -> None:
        """Answer a request that does not change the tree, against the committed tree."""
        xid, opcode = request.header.xid, request.header.type
        if opcode == OpCode.ping:
            # FinalRequestProcessor answers every ping with the ping xid.
            self._reply(conn.conn_id, Xid.PING, self.last_zxid, 0)
            return
        if opcode == OpCode.sasl:
            record = request.record
            assert isinstance(record, GetSASLRequest)
            if record.token is None:
                self._close(conn.conn_id)  # processSasl: clientToken.length
                return
            # No SASL server: processSasl answers OK with no token and keeps the connection
            # (a server that runs SASL takes tokens in ``_sasl``).
            self._reply(conn.conn_id, xid, 0, 0, SetSASLResponse(None))
            return
        handler = READ_HANDLERS.get(opcode)
        if handler is None:
            # check outside multi (ZOOKEEPER-2623), sasl, and anything unknown
            self._reply(conn.conn_id, xid, -1, Code.UNIMPLEMENTED)
            self._close(conn.conn_id)
            return
        try:
            response = handler(self, conn, request.record)
        except FailedWithBody as failure:
            frame = encode_reply(ReplyHeader(xid, self.last_zxid, failure.code), failure.body)
            self.send(conn.conn_id, frame)
            return
        except ZooKeeperError as error:
            self._reply(conn.conn_id, xid, self.last_zxid, error.code)
            return
        self._reply(conn.conn_id, xid, self.last_zxid, 0, response)

    def _add_auth(self, conn: Connection, session: Session, xid: int, packet: AuthPacket) -> None:
        """addAuth takes effect at once (``ZooKeeperServer.processPacket``), so the writes
        after it are prepared with its ids; its reply keeps the session's order."""
        new_ids: list[Id] = []
        if packet.scheme == "digest" and packet.auth is not None:
            digest = generate_digest(packet.auth.decode("utf-8", "replace"))
            if self.config.super_digest is not None and digest == self.config.super_digest:
                new_ids.append(Id("super", ""))
            new_ids.append(Id("digest", digest))
        elif packet.scheme == "ip":
            new_ids.append(Id("ip", conn.address))
        elif packet.scheme == "x509" and conn.certificate_ids:
            # X509AuthenticationProvider.handleAuthentication checks the connection's
            # certificate again, whatever the packet holds: the same ids, OK.
            new_ids.extend(conn.certificate_ids)
        else:
            self._answer(conn, session, xid, 0, Code.AUTHFAILED, close=True)
            return
        self._add_ids(conn, new_ids)
        self._answer(conn, session, xid, 0, 0)

    @staticmethod
    def _add_ids(conn: Connection, new_ids: Iterable[Id]) -> None:
        """The connection holds ``new_ids`` from now on (a set: each id once)."""
        added = [ident for ident in new_ids if ident not in conn.auth_ids]
        if added:
            # A new list, never changed in place: requests queued earlier keep theirs.
            conn.auth_ids = [*conn.auth_ids, *added]

    def _sasl(self, conn: Connection, session: Session, xid: int, token: bytes) -> None:
        """A SASL token to a server that runs SASL (``ZooKeeperServer.processSasl``).

        Like addAuth it takes effect at once: a completed login adds its ids for the requests
        after it, and its reply keeps the session's order (DIVERGENCES 9). The reply's zxid
        is 0. A failed step is AUTHFAILED with a null token and the connection closed, or,
        with ``zookeeper.allowSaslFailedClients``, OK with a null token and the connection
        kept; a step that fails outside SASL's error path closes the connection at once,
        without a reply (``reference.sasl``).
        """
        settings = self.config.sasl
        assert settings is not None, "only a server that runs SASL takes tokens here"
        login = conn.sasl
        if login is None:
            # One login per connection, and connection ids are never reused by a driver: the
            # nonce is unique for the server's secret even across cores (a peer's new role).
            login = DigestMD5Server(settings, nonce_for(settings.nonce_secret, conn.conn_id))
            conn.sasl = login
        try:
            challenge = login.evaluate_response(token)
        except SaslAbort:
            self._close(conn.conn_id)
            return
        except SaslFailure:
            if settings.allow_failed_clients:
                self._answer(conn, session, xid, 0, 0, body=SetSASLResponse(None))
                return
            self._answer(
                conn, session, xid, 0, Code.AUTHFAILED, close=True, body=SetSASLResponse(None)
            )
            return
        if login.authorization_id is not None:
            self._add_ids(conn, sasl_ids(login.authorization_id, settings.super_users))
        self._answer(conn, session, xid, 0, 0, body=SetSASLResponse(challenge))

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
        manager = self.tree.child_watches if table == CHILD_TABLE else self.tree.data_watches
        return manager.keeps_mode_of_zero_hash_path(conn.conn_id)

    # --- time ----------------------------------------------------------------------------

    def next_deadline(self) -> int:
        """The next time ``tick`` has work: a session deadline or a container check."""
        deadline = self.next_container_check
        expiry = self.tracker.next_expiry()
        if expiry is not None and expiry < deadline:
            deadline = expiry
        return deadline

    def tick(self, now_ms: int) -> bool:
        """Move the clock to ``now_ms`` and do the earliest timed work that is due: expire
        the sessions of one deadline, or check containers and TTL nodes once (only a server
        that decides these: standalone or leading). Returns True if it did any: more may be
        due, and the driver should carry out the effects and call again, so that the
        proposals of one deadline can commit before the next deadline's work looks at the
        tree (as they would in real time)."""
        leading = self.role in (Role.STANDALONE, Role.LEADING)
        interval = self.config.container_check_interval_ms
        while True:
            next_expiry = self.tracker.next_expiry() if leading else None
            due_expiry = next_expiry is not None and next_expiry <= now_ms
            due_check = self.next_container_check <= now_ms
            if not due_expiry and not due_check:
                self.now = max(self.now, now_ms)
                return False
            if (
                next_expiry is not None
                and due_expiry
                and (not due_check or next_expiry <= self.next_container_check)
            ):
                self.now = max(self.now, next_expiry)
                for session in self.tracker.pop_expired(next_expiry):
                    if session.state == SessionState.ESTABLISHED:
                        self.propose_close(session, 0)
                return True
            if not leading or (not self.tree.containers and not self.tree.ttls):
                # Nothing to reap, and a check creates no containers: skip the idle checks.
                skipped = (now_ms - self.next_container_check) // interval + 1
                self.next_container_check += interval * skipped
                continue
            self.now = max(self.now, self.next_container_check)
            self.next_container_check += interval
            self._reap()
            return True

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
            if not self.preparer.in_view(path):
                continue  # its delete is proposed already (an earlier check)
            zxid = self._next_zxid()
            body = self.preparer.prepare_delete_container(path, zxid)
            self.propose_txn(0, 0, OpCode.deleteContainer, body, zxid)


def settle(core: ZooKeeperCore) -> tuple[list[Output], list[Txn]]:
    """Drive a standalone core whose log is durable the moment it is written: carry out its
    effects until none are left. Returns the client frames, in order, and the txns it
    persisted. For tests, benchmarks and tools that need no real storage."""
    assert core.role == Role.STANDALONE, "settle drives a standalone core"
    clients: list[Output] = []
    txns: list[Txn] = []
    while True:
        ready = core.ready()
        if not ready:
            return clients, txns
        assert not ready.send, "a standalone core sends nothing"
        clients.extend(ready.clients)
        persisted = [item for item in ready.persist if isinstance(item, Txn)]
        assert len(persisted) == len(ready.persist), "a standalone core persists txns only"
        if persisted:
            txns.extend(persisted)
            core.persisted(persisted[-1].header.zxid)
