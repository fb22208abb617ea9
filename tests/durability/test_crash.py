"""kill -9 at random moments loses nothing that was acknowledged.

A real ``zkref serve`` process with a data dir; several writer threads create znodes,
set their data and run two-node multis, each recording what the server acknowledged (the
reply and its Stat). Once they have a random (seeded) number of acknowledged writes, with
more in flight, the server is killed with SIGKILL and restarted on the same data dir. Then
every acknowledged write must be there with the same zxid and Stat, no multi may be
half-present, and new writes must get larger zxids. The rounds are bounded; a summary line
reports the acknowledged writes lost (must be 0).

A second test compares a full dump of the tree before a kill -9 (after every write was
acknowledged) with the dump after the restart: they must be identical.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reference import jute
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.support.rawclient import ConnectionClosed, RawClient, connected
from tests.support.servers import ServerProcess, wait_until

ROUNDS = 4
WRITERS = 4
SEED = 20261125
# Small enough that snapshots and purges happen during the test.
SERVER_ARGS = ["--snap-count", "40", "--snap-retain-count", "3"]
# The summary line of the last run, printed at the end of the session (conftest.py).
TALLY: list[str] = []
LOST: list[str] = []  # evidence for each acknowledged write not found as acknowledged


@dataclass
class Acked:
    """What one writer was told: znodes created (with their Stat) and last setData Stats."""

    created: dict[str, Stat] = field(default_factory=dict)
    updated: dict[str, Stat] = field(default_factory=dict)
    multis: list[tuple[str, str]] = field(default_factory=list)
    unacked_multis: list[tuple[str, str]] = field(default_factory=list)
    max_zxid: int = 0


def _writer(address: tuple[str, int], name: str, stop: threading.Event, acked: Acked) -> None:
    try:
        client = connected(*address)
    except (OSError, ConnectionClosed):
        return
    number = 0
    try:
        while not stop.is_set():
            number += 1
            path = f"/crash/{name}-{number}"
            reply = client.call(OpCode.create2, jute.CreateRequest(path, b"v0", OPEN_ACL_UNSAFE, 0))
            if reply.header.err == Code.OK:
                assert isinstance(reply.record, jute.Create2Response)
                acked.created[path] = reply.record.stat
                acked.max_zxid = max(acked.max_zxid, reply.header.zxid)
            reply = client.call(OpCode.setData, jute.SetDataRequest(path, b"v1", -1))
            if reply.header.err == Code.OK:
                assert isinstance(reply.record, jute.SetDataResponse)
                acked.updated[path] = reply.record.stat
                acked.max_zxid = max(acked.max_zxid, reply.header.zxid)
            pair = (f"{path}-a", f"{path}-b")
            ops = tuple(
                jute.MultiOp(OpCode.create, jute.CreateRequest(p, b"m", OPEN_ACL_UNSAFE, 0))
                for p in pair
            )
            acked.unacked_multis.append(pair)
            reply = client.call(OpCode.multi, jute.MultiRequest(ops))
            acked.unacked_multis.pop()
            if reply.header.err == Code.OK:
                acked.multis.append(pair)
                acked.max_zxid = max(acked.max_zxid, reply.header.zxid)
    except (OSError, ConnectionClosed, TimeoutError):
        return  # the server was killed: whatever had no reply is unacknowledged
    finally:
        client.close()


def _acked_count(acked: Acked) -> int:
    return len(acked.created) + len(acked.updated) + len(acked.multis)


def _stat(client: RawClient, path: str) -> Stat | None:
    reply = client.call(OpCode.exists, jute.ExistsRequest(path, False))
    if reply.header.err == Code.NONODE:
        return None
    assert reply.header.err == Code.OK, (path, reply.header.err)
    assert isinstance(reply.record, jute.ExistsResponse)
    return reply.record.stat


def _kill_9(server: ServerProcess) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def _verify(client: RawClient, acked: Acked) -> int:
    """Check one writer's acknowledged writes; the number lost (0 when durable)."""
    lost = 0
    for path, created in acked.created.items():
        stat = _stat(client, path)
        expected = acked.updated.get(path, created)
        if stat is not None and path not in acked.updated and stat != created:
            # The setData that followed was sent but not acknowledged: it may have landed.
            landed = stat.czxid == created.czxid and stat.version == 1
            expected = stat if landed and stat.mzxid > created.mzxid else expected
        if stat is None or stat != expected:
            LOST.append(f"{path}: acknowledged {expected}, found {stat}")
            lost += 1
    for path, updated in acked.updated.items():
        if path not in acked.created:
            stat = _stat(client, path)
            if stat is None or stat.mzxid != updated.mzxid:
                lost += 1
    for first, second in acked.multis:
        lost += (_stat(client, first) is None) + (_stat(client, second) is None)
    for first, second in acked.unacked_multis:
        # Not acknowledged: both or neither, never half.
        assert (_stat(client, first) is None) == (_stat(client, second) is None), first
    return lost


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    server = ServerProcess(tmp_path, SERVER_ARGS)
    server.start()
    try:
        with connected(server.host, server.port) as client:
            assert client.create("/crash").header.err == Code.OK
        total_acked = total_lost = 0
        seen_zxid = 0
        for round_number in range(ROUNDS):
            stop = threading.Event()
            acked = [Acked() for _ in range(WRITERS)]
            threads = [
                threading.Thread(
                    target=_writer,
                    args=((server.host, server.port), f"r{round_number}w{i}", stop, acked[i]),
                    daemon=True,
                )
                for i in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            # Kill once the writers together have a seeded number of acknowledged writes
            # (and go on writing): every round crashes in the middle of real work, however
            # fast or loaded the machine.
            target = rng.randint(30, 300)
            wait_until(lambda: sum(_acked_count(w) for w in acked) >= target, 60)  # noqa: B023
            _kill_9(server)
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
                assert not thread.is_alive()
            server.start()
            with connected(server.host, server.port) as client:
                for writer in acked:
                    total_acked += len(writer.created) + len(writer.updated) + len(writer.multis)
                    total_lost += _verify(client, writer)
                    seen_zxid = max(seen_zxid, writer.max_zxid)
                reply = client.call(
                    OpCode.create2,
                    jute.CreateRequest(f"/crash/after-{round_number}", b"", OPEN_ACL_UNSAFE, 0),
                )
                assert reply.header.err == Code.OK
                assert reply.header.zxid > seen_zxid, "zxids must keep increasing after a restart"
                seen_zxid = reply.header.zxid
        TALLY.append(
            f"kill -9 rounds: {ROUNDS}, acknowledged writes: {total_acked}, "
            f"acknowledged writes lost: {total_lost}"
        )
        assert total_acked > 0
        assert total_lost == 0, "\n".join(LOST)
    finally:
        server.stop()


def _dump(client: RawClient, path: str = "/") -> dict[str, tuple[bytes | None, Stat]]:
    reply = client.call(OpCode.getData, jute.GetDataRequest(path, False))
    assert isinstance(reply.record, jute.GetDataResponse), (path, reply.header.err)
    out = {path: (reply.record.data, reply.record.stat)}
    children = client.call(OpCode.getChildren, jute.GetChildrenRequest(path, False))
    assert isinstance(children.record, jute.GetChildrenResponse)
    for name in sorted(children.record.children or ()):
        out.update(_dump(client, ("" if path == "/" else path) + "/" + name))
    return out


@pytest.mark.parametrize("snap_count", [5, 100_000], ids=["with-snapshots", "log-only"])
def test_restart_after_kill_9_recovers_the_exact_tree(tmp_path: Path, snap_count: int) -> None:
    server = ServerProcess(tmp_path, ["--snap-count", str(snap_count)])
    server.start()
    try:
        with connected(server.host, server.port) as client:
            client.create("/tree", b"root")
            for i in range(30):
                client.create(f"/tree/n{i}", f"data-{i}".encode(), flags=2 if i % 3 else 0)
            client.call(OpCode.setData, jute.SetDataRequest("/tree/n0", b"changed", -1))
            client.call(OpCode.delete, jute.DeleteRequest("/tree/n0", -1))
            client.create("/tree/e", b"ephemeral", flags=1)
            before = _dump(client)
            _kill_9(server)
        server.start()
        with connected(server.host, server.port) as client:
            after = _dump(client)
        assert after == before
    finally:
        server.stop()
