"""The client and checker against a real Apache ZooKeeper (Debian's 3.8), when installed.

A standalone server is started from a zoo.cfg of our own on 127.0.0.1 and a free port, is
ready when ``ruok`` answers ``imok``, and is killed by its pid at teardown. Its histories —
concurrent sessions, pipelining, watches, client-side connection drops — must be allowed
under the 3.8 profile. Skipped when ``/usr/share/zookeeper`` or ``java`` is absent.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.checker import check
from conformance.client import Client, ClientError
from conformance.history import Header, HistoryRecorder, ServerSettings
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.events import EventType
from tests.conformance.workload import run_workload

ZOOKEEPER_HOME = Path("/usr/share/zookeeper")
# Requests whose behaviour on Apache ZooKeeper 3.8.0 the spec does not (yet) describe: see the
# two strict xfails at the end of this module.
SPEC_DISAGREES = (rq.CheckWatches, rq.SetACL)
STARTUP_TIMEOUT_S = 30.0

pytestmark = pytest.mark.skipif(
    not ZOOKEEPER_HOME.exists() or shutil.which("java") is None,
    reason="Apache ZooKeeper (Debian zookeeper package) or java is not installed",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"ruok")
            return conn.recv(16) == b"imok"
    except OSError:
        return False


async def _serves_sessions(host: str) -> bool:
    """``ruok`` answers before the server takes sessions: try one."""
    client = Client([host], connect_timeout_s=1.0)
    try:
        await client.start()
    except ClientError:
        return False
    await client.close()
    return True


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("zookeeper")
    port = _free_port()
    (home / "data").mkdir()
    (home / "zoo.cfg").write_text(
        "\n".join(
            [
                "tickTime=200",
                f"dataDir={home / 'data'}",
                f"clientPort={port}",
                "clientPortAddress=127.0.0.1",
                "admin.enableServer=false",
                "4lw.commands.whitelist=*",
                "",
            ]
        )
    )
    command = [
        "java",
        "-Xmx256m",
        "-cp",
        "/usr/share/java/*:/usr/share/zookeeper/*",
        f"-Dzookeeper.log.dir={home}",
        "-Dzookeeper.extendedTypesEnabled=true",
        "-Dznode.container.checkIntervalMs=500",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(home / "zoo.cfg"),
    ]
    log = open(home / "server.out", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        host = f"127.0.0.1:{port}"
        while not (_ruok(port) and asyncio.run(_serves_sessions(host))):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Apache ZooKeeper did not start: see {home / 'server.out'}")
            time.sleep(0.2)
        yield host
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


def _header(host: str) -> Header:
    return Header(
        profile="3.8",
        hosts=(host,),
        settings=ServerSettings(extended_types_enabled=True),
        fresh=False,
        note="Apache ZooKeeper 3.8 (Debian)",
    )


def test_a_session_watch_and_reconnect_work_against_apache_zookeeper(zookeeper: str) -> None:
    async def scenario() -> None:
        watcher = Client([zookeeper], name="w", session_timeout_ms=4000)
        writer = Client([zookeeper], name="x", session_timeout_ms=4000)
        await watcher.start()
        await writer.start()
        await writer.call(rq.Create("/conformance-smoke", b"1", OPEN_ACL_UNSAFE, 0))
        await watcher.call(rq.GetData("/conformance-smoke", watch=True))
        await watcher.drop_connection()
        await watcher.wait_connected(5)
        await writer.call(rq.SetData("/conformance-smoke", b"2"))
        note = await watcher.next_notification(timeout_s=5)
        assert (note.type, note.path) == (EventType.NodeDataChanged, "/conformance-smoke")
        await writer.call(rq.Delete("/conformance-smoke"))
        await watcher.close()
        await writer.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))


@pytest.mark.parametrize("seed", [21, 22])
def test_histories_of_apache_zookeeper_are_allowed(zookeeper: str, seed: int) -> None:
    async def scenario() -> HistoryRecorder:
        recorder, client = await _recording(zookeeper)
        await client.close()
        await run_workload(
            [zookeeper],
            recorder,
            clients=4,
            requests=80,
            seed=seed,
            faults=True,
            session_timeout_ms=4000,
            request_timeout_s=5.0,
            leave_out=SPEC_DISAGREES,
        )
        return recorder

    recorder = asyncio.run(asyncio.wait_for(scenario(), 60))
    verdict = check(recorder.history())
    assert verdict.allowed, verdict.render()


async def _recording(zookeeper: str) -> tuple[HistoryRecorder, Client]:
    """A recorder whose history starts with a snapshot of the server's tree, and a client."""
    from conformance.snapshot import take_snapshot

    reader = Client([zookeeper], name="snapshot")
    await reader.start()
    await reader.call(rq.AddAuth("digest", b"user:pass"))  # the workloads' digest ACLs
    snapshot = await take_snapshot(reader)
    await reader.close()
    recorder = HistoryRecorder(header=_header(zookeeper))
    recorder.record(snapshot)
    client = Client([zookeeper], name="c", recorder=recorder)
    await client.start()
    return recorder, client


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="spec discrepancy: Apache ZooKeeper 3.8.0 answers checkWatches OK when any "
    "connection (not only the caller's) holds a watch of that type on the path; the spec's "
    "3.8 profile answers NOWATCHER",
)
def test_check_watches_of_another_connections_watch_agrees_with_apache_zookeeper(
    zookeeper: str,
) -> None:
    async def scenario() -> HistoryRecorder:
        recorder, watcher = await _recording(zookeeper)
        other = Client([zookeeper], name="other", recorder=recorder)
        await other.start()
        path = f"/conformance-check-{time.monotonic_ns()}"
        await watcher.call(rq.Create(path, b"", OPEN_ACL_UNSAFE, 0))
        await watcher.call(rq.GetData(path, watch=True))
        reply = await other.call(rq.CheckWatches(path, 2))
        assert reply.err == 0  # what 3.8.0 does
        await watcher.call(rq.Delete(path))
        await watcher.close()
        await other.close()
        return recorder

    verdict = check(asyncio.run(asyncio.wait_for(scenario(), 30)).history())
    assert verdict.status != "violation", verdict.render()


def test_a_set_data_pipelined_after_a_set_acl_may_see_the_old_acl_on_apache_zookeeper(
    zookeeper: str,
) -> None:
    """A known divergence, pinned: Apache ZooKeeper 3.8.0 may judge a setData pipelined right
    behind a setACL of the same znode against the *old* ACL (it is prepared before the setACL
    is applied); the sequential spec answers NOAUTH, so the checker reports a reply mismatch.
    It is a race: tried until it shows. When the spec learns this behaviour, this test must
    change to expect ``allowed``."""
    from tests.conformance.workload import DIGEST_ACL

    async def attempt() -> HistoryRecorder | None:
        recorder, client = await _recording(zookeeper)
        path = f"/conformance-acl-{time.monotonic_ns()}"
        await client.call(rq.Create(path, b"", OPEN_ACL_UNSAFE, 0))
        first = await client.submit(rq.SetACL(path, DIGEST_ACL, -1))
        second = await client.submit(rq.SetData(path, b"1"))
        await first
        judged_with_old_acl = (await second).err == 0
        await client.call(rq.AddAuth("digest", b"user:pass"))
        await client.call(rq.Delete(path))
        await client.close()
        return recorder if judged_with_old_acl else None

    for _ in range(20):
        recorder = asyncio.run(asyncio.wait_for(attempt(), 30))
        if recorder is not None:
            break
    else:
        pytest.skip("the race did not show in 20 attempts")
    verdict = check(recorder.history())
    assert verdict.kinds() == ["reply-mismatch"], verdict.render()
