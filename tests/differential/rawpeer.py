"""One server as the raw-frame fuzzer sees it: send a case, observe what comes back.

A ``Peer`` keeps a main connection and its session, as a client would, and runs each
``frames.Case`` on it:

* it sends the case's bytes and, in the same write, a *sentinel* (``exists`` of the fuzz
  root with a reserved xid), and reads until the sentinel's reply or the end of the
  connection: what came before is the case's answer, the sentinel's zxid and Stat are the
  state after it;
* then it sends a second sentinel on its own, to learn whether the connection survived:
  Apache writes replies queued behind a close before it closes (``NIOServerCnxn.handleWrite``
  copies every queued buffer), so a reply to the first sentinel does not mean the connection
  is still open;
* a closed connection is reopened on the same session (as a client reconnects), or on a new
  session if the case closed the session.

What the fuzzer compares must not depend on time or on server-chosen values, so
``Observation`` holds normalized values: zxids as (the case that used them, offset), times
and session ids and passwords masked, children sorted. Every wait is bounded (``TIMEOUT_S``).
"""

from __future__ import annotations

import bisect
import socket
import struct
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Final

from reference.jute import (
    REPLY_RECORDS,
    ConnectRequest,
    ConnectResponse,
    GetChildrenResponse,
    JuteError,
    MultiResponse,
    WatcherEvent,
    decode_connect_response,
    decode_record,
    decode_reply,
    encode_connect_request,
)
from spec.acl import ACL
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.differential.frames import FUZZ_ROOT, Case, encode_fields, frame, ustring
from tests.differential.frames import Bool as BoolField

TIMEOUT_S: Final = 5.0
SESSION_TIMEOUT_MS: Final = 30_000
SENTINEL_XID: Final = 0x5EED0000
SECOND_SENTINEL_XID: Final = 0x5EED0001
DUMP_XID: Final = 0x5EED0002
_INT = struct.Struct(">i")
_REPLY_HEADER = struct.Struct(">iqi")


class ZxidMap:
    """Which case used which zxids, so that zxids compare across servers.

    Each server numbers its own transactions; both take them in the same cases when they
    agree. A zxid is shown as ``(case, k)``: the ``k``-th zxid used during ``case``.
    """

    def __init__(self) -> None:
        self._cases: list[int] = []
        self._bases: list[int] = []

    def start(self, case: int, zxid_before: int) -> None:
        self._cases.append(case)
        self._bases.append(zxid_before)

    def relative(self, zxid: int) -> tuple[int, int] | int:
        if zxid <= 0 or not self._bases:
            return zxid
        at = bisect.bisect_left(self._bases, zxid) - 1
        if at < 0:
            return (-1, zxid)
        return (self._cases[at], zxid - self._bases[at])


@dataclass
class Observation:
    """What one case did on one server, normalized (see the module docstring)."""

    frames: list[Any] = field(default_factory=list)
    closed: bool = False
    timed_out: bool = False
    new_session: bool = False
    zxids_used: int = 0
    root: Any = None
    main_closed: bool = False  # connect cases: whether the main connection went away

    def outcome(self) -> tuple[Any, ...]:
        return (
            tuple(self.frames),
            self.closed,
            self.timed_out,
            self.new_session,
            self.zxids_used,
            self.root,
            self.main_closed,
        )


class _Connection:
    """A socket with a read buffer; every read is bounded by ``TIMEOUT_S``."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.eof = False

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            self.eof = True
            return False
        return True

    def read_frame(self) -> bytes | None:
        """The next frame's payload; None once the server closed. Raises TimeoutError."""
        while True:
            if len(self.buffer) >= 4:
                (length,) = _INT.unpack_from(self.buffer)
                if len(self.buffer) >= 4 + length:
                    payload = bytes(self.buffer[4 : 4 + length])
                    del self.buffer[: 4 + length]
                    return payload
            if self.eof:
                return None
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _sentinel(xid: int) -> bytes:
    """exists(fuzz root) with a reserved xid: its reply ends a case's answer."""
    body = encode_fields([ustring(FUZZ_ROOT), BoolField(0)])
    return frame(_INT.pack(xid) + _INT.pack(OpCode.exists) + body)


class Peer:
    """A server under test, driven one case at a time (see the module docstring)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.zxids = ZxidMap()
        self.last_zxid = 0
        self.session_id = 0
        self.password = bytes(16)
        self.main: _Connection | None = None

    # --- sessions ------------------------------------------------------------------------

    def _handshake(self, session_id: int, password: bytes) -> tuple[_Connection, ConnectResponse]:
        conn = _Connection(self.host, self.port)
        request = ConnectRequest(0, 0, SESSION_TIMEOUT_MS, session_id, password, False)
        conn.send(encode_connect_request(request))
        payload = conn.read_frame()
        if payload is None:
            raise ConnectionError(f"{self.name} closed the handshake")
        return conn, decode_connect_response(payload)

    def connect(self) -> bool:
        """(Re)open the main connection; True if that took a new session."""
        if self.session_id:
            conn, response = self._handshake(self.session_id, self.password)
            if response.timeOut > 0:
                self.main = conn
                return False
            conn.close()
        conn, response = self._handshake(0, bytes(16))
        assert response.timeOut > 0, f"{self.name} refused a new session"
        self.main = conn
        self.session_id = response.sessionId
        self.password = response.passwd or bytes(16)
        return True

    def close(self) -> None:
        if self.main is not None:
            self.main.close()
            self.main = None

    def call(self, payload: bytes) -> bytes:
        """A plain request on the main connection (fixture, dumps): the reply's payload."""
        if self.main is None:
            self.connect()
        assert self.main is not None
        xid = _INT.unpack_from(payload)[0]
        self.main.send(frame(payload))
        while True:
            reply = self.main.read_frame()
            if reply is None:
                raise ConnectionError(f"{self.name} closed the connection on {payload.hex()}")
            reply_xid, zxid, _ = _REPLY_HEADER.unpack_from(reply)
            if reply_xid == xid:
                self.last_zxid = max(self.last_zxid, zxid)
                return reply

    # --- one case ------------------------------------------------------------------------

    def run(self, case: Case) -> Observation:
        self.zxids.start(case.index, self.last_zxid)
        if case.kind == "connect":
            return self._run_connect(case)
        observation = Observation()
        if self.main is None:
            observation.new_session = self.connect()
        assert self.main is not None
        data = frame(case.data) if case.kind == "request" else case.data
        self.main.send(data + _sentinel(SENTINEL_XID))
        self._read_answer(self.main, case.opcode, observation)
        for opcode, payload in case.then:
            if observation.closed or observation.timed_out:
                break
            observation.frames.append("then")
            self.main.send(frame(payload) + _sentinel(SENTINEL_XID))
            self._read_answer(self.main, opcode, observation)
        if observation.closed or observation.timed_out or case.drop_connection:
            self.close()
            observation.new_session = self.connect() or observation.new_session
            self._probe_root(observation)
        observation.zxids_used = self._zxid_delta(case.index)
        return observation

    def _read_answer(self, conn: _Connection, opcode: int, observation: Observation) -> None:
        """Frames up to the sentinel's reply, then whether the connection survived."""
        try:
            while True:
                payload = conn.read_frame()
                if payload is None:
                    observation.closed = True
                    return
                xid, _zxid, _ = _REPLY_HEADER.unpack_from(payload)
                if xid == SENTINEL_XID:
                    self._note_root(payload, observation)
                    break
                observation.frames.append(self.normalize(payload, opcode))
            conn.send(_sentinel(SECOND_SENTINEL_XID))
            while True:
                payload = conn.read_frame()
                if payload is None:
                    observation.closed = True
                    return
                if _INT.unpack_from(payload)[0] == SECOND_SENTINEL_XID:
                    return
                observation.frames.append(self.normalize(payload, opcode))
        except TimeoutError:
            observation.timed_out = True

    def _note_root(self, payload: bytes, observation: Observation) -> None:
        _, zxid, err = _REPLY_HEADER.unpack_from(payload)
        self.last_zxid = max(self.last_zxid, zxid)
        body = decode_reply(payload, OpCode.exists).record if err == 0 else None
        observation.root = (err, self._normal(body))

    def _probe_root(self, observation: Observation) -> None:
        assert self.main is not None
        self.main.send(_sentinel(SENTINEL_XID))
        payload = self.main.read_frame()
        assert payload is not None, f"{self.name} closed a fresh connection"
        self._note_root(payload, observation)

    def _zxid_delta(self, case: int) -> int:
        relative = self.zxids.relative(self.last_zxid)
        return relative[1] if isinstance(relative, tuple) and relative[0] == case else 0

    def _run_connect(self, case: Case) -> Observation:
        """A ConnectRequest on a connection of its own, naming the session ``case.session``."""
        observation = Observation()
        session_id = {"new": 0, "unknown": 0x123456789}.get(case.session, self.session_id)
        body = bytearray(case.data)
        if len(body) >= 24:
            struct.pack_into(">q", body, 16, session_id)
        if case.session == "main" and len(body) >= 44:
            body[28:44] = self.password
        conn = _Connection(self.host, self.port)
        conn.send(frame(bytes(body)))
        created: ConnectResponse | None = None
        try:
            payload = conn.read_frame()
            if payload is None:
                observation.closed = True
            else:
                response, normal = self._normal_connect(payload, session_id)
                observation.frames.append(normal)
                if response is not None and response.timeOut > 0:
                    if response.sessionId != self.session_id:
                        created = response
                    conn.send(_sentinel(SENTINEL_XID))
                    self._read_answer(conn, OpCode.exists, observation)
                else:
                    observation.closed = conn.read_frame() is None
        except TimeoutError:
            observation.timed_out = True
        if created is not None:
            # A session left behind would expire at a time of the server's choosing, and its
            # closeSession would take a zxid in the middle of a later case: close it now.
            if observation.closed or observation.timed_out:
                conn.close()
                conn, _ = self._handshake(created.sessionId, created.passwd or bytes(16))
            self._close_session(conn)
        conn.close()
        observation.main_closed = self._main_survived() is False
        if observation.main_closed:
            self.close()
            observation.new_session = self.connect()
        self._probe_root(observation)
        observation.zxids_used = self._zxid_delta(case.index)
        return observation

    def _close_session(self, conn: _Connection) -> None:
        conn.send(frame(_INT.pack(1) + _INT.pack(OpCode.closeSession)))
        while (reply := conn.read_frame()) is not None:
            xid, zxid, _ = _REPLY_HEADER.unpack_from(reply)
            if xid == 1:
                self.last_zxid = max(self.last_zxid, zxid)
                return

    def _main_survived(self) -> bool:
        if self.main is None:
            return False
        probe = Observation()
        self.main.send(_sentinel(SENTINEL_XID))
        self._read_answer(self.main, OpCode.exists, probe)
        return not (probe.closed or probe.timed_out)

    # --- normalization -------------------------------------------------------------------

    def _normal_connect(
        self, payload: bytes, session_id: int
    ) -> tuple[ConnectResponse | None, tuple[Any, ...]]:
        try:
            response = decode_connect_response(payload)
        except JuteError:
            return None, ("connect", payload.hex())
        if response.sessionId == 0:
            session = "0"
        elif response.sessionId == session_id:
            session = "asked"
        else:
            session = "new"
        passwd = response.passwd
        return response, (
            "connect",
            response.protocolVersion,
            response.timeOut,
            session,
            None if passwd is None else (len(passwd), passwd == bytes(len(passwd))),
            response.readOnly,
        )

    def normalize(self, payload: bytes, opcode: int) -> tuple[Any, ...]:
        """A reply frame as something to compare: header with relative zxid, decoded body.

        The body is read as the reply to ``opcode`` (the case's request), else as a
        notification, else kept as bytes.
        """
        if len(payload) < _REPLY_HEADER.size:
            return ("short", payload.hex())
        xid, zxid, err = _REPLY_HEADER.unpack_from(payload)
        header = (xid, self.zxids.relative(zxid), err)
        body = payload[_REPLY_HEADER.size :]
        if not body:
            return (*header, None)
        candidates: list[type[Any]] = []
        record_type = REPLY_RECORDS.get(opcode)
        if opcode in (OpCode.multi, OpCode.multiRead):
            candidates.append(MultiResponse)
        elif record_type is not None and err == 0:
            candidates.append(record_type)
        candidates.append(WatcherEvent)
        for candidate in candidates:
            try:
                record = decode_record(candidate, body)
            except JuteError:
                continue
            return (*header, candidate.__name__, self._normal(record))
        return (*header, body.hex())

    def _normal(self, value: Any) -> Any:
        if value is None or isinstance(value, (int, str, bool)):
            return value
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, Stat):
            owner = value.ephemeralOwner
            return (
                "stat",
                self.zxids.relative(value.czxid),
                self.zxids.relative(value.mzxid),
                value.version,
                value.cversion,
                value.aversion,
                "own" if owner == self.session_id else ("0" if owner == 0 else "other"),
                value.dataLength,
                value.numChildren,
                self.zxids.relative(value.pzxid),
            )
        if isinstance(value, ACL):
            return (value.perms, value.id.scheme, value.id.id)
        if isinstance(value, GetChildrenResponse) and value.children is not None:
            return ("children", tuple(sorted(value.children)))
        if isinstance(value, (tuple, list)):
            items = [self._normal(v) for v in value]
            return tuple(items)
        if is_dataclass(value):
            name = type(value).__name__
            children = name in ("GetChildren2Response",)
            out: list[Any] = [name]
            for f in fields(value):
                item = getattr(value, f.name)
                if children and f.name == "children" and item is not None:
                    out.append(tuple(sorted(item)))
                else:
                    out.append(self._normal(item))
            return tuple(out)
        return repr(value)

    # --- the tree ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The fuzz root's subtree: per path its data, ACL and Stat, or the error reading it."""
        out: dict[str, Any] = {}
        pending = [FUZZ_ROOT]
        while pending:
            path = pending.pop()
            request = _INT.pack(DUMP_XID) + _INT.pack(OpCode.getData)
            data = decode_reply(
                self.call(request + encode_fields([ustring(path), BoolField(0)])), OpCode.getData
            )
            acl = decode_reply(
                self.call(
                    _INT.pack(DUMP_XID) + _INT.pack(OpCode.getACL) + encode_fields([ustring(path)])
                ),
                OpCode.getACL,
            )
            children = decode_reply(
                self.call(
                    _INT.pack(DUMP_XID)
                    + _INT.pack(OpCode.getChildren)
                    + encode_fields([ustring(path), BoolField(0)])
                ),
                OpCode.getChildren,
            )
            out[path] = (
                data.header.err,
                self._normal(data.record),
                acl.header.err,
                self._normal(acl.record),
            )
            if isinstance(children.record, GetChildrenResponse) and children.record.children:
                pending.extend(f"{path}/{name}" for name in children.record.children)
        return out
