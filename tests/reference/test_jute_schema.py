"""Our hand-written records against Apache ZooKeeper's own schema.

``data/zookeeper.jute`` is Apache's schema (where it comes from, and how it is held to that:
``tests.support.jute_schema``). This test reads it with a small generic jute interpreter
(separate from the codec) and checks, for every record we have, that what we encode is what the
schema says: the same field names in the same order, each of the declared type and width.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import jute
from tests.reference.golden import normal
from tests.reference.strategies import RECORD_STRATEGIES
from tests.support.jute_schema import SCHEMA, schema_is_apaches

# MultiRequest and MultiResponse are Java classes (MultiOperationRecord, MultiResponse).
SCHEMA_RECORD_TYPES: list[type[Any]] = sorted(
    set(RECORD_STRATEGIES) - {jute.MultiRequest, jute.MultiResponse},
    key=lambda record_type: record_type.__name__,
)


def interpret(type_: str, data: bytes, position: int) -> tuple[Any, int]:
    """Decode one value of jute type ``type_`` straight from the schema, in normal form."""
    if type_ == "int":
        return struct.unpack_from(">i", data, position)[0], position + 4
    if type_ == "long":
        return struct.unpack_from(">q", data, position)[0], position + 8
    if type_ == "boolean":
        return data[position] != 0, position + 1
    if type_ in ("buffer", "ustring"):
        (length,) = struct.unpack_from(">i", data, position)
        position += 4
        if length == -1:
            return None, position
        raw = data[position : position + length]
        assert len(raw) == length
        return (raw.hex() if type_ == "buffer" else raw.decode("utf-8")), position + length
    if type_.startswith("vector<"):
        (count,) = struct.unpack_from(">i", data, position)
        position += 4
        if count == -1:
            return None, position
        items = []
        for _ in range(count):
            item, position = interpret(type_[len("vector<") : -1], data, position)
            items.append(item)
        return items, position
    record: dict[str, Any] = {}
    for field_type, field_name in SCHEMA[type_.rsplit(".", 1)[-1]].fields:
        record[field_name], position = interpret(field_type, data, position)
    return record, position


def test_the_schema_file_is_apaches_release_3_9_5_unchanged() -> None:
    assert schema_is_apaches()


def test_the_schema_file_is_parsed() -> None:
    assert SCHEMA["Stat"].fields[0] == ("long", "czxid")
    assert SCHEMA["SetWatches"].fields[1] == ("vector<ustring>", "dataWatches")
    assert SCHEMA["CreateRequest"].fields[2] == ("vector<org.apache.zookeeper.data.ACL>", "acl")
    assert SCHEMA["CreateRequest"].java_name == "org.apache.zookeeper.proto.CreateRequest"


@pytest.mark.parametrize(
    "record_type",
    SCHEMA_RECORD_TYPES,
    ids=[record_type.__name__ for record_type in SCHEMA_RECORD_TYPES],
)
@settings(max_examples=40)
@given(data=st.data())
def test_what_we_encode_is_what_zookeeper_jute_declares(
    record_type: type[Any], data: st.DataObject
) -> None:
    strategy = RECORD_STRATEGIES[record_type]
    if record_type in (jute.ConnectRequest, jute.ConnectResponse):
        # 3.9's schema declares readOnly; None (byte absent) is the pre-3.9 form.
        strategy = strategy.filter(lambda record: record.readOnly is not None)
    record = data.draw(strategy)
    encoded = jute.encode_record(record)
    decoded, end = interpret(record_type.__name__, encoded, 0)
    assert end == len(encoded)
    assert decoded == normal(record)
