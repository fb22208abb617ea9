"""Histories survive being written and read back: every spec value, every event, losslessly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from conformance.codec import CodecError, decode_operation, decode_reply, encode_value
from conformance.history import (
    Header,
    History,
    HistoryFormatError,
    HistoryRecorder,
    OpEvent,
    decode_event,
    encode_event,
    load_history,
)
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from tests.conformance.strategies import events, operations, replies


def _through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@given(operations)
def test_every_operation_round_trips_through_json(op: rq.Operation) -> None:
    assert decode_operation(_through_json(encode_value(op))) == op


@given(replies)
def test_every_reply_round_trips_through_json(reply: rq.Reply) -> None:
    decoded = decode_reply(_through_json(encode_value(reply)))
    assert decoded == reply
    assert type(decoded.body) is type(reply.body)


@settings(max_examples=300)
@given(events)
def test_every_history_event_round_trips_through_json(event: Any) -> None:
    assert decode_event(_through_json(encode_event(event))) == event


def test_null_data_and_empty_data_stay_apart() -> None:
    null = rq.SetData("/a", None)
    empty = rq.SetData("/a", b"")
    assert encode_value(null)["data"] is None
    assert encode_value(empty)["data"] == ""
    assert decode_operation(_through_json(encode_value(null))) == null
    assert decode_operation(_through_json(encode_value(empty))) == empty


def test_a_field_named_type_does_not_clash_with_the_tag() -> None:
    op = rq.RemoveWatches("/a", 2)
    assert decode_operation(_through_json(encode_value(op))) == op


def test_an_error_code_the_spec_does_not_know_survives() -> None:
    reply = rq.Reply(7, -126, None)  # type: ignore[arg-type]
    assert decode_reply(_through_json(encode_value(reply))).err == -126


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"$type": "GetData", "path": "/a"}, "lacks 'watch'"),
        ({"$type": "GetData", "path": "/a", "watch": 1}, "true or false"),
        ({"$type": "GetData", "path": 5, "watch": True}, "expected a string"),
        ({"$type": "Nope"}, "not allowed here"),
        ({"$type": "SetData", "path": "/a", "data": "zz", "version": 1}, "not a hex string"),
        ({"$type": "GetData", "path": "/a", "watch": True, "extra": 1}, "unknown members"),
    ],
)
def test_malformed_operations_are_refused_with_where(data: Any, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_operation(data)


def _op(op_id: int) -> OpEvent:
    return OpEvent(
        op_id,
        "c",
        1,
        "127.0.0.1:2181",
        5,
        op_id,
        rq.Create("/a", b"x", OPEN_ACL_UNSAFE, 0),
        10,
        20,
        "ok",
        rq.Reply(3, Code.OK, rq.CreateResponse("/a")),
        2,
    )


def test_a_recorded_history_reads_back_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    recorder = HistoryRecorder(path, Header(profile="3.8", hosts=("h:1",)))
    recorder.record(_op(1))
    recorder.record(_op(2))
    recorder.close()
    loaded = load_history(path)
    assert loaded.header.profile == "3.8"
    assert loaded.ops == [_op(1), _op(2)]
    assert recorder.history().ops == loaded.ops
    again = tmp_path / "again.jsonl"
    loaded.dump(again)
    assert load_history(again).ops == loaded.ops


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["not json"], "not JSON"),
        ([json.dumps(encode_event(_op(1)))], "the first event"),
        ([json.dumps(encode_event(Header())), json.dumps({"event": "bogus"})], "unknown event"),
        ([json.dumps(encode_event(Header(format=7)))], "history format 7"),
        ([], "no header"),
    ],
)
def test_bad_histories_are_refused(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryFormatError, match=message):
        load_history(path)


def test_an_op_claiming_ok_without_a_reply_is_refused() -> None:
    data = encode_event(_op(1))
    data["reply"] = None
    with pytest.raises(HistoryFormatError, match="but no reply"):
        decode_event(data)


def test_an_op_whose_outcome_contradicts_its_error_is_refused() -> None:
    data = encode_event(_op(1))
    data["outcome"] = "error"
    with pytest.raises(HistoryFormatError, match="err 0"):
        decode_event(data)


def test_events_come_back_in_time_order_after_the_header() -> None:
    history = History(Header())
    history.add(_op(2))
    history.add(_op(1))
    events_out = list(history.events())
    assert isinstance(events_out[0], Header)
    assert [e.id for e in events_out[1:] if isinstance(e, OpEvent)] == [2, 1]
