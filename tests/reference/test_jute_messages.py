"""Whole frames: requests as a server decodes them, replies as a client decodes them."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import jute
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.reference.strategies import INT32, MULTI_RESPONSES, replies, requests

STAT = Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)


def payload_of(frame: bytes) -> bytes:
    frames, rest = jute.split_frames(frame)
    assert rest == b""
    assert len(frames) == 1
    return frames[0]


@given(requests())
def test_a_server_decodes_every_request_a_client_encodes(request: jute.Request) -> None:
    frame = jute.encode_request(request.header, request.record)
    assert jute.decode_request(payload_of(frame)) == request


@given(replies())
def test_a_client_decodes_every_reply_a_server_encodes(case: tuple[int, jute.Reply]) -> None:
    opcode, reply = case
    frame = jute.encode_reply(reply.header, reply.record)
    assert jute.decode_reply(payload_of(frame), opcode) == reply


@settings(max_examples=50)
@given(requests())
def test_every_truncated_request_raises_jute_error_with_the_header_once_whole(
    request: jute.Request,
) -> None:
    payload = payload_of(jute.encode_request(request.header, request.record))
    for cut in range(len(payload)):
        with pytest.raises(jute.JuteError) as raised:
            jute.decode_request(payload[:cut])
        expected_header = request.header if cut >= 8 else None
        assert raised.value.request_header == expected_header


@settings(max_examples=50)
@given(replies())
def test_every_truncated_reply_raises_jute_error(case: tuple[int, jute.Reply]) -> None:
    opcode, reply = case
    payload = payload_of(jute.encode_reply(reply.header, reply.record))
    for cut in range(len(payload)):
        with pytest.raises(jute.JuteError):
            jute.decode_reply(payload[:cut], opcode)


@given(st.binary(max_size=64))
def test_random_bytes_into_the_request_decoder_only_raise_jute_error(payload: bytes) -> None:
    try:
        decoded = jute.decode_request(payload)
    except jute.JuteError:
        return
    assert isinstance(decoded, jute.Request | jute.UnknownRequest)


@given(st.sampled_from(sorted(jute.REQUEST_RECORDS)), INT32, st.binary(max_size=64))
def test_random_bodies_after_a_known_header_only_raise_jute_error(
    opcode: int, xid: int, body: bytes
) -> None:
    payload = jute.encode_record(jute.RequestHeader(xid, opcode)) + body
    try:
        decoded = jute.decode_request(payload)
    except jute.JuteError as error:
        assert error.request_header == jute.RequestHeader(xid, opcode)
        return
    assert isinstance(decoded, jute.Request)


@given(requests(), st.data())
def test_corrupted_requests_only_raise_jute_error(
    request: jute.Request, data: st.DataObject
) -> None:
    payload = bytearray(payload_of(jute.encode_request(request.header, request.record)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(jute.JuteError):
        jute.decode_request(bytes(payload))


@given(st.sampled_from(sorted(jute.REPLY_RECORDS)), st.binary(max_size=96))
def test_random_bytes_into_the_reply_decoder_only_raise_jute_error(
    opcode: int, payload: bytes
) -> None:
    with contextlib.suppress(jute.JuteError):
        jute.decode_reply(payload, opcode)


@given(st.binary(max_size=48))
def test_random_bytes_into_the_handshake_decoders_only_raise_jute_error(payload: bytes) -> None:
    for decode in (jute.decode_connect_request, jute.decode_connect_response):
        with contextlib.suppress(jute.JuteError):
            decode(payload)


@pytest.mark.parametrize("opcode", [0, 10, 20, 23, 99, 108, -1, -10, -12, 2**31 - 1])
def test_an_opcode_without_a_client_record_is_an_unknown_request_not_an_error(
    opcode: int,
) -> None:
    payload = jute.encode_record(jute.RequestHeader(7, opcode)) + b"body"
    assert jute.decode_request(payload) == jute.UnknownRequest(
        jute.RequestHeader(7, opcode), b"body"
    )


def test_unknown_request_keeps_the_undecoded_body() -> None:
    payload = b"\x00\x00\x00\x07\x00\x00\x00\x14/a/b"  # deleteContainer: raw path bytes
    assert jute.decode_request(payload) == jute.UnknownRequest(jute.RequestHeader(7, 20), b"/a/b")


@pytest.mark.parametrize("opcode", [OpCode.ping, OpCode.closeSession, OpCode.whoAmI])
def test_ping_close_session_and_who_am_i_have_empty_bodies(opcode: int) -> None:
    frame = jute.encode_request(jute.RequestHeader(-2, opcode))
    assert len(frame) == 12
    assert jute.decode_request(frame[4:]) == jute.Request(jute.RequestHeader(-2, opcode), None)


def test_a_request_frame_shorter_than_its_header_has_no_header_on_the_error() -> None:
    with pytest.raises(jute.JuteError, match="shorter than a RequestHeader") as raised:
        jute.decode_request(b"\x00\x00\x00\x01\x00\x00\x00")
    assert raised.value.request_header is None


def test_a_malformed_body_error_names_the_opcode_and_xid() -> None:
    with pytest.raises(jute.JuteError) as raised:
        jute.decode_request(b"\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\x09/a")
    assert raised.value.request_header == jute.RequestHeader(5, OpCode.getData)
    assert "getData request body, xid 5" in str(raised.value)


def test_bytes_after_a_request_body_are_ignored_as_java_does() -> None:
    frame = jute.encode_request(jute.RequestHeader(3, OpCode.sync), jute.SyncRequest("/a"))
    decoded = jute.decode_request(frame[4:] + b"junk")
    assert decoded == jute.Request(jute.RequestHeader(3, OpCode.sync), jute.SyncRequest("/a"))


def test_a_notification_is_a_watcher_event_whatever_the_pending_opcode() -> None:
    event = jute.WatcherEvent(3, 3, "/a")
    frame = jute.encode_reply(jute.ReplyHeader(-1, -1, 0), event)
    for opcode in (OpCode.getData, OpCode.ping, 12345):
        assert jute.decode_reply(frame[4:], opcode).record == event


def test_an_error_reply_has_no_body() -> None:
    frame = jute.encode_reply(jute.ReplyHeader(9, 100, -101))
    reply = jute.decode_reply(frame[4:], OpCode.exists)
    assert reply == jute.Reply(jute.ReplyHeader(9, 100, -101), None)


@given(MULTI_RESPONSES, st.sampled_from([OpCode.multi, OpCode.multiRead]))
def test_a_multi_error_reply_may_still_carry_results(
    results: jute.MultiResponse, opcode: int
) -> None:
    header = jute.ReplyHeader(4, 10, -5)
    frame = jute.encode_reply(header, results)
    assert jute.decode_reply(frame[4:], opcode) == jute.Reply(header, results)
    assert jute.decode_reply(frame[4:20], opcode) == jute.Reply(header, None)


def test_a_successful_reply_to_an_opcode_without_a_reply_record_is_an_error() -> None:
    with pytest.raises(jute.JuteError, match="no reply record is known for opcode 10"):
        jute.decode_reply(jute.encode_reply(jute.ReplyHeader(1, 1, 0))[4:], 10)


def test_reply_records_per_opcode_follow_final_request_processor() -> None:
    assert jute.REPLY_RECORDS[OpCode.create] is jute.CreateResponse
    for opcode in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
        assert jute.REPLY_RECORDS[opcode] is jute.Create2Response
    assert jute.REPLY_RECORDS[OpCode.reconfig] is jute.GetDataResponse
    assert jute.REPLY_RECORDS[OpCode.addWatch] is jute.ErrorResponse
    for opcode in (OpCode.delete, OpCode.check, OpCode.ping, OpCode.closeSession):
        assert jute.REPLY_RECORDS[opcode] is None
    assert set(jute.REPLY_RECORDS) == set(jute.REQUEST_RECORDS)


# ---------------------------------------------------------------------------------------------
# The handshake


@given(
    st.builds(
        jute.ConnectRequest,
        INT32,
        st.integers(-(2**63), 2**63 - 1),
        INT32,
        st.integers(-(2**63), 2**63 - 1),
        st.none() | st.binary(max_size=16),
        st.none() | st.booleans(),
    )
)
def test_connect_request_round_trips_with_and_without_read_only(
    request: jute.ConnectRequest,
) -> None:
    frame = jute.encode_connect_request(request)
    assert jute.decode_connect_request(payload_of(frame)) == request


def test_read_only_is_one_optional_byte_after_the_record() -> None:
    with_byte = jute.ConnectResponse(0, 4000, 0x1234, bytes(16), False)
    without_byte = jute.ConnectResponse(0, 4000, 0x1234, bytes(16), None)
    assert len(jute.encode_connect_response(with_byte)) == 4 + 37
    assert len(jute.encode_connect_response(without_byte)) == 4 + 36
    old_client = jute.encode_connect_request(jute.ConnectRequest(0, 0, 4000, 0, bytes(16), None))
    assert jute.decode_connect_request(old_client[4:]).readOnly is None


def test_a_truncated_connect_request_is_a_jute_error() -> None:
    frame = jute.encode_connect_request(jute.ConnectRequest(0, 0, 4000, 0, bytes(16), True))
    with pytest.raises(jute.JuteError, match=r"truncated buffer.*\(ConnectRequest\)"):
        jute.decode_connect_request(frame[4:-2])
