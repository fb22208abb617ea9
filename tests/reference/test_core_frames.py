"""The core answers each class of odd frame as Apache ZooKeeper's server does.

One test per class: what Apache's code does with the decoded value (succeed, an error code
with which zxid, or close the connection, with or without a reply), as found in its source
and confirmed on Apache ZooKeeper 3.8 (the raw-frame fuzzer,
``tests/differential/test_frames_against_apache.py``, holds the same against a real server).
Frames are built by hand (``struct``), so that null and negative lengths can be sent.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest

from reference.core import ZooKeeperCore, settle
from reference.jute import (
    ConnectRequest,
    MultiResponse,
    ReplyHeader,
    decode_connect_response,
    decode_reply,
    encode_connect_request,
)
from spec.errors import Code
from spec.opcodes import OpCode
from spec.profiles import V3_8, V3_9, Profile
from spec.state import Config

NOW = 1_700_000_000_000
NULL = -1
CONN = 1


def i32(value: int) -> bytes:
    return struct.pack(">i", value)


def i64(value: int) -> bytes:
    return struct.pack(">q", value)


def text(value: str | bytes | None) -> bytes:
    if value is None:
        return i32(NULL)
    raw = value.encode() if isinstance(value, str) else value
    return i32(len(raw)) + raw


def acl(*entries: tuple[int, str | None, str | None]) -> bytes:
    return i32(len(entries)) + b"".join(i32(p) + text(s) + text(i) for p, s, i in entries)


OPEN = acl((31, "world", "anyone"))


def create(path: str | None, entries: bytes = OPEN, flags: int = 0, data: bytes = b"") -> bytes:
    return text(path) + text(data) + entries + i32(flags)


def multi(*ops: tuple[int, bytes]) -> bytes:
    body = b"".join(i32(t) + b"\x00" + i32(-1) + record for t, record in ops)
    return body + i32(-1) + b"\x01" + i32(-1)


class Server:
    """One core and one handshaken connection, frame in, frames and close out."""

    def __init__(self, profile: Profile = V3_8) -> None:
        self.core = ZooKeeperCore(Config(profile=profile), NOW)
        self.core.connection_made(CONN, "127.0.0.1")
        request = ConnectRequest(0, 0, 30_000, 0, bytes(16), False)
        self.core.receive(CONN, encode_connect_request(request)[4:], NOW)
        (reply,) = self.drain()
        self.session_id = decode_connect_response(reply[4:]).sessionId
        self.closed = False

    def drain(self) -> list[bytes]:
        frames: list[bytes] = []
        for out in settle(self.core)[0]:
            if out.close:
                self.closed = True
            if out.data is not None:
                frames.append(out.data)
        return frames

    def send(self, xid: int, opcode: int, body: bytes = b"") -> list[bytes]:
        """Frames answered (notifications included, in order), after one request."""
        self.core.receive(CONN, i32(xid) + i32(opcode) + body, NOW)
        return self.drain()

    def header(self, xid: int, opcode: int, body: bytes = b"") -> ReplyHeader:
        """The reply header to one request that is answered with exactly one frame."""
        (frame,) = self.send(xid, opcode, body)
        return ReplyHeader(*struct.unpack_from(">iqi", frame, 4))

    def err(self, xid: int, opcode: int, body: bytes = b"") -> int:
        return self.header(xid, opcode, body).err

    @property
    def zxid(self) -> int:
        return self.core.last_zxid


def headers(frames: Sequence[bytes]) -> list[tuple[int, int, int]]:
    return [struct.unpack_from(">iqi", f, 4) for f in frames]


# --- bodies that do not decode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "body"),
    [(OpCode.auth, i32(0) + i32(-7)), (OpCode.auth, i32(0)), (OpCode.sasl, i32(-7))],
)
def test_an_undecodable_auth_or_sasl_packet_closes_the_connection_without_a_reply(
    opcode: int, body: bytes
) -> None:
    server = Server()
    assert server.send(-4, opcode, body) == []  # "Unreasonable length = -7", EOFException
    assert server.closed


@pytest.mark.parametrize(
    "opcode",
    [OpCode.create, OpCode.create2, OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.multi],
)
def test_a_write_whose_body_does_not_decode_is_a_marshalling_error_that_uses_a_zxid(
    opcode: int,
) -> None:
    server = Server()
    before = server.zxid
    header = server.header(7, opcode, text("/a")[:5])
    assert (header.err, header.zxid, server.zxid) == (Code.MARSHALLINGERROR, before + 1, before + 1)
    assert not server.closed


@pytest.mark.parametrize(
    "opcode",
    [
        OpCode.getData,
        OpCode.exists,
        OpCode.sync,
        OpCode.addWatch,
        OpCode.reconfig,
        OpCode.multiRead,
    ],
)
def test_a_read_whose_body_does_not_decode_is_a_marshalling_error_with_the_last_zxid(
    opcode: int,
) -> None:
    server = Server()
    before = server.zxid
    header = server.header(7, opcode, i32(-2))
    assert (header.err, header.zxid, server.zxid) == (Code.MARSHALLINGERROR, before, before)


# --- connection-level packets ------------------------------------------------------------------


@pytest.mark.parametrize("xid", [5, 0, -2, -1])
def test_a_ping_is_answered_with_the_ping_xid_whatever_xid_it_carried(xid: int) -> None:
    server = Server()
    assert server.header(xid, OpCode.ping, b"ignored").xid == -2


def test_sasl_without_a_sasl_server_is_ok_with_a_null_token_and_the_connection_stays() -> None:
    server = Server()
    (frame,) = server.send(3, OpCode.sasl, text(b"token"))
    assert frame[4:] == struct.pack(">iqi", 3, 0, 0) + i32(NULL)
    assert not server.closed
    assert server.send(4, OpCode.sasl, text(None)) == []  # processSasl: clientToken.length
    assert server.closed


def test_delete_container_from_a_client_is_bad_arguments_and_uses_a_zxid() -> None:
    server = Server()
    before = server.zxid
    header = server.header(8, OpCode.deleteContainer, b"/zookeeper")
    assert (header.err, header.zxid) == (Code.BADARGUMENTS, before + 1)
    assert not server.closed


@pytest.mark.parametrize("opcode", [0, -1, 10, 99])
def test_an_opcode_apache_does_not_serve_is_unimplemented_then_closed(opcode: int) -> None:
    server = Server()
    header = server.header(9, opcode)
    assert (header.err, header.zxid) == (Code.UNIMPLEMENTED, -1)
    assert server.closed


@pytest.mark.parametrize(
    ("scheme", "credentials", "answer"),
    [
        (None, b"user:password", Code.AUTHFAILED),
        ("digest", None, Code.AUTHFAILED),
        ("ip", None, Code.OK),
        ("world", b"anyone", Code.AUTHFAILED),
    ],
)
def test_auth_with_null_fields_is_judged_by_its_provider(
    scheme: str | None, credentials: bytes | None, answer: Code
) -> None:
    server = Server()
    header = server.header(-4, OpCode.auth, i32(5) + text(scheme) + text(credentials))
    assert (header.xid, header.zxid, header.err) == (-4, 0, answer)
    assert server.closed is (answer != Code.OK)


# --- ACLs --------------------------------------------------------------------------------------


def test_kazoo_creator_all_acl_with_a_null_id_creates_the_node_once_the_session_has_an_id() -> None:
    server = Server()
    creator_all = acl((31, "auth", None))
    assert server.err(1, OpCode.create, create("/k", creator_all)) == Code.INVALIDACL
    assert server.err(-4, OpCode.auth, i32(0) + text("digest") + text(b"user:password")) == 0
    assert server.err(2, OpCode.create, create("/k", creator_all)) == Code.OK
    assert [a.id.scheme for a in server.core.tree.nodes["/k"].acl] == ["digest"]


@pytest.mark.parametrize(
    "entries",
    [
        acl((31, "world", None)),
        acl((31, "digest", None)),
        acl((31, "ip", None)),
        acl((31, "world", "anyone"), (31, None, "x")),  # equals: this.scheme.equals
        acl((31, "auth", None), (31, "auth", None)),  # equals: this.id.equals
    ],
)
def test_null_acl_fields_that_java_dereferences_are_marshalling_errors_that_use_a_zxid(
    entries: bytes,
) -> None:
    server = Server()
    before = server.zxid
    header = server.header(1, OpCode.create, create("/n", entries))
    assert (header.err, header.zxid) == (Code.MARSHALLINGERROR, before + 1)


@pytest.mark.parametrize(
    "entries",
    [acl((31, None, "anyone")), acl((31, "foo", None)), i32(NULL), i32(-3)],
)
def test_null_acl_fields_that_java_only_compares_are_invalid_acls(entries: bytes) -> None:
    assert Server().err(1, OpCode.create, create("/n", entries)) == Code.INVALIDACL


# --- null paths ------------------------------------------------------------------------------


def test_a_null_path_is_bad_arguments_where_pathutils_checks_it_and_else_a_marshalling_error() -> (
    None
):
    server = Server()
    assert server.err(1, OpCode.setData, text(None) + text(b"") + i32(-1)) == Code.BADARGUMENTS
    assert server.err(2, OpCode.setACL, text(None) + OPEN + i32(-1)) == Code.BADARGUMENTS
    assert server.err(3, OpCode.create, create(None)) == Code.MARSHALLINGERROR
    assert server.err(4, OpCode.delete, text(None) + i32(-1)) == Code.MARSHALLINGERROR
    # Bad flags are found before the null path.
    assert server.err(5, OpCode.create, create(None, flags=9)) == Code.BADARGUMENTS
    for opcode in (OpCode.getData, OpCode.exists, OpCode.getChildren2):
        assert server.err(6, opcode, text(None) + b"\x01") == Code.MARSHALLINGERROR
    assert server.err(7, OpCode.getACL, text(None)) == Code.MARSHALLINGERROR
    (frame,) = server.send(8, OpCode.sync, text(None))
    assert frame[4:] == struct.pack(">iqi", 8, server.zxid, 0) + i32(NULL)


def test_a_multi_with_a_null_path_is_an_empty_failed_response_that_burns_a_zxid() -> None:
    server = Server()
    before = server.zxid
    (frame,) = server.send(
        1, OpCode.multi, multi((1, create("/a")), (5, text(None) + text(b"") + i32(-1)))
    )
    reply = decode_reply(frame[4:], OpCode.multi)
    assert (reply.header.zxid, reply.header.err) == (before, Code.MARSHALLINGERROR)
    assert reply.record == MultiResponse(())
    assert "/a" not in server.core.tree.nodes
    # The zxid taken before the null path was met is not seen until the next write.
    assert server.header(2, OpCode.exists, text("/") + b"\x00").zxid == before
    assert server.header(3, OpCode.create, create("/b")).zxid == before + 2


@pytest.mark.parametrize(
    "sub_op",
    [
        (OpCode.create, create("/t", flags=5)),  # Op.create says createTTL: ClassCastException
        (OpCode.create2, create("/w", acl((31, "world", None)))),
    ],
)
def test_a_sub_op_apache_cannot_process_fails_the_whole_multi_with_its_zxid(
    sub_op: tuple[int, bytes],
) -> None:
    server = Server()
    before = server.zxid
    (frame,) = server.send(1, OpCode.multi, multi((OpCode.create, create("/ok")), sub_op))
    assert headers([frame]) == [(1, before + 1, Code.MARSHALLINGERROR)]
    assert len(frame) == 20  # no results
    assert "/ok" not in server.core.tree.nodes


def test_a_sub_op_after_a_failed_one_is_not_checked_so_it_cannot_fail_the_whole_multi() -> None:
    server = Server()
    (frame,) = server.send(
        1, OpCode.multi, multi((OpCode.delete, text("/none") + i32(-1)), (1, create("/t", flags=5)))
    )
    reply = decode_reply(frame[4:], OpCode.multi)
    assert reply.header.err == 0
    assert isinstance(reply.record, MultiResponse)
    assert [r.err for r in reply.record.results] == [Code.NONODE, Code.RUNTIMEINCONSISTENCY]


def test_multi_read_stops_at_a_null_path_and_sends_the_results_it_built_before() -> None:
    server = Server()
    get_root = (OpCode.getData, text("/") + b"\x00")
    get_null = (OpCode.getData, text(None) + b"\x00")
    (frame,) = server.send(1, OpCode.multiRead, multi(get_root, get_null, get_root))
    reply = decode_reply(frame[4:], OpCode.multiRead)
    assert reply.header.err == Code.MARSHALLINGERROR
    assert isinstance(reply.record, MultiResponse) and len(reply.record.results) == 1


# --- watches -------------------------------------------------------------------------------


def test_set_watches_stops_at_a_null_list_after_sending_the_events_before_it() -> None:
    server = Server()
    body = i64(0) + i32(1) + text("/gone") + i32(NULL) + i32(0)
    frames = server.send(-8, OpCode.setWatches, body)
    assert headers(frames) == [(-1, -1, 0), (-8, server.zxid, Code.MARSHALLINGERROR)]
    body = i64(0) + i32(2) + text("/gone") + text(None) + i32(0) + i32(0)
    frames = server.send(-8, OpCode.setWatches, body)
    assert [h[2] for h in headers(frames)] == [0, Code.MARSHALLINGERROR]


def test_set_watches_looks_up_the_empty_path_as_the_root() -> None:
    server = Server()
    frames = server.send(-8, OpCode.setWatches, i64(0) + i32(0) + i32(1) + text("") + i32(0))
    event = decode_reply(frames[0][4:], OpCode.setWatches).record
    assert event is not None and (getattr(event, "type", None), getattr(event, "path", None)) == (
        1,
        "",
    )  # NodeCreated: the root exists


def test_3_8_takes_one_null_path_watch_and_fails_the_next_lookup_of_its_key() -> None:
    server = Server(V3_8)
    add_null = text(None) + i32(0)
    assert server.err(1, OpCode.addWatch, add_null) == Code.OK
    assert server.err(2, OpCode.addWatch, add_null) == Code.MARSHALLINGERROR
    assert server.err(3, OpCode.removeWatches, text(None) + i32(1)) == Code.MARSHALLINGERROR
    # The child table no longer lists it (it was unlisted before the key lookup failed).
    assert server.err(4, OpCode.removeWatches, text(None) + i32(1)) == Code.NOWATCHER


def test_3_8_null_path_key_collides_with_a_persistent_watch_on_a_path_whose_hash_is_0() -> None:
    server = Server(V3_8)
    assert server.err(1, OpCode.addWatch, text("") + i32(1)) == Code.OK  # "".hashCode() == 0
    assert server.err(2, OpCode.addWatch, text(None) + i32(0)) == Code.MARSHALLINGERROR


def test_3_9_keeps_a_null_path_watch_like_any_other() -> None:
    server = Server(V3_9)
    assert server.err(1, OpCode.addWatch, text(None) + i32(0)) == Code.OK
    assert server.err(2, OpCode.addWatch, text(None) + i32(0)) == Code.OK
    assert server.err(3, OpCode.checkWatches, text(None) + i32(4)) == Code.OK
    assert server.err(4, OpCode.removeWatches, text(None) + i32(3)) == Code.OK
    assert server.err(5, OpCode.removeWatches, text(None) + i32(3)) == Code.NOWATCHER


def test_3_8_check_watches_walks_the_parents_of_the_path_before_it_looks() -> None:
    server = Server(V3_8)
    assert server.err(1, OpCode.exists, text("") + b"\x01") == Code.OK  # a data watch on ""
    assert server.err(2, OpCode.checkWatches, text("") + i32(2)) == Code.NOWATCHER
    assert server.err(3, OpCode.checkWatches, text("a") + i32(2)) == Code.MARSHALLINGERROR
    assert server.err(4, OpCode.checkWatches, text(None) + i32(2)) == Code.MARSHALLINGERROR
    assert Server(V3_9).err(5, OpCode.checkWatches, text("a") + i32(2)) == Code.NOWATCHER


def test_who_am_i_lists_the_ids_in_the_order_of_apache_s_hash_set() -> None:
    server = Server()
    for credentials in (b"u:abc", b":xyz"):
        server.err(-4, OpCode.auth, i32(0) + text("digest") + text(credentials))
    (frame,) = server.send(1, OpCode.whoAmI)
    record = decode_reply(frame[4:], OpCode.whoAmI).record
    # As Java's ConcurrentHashMap-backed set iterates them (checked against the JVM).
    users = [(info.authScheme, info.user) for info in getattr(record, "clientInfo", ())]
    assert users == [("digest", ""), ("ip", "127.0.0.1"), ("digest", "u")]
