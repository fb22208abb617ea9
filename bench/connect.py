"""The connect+close workload: sessions opened and closed back to back, as cheaply as we can.

One operation is what a client does to use a session once: TCP connect, ConnectRequest,
wait for the ConnectResponse, closeSession, wait for its reply, close the socket. With
asyncio transports and futures that costs the load generator about as much CPU as the
server spends, so each client here is a small state machine on a plain non-blocking socket
driven by ``add_writer``/``add_reader`` callbacks: no transport, task or future per session.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from time import perf_counter_ns
from typing import Final

from bench.wire import (
    BenchProtocolError,
    Meter,
    RequestTemplate,
    accept_connect_response,
    connect_frame,
)
from spec.opcodes import OpCode

FAILURES_MAX: Final = 100
"""A client stops after this many failed sessions (the reasons are reported)."""
RETRY_DELAY_S: Final = 0.01
_LENGTH: Final = struct.Struct(">i")
_REPLY_XID: Final = struct.Struct(">i")
_CONNECT: Final = connect_frame()
_CLOSE_XID: Final = 1
_CLOSE: Final = RequestTemplate(OpCode.closeSession, None).frame(_CLOSE_XID)
_HANDSHAKE = 0
_CLOSING = 1
RECEIVE_BYTES: Final = 4096


def resolve(host: str, port: int) -> tuple[int, tuple[str, int]]:
    """The address family and socket address to connect to (resolved once, not per session)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return int(family), (str(address[0]), int(address[1]))


class ConnectCloseClient:
    """One client of the connect workload (see the module docstring)."""

    def __init__(
        self,
        family: int,
        address: tuple[str, int],
        meter: Meter,
        quota: int,
        done: asyncio.Future[None],
        failures: dict[str, int],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.family = family
        self.address = address
        self.meter = meter
        self.remaining = quota
        self.done = done
        self.failures = failures
        self.failed = 0
        self.sock: socket.socket | None = None
        self.state = _HANDSHAKE
        self.buffer = bytearray()
        self.started_ns = 0
        self.watching: str = ""  # "", "reader" or "writer"

    def start(self) -> None:
        self._begin()

    def abort(self) -> None:
        """Stop now (closing the socket of a session in progress)."""
        self._drop_socket()
        if not self.done.done():
            self.done.set_result(None)

    # --- the state machine ---------------------------------------------------------------

    def _begin(self) -> None:
        now = perf_counter_ns()
        if self.remaining <= 0 or now >= self.meter.record_until_ns or self.done.done():
            self.abort()
            return
        self.started_ns = now
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.state = _HANDSHAKE
        self.buffer.clear()
        code = sock.connect_ex(self.address)
        if code not in (0, errno.EINPROGRESS):
            self._fail(f"connect: {errno.errorcode.get(code, code)}")
            return
        self.loop.add_writer(sock.fileno(), self._connected)
        self.watching = "writer"

    def _connected(self) -> None:
        sock = self.sock
        assert sock is not None
        self.loop.remove_writer(sock.fileno())
        self.watching = ""
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(f"connect: {errno.errorcode.get(code, code)}")
            return
        try:
            sock.send(_CONNECT)
        except OSError as error:
            self._fail(f"send: {error}")
            return
        self.loop.add_reader(sock.fileno(), self._readable)
        self.watching = "reader"

    def _readable(self) -> None:
        sock = self.sock
        assert sock is not None
        try:
            data = sock.recv(RECEIVE_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._fail(f"receive: {error}")
            return
        if not data:
            self._fail("closed by the server")
            return
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            (length,) = _LENGTH.unpack_from(buffer, 0)
            if len(buffer) < 4 + length:
                return
            payload = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            if self.state == _HANDSHAKE:
                try:
                    accept_connect_response(payload)
                    sock.send(_CLOSE)
                except (BenchProtocolError, OSError) as error:
                    self._fail(str(error))
                    return
                self.state = _CLOSING
            elif len(payload) >= 4 and _REPLY_XID.unpack_from(payload, 0)[0] == _CLOSE_XID:
                self._finished()
                return

    def _finished(self) -> None:
        self._drop_socket()
        finished = perf_counter_ns()
        self.remaining -= 1
        meter = self.meter
        meter.completed_total += 1
        meter.last_completion_ns = finished
        if meter.record_from_ns <= finished < meter.record_until_ns:
            meter.completed += 1
            if self.started_ns >= meter.record_from_ns and meter.latencies is not None:
                meter.latencies.append(finished - self.started_ns)
        self._begin()

    def _fail(self, reason: str) -> None:
        self._drop_socket()
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.failed += 1
        if self.failed >= FAILURES_MAX:
            self.abort()
        else:
            self.loop.call_later(RETRY_DELAY_S, self._begin)

    def _drop_socket(self) -> None:
        sock = self.sock
        if sock is None:
            return
        if self.watching == "reader":
            self.loop.remove_reader(sock.fileno())
        elif self.watching == "writer":
            self.loop.remove_writer(sock.fileno())
        self.watching = ""
        sock.close()
        self.sock = None
