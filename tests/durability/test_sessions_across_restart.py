"""Sessions survive a restart within their timeout, as in ZooKeeper; late ones expire.

Two sessions each own an ephemeral. The server is killed with SIGKILL and restarted on the
same data dir. The session that re-attaches (id + password) in time keeps its session and
its ephemeral; the one that never comes back is expired by the restarted server and its
ephemeral is deleted.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from reference import jute
from spec.errors import Code
from spec.opcodes import OpCode
from tests.support.rawclient import RawClient, connected
from tests.support.servers import ServerProcess

TIMEOUT_MS = 2_000


def _exists(client: RawClient, path: str) -> bool:
    reply = client.call(OpCode.exists, jute.ExistsRequest(path, False))
    return reply.header.err == Code.OK


def test_a_session_that_reconnects_in_time_keeps_its_ephemerals_and_a_silent_one_expires(
    tmp_path: Path,
) -> None:
    server = ServerProcess(
        tmp_path,
        ["--tick-time", "200", "--min-session-timeout", "400", "--max-session-timeout", "4000"],
    )
    server.start()
    try:
        keeper = connected(server.host, server.port, TIMEOUT_MS)
        leaver = connected(server.host, server.port, TIMEOUT_MS)
        assert keeper.create("/kept", flags=1).header.err == Code.OK
        assert leaver.create("/left", flags=1).header.err == Code.OK
        session_id, password = keeper.session_id, keeper.password
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        keeper.close()
        leaver.close()
        server.start()
        with RawClient(server.host, server.port) as again:
            response = again.handshake(TIMEOUT_MS, session_id, password)
            assert response.sessionId == session_id and response.timeOut > 0
            deadline = time.monotonic() + 3 * TIMEOUT_MS / 1000
            with connected(server.host, server.port) as observer:
                # The silent session expires within timeout + tick; the one that came back
                # and keeps pinging stays, with its ephemeral.
                left_gone_at = None
                while time.monotonic() < deadline:
                    again.ping()
                    if left_gone_at is None and not _exists(observer, "/left"):
                        left_gone_at = time.monotonic()
                    time.sleep(0.2)
                assert left_gone_at is not None, "the silent session's ephemeral outlived it"
                assert _exists(observer, "/kept")
    finally:
        server.stop()
