"""A blocking raw-protocol client for tests: frames in and out, nothing hidden.

``RawClient`` speaks jute through ``reference.jute`` over a plain socket with a timeout on
every read, so a test can send exactly the bytes it means (garbage included) and see
exactly what the server answers, or that it closed the connection.
"""

from __future__ import annotations

import socket
import struct
from typing import Self

from reference import jute
from spec.acl import ACL, OPEN_ACL_UNSAFE
from spec.opcodes import OpCode

READ_TIMEOUT_S = 5.0
_LENGTH = struct.Struct(">i")


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset)."""


class RawClient:
    """One TCP connection to a ZooKeeper server, driven frame by frame."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout_s: float = READ_TIMEOUT_S,
        sock: socket.socket | None = None,
    ) -> None:
        self.sock = sock or socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self._xid = 0
        self.session_id = 0
        self.password = bytes(16)
        self.timeout_ms = 0
        self.notifications: list[jute.WatcherEvent] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # --- bytes ---------------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, count: int) -> None:
        while len(self._buffer) < count:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed(f"closed with {len(self._buffer)} bytes unread")
            self._buffer += chunk

    def read_frame(self) -> bytes:
        """The next frame's payload; ``ConnectionClosed`` if the server closed first."""
        self._fill(4)
        (length,) = _LENGTH.unpack_from(self._buffer)
        self._fill(4 + length)
        payload = bytes(self._buffer[4 : 4 + length])
        del self._buffer[: 4 + length]
        return payload

    def read_all_until_closed(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        data = bytes(self._buffer)
        self._buffer.clear()
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def is_closed_by_server(self) -> bool:
        """True if the server has closed (reads EOF within the timeout)."""
        try:
            self.read_all_until_closed()
        except TimeoutError:
            return False
        return True

    # --- protocol ------------------------------------------------------------------------

    def handshake(
        self,
        timeout_ms: int = 30_000,
        session_id: int = 0,
        password: bytes | None = None,
        last_zxid_seen: int = 0,
    ) -> jute.ConnectResponse:
        request = jute.ConnectRequest(
            0, last_zxid_seen, timeout_ms, session_id, password or bytes(16), False
        )
        self.send_bytes(jute.encode_connect_request(request))
        response = jute.decode_connect_response(self.read_frame())
        self.session_id = response.sessionId
        self.password = response.passwd or bytes(16)
        self.timeout_ms = response.timeOut
        return response

    def next_xid(self) -> int:
        self._xid += 1
        return self._xid

    def send_request(
        self, opcode: int, record: jute.RequestRecord | None = None, xid: int | None = None
    ) -> int:
        xid = self.next_xid() if xid is None else xid
        self.send_bytes(jute.encode_request(jute.RequestHeader(xid, opcode), record))
        return xid

    def read_reply(self, opcode: int) -> jute.Reply:
        """The next reply that is not a notification (notifications are kept aside)."""
        while True:
            reply = jute.decode_reply(self.read_frame(), opcode)
            if reply.header.xid == -1:
                assert isinstance(reply.record, jute.WatcherEvent)
                self.notifications.append(reply.record)
                continue
            return reply

    def call(self, opcode: int, record: jute.RequestRecord | None = None) -> jute.Reply:
        xid = self.send_request(opcode, record)
        reply = self.read_reply(opcode)
        assert reply.header.xid == xid, f"reply xid {reply.header.xid}, expected {xid}"
        return reply

    def ping(self) -> jute.Reply:
        self.send_request(OpCode.ping, None, xid=-2)
        return self.read_reply(OpCode.ping)

    def get_data(self, path: str, watch: bool = False) -> jute.Reply:
        return self.call(OpCode.getData, jute.GetDataRequest(path, watch))

    def create(
        self, path: str, data: bytes = b"", flags: int = 0, acl: tuple[ACL, ...] = OPEN_ACL_UNSAFE
    ) -> jute.Reply:
        return self.call(OpCode.create, jute.CreateRequest(path, data, acl, flags))

    def close_session(self) -> jute.Reply:
        return self.call(OpCode.closeSession)


def connected(host: str, port: int, timeout_ms: int = 30_000) -> RawClient:
    """A client with a fresh session."""
    client = RawClient(host, port)
    try:
        client.handshake(timeout_ms)
    except BaseException:
        client.close()
        raise
    return client


def four_letter_word(host: str, port: int, word: str, timeout_s: float = READ_TIMEOUT_S) -> str:
    """Send a four-letter word; the server's whole answer (it closes the connection)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(word.encode("ascii"))
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace")
