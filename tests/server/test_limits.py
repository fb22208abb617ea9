"""Limits: clients that never read, too many connections per IP, thousands of connections."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from reference import jute
from server.config import FOUR_LETTER_WORDS, ServerConfig
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.support.rawclient import RawClient, connected, four_letter_word
from tests.support.servers import InProcessServer, wait_until
from tests.support.storage import GatedStorage, log_held_back

BIG_DATA_BYTES = 512 * 1024
SEND_BUFFER_HIGH = 64 * 1024
# The kernel takes up to ~4 MiB per loopback socket (tcp_wmem) before the server has to
# buffer anything itself: the amounts below are chosen around that.
SEND_BUFFER_MAX = 16 * 1024 * 1024


def small_buffers() -> ServerConfig:
    return ServerConfig(
        four_letter_whitelist=FOUR_LETTER_WORDS,
        client_send_buffer_bytes_high=SEND_BUFFER_HIGH,
        client_send_buffer_bytes_max=SEND_BUFFER_MAX,
        max_client_connections_per_ip=0,
    )


def get_data_frames(path: str, count: int, first_xid: int = 1) -> bytes:
    return b"".join(
        jute.encode_request(
            jute.RequestHeader(first_xid + i, OpCode.getData), jute.GetDataRequest(path, False)
        )
        for i in range(count)
    )


def non_reader(server: InProcessServer, receive_buffer_bytes: int = 4096) -> RawClient:
    """A client with a small receive buffer that will stop reading after the handshake."""
    client = RawClient(server.host, server.port)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
    client.handshake()
    return client


def test_a_client_that_never_reads_is_paused_with_its_buffer_bounded() -> None:
    with InProcessServer(small_buffers()) as server:
        with connected(server.host, server.port) as writer:
            writer.create("/big", b"x" * BIG_DATA_BYTES)
        with non_reader(server) as greedy:
            # 64 replies of 512 KiB each: 32 MiB, twice the bound, asked for in one packet.
            greedy.send_bytes(get_data_frames("/big", 64))
            wait_until(lambda: any(c.backlog for c in server.zk.connections.values()))
            (paused,) = [c for c in server.zk.connections.values() if c.backlog]
            assert paused.reading_paused
            assert paused.transport is not None
            assert paused.transport.get_write_buffer_size() <= SEND_BUFFER_MAX
            with connected(server.host, server.port) as other:
                assert other.get_data("/").header.err == 0
        wait_until(lambda: not server.zk.connections)
        assert server.zk.internal_errors == 0


def test_a_client_that_never_reads_is_closed_when_its_buffer_passes_the_bound() -> None:
    config = small_buffers().with_overrides(client_send_buffer_bytes_max=2 * 1024 * 1024)
    storage = GatedStorage()
    with InProcessServer(config, storage) as server, connected(server.host, server.port) as writer:
        writer.create("/big", b"z" * BIG_DATA_BYTES)
        with non_reader(server) as greedy:
            # With the log held back, 20 replies of 512 KiB wait for a write they follow...
            server.call(lambda: storage.set_open(False))
            greedy.send_request(
                OpCode.create, jute.CreateRequest("/trigger", b"", OPEN_ACL_UNSAFE, 0)
            )
            greedy.send_bytes(get_data_frames("/big", 20, first_xid=2))
            wait_until(lambda: server.zk.outstanding >= 21)
            # ... and land together once it is durable: 10 MB for a client that reads nothing.
            server.call(lambda: storage.set_open(True))
            wait_until(lambda: len(server.zk.connections) == 1)  # only the writer is left
        assert writer.get_data("/").header.err == 0
        assert server.zk.internal_errors == 0


def test_requests_waiting_behind_an_undurable_write_are_bounded_in_count() -> None:
    # 40 reads queue behind a write whose txn is held back: past globalOutstandingLimit the
    # server stops reading clients, and answers everything in order once the log moves.
    config = small_buffers().with_overrides(outstanding_requests_max=10)
    storage = GatedStorage()
    with InProcessServer(config, storage) as server, connected(server.host, server.port) as client:
        client.create("/big", b"w" * BIG_DATA_BYTES)
        zk = server.zk
        conn = server.connection_of(client.sock)
        assert conn is not None
        received_before = server.call(lambda: conn.received)
        with log_held_back(server, storage):
            client.send_request(
                OpCode.create, jute.CreateRequest("/held", b"", OPEN_ACL_UNSAFE, 0), xid=100
            )
            client.send_bytes(get_data_frames("/big", 40, first_xid=101))
            # The situation, read on the server's loop: throttled, the server no longer reads
            # the client, and every request it fed (fewer than the 41 sent) waits for the
            # log; nothing feeds more until the log is let go.
            wait_until(lambda: server.call(lambda: zk.throttled and conn.reading_paused))
            fed, outstanding = server.call(
                lambda: (conn.received - received_before, zk.outstanding)
            )
            assert 10 < outstanding == fed < 41
            # monitoring still answers, and a new client's handshake waits its turn
            assert "Outstanding: " in four_letter_word(server.host, server.port, "srvr")
            late = RawClient(server.host, server.port)
            late.send_bytes(
                jute.encode_connect_request(jute.ConnectRequest(0, 0, 30_000, 0, bytes(16)))
            )
        xids = [client.read_reply(OpCode.create).header.xid]
        xids += [client.read_reply(OpCode.getData).header.xid for _ in range(40)]
        assert xids == list(range(100, 141))
        wait_until(lambda: not server.zk.throttled)
        with late:
            assert jute.decode_connect_response(late.read_frame()).timeOut > 0


def test_writes_waiting_for_durability_are_bounded_in_bytes() -> None:
    # Each setData carries 512 KiB that the server holds until its txn commits: past
    # outstanding_bytes_max the server stops reading, long before all of them are in.
    config = small_buffers().with_overrides(outstanding_bytes_max=2 * 1024 * 1024)
    storage = GatedStorage()
    with InProcessServer(config, storage) as server, connected(server.host, server.port) as client:
        client.create("/big", b"")
        frames = b"".join(
            jute.encode_request(
                jute.RequestHeader(xid, OpCode.setData),
                jute.SetDataRequest("/big", b"s" * BIG_DATA_BYTES, -1),
            )
            for xid in range(100, 120)
        )
        # 10 MiB: the send blocks once the server stops reading, so it runs beside the test.
        sender = threading.Thread(target=client.send_bytes, args=(frames,), daemon=True)
        with log_held_back(server, storage):
            sender.start()
            wait_until(lambda: server.zk.throttled)
            assert server.zk.outstanding < 20
        sender.join(10)
        assert not sender.is_alive()
        xids = [client.read_reply(OpCode.setData).header.xid for _ in range(20)]
        assert xids == list(range(100, 120))
        wait_until(lambda: not server.zk.throttled)


def test_a_slow_reader_is_paused_not_closed_and_gets_every_reply() -> None:
    with InProcessServer(small_buffers()) as server:
        assert server.server is not None
        with connected(server.host, server.port) as writer:
            writer.create("/big", b"y" * BIG_DATA_BYTES)
        with non_reader(server, 64 * 1024) as slow:
            # 12 × 512 KiB = 6 MiB: more than the kernel takes, less than the bound.
            slow.send_bytes(get_data_frames("/big", 12))
            wait_until(lambda: any(c.reading_paused for c in server.zk.connections.values()))
            slow.send_bytes(get_data_frames("/big", 1, first_xid=13))
            with connected(server.host, server.port) as other:
                assert other.get_data("/").header.err == 0
            # The situation, read on the server's loop: while another client was served,
            # the slow reader stayed connected, paused, under the bound, its 13th request
            # still unread.
            conn = server.connection_of(slow.sock)
            assert conn is not None
            paused, received = server.call(lambda: (conn.reading_paused, conn.received))
            assert paused and received < 1 + 13  # the handshake, not all 13 requests
            assert conn.transport is not None
            assert server.call(conn.transport.get_write_buffer_size) <= SEND_BUFFER_MAX
            xids = [slow.read_reply(OpCode.getData).header.xid for _ in range(13)]
            assert xids == list(range(1, 14))
            wait_until(lambda: not any(c.reading_paused for c in server.zk.connections.values()))
            assert slow.ping().header.err == 0
        assert server.zk.internal_errors == 0


def test_too_many_connections_from_one_ip_are_closed(caplog: pytest.LogCaptureFixture) -> None:
    config = ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS, max_client_connections_per_ip=5)
    with InProcessServer(config) as server, caplog.at_level(logging.WARNING, "zkref.server"):
        clients = [connected(server.host, server.port) for _ in range(5)]
        try:
            with RawClient(server.host, server.port) as refused:
                assert refused.read_all_until_closed() == b""
            assert "Too many connections from /127.0.0.1 - max is 5" in caplog.text
            clients.pop().close()
            assert server.server is not None
            wait_until(lambda: len(server.zk.connections) < 5)
            with connected(server.host, server.port) as accepted:
                assert accepted.get_data("/").header.err == 0
        finally:
            for client in clients:
                client.close()


CONNECTIONS = 1200


def test_more_than_a_thousand_concurrent_connections() -> None:
    config = ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS, max_client_connections_per_ip=0)
    with InProcessServer(config) as server:
        assert server.server is not None
        sockets: list[socket.socket] = []
        try:
            connect = jute.encode_connect_request(
                jute.ConnectRequest(0, 0, 30_000, 0, bytes(16), False)
            )
            for _ in range(CONNECTIONS):
                sock = socket.create_connection((server.host, server.port), timeout=10)
                sock.sendall(connect)
                sockets.append(sock)
            clients = []
            for sock in sockets:
                client = RawClient(server.host, server.port, sock=sock)
                response = jute.decode_connect_response(client.read_frame())
                assert response.timeOut > 0
                clients.append(client)
            for index, client in enumerate(clients):
                client.send_request(
                    OpCode.create,
                    jute.CreateRequest(f"/conn-{index}", b"", OPEN_ACL_UNSAFE, 1),
                )
            for client in clients:
                assert client.read_reply(OpCode.create).header.err == 0
            assert len(server.zk.connections) == CONNECTIONS
            assert len(server.zk.core.sessions) == CONNECTIONS
        finally:
            for sock in sockets:
                sock.close()
        wait_until(lambda: not server.zk.connections, 10)
        assert server.zk.internal_errors == 0


def test_connection_close_frees_the_per_ip_count() -> None:
    config = ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS, max_client_connections_per_ip=2)
    with InProcessServer(config) as server:
        for _ in range(10):
            with connected(server.host, server.port) as a, connected(server.host, server.port) as b:
                assert a.get_data("/").header.err == 0
                assert b.get_data("/").header.err == 0
            assert server.server is not None
            wait_until(lambda: not server.zk.clients.connections_per_ip)


def test_pipelined_requests_in_one_packet_are_all_answered_in_order(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        frames = b"".join(
            jute.encode_request(
                jute.RequestHeader(100 + i, OpCode.create if i % 2 else OpCode.exists),
                jute.CreateRequest(f"/pipelined-{i}", b"", OPEN_ACL_UNSAFE, 0)
                if i % 2
                else jute.ExistsRequest("/", False),
            )
            for i in range(200)
        )
        client.send_bytes(frames)
        xids = [
            client.read_reply(OpCode.create if i % 2 else OpCode.exists).header.xid
            for i in range(200)
        ]
        assert xids == [100 + i for i in range(200)]
