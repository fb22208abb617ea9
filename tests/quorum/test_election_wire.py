"""The election port's codec: initial messages of every form Apache 3.8 accepts, the
notification layouts it accepts, and framing (``reference.quorum.election_wire``)."""

from __future__ import annotations

import struct

import pytest

from reference.jute import JuteError
from reference.quorum.election_wire import (
    ELECTION_MESSAGE_BYTES_MAX,
    NOTIFICATION_VERSION,
    PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
    ElectionStreamReader,
    InitialMessage,
    Notification,
    ServerState,
    decode_initial_message,
    decode_notification,
    encode_initial_message,
    encode_notification,
    frame_message,
    initial_message_length,
    parse_address,
)

V1_HEAD = struct.Struct(">qqi")


def v1(sid: int, address: bytes, version: int = PROTOCOL_VERSION_V1) -> bytes:
    return V1_HEAD.pack(version, sid, len(address)) + address


def test_protocol_versions_are_apaches() -> None:
    assert (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2) == (-65536, -65535)
    assert [s.value for s in ServerState] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "message",
    [
        InitialMessage(PROTOCOL_VERSION_V1, 3, ("127.0.0.1:3888",)),
        InitialMessage(PROTOCOL_VERSION_V2, 2, ("127.0.0.1:3888", "[::1]:3889")),
        InitialMessage(None, 5, ()),
    ],
)
def test_an_initial_message_round_trips(message: InitialMessage) -> None:
    data = encode_initial_message(message)
    assert initial_message_length(data) == len(data)
    assert decode_initial_message(data) == message


def test_the_pre_3_5_initial_message_is_the_sid_alone() -> None:
    assert encode_initial_message(InitialMessage(None, 7, ())) == struct.pack(">q", 7)
    assert initial_message_length(struct.pack(">q", 7) + b"more") == 8


def test_the_length_of_an_initial_message_is_known_once_its_head_is_in() -> None:
    data = v1(1, b"127.0.0.1:1")
    assert [initial_message_length(data[:n]) for n in (0, 7, 8, 19)] == [None] * 4
    assert initial_message_length(data[:20]) == len(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (v1(1, b"127.0.0.1:1", version=-3), "unrecognized protocol version"),
        (V1_HEAD.pack(PROTOCOL_VERSION_V1, 1, 0), "unreasonable address length"),
        (V1_HEAD.pack(PROTOCOL_VERSION_V1, 1, 2049) + b"x" * 2049, "unreasonable"),
        (v1(1, b"localhost"), "badly formed address"),
        (v1(1, b"a:1:2"), "badly formed address"),
        (v1(1, b"host:port"), "badly formed address"),
        (v1(1, b"host:1_0"), "badly formed address"),
        (v1(1, b"[::1]"), "badly formed address"),
        (v1(1, b"127.0.0.1:1|nope"), "badly formed address"),
        (v1(1, b"127.0.0.1:1") + b"x", "bytes after the initial message"),
        (v1(1, b"127.0.0.1:1")[:-1], "truncated"),
    ],
)
def test_an_initial_message_apache_refuses_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        decode_initial_message(data)


def test_addresses_parse_as_apache_parses_them() -> None:
    assert parse_address("127.0.0.1:2888") == ("127.0.0.1", 2888)
    assert parse_address("[::1]:2888") == ("::1", 2888)
    assert parse_address("host:+7") == ("host", 7)  # Integer.parseInt takes a sign
    assert parse_address("host:7:") == ("host", 7)  # String.split drops a trailing empty part
    # Java's split drops a trailing "|" too: the address list is the same.
    assert decode_initial_message(v1(1, b"127.0.0.1:1|")).addresses == ("127.0.0.1:1",)


def test_a_current_notification_round_trips_with_its_config() -> None:
    notification = Notification(ServerState.LEADING, 3, 0x100000005, 2, 1, 2, b"server.1=x")
    data = encode_notification(notification)
    assert len(data) == 44 + len(b"server.1=x")
    assert decode_notification(data) == notification


def test_a_28_byte_notification_takes_its_peer_epoch_from_the_zxid() -> None:
    data = struct.pack(">iqqq", 0, 2, 0x500000007, 9)
    assert decode_notification(data) == Notification(
        ServerState.LOOKING, 2, 0x500000007, 9, 5, 0, None
    )


def test_a_40_byte_notification_has_no_version_whatever_its_last_int() -> None:
    data = struct.pack(">iqqqqi", 1, 2, 3, 4, 5, 0x1)
    assert decode_notification(data) == Notification(ServerState.FOLLOWING, 2, 3, 4, 5, 0, None)
    assert decode_notification(struct.pack(">iqqqqi", 1, 2, 3, 4, 5, 77)).version == 0
    # Without a config the encoder writes this layout, version 0x1 as 3.4.6+ did.
    assert encode_notification(Notification(ServerState.FOLLOWING, 2, 3, 4, 5, 0, None)) == data


def test_a_notification_of_version_one_or_less_has_no_config_and_may_have_more_bytes() -> None:
    data = struct.pack(">iqqqqi", 2, 1, 1, 1, 1, 1) + b"ignored"
    assert decode_notification(data).config is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00" * 27, "short notification"),
        (struct.pack(">iqqq", 0, 1, 1, 1) + b"\x00" * 4, "cut short"),  # 32 bytes
        (struct.pack(">iqqqq", 0, 1, 1, 1, 1), "cut short"),  # 36 bytes: no version
        (struct.pack(">iqqqqi", 0, 1, 1, 1, 1, 2) + b"\x00\x00", "cut short"),  # no length
        (struct.pack(">iqqqqii", 0, 1, 1, 1, 1, 2, -1), "invalid config length"),
        (struct.pack(">iqqqqii", 0, 1, 1, 1, 1, 2, 5) + b"abc", "invalid config length"),
        (struct.pack(">iqqqqii", 4, 1, 1, 1, 1, 2, 0), "unknown server state"),
    ],
)
def test_a_notification_apache_drops_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        decode_notification(data)


def test_the_dialers_stream_starts_with_the_initial_message_then_frames() -> None:
    notification = encode_notification(
        Notification(ServerState.LOOKING, 1, 0, 1, 0, NOTIFICATION_VERSION, b"cfg")
    )
    stream = v1(1, b"127.0.0.1:5") + frame_message(notification) * 2
    reader = ElectionStreamReader(from_dialer=True)
    events = [e for i in range(len(stream)) for e in reader.feed(stream[i : i + 1])]
    assert events == [
        InitialMessage(PROTOCOL_VERSION_V1, 1, ("127.0.0.1:5",)),
        notification,
        notification,
    ]


@pytest.mark.parametrize("length", [0, -1, ELECTION_MESSAGE_BYTES_MAX + 1])
def test_a_frame_length_apache_refuses_breaks_the_stream(length: int) -> None:
    reader = ElectionStreamReader(from_dialer=False)
    with pytest.raises(JuteError, match="invalid election message length"):
        reader.feed(struct.pack(">i", length))
    with pytest.raises(AssertionError):
        reader.feed(b"")
