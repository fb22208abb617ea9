"""Errors of the jute codec, split by whose fault they are (as h11 does).

* ``JuteError`` — the *bytes* are wrong: truncated, a negative length, an unknown multi
  sub-op, a frame length out of range. It is the only exception a decoder raises, whatever the
  input; ``IndexError``, ``struct.error`` and ``UnicodeDecodeError`` never escape. It is a
  ``ValueError``, says what was wrong and at which offset, and, when the ``RequestHeader`` of a
  request frame decoded before the body failed, carries that header so a server can answer
  the right xid as Apache ZooKeeper does for a malformed body of that opcode
  (MARSHALLINGERROR for most; ``reference.core``).
* ``FrameLengthError`` — a ``JuteError`` raised by frame splitting when a length prefix is
  ``< 0`` or above the configured maximum; Apache ZooKeeper closes the connection without a
  reply (``NIOServerCnxn.readLength``).
* ``JuteEncodeError`` — a record we were asked to *encode* holds a value the wire cannot carry
  (an int out of range, a string that is not valid Unicode, a multi sub-op whose record does not
  match its type). That is a bug on our side, so it is deliberately not a ``JuteError``: a
  server catching ``JuteError`` around decoding never hides it.

Offsets count from the first byte after the 4-byte length prefix (the start of the payload).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference.jute.records import RequestHeader


class JuteError(ValueError):
    """Malformed or truncated jute input; ``offset`` is where decoding found the problem."""

    def __init__(
        self,
        reason: str,
        offset: int,
        *,
        request_header: RequestHeader | None = None,
        context: str = "",
    ) -> None:
        where = f" ({context})" if context else ""
        super().__init__(f"{reason} at offset {offset}{where}")
        self.reason = reason
        self.offset = offset
        self.request_header = request_header
        self.context = context

    def with_context(self, context: str, request_header: RequestHeader | None = None) -> JuteError:
        """The same error, saying which record it happened in (used by the frame decoders)."""
        return JuteError(
            self.reason,
            self.offset,
            request_header=request_header or self.request_header,
            context=context,
        )


class FrameLengthError(JuteError):
    """A frame's length prefix is negative or larger than the maximum frame length.

    ``length`` is the offending value; ``frames`` are the complete frames that preceded it in
    the same buffer (a server processes them, then closes the connection, as Apache ZooKeeper
    handles them one by one before it reads the bad length).
    """

    def __init__(
        self, length: int, max_frame_length: int, offset: int, frames: list[bytes]
    ) -> None:
        super().__init__(
            f"frame length {length} outside 0..{max_frame_length} (jute.maxbuffer)", offset
        )
        self.length = length
        self.max_frame_length = max_frame_length
        self.frames = frames


class JuteEncodeError(ValueError):
    """A record holds a value that cannot be encoded; a bug in the caller, not in the peer."""
