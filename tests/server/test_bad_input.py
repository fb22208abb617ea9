"""Bad input closes (or is answered on) the offending connection only; the server serves on."""

from __future__ import annotations

import contextlib
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import jute
from spec.acl import ACL
from spec.errors import Code
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.reference.strategies import requests
from tests.support.rawclient import ConnectionClosed, RawClient, connected
from tests.support.servers import InProcessServer, wait_until

INT = struct.Struct(">i")
MAXBUFFER = 0xFFFFF


def assert_serving(server: InProcessServer) -> None:
    """A well-behaved client still gets answers, and the server hit no internal error."""
    with connected(server.host, server.port) as client:
        reply = client.get_data("/")
        assert reply.header.err == 0
        assert client.ping().header.err == 0
    assert server.server is not None
    assert server.server.internal_errors == 0


def test_an_oversize_frame_before_the_handshake_closes_without_a_reply(
    zkref_in_process: InProcessServer,
) -> None:
    with RawClient(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(INT.pack(MAXBUFFER + 1) + b"\0" * 64)
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


def test_a_frame_of_exactly_jute_maxbuffer_is_accepted(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        path = "/max-frame"
        overhead = 8 + 4 + len(path) + 4 + 4 + 4 + 4  # header, path, data, acl count, flags
        data = b"x" * (MAXBUFFER - overhead)
        reply = client.call(OpCode.create, jute.CreateRequest(path, data, (), 0))
        # An empty ACL is refused by the core (INVALIDACL); what matters is the frame got in.
        assert reply.header.err in (0, Code.INVALIDACL)
    assert_serving(zkref_in_process)


def test_an_oversize_frame_after_the_handshake_closes_and_the_session_lives(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(INT.pack(MAXBUFFER + 1))
        assert client.read_all_until_closed() == b""
        session_id, password = client.session_id, client.password
    with RawClient(zkref_in_process.host, zkref_in_process.port) as again:
        response = again.handshake(session_id=session_id, password=password)
        assert response.sessionId == session_id
    assert_serving(zkref_in_process)


def test_a_negative_frame_length_closes(zkref_in_process: InProcessServer) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(INT.pack(-5))
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


def test_frames_before_a_bad_length_are_answered_first(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        request = jute.encode_request(
            jute.RequestHeader(7, OpCode.exists), jute.ExistsRequest("/", False)
        )
        client.send_bytes(request + INT.pack(MAXBUFFER + 1))
        reply = client.read_reply(OpCode.exists)
        assert (reply.header.xid, reply.header.err) == (7, 0)
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


def test_garbage_before_the_handshake_closes(zkref_in_process: InProcessServer) -> None:
    with RawClient(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(INT.pack(5) + b"hello")
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


def test_a_truncated_body_after_the_handshake_is_a_marshalling_error(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        body = struct.pack(">ii", 9, OpCode.getData) + INT.pack(10) + b"/ab"  # path cut short
        client.send_bytes(INT.pack(len(body)) + body)
        reply = client.read_reply(OpCode.getData)
        assert (reply.header.xid, reply.header.err) == (9, Code.MARSHALLINGERROR)
        assert client.ping().header.err == 0  # the connection stays open
    assert_serving(zkref_in_process)


def test_a_frame_shorter_than_a_request_header_closes(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(INT.pack(3) + b"abc")
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


@pytest.mark.parametrize("opcode", [10, 55, OpCode.check, OpCode.notification, OpCode.error, -3])
def test_an_unknown_opcode_is_unimplemented_then_closed(
    zkref_in_process: InProcessServer, opcode: int
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(jute.frame(struct.pack(">ii", 11, opcode) + b"\0" * 8))
        reply = client.read_reply(OpCode.ping)
        assert (reply.header.xid, reply.header.zxid, reply.header.err) == (
            11,
            -1,
            Code.UNIMPLEMENTED,
        )
        assert client.read_all_until_closed() == b""
    assert_serving(zkref_in_process)


ServerState = tuple[int, dict[str, tuple[bytes | None, Stat, tuple[ACL, ...]]], set[int]]


def server_state(server: InProcessServer) -> ServerState:
    """The last zxid, every znode's data, Stat and ACL, and the sessions (read on the loop)."""
    core = server.zk.core

    def read() -> ServerState:
        nodes = {
            path: (node.data, node.stat(), tuple(node.acl))
            for path, node in core.tree.nodes.items()
        }
        return core.last_zxid, nodes, set(core.sessions)

    return server.call(read)


def pending_bytes_of(server: InProcessServer, client: RawClient) -> int:
    """Bytes the server holds of an unfinished frame from ``client``."""
    conn = server.connection_of(client.sock)
    return 0 if conn is None else server.call(lambda: conn.reader.pending_bytes)


def test_a_half_sent_frame_then_disconnect_changes_nothing() -> None:
    # A server of its own: no other test's session can expire in between.
    with InProcessServer() as server:
        with connected(server.host, server.port) as writer:
            writer.create("/kept", b"data")
            writer.create("/kept/child", flags=1)
            with connected(server.host, server.port) as client:
                before = server_state(server)
                partial = INT.pack(100) + b"partial"
                client.send_bytes(partial)
                # The situation: the server holds the unfinished frame.
                wait_until(lambda: pending_bytes_of(server, client) == len(partial))
            wait_until(lambda: len(server.zk.connections) == 1)
            assert server_state(server) == before
        assert_serving(server)


def _send_and_half_close(server: InProcessServer, data: bytes, handshake: bool) -> None:
    """Send ``data`` (after a handshake if asked), shut our side, read until the server closes."""
    with RawClient(server.host, server.port) as client:
        if handshake:
            client.handshake()
        try:
            client.send_bytes(data)
            client.sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return  # the server closed first: fine
        with contextlib.suppress(ConnectionClosed):
            client.read_all_until_closed()


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=256))
def test_fuzz_raw_bytes_before_the_handshake_never_hurt_the_server(
    zkref_in_process: InProcessServer, data: bytes
) -> None:
    _send_and_half_close(zkref_in_process, data, handshake=False)
    assert_serving(zkref_in_process)


@FUZZ
@given(data=st.binary(max_size=256))
def test_fuzz_raw_bytes_after_the_handshake_never_hurt_the_server(
    zkref_in_process: InProcessServer, data: bytes
) -> None:
    _send_and_half_close(zkref_in_process, data, handshake=True)
    assert_serving(zkref_in_process)


@FUZZ
@given(
    frames=st.lists(requests(), min_size=1, max_size=6),
    cut=st.integers(min_value=0, max_value=64),
)
def test_fuzz_random_requests_after_the_handshake_never_hurt_the_server(
    zkref_in_process: InProcessServer, frames: list[jute.Request], cut: int
) -> None:
    encoded = b"".join(jute.encode_request(r.header, r.record) for r in frames)
    # Sometimes cut the last frame short: a truncated stream must be harmless too.
    data = encoded[: len(encoded) - cut] if cut < len(encoded) else encoded
    _send_and_half_close(zkref_in_process, data, handshake=True)
    assert_serving(zkref_in_process)
