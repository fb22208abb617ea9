"""Nothing is acknowledged before it is durable; a slow log commits many txns at once."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence

import pytest

from reference import jute
from reference.txn import Txn
from server.config import FOUR_LETTER_WORDS, ServerConfig
from server.storage import GroupCommitter, MemoryStorage
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode
from tests.support.rawclient import connected
from tests.support.servers import InProcessServer, wait_until
from tests.support.storage import GatedStorage

QUIET_S = 0.2  # how long "no reply" is watched for


def assert_quiet(sock: socket.socket) -> None:
    sock.settimeout(QUIET_S)
    try:
        data = sock.recv(1)
    except TimeoutError:
        return
    finally:
        sock.settimeout(5.0)
    raise AssertionError(f"expected no reply yet, got {data!r}")


@pytest.fixture
def gated() -> tuple[InProcessServer, GatedStorage]:
    storage = GatedStorage()
    return InProcessServer(ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS), storage), storage


def test_a_write_is_answered_only_once_durable(
    gated: tuple[InProcessServer, GatedStorage],
) -> None:
    server, storage = gated
    with server, connected(server.host, server.port) as writer:
        server.call(lambda: storage.set_open(False))
        xid = writer.send_request(
            OpCode.create, jute.CreateRequest("/durable", b"d", OPEN_ACL_UNSAFE, 0)
        )
        assert_quiet(writer.sock)
        server.call(lambda: storage.set_open(True))
        reply = writer.read_reply(OpCode.create)
        assert (reply.header.xid, reply.header.err) == (xid, 0)
        assert any(t.header.zxid == reply.header.zxid for b in storage.batches for t in b)


def test_another_sessions_read_never_sees_an_undurable_write(
    gated: tuple[InProcessServer, GatedStorage],
) -> None:
    # The tree holds committed writes only: a read of another session is answered at once,
    # from the state before the write, and sees the write once it is durable.
    server, storage = gated
    with (
        server,
        connected(server.host, server.port) as writer,
        connected(server.host, server.port) as reader,
    ):
        server.call(lambda: storage.set_open(False))
        writer.send_request(OpCode.create, jute.CreateRequest("/seen", b"", OPEN_ACL_UNSAFE, 0))
        wait_until(lambda: server.zk.outstanding > 0)
        reader.send_request(OpCode.exists, jute.ExistsRequest("/seen", False))
        before = reader.read_reply(OpCode.exists)
        assert before.header.err == Code.NONODE
        assert "Outstanding: 1\n" in server.call(lambda: _srvr(server))
        server.call(lambda: storage.set_open(True))
        created = writer.read_reply(OpCode.create)
        assert created.header.err == 0 and created.header.zxid > before.header.zxid
        reader.send_request(OpCode.exists, jute.ExistsRequest("/seen", False))
        assert reader.read_reply(OpCode.exists).header.err == 0


def test_the_writers_own_read_waits_behind_its_undurable_write(
    gated: tuple[InProcessServer, GatedStorage],
) -> None:
    server, storage = gated
    with server, connected(server.host, server.port) as writer:
        server.call(lambda: storage.set_open(False))
        writer.send_request(OpCode.create, jute.CreateRequest("/mine", b"", OPEN_ACL_UNSAFE, 0))
        writer.send_request(OpCode.exists, jute.ExistsRequest("/mine", False))
        wait_until(lambda: server.zk.outstanding == 2)
        assert_quiet(writer.sock)
        server.call(lambda: storage.set_open(True))
        assert writer.read_reply(OpCode.create).header.err == 0
        assert writer.read_reply(OpCode.exists).header.err == 0


def _srvr(server: InProcessServer) -> str:
    from server import fourletter
    from server.status import ServerControls

    zk = server.zk
    any_connection = next(iter(zk.connections.values()))
    return fourletter.answer("srvr", b"", ServerControls(zk, any_connection))


def test_writes_queued_during_a_slow_commit_go_to_storage_together(
    gated: tuple[InProcessServer, GatedStorage],
) -> None:
    server, storage = gated
    with server, connected(server.host, server.port) as writer:
        server.call(lambda: storage.set_open(False))
        count = 50
        for i in range(count):
            writer.send_request(
                OpCode.create, jute.CreateRequest(f"/batched-{i}", b"", OPEN_ACL_UNSAFE, 0)
            )
        wait_until(lambda: server.zk.outstanding >= count)
        batches_before = len(storage.batches)
        server.call(lambda: storage.set_open(True))
        xids = [writer.read_reply(OpCode.create).header.xid for _ in range(count)]
        assert xids == list(range(1, count + 1))
        new_batches = storage.batches[batches_before:]
        assert sum(len(b) for b in new_batches) == count
        # one batch was already at the gate when the rest arrived: at most two appends
        assert len(new_batches) <= 2


def test_replies_on_one_connection_keep_their_order_across_durability(
    gated: tuple[InProcessServer, GatedStorage],
) -> None:
    server, storage = gated
    with server, connected(server.host, server.port) as client:
        server.call(lambda: storage.set_open(False))
        sent = [
            (client.send_request(OpCode.exists, jute.ExistsRequest("/", False)), OpCode.exists),
            (
                client.send_request(
                    OpCode.create, jute.CreateRequest("/ordered", b"", OPEN_ACL_UNSAFE, 0)
                ),
                OpCode.create,
            ),
            (client.send_request(OpCode.exists, jute.ExistsRequest("/", False)), OpCode.exists),
            (client.send_request(OpCode.getData, jute.GetDataRequest("/nope", False)), 4),
        ]
        first = client.read_reply(OpCode.exists)  # before the write: not held back
        assert first.header.xid == sent[0][0]
        assert_quiet(client.sock)
        server.call(lambda: storage.set_open(True))
        rest = [client.read_reply(opcode).header.xid for _, opcode in sent[1:]]
        assert rest == [xid for xid, _ in sent[1:]]


def test_the_committer_batches_what_arrives_during_an_append() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        storage = GatedStorage()
        durable: list[int] = []
        committer = GroupCommitter(storage, durable.append, lambda error: None)
        committer.start()
        storage.set_open(False)
        txns = [_txn(zxid) for zxid in range(1, 8)]
        committer.submit(txns[:1])
        for _ in range(10):  # let the writer task run until it is inside that append
            if storage.waiting:
                break
            await asyncio.sleep(0)
        assert storage.waiting == 1  # the situation: the first append is in progress
        committer.submit(txns[1:4])
        committer.submit(txns[4:])
        storage.set_open(True)
        await committer.close()
        return [len(b) for b in storage.batches], durable

    sizes, durable = asyncio.run(scenario())
    assert sizes == [1, 6]
    assert durable == [1, 7]


def test_a_failed_append_stops_the_server_without_acknowledging() -> None:
    class BrokenStorage(MemoryStorage):
        async def append(self, txns: Sequence[Txn]) -> None:
            raise OSError(5, "I/O error")

    server = InProcessServer(ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS), BrokenStorage())
    with server, socket.create_connection((server.host, server.port), timeout=5) as sock:
        # The new session's createSession txn cannot be made durable: no ConnectResponse.
        sock.sendall(jute.encode_connect_request(jute.ConnectRequest(0, 0, 30_000, 0, bytes(16))))
        wait_until(lambda: server.zk.failure is not None)
        assert isinstance(server.zk.failure, OSError)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""


def _txn(zxid: int) -> Txn:
    from reference.txn import CreateSessionTxn, TxnHeader

    return Txn(TxnHeader(1, 0, zxid, 0, OpCode.createSession), CreateSessionTxn(4000))
