"""multi and multiRead: MultiHeader-framed sub-ops and results, as ZOOKEEPER.md §1.11 lays out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import jute
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.reference.strategies import (
    INT32,
    MULTI_READ_REQUESTS,
    MULTI_REQUESTS,
    MULTI_RESPONSES,
    READ_MULTI_OPS,
    WRITE_MULTI_OPS,
)

STAT = Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
TERMINATOR = jute.encode_record(jute.MultiHeader(-1, True, -1))


def multi_header(type_: int, done: bool, err: int) -> bytes:
    return jute.encode_record(jute.MultiHeader(type_, done, err))


@given(MULTI_REQUESTS | MULTI_READ_REQUESTS)
def test_multi_requests_round_trip(request: jute.MultiRequest) -> None:
    assert jute.decode_record(jute.MultiRequest, jute.encode_record(request)) == request


@given(MULTI_RESPONSES)
def test_multi_responses_round_trip(response: jute.MultiResponse) -> None:
    assert jute.decode_record(jute.MultiResponse, jute.encode_record(response)) == response


def test_a_request_is_header_then_record_per_sub_op_then_the_terminator() -> None:
    request = jute.MultiRequest(
        (
            jute.MultiOp(OpCode.delete, jute.DeleteRequest("/a", 3)),
            jute.MultiOp(OpCode.check, jute.CheckVersionRequest("/b", -1)),
        )
    )
    assert jute.encode_record(request) == (
        multi_header(OpCode.delete, False, -1)
        + jute.encode_record(jute.DeleteRequest("/a", 3))
        + multi_header(OpCode.check, False, -1)
        + jute.encode_record(jute.CheckVersionRequest("/b", -1))
        + TERMINATOR
    )
    assert TERMINATOR == b"\xff\xff\xff\xff\x01\xff\xff\xff\xff"


def test_an_empty_multi_is_the_terminator_alone() -> None:
    assert jute.encode_record(jute.MultiRequest(())) == TERMINATOR
    assert jute.decode_record(jute.MultiResponse, TERMINATOR) == jute.MultiResponse(())


def test_an_error_result_carries_its_code_in_the_header_and_an_error_response() -> None:
    response = jute.MultiResponse(
        (
            jute.MultiResult.error(0),
            jute.MultiResult.error(-103),
            jute.MultiResult.error(-2),
        )
    )
    assert jute.encode_record(response) == (
        multi_header(-1, False, 0)
        + b"\x00\x00\x00\x00"
        + multi_header(-1, False, -103)
        + b"\xff\xff\xff\x99"
        + multi_header(-1, False, -2)
        + b"\xff\xff\xff\xfe"
        + TERMINATOR
    )
    assert [result.err for result in response.results] == [0, -103, -2]


def test_successful_results_have_err_0_in_the_header_and_delete_and_check_no_body() -> None:
    response = jute.MultiResponse(
        (
            jute.MultiResult(OpCode.create2, jute.Create2Response("/a", STAT)),
            jute.MultiResult(OpCode.delete, None),
            jute.MultiResult(OpCode.check, None),
        )
    )
    assert jute.encode_record(response) == (
        multi_header(OpCode.create2, False, 0)
        + jute.encode_record(jute.Create2Response("/a", STAT))
        + multi_header(OpCode.delete, False, 0)
        + multi_header(OpCode.check, False, 0)
        + TERMINATOR
    )


@given(INT32, INT32, st.integers(1, 255))
def test_any_header_with_done_set_ends_the_multi_as_in_java(
    type_: int, err: int, done: int
) -> None:
    terminator = type_.to_bytes(4, "big", signed=True) + bytes([done])
    terminator += err.to_bytes(4, "big", signed=True)
    assert jute.decode_record(jute.MultiRequest, terminator) == jute.MultiRequest(())
    assert jute.decode_record(jute.MultiResponse, terminator) == jute.MultiResponse(())


@given(INT32)
def test_an_error_result_s_code_is_read_from_its_error_response(header_err: int) -> None:
    body = multi_header(-1, False, header_err) + b"\xff\xff\xff\x99" + TERMINATOR
    decoded = jute.decode_record(jute.MultiResponse, body)
    assert decoded.results[0].err == -103


@pytest.mark.parametrize("sub_op", [0, 3, 6, 7, 9, 11, 12, 14, 16, 22, 100, -1])
def test_a_sub_op_java_does_not_know_is_a_jute_error(sub_op: int) -> None:
    body = multi_header(sub_op, False, -1) + jute.encode_record(jute.SyncRequest("/a"))
    with pytest.raises(jute.JuteError, match=f"invalid multi sub-op type {sub_op} at offset 0"):
        jute.decode_record(jute.MultiRequest, body + TERMINATOR)


@pytest.mark.parametrize("result_type", [3, 6, 7, 9, 11, 14, 19, 21, 22])
def test_a_result_type_java_does_not_know_is_a_jute_error(result_type: int) -> None:
    with pytest.raises(jute.JuteError, match=f"invalid multi result type {result_type}"):
        jute.decode_record(jute.MultiResponse, multi_header(result_type, False, 0) + TERMINATOR)


@pytest.mark.parametrize("flags", [7, 8, -1, 2**31 - 1])
@pytest.mark.parametrize("sub_op", [OpCode.create, OpCode.create2, OpCode.createContainer])
def test_create_flags_createmode_does_not_know_are_left_to_the_server(
    sub_op: int, flags: int
) -> None:
    # 3.9 refuses such a multi while reading it, 3.8 fails the sub-op (spec.profiles): the
    # codec passes the flags on and the server's profile decides.
    request = jute.MultiRequest(
        (jute.MultiOp(sub_op, jute.CreateRequest("/a", b"", OPEN_ACL_UNSAFE, flags)),)
    )
    encoded = jute.encode_record(request)
    assert jute.decode_record(jute.MultiRequest, encoded) == request


@given(
    st.lists(WRITE_MULTI_OPS, min_size=1, max_size=3),
    st.lists(READ_MULTI_OPS, min_size=1, max_size=3),
    st.booleans(),
)
def test_mixing_read_and_write_sub_ops_is_a_jute_error(
    writes: list[jute.MultiOp], reads: list[jute.MultiOp], reads_first: bool
) -> None:
    ops = reads + writes if reads_first else writes + reads
    encoded = jute.encode_record(jute.MultiRequest(tuple(ops)))
    with pytest.raises(jute.JuteError, match="multi mixes read and write sub-ops"):
        jute.decode_record(jute.MultiRequest, encoded)


def test_the_encoder_refuses_a_sub_op_whose_record_does_not_match_its_type() -> None:
    mismatched = jute.MultiRequest((jute.MultiOp(OpCode.delete, jute.GetDataRequest("/a", False)),))
    with pytest.raises(jute.JuteEncodeError, match="cannot carry a GetDataRequest"):
        jute.encode_record(mismatched)
    for result in (
        jute.MultiResult(OpCode.setData, None),
        jute.MultiResult(OpCode.delete, jute.SetDataResponse(STAT)),
        jute.MultiResult(OpCode.exists, None),
    ):
        with pytest.raises(jute.JuteEncodeError):
            jute.encode_record(jute.MultiResponse((result,)))


def test_a_request_frame_with_multi_decodes_to_a_multi_request() -> None:
    ops = (jute.MultiOp(OpCode.getData, jute.GetDataRequest("/a", False)),)
    header = jute.RequestHeader(12, OpCode.multiRead)
    frame = jute.encode_request(header, jute.MultiRequest(ops))
    assert jute.decode_request(frame[4:]) == jute.Request(header, jute.MultiRequest(ops))
