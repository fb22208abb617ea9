"""Apache ZooKeeper's ``zookeeper.jute``, read and applied as it stands: a second jute codec.

``tests/reference/data/zookeeper.jute`` is ``zookeeper-jute/src/main/resources/zookeeper.jute``
of Apache ZooKeeper at tag ``release-3.9.5`` (commit 293c895a8d966a3ecb92872be4a1daf87d725da2),
byte for byte (``SCHEMA_SHA256`` holds it so). Apache generates its Java records from this
file; ``tests/spec/test_vocabulary.py`` checks it against the generated records of the
installed 3.8 jar (their ``signature()``), which differ only where 3.9 declared ``readOnly``.

This module owes nothing to ``reference.jute``: it parses the schema (``SCHEMA``: record name
→ its fields, in order) and encodes a value of any schema type the way jute's
``BinaryOutputArchive`` does, by walking the declared fields:

* ``int`` 4 bytes, ``long`` 8 bytes, big-endian two's complement; ``boolean`` one byte 0/1;
* ``ustring`` (UTF-8) and ``buffer``: an int length, then the bytes; null is length -1;
* ``vector<T>``: an int count, then the items; null is count -1;
* a record: its fields in declared order, nothing around them.

A record value is a mapping from the schema's own field names to values, and must name every
field and no other (``encode_record`` refuses anything else), so a caller spells out the
record as the schema does. Multi requests and replies are no jute records (Apache's
``MultiOperationRecord``/``MultiResponse`` write ``MultiHeader``s by hand); ``encode_multi``
follows their ``serialize`` methods.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "reference" / "data" / "zookeeper.jute"
SCHEMA_SHA256 = "1b39859417e3ebad1fe3c67bb6d1cae5a5916a0754c3f7859de2a5b343b1e05a"

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_MODULE_OR_CLASS = re.compile(r"module\s+([\w.]+)\s*\{|class\s+(\w+)\s*\{([^}]*)\}")
_FIELD = re.compile(r"([\w.]+(?:\s*<\s*[\w.]+\s*>)?)\s*(\w+)\s*;")
_PRIMITIVE_SIGNATURES = {
    "byte": "b",
    "boolean": "z",
    "int": "i",
    "long": "l",
    "float": "f",
    "double": "d",
    "ustring": "s",
    "buffer": "B",
}


@dataclass(frozen=True)
class RecordDef:
    """One ``class`` of the schema: its module, its name, its (type, name) fields in order."""

    module: str
    name: str
    fields: tuple[tuple[str, str], ...]

    @property
    def java_name(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.fields)


def parse(text: str) -> dict[str, RecordDef]:
    """Record name → definition, for every class of every module (names are unique)."""
    records: dict[str, RecordDef] = {}
    module = ""
    for match in _MODULE_OR_CLASS.finditer(_COMMENTS.sub("", text)):
        if match.group(1) is not None:
            module = match.group(1)
            continue
        name, body = match.group(2), match.group(3)
        fields = tuple((re.sub(r"\s+", "", type_), field) for type_, field in _FIELD.findall(body))
        assert name not in records, f"record {name} declared twice"
        records[name] = RecordDef(module, name, fields)
    return records


def schema_text() -> str:
    return SCHEMA_PATH.read_text(encoding="utf-8")


SCHEMA = parse(schema_text())


def _record_name(type_: str) -> str:
    """``org.apache.zookeeper.data.Stat`` or ``Stat`` → ``Stat``."""
    return type_.rsplit(".", 1)[-1]


def _vector_item(type_: str) -> str | None:
    return type_[len("vector<") : -1] if type_.startswith("vector<") else None


def signature(type_: str) -> str:
    """jute's signature of a type, as its generated Java ``signature()`` returns it:
    ``LStat(lllliiiliil)``, ``[s]`` for ``vector<ustring>``."""
    if type_ in _PRIMITIVE_SIGNATURES:
        return _PRIMITIVE_SIGNATURES[type_]
    item = _vector_item(type_)
    if item is not None:
        return f"[{signature(item)}]"
    record = SCHEMA[_record_name(type_)]
    return f"L{record.name}({''.join(signature(t) for t, _ in record.fields)})"


def encode(type_: str, value: object) -> bytes:
    """One value of schema type ``type_``, as ``BinaryOutputArchive`` writes it."""
    if type_ == "int":
        assert isinstance(value, int)
        return _INT.pack(value)
    if type_ == "long":
        assert isinstance(value, int)
        return _LONG.pack(value)
    if type_ == "boolean":
        assert isinstance(value, bool)
        return b"\x01" if value else b"\x00"
    if type_ in ("ustring", "buffer"):
        if value is None:
            return _INT.pack(-1)
        if type_ == "ustring":
            assert isinstance(value, str)
            raw = value.encode("utf-8")
        else:
            assert isinstance(value, bytes | bytearray)
            raw = bytes(value)
        return _INT.pack(len(raw)) + raw
    item = _vector_item(type_)
    if item is not None:
        if value is None:
            return _INT.pack(-1)
        assert isinstance(value, Sequence) and not isinstance(value, str | bytes)
        return _INT.pack(len(value)) + b"".join(encode(item, element) for element in value)
    assert isinstance(value, Mapping), f"{type_} wants a mapping of its fields, not {value!r}"
    return encode_record(_record_name(type_), value)


def encode_record(name: str, fields: Mapping[str, object]) -> bytes:
    """Record ``name`` with the given field values (exactly the schema's fields)."""
    record = SCHEMA[name]
    assert set(fields) == set(record.field_names), (
        f"{name} declares {record.field_names}, given {tuple(fields)}"
    )
    return b"".join(encode(type_, fields[field]) for type_, field in record.fields)


def multi_header(type_: int, done: bool, err: int) -> bytes:
    return encode_record("MultiHeader", {"type": type_, "done": done, "err": err})


def encode_multi(parts: Sequence[tuple[int, int, bytes]]) -> bytes:
    """A multi body: per part a ``MultiHeader{type, false, err}`` and the part's record
    bytes, then ``MultiHeader{-1, true, -1}`` (``MultiOperationRecord.serialize`` sends
    err -1 in each header, ``MultiResponse.serialize`` the result's error or 0)."""
    body = b"".join(multi_header(type_, False, err) + record for type_, err, record in parts)
    return body + multi_header(-1, True, -1)


def frame(payload: bytes) -> bytes:
    """A frame on the wire: a 4-byte length, then the payload."""
    return _INT.pack(len(payload)) + payload


def schema_is_apaches() -> bool:
    """The copy is still the file it claims to be (see the module docstring)."""
    return hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
