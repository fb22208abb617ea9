"""The nemesis against each kind of server the suite starts: pause/resume, kill -9, restart.

Each kind once: a paused server answers nothing (a request times out: outcome unknown), a
resumed one answers again; a killed one refuses connections; a restarted one (same port, same
data directory) answers with the tree it had. Every process is stopped by its PID at the end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from conformance.client import Client, ClientError, OutcomeUnknown
from conformance.nemesis import ProcessNemesis, ServerNode
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from tests.conformance.servers import apache_zookeeper, zkref

TIMEOUT_S = 60.0


async def _exists(address: str, path: str) -> int:
    client = Client([address], name="probe", reconnect=False, request_timeout_s=2.0)
    await client.start()
    try:
        return (await client.call(rq.Exists(path))).err
    finally:
        await client.close()


async def _exercise(node: ServerNode, nemesis: ProcessNemesis) -> None:
    address = node.address
    client = Client([address], name="c", reconnect=False, request_timeout_s=1.0)
    await client.start()
    await client.call(rq.Create("/nemesis", b"kept", OPEN_ACL_UNSAFE, 0))
    await client.call(rq.Sync("/nemesis"))

    nemesis.pause(node)
    with pytest.raises(OutcomeUnknown):
        await client.call(rq.Exists("/nemesis"))  # nothing answers a stopped process
    nemesis.resume(node)
    assert await _exists(address, "/nemesis") == Code.OK
    await client.abandon()

    pid = node.pid
    nemesis.kill(node)
    assert pid is not None and not node.running()
    with pytest.raises(ClientError):
        await _exists(address, "/nemesis")

    await asyncio.to_thread(nemesis.restart, node)
    assert node.running() and node.pid != pid
    assert await _exists(address, "/nemesis") == Code.OK  # the tree survived kill -9
    assert [what for _, what, _ in nemesis.log] == ["pause", "resume", "kill", "restart"]


@pytest.mark.parametrize("kind", ["apache-zookeeper", "zkref"])
def test_pause_resume_kill_and_restart(kind: str, tmp_path: Path) -> None:
    start: Callable[[Path], AbstractContextManager[ServerNode]] = (
        apache_zookeeper if kind == "apache-zookeeper" else zkref
    )
    with start(tmp_path / kind) as node:
        nemesis = ProcessNemesis()
        try:
            asyncio.run(asyncio.wait_for(_exercise(node, nemesis), TIMEOUT_S))
        finally:
            pid = node.pid
            node.stop()
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped
