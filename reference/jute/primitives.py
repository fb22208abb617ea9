"""Jute primitives: how ints, longs, booleans, buffers, strings and vectors are laid out.

Rules (``zookeeper.jute``; ``org.apache.jute.BinaryInputArchive`` / ``BinaryOutputArchive``)
---------------------------------------------------------------------------------------------
* Everything is big-endian with no padding and no field tags: a record is its fields
  concatenated in declaration order.
* ``int`` is 4 bytes signed, ``long`` 8 bytes signed.
* ``boolean`` is 1 byte. Writers emit 0 or 1; the reader (Java's ``DataInput.readBoolean``)
  takes any non-zero byte as true, and so do we.
* ``buffer`` is an int length then that many bytes. Length -1 means null (``None``), which is
  distinct from the empty buffer ``b""`` (a znode's data can be either).
* ``ustring`` is an int length then that many UTF-8 bytes; -1 means null (``None``).
* ``vector<T>`` is an int count then that many elements; -1 means null (``None``).

How a server reads them: exactly as Apache ZooKeeper's ``BinaryInputArchive`` does
------------------------------------------------------------------------------------
* **-1 is null in every field**: a top-level ``ustring`` or ``buffer``, a ``vector``, an
  element of a ``vector<ustring>`` (``read_ustring_vector``) and both fields of an ACL's
  ``Id``. What a null then means is for the layer that judges the request, as in Apache,
  where the record is read first and the null meets the code that uses it (often a
  ``NullPointerException`` that the server answers with MARSHALLINGERROR; see
  ``reference.core``).
* **A vector count below -1 is an empty vector** (``BinaryIndex.done()`` is ``nelems <= 0``),
  not an error.
* Any other negative string or buffer length is malformed ("Unreasonable length"), and so
  is a field that runs past the end of the payload (``EOFException``): ``JuteError``.
* **Invalid UTF-8 is replaced, not refused, exactly as Java replaces it.** Java decodes with
  ``new String(bytes, UTF_8)``, which substitutes U+FFFD for malformed sequences; so do we
  (``java_utf8``), with Java's rules for how many bytes one U+FFFD stands for (a surrogate
  encoded in three bytes is one, where Python's decoder gives three), so a server built on
  this codec sees the very string Apache ZooKeeper would: it refuses it with the same error
  (BADARGUMENTS for a create) and echoes the same characters (sync, setWatches events).
  Such a string does not re-encode to the original bytes. Java's *writer* sends characters
  outside the BMP as CESU-8 surrogate pairs, which Java's own reader (and ours) turns into
  U+FFFD; we encode standard UTF-8 (``spec/DIVERGENCES.md``).

A client reads replies a little more strictly
---------------------------------------------
Null elements in the string vectors of *replies* (children, ephemerals; ``read_string_vector``)
and null ``ClientInfo`` fields are refused with a ``JuteError``: no server writes them, and a
reply carrying one is a broken server that a conformance client should report, not a name
it can use.

Offsets in errors count from the start of the payload (after the 4-byte frame length).

Performance: every fixed-size field is read with a precompiled ``struct.Struct`` and
``unpack_from`` at an offset into one ``bytes`` object; variable-length fields are sliced once.
A ``Reader`` is created per frame; each field is one method call.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

from reference.jute.errors import JuteError
from spec.acl import ACL, Id
from spec.stat import Stat

INT: Final = struct.Struct(">i")
LONG: Final = struct.Struct(">q")
BOOL: Final = struct.Struct(">?")
STAT: Final = struct.Struct(">qqqqiiiqiiq")

INT_SIZE: Final = 4
STAT_SIZE: Final = STAT.size  # 68 bytes
# Every vector element in the client protocol is at least one int (ustring length, ACL perms,
# ClientInfo's first length), so a count larger than remaining bytes / 4 cannot be honest.
VECTOR_ELEMENT_BYTES_MIN: Final = 4

NULL_LENGTH: Final = -1


class Reader:
    """A cursor over one payload: reads jute primitives, raising ``JuteError`` on bad input."""

    __slots__ = ("buffer", "end", "position")

    def __init__(self, buffer: bytes | bytearray | memoryview, position: int = 0) -> None:
        self.buffer: bytes = buffer if isinstance(buffer, bytes) else bytes(buffer)
        self.position = position
        self.end = len(self.buffer)

    @property
    def remaining(self) -> int:
        """Bytes left between the cursor and the end of the payload."""
        return self.end - self.position

    def truncated(self, what: str, needed: int) -> JuteError:
        """The error for a field that does not fit in what is left."""
        return JuteError(
            f"truncated {what}: needs {needed} bytes, {self.end - self.position} left",
            self.position,
        )

    def unpack(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        """Several fixed-size fields at once (e.g. a whole header) with one ``unpack_from``."""
        try:
            values = layout.unpack_from(self.buffer, self.position)
        except struct.error:
            raise self.truncated(what, layout.size) from None
        self.position += layout.size
        return values

    def read_int(self) -> int:
        try:
            (value,) = INT.unpack_from(self.buffer, self.position)
        except struct.error:
            raise self.truncated("int", 4) from None
        self.position += 4
        return int(value)

    def read_long(self) -> int:
        try:
            (value,) = LONG.unpack_from(self.buffer, self.position)
        except struct.error:
            raise self.truncated("long", 8) from None
        self.position += 8
        return int(value)

    def read_bool(self) -> bool:
        position = self.position
        if position >= self.end:
            raise self.truncated("boolean", 1)
        self.position = position + 1
        return self.buffer[position] != 0

    def _read_length(self, what: str) -> int:
        """A length prefix: -1 (null) or 0..remaining; anything else is malformed."""
        start = self.position
        try:
            (length,) = INT.unpack_from(self.buffer, start)
        except struct.error:
            raise self.truncated(f"{what} length", 4) from None
        self.position = start + 4
        if length < 0:
            if length == NULL_LENGTH:
                return NULL_LENGTH
            raise JuteError(f"negative {what} length {length}", start)
        if length > self.end - self.position:
            raise JuteError(
                f"truncated {what}: length {length} but {self.end - self.position} bytes left",
                start,
            )
        return int(length)

    def read_buffer(self) -> bytes | None:
        length = self._read_length("buffer")
        if length == NULL_LENGTH:
            return None
        start = self.position
        self.position = start + length
        return self.buffer[start : start + length]

    def read_ustring(self) -> str | None:
        length = self._read_length("ustring")
        if length == NULL_LENGTH:
            return None
        start = self.position
        self.position = start + length
        return java_utf8(self.buffer[start : start + length])

    def read_string(self, what: str) -> str:
        """A ustring that must not be null (vector elements, ``Id`` fields)."""
        start = self.position
        value = self.read_ustring()
        if value is None:
            raise JuteError(f"null ustring where {what} is required", start)
        return value

    def read_vector_count(self) -> int:
        """A vector's element count: -1 (null), 0 for any count below -1 (Java's
        ``BinaryIndex`` is done at once), or a count the remaining bytes can hold."""
        start = self.position
        try:
            (count,) = INT.unpack_from(self.buffer, start)
        except struct.error:
            raise self.truncated("vector count", 4) from None
        self.position = start + 4
        if count < 0:
            return NULL_LENGTH if count == NULL_LENGTH else 0
        # Every element takes at least VECTOR_ELEMENT_BYTES_MIN bytes, so a larger count
        # would run out of bytes (Java's EOFException), only later.
        if count * VECTOR_ELEMENT_BYTES_MIN > self.end - self.position:
            raise JuteError(
                f"vector count {count} cannot fit in the {self.end - self.position} bytes left",
                start,
            )
        return int(count)

    def read_ustring_vector(self) -> tuple[str | None, ...] | None:
        """A ``vector<ustring>`` as Apache's server reads it: null elements are kept."""
        count = self.read_vector_count()
        if count == NULL_LENGTH:
            return None
        read_ustring = self.read_ustring
        return tuple([read_ustring() for _ in range(count)])

    def read_string_vector(self) -> tuple[str, ...] | None:
        """A ``vector<ustring>`` of a reply: a null element is refused (see the module
        docstring)."""
        count = self.read_vector_count()
        if count == NULL_LENGTH:
            return None
        read_string = self.read_string
        return tuple([read_string("a vector<ustring> element") for _ in range(count)])

    def read_stat(self) -> Stat:
        try:
            values = STAT.unpack_from(self.buffer, self.position)
        except struct.error:
            raise self.truncated("Stat", STAT_SIZE) from None
        self.position += STAT_SIZE
        return Stat(*values)

    def read_acl(self) -> ACL:
        """One ACL entry; either field of its ``Id`` may be null."""
        perms = self.read_int()
        return ACL(perms, Id(self.read_ustring(), self.read_ustring()))

    def read_acl_vector(self) -> tuple[ACL, ...] | None:
        """An ACL list; a list seen before is returned as the same (immutable) tuple.

        Nearly every create carries one of a few lists (OPEN_ACL_UNSAFE, CREATOR_ALL_ACL,
        ...). The encoding of a list is self-delimiting (a count, then length-prefixed
        fields), so if the bytes at the cursor start with a cached encoding, the list here
        is exactly that one: it is returned without parsing, and znodes created with it
        share one tuple.
        """
        start = self.position
        buffer = self.buffer
        for size in _ACL_VECTOR_SIZES:
            cached = _ACL_VECTORS.get(buffer[start : start + size])
            if cached is not None:
                self.position = start + size
                return cached
        count = self.read_vector_count()
        if count == NULL_LENGTH:
            return None
        read_acl = self.read_acl
        acls = tuple([read_acl() for _ in range(count)])
        size = self.position - start
        if size <= _ACL_VECTOR_BYTES_MAX:
            if len(_ACL_VECTORS) >= _ACL_VECTORS_MAX:
                # Start over rather than keep the first lists forever: odd lists sent early
                # cannot crowd out the common ones for good.
                _ACL_VECTORS.clear()
                _ACL_VECTOR_SIZES.clear()
            _ACL_VECTORS[buffer[start : self.position]] = acls
            if size not in _ACL_VECTOR_SIZES:
                _ACL_VECTOR_SIZES.append(size)
        return acls


def java_utf8(data: bytes) -> str:
    """``new String(data, UTF_8)``: UTF-8 with each malformed sequence replaced as Java does."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _java_utf8_replacing(data)


_REPLACEMENT: Final = "\ufffd"


def _continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _java_utf8_replacing(data: bytes) -> str:
    """JDK 17's ``String.decodeUTF8_UTF16`` with replacement, byte for byte (bytes here are
    unsigned; Java's are signed, hence the ranges instead of Java's shifts)."""
    out: list[str] = []
    end = len(data)
    at = 0
    while at < end:
        b1 = data[at]
        at += 1
        if b1 < 0x80:
            out.append(chr(b1))
        elif 0xC2 <= b1 <= 0xDF:
            if at < end:
                if _continuation(data[at]):
                    out.append(chr(((b1 & 0x1F) << 6) | (data[at] & 0x3F)))
                    at += 1
                else:
                    out.append(_REPLACEMENT)
                continue
            out.append(_REPLACEMENT)
            break
        elif 0xE0 <= b1 <= 0xEF:
            if at + 1 < end:
                b2, b3 = data[at], data[at + 1]
                if (b1 == 0xE0 and b2 & 0xE0 == 0x80) or not (
                    _continuation(b2) and _continuation(b3)
                ):
                    out.append(_REPLACEMENT)
                    # malformed3: the lead alone, or the lead and a continuation byte
                    bad_second = (b1 == 0xE0 and b2 & 0xE0 == 0x80) or not _continuation(b2)
                    at += 0 if bad_second else 1
                else:
                    at += 2
                    char = ((b1 & 0x0F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F)
                    out.append(_REPLACEMENT if 0xD800 <= char <= 0xDFFF else chr(char))
                continue
            if at < end and (
                (b1 == 0xE0 and data[at] & 0xE0 == 0x80) or not _continuation(data[at])
            ):
                out.append(_REPLACEMENT)
                continue
            out.append(_REPLACEMENT)
            break
        elif 0xF0 <= b1 <= 0xF7:
            if at + 2 < end:
                b2, b3, b4 = data[at], data[at + 1], data[at + 2]
                code = ((b1 & 0x07) << 18) | ((b2 & 0x3F) << 12) | ((b3 & 0x3F) << 6) | (b4 & 0x3F)
                valid = _continuation(b2) and _continuation(b3) and _continuation(b4)
                if valid and 0x10000 <= code <= 0x10FFFF:
                    out.append(chr(code))
                    at += 3
                    continue
                out.append(_REPLACEMENT)
                at += _malformed4(b1, b2, b3) - 1
                continue
            if b1 > 0xF4 or (at < end and _malformed4_2(b1, data[at])):
                out.append(_REPLACEMENT)
                continue
            at += 1
            out.append(_REPLACEMENT)
            if at < end and not _continuation(data[at]):
                continue
            break
        else:
            out.append(_REPLACEMENT)
    return "".join(out)


def _malformed4_2(b1: int, b2: int) -> bool:
    return (
        (b1 == 0xF0 and not 0x90 <= b2 <= 0xBF)
        or (b1 == 0xF4 and b2 & 0xF0 != 0x80)
        or not _continuation(b2)
    )


def _malformed4(b1: int, b2: int, b3: int) -> int:
    """How many bytes Java's one U+FFFD stands for, for a malformed 4-byte sequence."""
    if b1 > 0xF4 or _malformed4_2(b1, b2):
        return 1
    return 2 if not _continuation(b3) else 3


# The ACL lists read lately, by their encoding (``Reader.read_acl_vector``); bounded, and
# only short lists: the cache is for the few lists every client sends.
_ACL_VECTORS: dict[bytes, tuple[ACL, ...]] = {}
_ACL_VECTOR_SIZES: list[int] = []
_ACL_VECTORS_MAX = 16
_ACL_VECTOR_BYTES_MAX = 256


# Writers append to a bytearray. Range errors surface as struct.error / UnicodeEncodeError and
# are turned into JuteEncodeError by the public encode functions (one try per frame).


def write_int(out: bytearray, value: int) -> None:
    out += INT.pack(value)


def write_long(out: bytearray, value: int) -> None:
    out += LONG.pack(value)


def write_bool(out: bytearray, value: bool) -> None:
    out.append(1 if value else 0)


def write_buffer(out: bytearray, value: bytes | None) -> None:
    if value is None:
        out += INT.pack(NULL_LENGTH)
    else:
        out += INT.pack(len(value))
        out += value


def write_ustring(out: bytearray, value: str | None) -> None:
    if value is None:
        out += INT.pack(NULL_LENGTH)
    else:
        encoded = value.encode("utf-8")
        out += INT.pack(len(encoded))
        out += encoded


def write_string_vector(out: bytearray, values: Sequence[str | None] | None) -> None:
    if values is None:
        out += INT.pack(NULL_LENGTH)
        return
    out += INT.pack(len(values))
    for value in values:
        if value is None:
            out += INT.pack(NULL_LENGTH)
            continue
        encoded = value.encode("utf-8")
        out += INT.pack(len(encoded))
        out += encoded


def write_stat(out: bytearray, stat: Stat) -> None:
    out += STAT.pack(
        stat.czxid,
        stat.mzxid,
        stat.ctime,
        stat.mtime,
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.ephemeralOwner,
        stat.dataLength,
        stat.numChildren,
        stat.pzxid,
    )


def write_acl(out: bytearray, acl: ACL) -> None:
    out += INT.pack(acl.perms)
    write_ustring(out, acl.id.scheme)
    write_ustring(out, acl.id.id)


def write_acl_vector(out: bytearray, acls: Sequence[ACL] | None) -> None:
    if acls is None:
        out += INT.pack(NULL_LENGTH)
        return
    out += INT.pack(len(acls))
    for acl in acls:
        write_acl(out, acl)
