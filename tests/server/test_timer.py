"""The timer: sessions expire on time, pings keep them alive, containers and TTL nodes go.

Each server runs on virtual time (``InProcessServer(virtual_time=True)``): the test moves the
clock and the server's own timer does what is due, so each situation (a session silent for
just under or just over its timeout, pings spread over three timeouts, a container checked
while it still has a child) happens exactly, whatever the load. A session's deadline is its
last request plus its timeout, rounded up past the next tick (``ExpiryQueue``), so it is over
after the timeout and before timeout + tick; the container manager checks every interval.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reference import jute
from server.config import FOUR_LETTER_WORDS, ServerConfig
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.support.rawclient import RawClient, connected
from tests.support.servers import InProcessServer, wait_until

TICK_MS = 100
SESSION_MS = 300
CONTAINER_CHECK_MS = 100


@pytest.fixture
def fast() -> Iterator[InProcessServer]:
    config = ServerConfig(
        four_letter_whitelist=FOUR_LETTER_WORDS,
        tick_time_ms=TICK_MS,
        min_session_timeout_ms=SESSION_MS,
        max_session_timeout_ms=2000,
        container_check_interval_ms=CONTAINER_CHECK_MS,
        extended_types_enabled=True,
    )
    with InProcessServer(config, virtual_time=True) as server:
        yield server


def exists(server: InProcessServer, path: str) -> bool:
    with connected(server.host, server.port) as client:
        reply = client.call(OpCode.exists, jute.ExistsRequest(path, False))
        return reply.header.err == 0


def test_an_abandoned_sessions_ephemerals_vanish_after_its_timeout(fast: InProcessServer) -> None:
    owner = connected(fast.host, fast.port, timeout_ms=SESSION_MS)
    assert owner.timeout_ms == SESSION_MS
    assert owner.create("/abandoned", flags=1).header.err == 0
    owner.close()  # no closeSession: the session must expire
    wait_until(lambda: not fast.zk.connections)
    fast.advance(SESSION_MS)
    assert exists(fast, "/abandoned")  # silent for its whole timeout, not yet over
    fast.advance(TICK_MS + 1)
    assert not exists(fast, "/abandoned")


def test_a_silent_connected_session_expires_and_its_connection_closes(
    fast: InProcessServer,
) -> None:
    with connected(fast.host, fast.port, timeout_ms=SESSION_MS) as silent:
        session_id, password = silent.session_id, silent.password
        fast.advance(SESSION_MS)
        assert fast.connection_of(silent.sock) is not None
        assert fast.call(lambda: session_id in fast.zk.core.sessions)
        fast.advance(TICK_MS + 1)
        assert silent.read_all_until_closed() == b""
    with RawClient(fast.host, fast.port) as again:
        response = again.handshake(session_id=session_id, password=password)
        assert (response.timeOut, response.sessionId) == (0, 0)  # expired


def test_pings_keep_a_session_alive(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port, timeout_ms=SESSION_MS) as client:
        client.create("/kept-alive", flags=1)
        for _ in range(12):  # three timeouts, a ping every quarter of one
            fast.advance(SESSION_MS // 4)
            assert client.ping().header.err == 0
        assert exists(fast, "/kept-alive")
        # Without the pings the same session goes: they were what kept it.
        fast.advance(SESSION_MS + TICK_MS + 1)
        assert client.read_all_until_closed() == b""
    assert not exists(fast, "/kept-alive")


def test_an_emptied_container_is_reaped(fast: InProcessServer) -> None:
    core = fast.zk.core
    with connected(fast.host, fast.port) as client:
        reply = client.call(
            OpCode.createContainer, jute.CreateRequest("/box", b"", OPEN_ACL_UNSAFE, 4)
        )
        assert reply.header.err == 0
        assert client.create("/box/item").header.err == 0
        first_check = fast.call(lambda: core.next_container_check)
        now = fast.advance(3 * CONTAINER_CHECK_MS)
        assert fast.call(lambda: core.next_container_check) > first_check  # checks ran
        assert first_check < now
        assert exists(fast, "/box")  # not empty yet
        assert client.call(OpCode.delete, jute.DeleteRequest("/box/item", -1)).header.err == 0
        fast.advance(CONTAINER_CHECK_MS + 1)
    assert not exists(fast, "/box")


def test_a_ttl_node_is_reaped_after_its_ttl(fast: InProcessServer) -> None:
    ttl_ms = 200
    with connected(fast.host, fast.port) as client:
        reply = client.call(
            OpCode.createTTL, jute.CreateTTLRequest("/brief", b"", OPEN_ACL_UNSAFE, 5, ttl_ms)
        )
        assert reply.header.err == 0
    fast.advance(ttl_ms)
    assert exists(fast, "/brief")  # its TTL is not yet over
    fast.advance(CONTAINER_CHECK_MS + 1)
    assert not exists(fast, "/brief")


def test_close_session_deletes_ephemerals_at_once(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port, timeout_ms=2000) as client:
        client.create("/closed-now", flags=1)
        reply = client.close_session()
        assert reply.header.err == 0
        assert client.read_all_until_closed() == b""
    assert not exists(fast, "/closed-now")


def test_requested_timeouts_are_clamped(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port, timeout_ms=1) as low:
        assert low.timeout_ms == SESSION_MS
    with connected(fast.host, fast.port, timeout_ms=10**6) as high:
        assert high.timeout_ms == 2000
