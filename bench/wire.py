"""The load generator's side of the wire: precompiled requests and two kinds of session.

A benchmark client must cost much less per request than the server it measures, or it
measures itself. So the hot path here does no decoding and creates no object per request:

* ``RequestTemplate`` / ``PathTemplate`` encode a request once with ``reference.jute`` and keep
  its bytes; a frame for a given xid (and path) is then one ``struct`` pack and a
  concatenation. Changing the codec changes these bytes: nothing is hand-written.
* ``LoadSession`` (an ``asyncio.Protocol``) keeps ``window`` operations outstanding. In
  ``data_received`` it walks every complete reply in the buffer reading only the reply header
  (length, xid, zxid, err) with one precompiled ``struct``, pops the send time of the oldest
  request (replies come in request order), and writes all the requests that replace the
  answered ones with one ``writelines``. No task, future or record per request. An
  operation may be several pipelined requests (create + delete for ephemeral churn); its
  latency ends at its last reply.
* ``CallSession`` gives each request a future and decodes the reply with ``reference.jute``:
  for setup, cleanup, watch registration and the connect+close workload, where clarity is
  worth more than microseconds. It hands notifications to a callback.

Both check that replies arrive in request order (the xid of each reply is the oldest one
sent) and treat anything else as a protocol error that ends the session.
"""

from __future__ import annotations

import asyncio
import struct
from array import array
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from typing import Final, Protocol, cast

from reference.jute import (
    ConnectRequest,
    ConnectResponse,
    FrameReader,
    JuteError,
    Reply,
    RequestHeader,
    RequestRecord,
    SyncRequest,
    WatcherEvent,
    decode_connect_response,
    decode_reply,
    encode_connect_request,
    encode_record,
    encode_request,
)
from spec.errors import Code
from spec.opcodes import OpCode, Xid

SESSION_TIMEOUT_MS: Final = 30_000
"""The session timeout every benchmark session asks for."""

REPLY_FRAME_BYTES_MAX: Final = 64 << 20
"""Largest reply frame a ``CallSession`` accepts (a big getChildren during cleanup)."""

CONNECT_TIMEOUT_S: Final = 10.0

_REPLY_HEAD: Final = struct.Struct(">iiqi")  # frame length, xid, zxid, err
_REPLY_HEAD_BYTES: Final = _REPLY_HEAD.size
_REPLY_HEADER_PAYLOAD_BYTES: Final = _REPLY_HEAD_BYTES - 4
_FRAME_HEAD: Final = struct.Struct(">ii")  # frame length, xid
_LENGTH: Final = struct.Struct(">i")
_PATH_FRAME_HEAD: Final = struct.Struct(">iiii")  # frame length, xid, opcode, path length

_NOT_LAST: Final = -1  # send-time slot of a request that does not end its operation
_CLOSE: Final = -2  # send-time slot of the closeSession request


class BenchProtocolError(Exception):
    """The server broke the protocol (reply out of order, refused session, bad frame)."""


class SessionRefused(BenchProtocolError):
    """The server answered the handshake with an invalid session (timeOut 0): the session
    asked for has expired, or the password is wrong."""


def connect_frame(
    session_id: int = 0,
    password: bytes = bytes(16),
    last_zxid_seen: int = 0,
    timeout_ms: int = SESSION_TIMEOUT_MS,
) -> bytes:
    """The handshake frame of a new session, or of re-attaching ``session_id``."""
    request = ConnectRequest(0, last_zxid_seen, timeout_ms, session_id, password, False)
    return encode_connect_request(request)


def accept_connect_response(payload: bytes) -> ConnectResponse:
    """Decode the server's handshake reply; ``SessionRefused`` if it refused the session."""
    try:
        response = decode_connect_response(payload)
    except JuteError as error:
        raise BenchProtocolError(f"unreadable ConnectResponse: {error}") from None
    if response.timeOut <= 0 or response.sessionId == 0:
        raise SessionRefused("the server refused the session (ConnectResponse timeOut 0)")
    return response


class RequestTemplate:
    """A request whose body never changes: ``frame(xid)`` is a pack and a concatenation."""

    __slots__ = ("length", "opcode", "tail")

    def __init__(self, opcode: int, record: RequestRecord | None) -> None:
        whole = encode_request(RequestHeader(0, opcode), record)
        self.opcode = opcode
        self.length = len(whole) - 4
        self.tail = whole[8:]  # opcode and body

    def frame(self, xid: int) -> bytes:
        return _FRAME_HEAD.pack(self.length, xid) + self.tail


class PathTemplate:
    """A request whose body is a path then fixed bytes (create, delete, ...).

    ``sample`` is the record for the path ``/``; its encoding after the path is kept, so
    ``frame(xid, path)`` costs one pack and two concatenations.
    """

    __slots__ = ("opcode", "tail")

    def __init__(self, opcode: int, sample: RequestRecord) -> None:
        body = encode_record(sample)
        assert body[:5] == b"\x00\x00\x00\x01/", "the sample record must start with path '/'"
        self.opcode = opcode
        self.tail = body[5:]

    def frame(self, xid: int, path: bytes) -> bytes:
        return (
            _PATH_FRAME_HEAD.pack(12 + len(path) + len(self.tail), xid, self.opcode, len(path))
            + path
            + self.tail
        )


def error_name(code: int) -> str:
    """ZooKeeper's name for an error code (``NONODE``), or the number."""
    try:
        return Code(code).name
    except ValueError:
        return str(code)


# --------------------------------------------------------------------------------------------
# Pipelined load


class OperationSource(Protocol):
    """Where a ``LoadSession`` takes its next operation from."""

    requests_per_operation: int

    def next_operation(self, xid: int) -> bytes | None:
        """The frames of one operation, numbered from ``xid``; ``None`` when there are no more."""


class Meter:
    """What every ``LoadSession`` of one worker counts into (one per measured phase).

    Replies that arrive within ``[record_from_ns, record_until_ns)`` are counted and their
    latencies kept; sessions stop issuing operations once a reply arrives after
    ``record_until_ns`` or their source runs dry.
    """

    __slots__ = (
        "completed",
        "completed_total",
        "errors",
        "last_completion_ns",
        "latencies",
        "notifications",
        "record_from_ns",
        "record_until_ns",
    )

    def __init__(
        self, latencies: array[int] | None, record_from_ns: int, record_until_ns: int
    ) -> None:
        # ``latencies``: the histogram's raw buffer, or None not to keep latencies.
        self.latencies = latencies
        self.record_from_ns = record_from_ns
        self.record_until_ns = record_until_ns
        self.completed = 0  # operations completed within the window
        self.completed_total = 0  # all completed operations (progress)
        self.errors: dict[int, int] = {}  # error code -> replies
        self.notifications = 0
        self.last_completion_ns = 0


class LoadSession(asyncio.Protocol):
    """One session that keeps ``window`` operations outstanding (see the module docstring)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.handshake: asyncio.Future[ConnectResponse] = asyncio.get_running_loop().create_future()
        self.session_id = 0
        self.sent: deque[int] = deque()  # send time (ns) of each outstanding request, in order
        self.next_xid = 1
        self.expected_xid = 1
        self.outstanding = 0  # operations sent and not yet completed
        self.window = 1
        self.issuing = False
        self.source: OperationSource | None = None
        self.meter = Meter(None, 0, 0)
        self.drained: asyncio.Future[None] | None = None
        self.closed: asyncio.Future[None] | None = None
        self.failure: str | None = None

    # --- control -------------------------------------------------------------------------

    def run(self, source: OperationSource, meter: Meter, window: int) -> asyncio.Future[None]:
        """Start issuing operations from ``source``; the future is done once none is left
        outstanding after the source ran dry or the meter's window ended."""
        assert self.outstanding == 0 and window >= 1
        self.source = source
        self.meter = meter
        self.window = window
        self.issuing = True
        self.drained = asyncio.get_running_loop().create_future()
        if self.failure is not None:
            self.drained.set_result(None)
        else:
            self._issue(perf_counter_ns())
            self._check_drained()
        return self.drained

    def close_session(self) -> asyncio.Future[None]:
        """Send closeSession; the future is done when it is answered or the connection is gone."""
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        self.issuing = False
        transport = self.transport
        if transport is None or transport.is_closing() or self.failure is not None:
            self.closed.set_result(None)
        else:
            self.sent.append(_CLOSE)
            transport.write(RequestTemplate(OpCode.closeSession, None).frame(self.next_xid))
            self.next_xid += 1
        return self.closed

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(connect_frame())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.failure is None and (self.outstanding or self.closed is None):
            self.failure = f"connection lost ({exc or 'closed by the server'})"
        if not self.handshake.done():
            self.handshake.set_exception(
                BenchProtocolError(self.failure or "connection closed during the handshake")
            )
        for future in (self.drained, self.closed):
            if future is not None and not future.done():
                future.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.session_id == 0:
            self._handshake_received(data)
            return
        buffer = self.buffer
        view: bytes | bytearray = data
        if buffer:
            buffer += data
            view = buffer
        now = perf_counter_ns()
        end = len(view)
        position = 0
        sent = self.sent
        pop_sent = sent.popleft
        unpack = _REPLY_HEAD.unpack_from
        expected = self.expected_xid
        meter = self.meter
        latencies = meter.latencies
        record_from = meter.record_from_ns
        in_window = record_from <= now < meter.record_until_ns
        keep = latencies.append if in_window and latencies is not None else None
        completed = 0
        while end - position >= _REPLY_HEAD_BYTES:
            length, xid, _zxid, err = unpack(view, position)
            stop = position + 4 + length
            if stop > end:
                break
            if length < _REPLY_HEADER_PAYLOAD_BYTES:
                self._protocol_error(f"a reply frame of {length} bytes")
                return
            position = stop
            if xid != expected:
                if xid == Xid.NOTIFICATION:
                    meter.notifications += 1
                    continue
                if xid == Xid.PING:
                    continue
                self._protocol_error(f"reply xid {xid} where {expected} was next")
                return
            expected += 1
            if err:
                errors = meter.errors
                errors[err] = errors.get(err, 0) + 1
            if not sent:
                self._protocol_error(f"reply xid {xid} to no request")
                return
            sent_ns = pop_sent()
            if sent_ns >= 0:
                completed += 1
                if keep is not None and sent_ns >= record_from:
                    keep(now - sent_ns)
            elif sent_ns == _CLOSE and self.closed is not None and not self.closed.done():
                self.closed.set_result(None)
        self.expected_xid = expected
        if buffer:
            del buffer[:position]
        elif position < end:
            buffer += memoryview(data)[position:]
        if completed:
            self.outstanding -= completed
            meter.completed_total += completed
            meter.last_completion_ns = now
            if in_window:
                meter.completed += completed
            if self.issuing:
                if now >= meter.record_until_ns:
                    self.issuing = False
                else:
                    self._issue(now)
            self._check_drained()

    # --- internals -----------------------------------------------------------------------

    def _handshake_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < 4:
            return
        (length,) = _LENGTH.unpack_from(self.buffer, 0)
        if length < 0 or length > 4096:
            self._protocol_error(f"a ConnectResponse frame of {length} bytes")
            return
        if len(self.buffer) < 4 + length:
            return
        payload = bytes(self.buffer[4 : 4 + length])
        del self.buffer[: 4 + length]
        try:
            response = accept_connect_response(payload)
        except BenchProtocolError as error:
            self._protocol_error(str(error))
            return
        self.session_id = response.sessionId
        if not self.handshake.done():
            self.handshake.set_result(response)
        if self.buffer:
            rest = bytes(self.buffer)
            self.buffer.clear()
            self.data_received(rest)

    def _issue(self, now: int) -> None:
        source = self.source
        transport = self.transport
        if source is None or transport is None:
            return
        wanted = self.window - self.outstanding
        if wanted <= 0:
            return
        next_operation = source.next_operation
        sent = self.sent
        xid = self.next_xid
        extra = source.requests_per_operation - 1
        frames: list[bytes] = []
        for _ in range(wanted):
            frame = next_operation(xid)
            if frame is None:
                self.issuing = False
                break
            frames.append(frame)
            if extra:
                sent.extend([_NOT_LAST] * extra)
            sent.append(now)
            xid += extra + 1
        self.next_xid = xid
        if frames:
            self.outstanding += len(frames)
            transport.writelines(frames)

    def _check_drained(self) -> None:
        drained = self.drained
        if (
            not self.issuing
            and self.outstanding == 0
            and drained is not None
            and not drained.done()
        ):
            drained.set_result(None)

    def _protocol_error(self, what: str) -> None:
        self.failure = f"protocol error: {what}"
        if not self.handshake.done():
            self.handshake.set_exception(BenchProtocolError(what))
        self.outstanding = 0
        self.issuing = False
        self.abort()


# --------------------------------------------------------------------------------------------
# Request/reply with futures


NotificationHandler = Callable[[WatcherEvent, int], None]
"""Called with each notification and the time (perf_counter_ns) it was read."""


class CallSession(asyncio.Protocol):
    """A session whose every request returns a future of its decoded ``Reply``."""

    def __init__(
        self, on_notification: NotificationHandler | None = None, connect: bytes | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.connect = connect if connect is not None else connect_frame()
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader(REPLY_FRAME_BYTES_MAX)
        self.handshake: asyncio.Future[ConnectResponse] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.session_id = 0
        self.next_xid = 1
        self.waiting: deque[tuple[int, int, asyncio.Future[Reply]]] = deque()
        self.on_notification = on_notification
        self.failure: str | None = None

    def call(self, opcode: int, record: RequestRecord | None) -> asyncio.Future[Reply]:
        """Send one request; its future gets the reply (whatever its error code)."""
        return self.call_frame(opcode, RequestTemplate(opcode, record))

    def call_frame(self, opcode: int, template: RequestTemplate) -> asyncio.Future[Reply]:
        """Send a precompiled request."""
        return self._send(opcode, template.frame(self.next_xid))

    def call_path(self, template: PathTemplate, path: str) -> asyncio.Future[Reply]:
        return self._send(template.opcode, template.frame(self.next_xid, path.encode()))

    def close_session(self) -> asyncio.Future[Reply]:
        return self.call(OpCode.closeSession, None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _send(self, opcode: int, frame: bytes) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        transport = self.transport
        if transport is None or transport.is_closing() or self.failure is not None:
            future.set_exception(BenchProtocolError(self.failure or "the session is closed"))
            return future
        self.waiting.append((self.next_xid, opcode, future))
        self.next_xid += 1
        transport.write(frame)
        return future

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.connect)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.failure or f"connection lost ({exc or 'closed by the server'})"
        error = BenchProtocolError(reason)
        if not self.handshake.done():
            self.handshake.set_exception(error)
        while self.waiting:
            _, _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = perf_counter_ns()
        try:
            payloads = self.reader.feed(data)
        except JuteError as error:
            self._fail(f"bad frame: {error}")
            return
        for payload in payloads:
            if self.session_id == 0:
                try:
                    response = accept_connect_response(payload)
                except BenchProtocolError as error:
                    self.handshake.set_exception(error)
                    self._fail(str(error))
                    return
                self.session_id = response.sessionId
                self.handshake.set_result(response)
                continue
            try:
                xid = _FRAME_HEAD.unpack_from(payload, 0)[0]
                if xid == Xid.NOTIFICATION:
                    reply = decode_reply(payload, OpCode.notification)
                    if self.on_notification is not None:
                        assert isinstance(reply.record, WatcherEvent)
                        self.on_notification(reply.record, now)
                    continue
                if xid == Xid.PING:
                    continue
                if not self.waiting or self.waiting[0][0] != xid:
                    self._fail(f"reply xid {xid} out of order")
                    return
                _, opcode, future = self.waiting.popleft()
                reply = decode_reply(payload, opcode)
            except (JuteError, struct.error) as error:
                self._fail(f"undecodable reply: {error}")
                return
            if not future.done():
                future.set_result(reply)

    def _fail(self, what: str) -> None:
        self.failure = f"protocol error: {what}"
        if self.transport is not None:
            self.transport.abort()


async def open_call_session(
    host: str,
    port: int,
    on_notification: NotificationHandler | None = None,
    *,
    connect: bytes | None = None,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> CallSession:
    """Connect and complete the handshake (bounded by ``timeout_s``): a new session, or the
    one ``connect`` (a ``connect_frame``) asks for. ``SessionRefused`` if it is refused."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        _, session = await loop.create_connection(
            lambda: CallSession(on_notification, connect), host, port
        )
        try:
            await session.handshake
        except BaseException:
            session.abort()
            raise
    return session


async def open_load_session(host: str, port: int) -> LoadSession:
    """Connect and complete the handshake (bounded by ``CONNECT_TIMEOUT_S``)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        _, session = await loop.create_connection(LoadSession, host, port)
        await session.handshake
    return session


async def close_call_session(session: CallSession, timeout_s: float = 5.0) -> None:
    """closeSession, then close the socket; never raises for a session already gone."""
    try:
        async with asyncio.timeout(timeout_s):
            await session.close_session()
    except (BenchProtocolError, TimeoutError):
        pass
    if session.transport is not None:
        session.transport.close()


async def sync_through(host: tuple[str, int], path: str) -> None:
    """``sync`` of ``path`` through the server at ``host``: once answered, that server has
    applied everything the leader committed before (an ensemble's reads may lag)."""
    session = await open_call_session(*host)
    try:
        check(await session.call(OpCode.sync, SyncRequest(path)), f"sync {path} at {host}")
    finally:
        await close_call_session(session)


def check(reply: Reply, what: str, *allowed: int) -> Reply:
    """``reply`` if its error code is 0 or one of ``allowed``; else ``BenchProtocolError``."""
    err = reply.header.err
    if err != 0 and err not in allowed:
        raise BenchProtocolError(f"{what}: the server answered {error_name(err)}")
    return reply
