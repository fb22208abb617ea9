"""Framing: the TCP stream is a sequence of ``int32 length (big-endian)`` + ``length`` bytes.

Rules (``NIOServerCnxn.readLength``, ``ClientCnxnSocket.readLength``)
-------------------------------------------------------------------
* Both directions use the same framing; the handshake frames (ConnectRequest /
  ConnectResponse) too.
* A length below 0 or above ``jute.maxbuffer`` (default ``0xfffff`` = 1,048,575 bytes) is
  refused: Apache ZooKeeper closes the connection without a reply. We raise
  ``FrameLengthError`` as soon as the 4 length bytes are in, before the payload arrives.
  (The Java *client* refuses ``length >= maxbuffer``; the server ``length > maxbuffer``. We
  implement the server's rule; pass ``max_frame_length`` to choose another bound.)
* Before the handshake a server first compares the first 4 bytes with the four-letter words
  (``ruok`` = 0x72756f6b, ...); that check belongs to the server, ahead of this module.

Nothing here reads a socket: bytes in, frames out.
"""

from __future__ import annotations

from typing import Final

from reference.jute.errors import FrameLengthError
from reference.jute.primitives import INT

JUTE_MAXBUFFER: Final = 0xFFFFF
"""Apache ZooKeeper's default ``jute.maxbuffer``: the largest frame, in bytes."""

LENGTH_PREFIX_BYTES: Final = 4


def frame(payload: bytes | bytearray) -> bytes:
    """``payload`` with its 4-byte length prefix."""
    return INT.pack(len(payload)) + payload


def _split(view: memoryview, max_frame_length: int) -> tuple[list[bytes], int, int]:
    """Complete frames at the start of ``view``, the bytes they used, and the bytes the
    next frame needs in total (``LENGTH_PREFIX_BYTES`` if its length is not in yet)."""
    frames: list[bytes] = []
    position = 0
    end = len(view)
    unpack_from = INT.unpack_from
    while end - position >= LENGTH_PREFIX_BYTES:
        (length,) = unpack_from(view, position)
        if length < 0 or length > max_frame_length:
            raise FrameLengthError(length, max_frame_length, position, frames)
        stop = position + LENGTH_PREFIX_BYTES + length
        if stop > end:
            return frames, position, LENGTH_PREFIX_BYTES + length
        frames.append(bytes(view[position + LENGTH_PREFIX_BYTES : stop]))
        position = stop
    return frames, position, LENGTH_PREFIX_BYTES


def split_frames(
    buffer: bytes | bytearray | memoryview, max_frame_length: int = JUTE_MAXBUFFER
) -> tuple[list[bytes], bytes]:
    """Split ``buffer`` into its complete frames' payloads and the incomplete remainder.

    Raises ``FrameLengthError`` (a ``JuteError``) at the first length prefix outside
    ``0..max_frame_length``; the frames before it are on the exception (``frames``). The
    error's ``offset`` is the prefix's position in ``buffer``.
    """
    with memoryview(buffer) as view:
        frames, consumed, _ = _split(view, max_frame_length)
        return frames, bytes(view[consumed:])


class FrameReader:
    """Incremental framing for one connection: ``feed`` received bytes, get whole frames.

    Keeps at most one partial frame (bounded by ``max_frame_length`` + 4 bytes) and only
    re-scans once enough bytes for the next frame are in, so a large frame arriving in many
    small reads costs linear time. After a ``FrameLengthError`` the reader stays broken: the
    connection must be closed.
    """

    __slots__ = ("_needed", "_pending", "max_frame_length")

    def __init__(self, max_frame_length: int = JUTE_MAXBUFFER) -> None:
        self.max_frame_length = max_frame_length
        self._pending = bytearray()
        self._needed = LENGTH_PREFIX_BYTES

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add received bytes; return the payloads of the frames they completed."""
        self._pending += data
        if len(self._pending) < self._needed:
            return []
        try:
            with memoryview(self._pending) as view:
                frames, consumed, needed = _split(view, self.max_frame_length)
        except FrameLengthError as error:
            # The frames before the bad prefix are handed out once, on the error.
            del self._pending[: error.offset]
            raise
        del self._pending[:consumed]
        self._needed = needed
        return frames
