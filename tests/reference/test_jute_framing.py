"""Framing: int32 big-endian length + payload; lengths < 0 or > jute.maxbuffer are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import jute

PAYLOADS = st.lists(st.binary(max_size=40), max_size=6)


def test_a_frame_is_the_big_endian_length_then_the_payload() -> None:
    assert jute.frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert jute.frame(b"") == b"\x00\x00\x00\x00"


@given(PAYLOADS, st.binary(max_size=3))
def test_split_frames_returns_every_complete_frame_and_the_rest(
    payloads: list[bytes], partial_length: bytes
) -> None:
    stream = b"".join(jute.frame(p) for p in payloads)
    assert jute.split_frames(stream + partial_length) == (payloads, partial_length)
    assert jute.split_frames(bytearray(stream)) == (payloads, b"")
    assert jute.split_frames(memoryview(stream)) == (payloads, b"")


@given(PAYLOADS, st.data())
def test_a_frame_reader_fed_in_any_chunks_yields_the_same_frames(
    payloads: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(jute.frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = jute.FrameReader()
    received: list[bytes] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += reader.feed(stream[start:stop])
    assert received == payloads
    assert reader.pending_bytes == 0


def test_a_partial_frame_waits_for_the_rest() -> None:
    reader = jute.FrameReader()
    assert reader.feed(b"\x00\x00") == []
    assert reader.feed(b"\x00\x05ab") == []
    assert reader.pending_bytes == 6
    assert reader.feed(b"cde\x00") == [b"abcde"]
    assert reader.pending_bytes == 1


@pytest.mark.parametrize("length", [-1, -(2**31), jute.JUTE_MAXBUFFER + 1, 2**31 - 1])
def test_a_length_out_of_range_is_refused_before_the_payload_arrives(length: int) -> None:
    prefix = length.to_bytes(4, "big", signed=True)
    with pytest.raises(jute.FrameLengthError) as raised:
        jute.split_frames(jute.frame(b"ok") + prefix)
    error = raised.value
    assert isinstance(error, jute.JuteError)
    assert error.length == length
    assert error.offset == 6
    assert error.frames == [b"ok"]


def test_four_letter_words_are_not_frames() -> None:
    with pytest.raises(jute.FrameLengthError, match="frame length 1920298859"):
        jute.FrameReader().feed(b"ruok")


def test_the_largest_frame_is_jute_maxbuffer_and_the_bound_is_configurable() -> None:
    largest = jute.frame(bytes(jute.JUTE_MAXBUFFER))
    assert jute.split_frames(largest) == ([bytes(jute.JUTE_MAXBUFFER)], b"")
    with pytest.raises(jute.FrameLengthError):
        jute.split_frames(jute.frame(b"12345"), max_frame_length=4)
    assert jute.split_frames(jute.frame(b"1234"), max_frame_length=4) == ([b"1234"], b"")


def test_a_frame_reader_hands_out_frames_before_a_bad_length_once() -> None:
    reader = jute.FrameReader()
    with pytest.raises(jute.FrameLengthError) as raised:
        reader.feed(jute.frame(b"a") + jute.frame(b"b") + b"\xff\xff\xff\xfe")
    assert raised.value.frames == [b"a", b"b"]
    with pytest.raises(jute.FrameLengthError) as again:
        reader.feed(b"more")
    assert again.value.frames == []


@given(st.binary(max_size=64))
def test_random_bytes_split_into_frames_or_raise_frame_length_error(stream: bytes) -> None:
    try:
        frames, rest = jute.split_frames(stream)
    except jute.FrameLengthError:
        return
    assert b"".join(jute.frame(f) for f in frames) + rest == stream
