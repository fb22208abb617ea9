"""Watch fan-out: one setData, ``watchers`` sessions notified; the time until the last one.

Measured in user space, that time would include the load generator reading 100 sockets one
after another — about as long, in Python, as the server takes to send the notifications.
So each watcher is a plain non-blocking socket with ``SO_TIMESTAMPNS``: the kernel stamps
every read with the time the data arrived (``CLOCK_REALTIME``), and a notification's
arrival time is that stamp, however late the loop gets to it. The setData's send time is
read with ``time.time_ns()`` (the same clock) just before it is written. Where the option
is missing (not Linux), the time the data is read stands in, and the result says so.

A round: every watcher sends getData with a watch and the round waits for all the replies
(the watches are set); then the writer sends setData and the round waits until every
watcher has had its NodeDataChanged. The next round sets the watches again (they fire once).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from typing import Final

from bench.wire import (
    CONNECT_TIMEOUT_S,
    BenchProtocolError,
    RequestTemplate,
    accept_connect_response,
    connect_frame,
    error_name,
)
from reference.jute import JuteError, WatcherEvent, decode_reply
from spec.events import EventType
from spec.opcodes import OpCode, Xid

SO_TIMESTAMPNS: Final = 35  # Linux <asm-generic/socket.h>; Python does not name it
SCM_TIMESTAMPNS: Final = SO_TIMESTAMPNS
_TIMESPEC: Final = struct.Struct("@qq")
_ANCILLARY_BYTES: Final = socket.CMSG_SPACE(_TIMESPEC.size)
_LENGTH: Final = struct.Struct(">i")
_REPLY_XID: Final = struct.Struct(">i")
RECEIVE_BYTES: Final = 65536
FRAME_BYTES_MAX: Final = 1 << 20


class FanoutRound:
    """Counts what one round waits for: watch acknowledgements, then notifications."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.acks_waiting = 0
        self.notifications_waiting = 0
        self.last_arrival_ns = 0
        self.notifications = 0
        self.acks: asyncio.Future[None] | None = None
        self.notified: asyncio.Future[None] | None = None

    def expect_acks(self, count: int) -> asyncio.Future[None]:
        self.acks_waiting = count
        self.acks = asyncio.get_running_loop().create_future()
        return self.acks

    def expect_notifications(self, count: int) -> asyncio.Future[None]:
        self.notifications_waiting = count
        self.last_arrival_ns = 0
        self.notified = asyncio.get_running_loop().create_future()
        return self.notified

    def acknowledged(self, err: int) -> None:
        if err:
            self.fail(BenchProtocolError(f"getData with a watch answered {error_name(err)}"))
            return
        self.acks_waiting -= 1
        if self.acks_waiting == 0 and self.acks is not None and not self.acks.done():
            self.acks.set_result(None)

    def notified_at(self, event: WatcherEvent, arrival_ns: int) -> None:
        if event.path != self.path or event.type != EventType.NodeDataChanged:
            return
        self.notifications += 1
        self.notifications_waiting -= 1
        self.last_arrival_ns = max(self.last_arrival_ns, arrival_ns)
        notified = self.notified
        if self.notifications_waiting == 0 and notified is not None and not notified.done():
            notified.set_result(None)

    def fail(self, error: Exception) -> None:
        for future in (self.acks, self.notified):
            if future is not None and not future.done():
                future.set_exception(error)


class TimestampedWatcher:
    """One watcher session on a raw socket that reads kernel receive timestamps."""

    def __init__(self, round_: FanoutRound) -> None:
        self.round = round_
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.kernel_timestamps = False
        if sys.platform == "linux":
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel_timestamps = True
            except OSError:
                pass
        self.buffer = bytearray()
        self.handshake: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] | None = None
        self.session_id = 0
        self.next_xid = 1
        self.close_xid = 0
        self.reading = False

    async def open(self, host: str, port: int) -> TimestampedWatcher:
        loop = asyncio.get_running_loop()
        self.handshake = loop.create_future()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await loop.sock_connect(self.sock, (host, port))
                await loop.sock_sendall(self.sock, connect_frame())
                loop.add_reader(self.sock.fileno(), self._readable)
                self.reading = True
                await self.handshake
        except BaseException:
            self.abort()
            raise
        return self

    def send(self, frame: bytes) -> None:
        """Write a small frame (the socket buffer is empty between rounds)."""
        sent = self.sock.send(frame)
        if sent != len(frame):
            raise BenchProtocolError(f"a {len(frame)}-byte request went out partly ({sent})")

    def set_watch(self, template: RequestTemplate) -> None:
        self.send(template.frame(self.next_xid))
        self.next_xid += 1

    async def close(self, timeout_s: float) -> None:
        """closeSession, wait for its reply (bounded), close the socket."""
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        if self.reading:
            try:
                self.close_xid = self.next_xid
                self.send(RequestTemplate(OpCode.closeSession, None).frame(self.close_xid))
                async with asyncio.timeout(timeout_s):
                    await self.closed
            except (OSError, BenchProtocolError, TimeoutError):
                pass
        self.abort()

    def abort(self) -> None:
        if self.reading:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.reading = False
        self.sock.close()

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(RECEIVE_BYTES, _ANCILLARY_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._fail(f"connection lost ({error})")
            return
        if not data:
            self._fail("connection closed by the server")
            return
        arrival_ns = 0
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
                arrival_ns = seconds * 1_000_000_000 + nanoseconds
        if arrival_ns == 0:
            arrival_ns = time.time_ns()
        self.buffer += data
        try:
            self._frames(arrival_ns)
        except (JuteError, struct.error, BenchProtocolError) as error:
            self._fail(f"protocol error: {error}")

    def _frames(self, arrival_ns: int) -> None:
        buffer = self.buffer
        while len(buffer) >= 4:
            (length,) = _LENGTH.unpack_from(buffer, 0)
            if length < 0 or length > FRAME_BYTES_MAX:
                raise BenchProtocolError(f"a frame of {length} bytes")
            if len(buffer) < 4 + length:
                return
            payload = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            if self.session_id == 0:
                self.session_id = accept_connect_response(payload).sessionId
                if self.handshake is not None and not self.handshake.done():
                    self.handshake.set_result(None)
                continue
            (xid,) = _REPLY_XID.unpack_from(payload, 0)
            if xid == Xid.NOTIFICATION:
                reply = decode_reply(payload, OpCode.notification)
                assert isinstance(reply.record, WatcherEvent)
                self.round.notified_at(reply.record, arrival_ns)
            elif xid == self.close_xid and self.close_xid:
                if self.closed is not None and not self.closed.done():
                    self.closed.set_result(None)
            elif xid > 0:
                self.round.acknowledged(decode_reply(payload, OpCode.getData).header.err)

    def _fail(self, what: str) -> None:
        error = BenchProtocolError(what)
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_exception(error)
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        else:
            self.round.fail(error)
        if self.reading:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.reading = False
