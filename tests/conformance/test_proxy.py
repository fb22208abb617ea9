"""The proxies a nemesis partitions an ensemble with (conformance.proxy), against plain sockets.

Two "servers" (listening sockets of this test) behind ``PeerProxies``: bytes pass both ways;
a cut link holds bytes and delivers them, in order, when it heals (iptables DROP, not a
reset); a one-way cut holds one direction only; a connection cannot be set up while either
direction is cut, and one whose dialer hangs up first never reaches the destination; the
election initial message's address becomes the proxy's for the way back; a destination
that closes is seen closing. Bounded: every socket has a timeout, and "nothing arrives" is
asserted over ``QUIET_S``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from conformance.proxy import PeerProxies, rewrite_initial_message

TIMEOUT_S = 5.0
QUIET_S = 0.3  # how long "nothing arrives" is watched for


@pytest.fixture
def servers() -> Iterator[dict[int, socket.socket]]:
    """Server id -> a listening socket standing for its quorum port (and election port)."""
    listeners = {}
    for sid in (1, 2):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(TIMEOUT_S)
        listeners[sid] = listener
    yield listeners
    for listener in listeners.values():
        listener.close()


@pytest.fixture
def proxies(servers: dict[int, socket.socket]) -> Iterator[PeerProxies]:
    proxies = PeerProxies(servers)
    proxies.start()
    port = {sid: listener.getsockname()[1] for sid, listener in servers.items()}
    proxies.set_targets({sid: (p, p) for sid, p in port.items()})
    yield proxies
    proxies.close()


def _dial(proxies: PeerProxies, source: int, destination: int, kind: str) -> socket.socket:
    conn = socket.create_connection(
        ("127.0.0.1", proxies.port(source, destination, kind)), TIMEOUT_S
    )
    conn.settimeout(TIMEOUT_S)
    return conn


def _accept(listener: socket.socket) -> socket.socket:
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT_S)
    return conn


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _nothing_arrives(conn: socket.socket) -> bool:
    conn.settimeout(QUIET_S)
    try:
        conn.recv(1)
    except TimeoutError:
        return True
    finally:
        conn.settimeout(TIMEOUT_S)
    return False


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.01)


def test_bytes_pass_both_ways(proxies: PeerProxies, servers: dict[int, socket.socket]) -> None:
    with _dial(proxies, 1, 2, "quorum") as dialer, _accept(servers[2]) as accepted:
        dialer.sendall(b"ping")
        assert _read(accepted, 4) == b"ping"
        accepted.sendall(b"pong")
        assert _read(dialer, 4) == b"pong"


def test_a_cut_link_holds_bytes_and_delivers_them_in_order_when_healed(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    with _dial(proxies, 1, 2, "quorum") as dialer, _accept(servers[2]) as accepted:
        proxies.partition([1], [2])
        dialer.sendall(b"held-1 ")
        dialer.sendall(b"held-2")
        assert _nothing_arrives(accepted)
        proxies.heal()
        assert _read(accepted, 13) == b"held-1 held-2"


def test_a_one_way_cut_holds_one_direction_only(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    with _dial(proxies, 1, 2, "quorum") as dialer, _accept(servers[2]) as accepted:
        proxies.cut([(1, 2)])
        assert proxies.cut_links == {(1, 2)}
        accepted.sendall(b"2 to 1")
        assert _read(dialer, 6) == b"2 to 1"  # the other way flows
        dialer.sendall(b"1 to 2")
        assert _nothing_arrives(accepted)
        proxies.heal()
        assert _read(accepted, 6) == b"1 to 2"


def test_no_connection_is_set_up_while_either_direction_is_cut(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    proxies.cut([(2, 1)])  # the reply direction: a handshake needs both
    with _dial(proxies, 1, 2, "quorum") as dialer:
        dialer.sendall(b"hello")
        servers[2].settimeout(QUIET_S)
        with pytest.raises(TimeoutError):
            servers[2].accept()
        servers[2].settimeout(TIMEOUT_S)
        proxies.heal()
        with _accept(servers[2]) as accepted:
            assert _read(accepted, 5) == b"hello"  # what the dialer sent was held


def test_a_dialer_that_hangs_up_before_the_heal_never_reaches_the_destination(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    proxies.partition([1], [2])
    with _dial(proxies, 1, 2, "quorum") as dialer:
        dialer.sendall(b"stale")
    _wait(lambda: proxies.connections_abandoned == 1)
    proxies.heal()
    servers[2].settimeout(QUIET_S)
    with pytest.raises(TimeoutError):
        servers[2].accept()


def test_the_election_initial_message_names_the_proxy_for_the_way_back(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    own = b"127.0.0.1:1"  # where server 1 listens: a dial back there would bypass the proxies
    message = struct.pack(">qqi", -65536, 1, len(own)) + own
    with _dial(proxies, 1, 2, "election") as dialer, _accept(servers[2]) as accepted:
        dialer.sendall(message[:10])  # in pieces: the proxy waits for the whole message
        dialer.sendall(message[10:] + b"notification")
        back = f"127.0.0.1:{proxies.port(2, 1, 'election')}".encode()
        expected = struct.pack(">qqi", -65536, 1, len(back)) + back + b"notification"
        assert _read(accepted, len(expected)) == expected


def test_a_destination_that_closes_is_seen_closing(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    with _dial(proxies, 1, 2, "quorum") as dialer:
        _accept(servers[2]).close()  # a killed server's sockets close
        assert dialer.recv(1) == b""


def test_a_dial_to_a_server_that_is_down_is_reset(
    proxies: PeerProxies, servers: dict[int, socket.socket]
) -> None:
    servers[2].close()
    with _dial(proxies, 1, 2, "quorum") as dialer, contextlib.suppress(ConnectionResetError):
        assert dialer.recv(1) == b""
    assert proxies.connections_refused == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),
        (struct.pack(">q", -65536) + b"\0\0", None),  # cut inside the server id
        (struct.pack(">qqi", -65536, 3, 20) + b"short", None),  # the address not all there
        (struct.pack(">q", 3) + b"rest", (struct.pack(">q", 3), b"rest")),  # a bare id (<3.5)
        (
            struct.pack(">qqi", -65535, 3, 9) + b"a:1|b:2|3" + b"rest",
            (struct.pack(">qqi", -65535, 3, 5) + b"x:123", b"rest"),
        ),
    ],
)
def test_initial_messages_are_rewritten_once_whole(
    data: bytes, expected: tuple[bytes, bytes] | None
) -> None:
    assert rewrite_initial_message(data, "x:123") == expected
