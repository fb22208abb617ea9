"""Golden frames: bytes captured between Apache ZooKeeper 3.8 and kazoo / the Java client.

Each stored frame must split as one frame, decode to what the capturing client itself saw (see
``golden.py``), and re-encode to exactly the captured bytes. Regenerate the data with
``python -m tests.reference.capture_golden`` (needs Java and the Debian zookeeper package).
"""

from __future__ import annotations

from typing import Any

import pytest

from reference import jute
from tests.reference.golden import (
    KIND_CONNECT_REQUEST,
    KIND_CONNECT_RESPONSE,
    KIND_REPLY,
    KIND_REQUEST,
    load_golden_frames,
    lookup,
    normal,
)

GOLDEN = load_golden_frames()


def decode(entry: dict[str, Any], payload: bytes) -> Any:
    kind = entry["kind"]
    if kind == KIND_CONNECT_REQUEST:
        return jute.decode_connect_request(payload)
    if kind == KIND_CONNECT_RESPONSE:
        return jute.decode_connect_response(payload)
    if kind == KIND_REQUEST:
        return jute.decode_request(payload)
    assert kind == KIND_REPLY
    return jute.decode_reply(payload, entry["request_type"])


def encode(decoded: Any) -> bytes:
    if isinstance(decoded, jute.ConnectRequest):
        return jute.encode_connect_request(decoded)
    if isinstance(decoded, jute.ConnectResponse):
        return jute.encode_connect_response(decoded)
    if isinstance(decoded, jute.Request):
        return jute.encode_request(decoded.header, decoded.record)
    if isinstance(decoded, jute.UnknownRequest):
        return jute.frame(jute.encode_record(decoded.header) + decoded.payload)
    assert isinstance(decoded, jute.Reply)
    return jute.encode_reply(decoded.header, decoded.record)


def test_the_golden_data_covers_the_protocol_a_client_sees() -> None:
    descriptions = " | ".join(entry["description"] for entry in GOLDEN)
    for needed in (
        "ConnectRequest",
        "ConnectResponse",
        "EPHEMERAL_SEQUENTIAL",
        "create2",
        "getData",
        "setData",
        "exists /golden/missing",
        "getChildren2",
        "delete",
        "multi: create, setData, check, delete",
        "multi that fails",
        "notification",
        "ping",
        "addAuth digest",
        "closeSession",
        "createContainer",
        "createTTL",
        "multiRead",
    ):
        assert needed in descriptions
    assert {entry["client"] for entry in GOLDEN} >= {"kazoo", "java"}


@pytest.mark.parametrize("entry", GOLDEN, ids=[entry["description"] for entry in GOLDEN])
def test_a_captured_frame_decodes_to_what_the_client_saw(entry: dict[str, Any]) -> None:
    frame = bytes.fromhex(entry["frame_hex"])
    frames, rest = jute.split_frames(frame)
    assert rest == b""
    assert len(frames) == 1
    decoded = decode(entry, frames[0])
    for path, expected in entry["expect"].items():
        actual = lookup(decoded, path) if path else decoded
        assert normal(actual) == expected, path


@pytest.mark.parametrize("entry", GOLDEN, ids=[entry["description"] for entry in GOLDEN])
def test_a_captured_frame_re_encodes_to_the_same_bytes(entry: dict[str, Any]) -> None:
    frame = bytes.fromhex(entry["frame_hex"])
    decoded = decode(entry, frame[4:])
    if entry["canonical"]:
        assert encode(decoded).hex() == frame.hex()


def test_the_captured_frames_back_to_back_split_into_the_same_frames() -> None:
    frames = [bytes.fromhex(entry["frame_hex"]) for entry in GOLDEN]
    reader = jute.FrameReader()
    received: list[bytes] = []
    stream = b"".join(frames)
    for start in range(0, len(stream), 7):
        received += reader.feed(stream[start : start + 7])
    assert received == [frame[4:] for frame in frames]
