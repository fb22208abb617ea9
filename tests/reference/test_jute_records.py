"""Every jute record: decoding what we encode gives back the record; every cut is an error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import jute
from reference.jute.primitives import Reader, write_acl_vector
from spec.acl import ACL, Id
from spec.stat import Stat
from tests.reference.strategies import RECORD_STRATEGIES, STATS

RECORD_TYPES = sorted(RECORD_STRATEGIES, key=lambda record_type: record_type.__name__)
OPTIONAL_TAIL_TYPES = (jute.ConnectRequest, jute.ConnectResponse)


def test_every_record_class_of_the_codec_has_a_strategy() -> None:
    exported = [getattr(jute, name) for name in jute.__all__]
    record_classes = {
        value
        for value in exported
        if isinstance(value, type) and hasattr(value, "read") and hasattr(value, "write")
    }
    record_classes -= {jute.Reader, jute.Record}
    assert record_classes == set(RECORD_STRATEGIES)


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.__name__)
@given(data=st.data())
def test_decode_of_encode_is_the_record(record_type: type[Any], data: st.DataObject) -> None:
    record = data.draw(RECORD_STRATEGIES[record_type])
    encoded = jute.encode_record(record)
    assert jute.decode_record(record_type, encoded) == record


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=30)
@given(data=st.data())
def test_every_truncation_of_a_record_raises_jute_error(
    record_type: type[Any], data: st.DataObject
) -> None:
    record = data.draw(RECORD_STRATEGIES[record_type])
    encoded = jute.encode_record(record)
    for cut in range(len(encoded)):
        optional_tail = record_type in OPTIONAL_TAIL_TYPES and record.readOnly is not None
        if optional_tail and cut == len(encoded) - 1:
            # Without its last byte the record is the same one, readOnly absent.
            assert jute.decode_record(record_type, encoded[:cut]).readOnly is None
            continue
        with pytest.raises(jute.JuteError):
            jute.decode_record(record_type, encoded[:cut])


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=20)
@given(data=st.data(), extra=st.binary(min_size=1, max_size=8))
def test_trailing_bytes_after_a_record_are_refused_unless_allowed(
    record_type: type[Any], data: st.DataObject, extra: bytes
) -> None:
    record = data.draw(RECORD_STRATEGIES[record_type])
    if record_type in OPTIONAL_TAIL_TYPES and record.readOnly is None:
        return  # an extra byte there is the readOnly byte
    encoded = jute.encode_record(record)
    with pytest.raises(jute.JuteError, match="after the end of the record"):
        jute.decode_record(record_type, encoded + extra)
    assert jute.decode_record(record_type, encoded + extra, allow_trailing=True) == record


@given(STATS)
def test_a_stat_is_68_bytes_in_wire_order(stat: Stat) -> None:
    encoded = jute.encode_record(jute.ExistsResponse(stat))
    assert len(encoded) == 68
    assert Reader(encoded).read_stat() == stat


def test_null_and_empty_are_distinct_for_buffers_strings_and_vectors() -> None:
    null = jute.GetDataResponse(None, Stat(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    empty = jute.GetDataResponse(b"", null.stat)
    assert jute.encode_record(null)[:4] == b"\xff\xff\xff\xff"
    assert jute.encode_record(empty)[:4] == b"\x00\x00\x00\x00"
    assert jute.decode_record(jute.GetDataResponse, jute.encode_record(null)).data is None
    assert jute.decode_record(jute.GetDataResponse, jute.encode_record(empty)).data == b""
    assert jute.encode_record(jute.SyncRequest(None)) == b"\xff\xff\xff\xff"
    assert jute.encode_record(jute.SyncRequest("")) == b"\x00\x00\x00\x00"
    assert jute.encode_record(jute.GetChildrenResponse(None)) == b"\xff\xff\xff\xff"
    assert jute.encode_record(jute.GetChildrenResponse(())) == b"\x00\x00\x00\x00"


def test_strings_are_utf8_on_the_wire() -> None:
    assert (
        jute.encode_record(jute.SyncRequest("/é😀")) == b"\x00\x00\x00\x07/\xc3\xa9\xf0\x9f\x98\x80"
    )


def test_any_non_zero_byte_is_true_as_javas_readboolean() -> None:
    decoded = jute.decode_record(jute.ExistsRequest, b"\x00\x00\x00\x02/a\x7f")
    assert decoded == jute.ExistsRequest("/a", True)


def test_invalid_utf8_is_replaced_as_java_does() -> None:
    # An unpaired continuation byte, and a CESU-8 surrogate half as Java's writer emits: Java
    # replaces the three bytes of the surrogate with one U+FFFD (Python's "replace": three).
    decoded = jute.decode_record(jute.SyncRequest, b"\x00\x00\x00\x05/\x80\xed\xa0\xbd")
    assert decoded == jute.SyncRequest("/\ufffd\ufffd")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xff\xff\xfe", "negative ustring length -2"),
        (b"\x80\x00\x00\x00", "negative ustring length"),
        (b"\x00\x00\x00\x05/a", "truncated ustring"),
        (b"\x7f\xff\xff\xff", "truncated ustring"),
    ],
)
def test_bad_string_lengths_are_jute_errors(payload: bytes, reason: str) -> None:
    with pytest.raises(jute.JuteError, match=reason) as raised:
        jute.decode_record(jute.SyncRequest, payload)
    assert raised.value.offset == 0


def test_a_vector_count_larger_than_the_bytes_left_is_refused_before_reading() -> None:
    with pytest.raises(jute.JuteError, match="vector count 1000000 cannot fit"):
        jute.decode_record(jute.GetChildrenResponse, b"\x00\x0f\x42\x40" + b"\x00" * 16)


@pytest.mark.parametrize("count", [-2, -5, -(2**31)])
def test_a_vector_count_below_minus_one_is_an_empty_vector(count: int) -> None:
    # BinaryIndex.done() is nelems <= 0: Java reads no element and no error.
    encoded = count.to_bytes(4, "big", signed=True)
    assert jute.decode_record(jute.GetChildrenResponse, encoded) == jute.GetChildrenResponse(())
    body = b"\x00" * 8 + encoded * 5
    assert jute.decode_record(jute.SetWatches2, body) == jute.SetWatches2(0, (), (), (), (), ())
    acl_request = b"\x00\x00\x00\x02/a" + encoded + b"\x00\x00\x00\x00"
    assert jute.decode_record(jute.SetACLRequest, acl_request) == jute.SetACLRequest("/a", (), 0)


def test_null_entries_of_request_vectors_and_acl_ids_decode_as_none() -> None:
    null = b"\xff\xff\xff\xff"
    body = b"\x00" * 8 + b"\x00\x00\x00\x02" + null + b"\x00\x00\x00\x02/a" + null + null
    assert jute.decode_record(jute.SetWatches, body) == jute.SetWatches(0, (None, "/a"), None, None)
    acl_with_nulls = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x1f" + null * 2
    decoded = jute.decode_record(jute.SetACLRequest, null + acl_with_nulls + b"\x00" * 4)
    assert decoded == jute.SetACLRequest(None, (ACL(31, Id(None, None)),), 0)


def test_null_entries_in_reply_vectors_are_refused() -> None:
    with pytest.raises(jute.JuteError, match="vector<ustring> element"):
        jute.decode_record(jute.GetChildrenResponse, b"\x00\x00\x00\x01\xff\xff\xff\xff")
    with pytest.raises(jute.JuteError, match=r"ClientInfo\.user"):
        jute.decode_record(jute.WhoAmIResponse, b"\x00\x00\x00\x01\x00\x00\x00\x00\xff\xff\xff\xff")


def test_errors_say_what_and_where() -> None:
    with pytest.raises(jute.JuteError) as raised:
        jute.decode_record(jute.SetDataRequest, b"\x00\x00\x00\x02/a\x00\x00\x00\x03ab")
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.offset == 6
    assert str(error) == "truncated buffer: length 3 but 2 bytes left at offset 6 (SetDataRequest)"


@pytest.mark.parametrize(
    "record",
    [
        jute.DeleteRequest("/a", 2**31),
        jute.CreateTTLRequest("/a", b"", None, 0, 2**63),
        jute.SyncRequest("\ud800"),
        jute.GetChildrenResponse(("\udfff",)),
    ],
)
def test_values_the_wire_cannot_carry_raise_jute_encode_error(record: Any) -> None:
    with pytest.raises(jute.JuteEncodeError):
        jute.encode_record(record)
    with pytest.raises(jute.JuteEncodeError):
        jute.encode_request(jute.RequestHeader(1, 2), record)


def test_an_acl_list_read_again_is_the_same_tuple_and_never_confused_with_a_longer_one() -> None:
    one = (ACL(31, Id("world", "anyone")),)
    two = (*one, ACL(1, Id("digest", "bob:x")))
    encoded_one, encoded_two = bytearray(), bytearray()
    write_acl_vector(encoded_one, one)
    write_acl_vector(encoded_two, two)
    first = Reader(bytes(encoded_one) + b"tail").read_acl_vector()
    again = Reader(bytes(encoded_one)).read_acl_vector()
    assert first == one and again is first
    reader = Reader(bytes(encoded_two))
    assert reader.read_acl_vector() == two and reader.remaining == 0
    # A cut inside a list that starts like a known one is still an error.
    with pytest.raises(jute.JuteError):
        Reader(bytes(encoded_one[:-1])).read_acl_vector()
