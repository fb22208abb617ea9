"""The timer: sessions expire on time, pings keep them alive, containers and TTL nodes go."""

from __future__ import annotations

import time
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


@pytest.fixture(scope="module")
def fast() -> Iterator[InProcessServer]:
    config = ServerConfig(
        four_letter_whitelist=FOUR_LETTER_WORDS,
        tick_time_ms=TICK_MS,
        min_session_timeout_ms=SESSION_MS,
        max_session_timeout_ms=2000,
        container_check_interval_ms=CONTAINER_CHECK_MS,
        extended_types_enabled=True,
    )
    with InProcessServer(config) as server:
        yield server


def exists(server: InProcessServer, path: str) -> bool:
    with connected(server.host, server.port) as client:
        reply = client.call(OpCode.exists, jute.ExistsRequest(path, False))
        return reply.header.err == 0


def test_an_abandoned_sessions_ephemerals_vanish_after_its_timeout(fast: InProcessServer) -> None:
    owner = connected(fast.host, fast.port, timeout_ms=SESSION_MS)
    assert owner.timeout_ms == SESSION_MS
    assert owner.create("/abandoned", flags=1).header.err == 0
    started = time.monotonic()
    owner.close()  # no closeSession: the session must expire
    wait_until(lambda: not exists(fast, "/abandoned"), 5)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert elapsed_ms >= SESSION_MS - 50


def test_a_silent_connected_session_expires_and_its_connection_closes(
    fast: InProcessServer,
) -> None:
    with connected(fast.host, fast.port, timeout_ms=SESSION_MS) as silent:
        session_id, password = silent.session_id, silent.password
        assert silent.read_all_until_closed() == b""
    with RawClient(fast.host, fast.port) as again:
        response = again.handshake(session_id=session_id, password=password)
        assert (response.timeOut, response.sessionId) == (0, 0)  # expired


def test_pings_keep_a_session_alive(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port, timeout_ms=SESSION_MS) as client:
        client.create("/kept-alive", flags=1)
        deadline = time.monotonic() + 3 * SESSION_MS / 1000
        while time.monotonic() < deadline:
            assert client.ping().header.err == 0
            time.sleep(SESSION_MS / 4000)
        assert exists(fast, "/kept-alive")


def test_an_emptied_container_is_reaped(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port) as client:
        reply = client.call(
            OpCode.createContainer, jute.CreateRequest("/box", b"", OPEN_ACL_UNSAFE, 4)
        )
        assert reply.header.err == 0
        assert client.create("/box/item").header.err == 0
        time.sleep(3 * CONTAINER_CHECK_MS / 1000)
        assert exists(fast, "/box")  # not empty yet
        assert client.call(OpCode.delete, jute.DeleteRequest("/box/item", -1)).header.err == 0
    wait_until(lambda: not exists(fast, "/box"), 5)


def test_a_ttl_node_is_reaped_after_its_ttl(fast: InProcessServer) -> None:
    with connected(fast.host, fast.port) as client:
        reply = client.call(
            OpCode.createTTL, jute.CreateTTLRequest("/brief", b"", OPEN_ACL_UNSAFE, 5, 200)
        )
        assert reply.header.err == 0
    wait_until(lambda: not exists(fast, "/brief"), 5)


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
